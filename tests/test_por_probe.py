"""The partial-order probe (checks/por_probe.py): its access kinds and its counts."""

from checks.por_probe import Probe, _conflict, _enables, _FIELD
from model.config import Config
from model.stepcache import WHOLE

SEM, JOB, SOCKETS = _FIELD["channels_ready"], _FIELD["pending_job"], _FIELD["sockets"]


def test_posts_commute_with_posts_and_the_wait_but_a_write_does_not_with_a_read():
    post, wait = {(SEM, WHOLE, "post")}, {(SEM, WHOLE, "wait")}
    assert not _conflict(frozenset(), post, frozenset(), post)
    assert not _conflict(wait, wait, frozenset(), post)
    assert _conflict(frozenset(), {(JOB, 1, "write")}, {(JOB, 1, "read")}, frozenset())
    assert not _conflict(frozenset(), {(JOB, 1, "write")}, {(JOB, 0, "read")}, frozenset())


def test_an_append_wakes_a_reader_only_on_an_empty_fifo():
    append, reader = {(SOCKETS, 0, "append")}, {(SOCKETS, 0, "read-fifo")}
    state = {SOCKETS: ((), (7,))}
    assert _enables(append, reader, state)
    assert not _enables({(SOCKETS, 1, "append")}, {(SOCKETS, 1, "read-fifo")}, state)


def test_each_reduced_search_of_one_channel_runs_within_the_full_one():
    probe = Probe(Config(channels=1, pages=1, rounds=1))
    ghosts = {_FIELD["stale_landed"], _FIELD["ram"]}
    for choose in (probe.stubborn_choice(probe.property_fields()),
                   probe.stubborn_choice(ghosts), probe.bound_choice):
        assert 1 <= probe.search(choose) <= probe.full
