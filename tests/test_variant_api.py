"""The variant API a user writes a patch with: its errors, its vocabulary, its verdicts."""

import json

import pytest

from checks.cli import main
from checks.verify import verify
from model.config import Config
from checks.system import System
from model.variants import Variant, eventually, get_variant, invariant

HEAD = "from model.variants import Variant, Change, invariant\n"
ONE = "X = Variant('x', 'hypothesis: t', 't', {})\n"
SMALL = ("--channels", "1", "--pages", "1", "--rounds", "1", "--no-live", "--quiet")


def _row_edit(kind, name):
    return f"edits=(Change('send', 'wait_sem', 'IDLE', to={{'{kind}': ['{name}']}}),)"


def _file(tmp_path, text):
    path = tmp_path / "patch.py"
    path.write_text(HEAD + text)
    return str(path)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


GUARD_RAISES = "def g(cfg, s, t, c):\n    return 1 / 0\n"
GUARD_NONE = "def g(cfg, s, t, c):\n    s.send_sem\n"
GUARD_NO_FIELD = "def g(cfg, s, t, c):\n    return s.no_such_field == 1\n"
EFFECT_NO_RETURN = "def e(cfg, s, t, c):\n    s.replace(channels_ready=0)\n"
EFFECT_NO_FIELD = "def e(cfg, s, t, c):\n    return s.replace(no_such_field=1)\n"
PROPERTY_NO_FIELD = 'def p(cfg, s):\n    """Doc."""\n    return s.no_such_field == 1\n'
PROPERTY_NONE = 'def p(cfg, s):\n    """Doc."""\n    s.vm_running\n'
_G = "functions={'send': {'g': g}}, " + _row_edit("when", "g")
_E = "functions={'send': {'e': e}}, edits=(Change('send', 'wait_sem', 'IDLE', " \
     "to={'do': ['take_sem', 'e']}),)"


@pytest.mark.parametrize("text, words", [
    (ONE.format("edits=(Change('nope', 'wait_sem', 'IDLE', to={'dest': 'TOP'}),)"),
     "variant x: unknown role 'nope'"),
    (ONE.format("edits=(Change('send', 'nope', 'IDLE', to={'dest': 'TOP'}),)"),
     "Change send.nope from IDLE: matches no row"),
    (ONE.format("edits=(Change('send', 'wait_sem', 'IDLE', to={'dest': 'NOWHERE'}),)"),
     "send row 'wait_sem' from IDLE: unknown state 'NOWHERE'"),
    (ONE.format(_row_edit("when", "no_such_guard")), "no guard or effect named 'no_such_guard'"),
    (ONE.format(_row_edit("do", "no_such_effect")), "no guard or effect named 'no_such_effect'"),
    (ONE.format("functions={'send': {'g': 3}}, " + _row_edit("when", "g")),
     "g must be a function (cfg, s, t, c), not int"),
    (GUARD_RAISES + ONE.format(_G), "guard g raised ZeroDivisionError"),
    (GUARD_NONE + ONE.format(_G), "guard g gave back None, not True or False"),
    (GUARD_NO_FIELD + ONE.format(_G), "guard g raised AttributeError: no_such_field"),
    (EFFECT_NO_RETURN + ONE.format(_E), "effect e gave back None, not the state"),
    (EFFECT_NO_FIELD + ONE.format(_E), "effect e raised KeyError: 'no_such_field'"),
    ("import sys\nsys.exit(0)\n", "calls sys.exit()"),
    (ONE.format("") + ONE.format("").replace("X =", "Y ="), "two variants are named 'x'"),
    ("X = Variant('seed', 'hypothesis: t', 't')\n", "has the name of a catalogue variant"),
    (ONE.format("breaks=('no_such_property',)"), "breaks 'no_such_property': no such property"),
    (ONE.format("fields={'send_sem': 0}"), "field send_sem is already in the model's State"),
    (ONE.format("fields={'mine': [0]}"), "is not hashable"),
    (ONE.format("properties=(3,)"), "make each with invariant()"),
    ("def p(cfg, s):\n    return True\n" + ONE.format("properties=(invariant(p),)"),
     "property p: give it a docstring"),
    (ONE.format("based_on='nope'"), "unknown variant 'nope'"),
    (ONE.format("breaks='no_deadlock'"), "breaks must be a tuple (for one: ('x',))"),
    (ONE.format("edits=('send.wait_sem',)"), "an edit must be a Drop, Change or Add"),
    (ONE.format("defaults={'pagez': 1}"), "defaults names 'pagez', not a Config field"),
    (ONE.format("fields=[('x', 0)]"), "fields must be a dict, not list"),
    (PROPERTY_NO_FIELD + ONE.format("properties=(invariant(p),)"),
     "property p raised AttributeError"),
    (PROPERTY_NONE + ONE.format("properties=(invariant(p),)"),
     "property p gave back None, not True or False"),
])
def test_every_error_in_a_variant_file_is_one_line_exit_2(capsys, tmp_path, text, words):
    """A mistake in a variant file, found at load or at the first step that meets it:
    exit 2 and one line naming what is wrong (and the file, where the file is at fault)."""
    path = _file(tmp_path, text)
    code, out, err = run(capsys, "run", "--variant-file", path, *SMALL)
    assert code == 2, err
    assert words in err and err.count("\n") == 1 and "Traceback" not in err
    if "breaks" not in words:
        assert path in err


