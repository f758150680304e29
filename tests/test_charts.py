"""Charts that read: every counterexample chart of the matrix, rendered by Graphviz and
parsed back from its SVG, has no two boxes overlapping, no label on a box or on another
label, its steps numbered in order top to bottom (a gap says which steps it hides), and
everything, the title included, inside the picture.

Text extents are estimated from the font size and the characters, on the wide side: a
character 0.62 of the font size across, a capital 0.75; 0.95 of it above the baseline and
0.25 below. Measured in Chromium, DejaVu Sans and Liberation Sans (what a browser draws
for Helvetica where there is none) stay under that on every text of the matrix's charts,
so a chart that passes here reads whichever of them draws it.
"""

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from itertools import combinations
from pathlib import Path

import pytest

from checks.engine.workers import run_ordered
from checks.matrix import MATRIX
from checks.reports.review import chart_sources, write_dot
from checks.verify import verify
from model.variants import get_variant

SVG = "{http://www.w3.org/2000/svg}"
EM, CAPITAL = 0.62, 0.75      # a character's and a capital's width, in font sizes
ASCENT, DESCENT = 0.95, 0.25  # a line's extent above and below its baseline, in font sizes
SLACK = 0.5                   # points: rounding in the SVG's coordinates


# ------------------------------------------------------------------ the matrix's charts

def _entry_chart(job):
    """(stem, SVG path or None, steps in the story) of one matrix entry; runs in a worker."""
    number, entry, out = job
    system, result = verify(entry.config, get_variant(entry.variant))
    stem = f"{number:02d}-{entry.variant}-{entry.config.slug()}"
    dot = chart_sources(system, result).get("chart")
    if dot is None:
        return stem, None, 0
    svg = write_dot(out / f"{stem}-chart", dot)
    return stem, str(svg), len(result.trace(result.property)) - 1


@pytest.fixture(scope="module")
def matrix_charts(tmp_path_factory):
    """Every matrix entry expected to break a property, with its chart rendered to SVG."""
    if shutil.which("dot") is None:
        pytest.skip("graphviz's dot is missing")
    out = tmp_path_factory.mktemp("charts")
    jobs = [(n, e, out) for n, e in enumerate(MATRIX, start=1) if e.expected_breaks()]
    charts = run_ordered(_entry_chart, jobs, os.cpu_count() or 1)
    return [chart for chart in charts if chart[1] is not None]


def test_every_matrix_chart_reads(matrix_charts):
    """No chart of the matrix has a box on a box, a label on a box or a label, a step out
    of order, or anything outside its picture."""
    assert len(matrix_charts) >= 40, [stem for stem, _, _ in matrix_charts]
    problems = []
    for stem, svg, steps in matrix_charts:
        problems += [f"{stem}: {p}" for p in chart_problems(Path(svg).read_text(), steps)]
    assert not problems, f"{len(problems)} problems, in {os.path.dirname(svg)}:\n" + \
        "\n".join(problems[:40])


def test_the_checker_sees_each_fault(tmp_path):
    """A chart with two boxes on each other, a note across one's text, step 2 missing and
    a title wider than Graphviz measures it is refused on each count (so the test above
    can fail)."""
    dot = tmp_path / "bad.dot"
    dot.write_text('digraph { graph [layout=neato label="A TITLE IN CAPITALS, WIDER THAN '
                   'ITS GRAPH"] node [shape=box]\n'
                   'a [label="1. first" pos="0,0!"] b [label="3. third" pos="0.4,-0.2!"]\n'
                   'c [shape=plaintext label="a note on the first" pos="0,0!"] }\n')
    problems = chart_problems(_render(dot), 3)
    for kind in ("box on box", "label on box", "label on label", "steps out of order",
                 "outside the picture: graph"):
        assert any(p.startswith(kind) for p in problems), (kind, problems)


def _render(dot):
    return subprocess.run(["dot", "-Tsvg", str(dot)], capture_output=True, text=True,
                          check=True).stdout


# ------------------------------------------------------------------ reading an SVG back

def chart_problems(svg_text, steps):
    """What keeps a chart from reading, one line each: boxes on boxes, labels on boxes or
    on labels, text outside its box or the picture, and steps out of order."""
    view, boxes, labels = _shapes(svg_text)
    problems = []
    for (a, ra), (b, rb) in combinations(boxes.items(), 2):
        if _overlap(ra, rb):
            problems.append(f"box on box: {a} {_show(ra)} and {b} {_show(rb)}")
    for owner, text, rect in labels:
        own = boxes.get(owner)
        if own is not None and not _inside(rect, own):
            problems.append(f"label outside its box: {text!r} {_show(rect)} in {owner} "
                            f"{_show(own)}")
        for name, box in boxes.items():
            if name != owner and _overlap(rect, box):
                problems.append(f"label on box: {text!r} ({owner}) {_show(rect)} on {name} "
                                f"{_show(box)}")
    for (a, ta, ra), (b, tb, rb) in combinations(labels, 2):
        if a != b and _overlap(ra, rb):
            problems.append(f"label on label: {ta!r} ({a}) and {tb!r} ({b})")
    for name, rect in [*boxes.items(), *((f"{o}: {t!r}", r) for o, t, r in labels)]:
        if not _inside(rect, view):
            problems.append(f"outside the picture: {name} {_show(rect)} in {_show(view)}")
    return problems + _step_problems(boxes, labels, steps)


