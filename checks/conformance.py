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
producer's (real-qemu.md s3.4: stamps are taken before the log lock, so only
file order, not stamp order, is disturbed).  Events are therefore replayed in
stamp order; an event that is not enabled at its turn, with nothing else
stamped at the same microsecond able to enable it, is the first event the
model cannot explain.

The versions differ where QEMU does (protocol reference s3-s5):
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
"""

import heapq
from collections import deque
from dataclasses import dataclass, field
from typing import Optional

from .tracelog import parse_log, version_key

__all__ = ["Skeleton", "Verdict", "validate", "validate_files", "SYNC"]

SYNC = 0x1                     # MULTIFD_FLAG_SYNC
# Packet events of either version: mapped-ram runs have none (real-qemu.md s3.3).
PACKET_EVENTS = {"multifd_send", "multifd_recv", "multifd_send_fill", "multifd_recv_unfill"}


class Blocked(Exception):
    """The event is not enabled in this state (another thread may enable it)."""


class Impossible(Exception):
    """The event cannot happen in this state whatever the other threads do."""


@dataclass
class SendThread:
    """One `multifd_send_thread` (send[c])."""

    started: bool = False
    ended: bool = False
    pending_sync: deque = field(default_factory=deque)  # p->pending_sync: rounds requested, unserved
    sem_sync: int = 0          # p->sem_sync: posts the migration thread has not taken
    last_sync_round: int = 0   # the round of the last SYNC packet it wrote
    jobs_in_window: int = 0    # page packets between a sync request and its SYNC packet
    owed: int = 0              # 7.2: empty packets owed after a coalesced SYNC (pending_job 2)
    last_num: int = -1
    packets: int = 0
    filled_pages: Optional[int] = None  # 10.0: multifd_send_ram_fill just logged
    last_was_sync: bool = False
    queue: deque = field(default_factory=deque)  # (packet_num, flags) written, not yet read


@dataclass
class RecvThread:
    """One `multifd_recv_thread` (recv[c])."""

    started: bool = False
    ended: bool = False
    parked: Optional[int] = None  # packet number of the SYNC it waits behind (p->sem_sync)
    sem_sync: int = 0          # p->sem_sync posts from the load thread's signal
    requests: int = 0          # mapped-ram: sync posts on p->sem not yet served
    last_num: int = -1
    packets: int = 0


@dataclass
class Skeleton:
    """The model's synchronization state, as far as a trace pair determines it."""

    version: str
    channels: int
    file_mode: bool
    has_src: bool = True
    # source: the migration thread in multifd_send_sync_main()
    mig_phase: str = "idle"      # idle | signal | wait
    mig_i: int = 0               # next channel of the current loop
    mig_round: int = 0           # sync rounds begun
    mig_blocked: Optional[int] = None  # channel whose sem_sync it waits on
    rounds_done: int = 0
    round_nums: dict = field(default_factory=dict)  # round -> {channel: SYNC packet_num}
    send: list = field(default_factory=list)
    send_exiting: bool = False   # multifd_send_state->exiting
    send_errors: set = field(default_factory=set)
    used_nums: set = field(default_factory=set)
    max_num: int = -1
    src_state: str = "none"
    # destination: the load thread in multifd_recv_sync_main()
    load_phase: str = "idle"
    load_i: int = 0
    load_round: int = 0
    load_blocked: bool = False   # waiting on multifd_recv_state->sem_sync (shared)
    sem_sync: int = 0            # multifd_recv_state->sem_sync
    recv_max_num: int = -1       # multifd_recv_state->packet_num
    recv: list = field(default_factory=list)
    recv_exiting: bool = False      # multifd_recv_terminate_threads logged (exiting set soon)
    recv_exiting_set: bool = False  # certainly set: the terminator logged again, or a recv exited
    recv_terminator: Optional[tuple] = None  # (side, tid) of the first terminate's line
    recv_errors: bool = False
    dst_state: str = "none"
    roles: dict = field(default_factory=dict)  # (side, tid) -> role name

    def __post_init__(self):
        self.send = [SendThread() for _ in range(self.channels)]
        self.recv = [RecvThread() for _ in range(self.channels)]


