"""The matrix as data: pinned state counts, and the expected verdicts."""

import pytest

from checks.matrix import MATRIX, entry_line, run_entry, summary_line

SMALL = [e for e in MATRIX if e.states <= 20_000]


@pytest.mark.parametrize("entry", SMALL, ids=[f"{e.variant}-{e.config.label()}" for e in SMALL])
def test_small_entries_keep_their_pins_and_verdicts(entry):
    """A small matrix entry gives its expected verdict and its pinned state count."""
    result = run_entry(entry)
    assert result["verdict_ok"], entry_line(result)
    assert result["states"] == entry.states


def test_every_variant_is_in_the_matrix():
    """`make check` runs every variant of the catalogue at least once."""
    from model.variants import CATALOGUE
    assert {v.name for v in CATALOGUE} == {e.variant for e in MATRIX}


def test_a_wrong_pin_fails_the_entry():
    """The pin is checked: a different count makes the entry fail, and the line says so."""
    entry = SMALL[0]
    result = run_entry(type(entry)(entry.variant, entry.config, entry.states + 1))
    assert not result["ok"] and "differs from the pinned" in entry_line(result)
    assert "0 of 1" in summary_line([result], 0.0)
