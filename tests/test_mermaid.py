"""Mermaid sequence diagrams of counterexamples: what they hold, and that they parse."""

import doctest
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import checks.reports.mermaid
from checks.properties import property_doc
from checks.reports.mermaid import FOLD, counterexample_diagram, sequence_diagram
from checks.reports.msc import messages
from checks.verify import verify
from model.config import Config
from model.variants import get_variant

ROOT = Path(__file__).resolve().parent.parent
MERMAID_JS = ROOT / "build" / "mermaid" / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"

# -- the grammar's basics: what Mermaid's sequenceDiagram parser accepts -----------------

_ID = r"[A-Za-z_][A-Za-z0-9_]*"
_ARROWS = ("-->>", "->>", "--)", "-)")      # longest first
_MESSAGE = re.compile(rf"^({_ID})\s*(-->>|->>|--\)|-\))\s*({_ID})\s*:(.*)$")
_NOTE = re.compile(rf"^Note (?:over|left of|right of) ({_ID})(?:\s*,\s*({_ID}))?\s*:(.*)$")
_PARTICIPANT = re.compile(rf"^participant ({_ID})(?: as (.+))?$")
_BLOCK = re.compile(r"^(loop|alt|opt|rect|critical|break|par)\b(.*)$")
_ENTITY = re.compile(r"#(?:\d+|[a-z]+);")


def _text_errors(text: str, where: str) -> list:
    """What Mermaid would take for syntax inside free text: ';' and '#' end a statement
    (unless part of an entity code such as #59;), ':' is not for text, '<' starts HTML
    (only <br/> is allowed)."""
    bare = _ENTITY.sub("", text).replace("<br/>", "")
    return [f"{where}: {c!r} in text {text.strip()[:60]!r}" for c in ";#:<" if c in bare]


def mermaid_errors(source: str) -> list:
    """Every way `source` breaks the basics of a Mermaid sequenceDiagram: the header, a
    participant declared before it is used, known arrows, notes, blocks closed by `end`,
    and free text without characters the parser reads as syntax. [] when it parses."""
    errors, declared, depth = [], set(), 0
    lines = [(n, line.strip()) for n, line in enumerate(source.splitlines(), start=1)
             if line.strip() and not line.strip().startswith("%%")]
    if not lines or lines[0][1] != "sequenceDiagram":
        return ["the first statement is not sequenceDiagram"]
    for n, line in lines[1:]:
        where = f"line {n}"
        if line.startswith("title "):
            errors += _text_errors(line[6:], where)
        elif m := _PARTICIPANT.match(line):
            declared.add(m.group(1))
            errors += _text_errors(m.group(2) or "", where)
        elif m := _NOTE.match(line):
            errors += [f"{where}: {p} is not declared" for p in m.groups()[:2]
                       if p and p not in declared]
            errors += _text_errors(m.group(3), where)
        elif m := _MESSAGE.match(line):
            errors += [f"{where}: {p} is not declared" for p in (m.group(1), m.group(3))
                       if p not in declared]
            errors += _text_errors(m.group(4), where)
        elif m := _BLOCK.match(line):
            depth += 1
            errors += _text_errors(m.group(2), where)
        elif line == "end":
            depth -= 1
            if depth < 0:
                errors.append(f"{where}: end without a block")
        else:
            errors.append(f"{where}: not a statement: {line[:60]!r}")
    return errors + (["a block is not closed by end"] if depth > 0 else [])


@pytest.mark.parametrize("source, words", [
    ("graph TD\n  a --> b\n", "not sequenceDiagram"),
    ("sequenceDiagram\n  a->>b: hi\n", "a is not declared"),
    ("sequenceDiagram\n  participant a\n  participant b\n  a->b: hi\n", "not a statement"),
    ("sequenceDiagram\n  participant a\n  Note over a: x; y\n", "';' in text"),
    ("sequenceDiagram\n  participant a\n  Note over a: step #3\n", "'#' in text"),
    ("sequenceDiagram\n  participant a\n  Note over a: broken: p\n", "':' in text"),
    ("sequenceDiagram\n  participant a\n  Note over a: a <b>\n", "'<' in text"),
    ("sequenceDiagram\n  participant a\n  loop forever\n  Note over a: x\n", "not closed"),
])
def test_the_grammar_check_can_fail(source, words):
    """The checker rejects each kind of mistake it looks for (so passing it means something)."""
    assert any(words in e for e in mermaid_errors(source)), mermaid_errors(source)


def test_the_grammar_check_accepts_entities_and_line_breaks():
    """Entity codes (#58; #59; #35;) and <br/> are what the diagrams use, and allowed."""
    ok = "sequenceDiagram\n  participant a as A (x)\n  a-)a: x#58; y#59;<br/>#35;1\n"
    assert mermaid_errors(ok) == []


# -- what the diagrams hold ------------------------------------------------------------

P2 = ("seed", Config(channels=2, pages=1, rounds=1, live=False, faults=("send-write-error",)))
LASSO = ("stuck-pending-job", Config(channels=1, pages=2, rounds=1, live=False))
P1 = ("seed", Config(transport="file", channels=2, pages=2, rounds=2,
                     faults=("recv-read-error",)))


def _diagram(variant, config):
    system, result = verify(config, get_variant(variant))
    return system, result, counterexample_diagram(
        system, result, property_doc(result.property, system.variant))


