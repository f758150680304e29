"""The explorer on toy models that know nothing of multifd."""

from checks.engine.explorer import Property, explore


class Locks:
    """Two threads that each take locks `order` in turn, work, and release both.

    A state is (pc_a, pc_b, holder_0, holder_1); pc counts steps 0..3 (3: done);
    holder_k is -1 when lock k is free, else the thread index.
    """

    def __init__(self, order_a=(0, 1), order_b=(0, 1), use_locks=True):
        self.orders = (order_a, order_b)
        self.use_locks = use_locks

    def initial_states(self):
        return [(0, 0, -1, -1)]

    def successors(self, s):
        out = []
        for t in (0, 1):
            pc = s[t]
            if pc < 2:
                lock = self.orders[t][pc]
                if not self.use_locks or s[2 + lock] == -1:
                    n = list(s)
                    n[t] = pc + 1
                    if self.use_locks:
                        n[2 + lock] = t
                    out.append(((f"t{t}", f"take_lock_{lock}", "toy"), tuple(n)))
            elif pc == 2:
                n = list(s)
                n[t] = 3
                n[2] = -1 if n[2] == t else n[2]
                n[3] = -1 if n[3] == t else n[3]
                out.append(((f"t{t}", "release_both", "toy"), tuple(n)))
        return out

    def is_proper_end(self, s):
        return s[0] == 3 and s[1] == 3


def both_inside(s):
    return s[0] == 2 and s[1] == 2


PROPS = [
    Property("mutual_exclusion", "always", lambda s: not both_inside(s), "one holder at a time"),
    Property("someone_works", "sometimes", lambda s: 2 in s[:2], "a thread gets both locks"),
    Property("no_deadlock", "deadlock", doc="a stuck state is an end"),
    Property("end_always_reachable", "eventually", doc="an end stays reachable"),
]


class Spinner:
    """Thread a waits for a flag thread b never sets: a spins, b finishes."""

    def initial_states(self):
        return [(0, 0)]

    def successors(self, s):
        out = [(("a", "spin", "toy"), s)] if s[0] == 0 else []
        if s[1] == 0:
            out.append((("b", "finish", "toy"), (s[0], 1)))
        return out

    def is_proper_end(self, s):
        return s == (1, 1)


def test_same_lock_order_passes_with_pinned_counts():
    """Two threads taking the locks in one order hold every property (12 states, by hand)."""
    result = explore(Locks(), PROPS)
    assert (result.verdict, result.states, result.transitions) == ("pass", 12, 12)


def test_missing_lock_gives_shortest_violation():
    """Without locks both threads get inside; the trace is the 4-step shortest one."""
    result = explore(Locks(use_locks=False), PROPS)
    assert result.verdict == "violation" and result.property == "mutual_exclusion"
    assert len(result.trace("mutual_exclusion")) == 5
    assert both_inside(result.trace("mutual_exclusion")[-1][1])


def test_opposite_lock_order_deadlocks():
    """Opposite lock orders reach a state with no successors that is not an end."""
    model = Locks(order_b=(1, 0))
    result = explore(model, PROPS)
    assert result.property == "no_deadlock"
    last = result.trace("no_deadlock")[-1][1]
    assert model.successors(last) == [] and not model.is_proper_end(last)
    assert "end_always_reachable" not in result.violations


def test_spin_forever_is_a_livelock_lasso():
    """A thread spinning on a flag nobody sets is reported as a lasso, not a deadlock."""
    result = explore(Spinner(), PROPS[2:])
    violation = result.violations["end_always_reachable"]
    assert result.verdict == "violation" and "no_deadlock" not in result.violations
    assert violation.loop_at is not None
    trace = result.trace("end_always_reachable")
    assert trace[-1][1] == trace[violation.loop_at][1]


def test_sometimes_never_satisfied_is_vacuous():
    """A sometimes property that never holds fails the run with no trace."""
    never = Property("never", "sometimes", lambda s: False, "never")
    result = explore(Locks(), [never])
    assert result.verdict == "violation" and result.violations["never"].path == []


def test_max_states_bound_is_inconclusive():
    """Hitting --max-states without a violation gives an inconclusive verdict."""
    result = explore(Locks(), PROPS, max_states=5)
    assert result.verdict == "inconclusive" and "max-states" in result.bound


def test_same_model_same_trace():
    """Successor order is fixed, so two runs give the same counterexample."""
    first = explore(Locks(use_locks=False), PROPS).trace("mutual_exclusion")
    second = explore(Locks(use_locks=False), PROPS).trace("mutual_exclusion")
    assert first == second


class Starver:
    """Thread a spins while thread b, always enabled, could finish: an unfair cycle.
    With `b_blocked`, b waits for a flag nobody sets: the spin is then a fair livelock."""

    def __init__(self, b_blocked=False):
        self.b_blocked = b_blocked

    def initial_states(self):
        return [(0, 0)]

    def successors(self, s):
        out = [(("a", "spin", "toy"), s)] if s[0] == 0 else []
        if s[1] == 0 and not self.b_blocked:
            out.append((("b", "finish", "toy"), (1, 1)))
        return out

    def is_proper_end(self, s):
        return s == (1, 1)


FAIR = [Property("no_fair_livelock", "fair", doc="fair runs end")]


def test_spin_that_starves_another_thread_is_not_a_fair_livelock():
    """Weak fairness: b is enabled forever in a's spin, so that cycle is not fair."""
    assert explore(Starver(), FAIR).verdict == "pass"


def test_spin_with_everyone_else_blocked_is_a_fair_livelock():
    """Nobody else can move: the spin is a fair cycle, reported as a lasso."""
    result = explore(Starver(b_blocked=True), FAIR)
    violation = result.violations["no_fair_livelock"]
    assert result.verdict == "violation" and violation.loop_at is not None
    trace = result.trace("no_fair_livelock")
    assert trace[-1][1] == trace[violation.loop_at][1]
