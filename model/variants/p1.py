"""P1, the destination hang the checker found in QEMU 10.0 (docs/hangs.md): a recv
thread's pread fails, the others exit, and multifd_recv_sync_main() waits on for them.
The candidate fixes, each judged by the checker."""

from .. import recv
from .dsl import Add, Change, Variant, row


# -- P1: a recv thread's pread fails; the others exit; multifd_recv_sync_main() waits on --

def _post_sem_sync(cfg, s, t, c):
    """qemu_sem_post(&multifd_recv_state->sem_sync) as the recv thread leaves."""
    return s.replace(sem_sync=s.sem_sync + 1)


# Every way out of multifd_recv_thread() but a crash, with the effects it already has.
_RECV_EXITS = (("see_exiting", "TOP", ()), ("read_eof", "READ", ()),
               ("see_exiting", "FILE_WOKEN", ()), ("terminate_threads", "READ_ERROR",
                                                   ("terminate_threads",)),
               ("read_early_eof", "READ", ("use_fault", "close_channel")))


_RECV_EXITS_POST = tuple(Change("recv", trigger, source,
                               to={"do": list(effects) + ["post_sem_sync_on_exit"]})
                        for trigger, source, effects in _RECV_EXITS)


def _recv_thread_gone(cfg, s, t, c):
    """A recv thread has left multifd_recv_thread(), by an error, `exiting` or an EOF."""
    return any(pc == recv.EXITED for pc in s.recv_pc)


_RECV_POSTS_ON_EXIT = {"recv": {"post_sem_sync_on_exit": _post_sem_sync},
                       "load": {"recv_thread_gone": _recv_thread_gone}}

# read_ramblock_mapped_ram()'s err: path sets a real Error: parse_ramblocks() fails and
# ram_load_precopy() goes on to its unconditional multifd_recv_sync_main().
_P1B_FIX = (Change("load", "multifd_recv_fails", "PICK_CHANNEL",
                   to={"dest": "RECV_SYNC", "do": ["fail_load"]}),)

# multifd_recv_sync_main() returns an error, after its waits, when a recv thread has left
# (by an error, `exiting` or an early EOF), and ram_load_precopy() fails on it.
_SYNC_REPORTS_EXIT = (
    Change("load", "file_sync_done", "SYNC_WAIT",
           to={"unless": ["channels_left", "load_failed", "recv_thread_gone"]}),
    Change("load", "start_release", "SYNC_WAIT",
           to={"unless": ["channels_left", "mapped_ram", "recv_thread_gone"]}),
    Add("load", row("sync_sees_exiting", "SYNC_WAIT", "SHUTDOWN", when=["recv_thread_gone"],
                    unless=["channels_left", "load_failed"], do=["fail_load", "set_exiting"],
                    qemu="multifd_recv_sync_main")),
)

P1B_FIX = Variant(
    name="p1b-fix",
    stands_for="hypothesis: read_ramblock_mapped_ram() sets a real Error when multifd_recv() "
               "fails (P1b fixed alone; docs/hangs.md predicts the P1 hang instead)",
    description="parse_ramblocks() fails cleanly, then multifd_recv_sync_main() runs anyway",
    breaks=("no_deadlock",),
    edits=_P1B_FIX,
    transports=("file",),
    faults=("recv-read-error",),
)

P1_FIX_RECV_EXIT_POSTS = Variant(
    name="p1-fix-recv-exit-posts",
    stands_for="hypothesis: every recv thread posts multifd_recv_state->sem_sync as it exits "
               "(as Prasad Pandit's unmerged v7 5/5 did, Feb 2025)",
    description="the sync after MEM_SIZE returns, but nobody tells the load thread that a "
                "read failed: the VM starts with a page missing",
    breaks=("memory_matches_source_at_vm_start",),
    edits=_RECV_EXITS_POST + _P1B_FIX,
    functions=_RECV_POSTS_ON_EXIT,
    transports=("file",),
    faults=("recv-read-error",),
)

P1_FIX_SYNC_CHECKS_EXITING = Variant(
    name="p1-fix-sync-checks-exiting",
    stands_for="hypothesis: multifd_recv_sync_main() checks multifd_recv_should_exit() "
               "before each wait and fails the load",
    description="a recv thread can fail after the check, while the load thread already "
                "waits: the hang stays",
    breaks=("no_deadlock",),
    states={"load": ("SYNC_CHECK",)},
    edits=_P1B_FIX + (
        Change("load", "start_waits", "FILE_SYNC_POST", to={"dest": "SYNC_CHECK"}),
        Change("load", "sync_socket_channels", "RECV_SYNC", to={"dest": "SYNC_CHECK"}),
        Change("load", "wait_sem_sync", "SYNC_WAIT", to={"dest": "SYNC_CHECK"}),
        Add("load", row("sync_sees_exiting", "SYNC_CHECK", "SHUTDOWN",
                        when=["channels_left", "recv_exiting"], do=["fail_load", "set_exiting"],
                        qemu="multifd_recv_sync_main")),
        Add("load", row("pass_exiting_check", "SYNC_CHECK", "SYNC_WAIT", when=["channels_left"],
                        unless=["recv_exiting"], qemu="multifd_recv_sync_main")),
        Change("load", "start_release", "SYNC_WAIT", to={"source": "SYNC_CHECK"}),
        Change("load", "file_sync_done", "SYNC_WAIT", to={"source": "SYNC_CHECK"}),
        Change("load", "fail_after_sync", "SYNC_WAIT", to={"source": "SYNC_CHECK"})),
    transports=("file",),
    faults=("recv-read-error",),
)

P1_FIX_SKIP_SYNC = Variant(
    name="p1-fix-skip-sync-on-parse-error",
    stands_for="hypothesis: ram_load_precopy() skips multifd_recv_sync_main() when "
               "parse_ramblocks() failed (with P1b fixed, so that it can fail)",
    description="the real hangs have parse_ramblocks() succeed (the recv error is never "
                "passed back), so the hang stays",
    breaks=("no_deadlock",),
    edits=(Change("load", "multifd_recv_fails", "PICK_CHANNEL",
                  to={"dest": "SHUTDOWN", "do": ["fail_load", "set_exiting"]}),),
    transports=("file",),
    faults=("recv-read-error",),
)

P1_FIX = Variant(
    name="p1-fix",
    stands_for="hypothesis: recv threads post sem_sync as they exit, and "
               "multifd_recv_sync_main() then fails when one has left (with P1b's err: path "
               "setting a real Error)",
    description="the smallest change the checker finds sufficient: the load fails cleanly "
                "on a recv read error, wherever it strikes",
    edits=_RECV_EXITS_POST + _P1B_FIX + _SYNC_REPORTS_EXIT,
    functions=_RECV_POSTS_ON_EXIT,
    faults=("recv-read-error",),
    defaults={"transport": "file"},
)
