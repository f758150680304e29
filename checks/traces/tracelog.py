"""Parse QEMU's `log` trace backend (`-msg timestamp=on`) into normalized events.

A line reads ``TID@SECONDS.MICROSECONDS:event args`` (docs/traces.md, The trace log).  The
multifd events differ between QEMU 7.2 and 10.x (renames, `iter` for `channel`,
`multifd_send` split into `multifd_send_ram_fill` + `multifd_send_fill`), so
each version has one small adapter table: event name -> (kind, argument
pattern).  Events outside the table are kept as context (kind None).  A line
that is not a trace line, or a known event whose arguments do not match its
format, is a `TraceError` naming the file, the line and what was expected.
"""

import re
from typing import NamedTuple, Optional

__all__ = ["Event", "TraceError", "ADAPTERS", "version_key", "parse_log", "parse_text"]

LINE = re.compile(r"^(?P<tid>\d+)@(?P<sec>\d+)\.(?P<usec>\d{1,6}):(?P<name>[A-Za-z0-9_]+) ?(?P<args>.*)$")
CH = r"channel (?P<ch>\d+)"
PKT = r"packet_num (?P<num>\d+)"
FLAGS = r"flags 0x(?P<flags>[0-9a-fA-F]+)"
NEXT = r"next packet size \d+"

COMMON = {
    "multifd_send_sync_main_signal": ("send_signal", CH),
    "multifd_send_sync_main_wait": ("send_wait", CH),
    "multifd_send_sync_main": ("send_sync_done", r"packet num (?P<num>-?\d+)"),
    "multifd_send_thread_start": ("send_start", r"(?P<ch>\d+)"),
    "multifd_new_send_channel_async": ("send_channel", CH),
    "multifd_send_error": ("send_error", CH),
    "multifd_recv_new_channel": ("recv_channel", CH),
    "multifd_recv_thread_start": ("recv_start", r"(?P<ch>\d+)"),
    "multifd_recv_sync_main_signal": ("recv_signal", CH),
    "multifd_recv_sync_main": ("recv_sync_done", r"packet num (?P<num>-?\d+)"),
    "multifd_recv_terminate_threads": ("recv_terminate", r"error (?P<err>\d+)"),
    "migrate_set_state": ("set_state", r"new state (?P<state>[a-z-]+)"),
}

ADAPTERS = {
    "7.2": {
        **COMMON,
        "multifd_send": ("send_packet", rf"{CH} {PKT} normal pages (?P<pages>\d+) {FLAGS} {NEXT}"),
        "multifd_recv": ("recv_packet", rf"{CH} {PKT} pages (?P<pages>\d+) {FLAGS} {NEXT}"),
        "multifd_send_thread_end": ("send_end", rf"{CH} packets (?P<packets>\d+) normal pages \d+"),
        "multifd_recv_thread_end": ("recv_end", rf"{CH} packets (?P<packets>\d+) pages \d+"),
        "multifd_recv_sync_main_wait": ("recv_wait", r"channel (?P<ch>\d+)"),
        "multifd_send_terminate_threads": ("send_terminate", r"error (?P<err>\d+)"),
    },
    "10.0": {
        **COMMON,
        "multifd_send_ram_fill": ("send_pages", rf"{CH} normal pages (?P<pages>\d+) zero pages \d+"),
        "multifd_send_fill": ("send_packet", rf"{CH} {PKT} {FLAGS} {NEXT}"),
        "multifd_recv_unfill": ("recv_packet", rf"{CH} {PKT} {FLAGS} {NEXT}"),
        "multifd_send_thread_end": ("send_end", rf"{CH} packets (?P<packets>\d+)"),
        "multifd_recv_thread_end": ("recv_end", rf"{CH} packets (?P<packets>\d+)"),
        "multifd_recv_sync_main_wait": ("recv_wait", r"iter (?P<ch>\d+)"),
        "multifd_send_terminate_threads": ("send_terminate", r""),
        "multifd_new_send_channel_async_error": ("send_channel_error", r"channel=(?P<ch>\d+) err=\S+"),
    },
}
# Events of one version that the other does not have: a 7.2 log read as 10.0
# (or the reverse) is rejected at its first such line (kind "foreign", with
# the version it belongs to in `state`).
FOREIGN = {
    "7.2": {name: "10.0" for name in ADAPTERS["10.0"] if name not in ADAPTERS["7.2"]},
    "10.0": {name: "7.2" for name in ADAPTERS["7.2"] if name not in ADAPTERS["10.0"]},
}
INTS = ("ch", "num", "pages", "packets", "err")


