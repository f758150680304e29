"""Every failure honest (issue 20): each hostile input a careful user tried, and what the
tool now does with it. Exit codes: docs/cli.md (checks/cli.py CONTRACT)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from checks import cli, output
from checks.cli import main
from checks.engine import bounds
from checks.engine.explorer import Property, explore
from checks.matrix import entry_line
from checks.traces.tracelog import parse_text

FIXTURES = Path(__file__).parent / "fixtures" / "traces"
SRC, DST = FIXTURES / "qemu10.0-tcp-live-c2.src.log", FIXTURES / "qemu10.0-tcp-live-c2.dst.log"
CLI = [sys.executable, "-m", "checks.cli"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> bool:
    return err.count("\n") == 1 and "Traceback" not in err


def _variant_file(tmp_path, body: str, name="variant.py") -> Path:
    path = tmp_path / name
    path.write_text("from model.variants import Variant, Change, Add\n"
                    "from model.machine import row\n" + body)
    return path


# -------------------------------------------------------------- exit codes

def test_a_bug_in_the_checker_is_exit_4_with_the_traceback_in_a_file(capsys, monkeypatch):
    def broken(args):
        raise KeyError("a bug")
    monkeypatch.setattr(cli, "cmd_variants", broken)
    code, out, err = run(capsys, "variants")
    assert code == 4 and one_line(err) and "internal error" in err
    log = err.split("the traceback is in ")[1].strip()
    assert "KeyError" in Path(log).read_text() and "Traceback" in Path(log).read_text()
    os.unlink(log)


def test_debug_shows_the_traceback(monkeypatch):
    monkeypatch.setattr(cli, "cmd_variants", lambda args: {}["a bug"])
    with pytest.raises(KeyError):
        main(["--debug", "variants"])


def test_the_contract_is_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "4 an internal error" in text and "3 a bound hit before a verdict" in text


# -------------------------------------------------------------- traces

@pytest.mark.parametrize("content, words", [
    ("", "empty; was the trace enabled? -trace 'multifd_*'"),
    ("123@1.000001:vm_state_notify running 1 reason 9\n", "no multifd event in 1 line"),
    ("1@2.000003:migrate_set_state new state setup\n", "no multifd event"),
])
def test_a_log_with_no_multifd_events_is_bad_input(capsys, tmp_path, content, words):
    log = tmp_path / "src.log"
    log.write_text(content)
    code, out, err = run(capsys, "trace", log, "none", "--qemu", "10.0")
    assert code == 2 and out == "" and one_line(err) and words in err


def test_dev_null_twice_is_bad_input_not_conforms(capsys):
    code, out, err = run(capsys, "trace", "/dev/null", "/dev/null", "--qemu", "7.2")
    assert code == 2 and "a device, not a trace log file" in err


def test_a_channel_the_logs_never_create_is_bad_input(capsys, tmp_path):
    lines = SRC.read_text().split("\n")
    k = next(i for i, line in enumerate(lines) if "multifd_send_fill channel 1 " in line)
    lines[k] = lines[k].replace("channel 1 ", "channel 10000000 ")
    log = tmp_path / "src.log"
    log.write_text("\n".join(lines))
    code, _, err = run(capsys, "trace", log, "none", "--qemu", "10.0", "--max-memory", "2000")
    assert code == 2 and f"src.log:{k + 1}: channel 10000000, but the migration creates " \
        "channels 0 to 1" in err


def test_a_created_channel_beyond_qemus_maximum_is_bad_input(capsys, tmp_path):
    log = tmp_path / "src.log"
    log.write_text(SRC.read_text().replace("multifd_send_thread_start 1",
                                           "multifd_send_thread_start 10000000"))
    code, _, err = run(capsys, "trace", log, "none", "--qemu", "10.0")
    assert code == 2 and "at most 255 multifd channels" in err


@pytest.mark.parametrize("make", ["fifo", "directory", "zero"])
def test_fifos_devices_and_directories_are_refused_at_once(capsys, tmp_path, make):
    path = {"fifo": tmp_path / "fifo", "directory": tmp_path, "zero": Path("/dev/zero")}[make]
    if make == "fifo":
        os.mkfifo(path)               # no writer: reading it would block for good
    code, _, err = run(capsys, "trace", path, "none", "--qemu", "10.0")
    assert code == 2 and one_line(err) and "not a trace log file" in err


def test_a_truncated_last_line_is_left_out_and_reported(capsys, tmp_path):
    text = SRC.read_text()
    log = tmp_path / "src.log"
    log.write_text(text[:-12])        # the last line cut mid-way, no newline
    code, out, _ = run(capsys, "trace", log, DST, "--qemu", "10.0", "--json")
    notes = json.loads(out)["notes"]
    assert len(notes) == 1 and "the last line has no newline" in notes[0]
    assert notes[0].startswith(f"{log}:{text.count(chr(10))}:")


def test_swapped_logs_are_recognised(capsys):
    code, _, err = run(capsys, "trace", DST, SRC, "--qemu", "10.0")
    assert code == 2 and "the logs look swapped" in err
    code, _, err = run(capsys, "trace", "none", SRC, "--qemu", "10.0")
    assert code == 2 and "give it as SRC_LOG" in err


def test_line_numbers_count_newlines_only():
    """A form feed or U+2028 inside a line's arguments does not start a new line."""
    text = ("1@2.000001:vm_state_notify a\u2028b\x0cc\n"
            "1@2.000002:multifd_send_sync_main_signal channel 9 x\n")
    with pytest.raises(Exception, match=r"y.log:2: multifd_send_sync_main_signal"):
        parse_text(text, "src", "10.0", "y.log")


