"""Derived transactions (checks/engine/movers.py): each step's mover type follows from what it and
the other threads' steps do, and a judgement that new steps weaken is noticed."""

from checks.engine.movers import B, L, N, OTHER, R, Access, Knowledge, Roll, predates, survives

SEM, FLAG, JOB, PC = ("sem", -1), ("flag", -1), ("job", 0), ("pc", 0)


def _delta(d, *tests):
    return Access("delta", tuple(tests), 0, d)


def _store(before, after, *tests):
    return Access("store", tuple(tests), before, after)


def _read(*tests):
    return Access("read", tuple(tests), None, None)


def _type(k, thread, accs, src=0, dst=1):
    return k.step(thread, src, dst, "step", accs)[0]


def test_tests_against_writes():
    """A test's outcome survives a write that cannot change it, and only then."""
    assert survives(("gt", 0, True), _delta(1)) and not survives(("gt", 0, True), _delta(-1))
    assert predates(("gt", 0, False), _delta(1)) and not predates(("gt", 0, True), _delta(1))
    assert survives(("eq", 1, False), _store(0, 2)) and not survives(("eq", 1, False), _store(0, 1))
    assert not survives(("eq", 1, OTHER), _delta(1))


def test_a_wait_moves_right_and_a_post_left():
    """A semaphore wait commutes with a later post, a post with an earlier wait."""
    k = Knowledge()
    _type(k, "poster", {SEM: _delta(1)})
    assert _type(k, "waiter", {SEM: _delta(-1, ("gt", 0, True))}) == R
    assert _type(k, "poster", {SEM: _delta(1)}, src=5, dst=6) == L


def test_reading_a_flag_that_is_only_ever_set():
    """A flag others only set: a guard finding it clear moves left (after a set, the
    guard turns its row down: no step to commute), finding it set moves right (nothing
    clears it after). An effect finding it clear does not move left: right after a set,
    the same step finds it set, a step the search may never compute when the reduction
    skips the states where it happens (B5: a terminate touching a channel that cleanup
    just destroyed)."""
    k = Knowledge()
    _type(k, "setter", {FLAG: _store(0, 1)})
    assert _type(k, "reader", {FLAG: _read(("eq", 1, False))}) == L
    assert _type(k, "reader", {FLAG: _read(("eq", 1, True))}, src=3, dst=4) == R
    clear = ("eq", 1, False)
    effect = Access("read", (clear,), None, None, (clear,))
    assert _type(k, "reader", {FLAG: effect}, src=5, dst=6) == N
    assert _type(k, "reader", {FLAG: _read(("eq", 1, True))}, src=3, dst=4) == R


def test_a_handed_back_job_clears_as_a_left_mover():
    """The owner clears a flag the requester only sets from clear: having tested it set
    on the way in, no set by the requester can come just before the clear."""
    k = Knowledge()
    _type(k, "requester", {JOB: _store(0, 1)})
    _type(k, "owner", {JOB: _read(("eq", 1, True))}, src=0, dst=1)      # enters 1
    assert _type(k, "owner", {JOB: _store(1, 0)}, src=1, dst=2) in (L, B)


def test_new_knowledge_weakens_a_judgement():
    """A post judged a left mover stops being one when another thread turns out to test
    the semaphore for zero; the knowledge says so."""
    k = Knowledge()
    assert _type(k, "poster", {SEM: _delta(1)}) == B
    _type(k, "tester", {SEM: _read(("gt", 0, False))})
    assert k.weakened and "poster" in k.weakened
    assert _type(k, "poster", {SEM: _delta(1)}) == R      # a tester can see 0 only before it


def test_a_row_turned_down_counts_as_a_read():
    """A guard that refused a row tells what the step would find where it is taken."""
    k = Knowledge()
    assert _type(k, "poster", {SEM: _delta(1)}) == B
    k.untaken("other", [(SEM, "gt", 0, False)])
    assert k.weakened


def test_a_roll_applies_only_where_its_steps_could_have_been():
    """Taking back a transaction's last steps needs the values they left, but not where
    another thread writes; doing its first steps needs the values they found."""
    steps = [{SEM: Access("delta", (), 1, 2), PC: Access("store", (), 3, 4)}]
    undo = Roll.of(steps, True, {SEM: 2, PC: 4}.get)
    assert undo.applies({"sem": 7, "pc": (4,)}, moved={SEM})
    assert not undo.applies({"sem": 7, "pc": (4,)})
    assert not undo.applies({"sem": 2, "pc": (3,)})
    redo = Roll.of(steps, False, {SEM: 1, PC: 3}.get)
    assert redo.applies({"sem": 1, "pc": (3,)})
    assert not redo.applies({"sem": 2, "pc": (3,)}, moved={SEM})
    assert redo.changes == ((PC, "set", (3, 4)), (SEM, "add", 1))
