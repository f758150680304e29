"""The configuration a model run is built for.

QEMU's knobs (docs/protocol.md, Configuration) reduced to what the synchronization depends on:
`multifd-channels` (N), the transport (a socket URI, or `file:` with mapped-ram), the
`multifd-flush-after-each-section` compat property (per-section when on, per-round when
off), whether the guest runs during the migration, and two bounds the model adds: the
number of guest pages P and of dirty rounds R.

Page contents: on a socket every page holds data in every round. In a mapped-ram file a
page can be zero in some rounds (zero-page-detection=multifd: the channel clears its
bitmap bit and writes nothing); `zero_pages` lists the (page, round) pairs that are zero.
By default the last page turns zero in the last round (P >= 2), so the bitmap logic of
multifd_set_file_bitmap() is exercised.
"""

import re
from dataclasses import dataclass

__all__ = ["Config", "ConfigError", "WHOLE_NUMBER", "TRANSPORTS", "FLUSH_MODES", "PICKS",
           "LOOPS", "LIMITS", "FAULTS", "parse_zero_pages"]

TRANSPORTS = ("socket", "file")
FLUSH_MODES = ("per-round", "per-section")
# Which idle channel multifd_send_pages() (and, for files, multifd_recv()) hands a job to:
# "any" over-approximates the scan (docs/protocol.md, Which idle channel takes a page);
# "round-robin" is QEMU's scan itself, the first channel with pending_job clear from
# next_channel on (model/migration.py says why that covers every order the busy loop can
# find the channels in).
PICKS = ("any", "round-robin")
# The order in which multifd_send_sync_main()'s wait loop and the two join loops visit
# the channels: "index" is QEMU's (0, 1, ..., N-1); "any" lets each iteration take any
# channel not yet visited, an over-approximation that makes channels interchangeable, so
# symmetry reduction is sound for it (docs/scale.md).
LOOPS = ("index", "any")

# Fault layers (--faults): each names a real failure and where it can strike. A run gets
# one fault at most, at any step where its layer allows it.
FAULTS = {
    "send-write-error": "a send channel's write (packet or pwritev) fails",
    "recv-read-error": "a recv channel's read (packet or pread) fails with an error",
    "short-read": "a mapped-ram pread returns fewer bytes than asked, with no error",
    "recv-eof": "a recv channel's socket ends early (the peer closed it): a quiet exit",
    "channel-create-error": "a multifd channel fails to be created in multifd_send_setup()",
    "cancel": "migrate_cancel on the source: the main stream is shut down",
    "network-stall": "a send channel's write fails as the network stalls: no channel "
                     "delivers to the destination until the source shuts it down",
}

# Bounds of the encoding (a page version fits in 4 bits) and of good sense: the state
# space is exponential in each of them.
LIMITS = {"channels": 16, "pages": 15, "rounds": 14}
KNOB_LIMITS = {"socket_capacity": (0, 64), "max_faults": (1, 8)}


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
    zero_pages: tuple = None    # file: (page, round) pairs whose content is zero
    faults: tuple = ()          # fault layers, names from FAULTS
    zero_copy: bool = False     # zero-copy-send: sync flushes each channel's sent pages
    pick: str = "any"           # how a job finds an idle channel (PICKS)
    loops: str = "index"        # the order the sync wait and join loops visit channels (LOOPS)
    socket_capacity: int = 0    # packets a channel socket holds before sendmsg() blocks (0: any)
    max_faults: int = 1         # faults that may strike in one run (with a fault layer on)

    def __post_init__(self):
        validate(self)
        if self.zero_pages is None:
            default = ((self.pages - 1, self.rounds),) if (
                self.transport == "file" and self.pages >= 2) else ()
            object.__setattr__(self, "zero_pages", default)
        object.__setattr__(self, "zero_pages", tuple(sorted(set(self.zero_pages))))
        object.__setattr__(self, "faults", tuple(sorted(set(self.faults))))
        validate_zero_pages(self)
        validate_faults(self)

    def fault(self, name: str) -> bool:
        return name in self.faults

    @property
    def mapped_ram(self) -> bool:
        """The file: transport with the mapped-ram capability (multifd_use_packets() false)."""
        return self.transport == "file"

    def is_zero(self, page: int, round_: int) -> bool:
        return (page, round_) in self.zero_pages

    @property
    def round_robin(self) -> bool:
        return self.pick == "round-robin"

    @property
    def any_order(self) -> bool:
        return self.loops == "any"

    @property
    def per_round(self) -> bool:
        """Sync at each wrap of the dirty scan (modern mode; mapped-ram always)."""
        return self.flush == "per-round"

    def label(self) -> str:
        """A short, stable name: `socket N=2 P=2 R=2 per-round live`."""
        liveness = "live" if self.live else "non-live"
        zero = "".join(f" zero=p{p}@r{r}" for p, r in self.zero_pages)
        faults = f" faults={'+'.join(self.faults)}" if self.faults else ""
        zero_copy = " zero-copy" if self.zero_copy else ""
        pick = " round-robin" if self.round_robin else ""
        loops = " any-order-loops" if self.any_order else ""
        capacity = f" socket-capacity={self.socket_capacity}" if self.socket_capacity else ""
        many = f" max-faults={self.max_faults}" if self.max_faults != 1 else ""
        return (f"{self.transport} N={self.channels} P={self.pages} R={self.rounds} "
                f"{self.flush} {liveness}{zero}{faults}{zero_copy}{pick}{loops}{capacity}"
                f"{many}")

    def slug(self) -> str:
        """The label as a file name: `socket-n2-p2-r2-per-round-live`."""
        zero = "".join(f"-z{p}at{r}" for p, r in self.zero_pages) + \
            "".join(f"-{f}" for f in self.faults) + ("-zero-copy" if self.zero_copy else "") + \
            ("-round-robin" if self.round_robin else "") + ("-any-order" if self.any_order else "") + \
            (f"-cap{self.socket_capacity}" if self.socket_capacity else "") + \
            (f"-faults{self.max_faults}" if self.max_faults != 1 else "")
        return (f"{self.transport}-n{self.channels}-p{self.pages}-r{self.rounds}-"
                f"{self.flush}-{'live' if self.live else 'nonlive'}{zero}")

    def as_dict(self) -> dict:
        return {"transport": self.transport, "channels": self.channels,
                "pages": self.pages, "rounds": self.rounds, "flush": self.flush,
                "live": self.live, "zero_pages": [list(z) for z in self.zero_pages],
                "faults": list(self.faults), "zero_copy": self.zero_copy, "pick": self.pick,
                "loops": self.loops, "socket_capacity": self.socket_capacity,
                "max_faults": self.max_faults}


