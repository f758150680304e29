"""Fuzzing the command line and the trace reader with hostile input (issue 20).

Whatever the input, the tool answers inside its contract (checks/cli.py CONTRACT): an
exit code of 0 to 3 (4 is a bug in the checker), no traceback, and no file written
outside --out. Runs are capped (a few hundred states, a few seconds) so that the
search is not what the examples spend their time on; parsing, checking and the
verdict's reporting are the real ones.
"""

import contextlib
import io
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checks import cli
from checks import matrix as matrix_mod
from checks.traces.tracelog import TraceError, parse_text
from model.variants import CATALOGUE

FIXTURES = Path(__file__).parent / "fixtures" / "traces"
SRC = (FIXTURES / "qemu10.0-tcp-paused-c2.src.log").read_bytes().split(b"\n")
DST = (FIXTURES / "qemu10.0-tcp-paused-c2.dst.log").read_bytes().split(b"\n")
CONTRACT = {0, 1, 2, 3}
SMALL = tuple(sorted(matrix_mod.MATRIX, key=lambda e: e.states)[:2])

# -------------------------------------------------------------- hostile values

sensible = st.integers(1, 3).map(str)
numbers = st.one_of(                    # mostly sensible, so that runs get past parsing
    sensible, sensible, sensible, st.integers(-3, 12).map(str), st.just("9" * 5000),
    st.just("1" * 12),
    st.sampled_from(["٣", "1_0", " 2", "0x10", "2.5", "", "-0", "+3", "1e3", "NaN", "²"]))
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
paths = st.sampled_from(["out", "out/a/b", "", ".", "afile", "/dev/null", "/proc/version",
                         "missing/x", "../beside", "out\n", "\u2028", "a" * 300])
catalogue_names = st.sampled_from([v.name for v in CATALOGUE])
variant_names = st.one_of(catalogue_names, catalogue_names,
                          st.sampled_from(["../escaped", "", "seed/..", "nope"]), texts)
VARIANT_FILES = {
    "good.py": "from model.variants import Variant\n"
               "V = Variant(name='mine', stands_for='hypothesis: fuzz', description='d')\n",
    "broken.py": "this is not python(\n",
    "empty.py": "",
    "escape.py": "from model.variants import Variant\n"
                 "V = Variant(name='../escaped', stands_for='h', description='d')\n",
}
variant_files = st.sampled_from(sorted(VARIANT_FILES) + ["missing.py", ".", "/dev/null"])

FLAGS = {
    "--variant": variant_names, "--variant-file": variant_files,
    "--transport": st.sampled_from(["socket", "file", "tcp", ""]),
    "--channels": numbers, "--pages": numbers, "--rounds": numbers,
    "--flush": st.sampled_from(["per-round", "per-section", "never"]),
    "--zero-pages": st.one_of(st.sampled_from(["1@1", "", "2@9", "1@1,1@1", "@", "p1@r2"]),
                              texts),
    "--socket-capacity": numbers, "--max-faults": numbers,
    "--pick": st.sampled_from(["any", "round-robin", "rr"]),
    "--faults": st.one_of(st.sampled_from(["", "send-write-error", "cancel,short-read",
                                           "network-stall", "all"]), texts),
    "--loops": st.sampled_from(["index", "any", "?"]),
    "--transactions": st.sampled_from(["declared", "derived", "none"]),
    "--max-states": numbers, "--max-seconds": numbers, "--max-memory": numbers,
    "--out": paths, "--jobs": numbers, "--qemu": st.one_of(
        st.sampled_from(["7.2", "10.0", "10.0.2", "10.0.2.1", "7.2.junk.x", "１０.0"]), texts),
}
SWITCHES = ["--live", "--no-live", "--zero-copy", "--symmetry", "--no-symmetry",
            "--fingerprint", "--fine-grained", "--quiet", "--json", "--deep", "--debug",
            "-h", "--bogus", "--", "-"]


@st.composite
def argvs(draw):
    command = draw(st.sampled_from(["run", "run", "run", "variants", "matrix", "trace",
                                    "nope", ""]))
    argv = [command] if command else []
    if command == "trace":
        argv += draw(st.lists(st.sampled_from(["src.log", "dst.log", "none", "missing",
                                               "/dev/null", "."]), max_size=3))
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.booleans()):
            flag = draw(st.sampled_from(sorted(FLAGS)))
            argv += [flag, draw(FLAGS[flag])]
        else:
            argv.append(draw(st.sampled_from(SWITCHES)))
    return argv


# -------------------------------------------------------------- running one

def _files(root: Path) -> set:
    return {p for p in root.rglob("*") if p.is_file()}


