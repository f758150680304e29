"""Random walks through the model stay inside what the explorer found."""

from functools import lru_cache

from hypothesis import given, settings, strategies as st

from checks.properties import properties_for
from checks.verify import verify
from model.variants import get_variant
from strategies import small_configs


@lru_cache(maxsize=None)
def explored(config, name):
    return verify(config, get_variant(name))


@settings(max_examples=40)
@given(config=small_configs(max_channels=2, max_pages=1, max_rounds=2), data=st.data())
def test_random_walk_stays_in_explored_space(config, data):
    """Every state of a random walk was explored, and no proven property breaks on it."""
    system, result = explored(config, "seed")
    assert result.verdict == "pass"
    checks = [p for p in properties_for(config) if p.kind == "always"]
    explored_states = {result.graph.state_of(i) for i in range(result.states)}
    state = system.initial_states()[0]
    for _ in range(data.draw(st.integers(1, 80), label="length")):
        assert state in explored_states
        assert all(p.predicate(state) for p in checks)
        successors = system.successors(state)
        if not successors:
            assert system.is_proper_end(state)
            break
        state = data.draw(st.sampled_from(successors), label="step")[1]