@pytest.mark.parametrize("version", ["7.2.junk.x", "10.0.", "7.2x", "10.0.1.2", "٧.٢"])
def test_a_qemu_version_must_be_a_release(capsys, version):
    code, _, err = run(capsys, "trace", SRC, "none", "--qemu", version)
    assert code == 2 and "unsupported QEMU version" in err


def test_a_trace_field_of_thousands_of_digits_is_bad_input(capsys, tmp_path):
    log = tmp_path / "src.log"
    log.write_text(SRC.read_text().replace("packet_num 1 ", "packet_num " + "9" * 5000 + " ", 1))
    code, _, err = run(capsys, "trace", log, "none", "--qemu", "10.0")
    assert code == 2 and one_line(err) and "has 5000 digits" in err and len(err) < 400


def _long_log(path, extra_lines: int) -> None:
    """The fixture's source log with `extra_lines` lines of a thread multifd does not
    know (a vCPU's events), stamped among its own."""
    lines = SRC.read_text().split("\n")
    first = lines[0].split(":")[0].split("@")[1]
    path.write_text("".join(f"99999@{first}:vcpu_event {k}\n" for k in range(extra_lines)) +
                    "\n".join(lines))


@pytest.mark.parametrize("bound, words", [(["--max-memory", "1"], "memory bound 1 MB"),
                                          (["--max-seconds", "1"], "time bound 1 s")])
def test_trace_is_bounded_in_time_and_memory(capsys, tmp_path, bound, words):
    log = tmp_path / "src.log"
    _long_log(log, 400_000)
    code, _, err = run(capsys, "trace", log, "none", "--qemu", "10.0", *bound)
    assert code == 3 and f"stopped before a verdict: {words} reached" in err


def test_a_long_log_conforms_and_shows_progress(capsys, tmp_path):
    log = tmp_path / "src.log"
    _long_log(log, 200_000)
    code, out, _ = run(capsys, "trace", log, "none", "--qemu", "10.0")
    assert code == 0 and "verdict CONFORMS" in out


# -------------------------------------------------------------- numbers

