"""The explored graph in networkx: nodes, edges, their attributes, GraphML, the bound."""

import doctest
import re
from pathlib import Path

import networkx as nx
import pytest

import checks.reports.netgraph
from checks.cli import main
from checks.matrix import MATRIX
from checks.reports.netgraph import (GRAPHML_LIMIT, GraphTooLarge, fewest_switches, to_networkx,
                                     write_graphml)
from checks.verify import verify
from model.config import Config
from model.variants import get_variant

ROOT = Path(__file__).resolve().parent.parent
P1 = ("seed", Config(transport="file", channels=2, pages=2, rounds=2,
                     faults=("recv-read-error",)))
# Small entries that break something, without symmetry: under symmetry two channels'
# steps often lead to the same representative, and a DiGraph keeps one thread a pair.
SMALL = [e for e in MATRIX if e.states <= 2_000 and e.config.loops == "index"
         and e.expected_breaks()]


def _graph(variant, config, **kw):
    system, result = verify(config, get_variant(variant), **kw)
    return system, result, to_networkx(system, result)


def test_doc_examples():
    """The examples in netgraph.py's docstrings hold."""
    result = doctest.testmod(checks.reports.netgraph)
    assert result.attempted and not result.failed


def test_every_state_and_step_is_there():
    """P1 (mapped-ram): a node per state, an edge per step, the state's fields and each
    thread's control state on the nodes, the thread and rows on the edges."""
    system, result, G = _graph(*P1)
    assert G.number_of_nodes() == result.states
    assert sum(d["steps"] for _, _, d in G.edges(data=True)) == result.transitions
    state = result.graph.state_of(7)
    assert all(G.nodes[7][f] == v for f, v in zip(state._fields, state))
    assert G.nodes[0]["depth"] == 0 and G.nodes[0]["load"]
    assert {"thread", "action", "qemu"} <= set(G.edges[next(iter(G.edges))])
    assert G.graph["variant"] == "seed" and G.graph["property"] == "no_deadlock"


def test_the_target_is_the_deadlock_and_a_story_is_a_path():
    """The headline violation's state is a deadlock node, and the story's steps are edges
    of the graph with the story's threads and rows."""
    system, result, G = _graph(*P1)
    target = G.graph["target"]
    assert G.nodes[target]["deadlock"] and G.out_degree(target) == 0
    path = result.violations["no_deadlock"].path
    for (a, b), (label, _) in zip(zip(path, path[1:]), result.graph.steps(path)[1:]):
        assert (G.edges[a, b]["thread"], G.edges[a, b]["action"]) == label[:2]


def test_graphml_loads_in_networkx(tmp_path):
    """write_graphml writes what read_graphml reads back: same nodes, edges, and the
    fields flattened (send_pc[0], the stream by record names)."""
    _, _, G = _graph(*P1)
    write_graphml(G, tmp_path / "p1.graphml")
    H = nx.read_graphml(tmp_path / "p1.graphml", node_type=int)
    assert sorted(H.nodes) == sorted(G.nodes) and sorted(H.edges) == sorted(G.edges)
    n = G.graph["target"]
    assert H.nodes[n]["load"] == G.nodes[n]["load"]
    assert H.nodes[n]["recv_pc[1]"] == G.nodes[n]["recv_pc"][1]
    assert H.graph["target"] == n and H.edges[0, next(iter(H[0]))]["thread"]


def test_refused_above_the_bound_and_for_fingerprints():
    """Above the limit, and for a --fingerprint run (no states kept), one line says why."""
    system, result = verify(P1[1], get_variant(P1[0]))
    with pytest.raises(GraphTooLarge, match=r"has \d+ states, above the bound of 100 "):
        to_networkx(system, result, limit=100)
    system, result = verify(P1[1], get_variant("seed"), fingerprint=True)
    with pytest.raises(GraphTooLarge, match="fingerprint"):
        to_networkx(system, result)


@pytest.mark.parametrize("entry", SMALL, ids=[f"{e.variant}-{e.config.slug()}" for e in SMALL])
def test_fewest_switches_agrees_with_the_story(entry):
    """On every small matrix entry with a counterexample: the story's path is as short as
    networkx's fewest-switches path and switches threads no more often. (Without
    symmetry: the quotient's parallel edges, one a thread to the same orbit, are one edge
    in networkx's DiGraph.)"""
    system, result = verify(entry.config, get_variant(entry.variant), symmetry=False)
    name = result.property
    if not result.violations[name].path or result.violations[name].loop_at is not None:
        pytest.skip("no path to one violating state (never satisfied, or a lasso)")
    G = to_networkx(system, result)
    path = result.violations[name].path
    best = fewest_switches(G, path[0], path[-1])
    story = result.graph.readable_path(path[-1])
    assert len(best) == len(story) == len(path)
    assert _switches(G, story) == _switches(G, best)


def _switches(G, path):
    threads = [G.edges[a, b]["thread"] for a, b in zip(path, path[1:])]
    return sum(x != y for x, y in zip(threads, threads[1:]))


def test_run_out_writes_graphml_or_says_why_not(capsys, tmp_path):
    """`run --out` writes <stem>.graphml for a small run; above GRAPHML_LIMIT states it
    writes none and says so on stderr, in one line."""
    code = main(["run", "--variant", "seed", "--transport", "file", "--faults",
                 "recv-read-error", "--quiet", "--out", str(tmp_path / "p1")])
    graphml = list((tmp_path / "p1").glob("*.graphml"))
    assert code == 1 and len(graphml) == 1
    assert nx.read_graphml(graphml[0]).number_of_nodes() <= GRAPHML_LIMIT
    capsys.readouterr()
    code = main(["run", "--variant", "seed", "--faults", "send-write-error", "--pages", "1",
                 "--no-live", "--quiet", "--out", str(tmp_path / "p2")])
    err = capsys.readouterr().err
    assert code == 1 and not list((tmp_path / "p2").glob("*.graphml"))
    assert err.count("\n") == 1 and f"above the bound of {GRAPHML_LIMIT:,}" in err


def test_the_worked_example_holds(capsys):
    """docs/networkx.md's example runs, and its conclusion holds: every path to a deadlock
    has send[1] fail first; a failure of send[0] first always ends cleanly."""
    doc = (ROOT / "docs" / "networkx.md").read_text()
    example = doc[doc.index("## A worked example"):]
    code = re.search(r"```python\n(.*?)```", example, re.S).group(1)
    exec(compile(code, "docs/networkx.md", "exec"), {"__name__": "example"})
    out = capsys.readouterr().out
    dead = [line for line in out.splitlines() if "paths to a deadlock end" in line]
    assert dead and all(line.endswith("send[1] set_error, then send[0] see_exiting")
                        for line in dead)
    assert re.search(r"paths to a failed end; the send threads exit: send\[0\] set_error", out)
    first = re.search(r"depth \d+:\n +([\d,]+) shortest paths", out).group(1)
    assert re.search(rf"listed one by one to deadlock \d+ : {first.replace(',', '')}\n", out)
