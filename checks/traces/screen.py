"""What a pair of logs must be before they are replayed: bad input, told in one line.

A log with no multifd event in it was recorded without the trace on; a source log that
holds only the destination's events (and the reverse) was given the wrong way round; a
channel number the logs never create would make the skeleton that large (one line naming
channel 10000000 took 8 GB).
"""

from .tracelog import TraceError

__all__ = ["screen", "MAX_CHANNELS", "HINT"]

HINT = "was the trace enabled? -trace 'multifd_*' (docs/traces.md)"
MAX_CHANNELS = 255           # multifd-channels is a uint8 (qapi/migration.json)
CREATES = {"send_channel", "send_start", "recv_channel", "recv_start"}
SIDES = {"src": "SRC_LOG", "dst": "DST_LOG"}


def screen(logs: dict) -> None:
    """`logs`: side -> (path, Log), for the logs given. TraceError if they are not a
    migration's multifd trace, or hold channels they never create."""
    for side, (path, log) in logs.items():
        _has_multifd(side, path, log)
    _not_swapped(logs)
    paths = {side: path for side, (path, _) in logs.items()}
    _channels_created([e for _, log in logs.values() for e in log.events], paths)


def _has_multifd(side, path, log) -> None:
    if not log.lines:
        raise TraceError(f"{SIDES[side]} {path}: empty; {HINT}")
    if not any(_multifd(e) for e in log.events):
        lines = f"{log.lines:,} line{'s' if log.lines > 1 else ''}"
        raise TraceError(f"{SIDES[side]} {path}: no multifd event in {lines}, so no "
                         f"migration to check; {HINT}")


def _multifd(event) -> bool:
    return event.kind not in (None, "set_state")


def _looks_like(log):
    """'src' if the log holds send-side events only, 'dst' if receive-side only."""
    kinds = {e.kind.split("_")[0] for e in log.events if _multifd(e)}
    return {frozenset({"send"}): "src", frozenset({"recv"}): "dst"}.get(frozenset(kinds))


def _not_swapped(logs: dict) -> None:
    wrong = {side: (path, _looks_like(log)) for side, (path, log) in logs.items()
             if _looks_like(log) not in (None, side)}
    if not wrong:
        return
    if len(wrong) == 2:
        raise TraceError(f"the logs look swapped: {logs['src'][0]} holds only the "
                         f"destination's multifd_recv_* events and {logs['dst'][0]} only the "
                         f"source's multifd_send_*; give the source's log first")
    side, (path, looks) = next(iter(wrong.items()))
    raise TraceError(f"{SIDES[side]} {path} holds only the {_NAMES[looks]}'s events "
                     f"(multifd_{'send' if looks == 'src' else 'recv'}_*): give it as "
                     f"{SIDES[looks]}")


_NAMES = {"src": "source", "dst": "destination"}


def _channels_created(events, paths) -> None:
    created = {e.ch for e in events if e.kind in CREATES}
    limit = max(created) + 1 if created else MAX_CHANNELS
    if limit > MAX_CHANNELS:
        ev = next(e for e in events if e.kind in CREATES and e.ch == limit - 1)
        raise TraceError(f"{paths[ev.side]}:{ev.line}: channel {ev.ch}: QEMU has at most "
                         f"{MAX_CHANNELS} multifd channels")
    for e in events:
        if e.ch is not None and e.ch >= limit:
            made = f"creates channels 0 to {limit - 1}" if created else \
                f"has at most {MAX_CHANNELS}"
            raise TraceError(f"{paths[e.side]}:{e.line}: channel {e.ch}, but the migration {made}")
