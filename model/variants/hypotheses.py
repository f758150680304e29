"""Hypotheses: what each of the seed's syncs is for, shown by taking it away."""

from .dsl import Change, Drop, Variant


NO_RECV_PARK = Variant(
    name="no-recv-park",
    stands_for="hypothesis: a recv thread need not park on p->sem_sync after a SYNC packet",
    description="multifd_recv_thread() posts the shared sem_sync after a SYNC packet and "
                "reads on, without waiting for multifd_recv_sync_main() to release it",
    breaks=("no_stale_overwrite",),
    edits=(Change("recv", "post_sem_sync", "SYNCING", to={"dest": "TOP"}),),
    transports=("socket",),
)

NO_WRAP_SYNC = Variant(
    name="no-wrap-sync",
    stands_for="hypothesis: the per-round sync at the scan wrap is not needed for ordering "
               "(the seed keeps it: 'that provides ordering between the rounds of dirty pages')",
    description="find_dirty_block() wraps without multifd_send_sync_main() and without "
                "the MULTIFD_FLUSH record",
    breaks=("no_stale_overwrite",),
    edits=(Drop("migration", "wrap_sync", "ITERATE"),
           Change("migration", "wrap", "ITERATE", to={"unless": ["pages_left"]})),
)

FREE_BEFORE_JOIN = Variant(
    name="free-before-join",
    stands_for="hypothesis: multifd_recv_cleanup() may free the channels before joining "
               "their threads (the ordering B5 9560a48ecc and B12 4ce5622908 got wrong)",
    description="the destination frees the recv channel state at vm_start(), then joins",
    breaks=("threads_joined_before_free",),
    edits=(Change("load", "vm_start", "VM_START",
                  to={"do": ["vm_start", "restart_loop", "free_recv_state"]}),
           Change("load", "free_recv_state", "CLEANUP", to={"do": []})),
)

NO_RECV_SYNC = Variant(
    name="no-recv-sync",
    stands_for="hypothesis: the destination need not run multifd_recv_sync_main() on "
               "MULTIFD_FLUSH or EOS (for mapped-ram, the seed's parent did not: its "
               "file-mode sync was a no-op)",
    description="ram_load_precopy() reads MULTIFD_FLUSH and EOS without syncing; parked "
                "recv threads wait until multifd_recv_shutdown() wakes them",
    breaks=("memory_matches_source_at_vm_start", "no_channel_io_at_cleanup"),
    edits=(Change("load", "read_flush", "READ_RECORD", to={"dest": "READ_RECORD"}),
           Change("load", "read_eos", "READ_RECORD", dest="RECV_SYNC",
                  to={"dest": "READ_RECORD"})),
    transports=("socket",),
)

STUCK_PENDING_JOB = Variant(
    name="stuck-pending-job",
    stands_for="hypothesis: a send thread leaves pending_job set after its write, as a "
               "channel that died mid-job does (B2, 713f762a31 'fix migrate_cancel leads "
               "live_migration thread endless loop')",
    description="multifd_send_thread() never clears pending_job, so multifd_send_pages() "
                "spins over busy channels forever",
    breaks=("end_always_reachable", "no_fair_livelock"),
    edits=(Change("send", "clear_pending_job", "JOB_SENT", to={"do": []}),),
    transports=("socket",),
    defaults={"channels": 1},
)


NO_SYNC_BEFORE_BITMAP = Variant(
    name="no-sync-before-bitmap",
    stands_for="hypothesis: ram_save_complete() may write the bitmap with no sync after "
               "the last pages (no wrap sync, no final sync; 1d457daf86 keeps the wrap's)",
    description="the channels may still update file_bmap after ram_save_file_bmap() "
                "wrote and freed it",
    breaks=("bitmap_untouched_after_save",),
    edits=NO_WRAP_SYNC.edits + (Change("migration", "complete_sync", "ROUND_DONE",
                                       to={"dest": "COMPLETE_SYNCED", "do": []}),),
    transports=("file",),
)



def _syncs_on_every_eos(cfg, s, t, c):
    """multifd-flush-after-each-section on at the destination: every EOS syncs."""
    return not cfg.mapped_ram


FLUSH_MODE_MISMATCH = Variant(
    name="flush-mode-mismatch",
    stands_for="hypothesis: multifd-flush-after-each-section off on the source and on at "
               "the destination (the parameter must match; nothing checks it)",
    description="the source sends SYNC packets once a round; the destination waits for "
                "them at every EOS",
    breaks=("no_deadlock",), functions={"load": {"syncs_on_eos": _syncs_on_every_eos}},
    flush_modes=("per-round",), transports=("socket",), only=True,
    defaults={"pages": 1, "rounds": 1, "live": False})
