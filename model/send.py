"""Send channel thread: multifd_send_thread(), one per channel.

Abstracts multifd_send_thread() at QEMU 9d01778af8e3 (unchanged for sync purposes in
a49d15a38d and v9.0.0), with the mapped-ram write path of f427d90b98 and the zero-page
bitmap clearing of 8fa1a21c6e (docs/protocol.md: Mapped-ram; A send channel thread):

    TOP:         qemu_sem_post(&multifd_send_state->channels_ready)
    IDLE:        qemu_sem_wait(&p->sem)
    DISPATCH:    if exiting: exit; if pending_job: the job; else (pending_sync): the sync
    the job:     socket: write the page packet
                 file:   multifd_set_file_bitmap() sets the page's bit (data) or clears
                         it (zero page); then pwritev() at the page's fixed offset (data,
                         PWRITE)
    JOB_SENT:    store_release(pending_job, false)
    the sync:    socket: write a packet with MULTIFD_FLAG_SYNC (file: nothing is written)
    SYNC_SENT:   pending_sync = false; qemu_sem_post(&p->sem_sync)
    SEND_ERROR:  (fault send-write-error: a write fails) multifd_send_set_error():
                 xchg(exiting, 1), the migration FAILED; multifd_send_kick_main(p): post
                 this channel's p->sem_sync and channels_ready; then EXITED

With channel-create-error a thread starts UNCREATED until multifd_send_setup() creates
it; with --socket-capacity a write blocks in SENDING (sendmsg()) while the socket is full.

Left out: the MultiFDInit_t packet written at thread start, compression and TLS;
zero-copy only as far as its flush in multifd_send_sync_main() (migration.py).
"""

from .machine import Role, row, table_functions
from .state import NO_JOB, add, put
from .transports import SYNC_FLAG, packet_page, packet_version

__all__ = ["ROLE", "STATES", "EXITED"]

STATES = (
    "TOP",        # loop top: about to post channels_ready
    "UNCREATED",  # multifd_send_setup() has not created this channel's thread (yet)
    "IDLE",       # qemu_sem_wait(&p->sem)
    "DISPATCH",   # woken: check exiting, then pending_job, then pending_sync
    "PWRITE",     # file: pwritev() of the page at its fixed offset in flight
    "JOB_SENT",   # page written; about to clear pending_job
    "SYNC_SENT",  # SYNC packet written; about to clear pending_sync and post sem_sync
    "SENDING",    # --socket-capacity: in sendmsg(), blocked while the socket is full
    "SEND_ERROR",  # a write failed: multifd_send_set_error(), multifd_send_kick_main()
    "EXITED",     # returned from multifd_send_thread(); waits to be joined
)
EXITED = STATES.index("EXITED")
UNCREATED = STATES.index("UNCREATED")
TOP = STATES.index("TOP")


def _start(cfg):
    """With channel-create-error, multifd_send_setup() creates the threads (migration.py)."""
    return "UNCREATED" if cfg.fault("channel-create-error") else None

# Where a transaction starts (machine.py): the wait for work, after the posts; and the
# pwritev(), a second non-mover after the bitmap update. (SENDING, a wait, is reached with
# --socket-capacity only, where these declared starts are not used.)
TRANSACTION_STARTS = ("IDLE", "PWRITE")

