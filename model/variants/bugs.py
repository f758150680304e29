"""Historical bugs of QEMU's multifd synchronization, each on top of the code that fixed
it, and named by the commit that fixed it (docs/protocol.md lists B1-B16). B5, B14 and
077fbb5942 are written with the variant API a user has (own fields, own properties,
based_on)."""

from .. import load, migration, recv
from ..state import add, put, touch_channel
from .dsl import Add, Change, Drop, Variant, eventually, invariant, row
from .p2 import P1_P2_FIX, P2_FIX
from .versions import (QEMU_9_1, QEMU_10_0, _B13_FIXED, _QEMU_7_2_FUNCTIONS, _QEMU_7_2_SOURCE,
                       _read_handed_over_buffer)


# -- historical bugs (docs/protocol.md), each on top of the code that fixed it -----------
# B1 and B2 are send-side error paths: they are modelled on p2-fix, whose error paths are
# otherwise sound, so the fixed variant (p2-fix) passes under the same fault.

B1_NO_KICK_ON_PAGE_ERROR = Variant(
    name="b1-no-kick-on-page-error",
    stands_for="2f4aefd320a8 migration: multifd_send_thread always post p->sem_sync when "
               "error happen (the code before the fix)",
    description="a failed page write exits without posting sem_sync; only a failed SYNC "
                "write does: the migration thread waits in multifd_send_sync_main()",
    breaks=("no_deadlock",),
    edits=P2_FIX.edits + (Change("send", "page_write_fails", "DISPATCH",
                                 to={"dest": "EXITED", "do": ["use_fault", "set_error"]}),),
    transports=("socket",),
    faults=("send-write-error",),
)

B2_HUNG_FOREVER = Variant(
    name="b2-hung-forever",
    stands_for="a3ec6b7d2365 migration/multifd: fix migrate_cancel multifd migration leads "
               "destination hung forever (the code before: an erroring send thread posts "
               "nothing)",
    description="a send thread that fails posts neither sem_sync nor channels_ready",
    breaks=("no_deadlock",),
    edits=P2_FIX.edits + (Change("send", "set_error", "SEND_ERROR", to={"do": ["set_error"]}),),
    transports=("socket",),
    faults=("send-write-error",),
)

B2_ENDLESS_LOOP = Variant(
    name="b2-endless-loop",
    stands_for="713f762a3163 migration: fix migrate_cancel leads live_migration thread "
               "endless loop (the code before the fix)",
    description="multifd_send_pages() spins over the channels with no exiting check; a "
                "channel that died mid-job never clears pending_job",
    breaks=("end_always_reachable", "no_fair_livelock"),
    edits=P2_FIX.edits + (
        Drop("migration", "send_pages_sees_exiting", "ITERATE"),
        Drop("migration", "pick_sees_exiting", "PICK"),
        Change("migration", "wait_channels_ready", "ITERATE",
               to={"when": ["pages_left", "channel_ready"], "unless": []}),
        Change("migration", "spin_for_idle_channel", "PICK", to={"unless": []}),
        Change("migration", "queue_page", "PICK", to={"unless": []})),
    transports=("socket",),
    faults=("send-write-error",),
    defaults={"channels": 1},
)


B9_READ_AFTER_HANDOVER = Variant(
    name="b9-read-after-handover",
    stands_for="ddbe628c97c3 multifd: Fix a race on reading MultiFDPages_t.block (the code "
               "before the fix)",
    description="after handing the page buffer to a channel, multifd_queue_page() still "
                "reads pages->block from it",
    breaks=("job_buffer_single_owner",),
    edits=(Change("migration", "queue_page", "PICK",
                  to={"do": ["queue_page", "read_handed_over_buffer"]}),),
    functions={"migration": {"read_handed_over_buffer": _read_handed_over_buffer}},
    transports=("socket",),
)

