"""Destination load thread: process_incoming_migration_co() and its bottom half.

Abstracts, at QEMU 9d01778af8e3 with the multifd.c of a49d15a38d (docs/protocol.md: The
load thread; Cleanup and shutdown): ram_load_precopy() reading the main stream in order,
multifd_recv_sync_main(), and on QEMU_VM_EOF the success path of
process_incoming_migration_bh(): multifd_recv_shutdown() (exiting; post each channel;
shut it down), vm_start(), then migration_incoming_state_destroy() ->
multifd_recv_cleanup() (join each recv thread, then free). An error ("Unexpected RAM
flags") takes the `fail:` path instead: the same shutdown and cleanup, without
vm_start().

Per record, with M = mapped-ram:

    MEM_SIZE       parse_ramblocks(); M: parse the bitmap and hand each set page to an
                   idle recv channel as a read job (multifd_recv(), a busy loop over the
                   channels), then multifd_recv_sync_main()
    MULTIFD_FLUSH  M: invalid, an error; else multifd_recv_sync_main()
    EOS            per-section and not M: multifd_recv_sync_main(); else nothing
    QEMU_VM_EOF    the end of the stream: the success path

multifd_recv_sync_main(): socket: N waits on the shared sem_sync, then a post of each
channel's sem_sync; file: a post of each channel's sem, then N waits on sem_sync.

For a file, the destination starts once the source has finished writing it (the
migration is asynchronous): the load thread starts at START and opens the file then.
The seed's parent differs in four guards (variant `parent`): no sync after MEM_SIZE,
FLUSH valid for mapped-ram, a sync on EOS in per-section mode, and a file-mode
multifd_recv_sync_main() that returns at once.

If the source fails, it closes the stream early: the load thread reads STREAM_EOF and
takes the fail: path. When multifd_recv() finds `exiting` set (a recv thread failed while
jobs were still being handed out), read_ramblock_mapped_ram() reports an error nobody
set and the process crashes (P1b).

Left out: device state, the packet_num bookkeeping, other records and their checks.
"""

from .machine import AnyOrder, Role, row, table_functions
from .state import add, first_clear, put
from .transports import EOS, MEM_SIZE, MULTIFD_FLUSH, STREAM_EOF, VM_EOF, page_packet
from . import migration, recv

__all__ = ["ROLE", "STATES", "DONE", "START"]

STATES = (
    "START",          # file: the destination has not started; the file is being written
    "READ_RECORD",    # ram_load_precopy(): qemu_get_be64() of the next record
    "PARSE",          # parse_ramblocks() -> read_ramblock_mapped_ram(): next bitmap bit
    "PICK_CHANNEL",   # multifd_recv(): busy loop for a channel with no pending job
    "RECV_SYNC",      # multifd_recv_sync_main() entry
    "FILE_SYNC_POST",  # multifd_recv_sync_main(), file: qemu_sem_post(&p->sem) per channel
    "SYNC_WAIT",      # multifd_recv_sync_main(): qemu_sem_wait(&multifd_recv_state->sem_sync)
    "SYNC_RELEASE",   # multifd_recv_sync_main(), socket: qemu_sem_post(&p->sem_sync)
    "SHUTDOWN",       # multifd_recv_terminate_threads(): post and shut down each channel
    "VM_START",       # process_incoming_migration_bh(): about to call vm_start()
    "CLEANUP",        # multifd_recv_cleanup(): join each recv thread
    "DONE",           # multifd_recv_cleanup() freed every channel
    "CRASHED",        # the process died (SIGSEGV in error_prepend() on a NULL Error)
)
DONE = STATES.index("DONE")
SYNC_RELEASE = STATES.index("SYNC_RELEASE")
READ_RECORD = STATES.index("READ_RECORD")

# A socket destination reads as the source writes; a file one starts afterwards.
START = {"socket": "READ_RECORD", "file": "START"}

