"""--loops any: channel loops in any order, where symmetry reduction is exact.

The model with --loops any over-approximates QEMU's index order, and permuting channel
identities is an automorphism of it (System.symmetry_sound). These tests check both
claims on many small configurations: symmetry keeps every verdict and every
counterexample's length, and whatever index order breaks, any order breaks too.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.reports.counterexample import render
from checks.properties import property_doc
from checks.verify import verify
from model import migration
from model.config import Config
from checks.system import System
from model.variants import get_variant
from strategies import DECLARED, multi_channel_configs

SYMMETRIC = [v for v in DECLARED if v.symmetric]
FAULT_LAYERS = st.sampled_from([(), ("send-write-error",), ("recv-read-error",),
                                ("recv-eof",), ("cancel",), ("channel-create-error",)])
CHECKED = ("always", "deadlock")


def _any(config, **changes):
    return Config(**{**config.as_dict(), "zero_pages": config.zero_pages, "loops": "any",
                     **changes})


def _usable(config, variant):
    return config.flush in variant.flush_modes and config.transport in variant.transports


@st.composite
def symmetric_configs(draw):
    """Two channels with or without a fault layer, or three with one page, one round
    and no fault (a fault at three channels takes 10-40 s)."""
    config = draw(multi_channel_configs())
    if config.channels == 3:
        return _any(config, pages=1, rounds=1, live=False)
    return _any(config, faults=draw(FAULT_LAYERS))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=symmetric_configs(), variant=st.sampled_from(SYMMETRIC))
def test_symmetry_is_exact_with_any_order_loops(config, variant):
    """Same verdict, same broken properties and counterexamples of the same length with
    and without symmetry, never more states with it; and no loop that must run whole
    inside a transaction is ever seen half done (canonical would raise)."""
    if not _usable(config, variant):
        return
    _, reduced = verify(config, variant)
    _, full = verify(config, variant, symmetry=False)
    assert (reduced.graph.canonical is not None) == (
        config.channels > 1 and not config.fault("channel-create-error"))
    assert (reduced.verdict, set(reduced.violations)) == (full.verdict, set(full.violations))
    assert reduced.states <= full.states
    for name in full.violations:
        assert len(reduced.trace(name)) == len(full.trace(name))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=multi_channel_configs(), variant=st.sampled_from(DECLARED))
def test_any_order_breaks_whatever_index_order_breaks(config, variant):
    """An over-approximation: every invariant or deadlock that QEMU's index order
    breaks, any order breaks too (so a pass with --loops any holds for QEMU)."""
    if not _usable(config, variant):
        return
    _, index = verify(config, variant)
    _, anyorder = verify(_any(config), variant)
    kinds = {name: v.property.kind for name, v in index.violations.items()}
    assert {n for n, kind in kinds.items() if kind in CHECKED} <= set(anyorder.violations)


@pytest.mark.parametrize("config", [
    Config(channels=3, pages=1, rounds=1, live=False, loops="any"),
    Config(channels=2, pages=2, rounds=1, live=False, faults=("send-write-error",),
           loops="any"),
    Config(transport="file", channels=3, pages=2, rounds=2, loops="any"),
])
def test_packed_and_tuple_representatives_count_the_same_orbits(config):
    """Packed states sort rows of codes, tuples sort rows of values: different
    representatives of the same orbits, so the same counts and verdicts."""
    _, packed = verify(config, get_variant("seed"))
    _, tuples = verify(config, get_variant("seed"), pack=False)
    assert (packed.states, packed.verdict) == (tuples.states, tuples.verdict)
    for name in packed.violations:
        assert len(packed.trace(name)) == len(tuples.trace(name))


def test_p2_is_found_in_any_order_with_symmetry():
    """P2 (seed, send-write-error): the wait loop commits to channel 0 before it waits,
    so the hang is still there, in fewer states."""
    config = Config(channels=2, pages=1, rounds=1, live=False, faults=("send-write-error",),
                    loops="any")
    system, reduced = verify(config, get_variant("seed"))
    _, full = verify(config, get_variant("seed"), symmetry=False)
    assert system.symmetric and "no_deadlock" in reduced.violations
    assert reduced.states < full.states
    end = reduced.trace("no_deadlock")[-1][1]
    assert end.mig_pc == migration.STATES.index("SYNC_WAIT_SYNC")


def test_symmetry_is_on_where_sound_and_off_elsewhere():
    """On by default with --loops any; off with QEMU's index order where a fault layer
    lets a loop stop half way (tests/test_symmetry.py has where it is on), with the
    round-robin pick (next_channel names a channel) and without transactions."""
    any_order = Config(channels=2, pages=1, rounds=1, loops="any")
    assert System(any_order).symmetric
    assert not System(Config(channels=2, pages=1, rounds=1, live=False,
                             faults=("send-write-error",))).symmetric
    assert not System(Config(channels=2, pages=1, rounds=1, loops="any",
                             pick="round-robin")).symmetric
    assert not System(any_order, transactions=False).symmetric
    assert not System(any_order, symmetry=False).symmetric
    assert not System(Config(channels=2, pages=1, rounds=1, loops="any", live=False,
                             faults=("channel-create-error",))).symmetric


def test_a_crash_half_way_through_the_shutdown_loop_is_why():
    """B13: the kicks stop at the first uninitialized channel, so which channels were
    kicked depends on index order: the exact canonical form meets a loop stopped half
    way and says so."""
    config = Config(transport="file", channels=2, pages=1, rounds=1, live=False,
                    faults=("channel-create-error",), loops="any")
    system, result = verify(config, get_variant("b13-setup-abort"))
    assert not system.symmetric
    with pytest.raises(RuntimeError, match="stopped half way"):
        for s in map(result.graph.state_of, range(result.states)):
            system.pinned(s.__getitem__)


def test_canonical_keeps_the_committed_channel():
    """Where phase B has committed to a channel, mig_i follows that channel (under a
    fault layer: without one the collect is one step, and never stops committed)."""
    config = Config(channels=3, pages=1, rounds=1, loops="any", live=False,
                    faults=("send-write-error",))
    system = System(config)
    _, result = verify(config, get_variant("seed"), symmetry=False)
    committed = {migration.STATES.index(n) for n in migration.COMMITTED}
    seen = 0
    for s in map(result.graph.state_of, range(min(result.states, 20_000))):
        c = system.canonical(s)
        assert system.canonical(c) == c
        if s.mig_pc in committed:
            seen += 1
            assert c.send_pc[c.mig_i] == s.send_pc[s.mig_i]
            assert c.send_sem_sync[c.mig_i] == s.send_sem_sync[s.mig_i]
    assert seen > 100


def test_liveness_is_left_unchecked_and_said_so():
    """An over-approximation cannot show that something always happens: the report
    names the properties it did not check."""
    config = Config(channels=2, pages=1, rounds=1, loops="any")
    system, result = verify(config, get_variant("seed"))
    assert {"end_always_reachable", "no_fair_livelock"} <= set(result.unchecked)
    text = render(system, result, {n: property_doc(n) for n in result.unchecked})
    assert "not checked with --loops any: " in text and "symmetry reduction on" in text


@pytest.mark.parametrize("loops", ["index", "any"])
def test_loop_order_is_in_the_label_and_validated(loops):
    config = Config(loops=loops)
    assert ("any-order-loops" in config.label()) == (loops == "any")
    with pytest.raises(ValueError, match="unknown loop order"):
        Config(loops="random")
