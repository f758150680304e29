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
import sys
import time
from typing import Callable, Optional

from . import core
from .bounds import BoundHit, acknowledge, rss_kb, stop_reason
from .graph import DiskQueue, FingerprintGraph, Graph, QueueFailed, fingerprint_of
from .liveness import backward_closure, is_fair, is_fair_lifted, lasso, lasso_into, peel, sccs
from .verdict import KINDS, Property, Result, Violation

__all__ = ["Property", "Result", "Violation", "explore", "KINDS"]

def explore(model, properties, max_states: Optional[int] = None,
            max_memory_mb: Optional[int] = None, progress: Optional[Callable] = None,
            interval: float = 3.0, max_seconds: Optional[float] = None,
            fingerprint: bool = False, started: Optional[float] = None,
            threads: int = 1) -> Result:
    """Walk every reachable state breadth-first and check `properties` on the way.

    `started`: the `time.monotonic()` that the time bound, the progress lines and the
    seconds reported count from (default: now); a caller that starts a search over
    passes the first start. `threads`: how many the compiled search runs on (the
    same graph on any number; core.py)."""
    run = _Run(model, properties, max_states, max_memory_mb, progress, interval, fingerprint)
    run.max_seconds, run.started, run.threads = max_seconds, started, threads
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
        self.graph.limit = max_states
        self.graph.model_successors = model.successors
        # Symmetry: a model may map each state to its orbit's representative; the graph
        # then holds representatives, and counterexamples are walked back to real states.
        self.canon = getattr(model, "canonical", None)
        self.graph.canonical = self.canon
        self.graph.model_initial = model.initial_states
        self.graph.view = getattr(model, "view", None)
        self.graph.fingerprint = getattr(model, "fingerprint", fingerprint_of)
        self.state_type = getattr(model, "state_type", None)   # rebuilds a queued state
        self.found = {}          # property name -> Violation
        self.witnessed = set()   # sometimes properties seen to hold
        self.deadlock = next((p for p in self.props if p.kind == "deadlock"), None)
        self.dead_ends = []      # deadlocked state ids
        self.ends = []           # proper end state ids
        self.loop = "python"     # which search loop ran (core.py)
        self.threads = self.threads_used = 1

    def result(self) -> Result:
        """The verdict; a bound hit anywhere (here, or from the watchdog inside a guard,
        an effect or the analysis after the search) makes it inconclusive."""
        began = time.monotonic() if self.started is None else self.started
        try:
            bound = self._search_with(began)
            if bound is None:
                self._analyse()
            else:                 # the search saw the bound first: the watchdogs stand down
                acknowledge()
        except (BoundHit, RecursionError) as e:
            acknowledge()
            bound = stop_reason(e)
        return self._verdict(bound, time.monotonic() - began)

    def _analyse(self) -> None:
        """The properties judged on the whole graph, once the search is complete."""
        if not self.fingerprint:
            cycles = self._cycles()
            self._check_eventually(cycles)
            self._check_fair(cycles)
        self._check_sometimes()

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

    def _needs_every(self, news) -> bool:
        """Whether `_settle` needs every state where `news` are news, not just the
        first: a goal's states are all kept. The others are settled for good at the
        first (a `sometimes` witnessed, an invariant's violation found)."""
        return any(self.checked[i].name in self.goals for i in news)

    def _search_with(self, began: float) -> Optional[str]:
        """The search, by the compiled loop where it can take it (core.py), in either
        mode; the bound hit, or None."""
        if core.usable(self.model, len(self.checked)):
            self.loop = "compiled"
            return core.search(self, began)
        return self._search_fingerprints(began) if self.fingerprint else self._search(began)

    def _search(self, began: float) -> Optional[str]:
        g = self.graph
        for state in self.model.initial_states():
            state = self.canon(state) if self.canon else state
            if state not in g.index:
                self._check_state(g.add(state, -1, None), state)
        head, level_end, self.next_report = 0, 0, began + self.interval
        while head < len(g.states):
            if head == level_end:       # a new depth: every state of it is known now
                level_end = len(g.states)
            self._expand(head, g.states[head], level_end)
            head += 1
            if not head % 1024:
                stop = self._checkpoint(head, began)
                if stop:
                    return stop
        return None

    def _search_fingerprints(self, began: float) -> Optional[str]:
        """The Python loop in fingerprint mode, its frontier on disk (`DiskQueue`); the
        bound hit, or None. Its file failing (a full disk, a file size limit) ends the
        search as a bound, as in the compiled loop (core.files_bound)."""
        try:
            return self._search_on_disk(began)
        except QueueFailed as e:
            return core.files_bound(e.strerror)

    def _search_on_disk(self, began: float) -> Optional[str]:
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
        """Why to stop (a bound was hit), or None: memory, time and progress, every 1024
        expansions (the graph itself refuses a state beyond --max-states)."""
        if expanded % 1024:
            return None
        return self._checkpoint_count(expanded, self.graph.count(), began)

    def _checkpoint_count(self, expanded: int, count: int, began: float,
                          reserve_kb: int = 0, depth: Optional[int] = None) -> Optional[str]:
        """`_checkpoint` at a 1024th expansion, with `count` states known; `reserve_kb`:
        memory the run will still need after it stops (the compiled loop's Graph);
        `depth`: the last expanded state's (the compiled loop's; else the graph's)."""
        now = time.monotonic()
        stop = None
        if self.max_memory_kb and rss_kb() + reserve_kb > self.max_memory_kb:
            stop = f"memory bound {self.max_memory_kb // 1024} MB reached"
        elif self.max_seconds and now - began > self.max_seconds:
            stop = f"time bound {self.max_seconds:g} s reached"
        if stop:                # the watchdogs stand down now: the search ends on its own,
            acknowledge()       # and what it hands over (the compiled loop's) is kept whole
            return stop
        if self.progress and now >= self.next_report:
            self.progress(_progress_line(self.graph, count, expanded, now - began, depth))
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
            self._dead_end(sid)
        return False

    def _dead_end(self, sid: int) -> None:
        self.dead_ends.append(sid)
        if self.deadlock and self.deadlock.name not in self.found:
            self.found[self.deadlock.name] = Violation(self.deadlock, self.graph.path_to(sid))

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
        return sccs(g, peel(g, skip))

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
            reach = backward_closure(g, self.ends)
            if all(reach):
                continue
            reach_dead = backward_closure(g, self.dead_ends)
            trapped = next((i for i in range(len(g.states))
                            if not reach[i] and not reach_dead[i]), None)
            if trapped is not None:
                self.found[prop.name] = lasso(g, prop, trapped)

    def _check_goal_reachable(self, prop: Property) -> None:
        """A variant's goal: from every state, one where it holds stays reachable. The
        first state that cannot reach one (a deadlock or a proper end that misses it, or
        a cycle that avoids it) breaks it: a shortest path there, then on until a state
        repeats or the run stops."""
        g = self.graph
        reach = backward_closure(g, self.goals[prop.name])
        trapped = next((i for i in range(len(g.states)) if not reach[i]), None)
        if trapped is not None:
            self.found[prop.name] = lasso(g, prop, trapped)

    def _check_fair(self, cycles: list) -> None:
        g = self.graph
        for prop in (p for p in self.props if p.kind == "fair"):
            if prop.predicate is not None:      # cycles among the states that miss the goal
                skip = bytearray(len(g.states))
                for v in self.ends + self.goals[prop.name]:
                    skip[v] = 1
                found = sccs(g, peel(g, skip))
            else:
                found = cycles
            for component in found:
                if is_fair_lifted(g, component, self.model.successors, self.canon) \
                        if self.canon else is_fair(g, component):
                    self.found[prop.name] = lasso_into(g, prop, component)
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
                      depth=g.max_depth(), seconds=seconds, bound=bound,
                      graph=g, ends=self.ends, fingerprint=fp, loop=self.loop,
                      threads=self.threads_used,
                      unchecked=[p.name for p in self.props
                                 if fp and p.kind in ("eventually", "fair")])


def _screen(props: list) -> Callable:
    """A function of a state: the indices in `props` of the properties whose value there
    is news (an invariant false, a `sometimes` true). A model may offer its own
    `screen(props)` with the same meaning, which can keep its answers."""
    tests = [(i, p.predicate, p.kind == "always") for i, p in enumerate(props)]
    return lambda state: [i for i, holds, always in tests if always != bool(holds(state))]


def _progress_line(g: Graph, count: int, done: int, elapsed: float,
                   depth: Optional[int] = None) -> str:
    rate = count / elapsed if elapsed > 0 else 0.0
    if depth is None and len(g.depth) >= done:
        depth = g.depth[done - 1]
    at = "" if depth is None else f", depth {depth}"
    return f"explored {count:,} states ({rate:,.0f}/s), queue {count - done:,}{at}"


def default_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