@dataclass
class Verdict:
    """The answer: conforms, or the first event the model cannot explain."""

    conforms: bool
    version: str
    events: int
    replayed: int
    event: object = None         # the first unexplained Event
    reason: str = ""
    state: list = field(default_factory=list)   # the skeleton state, as lines
    end: list = field(default_factory=list)     # how the trace ends (hangs explained)
    summary: dict = field(default_factory=dict)


# ---------------------------------------------------------------- source side

def _mig_take_sem_sync(st):
    """The untraced return from qemu_sem_wait(&p->sem_sync) after `wait c`."""
    c = st.mig_blocked
    if c is None:
        return
    t = st.send[c]
    if t.sem_sync > 0:
        t.sem_sync -= 1
    elif st.file_mode and t.pending_sync and t.started and not t.ended:
        _serve_local_sync(st, c)
        t.sem_sync -= 1
    else:
        raise Blocked(f"the migration thread waits on send[{c}]'s sem_sync "
                      f"(multifd_send_sync_main_wait channel {c}) and nothing posted it: "
                      f"{_send_why(st, c)}")
    st.mig_blocked = None


def _serve_local_sync(st, c):
    """Mapped-ram: the send thread's untraced MULTIFD_SYNC_LOCAL (no packet)."""
    t = st.send[c]
    t.last_sync_round = t.pending_sync.popleft()
    t.sem_sync += 1


def _send_why(st, c):
    t = st.send[c]
    if t.ended:
        return f"send[{c}] has exited" + (" with its sync request unserved" if t.pending_sync else "")
    if not t.started:
        return f"send[{c}] has not started"
    if not t.pending_sync:
        return f"send[{c}] has no sync request (it served it, or was never signalled)"
    return f"send[{c}] has not written its SYNC packet"


def send_signal(st, ev):
    _expect_mig_loop(st, ev, "signal")
    if st.mig_phase == "idle":
        st.mig_phase, st.mig_i, st.mig_round = "signal", 0, st.mig_round + 1
    t = st.send[ev.ch]
    t.pending_sync.append(st.mig_round)
    t.jobs_in_window = 0
    st.mig_i += 1


def _expect_mig_loop(st, ev, step):
    """Shape of multifd_send_sync_main(): signal 0..N-1, then wait 0..N-1, then done."""
    n = st.channels
    if step == "signal":
        want = 0 if st.mig_phase == "idle" else (st.mig_i if st.mig_phase == "signal" and st.mig_i < n else None)
    elif step == "wait":
        want = (0 if st.mig_phase == "signal" and st.mig_i == n else
                st.mig_i if st.mig_phase == "wait" and st.mig_i < n else None)
    else:
        want = None if not (st.mig_phase == "wait" and st.mig_i == n) else -1
    if want is None or (want >= 0 and ev.ch != want):
        raise Impossible(f"multifd_send_sync_main() signals channels 0..{n - 1} in order, then "
                         f"waits for them in order, then logs its packet number; "
                         f"expected {_mig_expected(st)}")


def _mig_expected(st):
    n = st.channels
    if st.mig_phase == "idle":
        return "multifd_send_sync_main_signal channel 0"
    if st.mig_phase == "signal":
        return (f"multifd_send_sync_main_signal channel {st.mig_i}" if st.mig_i < n
                else "multifd_send_sync_main_wait channel 0")
    return (f"multifd_send_sync_main_wait channel {st.mig_i}" if st.mig_i < n
            else "multifd_send_sync_main")


def send_wait(st, ev):
    _expect_mig_loop(st, ev, "wait")
    if st.mig_phase == "signal":
        st.mig_phase, st.mig_i = "wait", 0
    st.mig_blocked = ev.ch
    st.mig_i += 1


def send_sync_done(st, ev):
    _expect_mig_loop(st, ev, "done")
    nums = st.round_nums.get(st.mig_round, {})
    n = st.channels
    if st.version == "7.2" and not st.file_mode:
        want = {c: ev.num - n + c for c in range(n)}
        if nums != want:
            raise Impossible(f"7.2 numbers a round's SYNC packets at signal time, "
                             f"{ev.num - n}..{ev.num - 1} for packet num {ev.num}; this round's "
                             f"SYNC packets carry {_nums(nums)}")
    elif not st.file_mode and st.max_num + 1 != ev.num:
        raise Impossible(f"packet num {ev.num} must be the next unused packet number, "
                         f"{st.max_num + 1}, once every channel has served the sync")
    st.mig_phase, st.rounds_done = "idle", st.mig_round


