"""Merged waits (model/machine.py `merged_waits`, checks/engine/product.py `_unblocked`): a
run of waits on semaphores only the waiting thread takes is one step, as SPIN's anchor
takes it. Checked against the split waits (`--split-waits`) and the fine-grained model, on
the whole matrix and a sweep, with the assumption the merge rests on checked from what the
steps do."""

from dataclasses import replace

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from checks.engine.workers import run_ordered
from checks.matrix import MATRIX
from checks.reports.waitfor import render_text, wait_for
from checks.verify import verify
from model.config import Config
from model.variants import get_variant

from strategies import DECLARED, DECLARED_FAULTS, small_configs

FINE_BOUND = 60_000       # a configuration whose fine-grained model is larger is not compared
P1 = Config(transport="file", faults=("recv-read-error",))
P2 = Config(pages=1, rounds=1, live=False, faults=("send-write-error",))


def _judged(config, variant, **options):
    _, result = verify(config, variant, **options)
    return result.verdict, sorted(result.violations)


def _both(entry):
    variant = get_variant(entry.variant)
    return (entry.variant, entry.config.label(), _judged(entry.config, variant),
            _judged(entry.config, variant, merge_waits=False))


def test_every_matrix_entry_gets_the_split_waits_verdict():
    """Each of the matrix's entries: the same verdict and the same broken properties with
    the waits merged as with each wait its own step."""
    differ = [(name, label, merged, split)
              for name, label, merged, split in run_ordered(_both, MATRIX, 2)
              if merged != split]
    assert differ == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(variant=st.sampled_from(DECLARED), config=small_configs(),
       fault=st.sampled_from((None,) + DECLARED_FAULTS))
def test_a_sweep_gets_the_split_and_the_fine_grained_verdicts(variant, config, fault):
    """Catalogue variants at small configurations under each fault layer: merged waits,
    split waits and the fine-grained model give one verdict and one set of broken
    properties."""
    try:
        config = replace(config, faults=(fault,) if fault else ())
        variant.check_config(config)
    except ValueError:
        assume(False)
    _, fine = verify(config, variant, transactions=False, max_states=FINE_BOUND)
    assume(fine.bound is None)
    expected = (fine.verdict, sorted(fine.violations))
    assert _judged(config, variant) == expected
    assert _judged(config, variant, merge_waits=False) == expected


def _consumers(knowledge, fields) -> dict:
    """Per semaphore location: the threads that test it, and whether any other thread
    does more to it than a post (an increment that tests nothing)."""
    out = {}
    for loc, by_thread in knowledge.ops.items():
        testers = {t for t, accs in by_thread.items() if any(a.tests for a in accs)}
        posts_only = all(a.kind == "delta" and not a.tests and a.after > a.before
                         for t, accs in by_thread.items() if t not in testers for a in accs)
        out[(fields[loc[0]], loc[1])] = (testers, posts_only)
    return out


def test_only_the_waiting_thread_tests_what_its_merged_waits_take():
    """The argument for the merge, checked from what the steps do (derived transactions
    record every step's accesses): each semaphore a merged run waits on is tested by its
    waiting thread alone, and every other thread only posts it; so a thread holding part
    of a run's tokens looks to every other thread like one holding none."""
    waited = {"mig": ("channels_ready", "send_sem_sync"), "load": ("sem_sync",)}
    for name, config in (("seed", P2), ("seed", P1), ("qemu-10.0", P2),
                         ("p1-p2-fix", Config(channels=3, pages=1, rounds=2))):
        system, _ = verify(config, get_variant(name), transactions="derived")
        seen = _consumers(system.knowledge, system.state._fields)
        for thread, fields in waited.items():
            for (field, _), (testers, posts_only) in seen.items():
                if field in fields:
                    assert (testers, posts_only) == ({thread}, True), (name, field)


