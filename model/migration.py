"""Source migration thread: the RAM side of migration_thread(), at the seed design.

Abstracts, at QEMU 9d01778af8e3 (ram.c) with the multifd.c of a49d15a38d:
ram_save_setup(), ram_save_iterate() / find_dirty_block(), ram_save_complete(),
multifd_send_pages() (one page per job), multifd_send_sync_main(), and the
migrate_fd_cleanup() -> multifd_send_shutdown() that follows (run here by the same
actor; in QEMU the main loop runs it after joining the migration thread).

Shape of a run (docs/protocol.md, The migration thread), R dirty rounds of P pages.
With M = mapped-ram, the seed's rules are: FLUSH records only for per-round sockets; the
wrap sync when per-round or M; the per-section sync only without M.

    setup:     MEM_SIZE, SYNC, [per-round and not M: MULTIFD_FLUSH], EOS
    round r:   queue P pages; at the scan wrap [per-round or M: SYNC,
               [not M: MULTIFD_FLUSH]]; [per-section and not M: SYNC]; EOS;
               then the bitmap sync re-dirties every page
    complete:  SYNC, [M: ram_save_file_bmap()], [per-round and not M: MULTIFD_FLUSH],
               EOS, QEMU_VM_EOF
    cleanup:   exiting := 1; post each p->sem and shut each channel down; join; free

The ram.c before the seed (variant `parent`) differs only in those three guards:
flush_record, syncs_at_wrap and syncs_per_section ignore mapped-ram.

On a multifd failure (a send thread set `exiting`), multifd_send_pages() or
multifd_send_sync_main() returns an error, migration_thread() leaves, and the cleanup
runs as above, then qemu_fclose() closes the main stream: the destination reads its
end early.

Left out: the MultiFDInit_t handshake and channel creation (all channels exist from the
start), and the fill buffer (each job is one page, so the flush at the top of
multifd_send_sync_main() finds it empty).
"""

from .machine import AnyOrder, Role, row, table_functions
from .state import add, first_clear, put, touch_channel
from .transports import EOF_PACKET, EOS, MEM_SIZE, MULTIFD_FLUSH, STREAM_EOF, VM_EOF, page_packet
from . import send

__all__ = ["ROLE", "STATES", "CALLERS"]

STATES = (
    "SETUP",            # ram_save_setup(): about to write the block list
    "CREATE",           # multifd_send_setup(): init and create each channel (fault layer
                        # channel-create-error only; otherwise every channel exists)
    "WAIT_CREATED",     # multifd_send_setup(): qemu_sem_wait(&channels_created) per channel
    "SETUP_FAILED",     # multifd_send_setup() returned false
    "SYNC_REQUEST",     # multifd_send_sync_main() phase A: request a sync per channel
    "SYNC_COLLECT",     # phase B loop top: multifd_send_should_exit() check
    "SYNC_WAIT_READY",  # phase B: qemu_sem_wait(&multifd_send_state->channels_ready)
    "SYNC_WAIT_SYNC",   # phase B: qemu_sem_wait(&p->sem_sync)
    "MULTIFD_FAILED",   # multifd_send_sync_main() or multifd_send_pages() failed
    "SETUP_SYNCED",     # ram_save_setup() after its sync
    "SETUP_FLUSHED",    # ram_save_setup() after MULTIFD_FLUSH
    "ITERATE",          # ram_find_and_save_block(): next dirty page, or the scan wraps
    "PICK",             # multifd_send_pages(): busy loop for a channel with no pending job
    "WRAP_SYNCED",      # find_dirty_block() after the wrap sync
    "ROUND_END",        # ram_save_iterate() at its out: label
    "SECTION_SYNCED",   # ram_save_iterate() after the per-section sync
    "ROUND_DONE",       # between iterations: migration_bitmap_sync_precopy() or complete
    "COMPLETE_SYNCED",  # ram_save_complete() after its sync
    "BITMAP_SAVED",     # ram_save_complete() after ram_save_file_bmap() (mapped-ram)
    "COMPLETE_FLUSHED",  # ram_save_complete() after MULTIFD_FLUSH
    "COMPLETED",        # qemu_savevm_state_complete_precopy(): RAM done
    "CLEANUP",          # migrate_fd_cleanup() -> multifd_send_shutdown()
    "SHUTDOWN",         # multifd_send_terminate_threads(): post each p->sem
    "JOIN",             # multifd_send_terminate_threads(): join each send thread
    "DONE",             # multifd_send_cleanup_state() freed everything
)

