"""Recv channel thread: multifd_recv_thread(), one per channel.

Abstracts multifd_recv_thread() at QEMU 9d01778af8e3, with the file mode of a49d15a38d
(docs/protocol.md, A recv channel thread). Socket (packets) mode:

    R1: if exiting: exit
        read a whole packet (qio_channel_read_all_eof); EOF or error: exit
        if it carries pages: ops->recv() reads them into guest RAM
        if flags & MULTIFD_FLAG_SYNC:
            qemu_sem_post(&multifd_recv_state->sem_sync); qemu_sem_wait(&p->sem_sync)

File (mapped-ram) mode:

    F1: qemu_sem_wait(&p->sem)
        if exiting: exit                    (a queued job is dropped)
        if !pending_job: qemu_sem_post(&multifd_recv_state->sem_sync); F1
        multifd_file_recv_data(): pread() of the page into guest RAM
        store_release(pending_job, false); F1

Faults: recv-read-error (a read or pread fails with an Error): the thread runs
multifd_recv_terminate_threads(err): xchg(exiting, 1), then a post of every channel's
p->sem (file) or p->sem_sync (socket) and a shutdown, and exits. It posts no shared
sem_sync. short-read (a pread returns fewer bytes, no Error set): error_prepend() on a
NULL Error crashes the process (P1a). recv-eof (the socket ends early): the thread
leaves quietly, posting nothing.

Left out: the packet checks of multifd_recv_unfill_packet() (magic, sizes, ramblock);
rb->receivedmap, except in the variant that needs it (b12-receivedmap-race).
"""

from .machine import Role, row, table_functions
from .state import NO_PACKET, add, put
from .transports import (EOF_PACKET, packet_has_page, packet_is_sync, packet_page,
                         packet_version)

__all__ = ["ROLE", "STATES", "EXITED", "RECEIVING", "PARKED"]

STATES = (
    "TOP",        # loop top: multifd_recv_state->exiting check
    "READ",       # blocked in qio_channel_read_all_eof()
    "RECEIVING",  # packet header read; its pages being read into guest RAM
    "SYNCING",    # the packet carried MULTIFD_FLAG_SYNC: post the shared sem_sync
    "PARKED",     # qemu_sem_wait(&p->sem_sync) until multifd_recv_sync_main releases it
    "FILE_IDLE",  # file: qemu_sem_wait(&p->sem)
    "FILE_WOKEN",  # file: woken; check exiting, then pending_job
    "READING",    # file: pread() of the job's page into guest RAM in flight
    "READ_ERROR",  # a read failed: multifd_recv_terminate_threads(err)
    "EXITED",     # returned from multifd_recv_thread(); waits to be joined
)
EXITED = STATES.index("EXITED")
RECEIVING = STATES.index("RECEIVING")
PARKED = STATES.index("PARKED")
READING = STATES.index("READING")

# The first state by transport (multifd_recv_thread() takes the file branch from the start).
START = {"socket": "TOP", "file": "FILE_IDLE"}

# Where a transaction starts (machine.py): each blocking read, the park, the wait for
# work, and the pread() (a visible in-flight step, for I1).
TRANSACTION_STARTS = ("READ", "PARKED", "FILE_IDLE", "READING")

