"""Real hang traces (P1, P2) against the skeleton and the model itself."""

from pathlib import Path

import pytest

import checks.engine.packed
from checks.traces.replay import Skeleton, replay, validate, validate_files
from checks.traces.match import (_busy_at_suffix, match_trace, pages_needed, real_projection,
                          render_path)
from checks.traces.tracelog import parse_text
from model import migration, recv, send
from model.config import Config
from model.variants import get_variant

HANGS = Path(__file__).parent / "fixtures" / "hangs"


def _match(lines, side, channels, transport, fault, suffix, pages, pick="any"):
    events = parse_text("\n".join(lines), side, "10.0")
    return match_trace(events, side, channels, transport, fault, suffix, pages,
                       limit=400_000, pick=pick)[2]


def _p1(n):
    return (HANGS / f"p1-qemu10.0-file-c{n}.dst.log").read_text().splitlines()


def _p2(n):
    return (HANGS / f"p2-qemu10.0-tcp-c{n}.src.log").read_text().splitlines()


@pytest.mark.parametrize("n", [2, 4])
def test_p1_trace_conforms_and_ends_in_the_hang(n):
    """Real P1: the load thread waits on sem_sync and every recv thread has exited."""
    verdict = validate_files(None, HANGS / f"p1-qemu10.0-file-c{n}.dst.log", "10.0")
    assert verdict.conforms, verdict.reason
    assert verdict.end[0].startswith("HANG: the load thread waits on the shared sem_sync")


@pytest.mark.parametrize("pick, pages", [("any", 1), ("round-robin", None)])
@pytest.mark.parametrize("n", [2, 4])
def test_p1_trace_is_a_model_deadlock(n, pick, pages):
    """The model has a path with exactly P1's traced events that ends in a deadlock."""
    found = _match(_p1(n), "dst", n, "file", "recv-read-error", False, pages, pick)
    assert found is not None
    path, _ = found
    assert any(label[1].endswith("terminate_threads") for label, _ in path[1:])


@pytest.mark.parametrize("n", [2, 4])
def test_p2_trace_conforms_and_ends_in_the_hang(n):
    """Real P2: the migration thread waits on send[0]'s sem_sync; send[0] left unserved."""
    verdict = validate_files(HANGS / f"p2-qemu10.0-tcp-c{n}.src.log", None, "10.0")
    assert verdict.conforms, verdict.reason
    assert "send[0] has exited with its sync request unserved" in verdict.end[0]
    assert verdict.end[0].startswith("HANG")


@pytest.mark.parametrize("name, pages", [("p1-qemu10.0-file-c4", 2),
                                         ("p1-qemu10.0-file-c4-recv3", 4)])
def test_p1_round_robin_gets_a_page_up_to_the_failed_channel(name, pages):
    """Under round-robin a failed read on recv[f] needs f+1 pages (recv[1], and recv[3]
    in a CI run's trace), and then a path matches."""
    lines = (HANGS / f"{name}.dst.log").read_text().splitlines()
    events = parse_text("\n".join(lines), "dst", "10.0")
    st = Skeleton("10.0", 4, True, has_src=False)
    replay(st, events)
    real = real_projection(events, st.roles, "dst")
    assert pages_needed(events, st.roles, real, "dst") == pages
    assert _match(lines, "dst", 4, "file", "recv-read-error", False, None, "round-robin")


def test_p1_round_robin_with_too_few_pages_matches_nothing():
    """With 1 page the model's scan never hands recv[1] a read: no path matches."""
    assert _match(_p1(4), "dst", 4, "file", "recv-read-error", False, 1, "round-robin") is None


def test_p2_trace_is_a_model_deadlock():
    """At N=2 the model has a path with P2's last round, ending in a deadlock."""
    assert _match(_p2(2), "src", 2, "socket", "send-write-error", True, 2) is not None


def test_the_search_starts_over_when_a_packed_field_is_full(monkeypatch):
    """With every field one bit wide at first, the search starts over with wider fields
    until they hold, and finds the same path."""
    events = parse_text("\n".join(_p2(2)), "src", "10.0")
    args = (events, "src", 2, "socket", "send-write-error", True, 2)
    system, real, wide = match_trace(*args)
    monkeypatch.setattr(checks.engine.packed, "_first_width", lambda value, per_channel: 1)
    _, _, narrow = match_trace(*args)
    assert narrow is not None
    assert render_path(system, narrow, "src", real) == render_path(system, wide, "src", real)


@pytest.mark.parametrize("name, busy", [
    ("p2-qemu10.0-tcp-c4", ["send[0]", "send[2]"]),
    ("p2-qemu10.0-tcp-c4-three-pages", ["send[0]"]),
    ("p2-qemu10.0-tcp-c4-page-after-signal", ["send[2]", "send[3]"])])