DONE = STATES.index("DONE")
SYNC_COLLECT = STATES.index("SYNC_COLLECT")
# migration_is_running(): the states before cleanup starts.
RUNNING = frozenset(i for i, name in enumerate(STATES) if name not in
                    ("CLEANUP", "SHUTDOWN", "JOIN", "DONE", "MULTIFD_FAILED", "SETUP_FAILED"))

# Who called multifd_send_sync_main(), so that the sync returns to the right place.
CALLERS = ("setup", "wrap", "section", "complete")
SETUP, WRAP, SECTION, COMPLETE = range(len(CALLERS))

# Where a transaction starts (machine.py): before a wait that follows a post, and before
# `exiting := 1`, which other threads read.
TRANSACTION_STARTS = ("SYNC_WAIT_READY", "ITERATE", "CLEANUP", "JOIN", "WAIT_CREATED")
# Runs of waits taken as one step (machine.py):
# - multifd_send_sync_main()'s collect of a channel, "qemu_sem_wait(&multifd_send_state->
#   channels_ready); ... qemu_sem_wait(&p->sem_sync);", two semaphores only this thread
#   waits on; send threads (and multifd_send_kick_main() on error) only post them;
# - multifd_send_terminate_threads()'s joins, "for (i = 0; i < migrate_multifd_channels();
#   i++) { ... qemu_thread_join(&p->thread); }": each waits on a thread that has returned
#   for good, which no other thread joins, and no other thread reads what a join writes
#   (send_joined, mig_i; threads_joined_before_free reads send_joined only once the state
#   is freed, by the row that leaves the run).
MERGED_WAITS = ("SYNC_WAIT_READY", "SYNC_WAIT_SYNC", "JOIN")
# With no fault layer on, phase B's loop top joins its waits (machine.py `quiet_waits`):
# "if (multifd_send_should_exit()) { return -1; }" reads `exiting`, which then only this
# thread sets (in migrate_fd_cleanup(), after the sync returned); a send thread sets it
# only on an error (multifd_send_set_error(): a write that fails, under a fault layer or
# to a peer that shut its socket down), the monitor only on a cancel; and
# `_quiet_undisturbed` checks on every state that it is not set while this thread waits
# at the collect's top (model/machine.py `quiet_holds`). The run reads nothing else
# another thread writes but the two semaphores, and its own mig_i and mig_caller; not
# with zero-copy-send, whose flush of each channel reads the channel's pending_job and
# pending_sync (`_quiet`). So the collect of every channel is one step, taken when every
# channel has posted channels_ready and its p->sem_sync, and no state has the loop part
# way. (SPIN's anchor takes each channel's collect as one step, and leaves the check out
# where no fault can set `exiting`.)
QUIET_WAITS = ("SYNC_COLLECT",)


def _quiet_undisturbed(cfg, s) -> bool:
    """What the quiet wait rests on, at a state: the migration thread waiting at the
    collect's top finds `exiting` clear (no other thread set it while it waits there; a
    state that breaks this makes the run start over with the check its own step)."""
    return not (s.mig_pc == SYNC_COLLECT and s.send_exiting)


def _quiet(cfg) -> bool:
    """Whether QUIET_WAITS join the runs of waits: no fault layer, no zero-copy flush,
    and QEMU's loop order (with --loops any the collect picks its channels, and one step
    would take every order of them, each to the same state)."""
    return not cfg.faults and not cfg.zero_copy and not cfg.any_order


# States inside a loop over channels in index order, with mig_i the position: symmetry
# may only permute channels on the same side of mig_i there (Role's channel_loops).
CHANNEL_LOOPS = ("CREATE", "WAIT_CREATED", "SYNC_REQUEST", "SYNC_COLLECT", "SYNC_WAIT_READY",
                 "SYNC_WAIT_SYNC", "SHUTDOWN", "JOIN")

# The loops over channels that run whole inside one transaction: no wait between their
# iterations (channel symmetry relies on it).
ATOMIC_LOOPS = ("CREATE", "SYNC_REQUEST", "SHUTDOWN")

