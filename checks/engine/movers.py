"""Derived transactions: when a thread may run on without the others seeing the gap.

Lipton's reduction, with each step's mover type read off what the step did, not off a
hand list. A step is a *right mover* (R) if it commutes with whatever another thread
does right after it, a *left mover* (L) if it commutes with whatever another thread did
right before it, *both* (B), or *neither* (N). A transaction is R* N? L*: a thread runs
on from a state while its steps are right movers, takes at most one step of any kind,
then runs on only through left movers, and stops before the first step that is not
one. The reduced search sees no state where a thread is inside a transaction, and loses
nothing by it:

- safety: every R and L step changes nothing a property looks at, so a violating state
  with threads inside transactions has a reduced twin (the R steps undone, the L steps
  done) the properties judge the same;
- deadlock and liveness: after its N step, a thread runs on only at control states
  whose guards no other thread can change, so it cannot be stranded between its L steps.

The evidence comes from `tracking.py`: each step's tests on the locations it read, with
their outcomes, and its writes by kind (an increment, a push, a pop, or a store of one
value over another). `Knowledge` keeps what every thread's steps did at each location
and what the properties look at; two steps of different threads commute when the rules
in `_pair` say so (increments commute; a test survives a write that cannot change its
outcome; a push and a pop of one queue commute when it is not empty; a store and a
test commute when the store cannot flip the test). `Knowledge` also keeps what a thread
knows of a location while it sits at a control state (`_inv`): the values its step
there tested or wrote, closed under the stores other threads make; a store another
thread can only make from a value that cannot be there is no threat.

What the knowledge holds grows as the search computes new steps. Every type and every
stability judgement given out is kept with what it was judged on; when new knowledge
weakens one (a step that was a left mover is no longer one), the search stops with
`Rederive` and starts over with what it now knows. A finished search therefore used
only judgements that hold against every step it computed. (As in SPIN's partial-order
reduction, the argument takes the steps a search computes as the steps there are: a
step that only a state the reduced search never reaches could take is not weighed.)
"""

from functools import partial
from typing import NamedTuple


__all__ = ["R", "L", "B", "N", "OTHER", "Knowledge", "Rederive", "Access", "accesses",
           "holds", "other_outcome", "Roll", "apply_op", "value_at", "can_change_to"]

R, L, B, N = "R", "L", "B", "N"
OTHER = "other"              # an outcome known only to differ from the one seen
ALL = None                                   # a location's value is not known
_UP, _DOWN = ("gt", "ge"), ("lt", "le")      # tests whose truth set is closed upward, downward
_COMMUTE = {("delta", "delta"), ("push", "pop"), ("pop", "push")}
_PERMITS = {B: {R, L}, R: {R}, L: {L}, N: set()}


