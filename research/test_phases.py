"""The state-count probe (research/phases.py): every state counted once, in a phase that
exists, and the joins part way only where the migration thread is inside its join loop,
and only with the waits split."""

from .phases import main, phases
from model.config import Config


def test_every_state_is_in_one_phase_and_each_phase_is_reached():
    config = Config(transport="socket", channels=2, pages=1, rounds=1, pick="round-robin")
    for merged in (True, False):
        states, counts, part_way = phases(config, merge_waits=merged)
        assert sum(counts.values()) == states
        assert {("setup", "run"), ("run", "run"), ("shutdown", "run"),
                ("shutdown", "shutdown")} <= set(counts)
        shutdown = counts[("shutdown", "run")] + counts[("shutdown", "shutdown")]
        assert (part_way == 0) if merged else (0 < part_way < shutdown)


def test_one_channel_has_no_joins_part_way(capsys):
    """With one send thread, the join loop is at its start or its end."""
    assert main(["--channels", "1", "--pages", "1", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "source shutdown" in out and out.rstrip().endswith("0   0.0%")
