"""A breadth-first explorer of finite state spaces; it knows nothing of multifd.

A model offers three things (as Stateright's do):

    initial_states() -> list of states        (hashable, immutable)
    successors(state) -> list of (label, next state), in a deterministic order
    is_proper_end(state) -> bool              (a state where stopping is correct)

and may offer `view(state)`, the state reports show (when it keeps states packed),
`fingerprint(state)`, a 64-bit hash for fingerprint mode (default: `hash`), and
`screen(properties)`, which checks the state predicates in one call (see `_screen`).

Properties are checked as the graph is built:

* `always`: a state predicate that must hold in every reachable state; the breadth-first
  order makes the first violating state found one with a shortest path.
* `sometimes`: a state predicate that must hold in some reachable state; one never
  satisfied makes the run vacuous, and so failed.
* `deadlock`: a state with no successors that is not a proper end.
* `eventually`: from every reachable state a proper end stays reachable. States that can
  reach neither a proper end nor a deadlock are trapped in cycles (a livelock); the
  counterexample is a lasso, a shortest path to the first trapped state and then a cycle.
* `fair`: every run that is weakly fair to each thread (a thread enabled for good
  eventually steps) reaches a proper end or a deadlock. A strongly connected set of
  non-end states is a fair livelock when every thread either steps inside it or is
  disabled somewhere in it; the counterexample is a lasso into it. A thread is the first
  element of a step's label.
* `eventually` and `fair` with a predicate (a goal): the same, with the states where the
  goal holds in place of the proper ends (for `eventually`, an end or a deadlock that
  misses the goal is trapped too).

>>> class Counter:
...     def initial_states(self): return [0]
...     def successors(self, s): return [(("t", "inc", ""), s + 1)] if s < 3 else []
...     def is_proper_end(self, s): return s == 3
>>> result = explore(Counter(), [Property("small", "always", lambda s: s < 3, "s stays below 3")])
>>> result.verdict, result.property, [s for _, s in result.trace("small")]
('violation', 'small', [0, 1, 2, 3])
"""

import gc
import marshal
import resource
import sys
import tempfile
import time
from array import array
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Callable, Optional

__all__ = ["Property", "Result", "Violation", "explore", "KINDS"]

KINDS = ("always", "sometimes", "deadlock", "eventually", "fair")


@dataclass(frozen=True)
class Property:
    """A named property. `predicate` is a state predicate (always, sometimes kinds)."""

    name: str
    kind: str
    predicate: Optional[Callable] = None
    doc: str = ""
    headline: bool = True     # headline (what the design is for) or structural

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"property {self.name}: kind must be one of {KINDS}")


@dataclass
class Violation:
    """Where a property broke: a path of state ids; a lasso loops back to `loop_at`."""

    property: Property
    path: list                     # state ids from an initial state to the violation
    loop_at: Optional[int] = None  # index in `path` the last state steps back to (lasso)

    @property
    def length(self) -> int:
        return len(self.path) - 1 + (1 if self.loop_at is not None else 0)


@dataclass
class Result:
    verdict: str                      # "pass", "violation" or "inconclusive"
    property: Optional[str]           # the headline broken property, or None
    violations: dict                  # property name -> Violation (vacuous: empty path)
    states: int
    transitions: int
    depth: int
    seconds: float
    bound: Optional[str] = None       # why the run stopped early
    graph: "Graph" = field(default=None, repr=False)
    ends: list = field(default_factory=list)   # ids of the proper end states reached
    fingerprint: bool = False         # states kept as 64-bit hashes (no liveness checks)
    unchecked: list = field(default_factory=list)   # properties this mode cannot check
    transactions: str = ""            # how steps were cut: declared, derived or none
    restarts: int = 0                 # derived transactions: times the search started over
    _readable: dict = field(default_factory=dict, repr=False)   # name -> chosen path

    @property
    def collision_probability(self) -> float:
        """Fingerprint mode: the chance two of the states seen share a hash, as TLC
        reports it (optimistic: n^2 / 2^65 for n states and 64-bit hashes)."""
        return self.states * self.states / 2.0 ** 65 if self.fingerprint else 0.0

    def trace(self, name: str) -> list:
        """The violation of `name` as [(label or None, state), ...] from an initial state;
        a lasso ends with the step back into its cycle. A path to a state is, among the
        shortest, the one with the fewest switches between threads."""
        v = self.violations[name]
        if v.loop_at is not None:
            return self.graph.steps(v.path + [v.path[v.loop_at]])
        if name not in self._readable:
            self._readable[name] = self.graph.readable_path(v.path[-1]) if v.path else []
        return self.graph.steps(self._readable[name])


