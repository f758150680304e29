"""A counterexample as a message-sequence chart (graphviz DOT, rendered to SVG).

One lane per thread (the source migration thread, send[i], the destination
load thread, recv[i]), steps top to bottom in order.  Arrows go from each
semaphore post to the wait it releases, and from each packet or record
written to where it is read (`model.state.SEMAPHORES`, `FIFOS`; posts and
waits are matched first in, first out).  The violating step is red, with the
broken property's name and docstring beside it; a liveness counterexample
shows its cycle as an arrow back to where the cycle starts; a deadlock ends
with its wait-for graph.  The DOT text depends only on the counterexample, so
the same run writes the same bytes.
"""

import textwrap
from collections import deque

from model.state import FIFOS, SEMAPHORES
from model.transports import RECORD_NAMES, packet_name

from . import waitfor
from .counterexample import compact

__all__ = ["messages", "sequence_chart"]

LANE_TITLES = {"mig": "migration thread\n(source)", "load": "load thread\n(destination)",
               "monitor": "QMP monitor\n(source)"}
SEM_COLOR, DATA_COLOR, BAD_COLOR = "#1f5fbf", "#2e7d32", "#c62828"


def _lanes(system, trace):
    used = {label[0] for label, _ in trace[1:]}
    return [t.name for t in system.threads if t.name in used]


def _slots(before, after, field):
    old, new = getattr(before, field), getattr(after, field)
    if field == "stream":
        return [(None, old, new)]
    if isinstance(old, tuple):
        return [(i, o, n) for i, (o, n) in enumerate(zip(old, new)) if o != n]
    return [(None, old, new)] if old != new else []


def _fifo_diff(old, new):
    """(items read from the head, items written at the tail)."""
    for cut in range(len(old) + 1):
        rest = old[cut:]
        if new[:len(rest)] == rest:
            return old[:cut], new[len(rest):]
    return old, new


def messages(trace):
    """Arrows as (from step, to step, kind, label): posts to waits, writes to reads.

    `trace` is [(label or None, state), ...]; steps are numbered from 1."""
    names = {"stream": lambda r: RECORD_NAMES.get(r, hex(r)), "sockets": packet_name}
    queues, out = {}, []
    for step, ((_, before), (_, after)) in enumerate(zip(trace, trace[1:]), start=1):
        for field in SEMAPHORES:
            for i, old, new in _slots(before, after, field):
                _semaphore(queues, out, (field, i), old, new, step)
        for field in FIFOS:
            for i, old, new in _slots(before, after, field):
                _fifo(queues, out, (field, i), old, new, step, names[field])
    return sorted(out)


def _semaphore(queues, out, key, old, new, step):
    q = queues.setdefault(key, deque())
    name = SEMAPHORES[key[0]] + ("" if key[1] is None else f"[{key[1]}]")
    for _ in range(new - old):
        q.append(step)
    for _ in range(old - new):
        if q:
            out.append((q.popleft(), step, "sem", name))


def _fifo(queues, out, key, old, new, step, name_of):
    q = queues.setdefault(key, deque())
    read, written = _fifo_diff(old, new)
    for item in written:
        q.append((step, item))
    for item in read:
        if q:
            sent, _ = q.popleft()
            out.append((sent, step, "data", name_of(item)))


LANE_GAP, TOP, LINE, PAD = 270, 0, 12, 18   # points: lane spacing, text line, row padding


def _node(step, lane):
    return f"s{step}_{lane.replace('[', '_').replace(']', '')}"


def _wrap(text, width=40):
    return textwrap.wrap(text, width, break_on_hyphens=False) or [""]


def _label(lines):
    return "".join(line.replace("\\", "\\\\") + "\\l" for line in lines)


def _rows_y(trace):
    """The y of each step's box (points, downwards): rows as tall as their text."""
    ys, y = {}, -70
    for step, (label, _) in enumerate(trace[1:], start=1):
        lines = 1 + len(_wrap(compact(label[1])))
        ys[step] = (y - lines * LINE / 2, lines)
        y -= lines * LINE + PAD
    return ys, y


