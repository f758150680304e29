"""The transaction (Lipton) reduction keeps every verdict the fine-grained model gives."""

import pytest

from checks.verify import verify
from model.config import Config
from model.variants import CATALOGUE, get_variant

SMALL = [Config(transport=t, channels=1 if t == "socket" else 2, pages=2, rounds=2, flush=f)
         for t in ("socket", "file") for f in ("per-round", "per-section")]
CASES = [(v, c) for v in CATALOGUE for c in SMALL
         if c.flush in v.flush_modes and c.transport in v.transports]


@pytest.mark.parametrize("variant, config", CASES,
                         ids=[f"{v.name}-{c.transport}-{c.flush}" for v, c in CASES])
def test_same_verdict_with_and_without_transactions(variant, config):
    """Same verdict and same broken properties; never more states with the reduction."""
    _, reduced = verify(config, variant)
    _, full = verify(config, variant, transactions=False)
    assert (reduced.verdict, set(reduced.violations)) == (full.verdict, set(full.violations))
    assert reduced.states < full.states


@pytest.mark.parametrize("name", ["no-wrap-sync", "b4-eos-without-sync"])
def test_same_verdict_at_two_channels(name):
    """Two channels: the cross-channel races survive the reduction."""
    variant = get_variant(name)
    config = Config(channels=2, pages=1, rounds=1, live=False, flush=variant.flush_modes[0])
    _, reduced = verify(config, variant)
    _, full = verify(config, variant, transactions=False)
    assert (reduced.verdict, set(reduced.violations)) == (full.verdict, set(full.violations))


@pytest.mark.parametrize("name, config", [
    ("seed", Config(transport="file", channels=2, pages=3, rounds=1, live=False,
                    faults=("recv-read-error",))),
    ("p1-fix", Config(transport="file", channels=2, pages=2, rounds=1, live=False,
                      faults=("recv-read-error",))),
    ("seed", Config(channels=1, pages=2, rounds=1, live=False, faults=("send-write-error",))),
])
def test_same_verdict_under_faults(name, config):
    """Fault paths survive the reduction: same verdict, same broken properties."""
    _, reduced = verify(config, get_variant(name))
    _, full = verify(config, get_variant(name), transactions=False)
    assert (reduced.verdict, set(reduced.violations)) == (full.verdict, set(full.violations))


# -- forced symmetry over channel identities (opt-in where it is not an automorphism) ---

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from strategies import DECLARED, multi_channel_configs  # noqa: E402

SYMMETRIC = [v for v in DECLARED if v.symmetric]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=multi_channel_configs(),
       variant=st.sampled_from(SYMMETRIC))
def test_symmetry_keeps_verdicts(config, variant):
    """Forced symmetry: same verdict and broken properties, never more states, and no
    counterexample longer than without it."""
    if config.flush not in variant.flush_modes or config.transport not in variant.transports:
        return
    _, reduced = verify(config, variant, symmetry=True)
    _, full = verify(config, variant, symmetry=False)
    assert (reduced.verdict, set(reduced.violations)) == (full.verdict, set(full.violations))
    assert reduced.states <= full.states
    for name, v in full.violations.items():
        if v.path and v.loop_at is None:
            assert len(reduced.trace(name)) <= len(full.trace(name))


@pytest.mark.parametrize("variant, config", [
    ("seed", Config(channels=3, pages=1, rounds=1, live=False)),
    ("seed", Config(transport="file", channels=4, pages=2, rounds=2)),
    ("seed", Config(channels=2, pages=1, rounds=1, live=False, faults=("send-write-error",))),
    ("p2-fix-exit-kicks", Config(channels=2, pages=1, rounds=1, live=False,
                                 faults=("send-write-error",))),
])
def test_symmetry_on_the_matrix_configurations(variant, config):
    """Where it matters (N >= 3, file N=4, P2 and its part-1 fix): same verdicts, fewer states."""
    _, reduced = verify(config, get_variant(variant), symmetry=True)
    _, full = verify(config, get_variant(variant), symmetry=False)
    assert (reduced.verdict, set(reduced.violations)) == (full.verdict, set(full.violations))
    assert reduced.states < full.states