# Before d2026ee117: the send thread posts channels_ready after every job, the sync's
# included, and multifd_send_sync_main() never waits on it.
_READY_AFTER_EVERY_JOB = (
    Change("send", "post_channels_ready", "TOP", to={"do": []}),
    Change("send", "clear_pending_job", "JOB_SENT",
           to={"do": ["clear_pending_job", "post_channels_ready"]}),
    Change("send", "post_sem_sync", "SYNC_SENT",
           to={"do": ["post_sem_sync", "post_channels_ready"]}),
    Change("migration", "pass_exiting_check", "SYNC_COLLECT", to={"dest": "SYNC_WAIT_SYNC"}),
)

B6_CHANNELS_READY_OVERCOUNT = Variant(
    name="b6-channels-ready-overcount",
    stands_for="d2026ee11714 multifd: Fix the number of channels ready (the code before the "
               "fix, as in QEMU 7.2)",
    description="channels_ready is posted after every job and never taken by the sync: it "
                "grows by N a sync, and multifd_send_pages() spins while every channel is busy",
    breaks=("channels_ready_bounded",),
    edits=_READY_AFTER_EVERY_JOB,
    transports=("socket",),
)



B4_EOS_WITHOUT_SYNC = Variant(
    name="b4-eos-without-sync",
    stands_for="b6526c4b2122 migration/multifd: call multifd_send_sync_main when sending "
               "RAM_SAVE_FLAG_EOS (the code before the fix)",
    description="ram_save_iterate() may jump to out: (blk_mig_bulk_active()) and write EOS "
                "without the per-section sync; the destination still syncs on that EOS",
    breaks=("no_deadlock",),
    edits=(Add("migration", row("skip_sync_to_out", "ROUND_END", "ROUND_DONE",
                                when=["syncs_per_section"], do="put_eos",
                                qemu="ram_save_iterate")),),
    flush_modes=("per-section",),
    transports=("socket",),
)


def _set_bit_only(cfg, s, t, c):
    """8fa1a21c6e's bug: the clearing loop ran from pages->num to zero_num, i.e. never."""
    return s


B11_ZERO_PAGE_BITMAP = Variant(
    name="b11-zero-page-bitmap",
    stands_for="8fa1a21c6edc migration/multifd: Fix clearing of mapped-ram zero pages "
               "(the code before the fix)",
    description="multifd_set_file_bitmap() never clears the bit of a zero page, so a page "
                "that turns zero keeps its stale data in the file",
    breaks=("file_matches_source",),
    functions={"send": {"clear_file_bitmap": _set_bit_only}},
    transports=("file",),
)


def _sync_packet_any(cfg, s, t, c):
    """9.2 (d7e58f412c): a packet with MULTIFD_FLAG_SYNC is a sync; its pages are skipped."""
    socket = s.sockets[t]
    return bool(socket) and socket[0] >= 0 and bool(socket[0] & 1)


def _page_packet_without_sync(cfg, s, t, c):
    socket = s.sockets[t]
    return bool(socket) and socket[0] > 1 and not socket[0] & 1


B15_72_SOURCE_92_DEST = Variant(
    name="b15-72-source-92-dest",
    stands_for="b93d897ea2f0 migration/multifd: Fix compat with QEMU < 9.0 (the code before "
               "the fix: a 9.2 destination loading from a 7.2 source)",
    description="the 7.2 source puts pages in SYNC packets; the 9.2 destination reads a SYNC "
                "packet's header only, and those pages are lost",
    breaks=("memory_matches_source_at_vm_start",),
    edits=_QEMU_7_2_SOURCE,
    functions={**_QEMU_7_2_FUNCTIONS,
               "recv": {"sync_packet_next": _sync_packet_any,
                        "page_packet_next": _page_packet_without_sync}},
    flush_modes=("per-section",),
    transports=("socket",),
    only=True,
    defaults={"channels": 1, "live": False},
)



def _mark_received(cfg, s, t, c):
    """9.1 (5ef7e26bdb): a recv thread sets the page's bit in rb->receivedmap."""
    return s.replace(receivedmap_after_free=1) if s.receivedmap_freed else s


