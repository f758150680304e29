"""The global state: one immutable, hashable value holding every thread and object.

Fields are grouped by owner. Per-channel fields are tuples indexed by channel id. Each
thread's program counter is an index into its role's STATES list. Small helpers at the
end build changed copies; the explorer never mutates a state.
"""

from collections import namedtuple
from typing import NamedTuple


__all__ = ["State", "state_type", "touch_channel", "put", "add", "NO_JOB", "NO_PACKET",
           "SEMAPHORES", "FIFOS", "PER_CHANNEL"]

NO_JOB = -1       # p->pages is empty (no page handed over)
NO_PACKET = -1    # a recv thread holds no packet


class State(NamedTuple):
    # -- source migration thread: migration_thread() -> ram_save_*() -> multifd_send_*()
    mig_pc: int               # where the migration thread is (migration.STATES)
    mig_round: int            # dirty round being sent; 0 during ram_save_setup
    mig_page: int             # find_dirty_block() cursor: next page of the round
    mig_i: int                # channel loop index in multifd_send_sync_main / shutdown
    mig_caller: int           # the ram.c step that called multifd_send_sync_main
    mig_seen: tuple           # --loops any: the channels the running loop has visited
    next_channel: int         # where multifd_send_pages()'s scan starts (--pick round-robin)
    # -- multifd_send_state and the send channels (MultiFDSendParams), per channel
    send_pc: tuple            # where each multifd_send_thread is (send.STATES)
    send_sem: tuple           # p->sem: "sem where to wait for more work"
    send_sem_sync: tuple      # p->sem_sync: "syncs main thread and channels"
    pending_job: tuple        # p->pending_job: a job owns p->pages
    pending_sync: tuple       # p->pending_sync: a sync request is pending
    send_job: tuple           # p->pages: the packet-to-be handed over, or NO_JOB
    channels_ready: int       # multifd_send_state->channels_ready
    send_exiting: int         # multifd_send_state->exiting
    send_joined: tuple        # qemu_thread_join() returned for the send thread
    send_freed: int           # multifd_send_cleanup_state() ran
    send_destroyed: tuple     # multifd_send_cleanup_channel(): p's mutex, semaphores and
                              # QIOChannel destroyed (touch_channel() after it: I6)
    send_error: int           # multifd_send_set_error(): migrate_set_error(), state FAILED
    channels_created: int     # multifd_send_state->channels_created
    channel_inited: tuple     # per channel: its semaphores were initialized (qemu_sem_init)
    setup_failed: int         # multifd_send_setup() returned false
    # -- transports
    stream: tuple             # main migration stream: records written, not yet read
    stream_shut: int          # qemu_file_shutdown(to_dst_file) by migrate_cancel
    monitor_pc: int           # the source's QMP monitor (fault layer cancel only)
    sockets: tuple            # per channel: packets written by send, not yet read by recv
    sock_shut: tuple          # per channel: qio_channel_shutdown() by the destination
    send_shut: tuple          # per channel: qio_channel_shutdown(p->c) by the source; kept
                              # with --socket-capacity only (a blocked sendmsg() fails)
    bmap: tuple               # mapped-ram block->file_bmap, per page (in the file once saved)
    bmap_saved: int           # ram_save_file_bmap() wrote file_bmap into the file and freed it
    file_data: tuple          # mapped-ram: per page, dirty round of the data at its offset
    # -- destination load thread: ram_load_precopy() -> multifd_recv_sync_main()
    load_pc: int              # where the load coroutine is (load.STATES)
    load_i: int               # loop index: channel (syncs, cleanup) or page (bitmap parse)
    load_seen: tuple          # --loops any: the channels the join loop has visited
    load_error: int           # ram_load_precopy() failed with -EINVAL ("Unexpected RAM flags")
    next_recv_channel: int    # where multifd_recv()'s scan starts (file, --pick round-robin)
    # -- multifd_recv_state and the recv channels (MultiFDRecvParams)
    recv_pc: tuple            # where each multifd_recv_thread is (recv.STATES)
    recv_packet: tuple        # the packet a recv thread is processing (socket), or the read
                              # job in p->data (file: the page), or NO_PACKET
    recv_sem_sync: tuple      # p->sem_sync (recv): main releases a parked channel
    recv_sem: tuple           # p->sem (recv, file): "sem where to wait for more work"
    recv_pending_job: tuple   # p->pending_job (recv, file): a read job owns p->data
    sem_sync: int             # multifd_recv_state->sem_sync: posted by recv threads
    recv_exiting: int         # multifd_recv_state->exiting
    recv_joined: tuple        # qemu_thread_join() returned for the recv thread
    recv_freed: int           # multifd_recv_cleanup() freed the channels
    # -- the guest on the destination
    ram: tuple                # per page: dirty round of the copy that landed (0: none)
    vm_running: int           # vm_start() ran
    crashed: int              # the destination process died (SIGSEGV): nothing runs on
    # -- fault injection (not in QEMU): the model's budget of faults still to strike
    faults_left: int          # 1 when a fault layer is on; a fault uses it up
    # -- ghost variable (not in QEMU): evidence a property needs
    stale_landed: int         # a round-k copy landed (RAM or file offset) over round k+1's
    bmap_after_save: int      # a channel touched file_bmap after ram_save_file_bmap()
    invalid_record_read: int  # the load thread read a record mapped-ram forbids
    uncaused_error: int       # an error path reported an Error that nobody set (NULL)
    job_read_after_handover: int  # the migration thread read p->pages after pending_job
    receivedmap_freed: int    # rb->receivedmap freed by qemu_loadvm_state_cleanup()
    receivedmap_after_free: int  # a recv thread marked receivedmap after it was freed
    flushed_before_sent: int  # qio_channel_flush() ran while the channel still had a send
    uninit_touched: int       # terminate posted a semaphore of a channel never initialized
    # -- fault network-stall (not in QEMU): the network stops delivering channel packets
    net_stalled: int          # until the source shuts a channel down, its peer reads nothing
    destroyed_touched: int    # a thread used a send channel's objects after they were destroyed

    def replace(self, **changes):
        """A copy with `changes` (namedtuple's _replace, three times faster: hot loop)."""
        values = list(self)
        index = self.field_index
        for name, value in changes.items():
            values[index[name]] = value
        return tuple.__new__(type(self), values)