class Rederive(Exception):
    """A judgement the search relied on no longer holds: start over, knowing more."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Access(NamedTuple):
    """What one step did at one location."""

    kind: str          # read, delta, push, pop or store
    tests: tuple       # (test, argument, outcome) for every test it made there
    before: object     # the value before a write (None for a read)
    after: object      # the value after it
    branches: tuple = ()   # those of its tests an effect made: either outcome is a step


def holds(test: str, arg, value):
    """The outcome of `test` (with `arg`) on `value`, as tracking.py logs it.

    >>> holds("gt", 0, 2), holds("eq", 1, 0), holds("head", None, (5, 6)), holds("empty", None, ())
    (True, False, 5, True)
    """
    if test == "eq":
        return value == arg
    if test in ("gt", "ge", "lt", "le"):
        return {"gt": value > arg, "ge": value >= arg, "lt": value < arg, "le": value <= arg}[test]
    if test == "empty":
        return len(value) == 0
    if test == "len":
        return len(value)
    if test == "head":
        return value[0] if value else None
    if test == "item":
        return value[arg] if 0 <= arg < len(value) else None
    return value                                   # opaque: the whole value


def accesses(observations, writes, branching=()) -> dict:
    """One step's Access per location, from its logged tests and writes; `branching`:
    the tests its effects made (a guard's outcome is fixed by the row it enables; an
    effect's is not: the step that sees the other outcome is a step too)."""
    tests, branches = {}, {}
    for loc, test, arg, outcome in observations:
        tests.setdefault(loc, set()).add((test, arg, outcome))
    for loc, test, arg, outcome in branching:
        tests.setdefault(loc, set()).add((test, arg, outcome))
        branches.setdefault(loc, set()).add((test, arg, outcome))
    written = {}
    for loc, kind, before, after in writes:
        if loc in written:
            old_kind, first, _ = written[loc]
            kind = kind if kind == old_kind == "delta" else "store"
            written[loc] = (kind, first, after)
        else:
            written[loc] = (kind, before, after)
    out = {}
    for loc in tests.keys() | written.keys():
        made = tuple(sorted(tests.get(loc, ()), key=repr))
        branch = tuple(sorted(branches.get(loc, ()), key=repr))
        if loc in written and written[loc][1] != written[loc][2]:
            kind, before, after = written[loc]
            out[loc] = Access(kind, made, before, after, branch)
        elif made:
            out[loc] = Access("read", made, None, None, branch)
    return out


def _flipped(test) -> tuple:
    """The same test with the other outcome. Where the order of two steps decides what
    one of them sees, the search computed only the outcome it met; the step that sees
    the other may be one only the states a transaction skips would show. So two steps
    commute only if each test, whatever its outcome, comes out the same in either order
    (`_either_predates`, `_either_survives`). A guard's test needs no flip: its other
    outcome turns the row down, and no step is there to commute (`untaken` keeps it)."""
    name, arg, outcome = test
    return name, arg, other_outcome(outcome)


def other_outcome(outcome):
    """A test's outcome the other way: the opposite truth, or any other value."""
    return (not outcome) if type(outcome) is bool else OTHER


def _either_predates(access, op) -> bool:
    """Whether each test `access` made, right after `op`, had its outcome before; an
    effect's test whichever its outcome (`_flipped`)."""
    return all(predates(t, op) for t in access.tests) and \
        all(predates(_flipped(t), op) for t in access.branches)


def _either_survives(access, op) -> bool:
    """Whether each test `access` made before `op` keeps its outcome after; an
    effect's test whichever its outcome."""
    return all(survives(t, op) for t in access.tests) and \
        all(survives(_flipped(t), op) for t in access.branches)


def _delta(op) -> int:
    return op.after - op.before


def survives(test, op) -> bool:
    """Whether a test's outcome, true before `op` (another thread's write), is true after."""
    name, arg, outcome = test
    if outcome == OTHER:                 # any outcome but one: only a write it cannot see
        return op.kind == "store" and holds(name, arg, op.before) == holds(name, arg, op.after)
    if op.kind == "store":
        return holds(name, arg, op.before) != outcome or holds(name, arg, op.after) == outcome
    if op.kind == "delta":
        return _shifted(name, outcome, _delta(op))
    if op.kind == "push":
        return (name == "empty" and outcome is False) or \
            (name in ("head", "item") and outcome is not None)
    if op.kind == "pop":                      # a pop cannot follow a test that saw it empty
        return (name == "empty" and outcome is True) or (name == "head" and outcome is None)
    return False


def predates(test, op) -> bool:
    """Whether a test's outcome, true after `op` (another thread's write), was true before."""
    name, arg, outcome = test
    if outcome == OTHER:
        return op.kind == "store" and holds(name, arg, op.before) == holds(name, arg, op.after)
    if op.kind == "store":
        return holds(name, arg, op.after) != outcome or holds(name, arg, op.before) == outcome
    if op.kind == "delta":
        return _shifted(name, outcome, -_delta(op))
    if op.kind == "push":                     # after a push the queue is not empty
        return (name == "empty" and outcome is True) or (name == "head" and outcome is None)
    if op.kind == "pop":
        return name == "empty" and outcome is False
    return False


def _shifted(name, outcome, d) -> bool:
    """Whether a threshold test keeps `outcome` when its value moves by d."""
    if name in _UP:
        return (outcome and d > 0) or (not outcome and d < 0)
    if name in _DOWN:
        return (outcome and d < 0) or (not outcome and d > 0)
    return False


class Knowledge:
    """What every thread's steps do at each location, and the judgements given out on
    it (see the module docstring)."""

    def __init__(self):
        self.ops = {}          # loc -> {thread: {Access, as _canonical keeps it}}
        self.arrivals = {}     # (thread, pc) -> [locs every entry pinned, {loc: values}]
        self.rolls = {}        # (thread, pc) -> {Roll: judgement keys of its steps}
        self.visible = set()   # judgement keys of steps a property can see move
        self.initial = {}      # thread -> (start pc, initial state) once known
        self._judged = {}      # judgement key -> its answer (a type, or stable or not)
        self._by_loc = {}      # loc -> keys of the judgements that weighed it
        self._by_inv = {}      # (thread, pc, loc) -> keys that used what is known there
        self.restarts = 0
        self.weakened = None   # why a judgement given out this run no longer holds
        self.steps = 0         # steps recorded this run
        self.strict = 0        # before this many, a weakened judgement stops the run

    # -- what the search tells it ---------------------------------------------------

    def begin_run(self, strict: int) -> None:
        """A new search: its transactions are its own (`rolls`); a judgement weakened
        within its first `strict` steps stops it at once (Rederive)."""
        self.rolls, self.steps, self.strict = {}, 0, strict

    def start(self, thread: str, pc: int, state) -> None:
        """`thread` starts at `pc` in `state` (every location at its initial value)."""
        self.initial[thread] = (pc, state)

    def step(self, thread: str, src: int, dst: int, trigger: str, accs: dict) -> tuple:
        """Record a step of `thread` from control state `src` to `dst`: (its type, the
        key it is judged under)."""
        self.steps += 1
        self._arrive(thread, dst, accs)
        accs = {loc: _canonical(a) for loc, a in accs.items()}
        for loc, access in accs.items():
            mine = self.ops.setdefault(loc, {}).setdefault(thread, set())
            if access not in mine:
                mine.add(access)
                self._learned(thread, loc, access)
        self._stop_early()
        return self.step_type(thread, src, dst, trigger, accs)

    def untaken(self, thread: str, observations) -> None:
        """Tests (location, test, argument, outcome) a step of `thread` that no state
        the search keeps allows would make: they count as its reads."""
        by_loc = {}
        for loc, test, arg, outcome in observations:
            by_loc.setdefault(loc, set()).add((test, arg, outcome))
        for loc, made in by_loc.items():
            access = Access("read", tuple(sorted(made, key=repr)), None, None)
            mine = self.ops.setdefault(loc, {}).setdefault(thread, set())
            if access not in mine:
                mine.add(access)
                self._learned(thread, loc, access)
        self._stop_early()

    def transaction(self, thread: str, start: tuple, end: tuple, steps: list) -> None:
        """Record a transaction of `thread`, as [(accesses, judgement key, type)] per
        step, from `start` to `end`: each (control state, a function giving the value
        at a location there). What a state where the thread is inside it differs by from
        the states the search keeps is a `Roll`."""
        right = 0
        while right < len(steps) and steps[right][2] in (R, B):
            right += 1
        left = len(steps) if right == len(steps) else right + (steps[right][2] != L)
        for k in range(1, right + 1):
            self._roll(thread, start, steps[:k], undo=False)
        for k in range(left, len(steps)):
            self._roll(thread, end, steps[k:], undo=True)

    def _roll(self, thread, at, steps, undo) -> None:
        pc, value = at
        roll = Roll.of([accs for accs, _, _ in steps], undo, value)
        if roll.changes:
            self.rolls.setdefault((thread, pc), {}).setdefault(roll, set()).update(
                key for _, key, _ in steps)

    def writers(self) -> dict:
        """Per location, the threads whose steps write it."""
        return {loc: {t for t, accs in by.items() if any(a.kind != "read" for a in accs)}
                for loc, by in self.ops.items()}

    def make_visible(self, keys) -> None:
        """A property can see these steps move: they are non-movers from now on."""
        for key in sorted(set(keys) - self.visible, key=repr):
            self.visible.add(key)
            self._update(key, N)

    # -- judgements -------------------------------------------------------------------

    def step_type(self, thread, src, dst, trigger, accs) -> tuple:
        """(the type of a step with accesses `accs`, the key it is judged under)."""
        key = ("type", thread, src, dst, trigger, frozenset(accs.items()))
        kind = self._judged.get(key)
        if kind is None:
            kind = self._judged[key] = self._type(key)
            for loc in accs:
                self._by_loc.setdefault(loc, set()).add(key)
        return kind, key

    def stable(self, thread, pc, observations) -> bool:
        """Whether no other thread can change the outcome of any of these tests (made
        by `thread`'s guards at `pc`) while `thread` is there."""
        key = ("stable", thread, pc, frozenset(observations))
        answer = self._judged.get(key)
        if answer is None:
            answer = self._judged[key] = self._is_stable(key)
            for loc, *_ in observations:
                self._by_loc.setdefault(loc, set()).add(key)
        return answer

    def _type(self, key) -> str:
        _, thread, src, dst, _, accs = key
        if key in self.visible:
            return N
        right = left = True
        for loc, a in accs:
            for other, theirs in self.ops.get(loc, {}).items():
                if other == thread:
                    continue
                for b in theirs:
                    r, l = self._pair(key, loc, a, b)
                    right, left = right and r, left and l
            if not right and not left:
                return N
        return _TYPE[right, left]

    def _is_stable(self, key) -> bool:
        _, thread, pc, observations = key
        for loc, test, arg, outcome in observations:
            for other, theirs in self.ops.get(loc, {}).items():
                if other == thread:
                    continue
                for b in theirs:
                    if not self._keeps(key, loc, (test, arg, outcome), b):
                        return False
        return True

    def _keeps(self, key, loc, test, b) -> bool:
        """Whether write `b` of another thread leaves a guard's test as it was."""
        _, thread, pc, _ = key
        if b.kind == "read" or not _possible(b, self._inv(key, thread, pc, loc)):
            return True
        return survives(test, b) and predates(test, b)

    def _pair(self, key, loc, a, b) -> tuple:
        """(a;b can become b;a, b;a can become a;b) for a step `a` (judged under `key`)
        and a step `b` of another thread, both at `loc`."""
        _, thread, src, dst, _, _ = key
        if a.kind == "read" and b.kind == "read":
            return True, True
        if a.kind == "read":
            right = not _possible(b, self._inv(key, thread, dst, loc)) or \
                all(survives(t, b) for t in a.tests)
            left = not _possible(b, self._inv(key, thread, src, loc)) or \
                _either_predates(a, b)
            return right, left
        if b.kind == "read":
            return _either_predates(b, a), _either_survives(b, a)
        if (a.kind, b.kind) in _COMMUTE:
            return (_either_predates(b, a) and all(survives(t, b) for t in a.tests),
                    _either_predates(a, b) and _either_survives(b, a))
        if a.kind == b.kind == "store":      # the later store wins: they never commute
            return (not _possible(b, self._inv(key, thread, dst, loc)),
                    not _possible(b, self._inv(key, thread, src, loc)))
        return False, False

    # -- what a thread knows while it sits at a control state -------------------------

    def _arrive(self, thread, dst, accs) -> None:
        """Keep the values this step pinned at each location as it entered `dst`."""
        pinned = {}
        for loc, a in accs.items():
            if a.kind != "read":
                pinned[loc] = a.after
                continue
            for test, arg, outcome in a.tests:
                if test == "opaque" or (test == "eq" and outcome is True):
                    pinned[loc] = outcome if test == "opaque" else arg
        entry = self.arrivals.get((thread, dst))
        if entry is None:
            self.arrivals[(thread, dst)] = [set(pinned), {loc: {v} for loc, v in pinned.items()}]
            return
        changed = entry[0] - set(pinned)
        entry[0] -= changed
        for loc, value in pinned.items():
            values = entry[1].setdefault(loc, set())
            if value not in values:
                values.add(value)
                changed.add(loc)
        for loc in sorted(changed, key=repr):
            for key in sorted(self._by_inv.get((thread, dst, loc), ()), key=repr):
                self._rejudge(key)

    def _inv(self, key, thread, pc, loc):
        """The values `loc` can hold while `thread` is at `pc` (ALL when not known);
        judgement `key` is judged again when that grows."""
        entry = self.arrivals.get((thread, pc))
        if entry is None or loc not in entry[0]:
            return ALL
        self._by_inv.setdefault((thread, pc, loc), set()).add(key)
        values = set(entry[1][loc])
        start = self.initial.get(thread)
        if start is not None and start[0] == pc:
            values.add(value_at(start[1], loc))
        others = [b for other, ops in self.ops.get(loc, {}).items() if other != thread
                  for b in ops if b.kind != "read"]
        if any(b.kind != "store" for b in others):
            return ALL
        grown = True
        while grown:
            grown = False
            for b in others:
                if b.before in values and b.after not in values:
                    values.add(b.after)
                    grown = True
        return values

    # -- judgements kept, and checked again when knowledge grows ------------------------

    def _learned(self, thread, loc, b) -> None:
        """Another step `b` of `thread` at `loc`: the judgements of other threads that
        weighed `loc` are brought up to date (a store also moves what is known there)."""
        for key in sorted(self._by_loc.get(loc, ()), key=repr):
            if key[1] == thread:
                continue
            if b.kind == "store":
                self._rejudge(key)
            elif key[0] == "type":
                accs = dict(key[5])
                r, l = self._pair(key, loc, accs[loc], b)
                self._update(key, _TYPE[r and self._judged[key] in (R, B),
                                        l and self._judged[key] in (L, B)])
            elif not all(self._keeps(key, loc, t[1:], b) for t in key[3] if t[0] == loc):
                self._update(key, False)

    def _stop_early(self) -> None:
        """Early in a run, a weakened judgement stops it at once (every judgement is
        brought up to date first)."""
        if self.weakened is not None and self.steps < self.strict:
            raise Rederive(self.weakened)

    def _rejudge(self, key) -> None:
        self._update(key, self._type(key) if key[0] == "type" else self._is_stable(key))

    def _update(self, key, new) -> None:
        old = self._judged.get(key)
        self._judged[key] = new
        if old is None or self.weakened is not None:
            return
        if key[0] == "type" and not _PERMITS[new] >= _PERMITS[old]:
            self.weakened = f"{key[1]}'s {key[4]} is no longer {_NAMES[old]}"
        elif key[0] == "stable" and old and not new:
            self.weakened = (f"another thread can change what {key[1]}'s guards test at "
                             f"control state {key[2]}")



_TYPE = {(True, True): B, (True, False): R, (False, True): L, (False, False): N}
_HELD = "held"     # a push's or pop's test outcome that was not None


def _canonical(a: Access) -> Access:
    """What of an access the judgements weigh: an increment's size (not its values),
    a push's or pop's tests (whether the head was there, not what it was)."""
    if a.kind == "delta":
        return Access("delta", a.tests, 0, a.after - a.before, a.branches)
    if a.kind in ("push", "pop"):
        return Access(a.kind, _held(a.tests), None, None, _held(a.branches))
    return a


def _held(tests) -> tuple:
    return tuple(sorted({(t, arg, _HELD if t in ("head", "item") and out is not None
                          else out) for t, arg, out in tests}, key=repr))


_NAMES = {R: "a right mover", L: "a left mover", B: "a mover both ways", N: "a non-mover"}


class Roll(NamedTuple):
    """What part of one transaction changes, per location: a state where a thread has
    done the first steps of a transaction that starts where it is (its right movers),
    or not yet the last steps of one that ended where it is (its left movers), differs
    from the state the search keeps by one roll. Each change is (location, kind,
    argument): ("add", d), ("set", (from, to)), ("drop_last", items), ("put_last",
    items), ("drop_first", items) or ("put_first", items), to apply to the kept
    state's value. `requires`: the values the steps found (doing them) or left (taking
    them back) at every location they touched, which the kept state must hold; taking
    back, a location another thread writes may have moved since and is not required."""

    changes: tuple
    requires: tuple
    undo: bool

    @classmethod
    def of(cls, steps: list, undo: bool, value) -> "Roll":
        """The roll that does `steps` (each a dict of Access by location) from where
        `value` (a function of a location) reads, or, with `undo`, takes them back to
        where it reads."""
        net = {}
        for accs in steps:
            for loc, a in accs.items():
                net.setdefault(loc, [])
                if a.kind != "read":
                    net[loc].append(a)
        changes = []
        for loc in sorted(net, key=repr):
            change = _net(net[loc], undo) if net[loc] else None
            if change is not None:
                changes.append((loc,) + change)
        requires = tuple((loc, value(loc)) for loc in sorted(net, key=repr))
        return cls(tuple(changes), requires, undo)

    def applies(self, state, moved=frozenset()) -> bool:
        """Whether the kept `state` can be the one this roll starts from; `moved`: the
        locations other threads write (not required when taking back)."""
        for loc, value in self.requires:
            if value_at(state, loc) != value and not (self.undo and loc in moved):
                return False
        return self.can_change(state)

    def can_change(self, state) -> bool:
        """Whether every change can be made to `state`'s values."""
        return can_change_to(self.changes, partial(value_at, state))


def _net(ops, undo):
    """One location's change over several writes, forward or taken back."""
    first, last = ops[0].before, ops[-1].after
    if first == last:
        return None
    kinds = {a.kind for a in ops}
    if kinds == {"delta"}:
        d = last - first
        return ("add", -d if undo else d)
    if kinds == {"push"} and last[:len(first)] == first:
        items = last[len(first):]
        return ("drop_last", items) if undo else ("put_last", items)
    if kinds == {"pop"} and first[len(first) - len(last):] == last:
        items = first[:len(first) - len(last)]
        return ("put_first", items) if undo else ("drop_first", items)
    return ("set", (last, first) if undo else (first, last))


def apply_op(kind, arg, value):
    if kind == "add":
        return value + arg
    if kind == "set":
        return arg[1] if value == arg[0] else None
    if kind == "drop_last":
        return value[:len(value) - len(arg)] if value[len(value) - len(arg):] == arg else None
    if kind == "put_last":
        return value + arg
    if kind == "drop_first":
        return value[len(arg):] if value[:len(arg)] == arg else None
    return arg + value                              # put_first


def _possible(b, inv) -> bool:
    """Whether write `b` can happen while the location holds one of `inv`."""
    return inv is ALL or b.kind != "store" or b.before in inv


def value_at(state, loc):
    field, k = loc
    return state[field] if k < 0 else state[field][k]


def can_change_to(changes, value) -> bool:
    """Whether every change can be made where `value` reads the state."""
    return all(apply_op(kind, arg, value(loc)) is not None for loc, kind, arg in changes)
