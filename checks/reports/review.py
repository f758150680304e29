"""`make diagrams`: every diagram, and `diagrams/index.html` that gathers them.

Writes, under the output folder:
  threads/seed-ROLE.{dot,svg}       one state diagram per thread role
  threads/VARIANT-ROLE.{dot,svg}    each role a variant changes, changes highlighted
  runs/NN-VARIANT-CONFIG-chart.*    each matrix entry's counterexample, as a sequence chart
  runs/NN-VARIANT-CONFIG.mmd        the same counterexample as a Mermaid sequenceDiagram
  runs/NN-VARIANT-CONFIG.txt        the run's report: the counterexample as a story
  runs/NN-VARIANT-CONFIG-waitfor.*  a deadlock's wait-for graph
  runs/NN-VARIANT-CONFIG-product.*  the product graph, for entries small enough to draw
  index.html                        the review page

The page leads with the findings: the two hangs in today's QEMU (the variant families
p1.py and p2.py name them, and their fault layers pick the matrix entries that show
them), with their stories, charts and the verdicts of the candidate fixes; then the patch
series for them (upstream.py), patch by patch; then the historical bugs (bugs.py), each
with its commit and chart; then the thread diagrams;
then the whole matrix. Every fact on it comes from the matrix results and the variant
catalogue. It works from the file system (no server). On load it checks that every
linked SVG loads, and says so on the page and in `<body data-svg-ok=...>`.
"""

import html
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from model.variants import CATALOGUE, NOT_MODELLED, SEED, Variant, apply_variant, get_variant
from model.variants import bugs, hypotheses, p1, p2, versions
from model.variants.upstream import SERIES

from . import waitfor
from .counterexample import render
from .diagrams import PRODUCT_LIMIT, changed_roles, product_graph, role_diagram
from .mermaid import counterexample_diagram
from checks.engine.workers import run_ordered
from checks.matrix import MATRIX, judge
from checks.output import render_svg, write_atomic
from .msc import sequence_chart
from checks.properties import property_doc, property_docs
from checks.verify import verify

__all__ = ["build", "chart_sources", "entry_diagrams", "write_dot", "families", "hangs",
           "render_page"]


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
    """(row, {kind: DOT source}) for one matrix entry; runs in a worker process. The row
    also carries the run's report (`story`), its Mermaid text and a deadlock's wait-for
    lines."""
    number, entry = numbered
    variant = get_variant(entry.variant)
    system, result = verify(entry.config, variant)
    row = judge(entry, result)
    row["stem"] = f"{number:02d}-{entry.variant}-{entry.config.slug()}"
    dots = chart_sources(system, result)
    if result.states <= PRODUCT_LIMIT:
        dots["product"] = product_graph(system, result, result.property).source
    row["story"] = render(system, result, property_docs(variant))
    row["mermaid"] = counterexample_diagram(
        system, result, property_doc(result.property, variant)) if result.property else ""
    row["waits"] = _wait_lines(system, result)
    return row, dots


def _wait_lines(system, result) -> list:
    """A deadlock's wait-for graph as text lines (none for anything else)."""
    name = result.property
    if name != "no_deadlock" or not result.violations[name].path:
        return []
    return waitfor.render_text(waitfor.wait_for(system, result.trace(name)[-1][1]))[1:]


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
        write_atomic(out / "runs" / f"{row['stem']}.txt", row["story"])
        if row["mermaid"]:
            write_atomic(out / "runs" / f"{row['stem']}.mmd", row["mermaid"])
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


# ------------------------------------------------------------------ the findings

# The catalogue's families, in the order they import each other: a variant belongs to
# the first module that holds it (p2.py imports p1-fix, bugs.py imports p2-fix).
FAMILIES = (versions, hypotheses, p1, p2, bugs)
HANG_FAMILIES = (p1, p2)