def _out_of(argv: list, cwd: Path):
    """Where the last --out given points (None if none, or not a plain name)."""
    dirs = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--out"]
    return (cwd / dirs[-1]).resolve() if dirs and dirs[-1].strip() else None


def _capped(real):
    """verify() with the search cut short: the fuzz is about everything around it."""
    def verify(config, variant, **kw):
        kw["max_states"] = min(kw.get("max_states") or 300, 300)
        kw["max_seconds"] = min(kw.get("max_seconds") or 5, 5)
        return real(config, variant, **kw)
    return verify


def _main(argv: list, cwd: Path) -> tuple:
    """(exit code, stdout, stderr) of the command run in `cwd`."""
    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(argv)
            except SystemExit as e:          # argparse: --help, or a flag it refused
                code = e.code if isinstance(e.code, int) else 2
    finally:
        os.chdir(old)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def patched():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli, "verify", _capped(cli.verify))
        mp.setattr(matrix_mod, "MATRIX", SMALL)
        mp.setattr(matrix_mod, "DEEP", SMALL)
        mp.setattr(matrix_mod, "verify", _capped(matrix_mod.verify))
        yield


def _workspace(root: Path) -> Path:
    cwd = root / "work"
    cwd.mkdir()
    for name, text in VARIANT_FILES.items():
        (cwd / name).write_text(text)
    (cwd / "afile").write_text("")
    (cwd / "src.log").write_bytes(b"\n".join(SRC))
    (cwd / "dst.log").write_bytes(b"\n".join(DST))
    return cwd


def _assert_in_contract(argv, code, err, before, after, out_dir) -> None:
    assert code in CONTRACT, f"{argv}: exit {code}\n{err}"
    assert "Traceback" not in err, f"{argv}:\n{err}"
    for path in after - before:
        assert out_dir and out_dir in path.parents, f"{argv} wrote {path} outside --out"


@settings(max_examples=60)
@given(argv=argvs())
def test_the_command_line_keeps_its_contract(patched, argv):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cwd = _workspace(root)
        before = _files(root)
        code, _, err = _main(argv, cwd)
        _assert_in_contract(argv, code, err, before, _files(root), _out_of(argv, cwd))


# -------------------------------------------------------------- hostile traces

junk = st.sampled_from([b"\x00", b"\xff\xfe", "\u2028".encode(), b"\x0c", b"\r", b"\t",
                        b"@", b":", b"channel", b"9" * 40, b"-1", b"\xe2\x80"])
numbers_in_lines = st.sampled_from([b"0", b"1", b"7", b"255", b"256", b"10000000",
                                    b"9" * 19, b"9" * 5000, b"-3", b"\xd9\xa3"])


@st.composite
def mutated(draw, lines: list) -> bytes:
    """The fixture's lines with a few hostile edits."""
    lines = list(lines)
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        edit = draw(st.sampled_from(["drop", "twice", "swap", "number", "junk", "cut"]))
        if not lines:
            break
        if edit == "drop":
            del lines[i]
        elif edit == "twice":
            lines.insert(i, lines[i])
        elif edit == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif edit == "number":
            digits = [k for k, b in enumerate(lines[i]) if chr(b).isdigit()]
            if digits:
                k = draw(st.sampled_from(digits))
                lines[i] = lines[i][:k] + draw(numbers_in_lines) + lines[i][k + 1:]
        elif edit == "junk":
            k = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:k] + draw(junk) + lines[i][k:]
        else:
            return b"\n".join(lines)[:draw(st.integers(0, 400))]
    return b"\n".join(lines)


@settings(max_examples=60)
@given(src=mutated(SRC), dst=mutated(DST),
       version=st.sampled_from(["10.0", "10.0", "7.2", "10.0.2"]),
       swap=st.booleans())
def test_trace_keeps_its_contract_on_mutated_logs(src, dst, version, swap):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "a.log").write_bytes(dst if swap else src)
        (root / "b.log").write_bytes(src if swap else dst)
        before = _files(root)
        argv = ["trace", "a.log", "b.log", "--qemu", version, "--max-seconds", "20"]
        code, _, err = _main(argv, root)
        _assert_in_contract(argv, code, err, before, _files(root), None)
        assert code in (0, 1) or err.count("\n") == 1, err


@settings(max_examples=200)
@given(text=st.one_of(st.text(max_size=300),
                      mutated(SRC[:40]).map(lambda b: b.decode("utf-8", "replace"))))
def test_the_trace_parser_accepts_or_says_why(text):
    """parse_text gives events or a TraceError naming the line: nothing else escapes."""
    try:
        parse_text(text, "src", "10.0")
    except TraceError as e:
        assert str(e) and "\n" not in str(e).strip()
