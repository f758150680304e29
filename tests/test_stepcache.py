"""The step cache (checks/engine/stepcache.py) changes nothing but speed: the same graph, the
same verdicts and the same counterexamples, byte for byte, with and without it."""

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from checks.reports.counterexample import render
from checks.properties import PROPERTY_NAMES, property_doc
from checks.verify import verify
from model.config import PICKS, Config, ConfigError
from model.state import State, add, put
from checks.engine.stepcache import WHOLE, Column, Recorder
from model.variants import VariantError, get_variant

from strategies import DECLARED, DECLARED_FAULTS, THREE_CHANNEL_CASES, small_configs

BOUND = 15_000      # a bounded run stops at the same state with and without the cache
DOCS = {name: property_doc(name) for name in PROPERTY_NAMES}


def _run(config, variant, cache):
    system, result = verify(config, variant, cache=cache, pack=False, max_states=BOUND)
    return result, render(system, result, DOCS)


def _same_run(config, variant):
    cached, cached_text = _run(config, variant, True)
    fresh, fresh_text = _run(config, variant, False)
    assert (cached.states, cached.transitions) == (fresh.states, fresh.transitions)
    assert (cached.verdict, set(cached.violations)) == (fresh.verdict, set(fresh.violations))
    assert cached_text == fresh_text


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=small_configs(), variant=st.sampled_from(DECLARED),
       fault=st.sampled_from((None,) + DECLARED_FAULTS), pick=st.sampled_from(PICKS))
def test_cache_keeps_graph_verdicts_and_stories(config, variant, fault, pick):
    """Any small configuration, variant, fault layer and pick: the same run, byte for
    byte."""
    try:
        config = replace(config, faults=(fault,) if fault else (), pick=pick)
        variant.check_config(config)
    except (ConfigError, VariantError):
        assume(False)
    _same_run(config, variant)


@pytest.mark.parametrize("name, config", THREE_CHANNEL_CASES)
def test_cache_at_three_channels(name, config):
    """Per-channel keys at three channels, where a thread reads other channels' entries."""
    _same_run(config, get_variant(name))


def _recorder(**changes):
    base = State(*([0] * len(State._fields))).replace(
        send_sem=(0, 1, 0), send_pc=(2, 2, 2), **changes)
    log = set()
    index = {n: i for i, n in enumerate(State._fields)}
    columns = {index[n] for n in ("send_sem", "send_pc")}
    return Recorder(base, log, index, columns), log, index


def test_recorder_logs_one_entry_for_an_entry_read():
    """`s.send_sem[1]` logs entry 1 of send_sem, not the whole field."""
    rec, log, index = _recorder()
    assert rec.send_sem[1] == 1
    assert log == {(index["send_sem"], 1)}


def test_recorder_logs_whole_field_when_iterated():
    """Iterating a per-channel field reads every entry: the whole field is logged."""
    rec, log, index = _recorder()
    assert any(v for v in rec.send_sem)
    assert (index["send_sem"], WHOLE) in log


def test_put_and_add_on_a_column_write_one_entry():
    """put/add through a Recorder write entry k alone, and a later read of it is not a
    read of the state the step started from."""
    rec, log, index = _recorder()
    after = rec.replace(send_sem=add(rec.send_sem, 1, -1), send_pc=put(rec.send_pc, 0, 3))
    assert after.writes() == ((index["send_pc"], 0, 3), (index["send_sem"], 1, 0))
    log.clear()
    assert after.send_sem[1] == 0 and log == set()
    assert isinstance(after.send_sem, Column)


def test_a_read_the_recorder_misses_is_caught(monkeypatch):
    """The comparison can fail: a Recorder that forgets scalar reads gives a different
    graph than the real steps on a configuration where that matters."""
    remember = Recorder.__getitem__

    def forgetful(self, i):
        return remember(self, i) if i in self.columns or i in self.whole else self.base[i]
    monkeypatch.setattr(Recorder, "__getitem__", forgetful)
    with pytest.raises(AssertionError):
        _same_run(Config(channels=2, pages=1, rounds=1, live=False), get_variant("seed"))


def test_a_step_that_uses_the_whole_state_fails_loudly():
    """Comparing or iterating the whole state would hide its reads: a TypeError, not a
    silently wrong cache."""
    rec, _, _ = _recorder()
    with pytest.raises(TypeError, match="whole state"):
        list(rec)
    with pytest.raises(TypeError, match="whole state"):
        rec == rec  # noqa: B015


@pytest.mark.parametrize("use", [
    lambda col: (9,) + col, lambda col: col < (1, 1, 1), lambda col: col.count(0),
    lambda col: sorted(col), lambda col: list(col), lambda col: max(col)])
def test_every_way_to_read_a_whole_column_is_logged(use):
    """Concatenation from the left, comparison, count, sorting, list(): all logged as a
    read of the whole field (tuple's C code would otherwise read it unlogged)."""
    rec, log, index = _recorder()
    use(rec.send_sem)
    assert (index["send_sem"], WHOLE) in log


def test_a_whole_field_key_holds_its_entry_reads():
    """A key that reads the whole field already covers a read of one of its entries, so
    the slot is not started over (it was, before: every such miss emptied the slot)."""
    from checks.engine.stepcache import covered
    assert covered({(5, 1), (7, WHOLE)}, frozenset({(5, WHOLE), (7, WHOLE)}))
    assert not covered({(5, 1)}, frozenset({(5, 0)}))
