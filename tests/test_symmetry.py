"""Channel symmetry in QEMU's loop order (checks/engine/product.py `symmetry_sound`,
`loops_run_whole`): where no loop over channels can stop half way, relabelling the
channels is an automorphism of the model, and the search keeps one state an orbit.
Checked against the search without it: the same orbits, the same verdicts, in both
loops; and a state that shows it failing starts the search over without it."""

import math
from collections import Counter

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from checks.engine import core
from checks.engine.product import Product, _rows
from checks.reports.counterexample import render
from checks.system import System
from checks.verify import verify
from model.config import Config
from model.variants import CATALOGUE, get_variant

from strategies import DECLARED

ORBIT_CASES = [
    ("seed", Config(channels=2, pages=2, rounds=2)),
    ("seed", Config(channels=3, pages=1, rounds=1, live=False, flush="per-section")),
    ("seed", Config(transport="file", channels=3, pages=2, rounds=2)),
    ("qemu-10.0", Config(channels=3, pages=1, rounds=2)),
    ("no-recv-park", Config(channels=2, pages=1, rounds=2)),
    ("free-before-join", Config(channels=3, pages=1, rounds=1, live=False)),
    ("stuck-pending-job", Config(channels=2, pages=2, rounds=1, live=False)),
    ("stuck-pending-job", Config(channels=2, pages=3, rounds=1, live=False)),   # a livelock
]


def _orbit(s) -> int:
    """How many states relabelling the channels of `s` gives."""
    rows = Counter(_rows(s))
    return math.factorial(sum(rows.values())) // math.prod(map(math.factorial, rows.values()))


@pytest.mark.parametrize("name, config", ORBIT_CASES, ids=[f"{n}-{c.slug()}" for n, c in
                                                            ORBIT_CASES])
def test_the_search_keeps_one_state_of_each_orbit_of_the_full_search(name, config):
    """The states the symmetric search keeps are the representatives of the states the
    full search reaches, one for each orbit, and their orbits add up to all of them:
    nothing reachable is lost, nothing unreachable is added."""
    system = System(config, get_variant(name))
    assert system.exact_symmetry
    _, reduced = verify(config, get_variant(name), pack=False)
    _, full = verify(config, get_variant(name), symmetry=False, pack=False)
    kept = {reduced.graph.state_of(i) for i in range(reduced.states)}
    reached = [full.graph.state_of(i) for i in range(full.states)]
    assert {system.canonical(s) for s in reached} == kept
    assert sum(map(_orbit, kept)) == full.states > reduced.states
    assert (reduced.verdict, sorted(reduced.violations)) == \
        (full.verdict, sorted(full.violations))


SWEEP = dict(variant=st.sampled_from([v for v in DECLARED if v.symmetric]),
             transport=st.sampled_from(["socket", "file"]), channels=st.integers(2, 3),
             pages=st.integers(1, 2), live=st.booleans(),
             flush=st.sampled_from(["per-round", "per-section"]))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**SWEEP)
def test_symmetry_keeps_every_verdict_on_a_sweep(variant, transport, channels, pages, live,
                                                 flush):
    """Catalogue variants with no fault layer, where symmetry is on by default: the
    verdict and the broken properties of the search without it, on fewer states."""
    try:
        config = Config(transport=transport, channels=channels, pages=pages, flush=flush,
                        rounds=2 if live and channels < 3 else 1, live=live)
        variant.check_config(config)
    except ValueError:
        assume(False)
    _, reduced = verify(config, variant, max_states=300_000)
    assume(reduced.symmetry == "on" and reduced.bound is None)
    _, full = verify(config, variant, symmetry=False)
    assert (reduced.verdict, sorted(reduced.violations)) == \
        (full.verdict, sorted(full.violations))
    assert reduced.states < full.states


def test_symmetry_is_on_where_no_loop_over_channels_can_stop_half_way():
    """On with no fault layer, QEMU's loop order and any idle channel; off with a fault
    layer (the collect checks `exiting`, which a failing channel sets, between its
    channels), with the round-robin scan, with the waits split, and for a variant that
    edits the collect (qemu-7.2: its own sync)."""
    def on(config, name="seed", **options):
        return System(config, get_variant(name), **options).exact_symmetry
    plain = Config(channels=2, pages=1, rounds=1)
    assert on(plain) and on(Config(transport="file", channels=2, pages=1, rounds=1))
    assert not on(Config(channels=2, pages=1, rounds=1, faults=("recv-read-error",)))
    assert not on(Config(channels=2, pages=1, rounds=1, pick="round-robin"))
    assert not on(plain, merge_waits=False)
    assert not on(plain, "qemu-7.2")


@pytest.mark.parametrize("loop", ["python", "compiled"])
def test_a_loop_seen_half_way_starts_the_search_over_without_symmetry(loop, monkeypatch):
    """With the collect's waits split, its loop stops half way; told that every loop runs
    whole, the search meets such a state, and the run starts over without symmetry:
    the full search's states and verdict, and the report says so."""
    if loop == "compiled" and core._core is None:
        pytest.skip("the compiled core is not built")
    monkeypatch.setenv("SEARCH_LOOP", loop)
    config = Config(channels=2, pages=1, rounds=1)
    _, full = verify(config, get_variant("seed"), merge_waits=False, symmetry=False)
    monkeypatch.setattr(Product, "loops_run_whole", lambda self: True)
    system, result = verify(config, get_variant("seed"), merge_waits=False)
    assert (result.symmetry, result.states, result.verdict) == ("lost", full.states, "pass")
    assert not system.symmetric and result.loop == loop


