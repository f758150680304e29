"""The named properties of multifd synchronization, each quoting the QEMU rule it checks.

Every predicate takes the configuration and a state. The first docstring line is the
claim; the rest is the rule from QEMU it stands for (docs/protocol.md, Invariants). `REGISTRY`
lists them with their kind (always, sometimes, deadlock, eventually), whether they are
headline (what the seed design is for) or structural, and where they apply.
"""

from functools import partial
from typing import Callable, NamedTuple

from model import load, recv, send
from model.protocol import final_memory
from model.transports import MEM_SIZE, packet_has_page
from model.variants import VariantError

from .engine.explorer import Property

__all__ = ["REGISTRY", "properties_for", "property_doc", "property_docs", "property_names",
           "PROPERTY_NAMES"]


def no_stale_overwrite(cfg, s) -> bool:
    """A round-k copy of a page never lands (in guest RAM, or at its fixed file offset)
    after its round k+1 copy (I2).

    Seed commit 9d01778af8e3: "With mapped-ram we want to maintain the sync on the sending
    side because that provides ordering between the rounds of dirty pages when migrating
    live." On sockets the recv threads park at each SYNC packet until
    multifd_recv_sync_main() releases them, so a later round cannot overtake.
    """
    return not s.stale_landed


def memory_matches_source_at_vm_start(cfg, s) -> bool:
    """When the VM starts, every page holds the source's last version of it.

    ram.c (1a6e217c35): "we sync once and for all here to make sure all tasks we queued
    to multifd threads are completed, so that all the ramblocks (including all the guest
    memory pages within) are fully loaded after this sync returns."
    """
    return not s.vm_running or s.ram == final_memory(cfg)


def no_channel_io_at_cleanup(cfg, s) -> bool:
    """No recv thread reads or is parked, and no page or read job is left, once the VM
    starts (I1); after a failed load, nothing reads once the channels are freed.

    Seed commit 9d01778af8e3: "we only need to synchronize the channels at the end of
    migration to avoid doing cleanup before the channels have finished their IO." Checked
    from vm_start() on, through multifd_recv_cleanup() freeing the channels. Data left
    unread after a failure is discarded, which is fine.
    """
    if s.vm_running:
        return _no_recv_io(s) and not any(
            pc == recv.PARKED and not s.recv_sem_sync[t] for t, pc in enumerate(s.recv_pc))
    if s.recv_freed:
        return not any(pc in (recv.RECEIVING, recv.READING) for pc in s.recv_pc)
    return True


def _no_recv_io(s) -> bool:
    """No read in flight, no read job queued, no page packet unread."""
    if any(pc in (recv.RECEIVING, recv.READING) for pc in s.recv_pc) or any(
            s.recv_pending_job):
        return False
    return not any(packet_has_page(p) for socket in s.sockets for p in socket)


def no_read_in_flight_after_mem_size(cfg, s) -> bool:
    """When the load thread leaves the MEM_SIZE record, no read job is queued or in
    flight (I1, mapped-ram).

    ram.c (1a6e217c35), after MEM_SIZE: "we sync once and for all here to make sure all
    tasks we queued to multifd threads are completed, so that all the ramblocks
    (including all the guest memory pages within) are fully loaded after this sync
    returns." A load that failed drops its queued jobs: nothing more is loaded.
    """
    if s.load_error or s.load_pc not in _AFTER_MEM_SIZE or MEM_SIZE in s.stream:
        return True
    return _no_recv_io(s)


def file_matches_source(cfg, s) -> bool:
    """Once the bitmap is saved, the file holds the source's last round: a page's bit is
    set exactly when its last content is data, and then its offset holds that data (I2).

    8fa1a21c6e "Fix clearing of mapped-ram zero pages": "the stale data in the file would
    be restored on the destination" when a page turns zero and its bit stays set.
    """
    if not s.bmap_saved:
        return True
    last = cfg.rounds
    for page in range(cfg.pages):
        data = not cfg.is_zero(page, last)
        if s.bmap[page] != data or (data and s.file_data[page] != last):
            return False
    return True


def bitmap_untouched_after_save(cfg, s) -> bool:
    """No channel updates file_bmap after ram_save_file_bmap() wrote and freed it (I5).

    ram.c (f427d90b98), ram_save_complete(): "Free the bitmap here to catch any
    synchronization issues with multifd channels. No channels should be sending pages
    after we've written the bitmap to file."
    """
    return not s.bmap_after_save


def unexpected_flag_is_error(cfg, s) -> bool:
    """A record mapped-ram forbids (MULTIFD_FLUSH) makes the load fail, not go on (I4).

    Seed commit 9d01778af8e3: "Also emit an error if any other unexpected flags are found
    on the stream." ram_load_precopy(): error_report("Unexpected RAM flags: %d").
    """
    return not s.invalid_record_read or s.load_error