class Graph:
    """The explored graph: states by id, BFS parents, the label of each tree edge, and
    every edge in compressed form (succ[start[i]:start[i+1]] are the successors of i)."""

    def __init__(self):
        self.canonical = None        # the model's symmetry representative, if any
        self.view = None             # the model's unpacking of a state, if any
        self.fingerprint = _fingerprint
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

    def add(self, state, parent: int, label) -> int:
        sid = len(self.states)
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


def _fingerprint(state) -> int:
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


class DiskQueue:
    """The BFS frontier on disk, level by level (TLC keeps its queue on disk too):
    items of the level being read come back in order from one temporary file while
    the next level is written to another. Items go to disk in length-prefixed chunks:
    marshal.load reads a file object a few bytes at a time, which costs more than the
    item's successors, while marshal.loads of a chunk read at once does not."""

    CHUNK = 2048

    def __init__(self):
        self.reading, self.writing = None, tempfile.TemporaryFile()
        self.left, self.written = 0, 0
        self.out, self.chunk, self.at = [], [], 0

    def append(self, item) -> None:
        self.out.append(item)
        self.written += 1
        if len(self.out) >= self.CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self.out:
            data = marshal.dumps(self.out)
            self.writing.write(len(data).to_bytes(8, "little") + data)
            self.out = []

    def popleft(self):
        if not self.left:
            self._next_level()
        if self.at == len(self.chunk):
            size = int.from_bytes(self.reading.read(8), "little")
            self.chunk, self.at = marshal.loads(self.reading.read(size)), 0
        self.left -= 1
        self.at += 1
        return self.chunk[self.at - 1]

    def _next_level(self) -> None:
        self._flush()
        if self.reading:
            self.reading.close()
        self.reading, self.writing = self.writing, tempfile.TemporaryFile()
        self.reading.seek(0)
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

    def state_of(self, sid: int):
        return self._shown(self.kept[sid])

    def add_new(self, state, parent: int, label) -> int:
        """Record `state` if its fingerprint is new: its id, or -1 if seen before."""
        return self.add_fingerprint(self.fingerprint(state), parent, label)

    def add_fingerprint(self, fp: int, parent: int, label) -> int:
        if not self.seen.add(fp):
            return -1
        sid = len(self.fps)
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


def explore(model, properties, max_states: Optional[int] = None,
            max_memory_mb: Optional[int] = None, progress: Optional[Callable] = None,
            interval: float = 3.0, max_seconds: Optional[float] = None,
            fingerprint: bool = False, started: Optional[float] = None) -> Result:
    """Walk every reachable state breadth-first and check `properties` on the way.

    `started`: the `time.monotonic()` that the time bound, the progress lines and the
    seconds reported count from (default: now); a caller that starts a search over
    passes the first start."""
    run = _Run(model, properties, max_states, max_memory_mb, progress, interval, fingerprint)
    run.max_seconds, run.started = max_seconds, started
    gc_was_on = gc.isenabled()
    gc.disable()   # the states are immutable tuples: the cyclic collector only costs time
    try:
        return run.result()
    finally:
        if gc_was_on:
            gc.enable()


