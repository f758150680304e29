"""`make diagrams`: every diagram, and `diagrams/index.html` that gathers them.

Writes, under the output folder:
  threads/seed-ROLE.{dot,svg}       one state diagram per thread role
  threads/VARIANT-ROLE.{dot,svg}    each role a variant changes, changes highlighted
  runs/NN-VARIANT-CONFIG-chart.*    each matrix entry's counterexample, as a sequence chart
  runs/NN-VARIANT-CONFIG-waitfor.*  a deadlock's wait-for graph
  runs/NN-VARIANT-CONFIG-product.*  the product graph, for entries small enough to draw
  index.html                        the verification matrix, linking all of the above

The page works from the file system (no server).  On load it checks that every
linked SVG loads, and says so on the page and in `<body data-svg-ok=...>`.
"""

import html
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from model.variants import CATALOGUE, SEED, apply_variant, get_variant

from . import waitfor
from .diagrams import PRODUCT_LIMIT, changed_roles, product_graph, role_diagram
from checks.engine.workers import run_ordered
from checks.matrix import MATRIX, judge
from checks.output import render_svg, write_atomic
from .msc import sequence_chart
from checks.properties import property_doc
from checks.verify import verify

__all__ = ["build", "chart_sources", "entry_diagrams", "write_dot"]


def chart_sources(system, result):
    """{kind: DOT source} for the headline counterexample: its sequence chart and, for a
    deadlock, its wait-for graph; empty when nothing is broken."""
    name = result.property
    if not name or not result.violations[name].path:
        return {}
    trace = result.trace(name)
    title = f"{system.variant.name}: {system.config.label()}"
    dots = {"chart": sequence_chart(system, trace, name, property_doc(name, system.variant),
                                    result.violations[name].loop_at, title).source}
    if name == "no_deadlock":
        waits = waitfor.wait_for(system, trace[-1][1])
        dots["waitfor"] = waitfor.to_dot(waits, f"{title}: wait-for graph").source
    return dots


def entry_diagrams(numbered):
    """(row, {kind: DOT source}) for one matrix entry; runs in a worker process."""
    number, entry = numbered
    system, result = verify(entry.config, get_variant(entry.variant))
    row = judge(entry, result)
    row["stem"] = f"{number:02d}-{entry.variant}-{entry.config.slug()}"
    dots = chart_sources(system, result)
    if result.states <= PRODUCT_LIMIT:
        dots["product"] = product_graph(system, result, result.property).source
    return row, dots


def write_dot(path, source):
    """Write DOT text and render it to SVG next to it with graphviz's `dot`, each file
    whole or not at all."""
    dot, svg = Path(f"{path}.dot"), Path(f"{path}.svg")   # stems hold dots: qemu-7.2-...
    write_atomic(dot, source)
    render_svg(dot, svg)
    return svg


def _thread_sources():
    """(file stem, DOT source) for the seed's roles and each variant's changed roles."""
    out = [(f"seed-{role}", role_diagram(SEED, role).source) for role in apply_variant(SEED)]
    for variant in CATALOGUE:
        if variant is SEED:
            continue
        out += [(f"{variant.name}-{role}", role_diagram(variant, role).source)
                for role in changed_roles(variant)]
    return out


