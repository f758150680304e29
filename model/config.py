"""The configuration a model run is built for.

QEMU's knobs (protocol notes §6) reduced to what the synchronization depends on:
`multifd-channels` (N), the transport (a socket URI, or `file:` with mapped-ram), the
`multifd-flush-after-each-section` compat property (per-section when on, per-round when
off), whether the guest runs during the migration, and two bounds the model adds: the
number of guest pages P and of dirty rounds R.
"""

from dataclasses import dataclass

__all__ = ["Config", "ConfigError", "TRANSPORTS", "FLUSH_MODES", "LIMITS"]

TRANSPORTS = ("socket", "file")
FLUSH_MODES = ("per-round", "per-section")

# Bounds of the encoding (a page version fits in 4 bits) and of good sense: the state
# space is exponential in each of them.
LIMITS = {"channels": 16, "pages": 15, "rounds": 14}


class ConfigError(ValueError):
    """An impossible configuration; the message is one line meant for the user."""


@dataclass(frozen=True)
class Config:
    """One configuration: what QEMU would be run with, plus the model's bounds."""

    transport: str = "socket"   # URI kind: tcp:/unix: (packets) or file: (mapped-ram)
    channels: int = 2           # multifd-channels, the same on both sides
    pages: int = 2              # guest pages, each re-dirtied every round when live
    rounds: int = 2             # dirty rounds (passes of the dirty scan); 1 when not live
    flush: str = "per-round"    # multifd-flush-after-each-section off (per-round) / on
    live: bool = True           # the guest runs (and dirties memory) while migrating

    def __post_init__(self):
        validate(self)

    @property
    def per_round(self) -> bool:
        """Sync at each wrap of the dirty scan (modern mode; mapped-ram always)."""
        return self.flush == "per-round"

    def label(self) -> str:
        """A short, stable name: `socket N=2 P=2 R=2 per-round live`."""
        liveness = "live" if self.live else "non-live"
        return (f"{self.transport} N={self.channels} P={self.pages} R={self.rounds} "
                f"{self.flush} {liveness}")

    def as_dict(self) -> dict:
        return {"transport": self.transport, "channels": self.channels,
                "pages": self.pages, "rounds": self.rounds, "flush": self.flush,
                "live": self.live}


def validate(config: Config) -> None:
    """Raise ConfigError, with a one-line reason, for an impossible configuration."""
    if config.transport not in TRANSPORTS:
        raise ConfigError(f"unknown transport {config.transport!r} "
                          f"(choose from {', '.join(TRANSPORTS)})")
    if config.flush not in FLUSH_MODES:
        raise ConfigError(f"unknown flush mode {config.flush!r} "
                          f"(choose from {', '.join(FLUSH_MODES)})")
    for name, limit in LIMITS.items():
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= limit:
            raise ConfigError(f"{name} must be a whole number from 1 to {limit}, got {value!r}")
    if not config.live and config.rounds != 1:
        raise ConfigError(f"a non-live migration has one dirty round, got rounds={config.rounds} "
                          "(drop --rounds or use --live)")
    if config.transport == "file":
        raise ConfigError("the file (mapped-ram) transport is not modelled yet "
                          "(issue 3); use --transport socket")
