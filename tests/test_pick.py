"""--pick round-robin: QEMU's own scan for an idle channel, against the model's default
over-approximation (any idle channel)."""

import dataclasses
import doctest

import pytest

import checks.engine.explorer
import checks.engine.graph
import checks.engine.liveness
import model.machine
import model.state
from checks.matrix import MATRIX
from checks.verify import verify
from model.config import Config, ConfigError
from model.migration import channel_idle
from checks.system import System
from model.variants import get_variant

SMALL = [e for e in MATRIX if e.states <= 30_000]


def test_doc_examples():
    """The examples in the docstrings of the modules that have them hold."""
    for module in (model.state, model.machine, checks.engine.explorer, checks.engine.graph,
                   checks.engine.liveness):
        result = doctest.testmod(module)
        assert result.attempted and not result.failed, module.__name__


@pytest.mark.parametrize("entry", SMALL, ids=[f"{e.variant}-{e.config.slug()}" for e in SMALL])
def test_round_robin_keeps_the_verdicts(entry):
    """Every small matrix entry: the same verdict and broken properties with QEMU's scan.
    (Not always fewer states: next_channel is one more variable, and a file load that
    rarely has two idle channels gains a few.)"""
    variant = get_variant(entry.variant)
    _, any_pick = verify(entry.config, variant)
    _, scan = verify(dataclasses.replace(entry.config, pick="round-robin"), variant)
    assert (scan.verdict, set(scan.violations)) == (any_pick.verdict, set(any_pick.violations))


def _state(pending, next_channel):
    config = Config(channels=len(pending), pick="round-robin")
    s = System(config).initial_states()[0]
    return config, s.replace(pending_job=pending, next_channel=next_channel)


@pytest.mark.parametrize("pending, start, picked", [
    ((1, 0, 0), 2, 2), ((1, 0, 0), 0, 1), ((0, 1, 1), 1, 0), ((1, 1, 1), 0, None)])
def test_round_robin_picks_the_first_idle_channel_from_next_channel(pending, start, picked):
    """multifd_send_pages(): `for (i = next_channel;; i = (i + 1) % channels)`, the
    first channel whose pending_job is false."""
    config, s = _state(pending, start)
    idle = [c for c in range(config.channels) if channel_idle(config, s, 0, c)]
    assert idle == ([] if picked is None else [picked])


def test_any_pick_takes_every_idle_channel():
    """The default over-approximation: every idle channel may take the job."""
    config, s = _state((1, 0, 0), 2)
    config = dataclasses.replace(config, pick="any")
    assert [c for c in range(3) if channel_idle(config, s, 0, c)] == [1, 2]


def test_round_robin_moves_next_channel_past_the_pick():
    """next_channel = (i + 1) % channels after a job is queued on channel i."""
    config = Config(channels=2, pages=2, rounds=1, live=False, pick="round-robin")
    system, result = verify(config, get_variant("seed"))
    seen = {result.graph.state_of(i).next_channel for i in range(result.states)}
    assert seen == {0, 1}


def test_unknown_pick_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown pick 'first'"):
        Config(pick="first")


def test_forced_symmetry_is_refused_with_round_robin():
    """next_channel names a channel: a permutation of channels would have to move it."""
    config = Config(channels=2, pick="round-robin")
    assert not System(config, symmetry=True).symmetric
    assert System(dataclasses.replace(config, pick="any"), symmetry=True).symmetric