def _nums(nums):
    return ", ".join(f"channel {c}: {v}" for c, v in sorted(nums.items())) or "none"


def _live(threads, side, ev):
    """The channel thread logging `ev` (side: "send" or "recv"), which must have started
    and not yet ended."""
    t = threads[ev.ch]
    if not t.started:
        raise Blocked(f"{side}[{ev.ch}] logs {ev.name} before "
                      f"multifd_{side}_thread_start {ev.ch}")
    if t.ended:
        raise Impossible(f"{side}[{ev.ch}] logs {ev.name} after multifd_{side}_thread_end")
    return t


def _start(threads, side, ev):
    t = threads[ev.ch]
    if t.started:
        raise Impossible(f"{side}[{ev.ch}] starts twice")
    t.started = True


def _send_thread(st, ev):
    return _live(st.send, "send", ev)


def send_start(st, ev):
    _start(st.send, "send", ev)


def send_pages(st, ev):
    _send_thread(st, ev).filled_pages = ev.pages


def send_packet(st, ev):
    t = _send_thread(st, ev)
    pages = ev.pages if st.version == "7.2" else t.filled_pages
    if ev.flags & SYNC:
        _check_sync_packet(st, ev, t, pages)
        _write_sync_packet(st, ev, t, pages)
    else:
        _check_page_packet(st, ev, t, pages)
        if t.owed and not pages:
            t.owed -= 1
        elif t.pending_sync:
            t.jobs_in_window += 1
    _written(st, ev, t)


def _check_sync_packet(st, ev, t, pages):
    if not t.pending_sync:
        raise Blocked(f"SYNC packet {ev.num} on channel {ev.ch}, but no sync is requested: the "
                      f"migration thread has not signalled channel {ev.ch} "
                      f"(multifd_send_sync_main_signal)")
    if st.version != "7.2" and pages is not None:
        raise Impossible("a SYNC packet carrying pages (multifd_send_ram_fill just before it) is "
                         "7.2's coalesced SYNC: 10.0 sends the page job and the SYNC apart")
    _check_number(st, ev, t)


def _write_sync_packet(st, ev, t, pages):
    t.last_sync_round = t.pending_sync.popleft()
    st.round_nums.setdefault(t.last_sync_round, {})[ev.ch] = ev.num
    t.sem_sync += 1
    if st.version == "7.2" and pages:
        t.owed += 1


def _check_page_packet(st, ev, t, pages):
    if t.owed:
        if ev.num != t.last_num or pages:
            raise Impossible(f"after a SYNC that carried pages, 7.2 owes an empty packet with the "
                             f"channel's current number ({t.last_num}); got packet {ev.num} with "
                             f"{pages} pages")
        return
    if t.last_sync_round > st.rounds_done:
        raise Blocked(f"page packet on channel {ev.ch} after its SYNC of round "
                      f"{t.last_sync_round}, before the migration thread finished that round: "
                      f"no page job is queued while it waits")
    if t.pending_sync and t.jobs_in_window >= 1:
        raise Impossible(f"a second page packet on channel {ev.ch} between the sync request and "
                         f"its SYNC packet: only one job can be pending")
    _check_number(st, ev, t)


def _check_number(st, ev, t):
    if st.version == "7.2":
        if ev.num <= t.last_num:
            raise Impossible(f"7.2 numbers packets per channel in increasing order; "
                             f"packet {ev.num} after {t.last_num} on channel {ev.ch}")
    elif ev.num in st.used_nums:
        raise Impossible(f"packet_num {ev.num} is used twice: 10.0 never reuses a number "
                         f"(7.2's coalesced SYNC does)")


def _written(st, ev, t):
    t.queue.append((ev.num, ev.flags))
    t.packets += 1
    t.last_num = max(t.last_num, ev.num)
    t.filled_pages = None
    t.last_was_sync = bool(ev.flags & SYNC)
    st.used_nums.add(ev.num)
    st.max_num = max(st.max_num, ev.num)


def send_error(st, ev):
    t = _send_thread(st, ev)
    st.send_exiting = True
    st.send_errors.add(ev.ch)
    if t.queue:
        t.queue.pop()              # the failed write never reaches the destination
    if not t.last_was_sync:
        t.sem_sync += 1            # multifd_send_kick_main(); a failed SYNC's post becomes the kick


