"""Rendered counterexamples: golden text, and the replay script."""

import os

import pytest

from checks.reports.counterexample import ReplayError, render, replay
from checks.properties import REGISTRY, property_doc
from checks.verify import verify
from model.config import Config
from model.variants import get_variant

GOLDEN = os.path.join(os.path.dirname(__file__), "golden")
DOCS = {name: property_doc(name) for name in REGISTRY}


def _render(variant, **config):
    system, result = verify(Config(**config), get_variant(variant))
    return render(system, result, DOCS)


@pytest.mark.parametrize("variant, config, golden", [
    ("stuck-pending-job", dict(channels=1, pages=2, rounds=1, live=False), "livelock.txt"),
    ("b4-eos-without-sync", dict(channels=1, pages=1, rounds=1, live=False,
                                 flush="per-section"), "deadlock.txt"),
])
def test_rendered_counterexample_matches_golden(variant, config, golden):
    """The story of a small counterexample is pinned byte for byte."""
    with open(os.path.join(GOLDEN, golden)) as f:
        assert _render(variant, **config) == f.read()


def test_replay_rejects_a_step_that_is_not_enabled():
    """A replay script naming an impossible step says which step, in one line."""
    system, _ = verify(Config(channels=1, pages=1, rounds=1, live=False), get_variant("seed"))
    with pytest.raises(ReplayError, match="step 1: 'load: read_vm_eof'"):
        replay(system, ["load: read_vm_eof"])