def test_the_model_round_has_a_page_per_packet_shown_and_per_busy_channel(name, busy):
    """A 4-channel P2 suffix needs 4 pages: its page packets, and a page on each channel
    whose last packet before it was a page and that shows none in it."""
    events = parse_text((HANGS / f"{name}.src.log").read_text(), "src", "10.0")
    verdict = validate(events, [], "10.0")
    assert verdict.conforms and verdict.end[0].startswith("HANG")
    st = Skeleton("10.0", 4, False, has_src=True)
    replay(st, events)
    real = real_projection(events, st.roles, "src", True)
    assert _busy_at_suffix(events, st.roles, real) == busy
    assert pages_needed(events, st.roles, real) == 4


# The third trace is the first with its last round replaced by the one a CI run's report
# printed (send[3]'s SYNC first, then a page on send[0] and on send[1]); that run's own
# trace, not kept, passed breadth-first's bound of 30 million product states.
@pytest.mark.parametrize("name", ["p2-qemu10.0-tcp-c4", "p2-qemu10.0-tcp-c4-three-pages",
                                  "p2-qemu10.0-tcp-c4-page-after-signal"])
def test_p2_trace_is_a_model_deadlock_at_four_channels(name):
    """At N=4, under QEMU's round-robin pick and within 400,000 product states, send[0]
    ends unserved and the migration thread waits on channel 0 for good."""
    events = parse_text((HANGS / f"{name}.src.log").read_text(), "src", "10.0")
    system, real, found = match_trace(events, "src", 4, "socket", "send-write-error", True,
                                      None, limit=400_000, pick="round-robin")
    assert found is not None
    path, start = found
    assert path[-1][1].mig_pc == migration.STATES.index("SYNC_WAIT_SYNC")
    assert path[-1][1].mig_i == 0 and path[-1][1].send_pc[0] == send.EXITED


def test_round_robin_needs_the_busy_channels_page():
    """With a page only per packet shown, no round-robin path matches (a complete
    search); with one more for send[0], busy when the round starts, one does (above)."""
    events = parse_text((HANGS / "p2-qemu10.0-tcp-c4-three-pages.src.log").read_text(), "src",
                        "10.0")
    assert match_trace(events, "src", 4, "socket", "send-write-error", True, 3,
                       limit=30_000_000, pick="round-robin")[2] is None


def _served(lines):
    """The P2 trace as if send[0] had written its SYNC packet after the wait began."""
    wait = max(i for i, line in enumerate(lines) if ":multifd_send_sync_main_wait channel 0" in line)
    tid = next(line.split("@")[0] for line in reversed(lines)
               if ":multifd_send_thread_end channel 0" in line)
    stamp = lines[wait].split("@")[1].split(":")[0]
    served = f"{tid}@{stamp}:multifd_send_fill channel 0 packet_num 999999 flags 0x1 next packet size 0"
    return lines[:wait + 1] + [served] + lines[wait + 1:]


def test_served_sync_is_not_a_deadlock():
    """If send[0] had written its SYNC packet, no deadlocked model path matches."""
    altered = _served(_p2(2))
    assert _match(altered, "src", 2, "socket", "send-write-error", True, 2) is None
    events = parse_text("\n".join(altered), "src", "10.0")
    assert not validate(events, [], "10.0").end[0].startswith("HANG")


def test_recv_exit_without_a_cause_is_rejected():
    """Without the failing thread's terminate, a mapped-ram recv thread has no reason to exit."""
    lines = [line for line in _p1(2) if ":multifd_recv_terminate_threads error 1" not in line]
    verdict = validate([], parse_text("\n".join(lines), "dst", "10.0"), "10.0")
    assert not verdict.conforms
    assert "multifd_recv_terminate_threads" in verdict.reason


def test_part_one_of_the_p2_fix_leaves_a_destination_hang():
    """Real 10.0.2 with part 1 of the P2 fix only: the source reports a sync finished after
    its last channel failed, and the destination hangs waiting for that SYNC; with both
    parts the destination fails cleanly (harness/experiments/README.md)."""
    src = HANGS / "p2dst-qemu10.0-part1-tcp-c2.src.log"
    dst = HANGS / "p2dst-qemu10.0-part1-tcp-c2.dst.log"
    lines = src.read_text().splitlines()
    error = next(i for i, line in enumerate(lines) if ":multifd_send_error channel 1" in line)
    assert any(":multifd_send_sync_main packet num" in line for line in lines[error:])
    assert validate_files(src, None, "10.0").conforms
    hang = validate_files(None, dst, "10.0")
    assert hang.conforms and hang.end[0].startswith("HANG: the load thread waits")
    both = validate_files(None, HANGS / "p2dst-qemu10.0-both-tcp-c2.dst.log", "10.0")
    assert both.conforms and not both.end[0].startswith("HANG")