def test_doc_examples():
    """The examples in mermaid.py's docstrings hold."""
    result = doctest.testmod(checks.reports.mermaid)
    assert result.attempted and not result.failed


def test_p2_diagram_has_a_participant_per_thread_and_an_arrow_per_message():
    """P2: one participant per thread of the story, one arrow per post taken or record
    read, the broken property and the wait-for graph as notes; it parses; same bytes twice."""
    system, result, text = _diagram(*P2)
    trace = result.trace("no_deadlock")
    threads = {label[0] for label, _ in trace[1:]}
    assert len(re.findall(r"^    participant ", text, re.M)) == len(threads)
    arrows = re.findall(r"^    \w+(?:->>|-->>)\w+: ", text, re.M)
    assert len(arrows) == len(messages(trace))
    assert "Note over mig,recv1: broken#58; no_deadlock" in text
    assert "mig waits on p->sem_sync[0]" in text and "- send[0] could post it" in text
    assert mermaid_errors(text) == []
    assert text == _diagram(*P2)[2]


def test_a_lasso_is_a_loop_block():
    """A liveness counterexample puts the steps of its cycle in a `loop` block."""
    _, result, text = _diagram(*LASSO)
    assert result.violations[result.property].loop_at is not None
    assert "    loop the cycle repeats for ever\n" in text and "\n    end\n" in text
    assert mermaid_errors(text) == []


def test_long_runs_are_folded_and_say_so():
    """A run of more than FOLD steps of one thread shows its first and last step, and
    the diagram says which steps it folded."""
    system, result, text = _diagram(*P1)
    trace = result.trace(result.property)
    folded = re.findall(r"\(steps (\d+) to (\d+) of (\S+) folded#58; see the story\)", text)
    assert folded
    for first, last, thread in folded:
        assert int(last) - int(first) + 3 > FOLD
        assert {trace[k][0][0] for k in range(int(first) - 1, int(last) + 2)} == {thread}
        assert not re.search(rf"(?:^|>|: ){int(first)}\. ", text, re.M)
    count = sum(int(b) - int(a) + 1 for a, b, _ in folded)
    assert text.startswith(f"%% {len(trace) - 1} steps") and f"; {count} steps folded" in text


def test_a_pass_has_no_diagram():
    """Nothing broken, nothing to draw."""
    system, result = verify(Config(channels=1, pages=1, rounds=1, live=False), get_variant("seed"))
    assert result.verdict == "pass" and counterexample_diagram(system, result, "") == ""


def test_sequence_diagram_takes_a_title_with_syntax_in_it():
    """A title with ':' and ';' is escaped, not broken."""
    system, result = verify(LASSO[1], get_variant(LASSO[0]))
    name = result.property
    text = sequence_diagram(system, result.trace(name), name, "a: b; c",
                            result.violations[name].loop_at, "x: y; z #1")
    assert "title x#58; y#59; z #35;1" in text and mermaid_errors(text) == []


# -- every counterexample of the matrix ------------------------------------------------

def _matrix_diagrams(review_page):
    found = sorted((review_page.parent / "runs").glob("*.mmd"))
    assert len(found) >= 40          # the matrix has some 50 counterexamples
    return found


def test_every_matrix_counterexample_parses(review_page):
    """Each .mmd of the matrix (written by `make diagrams`) passes the grammar check and
    is short enough to paste: at most 10,000 characters (Mermaid's own limit is 50,000)."""
    sizes = {}
    for path in _matrix_diagrams(review_page):
        text = path.read_text()
        assert mermaid_errors(text) == [], path.name
        sizes[path.name] = len(text)
    assert max(sizes.values()) <= 10_000, max(sizes.items(), key=lambda kv: kv[1])


_RENDER = """<!DOCTYPE html><html><head><meta charset="utf-8"><script src="MERMAID"></script>
</head><body><pre id="out">pending</pre><script>
mermaid.initialize({startOnLoad: false, securityLevel: 'strict'});
(async () => {
  const texts = TEXTS, out = {};
  let i = 0;
  for (const [name, text] of Object.entries(texts)) {
    try { const r = await mermaid.render('d' + (i++), text);
          out[name] = r.svg.includes('<svg') ? 'ok' : 'no svg'; }
    catch (e) { out[name] = 'error: ' + (e.message || e); }
  }
  document.getElementById('out').textContent = JSON.stringify(out);
})();
</script></body></html>"""


def test_every_matrix_counterexample_renders_in_mermaid(review_page, tmp_path):
    """Mermaid itself (npm's mermaid, in headless Chromium) renders each .mmd of the
    matrix. Needs build/mermaid (npm install --prefix build/mermaid mermaid)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium or not MERMAID_JS.exists():
        pytest.skip(f"needs chromium and {MERMAID_JS.relative_to(ROOT)} "
                    "(npm install --prefix build/mermaid mermaid)")
    texts = {p.name: p.read_text() for p in _matrix_diagrams(review_page)}
    page = tmp_path / "render.html"
    page.write_text(_RENDER.replace("MERMAID", MERMAID_JS.as_uri())
                    .replace("TEXTS", json.dumps(texts).replace("</", "<\\/")))
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                          "--virtual-time-budget=60000", f"--user-data-dir={tmp_path / 'p'}",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=300).stdout
    out = json.loads(html.unescape(re.search(r'<pre id="out">(.*?)</pre>', dom, re.S).group(1)))
    assert out == {name: "ok" for name in texts}