def build(out, entries=MATRIX, jobs=None, log=print):
    """Write every diagram and the page; return the page's path."""
    out = Path(out)
    for sub in ("threads", "runs"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    renders = [(out / "threads" / stem, src) for stem, src in _thread_sources()]
    rows = []

    def take(result):
        row, dots = result
        rows.append(row)
        row["files"] = sorted(dots)
        renders.extend((out / "runs" / f"{row['stem']}-{kind}", src) for kind, src in dots.items())
        log(f"{row['stem']}: {row['verdict']}, {len(dots)} diagrams")

    run_ordered(entry_diagrams, enumerate(entries, start=1), jobs or os.cpu_count() or 1, take)
    threads = ThreadPoolExecutor(max_workers=jobs)
    try:
        list(threads.map(lambda job: write_dot(*job), renders))
    finally:                 # stopped: the renders not begun are dropped, not waited for
        threads.shutdown(cancel_futures=True)
    page = out / "index.html"
    write_atomic(page, render_page(rows, [p.name + ".svg" for p, _ in renders
                                          if p.parent.name == "threads"]))
    log(f"wrote {len(renders)} diagrams and {page}")
    return page


# ------------------------------------------------------------------ the page

STYLE = """body{font-family:Helvetica,Arial,sans-serif;margin:1.5em;color:#212121}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}
th{background:#e8eaf6;text-align:left}tr.bad td{background:#ffebee}
td.n{text-align:right}.pass{color:#2e7d32}.violation{color:#c62828}
#svgcheck{font-weight:bold}ul.roles{columns:3}"""

CHECK = """window.addEventListener('load', function () {
  var hrefs = Array.from(document.querySelectorAll('a[href$=".svg"]'), function (a) {
    return a.getAttribute('href'); }).filter(function (h, i, all) { return all.indexOf(h) === i; });
  var ok = 0, bad = [];
  Promise.all(hrefs.map(function (h) { return new Promise(function (done) {
    var img = new Image();
    img.onload = function () { ok += img.naturalWidth > 0 ? 1 : 0; done(); };
    img.onerror = function () { bad.push(h); done(); };
    img.src = h; }); })).then(function () {
    document.body.dataset.svgTotal = hrefs.length;
    document.body.dataset.svgOk = ok;
    document.body.dataset.svgFailed = bad.join(' ');
    document.getElementById('svgcheck').textContent = bad.length ?
      bad.length + ' of ' + hrefs.length + ' linked SVGs do not load: ' + bad.join(', ') :
      'all ' + hrefs.length + ' linked SVGs load';
  });
});"""


def _links(row):
    return " ".join(f'<a href="runs/{row["stem"]}-{kind}.svg">{kind}</a>'
                    f' (<a href="runs/{row["stem"]}-{kind}.dot">dot</a>)'
                    for kind in row["files"]) or "-"


def _matrix_rows(rows):
    out = []
    for r in rows:
        got = r["verdict"] if r["verdict"] != "violation" else f"violation: {r['property']}"
        cls = "" if r["ok"] else ' class="bad"'
        out.append(f'<tr{cls}><td>{html.escape(r["stem"][:2])}</td>'
                   f'<td><a href="#v-{r["variant"]}">{html.escape(r["variant"])}</a></td>'
                   f'<td>{html.escape(r["label"])}</td><td>{html.escape(r["expected"])}</td>'
                   f'<td class="{r["verdict"]}">{html.escape(got)}</td>'
                   f'<td class="n">{r["states"]:,}</td><td class="n">{r["seconds"]:.2f}</td>'
                   f'<td>{_links(r)}</td></tr>')
    return out


def _variant_items(thread_files):
    out = []
    for v in CATALOGUE:
        roles = [f[len(v.name) + 1:-4] for f in thread_files
                 if f.startswith(v.name + "-") and f[len(v.name) + 1:-4] in apply_variant(v)]
        links = " ".join(f'<a href="threads/{v.name}-{r}.svg">{r}</a>' for r in roles) \
            or "(the seed's tables)"
        out.append(f'<li id="v-{v.name}"><b>{html.escape(v.name)}</b>: '
                   f'{html.escape(v.stands_for)}. Thread diagrams: {links}</li>')
    return out


def render_page(rows, thread_files):
    """The review page: the matrix, then the thread diagrams, then the variants."""
    bad = sum(1 for r in rows if not r["ok"])
    seed = " ".join(f'<a href="threads/seed-{role}.svg">{role}</a>' for role in apply_variant(SEED))
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        "<title>multifd-model: verification matrix</title>", f"<style>{STYLE}</style>",
        f"<script>{CHECK}</script></head><body>",
        "<h1>multifd-model: verification matrix</h1>",
        f"<p>{len(rows)} configurations, {len(rows) - bad} as expected, {bad} not. "
        f'<span id="svgcheck">checking the linked SVGs...</span></p>',
        "<table><tr><th>#</th><th>variant</th><th>configuration</th><th>expected</th>"
        "<th>verdict</th><th>states</th><th>seconds</th><th>diagrams</th></tr>",
        *_matrix_rows(rows), "</table>",
        f"<h2>Thread diagrams (seed)</h2><p>{seed}</p>",
        "<h2>Variants</h2><p>Rows a variant adds or changes are red, rows it drops grey and "
        "dashed, rows whose functions it replaces orange.</p><ul>",
        *_variant_items(thread_files), "</ul></body></html>"]
    return "\n".join(parts) + "\n"