class _Run:
    def __init__(self, model, properties, max_states, max_memory_mb, progress, interval,
                 fingerprint=False):
        self.model = model
        self.props = list(properties)
        self.sometimes = [p for p in self.props if p.kind == "sometimes"]
        # The state predicates, screened in one call: a model may keep the answers.
        self.checked = [p for p in self.props if p.predicate is not None]
        self.goals = {p.name: [] for p in self.checked if p.kind in ("eventually", "fair")}
        self.news = getattr(model, "screen", _screen)(self.checked)
        self.max_states = max_states
        self.max_memory_kb = max_memory_mb * 1024 if max_memory_mb else None
        self.progress = progress
        self.interval = interval
        self.fingerprint = fingerprint
        self.graph = FingerprintGraph() if fingerprint else Graph()
        self.graph.model_successors = model.successors
        # Symmetry: a model may map each state to its orbit's representative; the graph
        # then holds representatives, and counterexamples are walked back to real states.
        self.canon = getattr(model, "canonical", None)
        self.graph.canonical = self.canon
        self.graph.model_initial = model.initial_states
        self.graph.view = getattr(model, "view", None)
        self.graph.fingerprint = getattr(model, "fingerprint", _fingerprint)
        self.state_type = getattr(model, "state_type", None)   # rebuilds a queued state
        self.found = {}          # property name -> Violation
        self.witnessed = set()   # sometimes properties seen to hold
        self.deadlock = next((p for p in self.props if p.kind == "deadlock"), None)
        self.dead_ends = []      # deadlocked state ids
        self.ends = []           # proper end state ids

    def result(self) -> Result:
        began = time.monotonic() if self.started is None else self.started
        bound = self._search_fingerprints(began) if self.fingerprint else self._search(began)
        if bound is None:
            if not self.fingerprint:
                cycles = self._cycles()
                self._check_eventually(cycles)
                self._check_fair(cycles)
            self._check_sometimes()
        return self._verdict(bound, time.monotonic() - began)

    def _check_state(self, sid: int, state) -> None:
        """Check the invariants and the `sometimes`; the first state (breadth-first) that
        breaks an invariant is its violation."""
        news = self.news(state)
        if news:
            self._settle(sid, news)

    def _settle(self, sid: int, news) -> None:
        for i in news:
            prop = self.checked[i]
            if prop.kind == "sometimes":
                self.witnessed.add(prop.name)
            elif prop.name in self.goals:
                self.goals[prop.name].append(sid)
            elif prop.name not in self.found:
                self.found[prop.name] = Violation(prop, self.graph.path_to(sid))

    def _search(self, began: float) -> Optional[str]:
        g = self.graph
        for state in self.model.initial_states():
            state = self.canon(state) if self.canon else state
            if state not in g.index:
                self._check_state(g.add(state, -1, None), state)
        head, level_end, self.next_report = 0, 0, began + self.interval
        limit = self.max_states or float("inf")
        while head < len(g.states):
            if head == level_end:       # a new depth: every state of it is known now
                level_end = len(g.states)
            self._expand(head, g.states[head], level_end)
            head += 1
            if len(g.states) > limit:
                return f"max-states {self.max_states} reached"
            if not head % 1024:
                stop = self._checkpoint(head, began)
                if stop:
                    return stop
        return None

    def _search_fingerprints(self, began: float) -> Optional[str]:
        g, canon, queue = self.graph, self.canon, DiskQueue()
        for state in self.model.initial_states():
            state = canon(state) if canon else state
            sid = g.add_new(state, -1, None)
            if sid >= 0:
                self._check_state(sid, state)
                queue.append((sid, self._stored(state)))
        expanded, self.next_report = 0, began + self.interval
        make = self.state_type or (lambda values: values)
        while queue:
            sid, values = queue.popleft()
            self._expand_fingerprints(sid, make(values), queue)
            expanded += 1
            stop = self._checkpoint(expanded, began)
            if stop:
                return stop
        return None

    def _stored(self, state):
        """What the disk queue keeps of a state: plain values (marshal takes no
        subclasses of tuple), which `model.state_type` makes a state again."""
        return tuple(state) if self.state_type else state

    def _checkpoint(self, expanded: int, began: float) -> Optional[str]:
        """Why to stop (a bound was hit), or None. States are counted on every call
        (the full search counts them itself, and calls this every 1024 expansions);
        memory, time and progress every 1024 expansions."""
        g = self.graph
        if self.max_states and g.count() > self.max_states:
            return f"max-states {self.max_states} reached"
        if expanded % 1024:
            return None
        now = time.monotonic()
        if self.max_memory_kb and _rss_kb() > self.max_memory_kb:
            return f"memory bound {self.max_memory_kb // 1024} MB reached"
        if self.max_seconds and now - began > self.max_seconds:
            return f"time bound {self.max_seconds:g} s reached"
        if self.progress and now >= self.next_report:
            self.progress(_progress_line(g, expanded, now - began))
            self.next_report = now + self.interval
        return None

    def _expand_fingerprints(self, sid: int, state, queue) -> None:
        g = self.graph
        canon, fingerprint, seen = self.canon, g.fingerprint, g.seen
        successors = self.model.successors(state)
        g.edges += len(successors)
        for label, nxt in successors:
            if canon:
                nxt = canon(nxt)
            fp = fingerprint(nxt)
            if seen.slots[fp & seen.mask] == fp:       # most seen states: the first probe
                continue
            nid = g.add_fingerprint(fp, sid, label)
            if nid >= 0:
                self._check_state(nid, nxt)
                queue.append((nid, self._stored(nxt)))
        self._classify_end(sid, state, successors)

    def _classify_end(self, sid: int, state, successors) -> bool:
        """Record a proper end or a deadlock; whether the state is a proper end."""
        if self.model.is_proper_end(state):
            self.ends.append(sid)
            if self.fingerprint:
                self.graph.kept[sid] = state
            return True
        if not successors:
            self.dead_ends.append(sid)
            if self.deadlock and self.deadlock.name not in self.found:
                self.found[self.deadlock.name] = Violation(self.deadlock,
                                                           self.graph.path_to(sid))
        return False

    def _expand(self, sid: int, state, level_end: int) -> None:
        """Add the successors of `sid`, whose depth's states are the ids below
        `level_end`: an edge to one of those goes back up the search (or is a spin)."""
        g = self.graph
        successors = self.model.successors(state)
        if self.canon:
            successors = [(label, self.canon(nxt)) for label, nxt in successors]
        index, succ = g.index, g.succ
        loops = back = 0
        for label, nxt in successors:
            nid = index.get(nxt)
            if nid is None:
                nid = g.add(nxt, sid, label)
                self._check_state(nid, nxt)
            elif nid < level_end:
                if nid == sid:
                    loops += 1
                else:
                    back += 1
            succ.append(nid)
        g.start.append(len(succ))
        g.back_edges += back
        proper_end = self._classify_end(sid, state, successors)
        if loops:
            g.self_loops.append(sid)
            if loops == len(successors) and not proper_end:
                g.spinners.append(sid)

    def _cycles(self) -> list:
        """The strongly connected sets of states with a cycle, end states left out: none
        without an edge to a state no deeper than its source, and only the spinning
        states themselves when every such edge is a self-loop."""
        g, ends = self.graph, set(self.ends)
        if not g.back_edges:
            return [[v] for v in g.self_loops if v not in ends]
        skip = bytearray(len(g.states))
        for v in ends:
            skip[v] = 1
        return _sccs(g, _peel(g, skip))

    def _check_eventually(self, cycles: list) -> None:
        for prop in (p for p in self.props if p.kind == "eventually"):
            if prop.predicate is not None:
                self._check_goal_reachable(prop)
                continue
            g = self.graph
            if not g.spinners and all(len(c) == 1 for c in cycles):
                continue    # outside the end states, no cycle but spins, and no state that
                            # only spins: every path reaches an end or a deadlock (reported
                            # by the deadlock property)
            reach = _backward_closure(g, self.ends)
            if all(reach):
                continue
            reach_dead = _backward_closure(g, self.dead_ends)
            trapped = next((i for i in range(len(g.states))
                            if not reach[i] and not reach_dead[i]), None)
            if trapped is not None:
                self.found[prop.name] = _lasso(g, prop, trapped)

    def _check_goal_reachable(self, prop: Property) -> None:
        """A variant's goal: from every state, one where it holds stays reachable. The
        first state that cannot reach one (a deadlock or a proper end that misses it, or
        a cycle that avoids it) breaks it: a shortest path there, then on until a state
        repeats or the run stops."""
        g = self.graph
        reach = _backward_closure(g, self.goals[prop.name])
        trapped = next((i for i in range(len(g.states)) if not reach[i]), None)
        if trapped is not None:
            self.found[prop.name] = _lasso(g, prop, trapped)

    def _check_fair(self, cycles: list) -> None:
        g = self.graph
        for prop in (p for p in self.props if p.kind == "fair"):
            if prop.predicate is not None:      # cycles among the states that miss the goal
                skip = bytearray(len(g.states))
                for v in self.ends + self.goals[prop.name]:
                    skip[v] = 1
                found = _sccs(g, _peel(g, skip))
            else:
                found = cycles
            for component in found:
                if _is_fair(g, component):
                    self.found[prop.name] = _lasso_into(g, prop, component)
                    break

    def _check_sometimes(self) -> None:
        for prop in self.sometimes:
            if prop.name not in self.witnessed:
                self.found[prop.name] = Violation(prop, [])

    def _verdict(self, bound: Optional[str], seconds: float) -> Result:
        g = self.graph
        order = {p.name: i for i, p in enumerate(self.props)}
        broken = sorted(self.found.values(),
                        key=lambda v: (not v.path, v.length, order[v.property.name]))
        violations = {v.property.name: v for v in broken}
        verdict = "violation" if broken else ("inconclusive" if bound else "pass")
        fp = self.fingerprint
        return Result(verdict=verdict, property=broken[0].property.name if broken else None,
                      violations=violations, states=g.count(),
                      transitions=g.edges if fp else len(g.succ),
                      depth=max(g.depth) if g.depth else 0, seconds=seconds, bound=bound,
                      graph=g, ends=self.ends, fingerprint=fp,
                      unchecked=[p.name for p in self.props
                                 if fp and p.kind in ("eventually", "fair")])


