"""Packed states (checks/engine/packed.py) change nothing but speed and memory: the same graph,
verdicts and counterexamples, byte for byte, as states kept as tuples."""

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import checks.engine.packed
from checks.reports.counterexample import render
from checks.properties import PROPERTY_NAMES, properties_for, property_doc
from checks.verify import verify
from model.config import PICKS, Config, ConfigError
from checks.engine.packed import Layout, LayoutFull, PackedSystem
from checks.system import System
from model.variants import VariantError, get_variant

from strategies import DECLARED, DECLARED_FAULTS, THREE_CHANNEL_CASES, small_configs

BOUND = 15_000
DOCS = {name: property_doc(name) for name in PROPERTY_NAMES}


def _run(config, variant, pack, fingerprint=False):
    system, result = verify(config, variant, pack=pack, max_states=BOUND,
                            fingerprint=fingerprint)
    return result, render(system, result, DOCS)


def _same_run(config, variant, fingerprint=False):
    """The same run packed and as tuples. Under channel symmetry only its counts and
    verdicts: packed states sort the channels by their codes, tuples by their values, so
    the two keep other representatives, and their counterexamples, as shortest as each
    other, may take other paths."""
    packed, packed_text = _run(config, variant, True, fingerprint)
    plain, plain_text = _run(config, variant, False, fingerprint)
    assert (packed.states, packed.transitions) == (plain.states, plain.transitions)
    assert (packed.verdict, set(packed.violations)) == (plain.verdict, set(plain.violations))
    assert packed.symmetry == plain.symmetry
    if packed.symmetry == "on":
        assert [len(v.path) for v in packed.violations.values()] == \
            [len(v.path) for v in plain.violations.values()]
    else:
        assert packed_text == plain_text


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=small_configs(), variant=st.sampled_from(DECLARED),
       fault=st.sampled_from((None,) + DECLARED_FAULTS), pick=st.sampled_from(PICKS),
       fingerprint=st.booleans())
def test_packing_keeps_graph_verdicts_and_stories(config, variant, fault, pick, fingerprint):
    """Any small configuration, variant, fault layer, pick and mode: the same run, byte
    for byte."""
    try:
        config = replace(config, faults=(fault,) if fault else (), pick=pick)
        variant.check_config(config)
    except (ConfigError, VariantError):
        assume(False)
    _same_run(config, variant, fingerprint)


@pytest.mark.parametrize("name, config", THREE_CHANNEL_CASES)
def test_packing_at_three_channels(name, config):
    """Per-channel slots at three channels, where a thread reads other channels' entries."""
    _same_run(config, get_variant(name))


def test_a_full_field_starts_the_run_over_wider(monkeypatch):
    """Fields that start one bit wide overflow again and again; each time the run starts
    over with that field wider, and it ends as the unpacked run does."""
    monkeypatch.setattr(checks.engine.packed, "_first_width", lambda value, per_channel: 1)
    lines = []
    config = Config(channels=2, pages=1, rounds=2, faults=("send-write-error",))
    system, result = verify(config, get_variant("seed"), progress=lines.append)
    restarts = [line for line in lines if line.startswith("packed states:")]
    assert len(restarts) >= 5 and "sockets needs more than 1 bits" in "\n".join(restarts)
    plain_system, plain = verify(config, get_variant("seed"), pack=False)
    assert render(system, result, DOCS) == render(plain_system, plain, DOCS)


def test_layout_full_names_the_field_and_its_new_width():
    """A slot with more values than its bits hold raises LayoutFull for its field."""
    system = System(Config(channels=2, pages=1, rounds=1))
    layout = Layout(system.initial_states()[0], {"mig_round": 1})
    layout.code(1, -1, 0)
    layout.code(1, -1, 1)
    with pytest.raises(LayoutFull) as full:
        layout.code(1, -1, 2)
    assert full.value.name == "mig_round" and full.value.widths["mig_round"] == 5


def test_pack_and_unpack_are_inverse_on_every_explored_state():
    """Every state of a run unpacks to a State that packs back to the same int."""
    config = Config(transport="file", channels=2, pages=2, rounds=2)
    system, result = verify(config, get_variant("seed"), pack=False)
    packed = PackedSystem(system)
    for sid in range(result.states):
        state = result.graph.state_of(sid)
        assert packed.view(packed.layout.pack(state)) == state


def test_fingerprints_tell_apart_states_61_bits_apart():
    """hash() of an int is its value modulo 2^61 - 1, so two states whose bits differ at
    offsets 61 apart would share it; the fingerprint mixes every byte."""
    packed = PackedSystem(System(Config(channels=4, pages=2, rounds=2)))
    a, b = 1 << 61, 1
    assert hash(a) == hash(b)
    assert packed.fingerprint(a) != packed.fingerprint(b)
    assert packed.fingerprint(0) != 0


def test_a_cached_predicate_widens_its_key_when_a_branch_reads_more():
    """A predicate that reads a second field only on one branch is kept by both fields
    once that branch has run, so every state gets its own answer."""
    config = Config(channels=2, pages=1, rounds=2)
    system, result = verify(config, get_variant("seed"), pack=False)
    packed = PackedSystem(system)

    def predicate(s):
        return s.mig_round if s.mig_round != 1 else 10 + s.send_sem[0]
    cached = packed.cached(predicate)
    for sid in range(result.states):
        state = result.graph.state_of(sid)
        assert cached(packed.layout.pack(state)) == predicate(state)


def test_the_screen_of_the_properties_agrees_with_each_predicate():
    """One lookup a state answers for every invariant and `sometimes`: on every state of
    a run with a violation, the screen names exactly the invariants that are false and
    the `sometimes` that are true, as the predicates say on the unpacked state."""
    config = Config(channels=2, pages=2, rounds=2)
    system, result = verify(config, get_variant("no-recv-sync"), pack=False)
    props = [p for p in properties_for(config) if p.kind in ("always", "sometimes")]
    packed = PackedSystem(system)
    news = packed.screen(props)
    noted = set()
    for sid in range(result.states):
        state = result.graph.state_of(sid)
        expected = tuple(i for i, p in enumerate(props)
                         if (p.kind == "always") != bool(p.predicate(state)))
        assert news(packed.layout.pack(state)) == expected
        noted.update(expected)
    assert any(props[i].kind == "always" for i in noted)      # the test can fail