def send_end(st, ev):
    t = _send_thread(st, ev)
    if not (st.send_exiting or ev.ch in st.send_errors):
        raise Blocked(f"send[{ev.ch}] exits, but no thread has set exiting "
                      f"(no error, no multifd_send_terminate_threads)")
    _check_count(st, ev, t.packets, bool(st.send_errors))
    t.ended = True


def _check_count(st, ev, traced, faulty):
    handshake = 1 if st.version == "7.2" else 0
    if not faulty and ev.packets != traced + handshake:
        extra = " plus the initial packet" if handshake else ""
        raise Impossible(f"thread_end counts {ev.packets} packets; the trace shows "
                         f"{traced}{extra}")


def send_terminate(st, ev):
    st.send_exiting = True
    if ev.err:
        st.send_errors.add(-1)


def send_channel_error(st, ev):
    st.send_exiting = True
    st.send_errors.add(ev.ch)


# ----------------------------------------------------------- destination side

def _load_take_sem_sync(st, final=False):
    """The untraced return from qemu_sem_wait(&multifd_recv_state->sem_sync).

    `final`: at the end of the trace, only a thread still running can post."""
    if not st.load_blocked:
        return
    if st.sem_sync > 0:
        st.sem_sync -= 1
    else:
        c = _local_sync_server(st, final)
        if c is None:
            raise Blocked(f"the load thread waits on the shared sem_sync "
                          f"(multifd_recv_sync_main_wait) and nothing posted it: "
                          f"{_recv_why(st)}")
        st.recv[c].requests -= 1
    st.load_blocked = False
    if st.file_mode and st.load_phase == "wait" and st.load_i == st.channels:
        st.load_phase = "idle"


def _local_sync_server(st, final=False):
    """Mapped-ram: a recv thread that served (untraced) a sync post it got before
    `exiting` was set. It may have done so before it exited, so an exited thread
    counts too, except at the end of the trace, when only a running one could."""
    if not st.file_mode:
        return None
    for c, r in enumerate(st.recv):
        if r.requests > 0 and r.started and not (final and r.ended):
            return c
    return None


def _recv_why(st):
    parts = []
    for c, r in enumerate(st.recv):
        if r.ended:
            parts.append(f"recv[{c}] has exited")
        elif not r.started:
            parts.append(f"recv[{c}] has not started")
        elif r.parked is not None:
            parts.append(f"recv[{c}] is parked after its SYNC packet")
        else:
            parts.append(f"recv[{c}] has not read its SYNC packet")
    return "; ".join(parts)


def _expect_load_loop(st, ev, step):
    """Shape of multifd_recv_sync_main(): socket waits then signals; file the reverse."""
    n = st.channels
    first, second = ("signal", "wait") if st.file_mode else ("wait", "signal")
    if step == first:
        want = 0 if st.load_phase == "idle" else (st.load_i if st.load_phase == first and st.load_i < n else None)
    elif step == second:
        want = (0 if st.load_phase == first and st.load_i == n else
                st.load_i if st.load_phase == second and st.load_i < n else None)
    else:
        want = -1 if st.load_phase == second and st.load_i == n else None
    if want is None or (want >= 0 and ev.ch != want):
        raise Impossible(f"multifd_recv_sync_main() {first}s 0..{n - 1} in order, then "
                         f"{second}s 0..{n - 1}; expected {_load_expected(st)}")


def _load_expected(st):
    n = st.channels
    first, second = ("signal", "wait") if st.file_mode else ("wait", "signal")
    names = {"wait": "multifd_recv_sync_main_wait", "signal": "multifd_recv_sync_main_signal"}
    if st.load_phase == "idle":
        return f"{names[first]} 0"
    if st.load_phase == first:
        return f"{names[first]} {st.load_i}" if st.load_i < n else f"{names[second]} 0"
    return f"{names[second]} {st.load_i}" if st.load_i < n else "multifd_recv_sync_main"


def _load_step(st, ev, step):
    _expect_load_loop(st, ev, step)
    if st.load_phase == "idle":
        st.load_phase, st.load_i, st.load_round = step, 0, st.load_round + 1
    elif st.load_phase != step:
        st.load_phase, st.load_i = step, 0
    st.load_i += 1