def _screen(props: list) -> Callable:
    """A function of a state: the indices in `props` of the properties whose value there
    is news (an invariant false, a `sometimes` true). A model may offer its own
    `screen(props)` with the same meaning, which can keep its answers."""
    tests = [(i, p.predicate, p.kind == "always") for i, p in enumerate(props)]
    return lambda state: [i for i, holds, always in tests if always != bool(holds(state))]


def _backward_closure(g: Graph, targets: list) -> bytearray:
    """Mark every state from which some target is reachable."""
    n = len(g.states)
    start, succ = g.start, g.succ
    indeg = array("l", bytes(8 * (n + 1)))
    for v in succ:
        indeg[v + 1] += 1
    for i in range(n):
        indeg[i + 1] += indeg[i]
    rev, fill = array("i", bytes(4 * len(succ))), array("l", indeg)
    for u in range(len(start) - 1):
        for k in range(start[u], start[u + 1]):
            v = succ[k]
            rev[fill[v]] = u
            fill[v] += 1
    mark = bytearray(n)
    todo = list(targets)
    for t in todo:
        mark[t] = 1
    while todo:
        v = todo.pop()
        for k in range(indeg[v], indeg[v + 1]):
            u = rev[k]
            if not mark[u]:
                mark[u] = 1
                todo.append(u)
    return mark