TRANSITIONS = [
    row("post_channels_ready", "TOP", "IDLE", do="post_channels_ready",
        qemu="multifd_send_thread"),
    row("wait_sem", "IDLE", "DISPATCH", when=["sem_posted"], do="take_sem",
        qemu="multifd_send_thread"),
    row("see_exiting", "DISPATCH", "EXITED", when=["exiting"], trace="log_exit",
        qemu="multifd_send_thread"),
    row("write_page_packet", "DISPATCH", "JOB_SENT", when=["job_pending"],
        unless=["exiting", "mapped_ram", "peer_closed", "bounded_socket"],
        do="write_page_packet", trace="log_page_packet", qemu="multifd_send_thread"),
    row("set_file_bitmap", "DISPATCH", "PWRITE", when=["job_pending", "mapped_ram"],
        unless=["exiting", "zero_page_job"], do="set_file_bitmap",
        qemu="multifd_set_file_bitmap"),
    row("clear_file_bitmap", "DISPATCH", "JOB_SENT",
        when=["job_pending", "mapped_ram", "zero_page_job"], unless=["exiting"],
        do="clear_file_bitmap", qemu="multifd_set_file_bitmap"),
    row("pwrite_page", "PWRITE", "JOB_SENT", do="pwrite_page", qemu="file_write_ramblock_iov"),
    row("clear_pending_job", "JOB_SENT", "TOP", do="clear_pending_job",
        qemu="multifd_send_thread"),
    row("write_sync_packet", "DISPATCH", "SYNC_SENT", when=["sync_pending"],
        unless=["exiting", "job_pending", "mapped_ram", "peer_closed", "bounded_socket"],
        do="write_sync_packet", trace="log_sync_packet", qemu="multifd_send_thread"),
    row("local_sync", "DISPATCH", "SYNC_SENT", when=["sync_pending", "mapped_ram"],
        unless=["exiting", "job_pending"], qemu="multifd_send_thread"),
    row("post_sem_sync", "SYNC_SENT", "TOP", do="post_sem_sync", qemu="multifd_send_thread"),
    # -- --socket-capacity K: sendmsg() blocks while the socket holds K packets; only a
    #    shutdown of the channel (either side) makes it return, with an error
    row("start_page_write", "DISPATCH", "SENDING", when=["job_pending", "bounded_socket"],
        unless=["exiting", "mapped_ram", "peer_closed"], qemu="multifd_send_thread"),
    row("start_sync_write", "DISPATCH", "SENDING", when=["sync_pending", "bounded_socket"],
        unless=["exiting", "job_pending", "mapped_ram", "peer_closed"],
        qemu="multifd_send_thread"),
    row("write_page_packet", "SENDING", "JOB_SENT", when=["job_pending", "socket_has_room"],
        unless=["channel_shut_down"], do="write_page_packet", trace="log_page_packet",
        qemu="qio_channel_writev_full_all"),
    row("write_sync_packet", "SENDING", "SYNC_SENT", when=["sync_pending", "socket_has_room"],
        unless=["job_pending", "channel_shut_down"], do="write_sync_packet",
        trace="log_sync_packet", qemu="qio_channel_write_all"),
    row("sendmsg_fails", "SENDING", "SEND_ERROR", when=["channel_shut_down"],
        qemu="qio_channel_writev_full_all"),
    # -- fault send-write-error: the write of a page or SYNC packet, or the pwritev, fails
    row("page_write_fails", "DISPATCH", "SEND_ERROR", when=["job_pending", "write_error_armed"],
        unless=["exiting", "mapped_ram"], do="use_fault", trace="log_page_packet",
        qemu="multifd_send_thread"),
    row("sync_write_fails", "DISPATCH", "SEND_ERROR", when=["sync_pending", "write_error_armed"],
        unless=["exiting", "job_pending", "mapped_ram"], do="use_fault",
        trace="log_sync_packet", qemu="multifd_send_thread"),
    row("pwrite_fails", "PWRITE", "SEND_ERROR", when=["write_error_armed"], do="use_fault",
        qemu="file_write_ramblock_iov"),
    # -- a write to a socket the destination has shut down fails (EPIPE): no fault needed
    row("write_to_closed_peer", "DISPATCH", "SEND_ERROR", when=["peer_closed"],
        unless=["exiting", "mapped_ram"], trace="log_packet_or_sync",
        qemu="multifd_send_thread"),
    row("set_error", "SEND_ERROR", "EXITED", do=["set_error", "kick_main"],
        trace="log_error_exit", qemu="multifd_send_set_error"),
]


# -- guards ------------------------------------------------------------------------------

def sem_posted(cfg, s, t, c):
    return s.send_sem[t] > 0


def exiting(cfg, s, t, c):
    return s.send_exiting == 1


def job_pending(cfg, s, t, c):
    return s.pending_job[t] == 1


def sync_pending(cfg, s, t, c):
    return s.pending_sync[t] == 1


def mapped_ram(cfg, s, t, c):
    return cfg.mapped_ram


def peer_closed(cfg, s, t, c):
    """The channel has something to write, and the destination shut it down
    (qio_channel_shutdown) or it ended early: the write fails with EPIPE."""
    return s.sock_shut[t] == 1 and (s.pending_job[t] == 1 or s.pending_sync[t] == 1)


def bounded_socket(cfg, s, t, c):
    """--socket-capacity K (K > 0): a socket holds at most K packets unread."""
    return cfg.socket_capacity > 0


def socket_has_room(cfg, s, t, c):
    return len(s.sockets[t]) < cfg.socket_capacity


def channel_shut_down(cfg, s, t, c):
    """qio_channel_shutdown() of this channel by either side: sendmsg() returns an error."""
    return s.send_shut[t] == 1 or s.sock_shut[t] == 1


def write_error_armed(cfg, s, t, c):
    return (cfg.fault("send-write-error") or cfg.fault("network-stall")) and s.faults_left > 0


