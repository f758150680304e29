"""The graph a search builds: states by id, parent links, edges and their labels, and
readable paths; in fingerprint mode, a table of 64-bit fingerprints and a queue on disk
in place of the states."""

import functools
import marshal
import tempfile
from array import array
from bisect import bisect_left, bisect_right

from .bounds import BoundHit

__all__ = ["Graph", "FingerprintGraph", "FingerprintTable", "DiskQueue", "QueueFailed",
           "fingerprint_of"]


class Graph:
    """The explored graph: states by id, BFS parents, the label of each tree edge, and
    every edge in compressed form (succ[start[i]:start[i+1]] are the successors of i)."""

    def __init__(self):
        self.canonical = None        # the model's symmetry representative, if any
        self.view = None             # the model's unpacking of a state, if any
        self.fingerprint = fingerprint_of
        self.index = {}
        self.states = []
        self.parent = array("i")     # 4 bytes an entry: ids below 2^31
        self.label = array("i")
        self.depth = array("i")
        self.labels = []
        self._label_ids = {}
        self.succ = array("i")
        self.start = array("q", [0])
        self.model_successors = None  # the model's own, to name the thread of an edge
        # What the liveness checks need to know of cycles, kept during the search: every
        # cycle of a breadth-first graph has an edge to a state no deeper than its source.
        self.back_edges = 0          # such edges, self-loops left out
        self.self_loops = array("l")  # states with an edge to themselves (spins)
        self.spinners = array("l")   # states whose every edge is to themselves
        self.limit = None            # at most this many states (--max-states)

    def add(self, state, parent: int, label) -> int:
        sid = len(self.states)
        if sid == self.limit:
            raise BoundHit(f"max-states {self.limit} reached")
        self.index[state] = sid
        self.states.append(state)
        self.parent.append(parent)
        self.label.append(self._label_id(label))
        self.depth.append(0 if parent < 0 else self.depth[parent] + 1)
        return sid

    def _label_id(self, label) -> int:
        if label is None:
            return -1
        lid = self._label_ids.get(label)
        if lid is None:
            lid = self._label_ids[label] = len(self.labels)
            self.labels.append(label)
        return lid

    def max_depth(self) -> int:
        return max(self.depth) if self.depth else 0

    def successors_of(self, sid: int):
        return self.succ[self.start[sid]:self.start[sid + 1]]

    def count(self) -> int:
        return len(self.states)

    def state_of(self, sid: int):
        """The state with id `sid`, as reports show it."""
        return self._shown(self.states[sid])

    def _shown(self, state):
        return self.view(state) if self.view else state

    def path_to(self, sid: int) -> list:
        path = []
        while sid >= 0:
            path.append(sid)
            sid = self.parent[sid]
        return path[::-1]

    def readable_path(self, target: int) -> list:
        """Among the shortest paths to `target`, the one with the fewest switches between
        actors (threads), ties broken by state id, then by thread name: a story that
        reads thread by thread.

        >>> g = Graph(); _ = [g.add(s, p, l) for s, p, l in
        ...     [("i", -1, None), ("a", 0, ("x",)), ("b", 0, ("y",)), ("t", 1, ("y",))]]
        >>> g.succ.extend([1, 2, 3, 3]); g.start.extend([2, 3, 4, 4])
        >>> g.model_successors = {"i": [(("x",), "a"), (("y",), "b")], "a": [(("y",), "t")],
        ...                       "b": [(("y",), "t")]}.get
        >>> g.readable_path(3)          # i -y-> b -y-> t beats i -x-> a -y-> t
        [0, 2, 3]
        """
        layers, preds = self._layers_to(target)
        best = {a: {None: (0, None, None)} for a in sorted(layers[-1])}
        for layer in reversed(layers[:-1]):
            for b in sorted(layer):
                best[b] = self._best_into(b, preds[b], best)
        node, actor = target, min(best[target], key=lambda x: (best[target][x][0], x))
        path = [node]
        while best[node][actor][1] is not None:
            _, node, actor = best[node][actor]
            path.append(node)
        return path[::-1]

    def _layers_to(self, target):
        """The nodes on some shortest path to `target`, by depth (target first), and
        each one's predecessors on such paths as (node, actor)."""
        layers, preds = [{target}], {}
        expanded = len(self.start) - 1
        for depth in range(self.depth[target] - 1, -1, -1):
            wanted, found = layers[-1], set()
            lo, hi = bisect_left(self.depth, depth), bisect_right(self.depth, depth)
            for a in range(lo, min(hi, expanded)):
                first = self.start[a]
                into = [e for e in range(first, self.start[a + 1]) if self.succ[e] in wanted]
                if into:
                    actors = self.actors_of(a)
                    for e in into:
                        preds.setdefault(self.succ[e], []).append((a, actors[e - first]))
                    found.add(a)
            layers.append(found)
        return layers, preds

    def actors_of(self, sid: int) -> list:
        """The thread of each edge out of `sid`, in edge order: the first element of
        each step's label, from the model's successors again (the search keeps none)."""
        return [label[0] for label, _ in self.model_successors(self.states[sid])]

    @staticmethod
    def _best_into(b, preds, best):
        """Per last actor: the fewest switches into b, and where from."""
        out = {}
        for a, actor in sorted(preds):
            for last, (switches, _, _) in sorted(best[a].items(), key=lambda kv: str(kv[0])):
                cost = switches + (last is not None and last != actor)
                if actor not in out or cost < out[actor][0]:
                    out[actor] = (cost, a, last)
        return out

    def edge_label(self, a: int, b: int):
        """The label of edge a -> b (the tree label when b's parent is a)."""
        if self.parent[b] == a:
            return self.labels[self.label[b]]
        for label, state in self.model_successors(self.states[a]):
            if self.index.get(state) == b:
                return label
        raise KeyError((a, b))

    def steps(self, path: list) -> list:
        """[(label or None, state), ...] along `path`; under symmetry, real states
        (a successor whose representative is the next state on the path)."""
        if getattr(self, "canonical", None):
            return self._concrete_steps(path)
        out = [(None, self.state_of(path[0]))]
        for a, b in zip(path, path[1:]):
            out.append((self.edge_label(a, b), self.state_of(b)))
        return out

    def _concrete_steps(self, path: list) -> list:
        """Walk real states whose representatives follow `path`. When the model's
        symmetry is not an automorphism at some step, the walk falls back to the
        representative itself (the story then relabels channels at that step)."""
        canon = self.canonical
        state = next(s for s in self.model_initial() if canon(s) == self.states[path[0]])
        out = [(None, self._shown(state))]
        for a, b in zip(path, path[1:]):
            target = self.states[b]
            step = next(((label, nxt) for label, nxt in self.model_successors(state)
                         if canon(nxt) == target), None)
            if step is None:
                state = self.states[a]
                step = next((label, nxt) for label, nxt in self.model_successors(state)
                            if canon(nxt) == target)
            state = step[1]
            out.append((step[0], self._shown(state)))
        return out