TRANSITIONS = [
    # -- multifd_send_setup() (with the channel-create-error fault layer)
    row("create_channel", "CREATE", "CREATE", when=["channels_left"], do="create_channel",
        qemu="multifd_send_setup"),
    row("create_channel_fails", "CREATE", "CREATE", when=["channels_left", "create_error_armed"],
        unless=["mapped_ram"], do="socket_create_fails", qemu="multifd_new_send_channel_async"),
    row("create_file_channel_fails", "CREATE", "SETUP_FAILED",
        when=["channels_left", "create_error_armed", "mapped_ram"], do="file_create_fails",
        qemu="multifd_send_setup"),
    row("all_created", "CREATE", "WAIT_CREATED", unless=["channels_left"], do="restart_loop",
        qemu="multifd_send_setup"),
    row("wait_channel_created", "WAIT_CREATED", "WAIT_CREATED",
        when=["channels_left", "channel_created_posted"], do="take_channel_created",
        qemu="multifd_send_setup"),
    row("setup_done", "WAIT_CREATED", "SETUP", unless=["channels_left", "setup_has_failed"],
        do="restart_loop", qemu="multifd_send_setup"),
    row("setup_fails", "WAIT_CREATED", "SETUP_FAILED", when=["setup_has_failed"],
        unless=["channels_left"], qemu="multifd_send_setup"),
    row("abandon_migration", "SETUP_FAILED", "CLEANUP", qemu="migration_thread"),
    # -- ram_save_setup()
    row("put_mem_size", "SETUP", "SYNC_REQUEST", do=["put_mem_size", "call_from_setup"],
        qemu="ram_save_setup"),
    row("put_flush", "SETUP_SYNCED", "SETUP_FLUSHED", when=["flush_record"], do="put_flush",
        qemu="ram_save_setup"),
    row("put_eos", "SETUP_SYNCED", "ITERATE", unless=["flush_record"],
        do=["put_eos", "start_round"], qemu="ram_save_setup"),
    row("put_eos", "SETUP_FLUSHED", "ITERATE", do=["put_eos", "start_round"],
        qemu="ram_save_setup"),
    # -- multifd_send_sync_main(), phase A: for each channel, request a sync
    row("sync_sees_exiting", "SYNC_REQUEST", "MULTIFD_FAILED",
        when=["channels_left", "send_exiting"], qemu="multifd_send_sync_main"),
    row("request_sync", "SYNC_REQUEST", "SYNC_REQUEST", when=["channels_left"],
        unless=["send_exiting"], do="request_sync", trace="log_sync_signal",
        qemu="multifd_send_sync_main"),
    row("start_collect", "SYNC_REQUEST", "SYNC_COLLECT", unless=["channels_left"],
        do="restart_loop", qemu="multifd_send_sync_main"),
    # -- phase B: for each channel, wait channels_ready, then its sem_sync
    row("sync_sees_exiting", "SYNC_COLLECT", "MULTIFD_FAILED",
        when=["channels_left", "send_exiting"], qemu="multifd_send_sync_main"),
    row("pass_exiting_check", "SYNC_COLLECT", "SYNC_WAIT_READY", when=["channels_left"],
        unless=["send_exiting"], qemu="multifd_send_sync_main"),
    row("wait_channels_ready", "SYNC_WAIT_READY", "SYNC_WAIT_SYNC", when=["channel_ready"],
        do="take_channel_ready", trace="log_sync_wait", qemu="multifd_send_sync_main"),
    row("wait_sem_sync", "SYNC_WAIT_SYNC", "SYNC_COLLECT", when=["sem_sync_posted"],
        do=["zero_copy_flush", "take_sem_sync"], qemu="multifd_send_sync_main"),
    # -- return from multifd_send_sync_main() to its caller
    row("return_to_setup", "SYNC_COLLECT", "SETUP_SYNCED", when=["called_from_setup"],
        unless=["channels_left"], trace="log_sync_done", qemu="ram_save_setup"),
    row("return_to_wrap", "SYNC_COLLECT", "WRAP_SYNCED", when=["called_from_wrap"],
        unless=["channels_left"], trace="log_sync_done", qemu="find_dirty_block"),
    row("return_to_section", "SYNC_COLLECT", "SECTION_SYNCED", when=["called_from_section"],
        unless=["channels_left"], trace="log_sync_done", qemu="ram_save_iterate"),
    row("return_to_complete", "SYNC_COLLECT", "COMPLETE_SYNCED", when=["called_from_complete"],
        unless=["channels_left"], trace="log_sync_done", qemu="ram_save_complete"),
    # -- ram_save_iterate(): queue each dirty page (multifd_queue_page -> multifd_send_pages)
    row("send_pages_sees_exiting", "ITERATE", "MULTIFD_FAILED",
        when=["pages_left", "send_exiting"], qemu="multifd_send_pages"),
    row("wait_channels_ready", "ITERATE", "PICK", when=["pages_left", "channel_ready"],
        unless=["send_exiting"], do="take_channel_ready", qemu="multifd_send_pages"),
    row("queue_page", "PICK", "ITERATE", when=["channel_idle"], unless=["send_exiting"],
        do="queue_page", pick=True, qemu="multifd_send_pages"),
    row("spin_for_idle_channel", "PICK", "PICK", when=["all_channels_busy"],
        unless=["send_exiting"], qemu="multifd_send_pages"),
    row("pick_sees_exiting", "PICK", "MULTIFD_FAILED", when=["send_exiting"],
        qemu="multifd_send_pages"),
    row("abandon_migration", "MULTIFD_FAILED", "CLEANUP", qemu="migration_thread"),
    # -- find_dirty_block(): the scan walks off the last block
    row("wrap_sync", "ITERATE", "SYNC_REQUEST", when=["syncs_at_wrap"], unless=["pages_left"],
        do="call_from_wrap", qemu="find_dirty_block"),
    row("put_flush", "WRAP_SYNCED", "ROUND_END", when=["flush_record"], do="put_flush",
        qemu="find_dirty_block"),
    row("skip_flush", "WRAP_SYNCED", "ROUND_END", unless=["flush_record"],
        qemu="find_dirty_block"),
    row("wrap", "ITERATE", "ROUND_END", unless=["pages_left", "syncs_at_wrap"],
        qemu="find_dirty_block"),
    # -- ram_save_iterate(), out: label
    row("section_sync", "ROUND_END", "SYNC_REQUEST", when=["syncs_per_section"],
        do="call_from_section", qemu="ram_save_iterate"),
    row("put_eos", "ROUND_END", "ROUND_DONE", unless=["syncs_per_section"], do="put_eos",
        qemu="ram_save_iterate"),
    row("put_eos", "SECTION_SYNCED", "ROUND_DONE", do="put_eos", qemu="ram_save_iterate"),
    # -- between iterations: the bitmap sync re-dirties every page; or complete
    row("iteration_sees_error", "ROUND_DONE", "CLEANUP", when=["stream_error"],
        qemu="migration_iteration_run"),
    row("bitmap_sync", "ROUND_DONE", "ITERATE", when=["rounds_left"], unless=["stream_error"],
        do="start_round", qemu="migration_bitmap_sync_precopy"),
    row("complete_sync", "ROUND_DONE", "SYNC_REQUEST", unless=["rounds_left", "stream_error"],
        do="call_from_complete", qemu="ram_save_complete"),
    # -- ram_save_complete()
    row("save_file_bmap", "COMPLETE_SYNCED", "BITMAP_SAVED", when=["mapped_ram"],
        do="save_file_bmap", qemu="ram_save_file_bmap"),
    row("skip_file_bmap", "COMPLETE_SYNCED", "BITMAP_SAVED", unless=["mapped_ram"],
        qemu="ram_save_complete"),
    row("put_flush", "BITMAP_SAVED", "COMPLETE_FLUSHED", when=["flush_record"],
        do="put_flush", qemu="ram_save_complete"),
    row("put_eos", "BITMAP_SAVED", "COMPLETED", unless=["flush_record"], do="put_eos",
        qemu="ram_save_complete"),
    row("put_eos", "COMPLETE_FLUSHED", "COMPLETED", do="put_eos", qemu="ram_save_complete"),
    row("put_vm_eof", "COMPLETED", "CLEANUP", do="put_vm_eof",
        qemu="qemu_savevm_state_complete_precopy"),
    # -- migrate_fd_cleanup() -> multifd_send_shutdown() -> multifd_send_terminate_threads()
    row("set_exiting", "CLEANUP", "SHUTDOWN", do="set_exiting",
        qemu="multifd_send_terminate_threads"),
    row("kick_channel", "SHUTDOWN", "SHUTDOWN", when=["channels_left"], do="kick_channel",
        qemu="multifd_send_terminate_threads"),
    row("start_joins", "SHUTDOWN", "JOIN", unless=["channels_left"], do="restart_loop",
        qemu="multifd_send_terminate_threads"),
    row("join_send_thread", "JOIN", "JOIN", when=["channels_left", "send_thread_exited"],
        do="join_send_thread", qemu="multifd_send_terminate_threads"),
    row("skip_uncreated_thread", "JOIN", "JOIN", when=["channels_left", "send_thread_uncreated"],
        do="skip_join", qemu="multifd_send_terminate_threads"),
    row("free_send_state", "JOIN", "DONE", unless=["channels_left"],
        do=["free_send_state", "close_stream_on_error"], qemu="multifd_send_cleanup_state"),
]


