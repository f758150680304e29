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
