"""Liveness on the built graph: which states can still reach a goal (a backward
closure), the strongly connected sets a run can stay in for ever, whether one is fair to
every thread, and the lasso that shows a livelock."""

from array import array

from . import core
from .graph import Graph
from .verdict import Property, Violation

__all__ = ["backward_closure", "backward_closure_py", "lasso", "lasso_into", "peel", "peel_py",
           "sccs", "sccs_py", "is_fair", "is_fair_lifted"]


def backward_closure(g: Graph, targets: list) -> bytearray:
    """Mark every state from which some target is reachable (compiled where the core is:
    checks/engine/_core.pyx)."""
    if core.available():
        return core.backward_closure(g, targets)
    return backward_closure_py(g, targets)


def backward_closure_py(g: Graph, targets: list) -> bytearray:
    """backward_closure in Python: the reference, and the fallback."""
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


def lasso(g: Graph, prop: Property, trapped: int) -> Violation:
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


def peel(g: Graph, skip: bytearray) -> bytearray:
    """`skip` plus every state Kahn's algorithm peels off: one with no edge in from a
    state not yet peeled or skipped. No state on a cycle is ever peeled, and a graph
    with no cycle peels whole, so Tarjan's pass is left the states that may matter.
    Compiled where the core is (checks/engine/_core.pyx).

    >>> g = Graph(); _ = [g.add(s, -1, None) for s in "abc"]
    >>> g.succ.extend([1, 2, 1]); g.start.extend([1, 2, 3])    # a -> b <-> c
    >>> list(peel(g, bytearray(3))), list(peel_py(g, bytearray(3)))
    ([1, 0, 0], [1, 0, 0])
    """
    if core.available():
        return core.peel(g, skip)
    return peel_py(g, skip)


def peel_py(g: Graph, skip: bytearray) -> bytearray:
    """peel in Python: the reference, and the fallback."""
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


def sccs(g: Graph, excluded: bytearray) -> list:
    """The non-trivial strongly connected sets of states not marked in `excluded`, each
    sorted, in the order of their first state (Tarjan's algorithm, iterative). Compiled
    where the core is (checks/engine/_core.pyx).

    >>> g = Graph(); _ = [g.add(s, -1, None) for s in "abcd"]
    >>> g.succ.extend([1, 2, 1, 3]); g.start.extend([1, 2, 3, 4])   # a -> b <-> c, d -> d
    >>> sccs(g, bytearray(4)), sccs_py(g, bytearray(4))
    ([[1, 2], [3]], [[1, 2], [3]])
    """
    if core.available():
        return core.sccs(g, excluded)
    return sccs_py(g, excluded)


def sccs_py(g: Graph, excluded: bytearray) -> list:
    """sccs in Python: the reference, and the fallback."""
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


def is_fair(g: Graph, component: list) -> bool:
    """Weak fairness: each thread steps inside the set, or is disabled in one of its states."""
    return _weakly_fair(component, lambda v: zip(g.successors_of(v), g.actors_of(v)))


def _weakly_fair(component: list, steps_of) -> bool:
    """is_fair, with `steps_of(v)` giving (the target, the thread) of every step out of
    state v: each thread enabled in every state of the set steps inside it."""
    inside = set(component)
    steps_inside, enabled_everywhere = set(), None
    for v in component:
        steps = list(steps_of(v))
        enabled = {actor for _, actor in steps}
        steps_inside |= {actor for w, actor in steps if w in inside}
        enabled_everywhere = enabled if enabled_everywhere is None else enabled_everywhere & enabled
    return enabled_everywhere <= steps_inside


def is_fair_lifted(g: Graph, component: list, successors, canon) -> bool:
    """is_fair under channel symmetry. The graph keeps one representative a state's
    orbit, and an edge's thread is named as its representative numbers the channels,
    which the next may number otherwise; so fairness is judged on the real states whose
    representatives are in `component` (at most N! for each) with their edges among
    themselves (`successors`, `canon`: the model's): fair if one of their strongly
    connected sets is."""
    inside = {g.states[v] for v in component}
    real = _Real([g.states[v] for v in component])
    for s in real.states:                  # grows as real states are met
        real.steps.append([(real.id(t) if canon(t) in inside else -1, label[0])
                           for label, t in successors(s)])
    for steps in real.steps:
        real.succ.extend(w for w, _ in steps if w >= 0)
        real.start.append(len(real.succ))
    return any(_weakly_fair(c, real.steps.__getitem__)
               for c in sccs_py(real, bytearray(len(real.states))))


class _Real:
    """The real states is_fair_lifted meets, by id: each one's steps as (the target's
    id, or -1 outside, the thread), and those among them as sccs_py reads a Graph's
    edges."""

    def __init__(self, states: list):
        self.states, self.ids = [], {}
        self.steps, self.start, self.succ = [], array("q", [0]), array("i")
        for s in states:
            self.id(s)

    def successors_of(self, v: int):
        return self.succ[self.start[v]:self.start[v + 1]]

    def id(self, s) -> int:
        if s not in self.ids:
            self.ids[s] = len(self.states)
            self.states.append(s)
        return self.ids[s]


def lasso_into(g: Graph, prop: Property, component: list) -> Violation:
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
