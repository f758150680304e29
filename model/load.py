"""Destination load thread: process_incoming_migration_co() and its bottom half.

Abstracts, at QEMU 9d01778af8e3 with the multifd.c of a49d15a38d (protocol notes §2.3,
§2.6): ram_load_precopy() reading the main stream in order; multifd_recv_sync_main()
(socket mode: N waits on the shared sem_sync, then a post of each channel's sem_sync);
and on QEMU_VM_EOF the success path of process_incoming_migration_bh():
multifd_recv_shutdown() (exiting, post each p->sem_sync, shut each channel down),
vm_start(), then migration_incoming_state_destroy() -> multifd_recv_cleanup() (join each
recv thread, then free).

Left out: device state, the packet_num bookkeeping, the failure path (`fail:`) of
process_incoming_migration_co(), and records other than those the sync depends on.
"""

from .machine import Role, row
from .state import add, put
from .transports import EOS, MEM_SIZE, MULTIFD_FLUSH, VM_EOF
from . import recv

__all__ = ["ROLE", "STATES", "DONE"]

STATES = (
    "READ_RECORD",    # ram_load_precopy(): qemu_get_be64() of the next record
    "SYNC_WAIT",      # multifd_recv_sync_main(): qemu_sem_wait(&multifd_recv_state->sem_sync)
    "SYNC_RELEASE",   # multifd_recv_sync_main(): qemu_sem_post(&p->sem_sync) per channel
    "SHUTDOWN",       # multifd_recv_terminate_threads(): post and shut down each channel
    "VM_START",       # process_incoming_migration_bh(): about to call vm_start()
    "VM_RUNNING",     # vm_start() returned; migration_incoming_state_destroy() next
    "DONE",           # multifd_recv_cleanup() joined and freed every channel
)
DONE = STATES.index("DONE")
VM_RUNNING = STATES.index("VM_RUNNING")
SYNC_RELEASE = STATES.index("SYNC_RELEASE")

# Where a transaction starts (machine.py): before a read or a join that follows a post,
# and before vm_start(), which the properties observe.
WAITS = ("READ_RECORD", "VM_START", "VM_RUNNING")

TRANSITIONS = [
    # -- ram_load_precopy(): one record at a time
    row("read_mem_size", "READ_RECORD", "READ_RECORD", when=["next_is_mem_size"],
        do="take_record", qemu="ram_load_precopy"),
    row("read_flush", "READ_RECORD", "SYNC_WAIT", when=["next_is_flush"],
        do=["take_record", "restart_loop"], qemu="ram_load_precopy"),
    row("read_eos", "READ_RECORD", "SYNC_WAIT", when=["next_is_eos", "syncs_on_eos"],
        do=["take_record", "restart_loop"], qemu="ram_load_precopy"),
    row("read_eos", "READ_RECORD", "READ_RECORD", when=["next_is_eos"],
        unless=["syncs_on_eos"], do="take_record", qemu="ram_load_precopy"),
    row("read_vm_eof", "READ_RECORD", "SHUTDOWN", when=["next_is_vm_eof"],
        do=["take_record", "set_exiting"], qemu="qemu_loadvm_state_main"),
    # -- multifd_recv_sync_main(), socket mode
    row("wait_sem_sync", "SYNC_WAIT", "SYNC_WAIT", when=["channels_left", "sem_sync_posted"],
        do="take_sem_sync", qemu="multifd_recv_sync_main"),
    row("start_release", "SYNC_WAIT", "SYNC_RELEASE", unless=["channels_left"],
        do="restart_loop", qemu="multifd_recv_sync_main"),
    row("release_channel", "SYNC_RELEASE", "SYNC_RELEASE", when=["channels_left"],
        do="release_channel", qemu="multifd_recv_sync_main"),
    row("sync_done", "SYNC_RELEASE", "READ_RECORD", unless=["channels_left"],
        qemu="multifd_recv_sync_main"),
    # -- process_incoming_migration_bh(): shutdown, vm_start, cleanup
    row("kick_channel", "SHUTDOWN", "SHUTDOWN", when=["channels_left"], do="kick_channel",
        qemu="multifd_recv_terminate_threads"),
    row("kicks_done", "SHUTDOWN", "VM_START", unless=["channels_left"],
        qemu="multifd_recv_terminate_threads"),
    row("vm_start", "VM_START", "VM_RUNNING", do=["vm_start", "restart_loop"],
        qemu="process_incoming_migration_bh"),
    row("join_recv_thread", "VM_RUNNING", "VM_RUNNING",
        when=["channels_left", "recv_thread_exited"], do="join_recv_thread",
        qemu="multifd_recv_cleanup"),
    row("free_recv_state", "VM_RUNNING", "DONE", unless=["channels_left"],
        do="free_recv_state", qemu="multifd_recv_cleanup"),
]


# -- guards ------------------------------------------------------------------------------

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


def syncs_on_eos(cfg, s, t, c):
    """migrate_multifd_flush_after_each_section(): the legacy per-section sync."""
    return not cfg.per_round


def channels_left(cfg, s, t, c):
    return s.load_i < cfg.channels


def sem_sync_posted(cfg, s, t, c):
    return s.sem_sync > 0


def recv_thread_exited(cfg, s, t, c):
    return s.recv_pc[s.load_i] == recv.EXITED


# -- effects -----------------------------------------------------------------------------

def take_record(cfg, s, t, c):
    return s.replace(stream=s.stream[1:])


def restart_loop(cfg, s, t, c):
    return s.replace(load_i=0)


def take_sem_sync(cfg, s, t, c):
    return s.replace(sem_sync=s.sem_sync - 1, load_i=s.load_i + 1)


def release_channel(cfg, s, t, c):
    i = s.load_i
    return s.replace(recv_sem_sync=add(s.recv_sem_sync, i, 1), load_i=i + 1)


def set_exiting(cfg, s, t, c):
    return s.replace(recv_exiting=1, load_i=0)


def kick_channel(cfg, s, t, c):
    """qemu_sem_post(&p->sem_sync); qio_channel_shutdown(p->c)."""
    i = s.load_i
    return s.replace(recv_sem_sync=add(s.recv_sem_sync, i, 1),
                      sock_shut=put(s.sock_shut, i, 1), load_i=i + 1)


def vm_start(cfg, s, t, c):
    return s.replace(vm_running=1)


def join_recv_thread(cfg, s, t, c):
    i = s.load_i
    return s.replace(recv_joined=put(s.recv_joined, i, 1), load_i=i + 1)


def free_recv_state(cfg, s, t, c):
    return s.replace(recv_freed=1)


ROLE = Role(name="load", doc=__doc__, states=STATES, rows=tuple(TRANSITIONS),
            functions=dict(globals()), pc_field="load_pc", per_channel=False, thread="load",
            waits=WAITS)
