"""The explored graph as a `networkx.DiGraph`, for the questions a reviewer asks of it.

`to_networkx(system, result)` gives every state the search kept as a node and every
step between them as an edge; `write_graphml` writes it for other tools (Gephi, yEd,
networkx itself). Search results are kept in compact arrays, and a networkx graph costs
about 4 KB a state, so both refuse above a bound: `NETWORKX_LIMIT` states in
memory, `GRAPHML_LIMIT` in a file. `fewest_switches` is the readable counterexample's
rule (among the shortest paths, the fewest switches between threads) written with
networkx, for small graphs.

Nodes are state ids (0 is the initial state; ids count up breadth-first) with:
  - every field of the model's `State` (model/state.py), as the model holds it;
  - one attribute per thread, named as in the stories (`mig`, `send[0]`, `load`,
    `recv[1]`, ...), holding the name of its control state (`SYNC_WAIT_SYNC`, `EXITED`);
  - `depth` (steps from an initial state), `end` (the kind of proper end reached,
    `completed`, `failed` or `crashed`, or '') and `deadlock` (no step leaves it, and it
    is no end).
Edges carry `thread`, `action` (the rows of the thread's table the step ran, joined by
' > ', as in the JSON counterexample and the replay script) and `qemu` (the functions).
The graph's own attributes: `variant`, `config`, `verdict`, `property` (the headline
broken property, or ''), `target` (the id of the state that breaks it, or -1), `states`,
`transitions` and `complete` (False when a bound stopped the search: the states it did
not expand have no edges out).

Where two steps lead from one state to the same state, the edge keeps the first, in the
model's successor order; `steps` counts them (a DiGraph holds one edge a pair).
"""

from model.state import FIFOS
from model.transports import RECORD_NAMES, packet_name

from ..output import write_atomic

__all__ = ["to_networkx", "write_graphml", "fewest_switches", "GraphTooLarge",
           "NETWORKX_LIMIT", "GRAPHML_LIMIT"]

NETWORKX_LIMIT = 200_000     # states: above this, to_networkx refuses
GRAPHML_LIMIT = 2_000        # states: `run --out` writes GraphML up to this many


class GraphTooLarge(Exception):
    """A graph above the bound, or a run that kept no states: one line saying why."""


def _refusal(result, limit: int):
    """Why this result's graph is not given (None: it is)."""
    if result.fingerprint:
        return "a --fingerprint run keeps 64-bit hashes, not states: there is no graph"
    if result.states > limit:
        return (f"the explored graph has {result.states:,} states, above the bound of "
                f"{limit:,} (use fewer channels, pages or rounds)")
    return None


def to_networkx(system, result, limit: int = NETWORKX_LIMIT):
    """The explored graph of `result` as a networkx.DiGraph (see the module docstring).

    Raises GraphTooLarge above `limit` states, and for a --fingerprint run.

    >>> from model.config import Config
    >>> from model.variants import get_variant
    >>> from checks.verify import verify
    >>> system, result = verify(Config(channels=1, pages=1, rounds=1, live=False),
    ...                         get_variant("stuck-pending-job"))
    >>> G = to_networkx(system, result)
    >>> G.number_of_nodes() == result.states, G.nodes[0]["mig"], G.nodes[0]["depth"]
    (True, 'SETUP', 0)
    >>> sorted(G.edges[next(iter(G.edges))])
    ['action', 'qemu', 'steps', 'thread']
    """
    import networkx as nx
    why = _refusal(result, limit)
    if why:
        raise GraphTooLarge(why)
    graph, name = result.graph, result.property
    path = result.violations[name].path if name else []
    G = nx.DiGraph(variant=system.variant.name, config=system.config.label(),
                   verdict=result.verdict, property=name or "",
                   target=path[-1] if path else -1, states=result.states,
                   transitions=result.transitions, complete=result.bound is None)
    ends = {sid: system.end_kind(graph.state_of(sid)) for sid in result.ends}
    expanded = len(graph.start) - 1
    for sid in range(result.states):
        G.add_node(sid, **_node(system, graph.state_of(sid)), depth=graph.depth[sid],
                   end=ends.get(sid, ""),
                   deadlock=sid < expanded and sid not in ends and
                   graph.start[sid] == graph.start[sid + 1])
    for a in range(expanded):
        _add_edges(G, graph, a)
    return G