def _step_problems(boxes, labels, steps):
    """Step numbers read top to bottom 1, 2, ... `steps`; a gap needs a note naming it."""
    numbered = sorted((boxes[o][1], int(m.group(1)), o) for o, t, _ in labels
                      if o in boxes and (m := re.match(r"(\d+)\. ", t)))
    numbers = [n for _, n, _ in numbered]
    texts = [t for _, t, _ in labels]
    if numbers != sorted(set(numbers)) or any(n > steps for n in numbers):
        return [f"steps out of order: {numbers} top to bottom, the story has {steps}"]
    missing = [n for n in range(1, steps + 1) if n not in numbers]
    gaps = [(n, n) for n in missing[:1]]
    for n in missing[1:]:
        gaps[-1:] = [(gaps[-1][0], n)] if n == gaps[-1][1] + 1 else [gaps[-1], (n, n)]
    return [f"steps out of order: {a}..{b} missing with no note saying so ({numbers})"
            for a, b in gaps if not _gap_noted(a, b, texts)]


def _gap_noted(first, last, texts):
    span = rf"{first}" if first == last else rf"{first}\s*(-|–|to)\s*{last}"
    return any(re.search(rf"\bsteps? {span}\b.*\b(hidden|not shown)\b", t) for t in texts)


def _shapes(svg_text):
    """(the viewBox, {node: its box}, [(owner, text, its rectangle)]), in the viewBox's
    coordinates (x right, y down). A node's box is the extent of its visible polygons and
    paths; an edge's label and the graph's title belong to no box."""
    root = ET.fromstring(svg_text)
    x0, y0, width, height = (float(v) for v in root.get("viewBox").split())
    graph = root.find(f"{SVG}g")
    place = _transform(graph.get("transform", ""))
    boxes, labels = {}, []
    for text in graph.findall(f"{SVG}text"):
        labels.append(("graph", text.text or "", _text_rect(text, place)))
    for group in graph.findall(f"{SVG}g"):
        name = group.findtext(f"{SVG}title")
        kind = group.get("class")
        owner = name if kind == "node" else f"{kind} {name}"
        points = [p for shape in group if _visible(shape) for p in _points(shape, place)]
        if kind == "node" and points:
            xs, ys = [x for x, _ in points], [y for _, y in points]
            boxes[owner] = (min(xs), min(ys), max(xs), max(ys))
        for text in group.iter(f"{SVG}text"):
            labels.append((owner, text.text or "", _text_rect(text, place)))
    return (x0, y0, x0 + width, y0 + height), boxes, labels


def _transform(attribute):
    """The graph group's `scale(s) ... translate(tx ty)` as a function of a point."""
    scale = re.search(r"scale\(([-\d.]+)(?:[ ,]+([-\d.]+))?\)", attribute)
    shift = re.search(r"translate\(([-\d.]+)[ ,]+([-\d.]+)\)", attribute)
    sx = float(scale.group(1)) if scale else 1.0
    sy = float(scale.group(2) or scale.group(1)) if scale else 1.0
    tx, ty = (float(shift.group(1)), float(shift.group(2))) if shift else (0.0, 0.0)
    return lambda x, y: (sx * (x + tx), sy * (y + ty))


def _visible(shape):
    tag = shape.tag[len(SVG):]
    if tag not in ("polygon", "path"):
        return False
    return shape.get("fill", "black") not in ("none", "transparent") or \
        shape.get("stroke", "none") not in ("none", "transparent")


def _points(shape, place):
    numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?",
                                            shape.get("points") or shape.get("d"))]
    return [place(x, y) for x, y in zip(numbers[::2], numbers[1::2])]


def _text_rect(text, place):
    x, y = place(float(text.get("x")), float(text.get("y")))
    size = float(text.get("font-size", "14"))
    width = size * sum(CAPITAL if c.isupper() else EM for c in text.text or "")
    left = {"start": x, "middle": x - width / 2, "end": x - width}[text.get("text-anchor",
                                                                             "start")]
    return left, y - ASCENT * size, left + width, y + DESCENT * size


def _overlap(a, b):
    return min(a[2], b[2]) - max(a[0], b[0]) > SLACK and min(a[3], b[3]) - max(a[1], b[1]) > SLACK


def _inside(inner, outer):
    return inner[0] >= outer[0] - SLACK and inner[1] >= outer[1] - SLACK and \
        inner[2] <= outer[2] + SLACK and inner[3] <= outer[3] + SLACK


def _show(rect):
    return "[" + ", ".join(f"{v:.0f}" for v in rect) + "]"
