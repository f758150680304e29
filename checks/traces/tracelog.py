"""Parse QEMU's `log` trace backend (`-msg timestamp=on`) into normalized events.

A line reads ``TID@SECONDS.MICROSECONDS:event args`` (docs/traces.md, The trace log).  The
multifd events differ between QEMU 7.2 and 10.x (renames, `iter` for `channel`,
`multifd_send` split into `multifd_send_ram_fill` + `multifd_send_fill`), so
each version has one small adapter table: event name -> (kind, argument
pattern).  Events outside the table are kept as context (kind None).  A line
that is not a trace line, or a known event whose arguments do not match its
format, is a `TraceError` naming the file, the line and what was expected.
"""

import os
import re
import stat
from typing import NamedTuple, Optional

__all__ = ["Event", "Log", "TraceError", "ADAPTERS", "version_key", "parse_log", "parse_text",
           "read_log"]

# ASCII digits only (re.ASCII: no '٣'), and few enough that int() takes them.
LINE = re.compile(r"^(?P<tid>\d{1,18})@(?P<sec>\d{1,18})\.(?P<usec>\d{1,6}):"
                  r"(?P<name>[A-Za-z0-9_]+) ?(?P<args>.*)$", re.ASCII)
MAX_DIGITS = 18              # a field's number: more digits than any real log's
MAX_LINE = 64 * 1024         # a longer line is not a trace line (QEMU's are < 300 bytes)
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


class Log(NamedTuple):
    """One log read: its events and what a reader should know of the file."""

    events: list
    lines: int
    notes: list              # e.g. a last line cut mid-way, left out


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
    """'7.2', '7.2.22', '10.0', '10.0.13' -> the adapter key; ValueError otherwise (and
    for '7.2.junk.x')."""
    m = re.fullmatch(r"([0-9]+\.[0-9]+)(\.[0-9]{1,4})?", str(version), re.ASCII)
    if m is None or m.group(1) not in ADAPTERS:
        raise ValueError(f"unsupported QEMU version {str(version)[:20]!r}: use 7.2 or 10.0 "
                         f"(or a release of them, like 10.0.2)")
    return m.group(1)


def _fields(match, where):
    values = {}
    for key, value in match.groupdict().items():
        if key in INTS or key == "flags":
            if len(value) > MAX_DIGITS:
                raise TraceError(f"{where}: {key} {value[:10]}... has {len(value)} digits")
            values[key] = int(value, 16 if key == "flags" else 10)
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
    am = re.fullmatch(pattern, args, re.ASCII)
    if am is None and _other_version_matches(name, args, adapter):
        return Event(kind="foreign", state=_other_version_matches(name, args, adapter), **base)
    if am is None:
        raise TraceError(f"{path}:{lineno}: {name}: expected arguments "
                         f"{_readable(pattern)!r}, got {args[:60]!r}")
    return Event(kind=kind, **base, **_fields(am, f"{path}:{lineno}: {name}"))


def _other_version_matches(name, args, adapter):
    """The other version whose format these arguments have, if any."""
    for version, other in ADAPTERS.items():
        if other is not adapter and name in other and \
                re.fullmatch(other[name][1], args, re.ASCII):
            return version
    return None


def _readable(pattern):
    return re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", pattern).replace("\\S+", "<ptr>").replace("0x<", "0x<")


def parse_text(text, side, version, path="<trace>"):
    """All events of one log, in file order. Lines end at '\\n' only (a form feed or a
    U+2028 inside a line does not end it, so line numbers are an editor's)."""
    key = version_key(version)
    adapter, foreign = ADAPTERS[key], FOREIGN[key]
    events = []
    for lineno, line in enumerate(text.split("\n"), 1):
        event = parse_line(line, side, lineno, adapter, foreign, path)
        if event is not None:
            events.append(event)
    return events


def parse_log(path, side, version):
    """Read and parse one trace file; TraceError if it cannot be read."""
    return read_log(path, side, version).events


def read_log(path, side, version, progress=None) -> Log:
    """Read one trace file line by line (a regular file only: a FIFO or a device is
    refused before it is opened); TraceError if it cannot be read or parsed. A last line
    with no newline was cut mid-way (its fields may be too): it is left out, with a note.
    `progress` is told of long reads every few seconds."""
    key = version_key(version)
    adapter, foreign = ADAPTERS[key], FOREIGN[key]
    _regular_file(path)
    events, notes, lineno = [], [], 0
    try:
        with open(path, "rb") as f:
            for lineno, raw in enumerate(iter(lambda: f.readline(MAX_LINE + 1), b""), 1):
                if not raw.endswith(b"\n"):
                    if raw.strip():
                        notes.append(_cut(path, lineno, raw))
                    break
                event = parse_line(_decoded(raw, path, lineno), side, lineno, adapter,
                                   foreign, path)
                if event is not None:
                    events.append(event)
                if progress and not lineno % 65536:
                    progress(f"read {lineno:,} lines of {path}")
    except OSError as exc:
        raise TraceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return Log(events, lineno, notes)


def _regular_file(path) -> None:
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise TraceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        what = "a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) \
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a file"
        raise TraceError(f"{path}: {what}, not a trace log file")


def _decoded(raw: bytes, path, lineno) -> str:
    if len(raw) > MAX_LINE:
        raise TraceError(f"{path}:{lineno}: a line longer than {MAX_LINE // 1024} KiB: not a "
                         f"QEMU trace log")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TraceError(f"{path}:{lineno}: not UTF-8 text: not a QEMU trace log") from None


def _cut(path, lineno, raw: bytes) -> str:
    if len(raw) > MAX_LINE:
        raise TraceError(f"{path}:{lineno}: a line longer than {MAX_LINE // 1024} KiB: not a "
                         f"QEMU trace log")
    return (f"{path}:{lineno}: the last line has no newline: the log was cut mid-line "
            f"(QEMU killed, or the file copied while written); that line is left out")
