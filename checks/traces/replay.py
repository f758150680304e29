"""Trace validation: is a pair of real QEMU traces a behaviour of the model?

A real run sends hundreds of packets over tens of sync rounds, far beyond
what the explorer enumerates, so traces are replayed against the model's
*synchronization skeleton*: the same semaphores, flags and thread loops as
`model/` (`send_sem_sync`, `pending_sync`, the shared destination `sem_sync`,
a recv thread parked after its SYNC packet, `exiting`), with page contents
abstracted to opaque packets.  Each traced event is one model action; model
steps QEMU does not trace (semaphore waits, local syncs, pwritev/pread, the
posts that follow a write) happen in between, as late as they may.

Order.  Each thread's own order is authoritative.  Across threads only
causality counts: every producer this replay uses (a signal, a SYNC packet
write, a packet sent, a terminate) is traced *before* its effect, and every
consumer *after* its wait, so a consumer's time stamp is never below its
producer's (docs/traces.md, Order and time stamps: stamps are taken before the
log lock, so only file order, not stamp order, is disturbed).  Events are therefore replayed in
stamp order; an event that is not enabled at its turn, with nothing else
stamped at the same microsecond able to enable it, is the first event the
model cannot explain.

The versions differ where QEMU does (docs/traces.md, Rules per QEMU version):
  7.2   a sync request is a job: its packet number is taken at signal time
        (P-N+c for the round that ends with `multifd_send_sync_main P`), and a
        request that meets a queued page job rides on it (pending_job 2: the
        pages go out in the SYNC packet, then an empty packet owed by the
        second count, with the channel's current number; when the thread is
        slow, the next round's SYNC goes first and the empty packet takes its
        number);
  10.0  a SYNC packet never carries pages and numbers are never reused;
        mapped-ram (no packets at all) syncs are local on the source and one
        signal-then-wait group on the destination.
  10.0-patched  10.0 with the series in patches/ (docs/upstream.md): the same
        trace points, but a send thread that exits posts its sem_sync, and a recv
        thread that exits posts the shared sem_sync.
"""

import heapq
from collections import deque
from itertools import islice

from .destination import (exiting_now_set, load_expected, load_take_sem_sync, foreign,
                          recv_end, recv_packet, recv_signal, recv_start, recv_sync_done,
                          recv_terminate, recv_wait, set_state)
from .skeleton import PACKET_EVENTS, SYNC, Blocked, Impossible, Skeleton, Verdict
from .source import (mig_expected, mig_take_sem_sync, send_channel_error, send_end, send_error,
                     send_packet, send_pages, send_signal, send_start, send_sync_done,
                     send_terminate, send_wait)
from .screen import SIDES, screen
from .tracelog import read_log, version_key

__all__ = ["Skeleton", "Verdict", "validate", "validate_files", "SYNC"]


def _ignore(st, ev):
    pass


ACTIONS = {
    "send_signal": send_signal, "send_wait": send_wait, "send_sync_done": send_sync_done,
    "send_start": send_start, "send_pages": send_pages, "send_packet": send_packet,
    "send_error": send_error, "send_end": send_end, "send_terminate": send_terminate,
    "send_channel": _ignore, "send_channel_error": send_channel_error,
    "recv_channel": _ignore, "recv_start": recv_start, "recv_packet": recv_packet,
    "recv_wait": recv_wait, "recv_signal": recv_signal, "recv_sync_done": recv_sync_done,
    "recv_end": recv_end, "recv_terminate": recv_terminate, "set_state": set_state,
    "foreign": foreign,
}
MIG_KINDS = {"send_signal", "send_wait", "send_sync_done"}
LOAD_KINDS = {"recv_wait", "recv_signal", "recv_sync_done"}


def _role(ev):
    if ev.kind in MIG_KINDS:
        return "migration thread"
    if ev.kind in LOAD_KINDS:
        return "load thread"
    if ev.kind in ("send_start", "send_pages", "send_packet", "send_end", "send_error"):
        return f"send[{ev.ch}]"
    if ev.kind in ("recv_start", "recv_packet", "recv_end"):
        return f"recv[{ev.ch}]"
    return None


