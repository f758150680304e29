"""The replay skeleton's state: the semaphores, flags and threads of model/ that a trace
can show, with page contents abstracted to opaque packets (replay.py says how it is
used)."""

from collections import deque
from dataclasses import dataclass, field
from typing import Optional


SYNC = 0x1                     # MULTIFD_FLAG_SYNC
# Packet events of either version: mapped-ram runs have none (docs/traces.md, Rules per
# QEMU version).
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
    exit_posted: bool = False  # patched: its exit kick was taken before thread_end was logged
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
    exit_posted: bool = False  # patched: its exit post was taken before thread_end was logged


@dataclass
class Skeleton:
    """The model's synchronization state, as far as a trace pair determines it."""

    version: str
    channels: int
    file_mode: bool
    has_src: bool = True
    patched: bool = False        # the series in patches/: a thread that exits posts sem_sync
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
    notes: list = field(default_factory=list)   # what reading the files left out, and why


def live_thread(threads, side, ev):
    """The channel thread logging `ev` (side: "send" or "recv"), which must have started
    and not yet ended."""
    t = threads[ev.ch]
    if not t.started:
        raise Blocked(f"{side}[{ev.ch}] logs {ev.name} before "
                      f"multifd_{side}_thread_start {ev.ch}")
    if t.ended:
        raise Impossible(f"{side}[{ev.ch}] logs {ev.name} after multifd_{side}_thread_end")
    return t


def start_thread(threads, side, ev):
    t = threads[ev.ch]
    if t.started:
        raise Impossible(f"{side}[{ev.ch}] starts twice")
    t.started = True


def check_count(st, ev, traced, faulty):
    handshake = 1 if st.version == "7.2" else 0
    if not faulty and ev.packets != traced + handshake:
        extra = " plus the initial packet" if handshake else ""
        raise Impossible(f"thread_end counts {ev.packets} packets; the trace shows "
                         f"{traced}{extra}")
