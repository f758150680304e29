"""Diagrams: thread diagrams, sequence charts, wait-for graphs, the review page."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from checks.reports.diagrams import DiagramTooLarge, product_graph, role_diagram
from checks.reports.msc import messages, sequence_chart
from checks.properties import property_doc
from checks.reports.review import build
from checks.verify import verify
from checks.reports.waitfor import render_text, wait_for
from model.config import Config
from model.state import SEMAPHORES
from model.variants import CATALOGUE, SEED, get_variant

GOLDEN = Path(__file__).parent / "golden"
ARTIFACTS = Path(__file__).parent.parent / "out" / "test-artifacts"
SMALL_DEADLOCK = ("b4-eos-without-sync",
                  dict(channels=1, pages=1, rounds=1, live=False, flush="per-section"))


def _run(variant, **config):
    return verify(Config(**config), get_variant(variant))


def _chart(variant, config):
    system, result = _run(variant, **config)
    name = result.property
    return sequence_chart(system, result.trace(name), name, property_doc(name),
                          result.violations[name].loop_at, f"{variant}: {system.config.label()}")


def test_chart_dot_matches_golden():
    """The DOT of a small deadlock's sequence chart is pinned byte for byte."""
    assert _chart(*SMALL_DEADLOCK).source == (GOLDEN / "chart-deadlock.dot").read_text()


def test_chart_dot_is_the_same_twice():
    """Two charts of the same run are the same bytes."""
    assert _chart(*SMALL_DEADLOCK).source == _chart(*SMALL_DEADLOCK).source


def test_chart_has_one_lane_per_thread_and_post_wait_arrows():
    """Each thread of the story gets a lane; each semaphore arrow goes from a post to a
    later wait of that semaphore."""
    system, result = _run("seed", transport="file", faults=("recv-read-error",))
    trace = result.trace("no_deadlock")
    source = sequence_chart(system, trace, "no_deadlock", "", None, "").source
    threads = {label[0] for label, _ in trace[1:]}
    heads = re.findall(r'^\s*(s0_\w+) \[', source, re.M)
    assert len(heads) == len(threads)
    arrows = [m for m in messages(trace) if m[2] == "sem"]
    assert arrows
    for src, dst, _, name in arrows:
        assert src < dst
        field = next(f for f, q in SEMAPHORES.items() if re.sub(r"\[\d+\]$", "", name) == q)
        before, after = trace[src - 1][1], trace[src][1]
        assert _total(after, field) > _total(before, field)


def _total(state, field):
    value = getattr(state, field)
    return sum(value) if isinstance(value, tuple) else value


def test_p1_wait_for_names_the_exited_recv_threads():
    """P1's hang reads: the load thread waits on the shared sem_sync; recv[0], recv[1] exited."""
    system, result = _run("seed", transport="file", faults=("recv-read-error",))
    text = "\n".join(render_text(wait_for(system, result.trace("no_deadlock")[-1][1])))
    assert "load waits on multifd_recv_state->sem_sync" in text
    assert "recv[0] could post it and has exited" in text
    assert "recv[1] could post it and has exited" in text


def test_p2_wait_for_names_the_channel():
    """P2's hang reads: the migration thread waits on send[0]'s sem_sync; send[0] exited."""
    system, result = _run("seed", faults=("send-write-error",), pages=1, rounds=1, live=False)
    text = "\n".join(render_text(wait_for(system, result.trace("no_deadlock")[-1][1])))
    assert "mig waits on p->sem_sync[0]" in text
    assert "send[0] could post it and has exited" in text


def test_readable_path_has_no_more_switches():
    """The chosen counterexample is as short as BFS's, with no more thread switches."""
    system, result = _run(*SMALL_DEADLOCK[:1], **SMALL_DEADLOCK[1])
    bfs = result.graph.steps(result.violations["no_deadlock"].path)
    chosen = result.trace("no_deadlock")
    assert len(chosen) == len(bfs)
    assert _switches(chosen) <= _switches(bfs)


def _switches(trace):
    threads = [label[0] for label, _ in trace[1:]]
    return sum(a != b for a, b in zip(threads, threads[1:]))


def test_variant_diagram_highlights_its_rows():
    """p2-fix's send diagram marks its new exit kick red and the seed's row it drops grey."""
    source = role_diagram(get_variant("p2-fix"), "send").source
    assert re.search(r"see_exiting.*kick_main.*#c62828", source)
    assert "(dropped)" in source
    assert "#c62828" not in role_diagram(SEED, "send").source


def test_product_graph_is_refused_when_large():
    """Above the limit the product graph is refused with one line saying why."""
    system, result = _run("seed", channels=2, pages=1, rounds=1, live=False)
    with pytest.raises(DiagramTooLarge, match=r"states; it is drawn only up to 300"):
        product_graph(system, result)