@pytest.mark.skipif(core._core is None, reason="the compiled core is not built")
def test_both_loops_keep_the_same_representatives(monkeypatch):
    """The compiled loop sorts the channels' rows as the Python loop's packed states do:
    the same states in the same order, and the same counterexample (stuck-pending-job
    deadlocks with two channels)."""
    config = Config(channels=2, pages=2, rounds=1, live=False)
    found = {}
    for which in ("compiled", "python"):
        monkeypatch.setenv("SEARCH_LOOP", which)
        _, result = verify(config, get_variant("stuck-pending-job"))
        found[which] = (result.symmetry, [result.graph.states[i] for i in
                                          range(result.states)], result.trace("no_deadlock"))
    assert found["compiled"] == found["python"] and found["python"][0] == "on"


def test_fairness_is_judged_on_the_real_states_of_a_quotient_cycle():
    """The quotient's labels name threads as each representative numbers the channels.
    Real states a and b (a with the channels swapped): send[0] takes a to b and send[1]
    takes b back, so both threads step in the cycle, which is fair; the quotient keeps
    a, with a loop labelled send[0] and send[1] leaving, which looks unfair to send[1].
    Where send[0] takes both ways, the real cycle is unfair too."""
    from checks.engine.liveness import is_fair, is_fair_lifted

    def turns(s):
        return {"a": [(("send[0]", "s", "f"), "b"), (("send[1]", "t", "f"), "x")],
                "b": [(("send[1]", "s", "f"), "a"), (("send[0]", "t", "f"), "y")]}.get(s, [])

    def one_steps(s):
        return {"a": [(("send[0]", "s", "f"), "b"), (("send[1]", "t", "f"), "x")],
                "b": [(("send[0]", "s", "f"), "a"), (("send[1]", "t", "f"), "y")]}.get(s, [])

    class Quotient:            # a -> a (send[0]), a -> x (send[1])
        states, start, succ = ["a", "x"], [0, 2, 2], [0, 1]

        def actors_of(self, v):
            return ["send[0]", "send[1]"] if v == 0 else []

        def successors_of(self, v):
            return self.succ[self.start[v]:self.start[v + 1]]

    def canonical(s):
        return "a" if s in "ab" else "x"

    g = Quotient()
    assert not is_fair(g, [0])
    assert is_fair_lifted(g, [0], turns, canonical)
    assert not is_fair_lifted(g, [0], one_steps, canonical)


def test_no_thread_but_the_migration_thread_sets_exiting_with_no_fault_layer():
    """The argument for the quiet wait (model/migration.py QUIET_WAITS), checked from
    what the steps do (derived transactions record every step's accesses): with no
    fault layer, only the migration thread writes send_exiting, in every catalogue
    variant that keeps the quiet wait. (qemu-7.2's send threads set it as they quit;
    its sync is its own, so it has none.)"""
    from model.variants.dsl import apply_variant
    assert not apply_variant(get_variant("qemu-7.2"))["migration"].quiet_waits
    for variant in CATALOGUE:
        if not apply_variant(variant)["migration"].quiet_waits:
            continue
        config = Config(channels=2, pages=1, rounds=1, live=False,
                        transport=variant.transports[0], flush=variant.flush_modes[0])
        try:
            variant.check_config(config)
        except ValueError:
            continue
        system, _ = verify(config, variant, transactions="derived")
        fields = system.state._fields
        writers = {thread for loc, by_thread in system.knowledge.ops.items()
                   if fields[loc[0]] == "send_exiting" for thread, accs in by_thread.items()
                   if any(a.kind != "read" for a in accs)}
        assert writers <= {"mig"}, (variant.name, writers)


def test_a_state_that_breaks_the_quiet_wait_s_argument_starts_the_run_over(monkeypatch):
    """The argument for the quiet wait, stated at a state (Role.quiet_holds), is checked
    on every state the search keeps: told that it fails once a round has started, the
    run starts over with the collect's check its own step, which is the search without
    the quiet wait, and the report says so."""
    config = Config(channels=2, pages=1, rounds=2)
    _, plain = verify(config, get_variant("seed"))
    assert not plain.quiet_lost
    monkeypatch.setattr(Product, "quiet_holds", lambda self: [lambda s: s.mig_round < 1]
                        if self.quiet else [])
    system, result = verify(config, get_variant("seed"))
    _, split = verify(config, get_variant("seed"), symmetry=False)
    assert result.quiet_lost and not system.quiet and result.verdict == "pass"
    assert result.states == split.states > plain.states
    assert "check of exiting its own step" in render(system, result, {})


def test_the_quiet_wait_needs_qemu_s_loop_order_and_no_fault_layer():
    """With --loops any the collect picks its channels, and one step would take every
    order of them; with a fault layer a failing channel sets `exiting`; with
    zero-copy-send the flush reads the channels' jobs: no quiet wait in any of them."""
    def quiet(**config):
        return System(Config(channels=2, pages=1, rounds=1, live=False, **config)).quiet
    assert quiet() and not quiet(loops="any") and not quiet(zero_copy=True)
    assert not quiet(faults=("send-write-error",))
