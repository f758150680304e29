"""What a step does with each value it reads (checks/engine/tracking.py): tests, increments,
pushes and pops are told apart, and anything else reads the whole value."""

from model.state import PER_CHANNEL_INDEX, State, add, put
from checks.engine.stepcache import WHOLE
from checks.engine.tracking import TrackingRecorder

INDEX = {name: i for i, name in enumerate(State._fields)}


def _recorder(**changes):
    base = State(*([0] * len(State._fields))).replace(
        send_sem=(1, 0), sockets=((3,), ()), stream=(4, 16), send_pc=(2, 2),
        channels_ready=2, mig_i=1, **changes)
    return TrackingRecorder(base, set(), INDEX, frozenset(PER_CHANNEL_INDEX))


def _loc(name, k=WHOLE):
    return (INDEX[name], k)


def test_a_comparison_with_a_constant_logs_the_test_and_its_outcome():
    """`x > 0` on a read value logs ('gt', 0) with the outcome it had."""
    r = _recorder()
    assert r.send_sem[0] > 0
    assert r.trace.observations == [(_loc("send_sem", 0), "gt", 0, True)]


def test_an_increment_written_back_is_a_delta_not_a_read():
    """`add(column, k, -1)` and `x + 1` written back log a delta, and no test."""
    r = _recorder()
    r.replace(send_sem=add(r.send_sem, 0, -1), channels_ready=r.channels_ready + 1)
    assert r.trace.observations == []
    assert sorted(r.trace.writes) == sorted([(_loc("send_sem", 0), "delta", 1, 0),
                                             (_loc("channels_ready"), "delta", 2, 3)])


def test_a_push_and_a_pop_of_a_queue():
    """`queue + (item,)` and `queue[1:]` written back are a push and a pop."""
    r = _recorder()
    r.replace(stream=r.stream[1:], sockets=put(r.sockets, 1, r.sockets[1] + (5,)))
    kinds = {loc: kind for loc, kind, _, _ in r.trace.writes}
    assert kinds == {_loc("stream"): "pop", _loc("sockets", 1): "push"}


def test_head_and_emptiness_of_a_queue_are_tests():
    """Looking at a queue's head and at whether it is empty logs those two tests."""
    r = _recorder()
    socket = r.sockets[0]
    assert socket and socket[0] == 3
    assert [(test, outcome) for _, test, _, outcome in r.trace.observations] == \
        [("empty", False), ("head", 3)]


def test_a_value_copied_elsewhere_is_read_whole():
    """Storing a read value in another field depends on all of it: an opaque read."""
    r = _recorder()
    r.replace(stale_landed=r.channels_ready)
    assert (_loc("channels_ready"), "opaque", None, 2) in r.trace.observations


def test_a_read_value_used_as_an_index_is_read_whole():
    """`column[s.mig_i]` depends on mig_i's value, and tests the entry it picks."""
    r = _recorder()
    assert r.send_pc[r.mig_i] == 2
    assert r.trace.observations == [(_loc("mig_i"), "opaque", None, 1),
                                    (_loc("send_pc", 1), "eq", 2, True)]


def test_iterating_a_column_tests_each_entry():
    """`any(pc == 3 for pc in s.send_pc)` tests every channel's entry on its own."""
    r = _recorder()
    assert not any(pc == 3 for pc in r.send_pc)
    assert r.trace.observations == [(_loc("send_pc", 0), "eq", 3, False),
                                    (_loc("send_pc", 1), "eq", 3, False)]


def test_writes_reach_the_state_as_plain_values():
    """What the step cache keeps is plain values, not tags."""
    r = _recorder()
    after = r.replace(channels_ready=r.channels_ready + 1, stream=r.stream + (7,))
    assert after.writes() == ((INDEX["channels_ready"], WHOLE, 3),
                              (INDEX["stream"], WHOLE, (4, 16, 7)))
    assert all(type(v) in (int, tuple) for _, _, v in after.writes())