_INDEX = {name: i for i, name in enumerate(State._fields)}
State.field_index = _INDEX

# The synchronization objects, by State field, with the QEMU name a reviewer knows. A
# semaphore's post adds one and its wait takes one; a FIFO's write appends and its read
# takes from the head. Diagrams draw an arrow from each post to the wait it releases and
# from each write to its read, and explain a hang by the semaphore a thread waits on.
SEMAPHORES = {
    "send_sem": "p->sem",
    "send_sem_sync": "p->sem_sync",
    "channels_ready": "multifd_send_state->channels_ready",
    "recv_sem": "p->sem (recv)",
    "recv_sem_sync": "p->sem_sync (recv)",
    "sem_sync": "multifd_recv_state->sem_sync",
}
FIFOS = {
    "stream": "main stream",
    "sockets": "channel socket",
}

# The fields with one entry per channel: what a permutation of channel identities moves
# (symmetry reduction). No other field holds a channel id, except the loop positions
# mig_i and load_i, which channel symmetry respects, and next_channel and
# next_recv_channel (--pick round-robin, which symmetry refuses).
PER_CHANNEL = ("mig_seen", "send_pc", "send_sem", "send_sem_sync", "pending_job",
               "pending_sync", "send_job", "send_joined", "send_destroyed", "channel_inited",
               "sockets", "sock_shut", "send_shut", "load_seen", "recv_pc", "recv_packet",
               "recv_sem_sync", "recv_sem", "recv_pending_job", "recv_joined")
PER_CHANNEL_INDEX = tuple(_INDEX[name] for name in PER_CHANNEL)
State.per_channel_index = PER_CHANNEL_INDEX


def state_type(fields=None, channel_fields=None) -> type:
    """The State of a model whose variant adds its own fields: QEMU's fields, then
    `fields` (name -> initial value) and `channel_fields` (name -> each channel's
    initial value), in the order given. State itself when there are none.

    >>> S = state_type({"ghost": 0}, {"closed": 0})
    >>> S._fields[-2:], S.per_channel_index[-1] == len(S._fields) - 1
    (('ghost', 'closed'), True)
    """
    names = tuple(fields or ()) + tuple(channel_fields or ())
    if not names:
        return State
    clash = sorted(set(names) & set(State._fields))
    if clash:
        raise ValueError(f"field {clash[0]} is already in the model's State")
    return _extended(names, tuple(channel_fields or ()))


_TYPES = {}


def _extended(names: tuple, per_channel: tuple) -> type:
    key = (names, per_channel)
    if key not in _TYPES:
        all_names = State._fields + names
        cls = type("State", (namedtuple("State", all_names),), {
            "__slots__": (), "replace": State.replace,
            "field_index": {name: i for i, name in enumerate(all_names)},
            "per_channel_index": PER_CHANNEL_INDEX + tuple(
                all_names.index(name) for name in per_channel)})
        _TYPES[key] = cls
    return _TYPES[key]


def first_clear(flags: tuple, start: int) -> int:
    """QEMU's round-robin scan: the first index from `start` on (wrapping) whose flag is
    clear, or -1 when every flag is set.

    >>> first_clear((1, 0, 1, 0), 2), first_clear((1, 1), 0)
    (3, -1)
    """
    n = len(flags)
    return next(((start + k) % n for k in range(n) if not flags[(start + k) % n]), -1)


def touch_channel(s, i: int):
    """A use of send channel i's objects (p->mutex, p->sem, p->c): after
    multifd_send_cleanup_channel() destroyed them, a use after free, kept as evidence
    (destroyed_touched) for `nothing_touches_destroyed_channel`. Effects that use a
    channel other than their own call this first.

    >>> from model.config import Config
    >>> from model.protocol import Protocol
    >>> s = Protocol(Config(channels=2)).initial_states()[0]
    >>> touch_channel(s.replace(send_destroyed=(1, 0)), 0).destroyed_touched
    1
    """
    return s.replace(destroyed_touched=1) if s.send_destroyed[i] else s


def put(values: tuple, index: int, value) -> tuple:
    """`values` with `values[index]` replaced by `value`.

    >>> put((0, 0, 0), 1, 5)
    (0, 5, 0)
    """
    recorded = getattr(values, "put", None)   # a column the checker records a step on
    if recorded is not None:
        return recorded(index, value)
    return values[:index] + (value,) + values[index + 1:]


def add(values: tuple, index: int, delta: int) -> tuple:
    """`values` with `delta` added to `values[index]` (a semaphore post or wait).

    >>> add((1, 2), 0, -1)
    (0, 2)
    """
    recorded = getattr(values, "put", None)   # a column the checker records a step on
    if recorded is not None:
        return recorded(index, values[index] + delta)
    return values[:index] + (values[index] + delta,) + values[index + 1:]
