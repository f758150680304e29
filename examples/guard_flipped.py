# Example 1, a guard flipped: my patch inverts the test before the destination's sync
# after RAM_SAVE_FLAG_MEM_SIZE (ram_load_precopy(): `if (migrate_mapped_ram())`).
#   multifd-check run --variant-file examples/guard_flipped.py
from model.variants import Variant


def syncs_after_mem_size(cfg, s, t, c):
    """My patch: `if (!migrate_mapped_ram()) multifd_recv_sync_main();`"""
    return not cfg.mapped_ram


MY_FLIPPED_SYNC = Variant(
    name="my-flipped-mem-size-sync",
    stands_for="hypothesis: my patch syncs after MEM_SIZE on sockets instead of files",
    description="the destination's multifd_recv_sync_main() after MEM_SIZE, test inverted",
    breaks=(),                    # what I expect: nothing breaks (the run says otherwise)
    functions={"load": {"syncs_after_mem_size": syncs_after_mem_size}},
    transports=("file",),
    defaults={"pages": 1},
)