def sequence_chart(system, trace, name, doc, loop_at=None, title=""):
    """The chart of one counterexample, as a graphviz.Digraph laid out by hand:
    lanes are columns, steps rows; render it with `dot -Tsvg` (layout=neato, pinned)."""
    import graphviz
    lanes = _lanes(system, trace)
    x = {lane: i * LANE_GAP for i, lane in enumerate(lanes)}
    ys, bottom = _rows_y(trace)
    g = graphviz.Digraph("msc", graph_attr={
        "layout": "neato", "splines": "line", "outputorder": "edgesfirst",
        "label": title, "labelloc": "t", "fontname": "Helvetica", "fontsize": "14"},
        node_attr={"fontname": "Helvetica", "fontsize": "9"},
        edge_attr={"fontname": "Helvetica", "fontsize": "8"})
    _lanes_and_lifelines(g, lanes, x, bottom)
    last = len(trace) - 1
    for step, (label, _) in enumerate(trace[1:], start=1):
        _box(g, step, label, x[label[0]], ys[step], step == last and loop_at is None)
    for src, dst, kind, text in messages(trace):
        _arrow(g, trace, src, dst, kind, text)
    below = _verdict(g, trace, last, name, doc, loop_at, x, bottom)
    if name == "no_deadlock" and loop_at is None:
        _waitfor_note(g, system, trace[-1][1], *below)
    return g


def _pos(x, y):
    return f"{x / 72:.3f},{y / 72:.3f}!"


def _lanes_and_lifelines(g, lanes, x, bottom):
    for lane in lanes:
        head, foot = _node(0, lane), f"end_{_node(0, lane)}"
        g.node(head, LANE_TITLES.get(lane, lane), shape="box", style="filled",
               fillcolor="#e8eaf6", width="3.2", pos=_pos(x[lane], TOP))
        g.node(foot, "", shape="point", width="0.01", color="#9e9e9e",
               pos=_pos(x[lane], bottom))
        g.edge(head, foot, arrowhead="none", style="dotted", color="#9e9e9e")


def _box(g, step, label, x, y_lines, bad):
    thread, action, qemu = label
    y, _ = y_lines
    text = _label([f"{step}. {qemu}"] + _wrap(compact(action)))
    g.node(_node(step, thread), text, shape="box", style="rounded,filled", width="3.2",
           fillcolor="#ffcdd2" if bad else "#ffffff", pos=_pos(x, y),
           color=BAD_COLOR if bad else "#424242", penwidth="2" if bad else "1")


def _arrow(g, trace, src, dst, kind, text):
    color = SEM_COLOR if kind == "sem" else DATA_COLOR
    g.edge(_node(src, trace[src][0][0]), _node(dst, trace[dst][0][0]), label=text,
           color=color, fontcolor=color, style="solid" if kind == "data" else "bold")


def _verdict(g, trace, last, name, doc, loop_at, x, bottom):
    """The broken property under the violating step; returns the y below the note."""
    lane = trace[last][0][0]
    lines = [f"broken: {name}"] + _wrap(doc, 60)
    height = len(lines) * LINE + PAD
    g.node("verdict", _label(lines), shape="note", style="filled", fillcolor="#ffebee",
           color=BAD_COLOR, fontcolor=BAD_COLOR, pos=_pos(x[lane], bottom - height / 2))
    g.edge(_node(last, lane), "verdict", color=BAD_COLOR, style="dashed", arrowhead="none")
    if loop_at is not None:
        back = loop_at + 1
        g.edge(_node(last, lane), _node(back, trace[back][0][0]),
               label=f"back to step {back}: the cycle repeats", color=BAD_COLOR,
               fontcolor=BAD_COLOR, penwidth="2")
    return x[lane], bottom - height - PAD


def _waitfor_note(g, system, final, x, top):
    """The wait-for graph, in text, under the verdict."""
    lines = waitfor.render_text(waitfor.wait_for(system, final))
    height = len(lines) * LINE + PAD
    g.node("waitfor", _label(lines), shape="box", style="filled", fillcolor="#fff8e1",
           color="#ef6c00", pos=_pos(x, top - height / 2))