def test_a_hang_ends_where_the_split_model_ends():
    """P1 and P2: the counterexample goes on through the waits its threads can still take,
    so that its last state blocks each thread where QEMU's does, and the wait-for graph
    reads as with split waits."""
    for config in (P1, P2):
        texts = []
        for merge in (True, False):
            system, result = verify(config, get_variant("seed"), merge_waits=merge)
            last = result.trace("no_deadlock")[-1][1]
            texts.append(render_text(wait_for(system, last)))
        assert texts[0] == texts[1]
        assert "waits on" in "\n".join(texts[0])


def test_merged_waits_cut_the_states_where_a_run_is_part_taken():
    """With the waits merged no state the search keeps has the load thread part way
    through multifd_recv_sync_main()'s waits, either side part way through its joins,
    or (no fault layer: the quiet wait) the migration thread part way through the
    sync's collect; with them split, some do."""
    def part_taken(merge):
        system, result = verify(Config(channels=2, pages=1, rounds=2), get_variant("seed"),
                                merge_waits=merge, pack=False)
        states = [result.graph.state_of(i) for i in range(result.states)]
        runs = (("load", "SYNC_WAIT", "load_pc", "load_i"), ("load", "CLEANUP", "load_pc",
                "load_i"), ("migration", "JOIN", "mig_pc", "mig_i"),
                ("migration", "SYNC_WAIT_READY", "mig_pc", "mig_i"))
        return result.states, [sum(getattr(s, pc) == system.roles[role].states.index(wait)
                                   and 0 < getattr(s, i) < 2 for s in states)
                               for role, wait, pc, i in runs]
    (merged, merged_part), (split, split_part) = part_taken(True), part_taken(False)
    assert merged_part == [0, 0, 0, 0] and all(split_part)
    assert merged < split


def test_only_the_joining_thread_touches_what_its_joins_write():
    """The argument for merging the joins, checked from what the steps do (derived
    transactions record every step's accesses): what a join writes (which threads are
    joined, the loop's position) no thread but the joining one touches; and the state a
    join waits for, a thread returned, no row of a channel thread leaves."""
    from model import recv, send
    written = {"mig": ("send_joined", "mig_i"), "load": ("recv_joined", "load_i")}
    for name, config in (("seed", P2), ("seed", P1), ("qemu-10.0", P2),
                         ("p1-p2-fix", Config(channels=3, pages=1, rounds=2))):
        system, _ = verify(config, get_variant(name), transactions="derived")
        fields = system.state._fields
        for loc, by_thread in system.knowledge.ops.items():
            for thread, names in written.items():
                if fields[loc[0]] in names:
                    assert set(by_thread) == {thread}, (name, fields[loc[0]], set(by_thread))
    for role in (send.ROLE, recv.ROLE):
        assert [r["trigger"] for r in role.rows if r["source"] == "EXITED"] == []


def test_a_variant_that_edits_a_run_splits_that_run_alone():
    """b5-destroy-in-join-loop makes a join destroy its channel, which a failing send
    thread still touches: its joins are split again, its sync's merged waits are kept."""
    from model.variants.dsl import apply_variant
    roles = apply_variant(get_variant("b5-destroy-in-join-loop"))
    assert roles["migration"].merged_waits == ("SYNC_WAIT_READY", "SYNC_WAIT_SYNC")
    assert apply_variant(get_variant("seed"))["migration"].merged_waits == (
        "SYNC_WAIT_READY", "SYNC_WAIT_SYNC", "JOIN")


def test_the_output_says_whether_waits_were_merged(capsys):
    """JSON records the mode, a split run says so on its steps line, and --split-waits is
    refused (one line, exit 2) where each wait is its own step already."""
    from checks.cli import main
    small = ["--channels", "1", "--pages", "1", "--rounds", "1", "--quiet"]
    assert main(["run", *small, "--json"]) == 0
    assert '"merged_waits": true' in capsys.readouterr().out
    assert main(["run", *small, "--split-waits"]) == 0
    assert "(--split-waits)" in capsys.readouterr().out
    assert main(["run", *small, "--split-waits", "--fine-grained"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "each wait is its own step already" in err