# Where a transaction starts (machine.py): before a read, a busy pick or a join that
# follows a post, and before vm_start(), which the properties observe.
TRANSACTION_STARTS = ("START", "READ_RECORD", "PICK_CHANNEL", "VM_START", "CLEANUP")
# Runs of waits taken as one step (machine.py):
# - multifd_recv_sync_main()'s N waits on multifd_recv_state->sem_sync, which only this
#   thread waits on ("for (i = 0; i < thread_count; i++) { qemu_sem_wait(&multifd_recv_state
#   ->sem_sync); }", no check of `exiting` between them); recv threads only post it;
# - multifd_recv_cleanup()'s joins, "for (i = 0; i < migrate_multifd_channels(); i++) {
#   ... qemu_thread_join(&p->thread); }": each on a recv thread that has returned for
#   good, which no other thread joins; what a join writes (recv_joined, load_i) no other
#   thread reads, and threads_joined_before_free reads recv_joined only once freed.
MERGED_WAITS = ("SYNC_WAIT", "CLEANUP")
# States inside a loop over channels in index order, with load_i the position (Role's
# channel_loops: channel symmetry must respect them); SYNC_WAIT counts waits on the
# shared semaphore, not channels.
CHANNEL_LOOPS = ("FILE_SYNC_POST", "SYNC_RELEASE", "SHUTDOWN", "CLEANUP")

# The loops over channels that run whole inside one transaction: no wait between their
# iterations (channel symmetry relies on it).
ATOMIC_LOOPS = ("FILE_SYNC_POST", "SYNC_RELEASE", "SHUTDOWN")

