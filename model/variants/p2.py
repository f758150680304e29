"""P2, the source hang the checker found in QEMU 10.0 (docs/hangs.md): one send channel
fails, another exits on `exiting` without posting sem_sync, and multifd_send_sync_main()
waits on it. The candidate fixes, and P1's and P2's fixes together."""

from .dsl import Add, Change, Variant, row
from .p1 import P1_FIX


# -- P2: one send channel fails; another exits on `exiting` without posting sem_sync ----

def _kick_all(cfg, s, t, c):
    """The failing thread posts every channel's p->sem_sync (and channels_ready once)."""
    return s.replace(send_sem_sync=tuple(v + 1 for v in s.send_sem_sync),
                     channels_ready=s.channels_ready + 1)


# Part 1: a send thread that leaves on `exiting` kicks the migration thread, as a failing
# one does (multifd_send_kick_main()).
_EXIT_KICKS = (Change("send", "see_exiting", "DISPATCH", to={"do": ["kick_main"]}),)
# Part 2: after the last wait (SYNC_COLLECT with no channel left), multifd_send_sync_main()
# returns only if no channel set `exiting`, and fails otherwise. The added row has the
# name, source and destination of the seed's check at the loop top (the same check,
# made once more after the waits); only its guards differ.
_RECHECK_AFTER_WAIT = tuple(
    Change("migration", f"return_to_{caller}", "SYNC_COLLECT",
           to={"unless": ["channels_left", "send_exiting"]})
    for caller in ("setup", "wrap", "section", "complete")) + (
    Add("migration", row("sync_sees_exiting", "SYNC_COLLECT", "MULTIFD_FAILED",
                         when=["send_exiting"], unless=["channels_left"],
                         qemu="multifd_send_sync_main")),)

P2_FIX_EXIT_KICKS = Variant(
    name="p2-fix-exit-kicks",
    stands_for="hypothesis: every exiting send thread runs multifd_send_kick_main() (part 1 "
               "of the fix tested on QEMU 10.0.2, docs/hangs.md)",
    description="the migration thread wakes, but a kick for the last channel looks like a "
                "finished sync: MULTIFD_FLUSH goes out with a SYNC packet missing",
    breaks=("no_deadlock",),
    edits=_EXIT_KICKS,
    transports=("socket",),
    faults=("send-write-error",),
)

P2_FIX_KICK_ALL = Variant(
    name="p2-fix-kick-all",
    stands_for="hypothesis: the failing send thread posts every channel's sem_sync",
    description="the same hole as p2-fix-exit-kicks: a kick looks like a finished sync",
    breaks=("no_deadlock",),
    edits=(Change("send", "set_error", "SEND_ERROR", to={"do": ["set_error", "kick_all"]}),),
    functions={"send": {"kick_all": _kick_all}},
    transports=("socket",),
    faults=("send-write-error",),
)

P2_FIX = Variant(
    name="p2-fix",
    stands_for="hypothesis: the 2-part fix tested on QEMU 10.0.2 (docs/hangs.md): every "
               "exiting send thread kicks main, and multifd_send_sync_main() re-checks "
               "exiting after each wait",
    description="no hang on either side under a send write error",
    edits=_EXIT_KICKS + _RECHECK_AFTER_WAIT,
    faults=("send-write-error",),
)



P1_P2_FIX = Variant(
    name="p1-p2-fix",
    stands_for="hypothesis: p1-fix and p2-fix together (a failure on one side of a socket "
               "migration reaches the other as a write error or an early end)",
    description="both hangs fixed: every fault ends in a clean failure on both sides",
    edits=P1_FIX.edits + P2_FIX.edits,
    functions=P1_FIX.functions,
    faults=("recv-read-error", "send-write-error", "recv-eof", "cancel"),
    defaults={"pages": 1, "live": False},
)