def families() -> dict:
    """{family: [variant names, in catalogue order]}, a family being the module of
    model/variants that defines them (versions, hypotheses, p1, p2, bugs)."""
    out, seen = {}, set()
    for module in FAMILIES:
        held = {v.name for v in vars(module).values() if isinstance(v, Variant)} - seen
        out[_short(module)] = [v.name for v in CATALOGUE if v.name in held]
        seen |= held
    return out


def _short(module) -> str:
    return module.__name__.rsplit(".", 1)[1]


def _first_sentence(text: str) -> str:
    return re.split(r"(?<=\.)\s", " ".join(text.split()), maxsplit=1)[0]


def hangs(rows) -> list:
    """The hangs of the hang families (p1.py, p2.py), each as a dict: `name` (P1, P2),
    `summary` (its module's first sentence), `faults` (the fault layers every variant of
    the family is judged under), `found` (the rows of QEMU versions, the seed among them,
    that the layers break), `fixes` ([(variant, its rows under the layers)]: every
    variant of the hang families judged under them)."""
    fams = families()
    fixers = [name for module in HANG_FAMILIES for name in fams[_short(module)]]
    out = []
    for module in HANG_FAMILIES:
        layers = set.intersection(*(set(get_variant(n).faults) for n in fams[_short(module)]))
        under = [r for r in rows if layers & set(r["config"]["faults"])]
        out.append({
            "name": _short(module).upper(), "summary": _first_sentence(module.__doc__),
            "faults": sorted(layers),
            "found": [r for r in under if r["variant"] in fams["versions"]
                      and r["verdict"] == "violation"],
            "fixes": [(get_variant(n), [r for r in under if r["variant"] == n])
                      for n in fixers if layers <= set(get_variant(n).faults)]})
    return out


def patch_series(rows) -> list:
    """[(variant, its rows)] for the patch series in patches/ (upstream.py), in order."""
    return [(v, [r for r in rows if r["variant"] == v.name]) for v in SERIES]


def historical_bugs(rows) -> list:
    """[(variant, its rows)] for the variants of bugs.py, in catalogue order."""
    return [(get_variant(n), [r for r in rows if r["variant"] == n])
            for n in families()["bugs"]]


# ------------------------------------------------------------------ the page

STYLE = """body{font-family:Helvetica,Arial,sans-serif;margin:1.2em 1.5em;color:#212121}
h1{font-size:22px;margin:0 0 4px}h2{font-size:19px;margin:22px 0 8px;border-bottom:2px solid
#e8eaf6}h3{font-size:16px;margin:0 0 4px}p{margin:4px 0}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}
th{background:#e8eaf6;text-align:left}tr.bad td{background:#ffebee}
td.n{text-align:right}.pass{color:#2e7d32}.violation{color:#c62828}.inconclusive{color:#ef6c00}
#svgcheck{font-weight:bold}ul.roles{columns:3}nav a{margin-right:12px}
.cards{display:flex;gap:14px}.card{flex:1;min-width:0;border:1px solid #bbb;border-radius:6px;
padding:8px 12px;background:#fafafa}.card table{font-size:12px;width:100%}
.card td,.card th{padding:2px 4px}pre{font-size:11px;margin:4px 0}
pre.waits{background:#fff8e1;padding:4px 6px;white-space:pre-wrap}
.pair{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:12px;
align-items:start;margin:6px 0 14px}.chart{max-height:560px;overflow:auto;
border:1px solid #ddd}.chart img{max-width:100%}pre.mmd{max-height:560px;overflow:auto;
background:#f5f5f5;padding:6px;margin:0;white-space:pre}.bug{margin:14px 0}
.small{font-size:12px;color:#555}"""

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

_e = html.escape


def _got(r) -> str:
    return r["verdict"] if r["verdict"] != "violation" else f"violation: {r['property']}"


def _verdict(r) -> str:
    """The verdict, coloured, and what the variant declares where it differs."""
    mark = "" if r.get("verdict_ok", r["ok"]) else f' <b>(expected {_e(r["expected"])})</b>'
    return f'<span class="{r["verdict"]}">{_e(_got(r))}</span>{mark}'