def _lasso(g: Graph, prop: Property, trapped: int) -> Violation:
    """A shortest path to `trapped`, then first successors until a state repeats."""
    path = g.path_to(trapped)
    seen = {trapped: len(path) - 1}
    current = trapped
    while True:
        after = g.successors_of(current)
        if not after:                      # the run stops here (an end, or a deadlock)
            return Violation(prop, path)
        current = after[0]
        if current in seen:
            return Violation(prop, path, loop_at=seen[current])
        seen[current] = len(path)
        path.append(current)


def _peel(g: Graph, skip: bytearray) -> bytearray:
    """`skip` plus every state Kahn's algorithm peels off: one with no edge in from a
    state not yet peeled or skipped. No state on a cycle is ever peeled, and a graph
    with no cycle peels whole, so Tarjan's pass is left the states that may matter.

    >>> g = Graph(); _ = [g.add(s, -1, None) for s in "abc"]
    >>> g.succ.extend([1, 2, 1]); g.start.extend([1, 2, 3])    # a -> b <-> c
    >>> list(_peel(g, bytearray(3)))
    [1, 0, 0]
    """
    n, start, succ = len(g.states), g.start, g.succ
    indeg = array("i", bytes(4 * n))
    for w in succ:
        indeg[w] += 1
    for u in (u for u in range(len(start) - 1) if skip[u]):     # edges out of skipped
        for k in range(start[u], start[u + 1]):
            indeg[succ[k]] -= 1
    peeled = bytearray(skip)
    todo = [v for v in range(n) if not skip[v] and not indeg[v]]
    while todo:
        u = todo.pop()
        peeled[u] = 1
        for k in range(start[u], start[u + 1]):
            w = succ[k]
            indeg[w] -= 1
            if not indeg[w] and not skip[w]:
                todo.append(w)
    return peeled