def _free_receivedmap(cfg, s, t, c):
    """qemu_loadvm_state() ends with qemu_loadvm_state_cleanup(): receivedmap is freed."""
    return s.replace(receivedmap_freed=1)


B12_RECEIVEDMAP_RACE = Variant(
    name="b12-receivedmap-race",
    stands_for="4ce562290878 migration/multifd: Fix rb->receivedmap cleanup race (the code "
               "before the fix; on p1-p2-fix, so the fixed order passes the same faults)",
    description="recv threads mark receivedmap (9.1), and qemu_loadvm_state() frees it as it "
                "returns, before multifd_recv_cleanup() joins them",
    breaks=("receivedmap_untouched_after_free",),
    edits=P1_P2_FIX.edits + (
        Change("recv", "write_guest_page", "RECEIVING", dest="TOP",
               to={"do": ["write_guest_page", "mark_received"]}),
        Change("recv", "write_guest_page", "RECEIVING", dest="SYNCING",
               to={"do": ["write_guest_page", "mark_received"]}),
        Change("load", "read_vm_eof", "READ_RECORD",
               to={"do": ["take_record", "free_receivedmap", "set_exiting"]}),
        Change("load", "read_stream_eof", "READ_RECORD",
               to={"do": ["take_record", "fail_load", "free_receivedmap", "set_exiting"]})),
    functions={**P1_P2_FIX.functions, "recv": {**P1_P2_FIX.functions["recv"],
                                               "mark_received": _mark_received},
               "load": {**P1_P2_FIX.functions["load"], "free_receivedmap": _free_receivedmap}},
    transports=("socket",),
    faults=("send-write-error",),
)


def _flush_just_requested(cfg, s, t, c):
    """7.2: qio_channel_flush() right after qemu_sem_post(&p->sem), before the channel ran."""
    return migration._flush(cfg, s, s.mig_i - 1)


B7_FLUSH_BEFORE_SEND = Variant(
    name="b7-flush-before-send",
    stands_for="ebfc57871506 multifd: Fix flush of zero copy page send request (the code "
               "before the fix, as in 7.2)",
    description="with zero-copy, multifd_send_sync_main() flushes each channel right after "
                "requesting its sync, before the channel has sent anything",
    breaks=("zero_copy_flush_after_send",),
    edits=(Change("migration", "request_sync", "SYNC_REQUEST",
                  to={"do": ["request_sync", "flush_just_requested"]}),
           Change("migration", "wait_sem_sync", "SYNC_WAIT_SYNC", to={"do": ["take_sem_sync"]})),
    functions={"migration": {"flush_just_requested": _flush_just_requested}},
    transports=("socket",),
    defaults={"zero_copy": True, "pages": 1},
)


B13_SETUP_ABORT = Variant(
    name="b13-setup-abort",
    stands_for="0bd5b9284fa9 migration/multifd: Fix multifd_send_setup cleanup when channel "
               "creation fails (the code before the fix: the seed's own multifd_send_setup())",
    description="a file channel that fails to be created returns from the setup loop at "
                "once; terminate then posts semaphores that were never initialized",
    breaks=("terminate_touches_initialized_channels",),
    transports=("file",),
    faults=("channel-create-error",),
    defaults={"pages": 1, "live": False},
)

B13_FIX = Variant(
    name="b13-fix",
    stands_for="0bd5b9284fa9 migration/multifd: Fix multifd_send_setup cleanup when channel "
               "creation fails (9.1; the seed has the bug, B13)",
    description="a file channel that fails to be created no longer ends the setup loop: "
                "every channel is initialized and waited for, then setup fails",
    edits=_B13_FIXED,
    transports=("file",),
    faults=("channel-create-error",),
)



# -- B5, B14, 077fbb5942 and a flush-mode mismatch: written with the variant API a user
#    has (own fields, own properties, based_on), and judged like the rest