def _bind_role(st, ev):
    role = _role(ev)
    if role is None:
        return
    key = (ev.side, ev.tid)
    bound = st.roles.get(key)
    if bound is None:
        if role in st.roles.values() and not role.startswith(("migration", "load")):
            raise Impossible(f"thread {ev.tid} logs as {role}, which another thread already is")
        st.roles[key] = role
    elif bound != role:
        raise Impossible(f"thread {ev.tid} logs as {role} after logging as {bound}")


def apply(st, ev):
    """Replay one event on the skeleton: Blocked/Impossible if the model cannot.

    Every action checks before it changes anything, so a Blocked event leaves
    the state as it was (an Impossible one ends the replay anyway).
    """
    _bind_role(st, ev)
    role = st.roles.get((ev.side, ev.tid))
    if role == "migration thread":
        mig_take_sem_sync(st)      # any later event of the thread means its wait returned
        if ev.kind not in MIG_KINDS:
            _mig_leaves_sync(st)
    elif role == "load thread":
        load_take_sem_sync(st)
        if ev.kind not in LOAD_KINDS:
            _load_leaves_sync(st)
    if ev.kind is not None:
        ACTIONS[ev.kind](st, ev)
    exiting_now_set(st, ev)


def _mig_leaves_sync(st):
    """Another event of the migration thread: it has left multifd_send_sync_main(),
    which it may do early only by `return -1` once `exiting` is set."""
    if st.mig_phase == "idle":
        return
    if not st.send_exiting:
        raise Impossible(f"the migration thread left multifd_send_sync_main() in the middle; "
                         f"expected {mig_expected(st)}")
    st.mig_phase = "idle"


def _load_leaves_sync(st):
    """Another event of the load thread: multifd_recv_sync_main() has no early return,
    so it must have finished its loops."""
    if st.load_phase != "idle":
        raise Impossible(f"the load thread left multifd_recv_sync_main() in the middle; "
                         f"expected {load_expected(st)}")


# ------------------------------------------------------------------ the replay

def _order(events):
    """Each thread's events in file order (authoritative), merged across threads by
    time stamp: a line whose stamp disagrees with its own thread's order keeps its place
    in that thread."""
    side = {"src": 0, "dst": 1}
    threads = {}
    for e in sorted(events, key=lambda e: (side[e.side], e.line)):
        threads.setdefault((e.side, e.tid), []).append(e)
    heads = [(seq[0].ts, side[seq[0].side], seq[0].line, key, 0)
             for key, seq in threads.items()]
    heapq.heapify(heads)
    out = []
    while heads:
        _, _, _, key, k = heapq.heappop(heads)
        seq = threads[key]
        out.append(seq[k])
        if k + 1 < len(seq):
            nxt = seq[k + 1]
            heapq.heappush(heads, (nxt.ts, side[nxt.side], nxt.line, key, k + 1))
    return out


def replay(st, events, progress=None):
    """Replay in stamp order: (None, "", events replayed) when every event is explained,
    else (the first unexplained event, why, events replayed before it). Linear in the
    events: each step looks only at those stamped with the earliest time."""
    pending = deque(_order(events))
    done = 0
    while pending:
        ev, why = _step(st, pending)
        if ev is not None:
            return ev, why, done
        done += 1
        if progress and not done % 65536:
            progress(f"replayed {done:,} of {len(events):,} events")
    return None, "", done


def _step(st, pending):
    """Apply the earliest enabled event among those stamped with the earliest time."""
    first = pending[0]
    reason = None
    for k, ev in enumerate(pending):
        if ev.ts != first.ts:
            break
        if k and any(p.side == ev.side and p.tid == ev.tid for p in islice(pending, k)):
            continue                      # a thread's own order is kept
        try:
            apply(st, ev)
        except Blocked as exc:
            reason = reason or str(exc)
            continue
        except Impossible as exc:
            return ev, str(exc)
        del pending[k]
        return None, ""
    return first, reason