def _sccs(g: Graph, excluded: bytearray) -> list:
    """The non-trivial strongly connected sets of states not marked in `excluded`, each
    sorted, in the order of their first state (Tarjan's algorithm, iterative)."""
    n, start, succ = len(g.states), g.start, g.succ
    index, low, on_stack = [-1] * n, [0] * n, bytearray(n)
    stack, out, counter = [], [], 0
    for root in range(n):
        if index[root] >= 0 or excluded[root]:
            continue
        work = [(root, start[root])]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = 1
        while work:
            v, k = work[-1]
            if k < start[v + 1]:
                work[-1] = (v, k + 1)
                w = succ[k]
                if excluded[w]:
                    continue
                if index[w] < 0:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = 1
                    work.append((w, start[w]))
                elif on_stack[w]:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack[w] = 0
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1 or v in g.successors_of(v):
                    out.append(sorted(component))
    return sorted(out)


def _is_fair(g: Graph, component: list) -> bool:
    """Weak fairness: each thread steps inside the set, or is disabled in one of its states."""
    inside = set(component)
    steps_inside, enabled_everywhere = set(), None
    for v in component:
        actors, first = g.actors_of(v), g.start[v]
        enabled = set(actors)
        for k in range(first, g.start[v + 1]):
            if g.succ[k] in inside:
                steps_inside.add(actors[k - first])
        enabled_everywhere = enabled if enabled_everywhere is None else enabled_everywhere & enabled
    return enabled_everywhere <= steps_inside


def _lasso_into(g: Graph, prop: Property, component: list) -> Violation:
    """A shortest path to the component's first state, then a cycle inside it back there."""
    first, inside = component[0], set(component)
    path = g.path_to(first)
    parent, todo = {first: None}, [first]
    while todo:
        nxt = []
        for v in todo:
            for w in g.successors_of(v):
                if w == first:
                    cycle = [v]
                    while parent[cycle[-1]] is not None:
                        cycle.append(parent[cycle[-1]])
                    return Violation(prop, path + cycle[::-1][1:], loop_at=len(path) - 1)
                if w in inside and w not in parent:
                    parent[w] = v
                    nxt.append(w)
        todo = nxt
    raise AssertionError("a strongly connected component has a cycle")


def _rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _progress_line(g: Graph, done: int, elapsed: float) -> str:
    rate = g.count() / elapsed if elapsed > 0 else 0.0
    return (f"explored {g.count():,} states ({rate:,.0f}/s), queue {g.count() - done:,}, "
            f"depth {g.depth[done - 1]}")


def default_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
