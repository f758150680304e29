"""The roles composed: which threads run, in which order, from which state, and what a
proper end is. One configuration and one variant; checks/engine walks it.

Threads, in the fixed order successors come out in: the source migration thread `mig`,
the send threads `send[0..N-1]`, the destination load thread `load`, the recv threads
`recv[0..N-1]`, and the source's QMP monitor with the cancel fault layer. A step is one
row of one thread's compiled table whose guards hold.
"""

from typing import NamedTuple

from .config import Config
from .machine import any_order, compile_role
from .state import NO_JOB, NO_PACKET, State, state_type
from .variants import SEED, Variant, apply_variant
from . import load, migration

__all__ = ["Protocol", "Thread", "ChannelLoop", "initial_state", "final_memory",
           "symmetry_refusal"]


class Thread(NamedTuple):
    name: str           # "mig", "send[0]", ...
    role: str           # "migration", "send", "load", "recv", "monitor"
    t: int              # channel index (0 for the single threads)
    table: tuple        # compiled rows per control state
    pc_index: int       # position of the role's pc field in State
    per_channel: bool
    starts: tuple       # per control state: does a declared transaction start there
    waits: tuple        # per control state: is it in a run of waits taken as one step
    quiet: tuple        # per control state: does it join those runs (Role.quiet_waits,
                        # where the role's quiet_if says)


class ChannelLoop(NamedTuple):
    """A role's loops over channels in index order, as fields of the state: what channel
    symmetry must respect (Role.loop_index and the states named with it)."""
    pc_index: int        # the role's pc field
    index: int           # the field holding the loop's position (a channel)
    states: frozenset    # control states inside such a loop
    atomic: frozenset    # those whose loop runs whole inside one transaction
    committed: frozenset  # those where `index` names the channel a wait committed to


# Counts bounded by twice the channels (channels_ready reaches 2N; the others N): the
# packed layout gives them room for 2N from the start.
COUNTS_TO_2N = ("channels_ready", "channels_created", "sem_sync", "mig_i", "load_i")


class Protocol:
    """One configuration and one variant: the threads with their tables, the state type,
    the initial state and the end."""

    def __init__(self, config: Config, variant: Variant = SEED):
        self.config = config
        self.variant = variant
        self.channels = config.channels
        self.roles = _with_loop_order(apply_variant(variant), config)
        self.state = state_type(variant.fields, variant.channel_fields)
        self.threads = tuple(self._threads())
        self.loops = tuple(_loop(role) for role in self.roles.values() if role.loop_index)
        self.counts_to_2n = COUNTS_TO_2N
        self.loops_any_order = config.any_order

    def _threads(self):
        fields = State._fields     # a role's pc is one of QEMU's fields
        monitors = 1 if self.config.fault("cancel") else 0
        for role_name, count in (("migration", 1), ("send", self.config.channels),
                                 ("load", 1), ("recv", self.config.channels),
                                 ("monitor", monitors)):
            role = self.roles[role_name]
            table = compile_role(role, self.config)
            starts = tuple(name in role.transaction_starts for name in role.states)
            waits = tuple(name in role.merged_waits for name in role.states)
            quiet_here = bool(role.quiet_if and role.quiet_if(self.config))
            quiet = tuple(quiet_here and name in role.quiet_waits for name in role.states)
            for t in range(count):
                yield Thread(role.thread.format(t=t), role_name, t, table,
                             fields.index(role.pc_field), role.per_channel, starts, waits,
                             quiet)

    def initial_states(self) -> list:
        return [initial_state(self.config, self.roles, self.variant)]

    def is_proper_end(self, s: State) -> bool:
        """Both sides finished (the source freed its channels, the destination its own),
        or the destination process died: nothing is left waiting."""
        return s.crashed or (s.mig_pc == migration.DONE and s.load_pc == load.DONE)

    @staticmethod
    def halted(s: State) -> bool:
        """The destination process died: no thread takes another step."""
        return s.crashed

    def end_kind(self, s: State) -> str:
        """How a proper end ended: completed, failed with an error, or crashed."""
        if s.crashed:
            return "crashed"
        return "failed" if s.load_error or s.send_error else "completed"

    def symmetry_refusal(self):
        """Why channel symmetry cannot apply here even when forced, or None."""
        return symmetry_refusal(self.config, self.variant)

    def interchangeable_with_any_order(self) -> bool:
        """Whether the channels are interchangeable once every loop over them runs in any
        order: no refusal, and no channel left uninitialized by channel-create-error,
        whose crash in the shutdown loop (B13) comes after the channels before it in
        index order were kicked."""
        return self.symmetry_refusal() is None and not self.config.fault("channel-create-error")

    def state_name(self, role: str, pc: int) -> str:
        return self.roles[role].states[pc]


