"""Each property is broken by its variant, with a shortest trace that replays."""

import pytest

from checks.counterexample import replay, script, steps
from checks.matrix import MATRIX
from checks.properties import REGISTRY
from checks.verify import verify
from model.config import Config
from model.variants import CATALOGUE, get_variant

CASES = [(v, e) for v in CATALOGUE if v.breaks
         for e in [next(e for e in MATRIX if e.variant == v.name)]]
TRACED = ("always", "deadlock", "eventually")


@pytest.fixture(scope="module")
def runs():
    return {v.name: verify(e.config, v) for v, e in CASES}


@pytest.mark.parametrize("variant, entry", CASES, ids=[v.name for v, _ in CASES])
def test_variant_breaks_what_it_declares(runs, variant, entry):
    """The run finds every property the variant declares it breaks."""
    _, result = runs[variant.name]
    assert result.verdict == "violation"
    assert set(variant.breaks) <= set(result.violations)


@pytest.mark.parametrize("variant, entry", CASES, ids=[v.name for v, _ in CASES])
def test_counterexample_is_shortest_and_replays(runs, variant, entry):
    """The trace reaches the violating state in BFS depth steps, and its script replays it."""
    system, result = runs[variant.name]
    for name in (n for n in variant.breaks if REGISTRY[n].kind in TRACED):
        violation = result.violations[name]
        final = violation.path[-1]
        if violation.loop_at is None:
            assert len(violation.path) - 1 == result.graph.depth[final]
        states = replay(system, script(steps(system, result, name)))
        assert states[-1] == result.trace(name)[-1][1]


@pytest.mark.parametrize("variant, entry", CASES, ids=[v.name for v, _ in CASES])
def test_violating_state_really_violates(runs, variant, entry):
    """The last state of the trace is what the property forbids, checked directly."""
    system, result = runs[variant.name]
    for name in (n for n in variant.breaks if REGISTRY[n].kind in TRACED):
        last = result.trace(name)[-1][1]
        kind = REGISTRY[name].kind
        if kind == "always":
            assert not REGISTRY[name].predicate(system.config, last)
        elif kind == "deadlock":
            assert system.successors(last) == [] and not system.is_proper_end(last)
        elif kind == "eventually":
            assert result.violations[name].loop_at is not None


@pytest.mark.parametrize("variant, entry", CASES, ids=[v.name for v, _ in CASES])
def test_seed_holds_where_the_variant_breaks(variant, entry):
    """The same configuration passes with the seed: the variant's edit is the cause."""
    _, result = verify(entry.config, get_variant("seed"))
    assert result.verdict == "pass", result.violations


def test_parent_file_into_seed_destination_fails_cleanly():
    """A parent-written file (with MULTIFD_FLUSH) makes the seed destination fail with
    'Unexpected RAM flags': every end is a failure, none hangs, the VM never starts."""
    config = Config(transport="file", channels=2, pages=2, rounds=2)
    system, result = verify(config, get_variant("parent-file-seed-dest"))
    assert set(result.violations) == {"vm_starts"}
    ends = [result.graph.states[i] for i in result.ends]
    assert ends and all(s.load_error and s.recv_freed and all(s.recv_joined) for s in ends)


def test_seed_destination_needs_the_sync_after_mem_size():
    """Dropping only the seed's sync after MEM_SIZE breaks I1: it is what the seed adds."""
    from model.variants import Variant
    drop = Variant("x", "hypothesis: test", "test",
                   functions={"load": {"syncs_after_mem_size": lambda cfg, s, t, c: False}})
    _, result = verify(Config(transport="file", channels=2, pages=2, rounds=1, live=False),
                       drop)
    assert "no_read_in_flight_after_mem_size" in result.violations
