"""The command line: verdicts, exit codes, JSON, one-line errors, determinism."""

import json

import pytest

from checks.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_seed_passes_with_json(capsys):
    """`run --variant seed ... --json` gives verdict pass and exit 0."""
    code, out, _ = run(capsys, "run", "--variant", "seed", "--transport", "socket",
                       "--channels", "2", "--pages", "1", "--rounds", "2", "--json")
    data = json.loads(out)
    assert code == 0 and data["verdict"] == "pass" and data["property"] is None
    assert set(data) >= {"variant", "config", "verdict", "property", "states", "transitions",
                         "depth", "seconds", "counterexample"}


def test_violation_names_property_and_exits_1(capsys):
    """A breaking variant gives verdict violation, the property, the steps, exit 1."""
    code, out, _ = run(capsys, "run", "--variant", "no-recv-park", "--channels", "2",
                       "--pages", "1", "--rounds", "2", "--json")
    data = json.loads(out)
    assert code == 1 and data["verdict"] == "violation"
    assert data["property"] == "no_stale_overwrite"
    assert all({"thread", "action", "changes"} <= set(s) for s in data["counterexample"])


@pytest.mark.parametrize("argv, words", [
    (["run", "--channels", "0"], "at least 1"),
    (["run", "--variant", "nope"], "unknown variant"),
    (["run", "--no-live", "--rounds", "2"], "non-live"),
    (["run", "--zero-pages", "0@1"], "file transport only"),
    (["run", "--transport", "file", "--zero-pages", "x"], "expected PAGE@ROUND"),
    (["run", "--flush", "often"], "invalid choice"),
    (["run", "--bogus"], "unrecognized"),
    (["run", "--variant", "qemu-7.2", "--flush", "per-round"], "runs with --flush per-section"),
    (["run", "--faults", "gremlins"], "unknown fault"),
    (["run", "--faults", "short-read"], "use --transport file"),
    (["run", "--symmetry", "--pick", "round-robin"], "does not apply with --pick round-robin"),
    ([], "required"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, words):
    """Bad usage or input: one line on stderr, exit 2, no traceback."""
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert words in err and err.count("\n") == 1 and "Traceback" not in err


def test_max_states_bound_exits_3(capsys):
    """A run stopped by --max-states before any violation is inconclusive, exit 3."""
    code, out, _ = run(capsys, "run", "--max-states", "50", "--json")
    assert code == 3 and json.loads(out)["verdict"] == "inconclusive"


def test_time_bound_names_the_users_bound_and_smaller_runs(capsys):
    """A run stopped by --max-seconds says the bound given and the options it left out."""
    code, out, _ = run(capsys, "run", "--channels", "4", "--pages", "3", "--max-seconds", "1",
                       "--quiet")
    assert code == 3 and "stopped early: time bound 1 s reached\n" in out
    hint = next(line for line in out.splitlines() if line.startswith("hint"))
    assert "--pick round-robin" in hint and "--fingerprint" in hint


def test_same_command_same_bytes(capsys):
    """The same command prints the same counterexample, byte for byte."""
    argv = ["run", "--variant", "no-wrap-sync", "--pages", "1", "--quiet"]
    first = run(capsys, *argv)
    second = run(capsys, *argv)
    assert first == second and first[0] == 1


def test_variants_lists_the_catalogue(capsys):
    """`variants --json` lists each variant with its commit and expectation."""
    code, out, _ = run(capsys, "variants", "--json")
    rows = json.loads(out)["variants"]
    assert code == 0 and rows[0]["name"] == "seed" and rows[0]["expected"] == "pass"
    assert all(r["stands_for"] and r["description"] for r in rows)


def test_out_dir_gets_report_json_and_chart(capsys, tmp_path):
    """--out writes the text report, the JSON, the counterexample's chart (DOT, SVG and
    Mermaid) and, for a run this small, the explored graph as GraphML."""
    code, _, _ = run(capsys, "run", "--variant", "stuck-pending-job", "--channels", "1",
                     "--no-live", "--quiet", "--out", str(tmp_path))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert code == 1
    assert sorted(n.rsplit(".", 1)[1] for n in names) == ["dot", "graphml", "json", "mmd",
                                                          "svg", "txt"]
    assert any(n.endswith("-chart.svg") for n in names)


def test_out_dir_of_a_pass_has_no_chart(capsys, tmp_path):
    """A run that passes has no counterexample to draw; its graph is still written."""
    code, _, _ = run(capsys, "run", "--channels", "1", "--pages", "1", "--no-live", "--quiet",
                     "--out", str(tmp_path))
    assert code == 0
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".graphml", ".json", ".txt"]


def test_mapped_ram_seed_passes_and_parent_breaks_i1(capsys):
    """File transport: the seed passes; the parent violates I1 (exit 1)."""
    argv = ["run", "--transport", "file", "--channels", "2", "--pages", "2", "--rounds", "2",
            "--json"]
    code, out, _ = run(capsys, *argv, "--variant", "seed")
    assert code == 0 and json.loads(out)["verdict"] == "pass"
    code, out, _ = run(capsys, *argv, "--variant", "parent")
    data = json.loads(out)
    assert code == 1 and data["property"] == "no_read_in_flight_after_mem_size"
    assert data["ends"] == {"completed": 2}      # up to a relabelling of the channels


@pytest.mark.parametrize("variant, argv, code", [
    ("seed", ["--transport", "file", "--faults", "recv-read-error"], 1),
    ("p1-fix", ["--transport", "file", "--faults", "recv-read-error"], 0),
    ("seed", ["--faults", "send-write-error", "--pages", "1", "--no-live"], 1),
    ("p2-fix", ["--faults", "send-write-error", "--pages", "1", "--no-live"], 0),
])
def test_p1_and_p2_and_their_fixes(capsys, variant, argv, code):
    """The seed hangs under each fault (no_deadlock, with the interleaving); each fix passes."""
    got, out, _ = run(capsys, "run", "--variant", variant, "--json", *argv)
    data = json.loads(out)
    assert got == code
    if code:
        assert data["property"] == "no_deadlock" and data["counterexample"]


def test_variant_file_is_loaded_and_checked(capsys):
    """A variant written in a user's file, outside the catalogue, is loaded and checked."""
    import os
    path = os.path.join(os.path.dirname(__file__), "..", "examples", "my_patch.py")
    code, out, _ = run(capsys, "run", "--variant-file", path, "--variant", "my-no-park",
                       "--pages", "1", "--json")
    data = json.loads(out)
    assert code == 1 and data["variant"] == "my-no-park"
    assert data["property"] == "no_stale_overwrite"


@pytest.mark.parametrize("text, words", [
    ("x = 1/0\n", "line 1: ZeroDivisionError"),
    ("y = 2\n", "defines no Variant"),
    ("from model.variants import Variant, Drop\n"
     "X = Variant('x', 'hypothesis: t', 't', edits=(Drop('recv', 'nope', 'TOP'),))\n",
     "variant x: Drop recv.nope from TOP: matches no row"),
])
def test_bad_variant_file_is_one_line_exit_2(capsys, tmp_path, text, words):
    """A broken variant file gives one line naming the file (and line or variant)."""
    path = tmp_path / "patch.py"
    path.write_text(text)
    code, _, err = run(capsys, "run", "--variant-file", str(path), "--variant", "x")
    assert code == 2 and words in err and err.count("\n") == 1


@pytest.mark.parametrize("name, expect", [
    ("b7-flush-before-send", {"zero_copy": True}),
    ("p1-fix", {"transport": "file", "faults": ("recv-read-error",)}),
    ("qemu-7.2", {"flush": "per-section"}),
    ("b2-endless-loop", {"channels": 1, "faults": ("send-write-error",)}),
])
def test_run_judges_a_variant_at_its_defaults(name, expect):
    """Options left out take the variant's: a bug variant breaks without extra flags."""
    from checks.cli import variant_config
    from model.variants import get_variant
    config = variant_config(get_variant(name))
    assert {k: getattr(config, k) for k in expect} == expect
    assert variant_config(get_variant(name), faults=()).faults == ()