def _fault_free(cfg) -> bool:
    return not cfg.faults


def _kick_noting_parked(cfg, s, t, c):
    """multifd_recv_terminate_threads() posting p->sem_sync: note a recv thread parked at
    a SYNC packet that no multifd_recv_sync_main() released, freed by the shutdown."""
    i = s.load_i
    if not cfg.mapped_ram and s.recv_pc[i] == recv.PARKED and not s.recv_sem_sync[i]:
        s = s.replace(sync_released_by_shutdown=1)
    return load.kick_channel(cfg, s, t, c)


def every_sync_released_by_recv_sync_main(cfg, s) -> bool:
    """Every SYNC packet a recv thread parks on is released by multifd_recv_sync_main(),
    never only by the shutdown (I3(b): per channel, as many destination syncs as SYNC
    packets).

    1d457daf86 "migration/multifd: Further remove the SYNC on complete": with the final
    FLUSH gone and the final SYNC kept, "the recv threads will hang when receiving the
    MULTIFD_FLAG_SYNC message, waiting for the destination sync which only happens when
    RAM_SAVE_FLAG_MULTIFD_FLUSH is received" (B14). Checked without faults: after a
    failure the shutdown is what releases them.
    """
    return not s.sync_released_by_shutdown


_B14_GHOST = dict(
    fields={"sync_released_by_shutdown": 0},
    functions={"load": {"kick_noting_parked": _kick_noting_parked}},
    edits=(Change("load", "kick_channel", "SHUTDOWN", to={"do": ["kick_noting_parked"]}),),
    properties=(invariant(every_sync_released_by_recv_sync_main, applies=_fault_free),),
    transports=("socket",), flush_modes=("per-round",),
    defaults={"pages": 1, "rounds": 1, "live": False})

B14_SYNC_WITHOUT_FLUSH = Variant(
    name="b14-sync-without-flush",
    stands_for="637280aeb242 migration/multifd: Avoid the final FLUSH in complete() (9.1)",
    description="the final SYNC packets have no FLUSH after them: the recv threads stay "
                "parked until multifd_recv_terminate_threads() posts them (B14)",
    breaks=("every_sync_released_by_recv_sync_main",), based_on=QEMU_9_1, **_B14_GHOST)

B14_FIX = Variant(
    name="b14-fix",
    stands_for="1d457daf8681 migration/multifd: Further remove the SYNC on complete (10.0)",
    description="no SYNC in complete() unless per-section: every SYNC is released by "
                "multifd_recv_sync_main()",
    based_on=QEMU_10_0, **_B14_GHOST)


def _join_and_destroy(cfg, s, t, c):
    """multifd_save_cleanup() before 9560a48ecc: join channel i, then destroy its mutex
    and semaphores (multifd_send_cleanup_channel) in the same loop iteration."""
    i = s.mig_i
    s = migration.join_send_thread(cfg, s, t, c)
    return s.replace(send_destroyed=put(s.send_destroyed, i, 1))


def _terminate_next(cfg, s, t, c):
    """multifd_send_terminate_threads() called by the failing send thread (2019: no
    `exiting` check): lock p->mutex, p->quit = true, post p->sem, channel by channel."""
    j = s.term_i[t]
    s = touch_channel(s, j)
    return s.replace(send_sem=add(s.send_sem, j, 1), term_i=put(s.term_i, t, j + 1))


def _channels_left_to_terminate(cfg, s, t, c):
    return s.term_i[t] < cfg.channels


_TERMINATE_FROM_SEND_THREAD = dict(
    channel_fields={"term_i": 0},
    states={"send": ("TERMINATE",)},
    functions={"send": {"terminate_next": _terminate_next,
                        "channels_left_to_terminate": _channels_left_to_terminate},
               "migration": {"join_and_destroy": _join_and_destroy}},
    faults=("send-write-error",), transports=("socket",),
    defaults={"pages": 1, "rounds": 1, "live": False, "pick": "round-robin"})