# -- guards ------------------------------------------------------------------------------

def mapped_ram(cfg, s, t, c):
    return cfg.mapped_ram


def stream_error(cfg, s, t, c):
    """qemu_file_get_error(s->to_dst_file): the stream was shut down (migrate_cancel)."""
    return s.stream_shut == 1


def flush_record(cfg, s, t, c):
    """Seed: `!migrate_multifd_flush_after_each_section() && !migrate_mapped_ram()`."""
    return cfg.per_round and not cfg.mapped_ram


def syncs_at_wrap(cfg, s, t, c):
    """Seed: `!migrate_multifd_flush_after_each_section() || migrate_mapped_ram()`."""
    return cfg.per_round or cfg.mapped_ram


def syncs_per_section(cfg, s, t, c):
    """Seed: `migrate_multifd_flush_after_each_section() && !migrate_mapped_ram()`."""
    return not cfg.per_round and not cfg.mapped_ram


def channels_left(cfg, s, t, c):
    return s.mig_i < cfg.channels


def send_exiting(cfg, s, t, c):
    return s.send_exiting == 1


def channel_ready(cfg, s, t, c):
    return s.channels_ready > 0


def sem_sync_posted(cfg, s, t, c):
    return s.send_sem_sync[s.mig_i] > 0


def pages_left(cfg, s, t, c):
    return s.mig_page < cfg.pages