def recv_wait(st, ev):
    _load_step(st, ev, "wait")
    st.load_blocked = True


def recv_signal(st, ev):
    _load_step(st, ev, "signal")
    r = st.recv[ev.ch]
    if st.file_mode:
        r.requests += 0 if st.recv_exiting_set else 1   # after exiting: it leaves, unserved
    else:
        st.recv_max_num = max(st.recv_max_num, r.last_num)
        r.sem_sync += 1


def recv_sync_done(st, ev):
    _expect_load_loop(st, ev, "done")
    if ev.num != st.recv_max_num:
        raise Impossible(f"multifd_recv_sync_main logs the highest packet number its channels "
                         f"have read, {st.recv_max_num}, not {ev.num}")
    st.load_phase = "idle"


def _recv_thread(st, ev):
    return _live(st.recv, "recv", ev)


def recv_start(st, ev):
    _start(st.recv, "recv", ev)


def recv_packet(st, ev):
    r = _recv_thread(st, ev)
    if r.parked is not None and r.sem_sync == 0:
        raise Blocked(f"recv[{ev.ch}] logs packet {ev.num} while parked after its SYNC packet "
                      f"{r.parked}: the load thread has not signalled channel {ev.ch} "
                      f"(multifd_recv_sync_main_signal)")
    _check_delivery(st, ev)
    if r.parked is not None:
        r.sem_sync -= 1
        r.parked = None
    r.last_num, r.packets = ev.num, r.packets + 1
    if ev.flags & SYNC:
        st.sem_sync += 1
        r.parked = ev.num


def _check_delivery(st, ev):
    if not st.has_src:
        return
    queue = st.send[ev.ch].queue
    if not queue:
        raise Blocked(f"packet {ev.num} (flags 0x{ev.flags:x}) on channel {ev.ch} was never "
                      f"written by the source")
    if queue[0] != (ev.num, ev.flags):
        num, flags = queue[0]
        raise Impossible(f"a channel delivers packets in the order they were written: the "
                         f"source's next packet on channel {ev.ch} is {num} (flags 0x{flags:x}), "
                         f"not {ev.num} (flags 0x{ev.flags:x})")
    queue.popleft()


def recv_end(st, ev):
    r = _recv_thread(st, ev)
    eof = not st.file_mode and (not st.has_src or (st.send[ev.ch].ended or st.send_exiting)
                                and not st.send[ev.ch].queue)
    if r.parked is not None and not (st.recv_exiting or r.sem_sync):
        raise Blocked(f"recv[{ev.ch}] exits while parked after its SYNC packet {r.parked}, "
                      f"with no signal and no multifd_recv_terminate_threads")
    if not (st.recv_exiting or st.recv_errors or eof):
        raise Blocked(f"recv[{ev.ch}] exits with neither EOF (the source's send[{ev.ch}] has "
                      f"not finished) nor multifd_recv_terminate_threads")
    _check_count(st, ev, r.packets, st.recv_errors or bool(st.send_errors))
    r.ended = True
    st.recv_exiting_set = st.recv_exiting


def recv_terminate(st, ev):
    """multifd_recv_terminate_threads() logs before its xchg(&exiting, 1): until that
    thread's next line (or a recv thread's exit), a sync post may still be served."""
    if not st.recv_exiting:
        st.recv_terminator = (ev.side, ev.tid)
    st.recv_exiting = True
    if ev.err:
        st.recv_errors = True


def _exiting_now_set(st, ev):
    """Any later line of the thread that logged the terminate comes after its xchg."""
    if st.recv_terminator == (ev.side, ev.tid) and ev.kind != "recv_terminate":
        st.recv_exiting_set = True


def set_state(st, ev):
    if ev.side == "src":
        st.src_state = ev.state
    else:
        st.dst_state = ev.state


def foreign(st, ev):
    raise Impossible(f"{ev.name} is a QEMU {ev.state} event: a {st.version} trace cannot log it")


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
        _mig_take_sem_sync(st)      # any later event of the thread means its wait returned
        if ev.kind not in MIG_KINDS:
            _mig_leaves_sync(st)
    elif role == "load thread":
        _load_take_sem_sync(st)
        if ev.kind not in LOAD_KINDS:
            _load_leaves_sync(st)
    if ev.kind is not None:
        ACTIONS[ev.kind](st, ev)
    _exiting_now_set(st, ev)


