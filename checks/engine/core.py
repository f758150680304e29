"""Which search loop runs: the compiled one (checks/engine/_core.pyx) or Python's.

The compiled loop takes a search when it can give exactly what the Python loop gives:
packed states (checks/engine/packed.py) of at most 1,024 bits, and symmetry reduction
only where the channels' rows sort alone (QEMU's loop order, at most 16 channels:
PackedSystem.symmetry_plan; the core then sorts each successor's rows as
`PackedSystem._canonical` does, and watches for a loop where symmetry fails, which
raises SymmetryLost once the search stops). Everything it does not own it asks the
PackedSystem for, through `Hooks`: a thread's steps, a property's value, the halted and
end tests, each on a miss of its own cache; then it hands its arrays over, and the
Graph the analysis reads takes them as they are. With --fingerprint it keeps each
state's hash alone (`_core.Fingerprints`), and the FingerprintGraph reads the parents
and hashes from the files it wrote. With `threads` above 1 the search expands a depth's
states in batches on that many threads, and gives the one-thread graph
(`_core.Search.expand_batch`; in fingerprint mode, the one-thread tree:
`_core.Fingerprints.batch_fp`).
`SEARCH_LOOP=python` forces the Python loop (for comparisons); where the extension was
not built, the Python loop runs.
"""

import mmap
import os
import tempfile
from array import array

from .product import SymmetryLost

try:
    from . import _core
except ImportError:          # no compiler when it was installed: the Python loop
    _core = None

__all__ = ["available", "usable", "search", "why_python", "files_bound", "peel",
           "backward_closure", "sccs"]

MAX_BITS = 1024
MAX_CHANNELS = 16       # channels whose rows the core sorts under symmetry (MAXCH),
MAX_LOOPS = 4           # and loops over channels it watches (MAXLOOPS, _core.pyx)
# What a run still adds a state after a memory check: until the next one, the visited
# set's doubling (a new table of 8-byte slots, four a state, written at once while the old
# one is held) and the arrays' growth; then `_fill`, whose Graph takes the loop's arrays
# with no copy. (It was 250 bytes while `_fill` made every state a Python int, and 16
# while a slot was 4 bytes. Measured: socket N=3 P=2 R=2 with --max-memory 100 peaks at
# 102.5 MB with no reserve; docs/scale.md.)
FILL_BYTES = 32
# A batch's least and most states, for the threads (`_core.Search.batch_size`); None: the
# core's own (128 and 16,384). Tests make batches small, so that every search runs in
# batches.
BATCH_STATES = None


def available() -> bool:
    return _core is not None and os.environ.get("SEARCH_LOOP", "") != "python"


def why_python() -> str:
    """Why the Python loop ran, in a few words."""
    if _core is None:
        return "the compiled core is not built: make setup"
    if not available():
        return "SEARCH_LOOP=python"
    return ("the compiled loop takes packed states, with symmetry only in QEMU's loop "
            f"order and at most {MAX_CHANNELS} channels, and at most {MAX_BITS:,} properties")


def usable(model, properties: int = 0) -> bool:
    """Whether the compiled loop can run this search (`properties`: state predicates)."""
    layout = getattr(model, "layout", None)
    return (available() and layout is not None and 0 < layout.bits <= MAX_BITS and
            properties <= MAX_BITS and
            (getattr(model, "canonical", None) is None or _symmetry(model) is not None))


def _symmetry(model):
    """The model's plan for channel symmetry in the core (PackedSystem.symmetry_plan),
    or None."""
    plan = getattr(model, "symmetry_plan", lambda: None)()
    return plan if plan is not None and plan[2] <= MAX_CHANNELS and \
        len(plan[3]) <= MAX_LOOPS else None


