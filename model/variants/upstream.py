"""The patch series in patches/ (docs/upstream.md): QEMU 10.0 with its patches applied one
by one, so that the checker judges each step of the series as it would land.

Each variant is the one before it plus one patch, on `qemu-10.0`:

  0001  multifd_file_recv_data() sets an Error on a short pread (P1a);
  0002  every recv thread posts multifd_recv_state->sem_sync as it quits, and
        multifd_recv_sync_main() fails when one has quit; read_ramblock_mapped_ram()'s
        err: path sets an Error when the file has none (P1, P1b);
  0003  every send thread runs multifd_send_kick_main() as it quits (P2, part 1);
  0004  multifd_send_sync_main() fails when `exiting` is set after a wait on
        p->sem_sync (P2, part 2).

The edits are the ones the candidate fixes of p1.py and p2.py already judge; this module
only puts them in the series' order on QEMU 10.0 (tests/test_upstream.py checks that
each patch's C change is the one its edits describe).
"""

from .dsl import Change, Variant
from .p1 import P1_FIX
from .p2 import P2_FIX, P2_FIX_EXIT_KICKS
from .versions import QEMU_10_0

_SERIES = "hypothesis: patches/{} on QEMU 10.0.2 (not in QEMU yet)"
_TITLES = ("migration/multifd: Set an Error on a short read of a mapped-ram page",
           "migration/multifd: Fail the recv sync when a channel has quit",
           "migration/multifd: Kick the migration thread whenever a send thread quits",
           "migration/multifd: Fail the send sync when a channel quit while we waited")

# 0001: a short read sets a real Error, and the recv thread leaves as on a failed pread
# (multifd_recv_terminate_threads() with that Error).
_SHORT_READ_SETS_ERROR = (
    Change("recv", "pread_short", "READING", to={"dest": "READ_ERROR", "do": ["use_fault"]}),)

# 0002 is P1_FIX, with the way multifd_recv_sync_main() fails made exact: it calls
# multifd_recv_terminate_threads() with its Error, which traces as a recv thread's does.
def _log_terminate_error(cfg, s, t, c):
    """trace_multifd_recv_terminate_threads(1) in multifd_recv_terminate_threads(err),
    called by multifd_recv_sync_main() when a recv thread has quit (patches/0002)."""
    return (("error",),)


_SYNC_TERMINATES = (Change("load", "sync_sees_exiting", "SYNC_WAIT",
                           to={"trace": "log_terminate_error"}),)

# 0004 is P2_FIX's part 2: the edits P2_FIX has beyond part 1.
_RECHECK_AFTER_WAIT = P2_FIX.edits[len(P2_FIX_EXIT_KICKS.edits):]

QEMU_10_0_PATCH1 = Variant(
    name="qemu-10.0-patch1",
    stands_for=_SERIES.format(f'0001 "{_TITLES[0]}"'),
    description="a short pread fails the recv thread with an Error: no NULL dereference, "
                "but the failure now takes P1's path and hangs the load",
    breaks=("no_deadlock",),
    edits=_SHORT_READ_SETS_ERROR,
    based_on=QEMU_10_0,
    transports=("file",),
    faults=("short-read",),
)

QEMU_10_0_PATCH2 = Variant(
    name="qemu-10.0-patch2",
    stands_for=_SERIES.format(f'0001 and 0002 "{_TITLES[1]}"'),
    description="a recv read error or a short read fails the load cleanly, wherever it "
                "strikes",
    edits=P1_FIX.edits + _SYNC_TERMINATES,
    functions={**P1_FIX.functions,
               "load": {**P1_FIX.functions["load"], "log_terminate_error": _log_terminate_error}},
    based_on=QEMU_10_0_PATCH1,
    transports=("file",),
    faults=("recv-read-error",),
)

QEMU_10_0_PATCH3 = Variant(
    name="qemu-10.0-patch3",
    stands_for=_SERIES.format(f'0001 to 0003 "{_TITLES[2]}"'),
    description="no source hang on a send error; with mapped-ram a kick for the last "
                "channel still passes for a finished sync, and the bitmap is written over a "
                "page whose pwritev() failed",
    breaks=("file_matches_source", "memory_matches_source_at_vm_start"),
    edits=P2_FIX_EXIT_KICKS.edits,
    based_on=QEMU_10_0_PATCH2,
    transports=("file",),
    faults=("send-write-error",),
)

QEMU_10_0_PATCHED = Variant(
    name="qemu-10.0-patched",
    stands_for=_SERIES.format(f'0001 to 0004 "{_TITLES[3]}" (the whole series)'),
    description="every fault ends in a clean failure on both sides",
    edits=_RECHECK_AFTER_WAIT,
    based_on=QEMU_10_0_PATCH3,
    faults=("send-write-error",),
)

SERIES = (QEMU_10_0_PATCH1, QEMU_10_0_PATCH2, QEMU_10_0_PATCH3, QEMU_10_0_PATCHED)
