# Example 2, a row moved: recv threads no longer park after a SYNC packet.
#   multifd-check run --variant-file examples/my_patch.py
from model.variants import Change, Variant

MY_NO_PARK = Variant(
    name="my-no-park",
    stands_for="hypothesis: my patch drops the park in multifd_recv_thread()",
    description="after a SYNC packet, post the shared sem_sync and read on",
    breaks=("no_stale_overwrite",),
    edits=(Change("recv", "post_sem_sync", "SYNCING", to={"dest": "TOP"}),),
    transports=("socket",),
    defaults={"pages": 1},
)