def _node(system, state) -> dict:
    """A state's fields, and each thread's control state by name."""
    fields = dict(zip(state._fields, state))
    for thread in system.threads:
        fields[thread.name] = system.state_name(thread.role, system.pc(state, thread))
    return fields


def _add_edges(G, graph, a: int) -> None:
    """The edges out of state `a`, named by the model's successors, which come in the
    order the search stored their targets (Graph.actors_of relies on it too)."""
    targets = graph.successors_of(a)
    labels = [label for label, _ in graph.model_successors(graph.states[a])]
    if len(labels) != len(targets):
        raise RuntimeError(f"state {a}: {len(targets)} edges stored, but the model gives "
                           f"{len(labels)} successors")
    for b, (thread, action, qemu) in zip(targets, labels):
        if G.has_edge(a, b):
            G.edges[a, b]["steps"] += 1
        else:
            G.add_edge(a, b, thread=thread, action=action, qemu=qemu, steps=1)


def _flat(name: str, value) -> dict:
    """GraphML holds scalars: a tuple becomes name[i] per entry, a FIFO its items' names."""
    if name == "stream":
        return {name: " ".join(RECORD_NAMES.get(r, hex(r)) for r in value)}
    if not isinstance(value, tuple):
        return {name: value}
    if name in FIFOS:
        return {f"{name}[{i}]": " ".join(map(packet_name, v)) for i, v in enumerate(value)}
    return {f"{name}[{i}]": v if not isinstance(v, tuple) else " ".join(map(str, v))
            for i, v in enumerate(value)}


def write_graphml(G, path) -> None:
    """Write `G` (from to_networkx) as GraphML: tuple fields flattened to `name[i]`, the
    main stream and the channel sockets as the names of the items they hold. Nodes read
    back as strings: `networkx.read_graphml(path, node_type=int)` gives the ids again.
    The file is written whole or not at all (checks/output.py)."""
    import networkx as nx
    flat = nx.DiGraph(**G.graph)
    for n, data in G.nodes(data=True):
        attrs = {}
        for key, value in data.items():
            attrs.update(_flat(key, value))
        flat.add_node(n, **attrs)
    flat.add_edges_from(G.edges(data=True))
    write_atomic(path, "\n".join(nx.generate_graphml(flat)) + "\n")


def fewest_switches(G, source: int, target: int) -> list:
    """Among the shortest paths of G from `source` to `target`, one with the fewest
    switches between threads (edge attribute `thread`), as a list of node ids.

    >>> import networkx as nx
    >>> G = nx.DiGraph()
    >>> G.add_edges_from([(0, 1, {"thread": "x"}), (0, 2, {"thread": "y"}),
    ...                   (1, 3, {"thread": "y"}), (2, 3, {"thread": "y"})])
    >>> fewest_switches(G, 0, 3)        # y, y beats x, y
    [0, 2, 3]
    """
    import networkx as nx
    if source == target:
        return [source]
    into = nx.single_source_shortest_path_length(G, source)
    left = nx.single_source_shortest_path_length(G.reverse(copy=False), target)
    if target not in into:
        raise nx.NetworkXNoPath(f"no path from {source} to {target}")
    on_path = [(a, b, thread) for a, b, thread in G.edges(data="thread")
               if a in into and b in left and into[a] + 1 + left[b] == into[target]]
    # H's nodes: (state, the thread of the step into it); a change of thread costs 1.
    H, arriving = nx.DiGraph(), {}
    for a, b, thread in on_path:
        arriving.setdefault(b, []).append(thread)
    for a, b, thread in on_path:
        if a == source:
            H.add_edge((a, None), (b, thread), weight=0)
        for before in arriving.get(a, ()):
            H.add_edge((a, before), (b, thread), weight=int(before != thread))
        if b == target:
            H.add_edge((b, thread), "end", weight=0)
    return [n for n, _ in nx.dijkstra_path(H, (source, None), "end")[:-1]]