@pytest.mark.parametrize("argv", [
    ["run", "--channels", "٣"], ["run", "--channels", "1_0"], ["run", "--pages", " 2"],
    ["run", "--channels", "9" * 5000], ["run", "--max-states", "1" * 5000],
    ["run", "--transport", "file", "--zero-pages", "1" * 5000 + "@1"],
    ["run", "--transport", "file", "--zero-pages", "٣@1"],
])
def test_numbers_are_ascii_digits_of_sensible_length(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and one_line(err) and len(err) < 400


def test_max_states_stops_at_k(capsys):
    for extra in ([], ["--fingerprint"]):
        code, out, _ = run(capsys, "run", "--max-states", "10", "--json", "--quiet", *extra)
        data = json.loads(out)
        assert code == 3 and data["states"] == 10 and data["bound"] == "max-states 10 reached"


# -------------------------------------------------------------- bounds

LOOPING_GUARD = '''
def spin(cfg, s, t, c):
    while True:
        pass

V = Variant(name="spins", stands_for="hypothesis: a guard that never returns",
            description="d", functions={"load": {"spin": spin}},
            edits=(Change("load", "open_file", "START", to={"when": ["spin"]}),))
'''
GROWING_EFFECT = '''
def grow(cfg, s, t, c):
    hoard = []
    while True:
        hoard.append(bytearray(1 << 20))

V = Variant(name="grows", stands_for="hypothesis: an effect that takes all the memory",
            description="d", functions={"load": {"grow": grow}},
            edits=(Change("load", "open_file", "START", to={"do": ["grow"]}),))
'''
NO_WAIT = '''
def bump(cfg, s, t, c):
    return s.replace(counter=s.counter + 1)

V = Variant(name="counts", stands_for="hypothesis: a loop with no wait, its state growing",
            description="d", fields={"counter": 0}, functions={"load": {"bump": bump}},
            edits=(Add("load", row("again", "START", "START", do=["bump"], qemu="x")),))
'''


@pytest.mark.parametrize("body, bound, words", [
    (LOOPING_GUARD, ["--max-seconds", "2"], "time bound 2 s reached"),
    (GROWING_EFFECT, ["--max-memory", "400"], "memory bound 400 MB reached"),
    (NO_WAIT, [], "a transaction of load ran 1,000 steps without reaching a wait"),
])
def test_a_user_function_that_never_ends_meets_the_bounds(capsys, tmp_path, body, bound, words):
    """A guard that loops, an effect that eats memory, a transaction that never waits: an
    inconclusive verdict with valid JSON and exit 3 (not a hang, a crash or exit 4)."""
    path = _variant_file(tmp_path, body)
    code, out, err = run(capsys, "run", "--variant-file", path, "--transport", "file",
                         "--quiet", "--json", *bound)
    data = json.loads(out)
    assert code == 3 and data["verdict"] == "inconclusive" and words in data["bound"]


def test_the_analysis_after_the_search_is_bounded(monkeypatch):
    """A bound hit while the liveness analysis runs (the watchdog's BoundHit) makes the
    verdict inconclusive."""
    from checks.engine import explorer

    def slow(self):
        raise bounds.BoundHit("time bound 1 s reached")
    monkeypatch.setattr(explorer._Run, "_analyse", slow)

    class Counter:
        def initial_states(self):
            return [0]

        def successors(self, s):
            return [(("t", "inc", ""), s + 1)] if s < 3 else []

        def is_proper_end(self, s):
            return s == 3
    result = explore(Counter(), [Property("small", "always", lambda s: s < 9, "doc")])
    assert result.verdict == "inconclusive" and result.bound == "time bound 1 s reached"


def test_the_watchdog_stops_a_loop_in_the_main_thread():
    began = time.monotonic()
    with pytest.raises(bounds.BoundHit, match="time bound 0.3 s"):
        with bounds.Watchdog(max_seconds=0.3):
            while True:
                pass
    assert time.monotonic() - began < 5


def test_a_bound_swallowed_inside_the_block_still_ends_it():
    """A BoundHit raised inside a finalizer or a gc callback is ignored by Python (in CI
    it once was, in Hypothesis's gc callback, and a trace over its 1 MB bound conformed).
    If the block then finishes before the watchdog fires again, its exit says the bound."""
    dog = bounds.Watchdog(max_memory_mb=1, period=0.01, again=3600)
    with pytest.raises(bounds.BoundHit, match="memory bound 1 MB"):
        with dog:
            while dog.reason is None:
                try:
                    time.sleep(0.001)
                except bounds.BoundHit:       # swallowed, as Python does in a finalizer
                    pass
    assert not bounds._WATCHING


def test_a_forked_worker_measures_its_own_memory():
    """rss_kb keeps /proc/<pid>/statm open; a forked matrix worker must read its own,
    not the one its parent opened."""
    import os
    before = bounds.rss_kb()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:                                  # the child: 200 MB more than its parent
        block = bytearray(200 << 20)
        block[::4096] = b"1" * len(block[::4096])
        os.write(write, str(bounds.rss_kb()).encode())
        os._exit(0)
    os.close(write)
    child = int(os.read(read, 64))
    os.waitpid(pid, 0)
    assert child > before + 150_000 and bounds.rss_kb() < child


def test_the_memory_default_respects_a_cgroup_limit(tmp_path):
    (tmp_path / "memory" / "job").mkdir(parents=True)
    (tmp_path / "memory" / "job" / "memory.limit_in_bytes").write_text("1073741824\n")
    (tmp_path / "memory.max").write_text("max\n")
    proc = tmp_path / "cgroup"
    proc.write_text("4:memory:/job\n0::/\n")
    assert bounds.memory_available_bytes(str(tmp_path), str(proc)) == 1 << 30
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "memory.max").write_text("536870912\n")
    proc.write_text("0::/job\n")
    assert bounds.memory_available_bytes(str(tmp_path), str(proc)) == 1 << 29