def errors_carry_their_cause(cfg, s) -> bool:
    """Every error path reports an Error someone set: none prepends to a NULL Error.

    include/qapi/error.h, error_prepend(): "Prepend some text to @errp's human-readable
    error message"; util/error.c then reads (*errp)->msg, so *errp must hold an Error.
    P1a (a short pread) and P1b (multifd_recv() returning false) break it.
    """
    return not s.uncaused_error


def job_buffer_single_owner(cfg, s) -> bool:
    """A job buffer has one owner: the requester never reads it once handed over (I7).

    multifd.h: "@pending_job: a job is pending ... they're only set by the requesters,
    and cleared by the multifd sender threads"; the buffer belongs to the channel while
    pending_job is set (ddbe628c97 fixed a read of pages->block after the handover).
    """
    return not s.job_read_after_handover


def receivedmap_untouched_after_free(cfg, s) -> bool:
    """No recv thread marks rb->receivedmap after qemu_loadvm_state_cleanup() freed it.

    migration.c (4ce5622908): "RAM state cleanup needs to happen after multifd cleanup,
    because multifd threads can use some of its states (receivedmap)."
    """
    return not s.receivedmap_after_free


def zero_copy_flush_after_send(cfg, s) -> bool:
    """With zero-copy, a channel is flushed only once it has sent what it was given.

    ebfc578715 "multifd: Fix flush of zero copy page send request": the flush must come
    after qemu_sem_wait(&p->sem_sync), or it misses the requests still to be sent.
    """
    return not s.flushed_before_sent


def terminate_touches_initialized_channels(cfg, s) -> bool:
    """Terminate posts only the semaphores of channels that setup initialized.

    0bd5b9284f "Fix multifd_send_setup cleanup when channel creation fails": the early
    `return false` left the later channels uninitialized, and terminate then failed
    "Assertion 'mutex->initialized'" (B13).
    """
    return not s.uninit_touched


def nothing_touches_destroyed_channel(cfg, s) -> bool:
    """No thread uses a send channel's mutex, semaphores or QIOChannel after cleanup
    destroyed them (I6).

    9560a48ecc "migration/multifd: fix destroyed mutex access in terminating multifd
    threads": cleanup destroyed p->mutex inside the join loop while another thread's
    multifd_send_terminate_threads() still locked every p->mutex; the fix joins every
    thread first, then destroys (B5).
    """
    return not s.destroyed_touched


def channels_ready_bounded(cfg, s) -> bool:
    """channels_ready does not drift: until the channels exit, it holds at most 2N tokens.

    Each channel posts once per trip through its loop; each job, and each channel of a
    sync, takes one. Between a sync's request and its collect a channel may already have
    posted for its next trip, hence 2N (reached by the seed). d2026ee117 "multifd: Fix the
    number of channels ready": the sync never took its posts, "This causes a busy loop in
    multifd_send_page()" (B6). Error kicks (after `exiting`) add tokens by design.
    """
    return s.send_exiting or s.channels_ready <= 2 * cfg.channels


def threads_joined_before_free(cfg, s) -> bool:
    """Channel state is freed only after every thread that can touch it was joined (a
    thread never created needs no join).

    9560a48ecc "fix destroyed mutex access in terminating multifd threads": join all the
    threads first, then destroy; multifd_send_shutdown() and multifd_recv_cleanup() join
    every thread before multifd_*_cleanup_channel().
    """
    created = (j or pc == send.UNCREATED for j, pc in zip(s.send_joined, s.send_pc))
    if s.send_freed and not all(created):
        return False
    return not (s.recv_freed and not all(s.recv_joined))


def no_deadlock(cfg, s) -> bool:
    """Every wait has its post: no state where no thread can move short of the end.

    multifd.c, multifd_recv_state->sem_sync: "This is always posted by the recv threads,
    the migration thread uses it to wait for recv threads to finish assigned tasks."
    Every multifd_send_sync_main() and multifd_recv_sync_main() returns (invariant I3).
    """
    return True   # decided by the explorer: a state without successors


def end_always_reachable(cfg, s) -> bool:
    """From every reachable state, both sides can still finish: no livelock.

    713f762a31 "migration: fix migrate_cancel leads live_migration thread endless loop":
    a loop that can spin forever without progress is a hang as real as a blocked wait.
    """
    return True   # decided by the explorer on the explored graph


def no_fair_livelock(cfg, s) -> bool:
    """Under weak fairness (no thread starved), every run ends: no busy loop spins forever
    while every other thread is blocked.

    713f762a31 "migration: fix migrate_cancel leads live_migration thread endless loop":
    multifd_send_pages() spun at 100% CPU over channels that would never free up.
    """
    return True   # decided by the explorer on the explored graph


def sync_round_completes(cfg, s) -> bool:
    """Sometimes: a sync round gets through to the recv threads.

    multifd.c, multifd_recv_sync_main(): socket: after N waits on the shared sem_sync it
    posts each channel's p->sem_sync, on which the recv thread parked at the SYNC packet;
    file: a recv thread woken with no job posts the shared sem_sync.
    """
    if cfg.mapped_ram:
        return s.sem_sync > 0
    return not s.recv_exiting and any(
        pc == recv.PARKED and s.recv_sem_sync[t] for t, pc in enumerate(s.recv_pc))