_TERMINATE_ROWS = (
    Change("send", "set_error", "SEND_ERROR", to={"dest": "TERMINATE"}),
    Add("send", row("terminate_channel", "TERMINATE", "TERMINATE",
                    when=["channels_left_to_terminate"], do="terminate_next",
                    qemu="multifd_send_terminate_threads")),
    Add("send", row("terminated", "TERMINATE", "EXITED", unless=["channels_left_to_terminate"],
                    qemu="multifd_send_terminate_threads")))

B5_DESTROY_IN_JOIN_LOOP = Variant(
    name="b5-destroy-in-join-loop",
    stands_for="9560a48ecc migration/multifd: fix destroyed mutex access in terminating "
               "multifd threads (the code before the fix)",
    description="cleanup destroys each channel right after joining it, while a failing "
                "send thread's terminate still touches every channel (B5)",
    breaks=("nothing_touches_destroyed_channel",), based_on=P2_FIX,
    edits=_TERMINATE_ROWS + (
        Change("migration", "join_send_thread", "JOIN", to={"do": ["join_and_destroy"]}),),
    **_TERMINATE_FROM_SEND_THREAD)

B5_FIX = Variant(
    name="b5-fix",
    stands_for="9560a48ecc migration/multifd: fix destroyed mutex access in terminating "
               "multifd threads (2019; QEMU 5.0)",
    description="join every channel first, then destroy them all: a terminate running "
                "late touches live objects",
    based_on=P2_FIX, edits=_TERMINATE_ROWS, **_TERMINATE_FROM_SEND_THREAD)


def _post_sem_only(cfg, s, t, c):
    """multifd_send_terminate_threads() before 077fbb5942: qemu_sem_post(&p->sem) and no
    qio_channel_shutdown(p->c), so a thread blocked in sendmsg() stays there."""
    i = s.mig_i
    s = touch_channel(s, i)
    return s.replace(send_sem=add(s.send_sem, i, 1), mig_i=i + 1)


def cleanup_joins_return(cfg, s) -> bool:
    """Goal: the migration thread is not in the join loop of multifd_send_shutdown(), so
    from every state a state where every join has returned stays reachable.

    077fbb5942 "multifd: Shut down the QIO channels to avoid blocking the send threads
    when they are terminated": "The main thread is blocked on qemu_thread_join ... other
    send threads are blocked on sendmsg. They could not be terminated."
    """
    return s.mig_pc != migration.STATES.index("JOIN")


_STALL = dict(properties=(eventually(cleanup_joins_return),), faults=("network-stall",),
              transports=("socket",),
              defaults={"pages": 1, "rounds": 1, "live": False, "socket_capacity": 1})

BEFORE_077FBB5942 = Variant(
    name="before-077fbb5942",
    stands_for="077fbb5942 multifd: Shut down the QIO channels to avoid blocking the send "
               "threads when they are terminated (the code before: QEMU 6.2)",
    description="terminate posts p->sem but does not shut the channels down: a send "
                "thread blocked in sendmsg() on a stalled network is joined for ever",
    breaks=("cleanup_joins_return", "no_deadlock"), based_on=P1_P2_FIX,
    functions={"migration": {"post_sem_only": _post_sem_only}},
    edits=(Change("migration", "kick_channel", "SHUTDOWN", to={"do": ["post_sem_only"]}),),
    **_STALL)

WITH_077FBB5942 = Variant(
    name="with-077fbb5942",
    stands_for="077fbb5942 multifd: Shut down the QIO channels to avoid blocking the send "
               "threads when they are terminated (QEMU 7.0)",
    description="terminate shuts every channel down: a blocked sendmsg() fails and the "
                "joins return; a multifd_send_sync_main() already waiting on that channel "
                "still waits (no_deadlock)",
    breaks=("no_deadlock",), based_on=P1_P2_FIX, **_STALL)