@pytest.mark.parametrize("variant, hangs", [("qemu-10.0", True), ("p2-fix-exit-kicks", True),
                                            ("p2-fix", False)])
def test_the_destination_hang_is_a_deadlock_of_the_part_one_model(variant, hangs):
    """The real destination hang (part 1 of the fix on, the last round from `wait iter 0`
    on) matches a deadlock of qemu-10.0 and of p2-fix-exit-kicks, and none of p2-fix."""
    events = parse_text((HANGS / "p2dst-qemu10.0-part1-tcp-c2.dst.log").read_text(), "dst",
                        "10.0")
    found = match_trace(events, "dst", 2, "socket", "send-write-error", True, 2,
                        pick="round-robin", variant=variant)[2]
    assert (found is not None) == hangs
    if hangs:
        assert found[0][-1][1].recv_pc[1] == recv.EXITED


def test_the_clean_destination_failure_is_no_deadlock():
    """With both parts of the fix the real destination fails cleanly; its last round
    matches no model deadlock of p2-fix."""
    events = parse_text((HANGS / "p2dst-qemu10.0-both-tcp-c2.dst.log").read_text(), "dst",
                        "10.0")
    assert match_trace(events, "dst", 2, "socket", "send-write-error", True, 2,
                       pick="round-robin", variant="p2-fix")[2] is None


def test_the_model_predicts_it():
    """The model's p2-fix-exit-kicks (part 1 only) hangs; p2-fix (both parts) passes."""
    from checks.verify import verify
    config = Config(channels=2, pages=1, rounds=1, live=False, faults=("send-write-error",))
    _, part1 = verify(config, get_variant("p2-fix-exit-kicks"))
    _, both = verify(config, get_variant("p2-fix"))
    assert part1.property == "no_deadlock" and both.verdict == "pass"


def test_p1_hang_after_one_wait_returned():
    """A real P1 run where one recv thread served its sync post before it saw `exiting`:
    the load thread passes `wait iter 0` and hangs at `iter 1`. It conforms (an exited
    thread may have posted before it left) and is still a model deadlock."""
    lines = (HANGS / "p1-qemu10.0-file-c2-iter1.dst.log").read_text().splitlines()
    assert any(line.endswith("multifd_recv_sync_main_wait iter 1") for line in lines)
    verdict = validate_files(None, HANGS / "p1-qemu10.0-file-c2-iter1.dst.log", "10.0")
    assert verdict.conforms, verdict.reason
    assert verdict.end[0].startswith("HANG: the load thread waits")
    assert _match(lines, "dst", 2, "file", "recv-read-error", False, 1) is not None


# Two real 4-channel P1 runs (of 50 in a row) that the skeleton rejected before it knew
# that the terminate logs before it sets `exiting`. The first has the shape of a CI run's
# report (that trace was not kept): the terminate's line is stamped between `signal 0`
# and `signal 1`, and the load thread hangs at `iter 2`; in the second it hangs at `iter 3`.
LATE_EXITING = HANGS / "p1-qemu10.0-file-c4-late-exiting.dst.log"


def _exiting_before_signal_1():
    """LATE_EXITING with the terminating thread's next line (migrate_error, logged after
    its xchg) stamped before `signal 1`."""
    text = LATE_EXITING.read_text()
    early = text.replace("329.550455:migrate_error", "329.550420:migrate_error")
    assert early != text
    return early


@pytest.mark.parametrize("name, iters", [("p1-qemu10.0-file-c4-late-exiting", 3),
                                         ("p1-qemu10.0-file-c4-late-exiting-iter3", 4)])
def test_p1_sync_posts_served_between_the_terminates_line_and_its_xchg(name, iters):
    """multifd_recv_terminate_threads() logs, then sets `exiting`: until the terminating
    thread logs again, a channel may still serve a sync post signalled after the line.
    The trace conforms, ends in the hang, and is a model deadlock."""
    lines = (HANGS / f"{name}.dst.log").read_text().splitlines()
    assert sum("multifd_recv_sync_main_wait" in line for line in lines) == iters
    verdict = validate_files(None, HANGS / f"{name}.dst.log", "10.0")
    assert verdict.conforms, verdict.reason
    assert verdict.end[0].startswith("HANG: the load thread waits")
    assert _match(lines, "dst", 4, "file", "recv-read-error", False, None, "round-robin")