TRANSITIONS = [
    row("open_file", "START", "READ_RECORD", when=["source_finished"],
        qemu="file_start_incoming_migration"),
    # -- ram_load_precopy(): one record at a time
    row("read_mem_size", "READ_RECORD", "READ_RECORD", when=["next_is_mem_size"],
        unless=["mapped_ram"], do="take_record", qemu="ram_load_precopy"),
    row("read_mem_size", "READ_RECORD", "PARSE", when=["next_is_mem_size", "mapped_ram"],
        do=["take_record", "restart_loop"], qemu="ram_load_precopy"),
    row("read_flush", "READ_RECORD", "RECV_SYNC", when=["next_is_flush"],
        unless=["flush_invalid"], do="take_record", qemu="ram_load_precopy"),
    row("read_unexpected_flag", "READ_RECORD", "SHUTDOWN", when=["next_is_flush", "flush_invalid"],
        do=["take_record", "fail_load", "set_exiting"], qemu="ram_load_precopy"),
    row("read_eos", "READ_RECORD", "RECV_SYNC", when=["next_is_eos", "syncs_on_eos"],
        do="take_record", qemu="ram_load_precopy"),
    row("read_eos", "READ_RECORD", "READ_RECORD", when=["next_is_eos"],
        unless=["syncs_on_eos"], do="take_record", qemu="ram_load_precopy"),
    row("read_vm_eof", "READ_RECORD", "SHUTDOWN", when=["next_is_vm_eof"],
        do=["take_record", "set_exiting"], qemu="qemu_loadvm_state_main"),
    row("read_stream_eof", "READ_RECORD", "SHUTDOWN", when=["next_is_stream_eof"],
        do=["take_record", "fail_load", "set_exiting"], qemu="qemu_loadvm_state"),
    # -- parse_ramblocks(), mapped-ram: a read job per set bit, then sync
    row("skip_clear_page", "PARSE", "PARSE", when=["pages_left"], unless=["page_in_bitmap"],
        do="next_page", qemu="read_ramblock_mapped_ram"),
    row("find_channel", "PARSE", "PICK_CHANNEL", when=["pages_left", "page_in_bitmap"],
        qemu="read_ramblock_mapped_ram"),
    row("queue_read_job", "PICK_CHANNEL", "PARSE", when=["recv_channel_idle"],
        unless=["recv_exiting"], pick=True, do="queue_read_job", qemu="multifd_recv"),
    row("spin_for_idle_channel", "PICK_CHANNEL", "PICK_CHANNEL", when=["recv_channels_busy"],
        unless=["recv_exiting"], qemu="multifd_recv"),
    row("multifd_recv_fails", "PICK_CHANNEL", "CRASHED", when=["recv_exiting"],
        do="prepend_to_null_error", qemu="read_ramblock_mapped_ram"),
    row("sync_after_mem_size", "PARSE", "RECV_SYNC", when=["syncs_after_mem_size"],
        unless=["pages_left"], qemu="ram_load_precopy"),
    row("parse_done", "PARSE", "READ_RECORD", unless=["pages_left", "syncs_after_mem_size"],
        qemu="ram_load_precopy"),
    # -- multifd_recv_sync_main()
    row("sync_socket_channels", "RECV_SYNC", "SYNC_WAIT", unless=["mapped_ram"],
        do="restart_loop", trace="log_first_wait", qemu="multifd_recv_sync_main"),
    row("sync_file_channels", "RECV_SYNC", "FILE_SYNC_POST", when=["mapped_ram", "file_sync_works"],
        do="restart_loop", qemu="multifd_recv_sync_main"),
    row("return_at_once", "RECV_SYNC", "READ_RECORD", when=["mapped_ram"],
        unless=["file_sync_works"], qemu="multifd_recv_sync_main"),
    row("post_channel_sem", "FILE_SYNC_POST", "FILE_SYNC_POST", when=["channels_left"],
        do="post_channel_sem", trace="log_sync_signal", qemu="multifd_recv_sync_main"),
    row("start_waits", "FILE_SYNC_POST", "SYNC_WAIT", unless=["channels_left"],
        do="restart_loop", trace="log_first_wait", qemu="multifd_recv_sync_main"),
    row("wait_sem_sync", "SYNC_WAIT", "SYNC_WAIT", when=["channels_left", "sem_sync_posted"],
        do="take_sem_sync", trace="log_next_wait", qemu="multifd_recv_sync_main"),
    row("start_release", "SYNC_WAIT", "SYNC_RELEASE", unless=["channels_left", "mapped_ram"],
        do="restart_loop", qemu="multifd_recv_sync_main"),
    row("file_sync_done", "SYNC_WAIT", "READ_RECORD", when=["mapped_ram"],
        unless=["channels_left", "load_failed"], qemu="multifd_recv_sync_main"),
    row("fail_after_sync", "SYNC_WAIT", "SHUTDOWN", when=["mapped_ram", "load_failed"],
        unless=["channels_left"], do="set_exiting", qemu="ram_load_precopy"),
    row("release_channel", "SYNC_RELEASE", "SYNC_RELEASE", when=["channels_left"],
        do="release_channel", trace="log_sync_signal", qemu="multifd_recv_sync_main"),
    row("sync_done", "SYNC_RELEASE", "READ_RECORD", unless=["channels_left"],
        qemu="multifd_recv_sync_main"),
    # -- process_incoming_migration_bh() (or the fail: path): shutdown, vm_start, cleanup
    row("kick_channel", "SHUTDOWN", "SHUTDOWN", when=["channels_left"], do="kick_channel",
        qemu="multifd_recv_terminate_threads"),
    row("kicks_done", "SHUTDOWN", "VM_START", unless=["channels_left", "load_failed"],
        qemu="multifd_recv_terminate_threads"),
    row("fail_migration", "SHUTDOWN", "CLEANUP", when=["load_failed"], unless=["channels_left"],
        do="restart_loop", qemu="process_incoming_migration_co"),
    row("vm_start", "VM_START", "CLEANUP", do=["vm_start", "restart_loop"],
        qemu="process_incoming_migration_bh"),
    row("join_recv_thread", "CLEANUP", "CLEANUP",
        when=["channels_left", "recv_thread_exited"], do="join_recv_thread",
        qemu="multifd_recv_cleanup"),
    row("free_recv_state", "CLEANUP", "DONE", unless=["channels_left"],
        do="free_recv_state", qemu="multifd_recv_cleanup"),
]


