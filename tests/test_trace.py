"""Trace validation: real traces conform, altered ones are rejected where they break."""

import json
from pathlib import Path

import pytest

from checks.cli import main
from checks.traces.replay import validate
from checks.traces.tracelog import TraceError, parse_text

import mutations

FIXTURES = Path(__file__).parent / "fixtures" / "traces"
RUNS = sorted(p.name[:-len(".src.log")] for p in FIXTURES.glob("*.src.log"))
SOCKET_RUNS = [r for r in RUNS if "-tcp-" in r]


def _version(run):
    return run.split("-")[0][len("qemu"):]


def _lines(run):
    return ((FIXTURES / f"{run}.src.log").read_text().splitlines(),
            (FIXTURES / f"{run}.dst.log").read_text().splitlines())


def _check(src, dst, version):
    return validate(parse_text("\n".join(src), "src", version),
                    parse_text("\n".join(dst), "dst", version), version)


def _rejected_at(verdict, side, line):
    assert not verdict.conforms, "the altered trace was accepted"
    assert verdict.event.side == side, (verdict.event, verdict.reason)
    if line is not None:
        assert verdict.event.line == line, (verdict.event.text, verdict.reason)


@pytest.mark.parametrize("run", RUNS)
def test_real_runs_conform(run):
    """Every captured real run is a behaviour of its version's model, and complete."""
    verdict = _check(*_lines(run), _version(run))
    assert verdict.conforms, (verdict.event, verdict.reason)
    assert verdict.end[0].startswith("complete"), verdict.end
    assert verdict.summary["src_rounds"] >= 3


@pytest.mark.parametrize("run", SOCKET_RUNS)
def test_rounds_and_packets_match_across_sides(run):
    """Both sides count the same sync rounds and the same packets (socket runs)."""
    s = _check(*_lines(run), _version(run)).summary
    assert s["src_rounds"] == s["dst_rounds"]
    assert s["packets_sent"] == s["packets_received"] > 0


@pytest.mark.parametrize("run", SOCKET_RUNS)
@pytest.mark.parametrize("k", [0, 3, 5])
def test_sync_removed_from_source_is_rejected(run, k):
    """A SYNC packet the source never wrote: its read, or the wait for it, is unexplained."""
    src, dst, ch, line = mutations.remove_sync(*_lines(run), k, ("src",))
    verdict = _check(src, dst, _version(run))
    assert not verdict.conforms
    read_there = (verdict.event.side, verdict.event.line) == ("dst", line)
    waited_for = verdict.event.side == "src" and f"send[{ch}]'s sem_sync" in verdict.reason
    assert read_there or waited_for, (verdict.event.text, verdict.reason)


@pytest.mark.parametrize("run", SOCKET_RUNS)
@pytest.mark.parametrize("sides", [("src", "dst"), ("dst",)])
def test_sync_removed_leaves_a_wait_unexplained(run, sides):
    """A SYNC packet missing from both logs (or the destination's) leaves a sync wait unserved."""
    src, dst, _, _ = mutations.remove_sync(*_lines(run), 4, sides)
    verdict = _check(src, dst, _version(run))
    assert not verdict.conforms
    assert "sem_sync" in verdict.reason or "owes an empty packet" in verdict.reason


@pytest.mark.parametrize("run", SOCKET_RUNS)
def test_packet_while_parked_is_rejected(run):
    """A recv thread that logs a packet before the load thread signals it is rejected there."""
    src, dst, side, line = mutations.recv_while_parked(*_lines(run), 3)
    verdict = _check(src, dst, _version(run))
    _rejected_at(verdict, side, line)
    assert "parked" in verdict.reason


@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("side", ["src", "dst"])
def test_missing_wait_is_rejected(run, side):
    """A sync round with a wait missing is rejected at the thread's next event."""
    src, dst, side, line = mutations.missing_wait(*_lines(run), 1, side)
    verdict = _check(src, dst, _version(run))
    _rejected_at(verdict, side, line)
    assert "in order" in verdict.reason


@pytest.mark.parametrize("run", [r for r in SOCKET_RUNS if r.startswith("qemu10")])
def test_coalesced_sync_is_rejected_by_10_0(run):
    """A 7.2-style coalesced SYNC (pages in the SYNC packet) inside a 10.0 trace is rejected."""
    src, dst, side, line = mutations.coalesce_sync(*_lines(run), 4)
    verdict = _check(src, dst, "10.0")
    _rejected_at(verdict, side, line)
    assert "coalesced" in verdict.reason


