"""Thread diagrams from the `transitions` tables, and the product graph of tiny runs.

A role diagram is drawn from the same `transitions.Machine` the checker's
tables are compiled from (`model.machine.build_machine`): states as nodes (the
states where a transaction starts drawn double), rows as edges labelled
`trigger [guards] / effects`.  For a variant, the rows that differ from the
seed are highlighted: added or changed rows red, rows the variant drops grey
and dashed, rows whose guard or effect functions the variant replaces orange.

The product graph (states as nodes, the counterexample path in red) is drawn
only for tiny configurations; above `PRODUCT_LIMIT` states it is refused.
"""

from model.machine import build_machine
from model.variants import SEED, apply_variant

__all__ = ["role_diagram", "changed_roles", "product_graph", "DiagramTooLarge",
           "PRODUCT_LIMIT"]

PRODUCT_LIMIT = 300
ADDED, DROPPED, REPLACED = "#c62828", "#9e9e9e", "#ef6c00"


class DiagramTooLarge(Exception):
    """A product graph too large to draw usefully (one line for the user)."""


def _rows(machine):
    """Every row of a transitions.Machine as a hashable key, in declaration order."""
    out = []
    for trigger, event in machine.events.items():
        for source, transitions in event.transitions.items():
            for t in transitions:
                guards = tuple((c.func, c.target) for c in t.conditions)
                out.append((trigger, source, t.dest, guards, tuple(t.after)))
    return out


def _label(row):
    trigger, _, _, guards, effects = row
    text = trigger
    if guards:
        text += "\\n[" + ", ".join(g if ok else f"not {g}" for g, ok in guards) + "]"
    if effects:
        text += "\\n/ " + ", ".join(effects)
    return text


def _replaced(role, seed_role, row):
    names = [g for g, _ in row[3]] + list(row[4])
    return any(role.functions.get(n) is not seed_role.functions.get(n) for n in names)


def changed_roles(variant):
    """Names of the roles whose table or functions differ from the seed's."""
    mine, seed = apply_variant(variant), apply_variant(SEED)
    return [name for name in mine
            if _rows(build_machine(mine[name])) != _rows(build_machine(seed[name]))
            or any(mine[name].functions.get(k) is not seed[name].functions.get(k)
                   for k in mine[name].functions)]


def role_diagram(variant, role_name):
    """The role's state diagram as a graphviz.Digraph, with the variant's changes."""
    import graphviz
    role, seed_role = apply_variant(variant)[role_name], apply_variant(SEED)[role_name]
    rows, seed_rows = _rows(build_machine(role)), _rows(build_machine(seed_role))
    title = f"{role_name} ({variant.name})\\n{role.doc.splitlines()[0] if role.doc else ''}"
    g = graphviz.Digraph(f"{role_name}", graph_attr={
        "rankdir": "TB", "label": title, "labelloc": "t", "fontname": "Helvetica",
        "fontsize": "14"}, node_attr={"fontname": "Helvetica", "fontsize": "11"},
        edge_attr={"fontname": "Helvetica", "fontsize": "9"})
    for state in role.states:
        g.node(state, state, shape="doubleoctagon" if state in role.transaction_starts else "box",
               style="rounded" if state not in role.transaction_starts else "")
    seed_set = set(seed_rows)
    for row in rows:
        _edge(g, row, row not in seed_set and variant is not SEED,
              _replaced(role, seed_role, row))
    for row in seed_rows if variant is not SEED else ():
        if row not in set(rows) and row[1] in role.states and row[2] in role.states:
            g.edge(row[1], row[2], label=_label(row) + "\\n(dropped)", color=DROPPED,
                   fontcolor=DROPPED, style="dashed")
    return g


def _edge(g, row, added, replaced):
    color = ADDED if added else (REPLACED if replaced else "#424242")
    g.edge(row[1], row[2], label=_label(row), color=color, fontcolor=color,
           penwidth="2" if added or replaced else "1")


def _short(system, state):
    parts = []
    for thread in system.threads:
        pcs = state[thread.pc_index]
        pc = pcs[thread.t] if thread.per_channel else pcs
        parts.append(f"{thread.name} {system.state_name(thread.role, pc)}")
    return "\\n".join(parts)


def product_graph(system, result, name=None, limit=PRODUCT_LIMIT):
    """Every explored state and step; the counterexample to `name` in red."""
    import graphviz
    graph = result.graph
    if result.states > limit:
        raise DiagramTooLarge(f"the product graph has {result.states:,} states; it is drawn "
                              f"only up to {limit} (use fewer channels, pages or rounds)")
    path = [] if not name or not result.violations[name].path else result.violations[name].path
    on_path = set(zip(path, path[1:]))
    g = graphviz.Digraph("product", graph_attr={
        "rankdir": "TB", "label": f"{system.variant.name}: {system.config.label()} "
        f"({result.states} states)", "labelloc": "t", "fontname": "Helvetica"},
        node_attr={"fontname": "Helvetica", "fontsize": "8", "shape": "box"},
        edge_attr={"fontname": "Helvetica", "fontsize": "7"})
    for sid, state in enumerate(map(graph.state_of, range(result.states))):
        bad = bool(path) and sid == path[-1]
        g.node(f"n{sid}", f"{sid}\\n" + _short(system, state),
               color="#c62828" if bad or sid in path else "#424242",
               penwidth="2" if sid in path else "1")
    expanded = len(graph.start) - 1
    for a in range(expanded):
        for e in range(graph.start[a], graph.start[a + 1]):
            b = graph.succ[e]
            red = (a, b) in on_path
            g.edge(f"n{a}", f"n{b}", color="#c62828" if red else "#9e9e9e",
                   penwidth="2" if red else "1")
    return g