def test_symmetry_is_off_by_default_where_a_loop_can_stop_half_way():
    """With a fault layer on, multifd_send_sync_main()'s collect checks `exiting` between
    its channels, which a failing channel can set: the loop can stop half way, so the
    channels are not interchangeable, and symmetry is off unless forced."""
    from checks.system import System
    faulty = Config(channels=2, pages=1, rounds=1, live=False, faults=("send-write-error",))
    assert not System(faulty).symmetric
    assert System(faulty, symmetry=True).symmetric
    assert System(Config(channels=2, pages=1, rounds=1)).exact_symmetry


def test_symmetry_canonical_is_idempotent_and_keeps_loop_blocks():
    """canonical(canonical(s)) == canonical(s), and it never moves a channel across the
    position of a running channel loop."""
    from checks.system import System
    config = Config(channels=3, pages=1, rounds=1, live=False, faults=("send-write-error",))
    system = System(config, symmetry=True)
    _, result = verify(config, get_variant("seed"), pack=False)
    for s in map(result.graph.state_of, range(min(result.states, 3000))):
        c = system.canonical(s)
        assert system.canonical(c) == c
        for lo, hi in system._blocks(s, 3):
            assert sorted(s.send_pc[lo:hi]) == sorted(c.send_pc[lo:hi])


# -- fingerprint mode ---------------------------------------------------------------

from checks.reports.counterexample import replay, script, steps  # noqa: E402
from checks.engine.graph import DiskQueue, FingerprintTable  # noqa: E402
from checks.properties import REGISTRY  # noqa: E402

FINGERPRINT_CASES = [
    ("seed", Config(channels=2, pages=1, rounds=1, live=False, faults=("send-write-error",))),
    ("seed", Config(transport="file", channels=2, pages=2, rounds=2, faults=("recv-read-error",))),
    ("no-recv-park", Config(channels=2, pages=1, rounds=2)),
    ("seed", Config(channels=2, pages=2, rounds=1)),
    ("stuck-pending-job", Config(channels=1, pages=2, rounds=1, live=False)),
]


@pytest.mark.parametrize("name, config", FINGERPRINT_CASES,
                         ids=[f"{n}-{c.slug()}" for n, c in FINGERPRINT_CASES])
def test_fingerprint_mode_keeps_safety_verdicts(name, config):
    """Hashes instead of states: the same states, the same safety and deadlock verdicts,
    a counterexample that replays, and the liveness properties listed as unchecked."""
    system, fp = verify(config, get_variant(name), fingerprint=True)
    _, full = verify(config, get_variant(name))
    liveness = {n for n, e in REGISTRY.items() if e.kind in ("eventually", "fair")}
    assert fp.states == full.states and fp.transitions == full.transitions
    assert set(fp.violations) == set(full.violations) - liveness
    assert set(fp.unchecked) <= liveness and fp.collision_probability < 1e-6
    for prop in fp.violations:
        if fp.violations[prop].path:
            story = steps(system, fp, prop)
            assert replay(system, script(story))[-1] == fp.trace(prop)[-1][1]
            assert len(story) == full.violations[prop].length


def test_fingerprint_table_grows_and_remembers():
    """The open-addressing table finds every member after growing, and nothing else."""
    table = FingerprintTable(bits=4)
    members = [hash((i, "x")) for i in range(500)]
    assert all(table.add(fp) for fp in members)
    assert not any(table.add(fp) for fp in members)
    assert table.count == 500 and table.add(hash("not a member"))


def test_disk_queue_is_fifo_across_levels():
    """Items come back in the order they went in, across level boundaries."""
    q = DiskQueue()
    q.append((0, (1, 2)))
    out = []
    while q:
        item = q.popleft()
        out.append(item)
        if item[0] < 5:
            q.append((item[0] + 1, (item[0],)))
            q.append((item[0] + 10, ()))
    firsts = [i for i, _ in out]
    assert firsts[:5] == [0, 1, 10, 2, 11] and len(out) == 11


def test_disk_queue_is_fifo_across_chunks():
    """Chunks of three: items still come back in order, within and across levels."""
    class Small(DiskQueue):
        CHUNK = 3
    q, out = Small(), []
    for i in range(8):
        q.append((i, ()))
    while q:
        item = q.popleft()
        out.append(item[0])
        if item[0] < 4:
            q.append((item[0] + 100, ()))
    assert out == list(range(8)) + [100, 101, 102, 103]
