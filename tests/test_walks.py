"""Random walks of the plain model (no step cache, no transactions: every guard and
effect evaluated afresh, one row a step) never reach a state the reduced search says
cannot be: where it proved an invariant, no walk breaks it, and where it found no
deadlock, no walk stops short of a proper end. The reductions' soundness, sampled from
outside them."""

from functools import lru_cache

from hypothesis import given, settings, strategies as st

from checks.properties import properties_for
from checks.system import System
from checks.verify import verify
from model.variants import get_variant
from strategies import small_configs


@lru_cache(maxsize=None)
def explored(config, name):
    return verify(config, get_variant(name))[1]


@settings(max_examples=40)
@given(config=small_configs(max_channels=2, max_pages=1, max_rounds=2),
       name=st.sampled_from(("seed", "qemu-10.0")), data=st.data())
def test_plain_walks_keep_what_the_reduced_search_proved(config, name, data):
    result = explored(config, name)
    plain = System(config, get_variant(name), transactions=False, cache=False)
    proved = [p for p in properties_for(config) if p.kind == "always"
              and p.name not in result.violations]
    state = plain.initial_states()[0]
    for _ in range(data.draw(st.integers(1, 200), label="length")):
        broken = [p.name for p in proved if not p.predicate(state)]
        assert not broken, f"a plain walk breaks {broken}, which the search proved"
        successors = plain.successors(state)
        if not successors:
            assert plain.is_proper_end(state) or "no_deadlock" in result.violations
            break
        state = data.draw(st.sampled_from(successors), label="step")[1]