class TraceError(Exception):
    """A trace that cannot be read: `path:line: what was expected`."""


class Event(NamedTuple):
    """One trace line, normalized: `kind` is None for context events."""

    side: str            # "src" or "dst"
    line: int            # 1-based line number in its file
    tid: int             # Linux thread id (gettid)
    ts: int              # wall-clock time stamp in microseconds
    name: str            # QEMU's event name
    kind: Optional[str]  # normalized kind (send_packet, recv_wait, ...) or None
    ch: Optional[int] = None
    num: Optional[int] = None
    flags: Optional[int] = None
    pages: Optional[int] = None
    packets: Optional[int] = None
    err: Optional[int] = None
    state: Optional[str] = None
    text: str = ""

    def where(self):
        return f"{self.side}:{self.line}"


def version_key(version):
    """'7.2', '7.2.22', '10.0', '10.0.13' -> the adapter key; ValueError otherwise."""
    major_minor = ".".join(str(version).split(".")[:2])
    if major_minor not in ADAPTERS:
        raise ValueError(f"unsupported QEMU version {version!r}: use 7.2 or 10.0")
    return major_minor


def _fields(match, kind, name):
    values = {}
    for key, value in match.groupdict().items():
        if key == "flags":
            values[key] = int(value, 16)
        elif key in INTS:
            values[key] = int(value)
        elif key == "state":
            values[key] = value
    return values


def parse_line(text, side, lineno, adapter, foreign, path):
    """One line -> Event, or None for a blank line; TraceError if malformed."""
    text = text.rstrip("\r\n")
    if not text.strip():
        return None
    m = LINE.match(text)
    if m is None:
        raise TraceError(f"{path}:{lineno}: expected 'TID@SECONDS.MICROSECONDS:event args' "
                         f"(QEMU -msg timestamp=on), got {text[:60]!r}")
    name, args = m.group("name"), m.group("args").strip()
    ts = int(m.group("sec")) * 1_000_000 + int(m.group("usec").ljust(6, "0"))
    base = dict(side=side, line=lineno, tid=int(m.group("tid")), ts=ts, name=name, text=text)
    if name in foreign:
        return Event(kind="foreign", state=foreign[name], **base)
    if name not in adapter:
        return Event(kind=None, **base)
    kind, pattern = adapter[name]
    am = re.fullmatch(pattern, args)
    if am is None and _other_version_matches(name, args, adapter):
        return Event(kind="foreign", state=_other_version_matches(name, args, adapter), **base)
    if am is None:
        raise TraceError(f"{path}:{lineno}: {name}: expected arguments "
                         f"{_readable(pattern)!r}, got {args[:60]!r}")
    return Event(kind=kind, **base, **_fields(am, kind, name))


def _other_version_matches(name, args, adapter):
    """The other version whose format these arguments have, if any."""
    for version, other in ADAPTERS.items():
        if other is not adapter and name in other and re.fullmatch(other[name][1], args):
            return version
    return None


def _readable(pattern):
    return re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", pattern).replace("\\S+", "<ptr>").replace("0x<", "0x<")


def parse_text(text, side, version, path="<trace>"):
    """All events of one log, in file order."""
    key = version_key(version)
    adapter, foreign = ADAPTERS[key], FOREIGN[key]
    events = []
    for lineno, line in enumerate(text.splitlines(), 1):
        event = parse_line(line, side, lineno, adapter, foreign, path)
        if event is not None:
            events.append(event)
    return events


def parse_log(path, side, version):
    """Read and parse one trace file; TraceError if it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="strict") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"{path}: cannot read: {exc.__class__.__name__}: {exc}") from None
    return parse_text(text, side, version, path)