PROPERTY_LATE = ('def p(cfg, s):\n    """Doc."""\n'
                 '    return s.channels_ready == 0 or s.no_such_field == 1\n')


@pytest.mark.parametrize("text, words", [
    (GUARD_RAISES + ONE.format(_G), "guard g raised ZeroDivisionError"),
    (PROPERTY_LATE + ONE.format("properties=(invariant(p),)"),
     "property p raised AttributeError"),
])
def test_an_error_met_inside_a_batch_is_the_same_one_line(capsys, tmp_path, monkeypatch,
                                                          text, words):
    """A variant file's guard or property that raises while two threads expand a batch
    (Python runs on the main thread, once the threads have left the states whose caches
    missed): the same one line and exit 2 as on one thread. Batches of one to seven
    states, so that the first miss falls inside one; the property raises only once a
    channel is ready, past the first state (which is judged before any batch)."""
    from checks.engine import core
    if core._core is None:
        pytest.skip("the compiled core is not built")
    monkeypatch.setattr(core, "BATCH_STATES", (1, 7))
    path = _file(tmp_path, text)
    seen = [run(capsys, "run", "--variant-file", path, "--threads", k, *SMALL)
            for k in ("1", "2")]
    assert seen[0] == seen[1], seen
    code, out, err = seen[1]
    assert code == 2 and words in err and err.count("\n") == 1 and not out


def test_a_file_with_one_variant_runs_it_and_says_what_was_expected(capsys, tmp_path):
    """No --variant needed for a file's only variant; --json has expected and as_expected."""
    path = _file(tmp_path, ONE.format("breaks=('no_deadlock',)"))
    code, out, _ = run(capsys, "run", "--variant-file", path, "--json", *SMALL)
    data = json.loads(out)
    assert code == 0 and data["variant"] == "x" and data["verdict"] == "pass"
    assert data["expected"] == "violation: no_deadlock" and data["as_expected"] is False
    code, out, _ = run(capsys, "run", "--variant-file", path, *SMALL)
    assert "expect  violation: no_deadlock, but the run found no violation (NOT as declared)" \
        in out


def test_a_file_with_two_variants_needs_a_choice(capsys, tmp_path):
    path = _file(tmp_path, ONE.format("") + ONE.format("").replace("X = Variant('x'",
                                                                   "Y = Variant('y'"))
    code, _, err = run(capsys, "run", "--variant-file", path, *SMALL)
    assert code == 2 and "pick one with --variant" in err


def ghost_seen(cfg, s) -> bool:
    """The ghost stays clear (a test property)."""
    return not s.ghost


def _set_ghost_on_eos(cfg, s, t, c):
    return s.replace(ghost=1)


def test_own_field_and_property_are_reported_under_their_name():
    """A variant's field starts at its value; its invariant breaks under its own name
    and its docstring is the rule a report prints."""
    variant = Variant("ghostly", "hypothesis: t", "t", breaks=("ghost_seen",),
                      fields={"ghost": 0}, channel_fields={"mark": 5},
                      functions={"load": {"set_ghost": _set_ghost_on_eos}},
                      edits=(_change_read_mem_size(),),
                      properties=(invariant(ghost_seen),))
    config = Config(channels=2, pages=1, rounds=1, live=False)
    s = System(config, variant).initial_states()[0]
    assert (s.ghost, s.mark) == (0, (5, 5))
    _, result = verify(config, variant)
    assert result.verdict == "violation" and "ghost_seen" in result.violations
    doc = result.violations["ghost_seen"].property.doc
    assert doc == "The ghost stays clear (a test property)."


def _change_read_mem_size():
    from model.variants import Change
    return Change("load", "read_mem_size", "READ_RECORD", "READ_RECORD",
                  to={"do": ["take_record", "set_ghost"]})


def crashes(cfg, s) -> bool:
    """Goal: the destination crashes (it never does in the seed)."""
    return s.crashed == 1


def vm_runs(cfg, s) -> bool:
    """Goal: the VM runs on the destination."""
    return s.vm_running == 1