def rounds_left(cfg, s, t, c):
    return s.mig_round < cfg.rounds


def channel_idle(cfg, s, t, c):
    """p->pending_job is clear. With --pick round-robin, c is also the first such channel
    from next_channel on: the scan's own choice. The scan reads one channel at a time, but
    only this thread sets pending_job, so a channel it finds clear stays clear; one that
    clears behind the scan is the same as one that clears just after the pick, and a
    channel that clears while the scan spins is the only one clear when it clears (each
    send thread's clear is a step of its own). So the scan as one step finds every channel
    the busy loop can find."""
    if s.pending_job[c]:
        return False
    return not cfg.round_robin or c == first_clear(s.pending_job, s.next_channel)


def create_error_armed(cfg, s, t, c):
    return cfg.fault("channel-create-error") and s.faults_left > 0


def channel_created_posted(cfg, s, t, c):
    return s.channels_created > 0


def setup_has_failed(cfg, s, t, c):
    return s.setup_failed == 1


def send_thread_uncreated(cfg, s, t, c):
    return s.send_pc[s.mig_i] == send.UNCREATED


def all_channels_busy(cfg, s, t, c):
    """The busy loop over the channels finds none with pending_job clear (it spins)."""
    return all(s.pending_job)


def send_thread_exited(cfg, s, t, c):
    return s.send_pc[s.mig_i] == send.EXITED


def called_from_setup(cfg, s, t, c):
    return s.mig_caller == SETUP


def called_from_wrap(cfg, s, t, c):
    return s.mig_caller == WRAP


def called_from_section(cfg, s, t, c):
    return s.mig_caller == SECTION


def called_from_complete(cfg, s, t, c):
    return s.mig_caller == COMPLETE


# -- effects -----------------------------------------------------------------------------

def _put(s, record):
    """qemu_put_be64() on the main stream; after a shutdown the write is lost."""
    return s if s.stream_shut else s.replace(stream=s.stream + (record,))


def put_mem_size(cfg, s, t, c):
    return _put(s, MEM_SIZE)


def put_flush(cfg, s, t, c):
    return _put(s, MULTIFD_FLUSH)


def put_eos(cfg, s, t, c):
    return _put(s, EOS)


def put_vm_eof(cfg, s, t, c):
    return _put(s, VM_EOF)


def _call_sync(s, caller):
    return s.replace(mig_caller=caller, mig_i=0)


def call_from_setup(cfg, s, t, c):
    return _call_sync(s, SETUP)


