"""Each property is broken by its variant, with a shortest trace that replays."""

import pytest

from checks.reports.counterexample import replay, script, steps
from checks.matrix import MATRIX
from checks.properties import REGISTRY
from checks.system import System
from checks.verify import verify
from model.config import Config
from model.variants import get_variant

def _first_breaking_entries():
    """One matrix entry per (variant, expected breaks): where something must break."""
    seen, out = set(), []
    for e in MATRIX:
        key = (e.variant, e.expected_breaks())
        if e.expected_breaks() and key not in seen:
            seen.add(key)
            out.append((get_variant(e.variant), e))
    return out


def _entry(variant, name):
    """(kind, state predicate or None) of a property: the registry's, or the variant's
    own (whose eventually and fair properties have a goal, the registry's none)."""
    own = {c.name: c for c in variant.properties}
    if name in own:
        return own[name].kind, own[name].predicate
    entry = REGISTRY[name]
    return entry.kind, entry.predicate if entry.kind in ("always", "sometimes") else None


CASES = _first_breaking_entries()
IDS = [f"{v.name}-{'+'.join(e.config.faults) or 'no-fault'}-{i}" for i, (v, e) in enumerate(CASES)]
TRACED = ("always", "deadlock", "eventually")


@pytest.fixture(scope="module")
def runs():
    return {id_: verify(e.config, v) for id_, (v, e) in zip(IDS, CASES)}


@pytest.mark.parametrize("variant, entry", CASES, ids=IDS)
def test_variant_breaks_what_it_declares(runs, variant, entry):
    """The run finds every property the entry (and its variant) declares it breaks."""
    _, result = runs[IDS[CASES.index((variant, entry))]]
    assert result.verdict == "violation"
    assert set(entry.expected_breaks()) <= set(result.violations)


@pytest.mark.parametrize("variant, entry", CASES, ids=IDS)
def test_counterexample_is_shortest_and_replays(runs, variant, entry):
    """The trace reaches the violating state in BFS depth steps, and its script replays it."""
    system, result = runs[IDS[CASES.index((variant, entry))]]
    for name in (n for n in entry.expected_breaks() if _entry(variant, n)[0] in TRACED):
        violation = result.violations[name]
        final = violation.path[-1]
        if violation.loop_at is None:
            assert len(violation.path) - 1 == result.graph.depth[final]
        states = replay(system, script(steps(system, result, name)))
        assert states[-1] == result.trace(name)[-1][1]


@pytest.mark.parametrize("variant, entry", CASES, ids=IDS)
def test_counterexample_holds_row_by_row(runs, variant, entry):
    """The counterexample, fired row by row on the model with no step cache and no
    transactions (each guard and effect evaluated afresh), reaches the same last
    state, and there the property fails: the explorer's packed, cached, reduced search
    did not make it up."""
    system, result = runs[IDS[CASES.index((variant, entry))]]
    plain = System(system.config, system.variant, transactions=False, cache=False)
    for name in (n for n in entry.expected_breaks() if _entry(variant, n)[0] in TRACED):
        trace = result.trace(name)
        last = _fired(plain, system, trace)
        assert last == trace[-1][1]
        kind, predicate = _entry(variant, name)
        if kind == "always":
            assert not predicate(system.config, last)
        elif kind == "deadlock":
            assert plain.successors(last) == [] and not plain.is_proper_end(last)
        elif predicate is not None:           # a goal: the run loops or stops without it
            assert not predicate(system.config, last)
            assert result.violations[name].loop_at is not None or not plain.successors(last)
        elif kind == "eventually":
            assert result.violations[name].loop_at is not None


def _fired(plain, system, trace):
    """The state `plain` reaches firing each step's rows in turn (under symmetry the
    trace's states are real ones, but where it was forced: there a step lands on its
    representative, as the search stores it)."""
    state = plain.initial_states()[0]
    for label, _ in trace[1:]:
        for action in label[1].split(" > "):
            fired = [s for (t, a, _), s in plain.successors(state)
                     if t == label[0] and a == action]
            assert fired, f"{label[0]}: {action} is not enabled in the plain model"
            state = fired[0]
        if system.symmetric and not system.exact_symmetry:
            state = system.canonical(state)
    return state


@pytest.mark.parametrize("variant, entry", CASES, ids=IDS)
def test_seed_holds_where_the_variant_breaks(variant, entry):
    """Without faults, the same configuration passes with the seed: the edit is the cause."""
    if entry.config.faults or variant.name == "seed":
        pytest.skip("under a fault the seed breaks too (P1, P2)")
    _, result = verify(entry.config, get_variant("seed"))
    assert result.verdict == "pass", result.violations


def test_parent_file_into_seed_destination_fails_cleanly():
    """A parent-written file (with MULTIFD_FLUSH) makes the seed destination fail with
    'Unexpected RAM flags': every end is a failure, none hangs, the VM never starts."""
    config = Config(transport="file", channels=2, pages=2, rounds=2)
    system, result = verify(config, get_variant("parent-file-seed-dest"))
    assert set(result.violations) == {"vm_starts"}
    ends = [result.graph.state_of(i) for i in result.ends]
    assert ends and all(s.load_error and s.recv_freed and all(s.recv_joined) for s in ends)


def test_seed_destination_needs_the_sync_after_mem_size():
    """Dropping only the seed's sync after MEM_SIZE breaks I1: it is what the seed adds."""
    from model.variants import Variant
    drop = Variant("x", "hypothesis: test", "test",
                   functions={"load": {"syncs_after_mem_size": lambda cfg, s, t, c: False}})
    _, result = verify(Config(transport="file", channels=2, pages=2, rounds=1, live=False),
                       drop)
    assert "no_read_in_flight_after_mem_size" in result.violations


def test_p1_on_seed_is_the_load_thread_stuck_in_sync():
    """P1: the load thread waits on the shared sem_sync; every recv thread has exited."""
    from model import load, recv
    config = Config(transport="file", channels=2, pages=2, rounds=2, faults=("recv-read-error",))
    system, result = verify(config, get_variant("seed"))
    final = result.trace("no_deadlock")[-1][1]
    assert system.state_name("load", final.load_pc) == "SYNC_WAIT"
    assert all(pc == recv.EXITED for pc in final.recv_pc) and final.sem_sync == 0
    assert load.DONE != final.load_pc


def test_p2_on_seed_is_the_migration_thread_stuck_on_a_quiet_channel():
    """P2: the migration thread waits on a channel's sem_sync; that channel left on
    `exiting` without posting it, after another channel's write failed."""
    config = Config(channels=2, pages=1, rounds=1, live=False, faults=("send-write-error",))
    system, result = verify(config, get_variant("seed"))
    final = result.trace("no_deadlock")[-1][1]
    assert system.state_name("migration", final.mig_pc) == "SYNC_WAIT_SYNC"
    waited = final.mig_i
    assert final.send_sem_sync[waited] == 0 and final.send_error
    actions = [a for (t, a, _), _ in result.trace("no_deadlock")[1:]]
    assert any("write_fails" in a for a in actions) and any("see_exiting" in a for a in actions)
