"""The patch series in patches/ (docs/upstream.md) and the variants that judge it
(model/variants/upstream.py).

- Each patch is a `git format-patch` file QEMU can take: numbered, no person's name, no
  sign-off, one subject in QEMU's form.
- Each commit message's model runs (`$ multifd-check run ...` then `broken: ...` or
  `passes`) are claims: they are run here, and must say what the message says.
- Each variant of the series is the one before it plus one patch, and names its patch.
- The whole series passes every fault layer at 2 and 3 channels, where QEMU 10.0 hangs
  under most of them (four channels: `make check-deep`).
- Real traces of the patched build conform to the series' trace rules (`10.0-patched`) and
  not to 10.0's, and match a model path of `qemu-10.0-patched` that ends cleanly.
"""

import io
import json
import re
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from checks.cli import main as cli
from checks.traces.replay import validate_files
from checks.verify import verify
from harness.repro import model_match, path_matched
from model.config import FAULTS, Config
from model.variants import get_variant
from model.variants.upstream import SERIES

PATCHES = sorted(p for p in (Path(__file__).parent.parent / "patches").glob("*.patch")
                 if "cover-letter" not in p.name)
CLAIM = re.compile(r"^  \$ (multifd-check run [^\n]*?)\s*\\?\n((?:        [^\n]*\n)*)"
                   r"  (broken: [^\n]+|passes)$", re.M)


def _message(patch):
    """The commit message: from the Subject to the `---` before the diffstat."""
    text = patch.read_text()
    return text[text.index("Subject:"):text.index("\n---\n")]


def test_the_series_is_four_patches_with_their_cover_letter():
    assert [p.name[:4] for p in PATCHES] == ["0001", "0002", "0003", "0004"]
    assert (PATCHES[0].parent / "0000-cover-letter.patch").exists()