def call_from_wrap(cfg, s, t, c):
    return _call_sync(s, WRAP)


def call_from_section(cfg, s, t, c):
    return _call_sync(s, SECTION)


def call_from_complete(cfg, s, t, c):
    return _call_sync(s, COMPLETE)


def restart_loop(cfg, s, t, c):
    if cfg.any_order:
        return s.replace(mig_i=0, mig_seen=(0,) * cfg.channels)
    return s.replace(mig_i=0)


# -- --loops any (ANY_ORDER below): each iteration picks channel c among those unvisited

def picked_exited(cfg, s, t, c):
    return s.send_pc[c] == send.EXITED


def picked_uncreated(cfg, s, t, c):
    return s.send_pc[c] == send.UNCREATED


def visit_picked(cfg, s, t, c):
    """The wait loop's iteration is now channel c's, until take_sem_sync_and_visit."""
    return s.replace(mig_i=c)


def take_sem_sync_and_visit(cfg, s, t, c):
    i = s.mig_i
    return s.replace(send_sem_sync=add(s.send_sem_sync, i, -1),
                     mig_seen=put(s.mig_seen, i, 1), mig_i=0)


def join_picked(cfg, s, t, c):
    return s.replace(send_joined=put(s.send_joined, c, 1), mig_seen=put(s.mig_seen, c, 1))


def skip_picked(cfg, s, t, c):
    return s.replace(mig_seen=put(s.mig_seen, c, 1))


def request_sync(cfg, s, t, c):
    """p->pending_sync = true; qemu_sem_post(&p->sem)."""
    i = s.mig_i
    return s.replace(pending_sync=put(s.pending_sync, i, 1),
                      send_sem=add(s.send_sem, i, 1), mig_i=i + 1)


def zero_copy_flush(cfg, s, t, c):
    """zero-copy-send: qio_channel_flush(p->c) for the channel just collected; a flush
    while the channel still has a request to send misses it (B7)."""
    return _flush(cfg, s, s.mig_i)


def _flush(cfg, s, i):
    if cfg.zero_copy and (s.pending_job[i] or s.pending_sync[i]):
        return s.replace(flushed_before_sent=1)
    return s


def take_channel_ready(cfg, s, t, c):
    return s.replace(channels_ready=s.channels_ready - 1)


def take_sem_sync(cfg, s, t, c):
    i = s.mig_i
    return s.replace(send_sem_sync=add(s.send_sem_sync, i, -1), mig_i=i + 1)


def start_round(cfg, s, t, c):
    return s.replace(mig_round=s.mig_round + 1, mig_page=0)


def queue_page(cfg, s, t, c):
    """Swap the page into p->pages; store_release(pending_job, true); post p->sem."""
    job = page_packet(s.mig_page, s.mig_round)
    s = s.replace(send_job=put(s.send_job, c, job), pending_job=put(s.pending_job, c, 1),
                  send_sem=add(s.send_sem, c, 1), mig_page=s.mig_page + 1)
    return s.replace(next_channel=(c + 1) % cfg.channels) if cfg.round_robin else s


def save_file_bmap(cfg, s, t, c):
    """ram_save_file_bmap(): write file_bmap at block->bitmap_offset, then g_free() it."""
    return s.replace(bmap_saved=1)


def _channel_settled(s, **changes):
    """Channel mig_i had qemu_sem_init() of its semaphores, and its creation path posted
    channels_created once (success or failure); the setup loop moves on."""
    i = s.mig_i
    return s.replace(channel_inited=put(s.channel_inited, i, 1),
                     channels_created=s.channels_created + 1, mig_i=i + 1, **changes)


def create_channel(cfg, s, t, c):
    """The thread is created (multifd_new_send_channel_async() or file_send_channel_create())."""
    return _channel_settled(s, send_pc=put(s.send_pc, s.mig_i, send.TOP))


def socket_create_fails(cfg, s, t, c):
    """The async connect fails: multifd_send_set_error(), and no thread."""
    s = _channel_settled(s, faults_left=s.faults_left - 1)
    return s if s.send_exiting else s.replace(send_exiting=1, send_error=1)


def file_create_fails(cfg, s, t, c):
    """file_send_channel_create() fails; the seed then returns false at once, leaving the
    later channels uninitialized (B13)."""
    return _channel_settled(s, faults_left=s.faults_left - 1, setup_failed=1)


