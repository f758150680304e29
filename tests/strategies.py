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


@st.composite
def multi_channel_configs(draw):
    """Two or three channels, small enough for a run with and one without symmetry."""
    channels = draw(st.integers(2, 3))
    live = draw(st.booleans()) if channels == 2 else False
    return Config(transport=draw(st.sampled_from(("socket", "file"))), channels=channels,
                  pages=draw(st.integers(1, 2 if channels == 2 and not live else 1)),
                  rounds=draw(st.integers(1, 2)) if live else 1,
                  flush=draw(st.sampled_from(FLUSH_MODES)), live=live)


# Runs at three channels, where a thread reads other channels' entries: the reductions
# that key on what a step reads (the step cache, packed states) are compared on these.
THREE_CHANNEL_CASES = [
    ("seed", Config(channels=3, pages=1, rounds=2)),
    ("p2-fix-exit-kicks", Config(channels=3, pages=1, rounds=1, live=False,
                                 faults=("send-write-error",))),
    ("seed", Config(transport="file", channels=3, pages=2, rounds=2,
                    faults=("recv-read-error",))),
]