TRANSITIONS = [
    row("see_exiting", "TOP", "EXITED", when=["exiting"], trace="log_exit",
        qemu="multifd_recv_thread"),
    row("pass_exiting_check", "TOP", "READ", unless=["exiting"], qemu="multifd_recv_thread"),
    row("read_packet", "READ", "RECEIVING", when=["page_packet_next"], do="take_packet",
        qemu="multifd_recv_thread"),
    row("read_sync_packet", "READ", "SYNCING", when=["sync_packet_next"], do="take_packet",
        qemu="multifd_recv_thread"),
    row("read_eof", "READ", "EXITED", when=["end_of_stream"], trace="log_exit",
        qemu="multifd_recv_thread"),
    row("read_empty_packet", "READ", "TOP", when=["empty_packet_next"], do="drop_packet",
        qemu="multifd_recv_thread"),
    row("write_guest_page", "RECEIVING", "TOP", unless=["sync_flag_held"],
        do="write_guest_page", qemu="multifd_nocomp_recv"),
    row("write_guest_page", "RECEIVING", "SYNCING", when=["sync_flag_held"],
        do="write_guest_page", qemu="multifd_nocomp_recv"),
    row("post_sem_sync", "SYNCING", "PARKED", do="post_sem_sync", qemu="multifd_recv_thread"),
    row("wait_sem_sync", "PARKED", "TOP", when=["released"], do="take_sem_sync",
        qemu="multifd_recv_thread"),
    # -- file (mapped-ram) mode
    row("wait_sem", "FILE_IDLE", "FILE_WOKEN", when=["work_posted"], do="take_sem",
        qemu="multifd_recv_thread"),
    row("see_exiting", "FILE_WOKEN", "EXITED", when=["exiting"], trace="log_exit",
        qemu="multifd_recv_thread"),
    row("post_sem_sync", "FILE_WOKEN", "FILE_IDLE", unless=["exiting", "job_pending"],
        do="post_sem_sync", qemu="multifd_recv_thread"),
    row("start_pread", "FILE_WOKEN", "READING", when=["job_pending"], unless=["exiting"],
        qemu="multifd_file_recv_data"),
    row("finish_pread", "READING", "FILE_IDLE", do=["land_pread", "clear_pending_job"],
        qemu="multifd_file_recv_data"),
    # -- faults
    row("read_fails", "READ", "READ_ERROR", when=["read_error_armed"], do="use_fault",
        qemu="multifd_recv_thread"),
    row("read_early_eof", "READ", "EXITED", when=["early_eof_armed"],
        do=["use_fault", "close_channel"], trace="log_exit", qemu="multifd_recv_thread"),
    row("pread_fails", "READING", "READ_ERROR", when=["read_error_armed"], do="use_fault",
        qemu="multifd_file_recv_data"),
    row("terminate_threads", "READ_ERROR", "EXITED", do="terminate_threads",
        trace="log_error_exit", qemu="multifd_recv_terminate_threads"),
    row("pread_short", "READING", "EXITED", when=["short_read_armed"],
        do=["use_fault", "prepend_to_null_error"], qemu="multifd_file_recv_data"),
]


# -- guards ------------------------------------------------------------------------------

def exiting(cfg, s, t, c):
    return s.recv_exiting == 1


def _next(s, t):
    """The packet the channel delivers next: none while the network is stalled (fault
    network-stall) and the source has not shut the channel down."""
    socket = s.sockets[t]
    if not socket or (s.net_stalled and not s.send_shut[t]):
        return None
    return socket[0]


def page_packet_next(cfg, s, t, c):
    packet = _next(s, t)
    return packet is not None and packet_has_page(packet)


def sync_packet_next(cfg, s, t, c):
    packet = _next(s, t)
    return packet is not None and packet_is_sync(packet) and not packet_has_page(packet)


def empty_packet_next(cfg, s, t, c):
    """A packet with neither pages nor MULTIFD_FLAG_SYNC (QEMU 7.2 sends one after a SYNC
    that rode on a data packet)."""
    return _next(s, t) == 0


def end_of_stream(cfg, s, t, c):
    """The source shut the channel down (EOF after the data), or the destination did."""
    return _next(s, t) == EOF_PACKET or s.sock_shut[t] == 1


def sync_flag_held(cfg, s, t, c):
    return packet_is_sync(s.recv_packet[t])


def released(cfg, s, t, c):
    return s.recv_sem_sync[t] > 0


def read_error_armed(cfg, s, t, c):
    return cfg.fault("recv-read-error") and s.faults_left > 0


def early_eof_armed(cfg, s, t, c):
    """qio_channel_read_all_eof() returns 0 before the stream's end: no Error is set, so
    the thread breaks out without multifd_recv_terminate_threads()."""
    return cfg.fault("recv-eof") and s.faults_left > 0 and not cfg.mapped_ram