def initial_state(config: Config, roles: dict, variant: Variant = None) -> State:
    """Every thread at its first state, every semaphore at 0, nothing written; the
    variant's own fields (if any) at their initial values."""
    s = _qemu_initial(config, roles)
    if variant is None or not (variant.fields or variant.channel_fields):
        return s
    cls = state_type(variant.fields, variant.channel_fields)
    return cls(*s, *variant.fields.values(),
               *((value,) * config.channels for value in variant.channel_fields.values()))


def _qemu_initial(config: Config, roles: dict) -> State:
    n, zeros, pages = config.channels, (0,) * config.channels, (0,) * config.pages
    start = {name: role.start_state(config) for name, role in roles.items()}
    return State(
        mig_pc=start["migration"], mig_round=0, mig_page=0, mig_i=0, mig_caller=0,
        mig_seen=zeros, next_channel=0,
        send_pc=(start["send"],) * n, send_sem=zeros, send_sem_sync=zeros, pending_job=zeros,
        pending_sync=zeros, send_job=(NO_JOB,) * n, channels_ready=0, send_exiting=0,
        send_joined=zeros, send_freed=0, send_destroyed=zeros, send_error=0,
        channels_created=0, channel_inited=(0 if config.fault("channel-create-error") else 1,) * n,
        setup_failed=0,
        stream=(), stream_shut=0, monitor_pc=0, sockets=((),) * n, sock_shut=zeros,
        send_shut=zeros,
        bmap=pages, bmap_saved=0, file_data=pages,
        load_pc=start["load"], load_i=0, load_seen=zeros, load_error=0, next_recv_channel=0,
        recv_pc=(start["recv"],) * n, recv_packet=(NO_PACKET,) * n, recv_sem_sync=zeros,
        recv_sem=zeros, recv_pending_job=zeros, sem_sync=0,
        recv_exiting=0, recv_joined=zeros, recv_freed=0,
        ram=pages, vm_running=0, crashed=0,
        faults_left=config.max_faults if config.faults else 0,
        stale_landed=0, bmap_after_save=0, invalid_record_read=0, uncaused_error=0,
        job_read_after_handover=0, receivedmap_freed=0, receivedmap_after_free=0,
        flushed_before_sent=0, uninit_touched=0, net_stalled=0,
        destroyed_touched=0)


def final_memory(config: Config) -> tuple:
    """The source's last version of every page: each page is dirtied in every round, and
    a page that is zero in the last round reads as zero (0: no data landed)."""
    last = config.rounds
    return tuple(0 if config.is_zero(p, last) else last for p in range(config.pages))


def symmetry_refusal(config: Config, variant: Variant):
    """Why channel symmetry cannot apply here even when forced (`--symmetry`), or None:
    the round-robin scan, or a variant that singles out a channel, tells them apart."""
    if config.round_robin:
        return "with --pick round-robin: the scan from next_channel tells the channels apart"
    if not variant.symmetric:
        return f"to variant {variant.name}: it singles out a channel"
    return None


def _loop(role) -> ChannelLoop:
    def indexes(names):
        return frozenset(role.states.index(n) for n in names if n in role.states)
    return ChannelLoop(State._fields.index(role.pc_field), State._fields.index(role.loop_index),
                       indexes(role.channel_loops), indexes(role.atomic_loops),
                       indexes(role.committed))


def _with_loop_order(roles: dict, config: Config) -> dict:
    """The roles with their loops over channels in the order `config.loops` asks."""
    if not config.any_order:
        return roles
    return {name: any_order(role, role.any_order) if role.any_order else role
            for name, role in roles.items()}