# -- guards ------------------------------------------------------------------------------

def source_finished(cfg, s, t, c):
    """The file is complete: the source migration ended before the destination starts."""
    return s.mig_pc == migration.DONE


def _next_is(s, record):
    return bool(s.stream) and s.stream[0] == record


def next_is_mem_size(cfg, s, t, c):
    return _next_is(s, MEM_SIZE)


def next_is_flush(cfg, s, t, c):
    return _next_is(s, MULTIFD_FLUSH)


def next_is_eos(cfg, s, t, c):
    return _next_is(s, EOS)


def next_is_vm_eof(cfg, s, t, c):
    return _next_is(s, VM_EOF)


def next_is_stream_eof(cfg, s, t, c):
    return _next_is(s, STREAM_EOF)


def recv_exiting(cfg, s, t, c):
    return s.recv_exiting == 1


def mapped_ram(cfg, s, t, c):
    return cfg.mapped_ram


def flush_invalid(cfg, s, t, c):
    """Seed: mapped-ram adds MULTIFD_FLUSH (with HOOK, PAGE, XBZRLE, ZERO) to invalid_flags."""
    return cfg.mapped_ram


def syncs_on_eos(cfg, s, t, c):
    """Seed: `migrate_multifd_flush_after_each_section() && !migrate_mapped_ram()`."""
    return not cfg.per_round and not cfg.mapped_ram


def syncs_after_mem_size(cfg, s, t, c):
    """Seed: `case RAM_SAVE_FLAG_MEM_SIZE: ... if (migrate_mapped_ram()) multifd_recv_sync_main()`."""
    return True


def file_sync_works(cfg, s, t, c):
    """a49d15a38d: multifd_recv_sync_main() syncs file channels (the seed returned early)."""
    return True


def load_failed(cfg, s, t, c):
    return s.load_error == 1


def pages_left(cfg, s, t, c):
    return s.load_i < cfg.pages


def page_in_bitmap(cfg, s, t, c):
    return s.bmap[s.load_i] == 1


def recv_channel_idle(cfg, s, t, c):
    """p->pending_job is clear; with --pick round-robin, c is the scan's own choice (as
    migration.channel_idle)."""
    if s.recv_pending_job[c]:
        return False
    return not cfg.round_robin or c == first_clear(s.recv_pending_job, s.next_recv_channel)


def recv_channels_busy(cfg, s, t, c):
    return all(s.recv_pending_job)


def channels_left(cfg, s, t, c):
    return s.load_i < cfg.channels


def sem_sync_posted(cfg, s, t, c):
    return s.sem_sync > 0


def recv_thread_exited(cfg, s, t, c):
    return s.recv_pc[s.load_i] == recv.EXITED


# -- effects -----------------------------------------------------------------------------

def take_record(cfg, s, t, c):
    record = s.stream[0]
    invalid = cfg.mapped_ram and record == MULTIFD_FLUSH
    return s.replace(stream=s.stream[1:],
                     invalid_record_read=s.invalid_record_read or int(invalid))


def prepend_to_null_error(cfg, s, t, c):
    """read_ramblock_mapped_ram() err: qemu_file_get_error_obj() leaves *errp NULL, and
    error_prepend() dereferences it: SIGSEGV (P1b)."""
    return s.replace(uncaused_error=1, crashed=1)


def fail_load(cfg, s, t, c):
    """error_report("Unexpected RAM flags: %d"); ret = -EINVAL."""
    return s.replace(load_error=1)


def restart_loop(cfg, s, t, c):
    if cfg.any_order:
        return s.replace(load_i=0, load_seen=(0,) * cfg.channels)
    return s.replace(load_i=0)


def next_page(cfg, s, t, c):
    return s.replace(load_i=s.load_i + 1)