def test_eventually_goal_is_broken_where_it_cannot_be_reached():
    """`eventually(goal)`: a goal no path reaches breaks it; one every run reaches holds."""
    variant = Variant("goals", "hypothesis: t", "t",
                      properties=(eventually(crashes), eventually(vm_runs)))
    _, result = verify(Config(channels=1, pages=1, rounds=1, live=False), variant)
    assert set(result.violations) == {"crashes"}


def test_based_on_builds_on_a_catalogue_variant():
    """`based_on`: the base's edits first, then the variant's own."""
    from model.variants import Change
    own = Change("recv", "post_sem_sync", "SYNCING", to={"dest": "TOP"})
    variant = Variant("on-p2", "hypothesis: t", "t", based_on="p2-fix", edits=(own,))
    assert variant.edits == get_variant("p2-fix").edits + (own,)
    assert variant.based_on is get_variant("p2-fix")


def test_socket_capacity_blocks_sendmsg_while_the_socket_is_full():
    """--socket-capacity 1: a send thread waits in SENDING while its socket is full, and
    the seed still passes (the destination reads on)."""
    from model import send
    config = Config(channels=1, pages=2, rounds=1, live=False, socket_capacity=1)
    system, result = verify(config, get_variant("seed"), transactions="none")
    assert result.verdict == "pass"
    sending = send.STATES.index("SENDING")
    states = [result.graph.view(x) for x in result.graph.states]
    assert any(s.send_pc[0] == sending and len(s.sockets[0]) == 1 for s in states)


def test_max_faults_gives_a_run_more_than_one_fault():
    config = Config(channels=2, pages=1, rounds=1, live=False, faults=("send-write-error",),
                    max_faults=2)
    s = System(config, get_variant("p2-fix")).initial_states()[0]
    assert s.faults_left == 2


@pytest.mark.parametrize("name", ["b14-sync-without-flush", "b14-fix", "flush-mode-mismatch",
                                  "before-077fbb5942", "with-077fbb5942",
                                  "b5-destroy-in-join-loop", "b5-fix"])
def test_catalogue_entries_written_with_the_api_behave_as_declared(capsys, name):
    """B5, B14 and their fixes, 077fbb5942 and the flush-mode mismatch: each breaks
    what it declares at its defaults (derived transactions where it adds fields or
    properties of its own)."""
    code, out, _ = run(capsys, "run", "--variant", name, "--json", "--quiet")
    data = json.loads(out)
    variant = get_variant(name)
    assert data["as_expected"] is True
    assert (data["transactions"] == "derived") == variant.own_vocabulary
    assert code == (1 if get_variant(name).breaks else 0)


def test_a_bug_in_the_checker_is_exit_4_with_the_traceback_in_a_file(capsys, monkeypatch):
    """An exception the checker did not expect: exit 4 (not 1, a violation), one line
    that says so and where the traceback went; --debug raises it instead."""
    import checks.cli

    def broken(*args, **kwargs):
        raise RuntimeError("a checker bug")
    monkeypatch.setattr(checks.cli, "verify", broken)
    code, out, err = run(capsys, "run", *SMALL)
    assert code == 4 and out == "" and err.count("\n") == 1
    assert "internal error (a bug in the checker): RuntimeError: a checker bug" in err
    log = err.split("the traceback is in ")[1].strip()
    with open(log) as f:
        assert "Traceback" in f.read()
    with pytest.raises(RuntimeError):
        main(["run", "--debug", *SMALL])


def test_a_guard_inside_the_model_that_fails_is_an_internal_error(capsys, monkeypatch):
    """A guard in model/ that raises is the checker's bug (exit 4), a user's is bad input."""
    from model import send
    space = {}
    exec(compile("def sem_posted(cfg, s, t, c):\n    return 1 / 0\n", send.__file__, "exec"),
         space)                                   # a function whose file is the model's
    monkeypatch.setitem(send.ROLE.functions, "sem_posted", space["sem_posted"])
    code, _, err = run(capsys, "run", *SMALL)
    assert code == 4 and "guard sem_posted raised ZeroDivisionError" in err


@pytest.mark.parametrize("example, code, as_expected", [
    ("guard_flipped.py", 1, False),     # docs/variants.md's point: the run disagrees with the author
    ("new_property.py", 1, True),
])
def test_the_readme_examples_give_the_verdicts_it_shows(capsys, example, code, as_expected):
    import os
    path = os.path.join(os.path.dirname(__file__), "..", "examples", example)
    got, out, _ = run(capsys, "run", "--variant-file", path, "--json", "--quiet")
    assert got == code and json.loads(out)["as_expected"] is as_expected