def short_read_armed(cfg, s, t, c):
    return cfg.fault("short-read") and s.faults_left > 0


def work_posted(cfg, s, t, c):
    return s.recv_sem[t] > 0


def job_pending(cfg, s, t, c):
    return s.recv_pending_job[t] == 1


# -- effects -----------------------------------------------------------------------------

def take_packet(cfg, s, t, c):
    return s.replace(recv_packet=put(s.recv_packet, t, s.sockets[t][0]),
                      sockets=put(s.sockets, t, s.sockets[t][1:]))


def drop_packet(cfg, s, t, c):
    return s.replace(sockets=put(s.sockets, t, s.sockets[t][1:]))


def write_guest_page(cfg, s, t, c):
    """The page lands in guest RAM; a round-k copy over a later one is recorded."""
    packet = s.recv_packet[t]
    page, version = packet_page(packet), packet_version(packet)
    stale = s.stale_landed or s.ram[page] > version
    keep = packet if packet_is_sync(packet) else NO_PACKET
    return s.replace(ram=put(s.ram, page, version), recv_packet=put(s.recv_packet, t, keep),
                      stale_landed=int(stale))


def post_sem_sync(cfg, s, t, c):
    return s.replace(sem_sync=s.sem_sync + 1, recv_packet=put(s.recv_packet, t, NO_PACKET))


def take_sem_sync(cfg, s, t, c):
    return s.replace(recv_sem_sync=add(s.recv_sem_sync, t, -1))


def use_fault(cfg, s, t, c):
    return s.replace(faults_left=s.faults_left - 1)


def terminate_threads(cfg, s, t, c):
    """multifd_recv_terminate_threads(err): the failing thread wakes every channel."""
    if s.recv_exiting:
        return s
    n = cfg.channels
    wake = {"recv_sem": tuple(v + 1 for v in s.recv_sem)} if cfg.mapped_ram else \
        {"recv_sem_sync": tuple(v + 1 for v in s.recv_sem_sync)}
    return s.replace(recv_exiting=1, sock_shut=(1,) * n, **wake)


def close_channel(cfg, s, t, c):
    """The connection is gone: the source's next write on it fails."""
    return s.replace(sock_shut=put(s.sock_shut, t, 1))


def prepend_to_null_error(cfg, s, t, c):
    """error_prepend(errp, ...) with *errp == NULL: SIGSEGV, the process dies (P1a, P1b)."""
    return s.replace(uncaused_error=1, crashed=1)


def take_sem(cfg, s, t, c):
    return s.replace(recv_sem=add(s.recv_sem, t, -1))


def land_pread(cfg, s, t, c):
    """The page's data, as the file holds it at its offset, is now in guest RAM."""
    page = packet_page(s.recv_packet[t])
    return s.replace(ram=put(s.ram, page, s.file_data[page]))


def clear_pending_job(cfg, s, t, c):
    """data->size = 0; store_release(&p->pending_job, false)."""
    return s.replace(recv_packet=put(s.recv_packet, t, NO_PACKET),
                     recv_pending_job=put(s.recv_pending_job, t, 0))


# -- what QEMU traces (the rows' trace=, as checks/traces/match.py projects a trace) -----

def log_error_exit(cfg, s, t, c):
    """trace_multifd_recv_terminate_threads(1) in multifd_recv_terminate_threads(err), then
    trace_multifd_recv_thread_end() as the thread returns."""
    return (("error",), ("end",))


def log_exit(cfg, s, t, c):
    """trace_multifd_recv_thread_end(id, packets_recved) as multifd_recv_thread() returns."""
    return (("end",),)


ROLE = Role(name="recv", doc=__doc__, states=STATES, rows=tuple(TRANSITIONS),
            functions=table_functions(globals()), pc_field="recv_pc", per_channel=True,
            thread="recv[{t}]", start=START,
            transaction_starts=TRANSACTION_STARTS)