def fingerprint_of(state) -> int:
    """A state's 64-bit fingerprint: its hash, never 0 (0 marks an empty table slot)."""
    return hash(state) or 1


class FingerprintTable:
    """A set of 64-bit fingerprints in one flat array, open addressing with linear
    probing: 8 bytes a slot, at most half full (a Python set costs some 60 bytes a
    member: an int object plus its slot). Half, not 2/3: a miss probes 2.5 slots on
    average instead of 5, and socket N=5 round-robin ran 12% faster for it."""

    def __init__(self, bits: int = 16):
        self.mask = (1 << bits) - 1
        self.slots = array("q", bytes(8 << bits))
        self.count = 0

    def add(self, fp: int) -> bool:
        """Insert; True if it was not there."""
        fp = fp or 1                          # 0 marks an empty slot
        slots, mask = self.slots, self.mask
        i = fp & mask
        while True:
            held = slots[i]
            if held == fp:
                return False
            if not held:
                break
            i = (i + 1) & mask
        slots[i] = fp
        self.count += 1
        if self.count * 2 > mask:
            self._grow()
        return True

    def _grow(self) -> None:
        old = self.slots
        self.mask = self.mask * 2 + 1
        self.slots = array("q", bytes(8 * (self.mask + 1)))
        self.count = 0
        for fp in old:
            if fp:
                self.add(fp)


class QueueFailed(OSError):
    """The frontier's file could not be made, written or read (a full disk, a file size
    limit): the search ends at a bound, not with an internal error."""


