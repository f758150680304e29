"""The reduction probe (research/por_probe.py): its access kinds, its counts, its merges."""

import collections

import pytest

from .por_probe import (GHOST_VISIBLE, Probe, _atom_bits, _conflict, _enables, _FIELD,
                              _live, _reset, main)
from checks.properties import properties_for
from model.config import Config
from checks.engine.stepcache import WHOLE
from model.variants import get_variant

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


def _probe(variant="seed", pages=1, rounds=1, flush="per-round", faults=()):
    config = Config(channels=1, pages=pages, rounds=rounds, flush=flush, pick="round-robin",
                    faults=faults)
    return Probe(config, get_variant(variant))


def _visibilities(probe):
    return {"properties": probe.property_fields(), "ghosts": GHOST_VISIBLE}


def _broken(probe, states) -> set:
    invariants = [p for p in properties_for(probe.system.config) if p.kind == "always"]
    return {p.name for p in invariants for s in states if not p.predicate(s)}


@pytest.mark.parametrize("variant, pages, rounds, flush", [
    ("seed", 1, 1, "per-round"), ("b4-eos-without-sync", 1, 1, "per-section"),
    ("no-sync-before-bitmap", 2, 2, "per-round")])
def test_stubborn_sets_keep_every_deadlock_and_every_broken_invariant(variant, pages, rounds,
                                                                      flush):
    """Valmari: stubborn sets keep every reachable deadlock, and with the properties'
    fields visible every reachable violation. b4 deadlocks at one channel, and
    no-sync-before-bitmap in two states, one of which a stubborn set without its
    closure (only the thread it starts from) loses."""
    probe = _probe(variant, pages, rounds, flush)
    full = probe.states
    assert bool(probe.deadlocks(full)) == (variant != "seed")
    for name, visible in _visibilities(probe).items():
        reduced = probe.search(probe.stubborn_choice(visible))
        assert set(reduced) <= set(full)
        assert probe.deadlocks(reduced) == probe.deadlocks(full)
        if name == "properties":      # the ghost flags alone promise no more
            assert _broken(probe, reduced) == _broken(probe, full)


def test_stubborn_sets_save_almost_nothing_while_the_properties_see_the_threads():
    probe = _probe()
    sizes = {name: len(probe.search(probe.stubborn_choice(visible)))
             for name, visible in _visibilities(probe).items()}
    assert 0.9 * probe.full < sizes["properties"] < probe.full
    assert sizes["ghosts"] < 0.6 * probe.full


def test_a_bad_variant_or_configuration_is_one_line_and_exit_2(capsys):
    assert main(["--variant", "nope"]) == 2
    assert main(["--channels", "0"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and all(line.startswith("por_probe: error: ") for line in lines)


def test_the_columns_asked_for_come_out_one_line_each(capsys):
    assert main(["--channels", "1", "--pages", "1", "--rounds", "1",
                 "--columns", "bound"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out[1:]] == ["full", "bound"]


def test_a_variable_written_before_any_read_is_dead():
    """x (bit 1) is read at state 1; the edge 0 -> 1 writes it, 1 -> 2 does not."""
    live = _live([0, 1, 0], [[(1, 1)], [(2, 0)], []])
    assert live == [0, 1, 0]
    assert _live([0, 1, 0], [[(1, 0)], [(2, 0)], [(0, 0)]]) == [1, 1, 1]


def _observed(probe, predicates, s) -> tuple:
    """What merged states must agree on: the steps, the properties, the end test."""
    labels = tuple(label for label, _ in probe.system.successors(s))
    verdicts = tuple(bool(predicate(s)) for predicate in predicates)
    return labels, verdicts, probe.system.is_proper_end(s), probe.system.end_kind(s)


def test_states_merged_on_their_live_variables_take_the_same_steps_and_verdicts():
    """Under a recv-read-error some states differ only in what nobody reads again;
    merged, each group agrees on its steps, its properties and its end."""
    probe = _probe(pages=2, faults=("recv-read-error",))
    bits, states = _atom_bits(1), list(probe.states)
    live = probe._dynamic_live(states, bits)
    groups, predicates = collections.defaultdict(set), probe._predicates()
    for s, mask in zip(states, live):
        groups[_reset(s, states[0], mask, bits)].add(_observed(probe, predicates, s))
    assert len(groups) < probe.full
    assert all(len(observed) == 1 for observed in groups.values())


def test_dead_variables_merge_nothing_without_faults_and_a_search_could_know_little():
    """The model keeps no value nobody reads; under a fault, what a search could know
    from control states alone merges less than the whole graph shows."""
    probe = _probe(pages=2)
    assert probe.dead_variable_states() == probe.full
    probe = _probe(pages=2, faults=("recv-read-error",))
    merged, static = probe.dead_variable_states(), probe.dead_variable_states(static=True)
    assert merged < static < probe.full