def _links(row):
    links = [f'<a href="runs/{row["stem"]}-{kind}.svg">{kind}</a>'
             f' (<a href="runs/{row["stem"]}-{kind}.dot">dot</a>)'
             for kind in row.get("files", ())]
    if row.get("mermaid"):
        links.append(f'<a href="runs/{row["stem"]}.mmd">mermaid</a>')
    return " ".join(links) or "-"


def _matrix_rows(rows):
    out = []
    for r in rows:
        cls = "" if r["ok"] else ' class="bad"'
        out.append(f'<tr{cls}><td>{_e(r["stem"][:2])}</td>'
                   f'<td><a href="#v-{r["variant"]}">{_e(r["variant"])}</a></td>'
                   f'<td>{_e(r["label"])}</td><td>{_e(r["expected"])}</td>'
                   f'<td class="{r["verdict"]}">{_e(_got(r))}</td>'
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
        out.append(f'<li id="v-{v.name}"><b>{_e(v.name)}</b>: '
                   f'{_e(v.stands_for)}. Thread diagrams: {links}</li>')
    return out


def _first_wait(lines) -> list:
    """The first blocked thread of a wait-for graph, with who could post it."""
    out = []
    for line in lines:
        if out and not line.startswith("    "):
            break
        out.append(line.strip() if not out else "  " + line.strip())
    return out


def _without_name(summary: str, name: str) -> str:
    """'P1, the destination hang ...' under the heading P1: 'The destination hang ...'."""
    rest = summary[len(name) + 2:] if summary.startswith(name + ", ") else summary
    return rest[:1].upper() + rest[1:]


def _hang_card(hang) -> list:
    """A hang at a glance: what it is, where the matrix finds it, the fixes' verdicts."""
    name, found = hang["name"], hang["found"]
    first = found[0] if found else None
    out = [f'<div class="card" id="{name.lower()}"><h3>{_e(name)}</h3>',
           f"<p>{_e(_without_name(hang['summary'], name))}</p>",
           f'<p class="small">fault layer: {_e(", ".join(hang["faults"]))}; found in:</p><ul>']
    out += [f'<li>{_e(r["variant"])}, {_e(r["label"])}: {_verdict(r)} '
            f'({r["states"]:,} states)</li>' for r in found] or ["<li>no matrix entry</li>"]
    out.append("</ul>")
    if first and first.get("waits"):
        out.append(f'<pre class="waits">{_e(chr(10).join(_first_wait(first["waits"])))}</pre>')
    out.append('<table><tr><th>candidate fix</th><th>configuration</th><th>verdict</th></tr>')
    for variant, fix_rows in hang["fixes"]:
        for k, r in enumerate(fix_rows):
            cell = f'<td rowspan="{len(fix_rows)}" title="{_e(variant.stands_for)}">' \
                   f'<a href="#v-{variant.name}">{_e(variant.name)}</a></td>' if k == 0 else ""
            out.append(f'<tr>{cell}<td>{_e(r["label"])}</td><td>{_verdict(r)}</td></tr>')
    out.append("</table>")
    if first:
        out.append(f'<p class="small"><a href="#{name.lower()}-story">the story</a>, '
                   f'{_links(first)}</p>')
    return out + ["</div>"]


def _chart_pair(row) -> list:
    """The row's chart beside its Mermaid text."""
    if "chart" not in row.get("files", ()):
        return []
    svg = f'runs/{row["stem"]}-chart.svg'
    return ['<div class="pair">',
            f'<div class="chart"><a href="{svg}"><img src="{svg}" alt="sequence chart of '
            f'{_e(row["stem"])}"></a></div>',
            f'<pre class="mmd" title="Mermaid: paste into a GitLab issue as a mermaid '
            f'block">{_e(row.get("mermaid", ""))}</pre>', "</div>"]


def _hang_story(hang) -> list:
    if not hang["found"]:
        return []
    r = hang["found"][0]
    return [f'<h3 id="{hang["name"].lower()}-story">{_e(hang["name"])}: the story '
            f'({_e(r["variant"])}, {_e(r["label"])})</h3>',
            *_chart_pair(r),
            f'<details><summary>the counterexample as text (<a href="runs/{r["stem"]}.txt">'
            f'{_e(r["stem"])}.txt</a>)</summary><pre>{_e(r.get("story", ""))}</pre></details>']


def _commit(variant) -> str:
    word = variant.stands_for.split()[0] if variant.stands_for else ""
    return word if re.fullmatch(r"[0-9a-f]{7,40}", word) else ""


def _bug(variant, rows) -> list:
    commit = _commit(variant)
    title = variant.stands_for[len(commit):].strip() if commit else variant.stands_for
    out = [f'<div class="bug" id="bug-{variant.name}"><h3>{_e(variant.name)}'
           + (f" <code>{_e(commit)}</code>" if commit else "") + "</h3>",
           f"<p>{_e(title)}</p>", f'<p class="small">{_e(variant.description)}</p><ul>']
    out += [f'<li>{_e(r["label"])}: {_verdict(r)} ({r["states"]:,} states) {_links(r)}</li>'
            for r in rows] or ["<li>no matrix entry</li>"]
    out.append("</ul>")
    charted = next((r for r in rows if "chart" in r.get("files", ())), None)
    return out + (_chart_pair(charted) if charted else []) + ["</div>"]


def render_page(rows, thread_files):
    """The review page: the two hangs and their fixes, the patch series, the historical
    bugs, the thread diagrams (and the variants), then the matrix."""
    bad = sum(1 for r in rows if not r["ok"])
    seed = " ".join(f'<a href="threads/seed-{role}.svg">{role}</a>' for role in apply_variant(SEED))
    found = hangs(rows)
    not_modelled = "; ".join(f"{bug}: {why}" for bug, why in NOT_MODELLED.items())
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        "<title>multifd-model: findings and verification matrix</title>",
        f"<style>{STYLE}</style>", f"<script>{CHECK}</script></head><body>",
        "<h1>multifd-model: what the checker finds</h1>",
        f"<p>{len(rows)} configurations, {len(rows) - bad} as expected, {bad} not. "
        f'<span id="svgcheck">checking the linked SVGs...</span></p>',
        '<nav><a href="#hangs">hangs</a><a href="#series">the fix</a>'
        '<a href="#bugs">historical bugs</a>'
        '<a href="#threads">thread diagrams</a><a href="#matrix">matrix</a>'
        '<a href="#variants">variants</a></nav>',
        f'<h2 id="hangs">{len(found)} hangs in today\'s QEMU, and the candidate fixes</h2>',
        '<div class="cards">', *[line for h in found for line in _hang_card(h)], "</div>",
        *[line for h in found for line in _hang_story(h)],
        '<h2 id="series">The fix: a patch series for QEMU 10.0.2, patch by patch</h2>',
        '<p class="small">patches/ in the repository; the evidence, model and real QEMU, '
        "in docs/upstream.md.</p>",
        *[line for v, series_rows in patch_series(rows) for line in _bug(v, series_rows)],
        '<h2 id="bugs">Historical bugs, each on the code before its fix</h2>',
        *[line for v, bug_rows in historical_bugs(rows) for line in _bug(v, bug_rows)],
        f'<p class="small">Not modelled: {_e(not_modelled)}</p>',
        f'<h2 id="threads">Thread diagrams</h2><p>The seed: {seed}</p>',
        '<h3 id="variants">Variants</h3><p>Rows a variant adds or changes are red, rows it '
        "drops grey and dashed, rows whose functions it replaces orange.</p><ul>",
        *_variant_items(thread_files), "</ul>",
        '<h2 id="matrix">The verification matrix</h2>',
        "<table><tr><th>#</th><th>variant</th><th>configuration</th><th>expected</th>"
        "<th>verdict</th><th>states</th><th>seconds</th><th>diagrams</th></tr>",
        *_matrix_rows(rows), "</table></body></html>"]
    return "\n".join(parts) + "\n"