def _on_disk(method):
    """`method` of DiskQueue, an OSError of its files raised as QueueFailed."""
    @functools.wraps(method)
    def guarded(*args):
        try:
            return method(*args)
        except QueueFailed:
            raise
        except OSError as e:
            raise QueueFailed(e.errno, e.strerror or str(e)) from e
    return guarded


class DiskQueue:
    """The BFS frontier on disk, level by level (TLC keeps its queue on disk too):
    items of the level being read come back in order from one temporary file while
    the next level is written to another. Items go to disk in length-prefixed chunks:
    marshal.load reads a file object a few bytes at a time, which costs more than the
    item's successors, while marshal.loads of a chunk read at once does not. A file
    that fails raises QueueFailed."""

    CHUNK = 2048

    def __init__(self):
        self.reading, self.writing = None, self._new_file()
        self.left, self.written = 0, 0
        self.out, self.chunk, self.at = [], [], 0

    @staticmethod
    @_on_disk
    def _new_file():
        return tempfile.TemporaryFile()

    def append(self, item) -> None:
        self.out.append(item)
        self.written += 1
        if len(self.out) >= self.CHUNK:
            self._flush()

    @_on_disk
    def _flush(self) -> None:
        if self.out:
            data = marshal.dumps(self.out)
            self.writing.write(len(data).to_bytes(8, "little") + data)
            self.out = []

    def popleft(self):
        if not self.left:
            self._next_level()
        if self.at == len(self.chunk):
            self._read_chunk()
        self.left -= 1
        self.at += 1
        return self.chunk[self.at - 1]

    @_on_disk
    def _read_chunk(self) -> None:
        size = int.from_bytes(self.reading.read(8), "little")
        self.chunk, self.at = marshal.loads(self.reading.read(size)), 0

    @_on_disk
    def _next_level(self) -> None:
        self._flush()
        if self.reading:
            self.reading.close()
        self.reading, self.writing = self.writing, self._new_file()
        self.reading.seek(0)                # (flushes what was written)
        self.left, self.written = self.written, 0
        self.chunk, self.at = [], 0

    def __bool__(self) -> bool:
        return bool(self.left or self.written)


class FingerprintGraph(Graph):
    """Fingerprint mode (as TLC does it): each state is kept as its 64-bit hash, and
    only BFS parents, labels and depths beside it; no edges, so safety properties,
    deadlocks and `sometimes` are checked, but not the properties that need the graph
    (a proper end always reachable, fairness). Counterexamples are walked again from
    the initial states, following the hashes."""

    def __init__(self):
        super().__init__()
        self.seen = FingerprintTable()
        self.fps = array("q")
        self.parent, self.label, self.depth = array("i"), array("i"), array("I")
        self.edges = 0
        self.kept = {}               # the few states kept whole: proper ends
        self.deepest = None          # the compiled loop's depth reached (it keeps none)

    def max_depth(self) -> int:
        return super().max_depth() if self.deepest is None else self.deepest

    def state_of(self, sid: int):
        return self._shown(self.kept[sid])

    def add_new(self, state, parent: int, label) -> int:
        """Record `state` if its fingerprint is new: its id, or -1 if seen before."""
        return self.add_fingerprint(self.fingerprint(state), parent, label)

    def add_fingerprint(self, fp: int, parent: int, label) -> int:
        if not self.seen.add(fp):
            return -1
        sid = len(self.fps)
        if sid == self.limit:
            raise BoundHit(f"max-states {self.limit} reached")
        self.fps.append(fp)
        self.parent.append(parent)
        self.label.append(self._label_id(label))
        self.depth.append(0 if parent < 0 else self.depth[parent] + 1)
        return sid

    def count(self) -> int:
        return len(self.fps)

    def readable_path(self, target: int) -> list:
        return self.path_to(target)

    def steps(self, path: list) -> list:
        canon, fingerprint = self.canonical or (lambda s: s), self.fingerprint
        state = next(s for s in self.model_initial() if fingerprint(canon(s)) == self.fps[path[0]])
        out = [(None, self._shown(state))]
        for b in path[1:]:
            label, state = next((label, nxt) for label, nxt in self.model_successors(state)
                                if fingerprint(canon(nxt)) == self.fps[b])
            out.append((label, self._shown(state)))
        return out
