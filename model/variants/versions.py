"""QEMU versions: the seed, its parent, and the releases after it (9.1, 10.0), and
QEMU 7.2 (Debian bookworm), each as edits of the seed's tables."""

from ..state import NO_JOB, put
from .dsl import Add, Change, Drop, Variant, never, per_round, per_section, row


SEED = Variant(
    name="seed",
    stands_for="9d01778af8e3 migration/multifd: Prepare multifd sync for mapped-ram "
               "migration (with the multifd.c of a49d15a38d)",
    description="the seed design: the sync points of ram.c at the seed, QEMU 9.0 multifd.c",
)


# ram.c before the seed: the sync points ignore mapped-ram (docs/protocol.md: The seed and
# its parent; I1).
_PARENT_SOURCE = {"flush_record": per_round, "syncs_at_wrap": per_round,
                  "syncs_per_section": per_section}
# ... and its destination: no sync after MEM_SIZE, FLUSH valid, EOS syncs per section,
# and the parent's multifd.c, whose multifd_recv_sync_main() returns at once for files.
_PARENT_DESTINATION = {"syncs_after_mem_size": never, "flush_invalid": never,
                       "syncs_on_eos": per_section, "file_sync_works": never}

PARENT = Variant(
    name="parent",
    stands_for="2dd7ee7a51bc migration/multifd: Add incoming QIOChannelFile support "
               "(the seed's parent: ram.c and the file-mode recv sync before the seed)",
    description="mapped-ram source writes MULTIFD_FLUSH into the file and syncs per "
                "section when asked; the destination never waits for its read jobs",
    breaks=("no_read_in_flight_after_mem_size",),
    functions={"migration": _PARENT_SOURCE, "load": _PARENT_DESTINATION},
    transports=("file",),
)

PARENT_FILE_SEED_DEST = Variant(
    name="parent-file-seed-dest",
    stands_for="9d01778af8e3 (the seed) loading a file a parent (2dd7ee7a51bc) source wrote",
    description="the parent source writes MULTIFD_FLUSH into the mapped-ram file; the seed "
                "destination must fail with 'Unexpected RAM flags', never hang or start "
                "the VM",
    breaks=("vm_starts",),
    functions={"migration": _PARENT_SOURCE},
    flush_modes=("per-round",),
    transports=("file",),
)



# -- QEMU versions after the seed (docs/protocol.md) -------------------------------------

_NO_FINAL_FLUSH = (
    Drop("migration", "put_flush", "BITMAP_SAVED"),
    Change("migration", "put_eos", "BITMAP_SAVED", to={"unless": []}),
)
# 0bd5b9284f (9.1): a file channel that fails to be created no longer ends the setup loop.
_B13_FIXED = (Change("migration", "create_file_channel_fails", "CREATE", to={"dest": "CREATE"}),)

QEMU_9_1 = Variant(
    name="qemu-9.1",
    stands_for="637280aeb242 migration/multifd: Avoid the final FLUSH in complete() (9.1)",
    description="ram_save_complete() keeps its final sync but writes no MULTIFD_FLUSH: the "
                "recv threads stay parked at the last SYNC until shutdown (B14)",
    edits=_NO_FINAL_FLUSH + _B13_FIXED,
)

QEMU_10_0 = Variant(
    name="qemu-10.0",
    stands_for="1d457daf8681 migration/multifd: Further remove the SYNC on complete (10.0; "
               "with 637280aeb2 and 10801e08ac: mapped-ram syncs LOCAL)",
    description="ram_save_complete() syncs only in per-section mode and writes no FLUSH; "
                "mapped-ram relies on the last wrap's sync before the bitmap",
    edits=_NO_FINAL_FLUSH + _B13_FIXED + (
        Change("migration", "complete_sync", "ROUND_DONE", to={"when": ["syncs_per_section"]}),
        Add("migration", row("skip_complete_sync", "ROUND_DONE", "COMPLETE_SYNCED",
                             unless=["rounds_left", "syncs_per_section"],
                             qemu="ram_save_complete")),
    ),
)




def _read_handed_over_buffer(cfg, s, t, c):
    """multifd_queue_page() reads pages->block after multifd_send_pages() handed `pages`
    to channel c: the channel owns it while pending_job is set."""
    return s.replace(job_read_after_handover=1) if s.pending_job[c] else s


# -- QEMU 7.2 (Debian bookworm; docs/protocol.md, QEMU 7.2) ------------------------------