def vm_starts(cfg, s) -> bool:
    """Sometimes: the destination completes and starts the VM.

    process_incoming_migration_bh(): vm_start() after the load succeeded.
    """
    return s.vm_running == 1


def page_rewritten_in_later_round(cfg, s) -> bool:
    """Sometimes: a page dirtied again is received again (round 2 or later lands).

    ram.c, migration_bitmap_sync_precopy(): pages dirtied since the last pass are sent
    again in the next round.
    """
    return any(version >= 2 for version in s.ram)


class Entry(NamedTuple):
    predicate: Callable
    kind: str
    headline: bool
    applies: Callable   # config -> bool


def _always(cfg):
    return True


def _file(cfg):
    return cfg.mapped_ram


def _faulty(cfg):
    return bool(cfg.faults)


_AFTER_MEM_SIZE = {load.STATES.index(name) for name in
                   ("READ_RECORD", "SHUTDOWN", "VM_START", "CLEANUP", "DONE")}


REGISTRY = {
    "no_stale_overwrite": Entry(no_stale_overwrite, "always", True, _always),
    "memory_matches_source_at_vm_start": Entry(memory_matches_source_at_vm_start, "always",
                                               True, _always),
    "no_channel_io_at_cleanup": Entry(no_channel_io_at_cleanup, "always", True, _always),
    "no_read_in_flight_after_mem_size": Entry(no_read_in_flight_after_mem_size, "always",
                                              True, _file),
    "file_matches_source": Entry(file_matches_source, "always", True, _file),
    "bitmap_untouched_after_save": Entry(bitmap_untouched_after_save, "always", True, _file),
    "unexpected_flag_is_error": Entry(unexpected_flag_is_error, "always", True, _file),
    "errors_carry_their_cause": Entry(errors_carry_their_cause, "always", True, _faulty),
    "job_buffer_single_owner": Entry(job_buffer_single_owner, "always", False, _always),
    "channels_ready_bounded": Entry(channels_ready_bounded, "always", False, _always),
    "terminate_touches_initialized_channels": Entry(terminate_touches_initialized_channels,
                                                    "always", False, _faulty),
    "nothing_touches_destroyed_channel": Entry(nothing_touches_destroyed_channel, "always",
                                               False, _always),
    "receivedmap_untouched_after_free": Entry(receivedmap_untouched_after_free, "always",
                                              False, _always),
    "zero_copy_flush_after_send": Entry(zero_copy_flush_after_send, "always", False,
                                        lambda cfg: cfg.zero_copy),
    "threads_joined_before_free": Entry(threads_joined_before_free, "always", False, _always),
    "no_deadlock": Entry(no_deadlock, "deadlock", True, _always),
    "end_always_reachable": Entry(end_always_reachable, "eventually", True, _always),
    "no_fair_livelock": Entry(no_fair_livelock, "fair", True, _always),
    "sync_round_completes": Entry(sync_round_completes, "sometimes", False, _always),
    "vm_starts": Entry(vm_starts, "sometimes", False, _always),
    "page_rewritten_in_later_round": Entry(page_rewritten_in_later_round, "sometimes", False,
                                           lambda cfg: cfg.rounds >= 2),
}
PROPERTY_NAMES = tuple(REGISTRY)


def property_doc(name: str, variant=None) -> str:
    """The property's docstring on one line (a variant's own, by its name, too)."""
    claims = {c.name: c for c in variant.properties} if variant is not None else {}
    if name in claims:
        return claims[name].doc
    return " ".join(REGISTRY[name].predicate.__doc__.split())


def property_docs(variant=None) -> dict:
    """{name: docstring} of every property a run of `variant` can report."""
    return {name: property_doc(name, variant) for name in property_names(variant)}


def property_names(variant=None) -> tuple:
    """The registry's names, then the variant's own properties' (refused in one line
    where one takes a name already used)."""
    names = list(PROPERTY_NAMES)
    for claim in variant.properties if variant is not None else ():
        if claim.name in names:
            raise VariantError(f"variant {variant.name}: a property named {claim.name} is "
                               f"already checked; give it a name of its own")
        names.append(claim.name)
    return tuple(names)


def properties_for(cfg, variant=None) -> list:
    """The properties that apply to `cfg`, bound to it, in registry order; then the
    variant's own (model/variants/dsl.py: Claim), each reported under its own name."""
    out = []
    for name, entry in REGISTRY.items():
        if entry.applies(cfg):
            predicate = partial(entry.predicate, cfg) if entry.kind in ("always", "sometimes") \
                else None
            out.append(Property(name, entry.kind, predicate, property_doc(name), entry.headline))
    property_names(variant)
    for claim in variant.properties if variant is not None else ():
        if claim.applies_to(cfg):
            out.append(Property(claim.name, claim.kind, partial(claim.holds, cfg),
                                claim.doc, True))
    return out