def take_channel_created(cfg, s, t, c):
    return s.replace(channels_created=s.channels_created - 1, mig_i=s.mig_i + 1)


def skip_join(cfg, s, t, c):
    """`if (p->thread_created)`: a thread never created is not joined."""
    return s.replace(mig_i=s.mig_i + 1)


def set_exiting(cfg, s, t, c):
    return s.replace(send_exiting=1, mig_i=0)


def kick_channel(cfg, s, t, c):
    """qemu_sem_post(&p->sem); qio_channel_shutdown(p->c): the peer reads EOF. A channel
    whose semaphores were never initialized fails `Assertion 'mutex->initialized'` (B13)."""
    i = s.mig_i
    if not s.channel_inited[i]:
        return s.replace(uninit_touched=1, crashed=1)
    s = touch_channel(s, i)
    if cfg.socket_capacity or cfg.fault("network-stall"):     # what only they can see
        s = s.replace(send_shut=put(s.send_shut, i, 1))
    return s.replace(send_sem=add(s.send_sem, i, 1),
                     sockets=put(s.sockets, i, s.sockets[i] + (EOF_PACKET,)), mig_i=i + 1)


def join_send_thread(cfg, s, t, c):
    i = s.mig_i
    return s.replace(send_joined=put(s.send_joined, i, 1), mig_i=i + 1)


def free_send_state(cfg, s, t, c):
    """multifd_send_cleanup_channel() for every channel (after every join, since
    9560a48ecc), then multifd_send_cleanup_state()."""
    return s.replace(send_freed=1, send_destroyed=(1,) * len(s.send_destroyed))


def close_stream_on_error(cfg, s, t, c):
    """migrate_fd_cleanup(): qemu_fclose(to_dst_file). After a failure the destination
    reads the end of the stream where it expected more records."""
    failed = s.send_error or s.setup_failed
    return s.replace(stream=s.stream + (STREAM_EOF,)) if failed else s


# -- what QEMU traces (the rows' trace=, as checks/traces/match.py projects a trace) -----

def log_sync_signal(cfg, s, t, c):
    """trace_multifd_send_sync_main_signal(i) in multifd_send_sync_main(), before it sets
    p->pending_sync and posts p->sem."""
    return (("signal", s.mig_i),)


def log_sync_wait(cfg, s, t, c):
    """trace_multifd_send_sync_main_wait(i) in multifd_send_sync_main(), between its waits
    on channels_ready and on p->sem_sync."""
    return (("wait", s.mig_i),)


def log_sync_done(cfg, s, t, c):
    """trace_multifd_send_sync_main(packet_num) as multifd_send_sync_main() returns 0."""
    return (("done",),)


def _start(cfg):
    return "CREATE" if cfg.fault("channel-create-error") else None


# --loops any: phase B of multifd_send_sync_main() and the joins of
# multifd_send_terminate_threads() visit the channels in any order. Phase B commits to
# its channel (mig_i) before it waits, so a wait that blocks in index order blocks here
# too; a join may take any exited channel. The other loops over channels run whole
# inside one transaction (machine.py), so their order does not show.
ANY_ORDER = AnyOrder(
    seen="mig_seen",
    states=("SYNC_COLLECT", "SYNC_WAIT_READY", "SYNC_WAIT_SYNC", "JOIN"),
    picks={"pass_exiting_check": ("visit_picked",), "join_send_thread": (),
           "skip_uncreated_thread": ()},
    pick_names={"send_thread_exited": "picked_exited",
                "send_thread_uncreated": "picked_uncreated", "join_send_thread": "join_picked",
                "skip_join": "skip_picked"},
    names={"take_sem_sync": "take_sem_sync_and_visit"})
# The states where mig_i names the channel phase B committed to.
COMMITTED = ("SYNC_WAIT_READY", "SYNC_WAIT_SYNC")


ROLE = Role(name="migration", doc=__doc__, states=STATES, rows=tuple(TRANSITIONS),
            functions=table_functions(globals()), pc_field="mig_pc", per_channel=False,
            thread="mig", start_if=_start, transaction_starts=TRANSACTION_STARTS,
            merged_waits=MERGED_WAITS, quiet_waits=QUIET_WAITS, quiet_if=_quiet,
            quiet_holds=_quiet_undisturbed,
            loop_index="mig_i", channel_loops=CHANNEL_LOOPS, atomic_loops=ATOMIC_LOOPS,
            committed=COMMITTED, any_order=ANY_ORDER)