def _stamp_goes_back(events):
    """(event, why) for the first line stamped later than the next line of its own
    thread: within a thread QEMU's stamps never go back (docs/traces.md, Order and time
    stamps), so the thread's file order and its stamps disagree, and the trace was
    altered."""
    last = {}
    worst = None
    for e in sorted(events, key=lambda e: (e.side, e.line)):
        prev = last.get((e.side, e.tid))
        if prev is not None and prev.ts > e.ts and (worst is None or prev.ts < worst[0].ts):
            worst = (prev, f"thread {prev.tid} logs this line stamped after its next line "
                           f"({e.where()}): within a thread QEMU's stamps never go back")
        last[(e.side, e.tid)] = e
    return worst


def _channels(events):
    chans = [e.ch for e in events if e.ch is not None and e.kind not in (None, "foreign")]
    return max(chans) + 1 if chans else 1


PATCHED = "-patched"


def rules(version):
    """(adapter key, patched) for '7.2', '10.0', a release of them, or '10.0-patched' (10.0's
    trace points with the semantics of the series in patches/); ValueError otherwise."""
    text = str(version)
    patched = text.endswith(PATCHED)
    key = version_key(text[:-len(PATCHED)] if patched else text)
    if patched and key != "10.0":
        raise ValueError(f"the patch series is on QEMU 10.0, not {key}")
    return key, patched


def validate(src_events, dst_events, version, progress=None):
    """Decide whether the traces are a behaviour of the version's model skeleton.

    Either side may be empty (a mapped-ram load has only a destination log).
    """
    key, patched = rules(version)
    version = key + (PATCHED if patched else "")
    events = list(src_events) + list(dst_events)
    file_mode = not any(e.name in PACKET_EVENTS for e in events)
    st = Skeleton(key, _channels(events), file_mode, has_src=bool(src_events), patched=patched)
    back = _stamp_goes_back(events)
    if back is not None:               # replay what comes before it, then reject there
        done = replay(st, [e for e in events if e.ts < back[0].ts], progress)[2]
        ev, why = back
    else:
        ev, why, done = replay(st, events, progress)
    total = len(events)
    verdict = Verdict(conforms=ev is None, version=version, events=total, replayed=done,
                      event=ev, reason=why, state=describe(st), summary=summary(st))
    if ev is None:
        verdict.end = ending(st)
    return verdict


def validate_files(src_path, dst_path, version, progress=None):
    """Read both logs and validate them: TraceError if one is malformed, or not a
    migration's multifd trace (screen.py). The verdict's `notes` say what was left out."""
    logs = {side: (path, read_log(path, side, rules(version)[0], progress))
            for side, path in (("src", src_path), ("dst", dst_path)) if path}
    screen(logs)
    verdict = validate(*(logs[side][1].events if side in logs else [] for side in SIDES),
                       version, progress)
    verdict.notes = [note for _, log in logs.values() for note in log.notes]
    return verdict


def summary(st):
    """Counts a reviewer checks first."""
    return {"channels": st.channels, "transport": "file" if st.file_mode else "socket",
            "src_rounds": st.rounds_done, "dst_rounds": st.load_round,
            "packets_sent": sum(t.packets for t in st.send),
            "packets_received": sum(r.packets for r in st.recv),
            "src_state": st.src_state, "dst_state": st.dst_state}


def describe(st):
    """The skeleton state as short lines (what the model knows at this point)."""
    lines = []
    if st.has_src:
        lines.append(f"source: migration thread {_mig_where(st)}; sync rounds done "
                     f"{st.rounds_done}; exiting {int(st.send_exiting)}; state {st.src_state}")
        lines += [f"  send[{c}]: {_send_line(t)}" for c, t in enumerate(st.send)]
    lines.append(f"destination: load thread {_load_where(st)}; sem_sync {st.sem_sync}; "
                 f"exiting {int(st.recv_exiting)}; state {st.dst_state}")
    lines += [f"  recv[{c}]: {_recv_line(r)}" for c, r in enumerate(st.recv)]
    return lines