def validate(config: Config) -> None:
    """Raise ConfigError, with a one-line reason, for an impossible configuration."""
    if config.transport not in TRANSPORTS:
        raise ConfigError(f"unknown transport {config.transport!r} "
                          f"(choose from {', '.join(TRANSPORTS)})")
    if config.flush not in FLUSH_MODES:
        raise ConfigError(f"unknown flush mode {config.flush!r} "
                          f"(choose from {', '.join(FLUSH_MODES)})")
    if config.pick not in PICKS:
        raise ConfigError(f"unknown pick {config.pick!r} (choose from {', '.join(PICKS)})")
    if config.loops not in LOOPS:
        raise ConfigError(f"unknown loop order {config.loops!r} (choose from {', '.join(LOOPS)})")
    for name, limit in LIMITS.items():
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= limit:
            raise ConfigError(f"{name} must be a whole number from 1 to {limit}, got {value!r}")
    for name, (low, high) in KNOB_LIMITS.items():
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ConfigError(f"{name.replace('_', '-')} must be a whole number from {low} "
                              f"to {high}, got {value!r}")
    if not config.live and config.rounds != 1:
        raise ConfigError(f"a non-live migration has one dirty round, got rounds={config.rounds} "
                          "(drop --rounds or use --live)")


def validate_faults(config: Config) -> None:
    for name in config.faults:
        if name not in FAULTS:
            raise ConfigError(f"unknown fault {name!r} (known: {', '.join(FAULTS)})")
    if config.zero_copy and config.mapped_ram:
        raise ConfigError("zero-copy-send works on sockets only")
    if config.socket_capacity and config.mapped_ram:
        raise ConfigError("--socket-capacity bounds the channel sockets; mapped-ram writes "
                          "to a file (use --transport socket)")
    if "network-stall" in config.faults and config.mapped_ram:
        raise ConfigError("fault 'network-stall' stalls the channel sockets; use "
                          "--transport socket")
    if "short-read" in config.faults and not config.mapped_ram:
        raise ConfigError("fault 'short-read' is a mapped-ram pread; use --transport file")


def validate_zero_pages(config: Config) -> None:
    if config.zero_pages and config.transport != "file":
        raise ConfigError("zero pages are modelled for the file transport only "
                          "(on a socket every page carries data)")
    for page, round_ in config.zero_pages:
        if not (0 <= page < config.pages and 1 <= round_ <= config.rounds):
            raise ConfigError(f"zero page p{page}@r{round_} is outside pages 0..{config.pages - 1}"
                              f" and rounds 1..{config.rounds}")


# A whole number as the command line and the zero pages take it: ASCII digits (not '٣'
# or '1_0'), few enough for any bound here.
WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")


def parse_zero_pages(text: str) -> tuple:
    """`"1@2,0@1"` -> ((1, 2), (0, 1)): page@round pairs; `""` -> no zero page."""
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        page, sep, round_ = item.partition("@")
        if not sep or not WHOLE_NUMBER.fullmatch(page) or not WHOLE_NUMBER.fullmatch(round_):
            raise ConfigError(f"zero page {item[:20]!r}: expected PAGE@ROUND, like 1@2")
        pairs.append((int(page), int(round_)))
    return tuple(pairs)