@pytest.mark.parametrize("run", [r for r in SOCKET_RUNS if r.startswith("qemu7.2")])
def test_a_7_2_trace_is_rejected_by_10_0(run):
    """A real 7.2 trace is not a 10.0 behaviour: rejected at its first 7.2-only event."""
    verdict = _check(*_lines(run), "10.0")
    assert not verdict.conforms
    assert "QEMU 7.2 event" in verdict.reason


def test_coalesced_sync_is_seen_in_7_2():
    """The 7.2 fixtures do contain coalesced SYNCs, so accepting them is not vacuous."""
    src, _ = _lines("qemu7.2-tcp-live-c4")
    nums = [line.split("packet_num ")[1].split()[0] for line in src if ":multifd_send " in line]
    assert len(nums) > len(set(nums))


def test_packet_count_mismatch_is_rejected():
    """thread_end's packet count must equal the packets the thread traced."""
    src, dst = _lines("qemu10.0-tcp-paused-c2")
    i = next(i for i, line in enumerate(src) if "multifd_send_thread_end channel 0" in line)
    src[i] = src[i].rsplit(" ", 1)[0] + " 1"
    verdict = _check(src, dst, "10.0")
    assert not verdict.conforms and "counts" in verdict.reason


def test_malformed_line_names_file_and_line():
    """A line that is not a trace line is a one-line error with its line number."""
    with pytest.raises(TraceError, match=r"x.log:2: expected 'TID@SECONDS"):
        parse_text("1@2.000003:migrate_set_state new state setup\ngarbage here", "src",
                   "10.0", "x.log")


def test_bad_arguments_name_the_format():
    """A known event with arguments in neither version's format is an error."""
    with pytest.raises(TraceError, match=r"y.log:1: multifd_send_fill: expected arguments"):
        parse_text("1@2.000003:multifd_send_fill channel zero", "src", "10.0", "y.log")


def test_cli_exit_codes(tmp_path, capsys):
    """trace exits 0 when it conforms, 1 when rejected, 2 on bad input."""
    run = "qemu7.2-tcp-paused-c2"
    src, dst = (str(FIXTURES / f"{run}.{s}.log") for s in ("src", "dst"))
    assert main(["trace", src, dst, "--qemu", "7.2"]) == 0
    assert "CONFORMS" in capsys.readouterr().out
    assert main(["trace", src, dst, "--qemu", "10.0.13", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "rejected" and out["first_unexplained"]["side"] == "src"
    assert main(["trace", src, dst, "--qemu", "9.1"]) == 2
    assert main(["trace", str(tmp_path / "nothing"), dst, "--qemu", "7.2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("multifd-check: error:") for e in err)


def test_same_input_same_output(capsys):
    """The report is the same bytes on every run."""
    run = "qemu10.0-tcp-paused-c2"
    args = ["trace", *(str(FIXTURES / f"{run}.{s}.log") for s in ("src", "dst")), "--qemu", "10.0"]
    main(args)
    first = capsys.readouterr().out
    main(args)
    assert capsys.readouterr().out == first


@pytest.mark.parametrize("run", SOCKET_RUNS)
def test_line_moved_within_its_thread_is_rejected(run):
    """Per-thread file order is authoritative, even against the stamps: a packet line
    moved above its thread's SYNC line (stamp unchanged) is read out of order."""
    src, dst, side, line = mutations.recv_line_moved_up(*_lines(run), 3)
    verdict = _check(src, dst, _version(run))
    _rejected_at(verdict, side, line)
    assert "stamps never go back" in verdict.reason


def test_last_wait_of_a_mapped_ram_load_missing_is_rejected():
    """multifd_recv_sync_main() has no early return: a file load whose last wait is gone is
    rejected at the load thread's next event."""
    src, dst = _lines("qemu10.0-file-live-c8")
    last = max(i for i, line in enumerate(dst) if ":multifd_recv_sync_main_wait " in line)
    tid = dst[last].split("@")[0]
    altered = dst[:last] + dst[last + 1:]
    nxt = next(m for m in range(last, len(altered)) if altered[m].startswith(tid + "@"))
    verdict = _check(src, altered, "10.0")
    _rejected_at(verdict, "dst", nxt + 1)
    assert "left multifd_recv_sync_main() in the middle" in verdict.reason