def queue_read_job(cfg, s, t, c):
    """multifd_recv(): swap the job into p->data; store_release(pending_job); post p->sem."""
    s = s.replace(recv_packet=put(s.recv_packet, c, page_packet(s.load_i, 0)),
                  recv_pending_job=put(s.recv_pending_job, c, 1),
                  recv_sem=add(s.recv_sem, c, 1), load_i=s.load_i + 1)
    return s.replace(next_recv_channel=(c + 1) % cfg.channels) if cfg.round_robin else s


def post_channel_sem(cfg, s, t, c):
    i = s.load_i
    return s.replace(recv_sem=add(s.recv_sem, i, 1), load_i=i + 1)


def take_sem_sync(cfg, s, t, c):
    return s.replace(sem_sync=s.sem_sync - 1, load_i=s.load_i + 1)


def release_channel(cfg, s, t, c):
    i = s.load_i
    return s.replace(recv_sem_sync=add(s.recv_sem_sync, i, 1), load_i=i + 1)


def set_exiting(cfg, s, t, c):
    return s.replace(recv_exiting=1, load_i=0)


def kick_channel(cfg, s, t, c):
    """Post p->sem (file) or p->sem_sync (socket); qio_channel_shutdown(p->c)."""
    i = s.load_i
    if cfg.mapped_ram:
        s = s.replace(recv_sem=add(s.recv_sem, i, 1))
    else:
        s = s.replace(recv_sem_sync=add(s.recv_sem_sync, i, 1))
    return s.replace(sock_shut=put(s.sock_shut, i, 1), load_i=i + 1)


def vm_start(cfg, s, t, c):
    return s.replace(vm_running=1)


def join_recv_thread(cfg, s, t, c):
    i = s.load_i
    return s.replace(recv_joined=put(s.recv_joined, i, 1), load_i=i + 1)


def free_recv_state(cfg, s, t, c):
    return s.replace(recv_freed=1)


# -- what QEMU traces (the rows' trace=, as checks/traces/match.py projects a trace) -----

def log_sync_signal(cfg, s, t, c):
    """trace_multifd_recv_sync_main_signal(i) in multifd_recv_sync_main(), before it posts
    channel i: its p->sem (file) or its p->sem_sync (socket, releasing the park)."""
    return (("signal", s.load_i),)


def log_first_wait(cfg, s, t, c):
    """trace_multifd_recv_sync_main_wait(0) in multifd_recv_sync_main(), before its first
    wait on multifd_recv_state->sem_sync."""
    return (("wait", 0),)


def log_next_wait(cfg, s, t, c):
    """trace_multifd_recv_sync_main_wait(i + 1) before the next wait on sem_sync, once
    wait i has returned; none after the last."""
    i = s.load_i + 1
    return (("wait", i),) if i < cfg.channels else ()


# -- --loops any (ANY_ORDER below): a join may take any exited channel not yet joined

def picked_exited(cfg, s, t, c):
    return s.recv_pc[c] == recv.EXITED


def join_picked(cfg, s, t, c):
    return s.replace(recv_joined=put(s.recv_joined, c, 1), load_seen=put(s.load_seen, c, 1))


# --loops any: multifd_recv_cleanup() joins the channels in any order. The load
# thread's other loops over channels run whole inside one transaction (machine.py), and
# its sync wait loop counts posts of one shared semaphore.
ANY_ORDER = AnyOrder(
    seen="load_seen",
    states=("CLEANUP",),
    picks={"join_recv_thread": ()},
    pick_names={"recv_thread_exited": "picked_exited", "join_recv_thread": "join_picked"},
    names={})


ROLE = Role(name="load", doc=__doc__, states=STATES, rows=tuple(TRANSITIONS),
            functions=table_functions(globals()), pc_field="load_pc", per_channel=False,
            thread="load", transaction_starts=TRANSACTION_STARTS, start=START,
            merged_waits=MERGED_WAITS,
            loop_index="load_i", channel_loops=CHANNEL_LOOPS, atomic_loops=ATOMIC_LOOPS,
            any_order=ANY_ORDER)