def zero_page_job(cfg, s, t, c):
    """The page handed over is all zeroes in its round (zero-page-detection=multifd)."""
    job = s.send_job[t]
    return cfg.is_zero(packet_page(job), packet_version(job))


# -- effects -----------------------------------------------------------------------------

def post_channels_ready(cfg, s, t, c):
    return s.replace(channels_ready=s.channels_ready + 1)


def take_sem(cfg, s, t, c):
    return s.replace(send_sem=add(s.send_sem, t, -1))


def _write(s, t, packet):
    return s.replace(sockets=put(s.sockets, t, s.sockets[t] + (packet,)))


def write_page_packet(cfg, s, t, c):
    """qio_channel_writev_full_all(): the packet carrying p->pages."""
    return _write(s, t, s.send_job[t])


def _file_bitmap(s, page, bit):
    """ramblock_set_file_bmap_atomic(); after ram_save_file_bmap() freed it, a use after free."""
    if s.bmap_saved:
        return s.replace(bmap_after_save=1)
    return s.replace(bmap=put(s.bmap, page, bit))


def set_file_bitmap(cfg, s, t, c):
    return _file_bitmap(s, packet_page(s.send_job[t]), 1)


def clear_file_bitmap(cfg, s, t, c):
    return _file_bitmap(s, packet_page(s.send_job[t]), 0)


def pwrite_page(cfg, s, t, c):
    """qio_channel_pwritev() at pages_offset + offset: the page's data of its round."""
    job = s.send_job[t]
    page, version = packet_page(job), packet_version(job)
    stale = s.stale_landed or s.file_data[page] > version
    return s.replace(file_data=put(s.file_data, page, version), stale_landed=int(stale))


def use_fault(cfg, s, t, c):
    """A fault strikes; with network-stall, the network stops delivering (recv.py)."""
    if cfg.fault("network-stall"):
        s = s.replace(net_stalled=1)
    return s.replace(faults_left=s.faults_left - 1)


def set_error(cfg, s, t, c):
    """multifd_send_set_error(): `if (qatomic_xchg(&exiting, 1)) return;` then FAILED."""
    if s.send_exiting:
        return s
    return s.replace(send_exiting=1, send_error=1)


def kick_main(cfg, s, t, c):
    """multifd_send_kick_main(p): post p->sem_sync and channels_ready, for this channel."""
    return s.replace(send_sem_sync=add(s.send_sem_sync, t, 1),
                     channels_ready=s.channels_ready + 1)


def clear_pending_job(cfg, s, t, c):
    return s.replace(send_job=put(s.send_job, t, NO_JOB), pending_job=put(s.pending_job, t, 0))


def write_sync_packet(cfg, s, t, c):
    """p->flags = MULTIFD_FLAG_SYNC; qio_channel_write_all() of an empty packet."""
    return _write(s, t, SYNC_FLAG)


def post_sem_sync(cfg, s, t, c):
    """p->pending_sync = false; qemu_sem_post(&p->sem_sync)."""
    return s.replace(pending_sync=put(s.pending_sync, t, 0),
                      send_sem_sync=add(s.send_sem_sync, t, 1))


# -- what QEMU traces (the rows' trace=, as checks/traces/match.py projects a trace) -----

def log_page_packet(cfg, s, t, c):
    """trace_multifd_send_fill() in multifd_send_fill_packet() (after
    trace_multifd_send_ram_fill()), before the packet of a page job is written."""
    return (("packet",),)


def log_sync_packet(cfg, s, t, c):
    """trace_multifd_send_fill() of the packet with MULTIFD_FLAG_SYNC, before it is written."""
    return (("sync",),)


def log_packet_or_sync(cfg, s, t, c):
    """The packet whose write fails was filled, and traced, first: a page job's or a SYNC."""
    return (("packet",),) if s.pending_job[t] else (("sync",),)


def log_error_exit(cfg, s, t, c):
    """trace_multifd_send_error(id) at multifd_send_thread()'s out: label, then
    trace_multifd_send_thread_end() as it returns."""
    return (("error",), ("end",))


def log_exit(cfg, s, t, c):
    """trace_multifd_send_thread_end(id, packets_sent) as multifd_send_thread() returns."""
    return (("end",),)


ROLE = Role(name="send", doc=__doc__, states=STATES, rows=tuple(TRANSITIONS),
            functions=table_functions(globals()), pc_field="send_pc", per_channel=True,
            thread="send[{t}]", start_if=_start, transaction_starts=TRANSACTION_STARTS)