def test_matrix_workers_are_bounded(capsys):
    """--max-memory bounds each matrix worker: with 1 MB nearly every entry stops before
    its verdict (a few finish before the watchdog's first look), and a stop is exit 3,
    said as such, never a FAIL with an expected verdict or a state count."""
    code, out, _ = run(capsys, "matrix", "--jobs", "2", "--max-memory", "1", "--json")
    data = json.loads(out)
    stopped = [r for r in data["results"] if r["stopped"]]
    assert code == 3 and len(stopped) > len(data["results"]) / 2
    assert all(r["bound"] == "memory bound 1 MB reached" for r in stopped)
    assert "stopped by a bound" in data["summary"]
    assert all(r["ok"] or r["stopped"] for r in data["results"])
    line = entry_line(next(r for r in stopped if not r["ok"]))
    assert "stopped before a verdict: memory bound 1 MB" in line and "pinned" not in line


# -------------------------------------------------------------- output files

def test_out_is_checked_before_the_search(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(cli, "verify", lambda *a, **k: pytest.fail("the search started"))
    blocker = tmp_path / "file"
    blocker.write_text("")
    for out in ("", str(blocker / "sub")):
        code, _, err = run(capsys, "run", "--out", out)
        assert code == 2 and one_line(err) and "--out" in err


def test_a_variant_name_cannot_leave_out(capsys, tmp_path):
    path = _variant_file(tmp_path, 'V = Variant(name="../escaped", stands_for="hypothesis: '
                                   'x", description="d")\n')
    code, _, err = run(capsys, "run", "--variant-file", path, "--out", tmp_path / "out")
    assert code == 2 and "a name is letters, digits" in err
    assert output.safe_stem("../../x/y") == "_.._x_y" and "/" not in output.safe_stem("a/b")


def test_a_write_that_fails_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "r.json"
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError(28, "full")))
    with pytest.raises(OSError):
        output.write_atomic(target, "{}")
    assert list(tmp_path.iterdir()) == []


def test_run_out_writes_whole_files_only(capsys, tmp_path):
    code, _, _ = run(capsys, "run", "--pages", "1", "--rounds", "1", "--no-live", "--quiet",
                     "--no-symmetry", "--out", tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert code == 0 and names == ["seed-socket-n2-p1-r1-per-round-nonlive.json",
                                   "seed-socket-n2-p1-r1-per-round-nonlive.txt"]


# -------------------------------------------------------------- signals

def _children(pid: int) -> list:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(entry))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start_matrix():
    proc = subprocess.Popen(CLI + ["matrix", "--jobs", "2"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(_children(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = _children(proc.pid)
    assert len(workers) == 2
    return proc, workers


def _gone(pids, seconds=10) -> bool:
    deadline = time.monotonic() + seconds
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not any(_alive(p) for p in pids)


def test_sigterm_ends_matrix_and_its_workers():
    proc, workers = _start_matrix()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 143 and err.strip() == "multifd-check: stopped by SIGTERM"
    assert _gone(workers)


def test_sigterm_ends_diagrams_with_whole_files_only(tmp_path):
    """Stopped while its workers draw, `diagrams` leaves no worker, and every file in
    --out is whole: no temporary, no half-written chart."""
    proc = subprocess.Popen(CLI + ["diagrams", "--out", str(tmp_path), "--jobs", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(tmp_path.rglob("*.svg")) and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 143 and err.strip().endswith("stopped by SIGTERM")
    assert _gone(workers)
    names = [p.name for p in tmp_path.rglob("*")]
    assert names and not [n for n in names if ".tmp" in n or n.startswith(".partial")]
    for svg in tmp_path.rglob("*.svg"):
        assert svg.read_text().rstrip().endswith("</svg>"), svg


def test_workers_die_with_a_killed_parent():
    proc, workers = _start_matrix()
    proc.kill()
    proc.wait()
    assert _gone(workers)


def test_a_second_ctrl_c_is_quiet(tmp_path):
    proc = subprocess.Popen(CLI + ["run", "--channels", "4", "--pages", "3", "--out",
                                   str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.002)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and "Traceback" not in err
    assert err.strip().endswith("multifd-check: stopped by SIGINT")
    assert list(tmp_path.iterdir()) == []