def _mig_where(st):
    if st.mig_blocked is not None:
        return f"in sync round {st.mig_round}, waiting on send[{st.mig_blocked}]'s sem_sync"
    if st.mig_phase == "idle":
        return "outside a sync"
    return f"in sync round {st.mig_round}, next: {mig_expected(st)}"


def _load_where(st):
    if st.load_blocked:
        return f"in sync round {st.load_round}, waiting on the shared sem_sync"
    if st.load_phase == "idle":
        return "outside a sync"
    return f"in sync round {st.load_round}, next: {load_expected(st)}"


def _life(started, ended):
    return "exited" if ended else ("running" if started else "not started")


def _send_line(t):
    return (f"{_life(t.started, t.ended)}, packets {t.packets}, pending_sync "
            f"{len(t.pending_sync)}, sem_sync {t.sem_sync}, in flight {len(t.queue)}")


def _recv_line(r):
    parked = f", parked after SYNC {r.parked}" if r.parked is not None else ""
    return f"{_life(r.started, r.ended)}, packets {r.packets}{parked}, sem_sync {r.sem_sync}"


def ending(st):
    """How a conforming trace ends: complete, still running, or a hang explained."""
    hangs = []
    if st.mig_blocked is not None:
        waited = st.send[st.mig_blocked]       # only send[c] (or its exit kick) posts sem_sync[c]
        try:
            mig_take_sem_sync(st)
        except Blocked as exc:
            hangs.append(_never(str(exc), [waited.ended]))
    if st.load_blocked:
        try:
            load_take_sem_sync(st, final=True)
        except Blocked as exc:      # a parked recv thread posted already; it waits for us
            hangs.append(_never(str(exc), [r.ended or r.parked is not None for r in st.recv]))
    if hangs:
        return hangs
    running = [f"send[{c}]" for c, t in enumerate(st.send) if t.started and not t.ended]
    running += [f"recv[{c}]" for c, r in enumerate(st.recv) if r.started and not r.ended]
    if running:
        return [f"the trace ends with {', '.join(running)} still running (a prefix of a run)"]
    return ["complete: every thread that started has exited and no sync is left waiting"]


def _never(why, posters_ended):
    if all(posters_ended):
        return f"HANG: {why}; no thread that could post it is left"
    return f"blocked: {why}"


def render(verdict, src_path, dst_path):
    """The verdict as text for a terminal or a bug report."""
    head = f"traces  {src_path or '-'} + {dst_path or '-'} (QEMU {verdict.version} model skeleton)"
    s = verdict.summary
    counts = (f"events  {verdict.events} ({s['transport']}, {s['channels']} channels, sync rounds "
              f"src {s['src_rounds']} / dst {s['dst_rounds']}, packets {s['packets_sent']} sent / "
              f"{s['packets_received']} read)")
    notes = [f"note    {n}" for n in verdict.notes]
    if verdict.conforms:
        return "\n".join([head, counts, *notes, "verdict CONFORMS",
                          *[f"end     {e}" for e in verdict.end]])
    ev = verdict.event
    return "\n".join([head, counts, *notes, f"verdict REJECTED at {ev.where()} (event {verdict.replayed + 1} "
                      f"in time order)", f"        {ev.text}", f"why     {verdict.reason}",
                      "model state before it:", *[f"  {line}" for line in verdict.state]])


def verdict_json(verdict):
    """The verdict as one JSON-ready dict."""
    ev = verdict.event
    return {"verdict": "conforms" if verdict.conforms else "rejected", "qemu": verdict.version,
            "events": verdict.events, "summary": verdict.summary, "end": verdict.end,
            "notes": verdict.notes,
            "first_unexplained": None if ev is None else
            {"side": ev.side, "line": ev.line, "text": ev.text, "reason": verdict.reason},
            "state": verdict.state}