class Hooks:
    """What the compiled loop calls back: on cache misses, and every 1,024 states."""

    def __init__(self, model, run, began):
        self.model, self.run, self.began = model, run, began
        self.keep_words, self.put_words = _core.new_buffer(), _core.new_buffer()
        self.first, self.count, self.labels = (_core.new_buffer() for _ in range(3))
        self.words = max(1, (model.layout.bits + 63) // 64)
        self.found = []                       # sets of properties news at a state
        self.again = bytearray()              # per set: 1 if told at every state (a goal's)
        self.size = self.entries = 0          # steps in the pool, and entries
        self.values = model.property_values(run.checked)
        self.core = None                      # the search, under symmetry (`checkpoint`)

    def miss(self, t: int, pc: int, x: int):
        """Thread t's steps from x, computed by the PackedSystem and added to the pool:
        (their id in the pool, the mask their key is read under)."""
        thread, _, _, slots = self.model._plan[t]
        steps = self.model._miss(thread, slots, pc, x)
        label_id, n = self.run.graph._label_id, self.words
        _core.buffer_extend(self.first, [self.size])
        _core.buffer_extend(self.count, [len(steps)])
        _core.buffer_extend(self.labels, [label_id(label) for label, _, _ in steps])
        _core.buffer_extend(self.keep_words, [w for _, keep, _ in steps for w in _words(keep, n)])
        _core.buffer_extend(self.put_words, [w for _, _, put in steps for w in _words(put, n)])
        self.size += len(steps)
        self.entries += 1
        return self.entries - 1, slots[pc][1]

    def value(self, i: int, x: int):
        """Property i's value at x, from its cache in Python, and the mask it keys on."""
        holds, memo = self.values[i]
        return holds(x), memo[1]

    def news(self, bits: int) -> int:
        """The id in `found` of a set of properties news at a state, bit i for
        property i: their indices, in order."""
        self.found.append(tuple(i for i in range(len(self.values)) if bits >> i & 1))
        self.again.append(self.run._needs_every(self.found[-1]))
        return len(self.found) - 1

    def halted(self, x: int):
        return self.model._halted(x), self.model.halted_memo[1]

    def proper(self, x: int):
        return self.model.is_proper_end(x), self.model.end_memo[1]

    def checkpoint(self, expanded: int, count: int, reserve: int = None, depth: int = 0):
        """Why to stop, or None (`depth`: the last expanded state's, for progress). The
        memory bound keeps room for what the loop adds until its next check and for the
        Graph handed over when it ends (FILL_BYTES a state), so that a run stopped by it
        stays under it while its states are counted and reported; in fingerprint mode,
        `reserve` bytes (a doubling of its table). A search whose symmetry failed
        stops at once (`search` raises SymmetryLost)."""
        if self.core is not None and self.core.lost:
            return "symmetry lost"
        if reserve is None:
            reserve = count * FILL_BYTES
        return self.run._checkpoint_count(expanded, count, self.began,
                                          reserve_kb=reserve // 1024, depth=depth)


def _words(value: int, n: int) -> list:
    """`value` as n signed 64-bit words, low first (two's complement for a negative)."""
    out = []
    for _ in range(n):
        w = value & 0xFFFFFFFFFFFFFFFF
        out.append(w - (1 << 64) if w >= 1 << 63 else w)
        value >>= 64
    return out


def search(run, began: float):
    """The compiled breadth-first search of `run` (explorer._Run): fills its graph, its
    ends and dead ends, and its findings, as `_Run._search` (or, in fingerprint mode,
    `_Run._search_fingerprints`) does; the bound hit, or None."""
    model = run.model
    run.next_report = began + run.interval
    hooks = Hooks(model, run, began)
    plan = [(offset, pc_mask) for _, offset, pc_mask, _ in model._plan]
    always = [p.kind == "always" for p in run.checked]
    kind = _core.Fingerprints if run.fingerprint else _core.Search
    core = kind(hooks.words, hooks, plan, always,
                -1 if run.max_states is None else run.max_states)
    core.workers = run.threads_used = max(1, run.threads)
    if getattr(model, "canonical", None):
        core.symmetry(*_symmetry(model))
        hooks.core = core
    if BATCH_STATES:
        core.batch_least, core.batch_most = BATCH_STATES
    try:
        files = _open_files(core) if run.fingerprint else None
    except OSError as e:
        return files_bound(e.strerror or str(e))
    try:
        core.run(model.initial_states())
    except _core.FilesFailed as e:   # fingerprint mode's files: a full disk, a size limit
        core.bound = files_bound(e.strerror or str(e))
    finally:
        if run.fingerprint:
            _fill_fingerprints(run, core, hooks, files)
        else:
            _fill(run, core, hooks)
    if core.lost:
        raise SymmetryLost("a loop over channels in index order stopped half way, so the "
                           "channels are not interchangeable here")
    if core.bound == "max":
        return f"max-states {run.max_states} reached"
    return core.bound


def files_bound(why: str) -> str:
    """The bound a search ends at when its files cannot be written or read."""
    return (f"the search's files in {tempfile.gettempdir()} failed ({why}); "
            "TMPDIR names where they go")


def _open_files(core) -> list:
    """Fingerprint mode's four temporary files (where TMPDIR says): the frontier's two,
    then each state's parent id and its fingerprint. The core writes through duplicates
    of their descriptors; the last two are mapped into memory once it is done."""
    files, fds = [], []
    try:
        for _ in range(4):
            files.append(tempfile.TemporaryFile())
            fds.append(os.dup(files[-1].fileno()))
    except OSError:
        for fd in fds:
            os.close(fd)
        for f in files:
            f.close()
        raise
    core.open(*fds)             # it closes the four, whether it takes them or not
    return files


def _fill(run, core, hooks) -> None:
    """The Graph and findings of the search so far, as the Python loop leaves them. The
    Graph takes the loop's arrays as they are; its states stay in the core as words,
    each made a Python int when asked for (`_core.States`)."""
    g = run.graph
    states, arrays = core.hand_over()
    g.states, g.index = states, _Index(states)
    g.parent, g.label, g.depth, g.succ, g.start = (arrays[k] for k in
                                                   ("parent", "label", "depth", "succ", "start"))
    g.back_edges = core.back_edges
    g.self_loops, g.spinners = array("l", arrays["loops"]), array("l", arrays["spin"])
    run.ends = arrays["ends"].tolist()
    _settle_events(run, arrays["settle"], hooks)


def _fill_fingerprints(run, core, hooks, files) -> None:
    """The FingerprintGraph and findings of the search so far, as the Python loop
    leaves them: the parents and fingerprints by state id read from their files (mapped,
    not loaded), the proper ends kept whole, and the core's hash as the fingerprint a
    counterexample is walked back by."""
    g, words = run.graph, hooks.words
    arrays = core.hand_over()
    for f in files[:2]:
        f.close()
    g.parent, g.fps = _mapped(files[2], "i"), _mapped(files[3], "Q")
    g.edges, g.deepest = core.edges, core.deepest
    g.fingerprint = lambda state: _core.fingerprint(state, words)
    kept = min(len(g.parent), len(g.fps))      # short if the disk filled: those alone count
    if arrays["short"] and not core.bound:
        core.bound = files_bound(arrays["short"])
    g.parent, g.fps = g.parent[:kept], g.fps[:kept]
    ends = [(sid, state) for sid, state in zip(arrays["ends"], arrays["end_states"])
            if sid < kept]
    run.ends = [sid for sid, _ in ends]
    g.kept = dict(ends)
    settle = arrays["settle"]
    _settle_events(run, [v for k in range(0, len(settle), 2) if settle[k] < kept
                         for v in (settle[k], settle[k + 1])], hooks)


def _mapped(f, typecode: str):
    """The file's contents as an array of `typecode`, mapped read-only; the file is
    closed (the map keeps its own descriptor)."""
    with f:
        size = os.fstat(f.fileno()).st_size
        if not size:
            return array(typecode)
        return memoryview(mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ)).cast(typecode)


def _settle_events(run, events, hooks) -> None:
    """The core's findings in order: (state id, id of a set of news in hooks.found), or
    (state id, -1) for a dead end. The core tells a set at its first state only, unless
    a goal is among them (`Hooks.again`)."""
    for k in range(0, len(events), 2):
        sid, found = events[k], events[k + 1]
        if found < 0:
            run._dead_end(sid)
        else:
            run._settle(sid, hooks.found[found])


class _Index:
    """The graph's state -> id map (only a lasso's edge names ask), from the core's
    visited set."""

    def __init__(self, states):
        self.states = states

    def get(self, state, default=None):
        sid = self.states.find(state)
        return default if sid < 0 else sid


def peel(g, skip: bytearray) -> bytearray:
    """liveness.peel, compiled (the same set: it does not depend on the order)."""
    return _core.peel(g.succ, g.start, skip, len(g.states))


def backward_closure(g, targets: list) -> bytearray:
    """liveness.backward_closure, compiled."""
    return _core.backward_closure(g.succ, g.start, targets, len(g.states))


def sccs(g, excluded: bytearray) -> list:
    """liveness.sccs, compiled (the same list: sorted sets, sorted)."""
    return _core.sccs(g.succ, g.start, excluded, len(g.states))
