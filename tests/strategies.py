"""Hypothesis strategies, in one place."""

from hypothesis import strategies as st

from model.config import FLUSH_MODES, Config
from model.variants import CATALOGUE


@st.composite
def small_configs(draw, max_channels=2, max_pages=2, max_rounds=2):
    """Socket configurations small enough to explore in well under a second."""
    live = draw(st.booleans())
    rounds = draw(st.integers(1, max_rounds)) if live else 1
    return Config(transport=draw(st.sampled_from(("socket", "file"))),
                  channels=draw(st.integers(1, max_channels)),
                  pages=draw(st.integers(1, max_pages)), rounds=rounds,
                  flush=draw(st.sampled_from(FLUSH_MODES)), live=live)


variants = st.sampled_from(CATALOGUE)