def test_p1_no_sync_post_is_served_once_the_terminating_thread_went_on():
    """With the terminating thread's next line stamped before `signal 1`, signals 1 to 3
    find `exiting` set, and `iter 1` cannot return."""
    verdict = validate([], parse_text(_exiting_before_signal_1(), "dst", "10.0"), "10.0")
    assert not verdict.conforms
    assert "nothing posted it" in verdict.reason


def test_where_the_trace_is_too_long_the_model_finds_p2_itself():
    """repro-p2's fallback above two channels: qemu-10.0 with QEMU's round-robin pick
    breaks no_deadlock under send-write-error on its own (here at N=2, in a second)."""
    from harness.p2 import model_finds_p2
    found, line = model_finds_p2(2)
    assert found and "qemu-10.0 at socket N=2" in line and "breaks no_deadlock" in line


def test_repro_p2_matches_every_hang_trace_and_names_the_others(tmp_path):
    """Past the trace it shows, repro-p2 matches each hang trace, and names one that
    matches no model deadlock with the reason."""
    from harness.p2 import _other_hangs
    served = tmp_path / "served" / "src.trace"
    served.parent.mkdir()
    served.write_text("\n".join(_served(_p2(2))) + "\n")
    lines = _other_hangs([(Path("p2-c2-r2"), HANGS / "p2-qemu10.0-tcp-c2.src.log"),
                          (served.parent, served)], 2)
    assert lines[0] == "  others   p2-c2-r2: conform and match a model deadlock"
    assert lines[1].startswith("  others   served: NO model path of qemu-10.0 at socket N=2")


def test_a_p1_miss_shows_the_whole_trace(tmp_path):
    """A report that did not reproduce P1 shows every multifd line, and migrate_error, so
    a trace the skeleton rejects can be rebuilt from CI's log, and names the line it was
    rejected at; a hit shows the last 8."""
    from types import SimpleNamespace as NS

    from harness.repro import _p1_report
    build = NS(describe=lambda: "QEMU 10.0.2")
    block = NS(name="/rom@etc/acpi/rsdp", pages_offset=0x10600000)
    early = tmp_path / "dst.trace"       # rejected
    early.write_text(_exiting_before_signal_1())
    verdict = validate_files(None, early, "10.0")

    def report(ok):
        return _p1_report(build, 4, block, "qmp-timeout", 2.0, {}, early, verdict,
                          ["the trace does not conform"], ok)
    miss, hit = report(False), report(True)
    assert "  real trace, all multifd lines:" in miss
    assert any("multifd_recv_thread_start" in x for x in miss)
    assert any(":migrate_error " in x for x in miss)
    assert not any("multifd_recv_thread_start" in x for x in hit)
    assert miss[miss.index(f"  skeleton REJECTED; {verdict.reason}") + 1] == \
        "           at dst:14: 14572@1795719329.550439:multifd_recv_sync_main_wait iter 2"


def test_a_p2_miss_shows_its_last_two_rounds():
    """Where the checks do not confirm a P2 hang, its report shows the trace from the
    round before the last on (the match reads the last round and the packets before
    it); a confirmed one shows the last 10 lines."""
    from harness.p2 import _shown_lines
    trace = HANGS / "p2-qemu10.0-tcp-c4.src.log"
    lines = [x for x in trace.read_text().splitlines()
             if "multifd" in x or ":migrate_error " in x]
    hit, miss = _shown_lines(trace, True), _shown_lines(trace, False)
    assert hit[1:] == [f"    {x}" for x in lines[-10:]]
    assert miss[0] == "  real trace, its last two rounds' multifd lines:"
    assert miss[-1] == f"    {lines[-1]}"
    signals = [x for x in miss if "multifd_send_sync_main_signal channel 0" in x]
    assert len(signals) == 2 and miss[1] == signals[0]


def test_the_socket_release_projects_as_qemu_logs_it():
    """multifd_recv_sync_main() on sockets logs a signal per channel as it releases the
    parked recv threads; the model's release rows project onto the same events as the
    real lines do, so a destination suffix through a completed round can match."""
    from checks.system import System
    from checks.traces.match import model_events
    system = System(Config(channels=2, pages=1, rounds=1, live=False), transactions=False)
    seen, todo, released = set(), [system.initial_states()[0]], {}
    while todo and len(released) < 2:
        s = todo.pop()
        for label, nxt in system.successors(s):
            if label[:2] == ("load", "release_channel"):
                released[s.load_i] = model_events(system, s, label)
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    lines = "\n".join(f"9@1.00000{i}:multifd_recv_sync_main_signal channel {i}"
                      for i in range(2))
    real = real_projection(parse_text(lines, "dst", "10.0"), {("dst", 9): "load thread"},
                           "dst")
    assert released == {0: [(("signal", 0),)], 1: [(("signal", 1),)]}
    assert real == {"load": [("signal", 0), ("signal", 1)]}