def _take_job_72(cfg, s, t, c):
    """7.2 multifd_send_thread(): under p->mutex, the packet takes p->pages and p->flags
    (MULTIFD_FLAG_SYNC if a sync was requested): a SYNC can ride on a data packet."""
    job = s.send_job[t]
    pages = job & ~1 if job != NO_JOB else 0
    packet = pages | (1 if s.pending_sync[t] else 0)
    return s.replace(send_job=put(s.send_job, t, packet), pending_sync=put(s.pending_sync, t, 0),
                     sockets=put(s.sockets, t, s.sockets[t] + (packet,)))


def _finish_job_72(cfg, s, t, c):
    """pending_job--; if the packet carried SYNC, post p->sem_sync; post channels_ready."""
    packet = s.send_job[t]
    s = s.replace(pending_job=put(s.pending_job, t, s.pending_job[t] - 1),
                  send_job=put(s.send_job, t, NO_JOB), channels_ready=s.channels_ready + 1)
    if packet & 1:
        s = s.replace(send_sem_sync=put(s.send_sem_sync, t, s.send_sem_sync[t] + 1))
    return s


def _job_counted(cfg, s, t, c):
    return s.pending_job[t] > 0


def _bump_pending_job(cfg, s, t, c):
    """7.2 multifd_send_sync_main(): p->flags |= MULTIFD_FLAG_SYNC; p->pending_job++."""
    i = s.mig_i - 1
    return s.replace(pending_job=put(s.pending_job, i, s.pending_job[i] + 1))


_QEMU_7_2_SOURCE = (
    # send thread: no post at the loop top; one packet per pending_job count
    Change("send", "post_channels_ready", "TOP", to={"do": []}),
    Drop("send", "write_page_packet", "DISPATCH"),
    Drop("send", "write_sync_packet", "DISPATCH"),
    Add("send", row("write_packet", "DISPATCH", "JOB_SENT", when=["job_counted"],
                    unless=["exiting", "mapped_ram", "peer_closed"], do="take_job_72",
                    qemu="multifd_send_thread")),
    Change("send", "clear_pending_job", "JOB_SENT", to={"do": ["finish_job_72"]}),
    Add("send", row("spurious_wakeup", "DISPATCH", "TOP", unless=["exiting", "job_counted"],
                    qemu="multifd_send_thread")),
    # migration thread: the sync bumps pending_job and waits only on p->sem_sync
    Change("migration", "request_sync", "SYNC_REQUEST",
           to={"do": ["request_sync", "bump_pending_job"]}),
    Drop("migration", "sync_sees_exiting", "SYNC_COLLECT"),
    Change("migration", "pass_exiting_check", "SYNC_COLLECT",
           to={"dest": "SYNC_WAIT_SYNC", "unless": []}),
    Change("migration", "queue_page", "PICK", to={"do": ["queue_page", "read_handed_over_buffer"]}),
)
_QEMU_7_2_DESTINATION = (
    # multifd_load_cleanup() (terminate, join, free) before vm_start()
    Change("load", "kicks_done", "SHUTDOWN", to={"dest": "CLEANUP", "do": ["restart_loop"]}),
    Change("load", "free_recv_state", "CLEANUP",
           to={"dest": "VM_START", "unless": ["channels_left", "load_failed"]}),
    Add("load", row("free_recv_state", "CLEANUP", "DONE", when=["load_failed"],
                    unless=["channels_left"], do="free_recv_state", qemu="multifd_load_cleanup")),
    Change("load", "vm_start", "VM_START", to={"dest": "DONE", "do": ["vm_start"]}),
)
_QEMU_7_2_FUNCTIONS = {
    "send": {"take_job_72": _take_job_72, "finish_job_72": _finish_job_72,
             "job_counted": _job_counted},
    "migration": {"bump_pending_job": _bump_pending_job,
                  "read_handed_over_buffer": _read_handed_over_buffer},
}

QEMU_7_2 = Variant(
    name="qemu-7.2",
    stands_for="b67b00e6b4c7 v7.2.0 (Debian bookworm's QEMU): multifd before the 8.x-9.0 "
               "reworks",
    description="a job and a sync share pending_job, so a SYNC can ride on a data packet, "
                "then an empty packet; channels_ready posted after every job (B6); "
                "pages->block read after the handover (B9); per-section sync only",
    breaks=("channels_ready_bounded", "job_buffer_single_owner"),
    edits=_QEMU_7_2_SOURCE + _QEMU_7_2_DESTINATION,
    functions=_QEMU_7_2_FUNCTIONS,
    flush_modes=("per-section",),
    transports=("socket",),
    only=True,
    defaults={"pages": 1},
)