def test_product_graph_marks_the_path():
    """A tiny run's product graph draws every state and the counterexample in red."""
    system, result = _run("stuck-pending-job", channels=1, pages=2, rounds=1, live=False)
    source = product_graph(system, result, result.property).source
    assert source.count("\tn") >= result.states
    assert "#c62828" in source


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _browser(page, *args):
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", "--virtual-time-budget=20000"]
    profile = page.parent / ".chromium-profile"
    return subprocess.run([_chromium(), *flags, f"--user-data-dir={profile}", *args,
                           page.resolve().as_uri()], capture_output=True, text=True, timeout=120)


def test_review_page_in_headless_chromium(review_page):
    """The page loads in Chromium, every linked SVG loads, every variant is listed."""
    if not _chromium():
        pytest.skip("chromium is not installed (make test installs it as root)")
    dom = _browser(review_page, "--dump-dom").stdout
    body = re.search(r"<body([^>]*)>", dom).group(1)
    total = int(re.search(r'data-svg-total="(\d+)"', body).group(1))
    assert f'data-svg-ok="{total}"' in body, body
    assert total > len(CATALOGUE)
    for variant in CATALOGUE:
        assert f'id="v-{variant.name}"' in dom
        assert f'href="#v-{variant.name}"' in dom
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "review-page.png"
    _browser(review_page, "--window-size=1400,2400", f"--screenshot={shot}")
    assert shot.stat().st_size > 10_000


# Run in a copy of the page: where each finding's heading and summary sit on the screen.
_PLACES = """<script>window.addEventListener('load', function () {
  var out = {height: window.innerHeight, width: window.innerWidth};
  document.querySelectorAll('.card').forEach(function (card) {
    var h = card.querySelector('h3').getBoundingClientRect();
    var p = card.querySelector('p').getBoundingClientRect();
    out[card.id] = {top: h.top, bottom: p.bottom, left: h.left, right: p.right,
                    text: card.querySelector('h3').textContent};
  });
  document.body.dataset.places = JSON.stringify(out);
});</script></body>"""


def test_review_page_first_screen_shows_p1_and_p2(review_page):
    """At 1280x800 the page opens on the two hangs: P1's and P2's headings and summaries
    are on the first screen; a screenshot of it is kept (out/test-artifacts)."""
    if not _chromium():
        pytest.skip("chromium is not installed (make test installs it as root)")
    probe = review_page.parent / ".first-screen.html"
    probe.write_text(review_page.read_text().replace("</body>", _PLACES))
    try:
        dom = _browser(probe, "--window-size=1280,800", "--dump-dom").stdout
    finally:
        probe.unlink()
    places = json.loads(re.search(r'data-places="([^"]*)"', dom).group(1).replace("&quot;", '"'))
    # Headless Chromium's --dump-dom keeps room for a window's bars: the viewport is a
    # little shorter than 800 (657 here), so the check is stricter than the screenshot.
    height, width = places["height"], places["width"]
    assert width == 1280 and 600 <= height <= 800, places
    for hang in ("p1", "p2"):
        place = places[hang]
        assert place["text"] == hang.upper()
        assert 0 <= place["top"] and place["bottom"] <= height, (hang, place)
        assert 0 <= place["left"] and place["right"] <= width, (hang, place)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "review-first-screen.png"
    _browser(review_page, "--window-size=1280,800", f"--screenshot={shot}")
    assert shot.stat().st_size > 10_000
    print(f"first screen of the review page: {shot}")


def test_review_diagrams_are_reproducible(review_page, tmp_path):
    """Two builds write the same DOT, Mermaid and story files (here: the thread diagrams
    and four entries)."""
    from checks.matrix import MATRIX
    again = build(tmp_path, entries=MATRIX[:2] + MATRIX[16:18], log=lambda line: None)
    for dot in (again.parent / "threads").glob("*.dot"):
        assert dot.read_text() == (review_page.parent / "threads" / dot.name).read_text()
    for suffix in ("dot", "mmd", "txt"):
        first = {p.name[3:]: p for p in (review_page.parent / "runs").glob(f"*.{suffix}")}
        runs = sorted((again.parent / "runs").glob(f"*.{suffix}"))
        assert len(runs) >= 2
        for made in runs:
            assert made.read_text() == first[made.name[3:]].read_text()


def test_review_page_reports_a_missing_svg(tmp_path):
    """The page's own check fails when a linked SVG is missing (so the test above can fail)."""
    if not _chromium():
        pytest.skip("chromium is not installed (make test installs it as root)")
    from checks.reports.review import render_page
    row = {"stem": "01-gone", "files": ["chart"], "variant": "seed", "label": "x",
           "config": {"faults": []}, "expected": "pass", "verdict": "pass", "property": None,
           "states": 1, "seconds": 0.0, "ok": True}
    page = tmp_path / "index.html"
    page.write_text(render_page([row], []))
    body = re.search(r"<body([^>]*)>", _browser(page, "--dump-dom").stdout).group(1)
    assert 'data-svg-ok="0"' in body and "runs/01-gone-chart.svg" in body
