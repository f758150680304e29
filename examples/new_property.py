# Example 3, a new property with a new ghost: "every SYNC packet is released by
# multifd_recv_sync_main(), never only by the shutdown", checked on QEMU 9.1, whose
# ram_save_complete() sends a final SYNC with no FLUSH after it (637280aeb2, B14).
#   multifd-check run --variant-file examples/new_property.py
from model import load, recv
from model.variants import Change, Variant, invariant


def kick_noting_parked(cfg, s, t, c):
    """multifd_recv_terminate_threads() posting p->sem_sync: note a recv thread parked
    at a SYNC packet that no multifd_recv_sync_main() released."""
    i = s.load_i
    if s.recv_pc[i] == recv.PARKED and not s.recv_sem_sync[i]:
        s = s.replace(my_sync_freed_by_shutdown=1)
    return load.kick_channel(cfg, s, t, c)          # then what QEMU does


def my_syncs_released_by_recv_sync_main(cfg, s) -> bool:
    """Every SYNC packet is released by multifd_recv_sync_main(), not by the shutdown.

    1d457daf86: "the recv threads will hang when receiving the MULTIFD_FLAG_SYNC
    message, waiting for the destination sync which only happens when
    RAM_SAVE_FLAG_MULTIFD_FLUSH is received."
    """
    return not s.my_sync_freed_by_shutdown


MY_SYNC_RELEASE = Variant(
    name="my-sync-release-on-9.1",
    stands_for="637280aeb242 migration/multifd: Avoid the final FLUSH in complete() (9.1)",
    description="QEMU 9.1 with a ghost that notes a SYNC freed by the shutdown",
    based_on="qemu-9.1",                                   # its edits, then these
    breaks=("my_syncs_released_by_recv_sync_main",),
    fields={"my_sync_freed_by_shutdown": 0},               # a new State field, initial 0
    functions={"load": {"kick_noting_parked": kick_noting_parked}},
    edits=(Change("load", "kick_channel", "SHUTDOWN", to={"do": ["kick_noting_parked"]}),),
    properties=(invariant(my_syncs_released_by_recv_sync_main,
                          applies=lambda cfg: not cfg.faults),),
    transports=("socket",),
    defaults={"pages": 1, "rounds": 1, "live": False},
)