@pytest.mark.parametrize("patch", PATCHES, ids=lambda p: p.name[:4])
def test_patch_is_a_format_patch_file_naming_no_one(patch):
    text = patch.read_text()
    k = int(patch.name[:4])
    subject = re.search(r"^Subject: \[PATCH (\d)/4\] (migration/multifd: .+)$", text, re.M)
    assert subject and int(subject.group(1)) == k
    assert re.search(r"^From: multifd-model <multifd-model@invalid>$", text, re.M)
    assert "Signed-off-by" not in text and "Reviewed-by" not in text
    assert set(re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", text)) <= {"multifd-model@invalid"}
    assert "\ndiff --git a/migration/" in text


def _claims():
    for patch in PATCHES:
        for command, more, result in CLAIM.findall(_message(patch)):
            argv = (command + " " + " ".join(more.split())).split()[1:]
            yield pytest.param(argv, result, id=f"{patch.name[:4]}-{argv[2]}-{argv[6]}")


def test_every_patch_message_gives_its_model_runs():
    counts = [len(CLAIM.findall(_message(p))) for p in PATCHES]
    assert all(c >= 2 for c in counts), counts


@pytest.mark.parametrize("argv,result", list(_claims()))
def test_commit_message_model_run_says_what_the_message_says(argv, result):
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli(argv + ["--json", "--quiet"])
    report = json.loads(out.getvalue())
    broken = sorted(report["violations"])
    if result == "passes":
        assert (code, report["verdict"], broken) == (0, "pass", [])
    else:
        assert broken == sorted(result[len("broken: "):].split(", "))


def _subject(patch):
    """The subject without its [PATCH k/n], unfolded."""
    header = re.search(r"^Subject: \[PATCH \d/\d\] (.*(?:\n .*)*)", patch.read_text(), re.M)
    return header.group(1).replace("\n ", " ")


def test_each_variant_is_the_one_before_plus_one_patch():
    base = get_variant("qemu-10.0")
    for variant, patch in zip(SERIES, PATCHES):
        assert variant.based_on is base, variant.name
        assert variant.edits[:len(base.edits)] == base.edits
        assert len(variant.edits) > len(base.edits)
        assert f'{patch.name[:4]} "{_subject(patch)}"' in variant.stands_for
        base = variant


def _layers(transport):
    return [f for f in FAULTS if (f != "short-read" or transport == "file")
            and (f != "network-stall" or transport == "socket")]


def _config(transport, channels, fault):
    extra = {"socket_capacity": 1} if fault == "network-stall" else {}
    return Config(transport=transport, channels=channels, pages=1, rounds=1, live=False,
                  faults=(fault,), **extra)


# The one hang the series leaves: a send thread blocked in sendmsg() on a network that
# never comes back holds the sync (with-077fbb5942 is the same hang on p1-p2-fix).
RESIDUAL = {"network-stall": ["no_deadlock"]}


@pytest.mark.parametrize("transport", ["socket", "file"])
@pytest.mark.parametrize("channels", [2, 3])
def test_the_series_passes_every_fault_layer(transport, channels):
    fixed = []
    for fault in _layers(transport):
        if fault == "network-stall" and channels > 2:
            continue                      # 3.3 M states, two minutes: judged at N=2
        config = _config(transport, channels, fault)
        _, patched = verify(config, get_variant("qemu-10.0-patched"))
        assert sorted(patched.violations) == RESIDUAL.get(fault, []), (fault, patched.violations)
        _, shipped = verify(config, get_variant("qemu-10.0"))
        if shipped.violations and not patched.violations:
            fixed.append(fault)
    expected = {"socket": ["send-write-error", "recv-read-error", "recv-eof", "cancel"],
                "file": ["send-write-error", "recv-read-error", "short-read"]}[transport]
    assert fixed == expected


def test_the_file_series_fixes_p1_and_p1a_where_10_0_breaks():
    """Pages enough for P1b (a failure while jobs are still handed out)."""
    for fault, shipped_breaks in (("recv-read-error", ["errors_carry_their_cause",
                                                       "no_deadlock"]),
                                  ("short-read", ["errors_carry_their_cause"])):
        config = Config(transport="file", channels=2, pages=3, rounds=1, live=False,
                        faults=(fault,))
        _, shipped = verify(config, get_variant("qemu-10.0"))
        _, patched = verify(config, get_variant("qemu-10.0-patched"))
        assert sorted(shipped.violations) == shipped_breaks
        assert not patched.violations


# -- real traces of the patched build (make repro-p1/p2 BUILD=patched, 2026-12-03) ----------

PATCHED_TRACES = Path(__file__).parent / "fixtures" / "patched"
P1_LAST = PATCHED_TRACES / "p1-patched-file-c2-last-block.dst.log"
P1_CUT = PATCHED_TRACES / "p1-patched-file-c4-truncated.dst.log"
P2_SRC = PATCHED_TRACES / "p2-patched-tcp-c2-busy.src.log"
P2_DST = PATCHED_TRACES / "p2-patched-tcp-c2-busy.dst.log"


@pytest.mark.parametrize("src,dst", [(None, P1_LAST), (None, P1_CUT), (P2_SRC, P2_DST)],
                         ids=["p1-last-block", "p1-truncated", "p2-busy"])
def test_patched_traces_conform_to_the_series_rules_and_not_to_10_0(src, dst):
    """The series' exit posts let a sync return, or fail, where 10.0's waits on forever:
    the patched build's traces are behaviours of `10.0-patched` and not of `10.0`."""
    patched = validate_files(src, dst, "10.0-patched")
    assert patched.conforms, patched.reason
    assert patched.end[0].startswith("complete")
    shipped = validate_files(src, dst, "10.0")
    assert not shipped.conforms
    assert "nothing posted it" in shipped.reason


def test_series_rules_still_reject_an_exit_nobody_caused():
    """The exit posts are no licence: a recv thread still needs `exiting` or EOF to end."""
    lines = P1_LAST.read_text().splitlines(keepends=True)
    error = next(k for k, x in enumerate(lines) if "multifd_recv_terminate_threads error 1" in x)
    mutated = PATCHED_TRACES.parent / "patched" / "_mutated.log"
    try:
        mutated.write_text("".join(lines[:error] + lines[error + 2:]))
        verdict = validate_files(None, mutated, "10.0-patched")
    finally:
        mutated.unlink()
    assert not verdict.conforms


@pytest.mark.parametrize("trace,fault,side", [(P1_LAST, "recv-read-error", "dst"),
                                              (P1_CUT, "short-read", "dst"),
                                              (P2_SRC, "send-write-error", "src")],
                         ids=["p1-last-block", "p1-truncated", "p2-busy-src"])
def test_patched_trace_matches_a_clean_end_of_the_series_variant(trace, fault, side):
    """A model path of qemu-10.0-patched shows exactly the real trace's events and ends
    with every thread stopped; qemu-10.0 has no such path for P1's trace (it hangs)."""
    transport = "file" if side == "dst" and "file" in trace.name else "socket"
    channels = 4 if "-c4-" in trace.name else 2
    _, lines = model_match(trace, channels, side, fault, transport, suffix=transport == "socket",
                           variant="qemu-10.0-patched", ending="end")
    assert path_matched(lines, "qemu-10.0-patched"), lines[0]
    assert lines[1].endswith("every thread ends")
    if side == "dst":
        _, lines = model_match(trace, channels, side, fault, transport, variant="qemu-10.0",
                               ending="end")
        assert not path_matched(lines, "qemu-10.0"), lines[0]