def _mig_leaves_sync(st):
    """Another event of the migration thread: it has left multifd_send_sync_main(),
    which it may do early only by `return -1` once `exiting` is set."""
    if st.mig_phase == "idle":
        return
    if not st.send_exiting:
        raise Impossible(f"the migration thread left multifd_send_sync_main() in the middle; "
                         f"expected {_mig_expected(st)}")
    st.mig_phase = "idle"


def _load_leaves_sync(st):
    """Another event of the load thread: multifd_recv_sync_main() has no early return,
    so it must have finished its loops."""
    if st.load_phase != "idle":
        raise Impossible(f"the load thread left multifd_recv_sync_main() in the middle; "
                         f"expected {_load_expected(st)}")


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


def replay(st, events):
    """Replay in stamp order; return (None, "") or (first unexplained event, why)."""
    pending = _order(events)
    done = 0
    while pending:
        ev, why = _step(st, pending)
        if ev is not None:
            return ev, why, done
        done += 1
    return None, "", done


def _step(st, pending):
    """Apply the earliest enabled event among those stamped with the earliest time."""
    first = pending[0]
    reason = None
    for k, ev in enumerate(pending):
        if ev.ts != first.ts:
            break
        if k and any(p.side == ev.side and p.tid == ev.tid for p in pending[:k]):
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
    thread: within a thread QEMU's stamps never go back (real-qemu.md s3.4), so the
    thread's file order and its stamps disagree, and the trace was altered."""
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


def validate(src_events, dst_events, version):
    """Decide whether the traces are a behaviour of the version's model skeleton.

    Either side may be empty (a mapped-ram load has only a destination log).
    """
    version = version_key(version)
    events = list(src_events) + list(dst_events)
    file_mode = not any(e.name in PACKET_EVENTS for e in events)
    st = Skeleton(version, _channels(events), file_mode, has_src=bool(src_events))
    back = _stamp_goes_back(events)
    if back is not None:               # replay what comes before it, then reject there
        done = replay(st, [e for e in events if e.ts < back[0].ts])[2]
        ev, why = back
    else:
        ev, why, done = replay(st, events)
    total = len(events)
    verdict = Verdict(conforms=ev is None, version=version, events=total, replayed=done,
                      event=ev, reason=why, state=describe(st), summary=summary(st))
    if ev is None:
        verdict.end = ending(st)
    return verdict


def validate_files(src_path, dst_path, version):
    """Parse both logs (TraceError if malformed) and validate them."""
    src = parse_log(src_path, "src", version) if src_path else []
    dst = parse_log(dst_path, "dst", version) if dst_path else []
    return validate(src, dst, version)


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
    return f"in sync round {st.mig_round}, next: {_mig_expected(st)}"


def _load_where(st):
    if st.load_blocked:
        return f"in sync round {st.load_round}, waiting on the shared sem_sync"
    if st.load_phase == "idle":
        return "outside a sync"
    return f"in sync round {st.load_round}, next: {_load_expected(st)}"


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
            _mig_take_sem_sync(st)
        except Blocked as exc:
            hangs.append(_never(str(exc), [waited.ended]))
    if st.load_blocked:
        try:
            _load_take_sem_sync(st, final=True)
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
    if verdict.conforms:
        return "\n".join([head, counts, "verdict CONFORMS", *[f"end     {e}" for e in verdict.end]])
    ev = verdict.event
    return "\n".join([head, counts, f"verdict REJECTED at {ev.where()} (event {verdict.replayed + 1} "
                      f"in time order)", f"        {ev.text}", f"why     {verdict.reason}",
                      "model state before it:", *[f"  {line}" for line in verdict.state]])


def verdict_json(verdict):
    """The verdict as one JSON-ready dict."""
    ev = verdict.event
    return {"verdict": "conforms" if verdict.conforms else "rejected", "qemu": verdict.version,
            "events": verdict.events, "summary": verdict.summary, "end": verdict.end,
            "first_unexplained": None if ev is None else
            {"side": ev.side, "line": ev.line, "text": ev.text, "reason": verdict.reason},
            "state": verdict.state}
