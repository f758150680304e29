"""A counterexample as a message-sequence chart (graphviz DOT, rendered to SVG).

One lane per thread (the source migration thread, send[i], the destination
load thread, recv[i]) and one row per step, top to bottom in order: every step
of the story is drawn, numbered as in the text report.  Arrows go from each
semaphore post to the wait it releases, and from each packet or record
written to where it is read (`model.state.SEMAPHORES`, `FIFOS`; posts and
waits are matched first in, first out).  The violating step is red, with the
broken property's name and docstring under it; a liveness counterexample
shows its cycle as an arrow back to where the cycle starts; a deadlock ends
with its wait-for graph.

Every node is sized and placed here and pinned (neato, `pos=...!`); Graphviz
only draws.  Text is measured on the wide side (`text_width`), so it fits its
box in the sans-serifs a browser picks for Helvetica.  A row holds one box, as
tall as its text and its arrows' ends need; an arrow leaves the side of its box
level, under its label, then turns to its target, so the label lies in that
step's row, on no other box, and the arrows leaving one box are laid out so as
to cross none of each other's labels (tests/test_charts.py checks boxes and
texts against each other, not lines against labels).  The DOT text depends
only on the counterexample, so the same run writes the same bytes.
"""

import math
import textwrap
from collections import deque

from model.state import FIFOS, SEMAPHORES
from model.transports import RECORD_NAMES, packet_name

from . import waitfor
from .counterexample import compact

__all__ = ["messages", "sequence_chart", "text_width"]

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


# ------------------------------------------------------------------ sizes
# Points (1/72 inch), x to the right, y downwards; `_pos` and `_inch` give Graphviz its
# inches (y upwards).  Every node gets its size from here, at least as large as its text
# measured by `text_width`, so Graphviz never grows a box into its neighbour.

FONT, ARROW_FONT, TITLE_FONT = 9, 8, 14   # a step's text, an arrow's label, the title
LINE = 1.2             # a line of text is this many font sizes tall (Graphviz's spacing)
WRAP = 36              # characters on a line of a step's box
TEXT_X, TEXT_Y = 8, 6  # between a box's text and its edge
MIN_LANE = 120         # the narrowest lane
HEAD = 2 * LINE * FONT + 2 * TEXT_Y   # a lane's head: two lines
LANE_GAP, ROW_GAP = 40, 10            # between two lanes' boxes; between two rows'
END = 6                # between the ends of two arrows on one side of a box
SLOT = 17              # between the starts of two arrows, with the label between them
LABEL = 12             # an arrow's label, top to bottom
BRACKET = 14           # how far an arrow back into its own lane stands out from the box


def text_width(text, size):
    """Points a line of `text` takes at font size `size`, on the wide side: 0.62 of the
    size a character, 0.75 a capital.  DejaVu Sans and Liberation Sans (what browsers
    draw for Helvetica where there is none) stay under it on every chart of the matrix.

    >>> round(text_width("EOS read", 10), 1)
    53.5
    """
    capitals = sum(c.isupper() for c in text)
    return size * (0.75 * capitals + 0.62 * (len(text) - capitals))


def _pos(x, y):
    return f"{x / 72:.3f},{-y / 72:.3f}!"


def _inch(points):
    return f"{math.ceil(points / 72 * 1000) / 1000:.3f}"


def _node(step, lane):
    return f"s{step}_{lane.replace('[', '_').replace(']', '')}"


def _wrap(text, width=WRAP, first=""):
    """Lines of at most `width` characters, the first after `first`; a word longer than
    that (a QEMU function's name) is kept whole, on a longer line."""
    return textwrap.wrap(text, width, initial_indent=first, break_on_hyphens=False,
                         break_long_words=False) or [first]


def _label(lines):
    """Left-justified Graphviz label text."""
    return "".join(line.replace("\\", "\\\\") + "\\l" for line in lines)


def _box_size(lines, size=FONT):
    """(width, height) of a box around `lines`."""
    return (max(text_width(line, size) for line in lines) + 2 * TEXT_X,
            len(lines) * LINE * size + 2 * TEXT_Y)


# ------------------------------------------------------------------ the chart

def sequence_chart(system, trace, name, doc, loop_at=None, title=""):
    """The chart of one counterexample, as a graphviz.Digraph with every node pinned
    (layout=neato): lanes are columns, each step a row of its own; render it with
    `dot -Tsvg`."""
    import graphviz
    story = _story(system, trace)
    arrows = messages(trace)
    if loop_at is not None:
        arrows.append((len(trace) - 1, loop_at + 1, "loop",
                       f"back to step {loop_at + 1}: the cycle repeats"))
    g = graphviz.Digraph("msc", graph_attr={
        "layout": "neato", "splines": "line", "outputorder": "edgesfirst"},
        node_attr={"fontname": "Helvetica", "fontsize": str(FONT),
                   "margin": f"{_inch(TEXT_X)},{_inch(TEXT_Y)}"},
        edge_attr={"arrowsize": "0.8"})
    heads = _title(g, title, story)
    rows, bottom = _rows(story, arrows, heads + HEAD + 24)
    _lanes_and_lifelines(g, story, heads, bottom)
    last = len(trace) - 1
    for step in range(1, last + 1):
        _box(g, story, step, rows[step], step == last and loop_at is None)
    knees = _knees(story, rows, arrows)
    for number, arrow in enumerate(arrows):
        _arrow(g, story, rows, knees, number, arrow)
    below = _verdict(g, story, last, name, doc, bottom + 16)
    if name == "no_deadlock" and loop_at is None:
        _waitfor_note(g, story, system, trace[-1][1], below)
    return g


def _story(system, trace):
    """What the layout needs of the trace: the lanes (in the system's thread order), each
    with its x and width; each step's lane and lines of text (index 0 unused)."""
    lanes = _lanes(system, trace)
    lane_of = [None] + [label[0] for label, _ in trace[1:]]
    text = [None] + [_wrap(label[2], first=f"{step}. ") + _wrap(compact(label[1]))
                     for step, (label, _) in enumerate(trace[1:], start=1)]
    width = {lane: max([MIN_LANE, _box_size(LANE_TITLES.get(lane, lane).split("\n"))[0]]
                       + [_box_size(text[step])[0] for step in range(1, len(trace))
                          if lane_of[step] == lane])
             for lane in lanes}
    x, right = {}, -LANE_GAP
    for lane in lanes:
        x[lane] = right + LANE_GAP + width[lane] / 2
        right = x[lane] + width[lane] / 2
    return {"lane_of": lane_of, "text": text, "x": x, "width": width, "right": right}


def _title(g, title, story):
    """The title, centred above the chart; where it is wider than the chart, on two lines
    at its ": " (variant, configuration) and wrapped; returns the y under it."""
    if not title:
        return 0
    chars = max(50, int(story["right"] / text_width("x", TITLE_FONT)))
    parts = [title] if len(title) <= chars else title.replace(": ", ":\n", 1).split("\n")
    lines = [line for part in parts for line in _wrap(part, chars)]
    width, height = _box_size(lines, TITLE_FONT)
    g.node("title", "\n".join(lines), shape="plaintext", fontsize=str(TITLE_FONT),
           fixedsize="true", width=_inch(width), height=_inch(height),
           pos=_pos(story["right"] / 2, height / 2))
    return height + 8


def _lanes_and_lifelines(g, story, top, bottom):
    for lane, x in story["x"].items():
        head, foot = _node(0, lane), f"end_{_node(0, lane)}"
        g.node(head, LANE_TITLES.get(lane, lane), shape="box", style="filled",
               fillcolor="#e8eaf6", width=_inch(story["width"][lane]), height=_inch(HEAD),
               pos=_pos(x, top + HEAD / 2))
        g.node(foot, "", shape="point", width="0.01", color="#9e9e9e", pos=_pos(x, bottom))
        g.edge(head, foot, arrowhead="none", style="dotted", color="#9e9e9e")


def _box(g, story, step, row, bad):
    lane = story["lane_of"][step]
    g.node(_node(step, lane), _label(story["text"][step]), shape="box",
           style="rounded,filled", width=_inch(story["width"][lane]),
           height=_inch(row["height"]), pos=_pos(story["x"][lane], row["top"] + row["height"] / 2),
           fillcolor="#ffcdd2" if bad else "#ffffff", color=BAD_COLOR if bad else "#424242",
           penwidth="2" if bad else "1")


# ------------------------------------------------------------------ rows and arrow ends

def _rows(story, arrows, y):
    """Each step's row from `y` down, as {step: {top, height, ends}}, where `ends` maps
    (arrow number, "from" or "to") to (side "e" or "w", y); and the y under the last row.

    A box is as tall as its text and as the arrow ends on either side need: the ends of
    arrows from above first, then the starts of arrows going down (each label just
    above its arrow), then of arrows going up (label just below), then the ends of
    arrows from below; within each, in `_order`'s order."""
    sides = _sides(story, arrows)
    rows = {}
    for step in range(1, len(story["text"])):
        need = max([_need(story, arrows, step, ends) for (s, _), ends in sides.items()
                    if s == step], default=0)
        height = max(_box_size(story["text"][step])[1], need)
        rows[step] = {"top": y, "height": height, "ends": {}}
        y += height + ROW_GAP
    for (step, side), ends in sides.items():
        ends.sort(key=lambda end: _order(story, rows, arrows, step, end))
        offset = (rows[step]["height"] - _need(story, arrows, step, ends)) / 2 + 4
        for end in ends:
            above, below = _room(story, arrows, step, end)
            offset += above
            rows[step]["ends"][end] = (side, rows[step]["top"] + offset)
            offset += below
    return rows, y - ROW_GAP + 8


def _sides(story, arrows):
    """{(step, side): [(arrow number, "from" or "to")]}: the side of each box each arrow
    leaves or reaches; an arrow within one lane leaves and reaches the east side."""
    sides = {}
    for number, (src, dst, _, _) in enumerate(arrows):
        xs, xd = (story["x"][story["lane_of"][s]] for s in (src, dst))
        sides.setdefault((src, "w" if xd < xs else "e"), []).append((number, "from"))
        sides.setdefault((dst, "w" if xs < xd else "e"), []).append((number, "to"))
    return dict(sorted(sides.items()))


def _other(arrows, end):
    """The step at the arrow's other end."""
    src, dst = arrows[end[0]][:2]
    return dst if end[1] == "from" else src


def _room(story, arrows, step, end):
    """(points above, points below) an arrow's end takes on the side of its box."""
    if end[1] == "to":
        return END, 0
    other = _other(arrows, end)
    if story["lane_of"][other] == story["lane_of"][step]:
        return LABEL / 2 + 2, LABEL / 2 + 2      # the label beside the bracket, centred
    return (SLOT, 0) if other > step else (2, SLOT)


def _need(story, arrows, step, ends):
    return 8 + sum(sum(_room(story, arrows, step, end)) for end in ends)


def _order(story, rows, arrows, step, end):
    """Where an end goes among those on its side: by its rank in `_rows`, then arrows
    that leave downwards with the farthest target on top (`_knees` can then run each
    clear of the labels under it); the other ends by slope, so that they do not cross
    by the box; then by arrow number."""
    other = _other(arrows, end)
    after = (other > step) - (other < step)
    rank = {("to", -1): 0, ("to", 0): 1, ("from", 1): 2, ("from", -1): 3, ("from", 0): 4,
            ("to", 1): 5}[end[1], after]
    run = abs(story["x"][story["lane_of"][other]] - story["x"][story["lane_of"][step]])
    if rank == 2:
        return rank, -run, end[0]
    centre = {s: rows[s]["top"] + rows[s]["height"] / 2 for s in (step, other)}
    slope = abs(centre[other] - centre[step]) / max(run, 1)
    return rank, slope if rank == 5 else -slope, end[0]


def _knees(story, rows, arrows):
    """{arrow number: points}: how far an arrow that leaves its box downwards runs level
    before it turns to its target: past its own label and the labels under it on that
    side (so that it crosses none of them), but not past half way to its target's near
    side, so that arrows into one lane from rows far apart do not run down one line."""
    knees = {}
    for step, row in rows.items():
        for side in "ew":
            ends = sorted((y, end[0]) for end, (s, y) in row["ends"].items()
                          if s == side and end[1] == "from" and _other(arrows, end) > step
                          and story["lane_of"][_other(arrows, end)] != story["lane_of"][step])
            clear = 0                      # beyond the labels under it, from the box
            for _, number in reversed(ends):
                dst = arrows[number][1]
                room = abs(_edge_x(story, story["lane_of"][dst], "w" if side == "e" else "e")
                           - _edge_x(story, story["lane_of"][step], side)) / 2
                clear = max(clear, 3 + _label_width(arrows[number][3]) + 4)
                knees[number] = max(0, min(clear, room))
    return knees


def _label_width(text):
    return text_width(text, ARROW_FONT) + 4


# ------------------------------------------------------------------ arrows and notes

def _arrow(g, story, rows, knees, number, arrow):
    """An arrow from the side of one box to the side of another: level under its label
    to its knee, then to its target; through a bracket beside the lane when both boxes
    are in one lane."""
    src, dst, kind, text = arrow
    color = {"sem": SEM_COLOR, "data": DATA_COLOR, "loop": BAD_COLOR}[kind]
    (side, y0), (_, y1) = rows[src]["ends"][number, "from"], rows[dst]["ends"][number, "to"]
    lane, dst_lane = story["lane_of"][src], story["lane_of"][dst]
    x0 = _edge_x(story, lane, side)
    x1 = _edge_x(story, dst_lane, "w" if side == "e" and dst_lane != lane else "e")
    points = [(x0, y0), (x1, y1)]
    if lane == dst_lane:
        points[1:1] = [(x0 + BRACKET, y0), (x0 + BRACKET, y1)]
    elif knees.get(number):
        points[1:1] = [(x0 + knees[number] * (1 if side == "e" else -1), y0)]
    names = [f"a{number}_{i}" for i in range(len(points))]
    for name, (x, y) in zip(names, points):
        g.node(name, "", shape="point", width="0", style="invis", pos=_pos(x, y))
    style = {"sem": "bold", "data": "solid", "loop": "solid"}[kind]
    for i, (a, b) in enumerate(zip(names, names[1:])):
        g.edge(a, b, color=color, style=style, clip="false", penwidth="2" if kind == "loop"
               else "1", arrowhead="normal" if i == len(names) - 2 else "none")
    width = _label_width(text)
    if lane == dst_lane:
        left, y = x0 + BRACKET + 4, y0
    else:
        left = x0 + 3 if side == "e" else x0 - 3 - width
        y = y0 - 1 - LABEL / 2 if dst > src else y0 + 1 + LABEL / 2
    g.node(f"a{number}_label", text, shape="plaintext", style="filled", fillcolor="#ffffff",
           fontsize=str(ARROW_FONT), fontcolor=color, fixedsize="true", margin="0",
           width=_inch(width), height=_inch(LABEL), pos=_pos(left + width / 2, y))


def _edge_x(story, lane, side):
    return story["x"][lane] + story["width"][lane] / 2 * (1 if side == "e" else -1)


def _under_chart(story, x, width):
    """`x` moved just enough for a note `width` wide to stay under the lanes."""
    return min(max(x, width / 2), max(story["right"] - width / 2, width / 2))


def _verdict(g, story, last, name, doc, top):
    """The broken property under the violating step; returns the y under the note."""
    lane = story["lane_of"][last]
    lines = [f"broken: {name}"] + _wrap(doc, 60)
    width, height = _box_size(lines)
    width += 12                                  # the note's folded corner
    g.node("verdict", _label(lines), shape="note", style="filled", fillcolor="#ffebee",
           color=BAD_COLOR, fontcolor=BAD_COLOR, width=_inch(width), height=_inch(height),
           pos=_pos(_under_chart(story, story["x"][lane], width), top + height / 2))
    g.edge(_node(last, lane), "verdict", color=BAD_COLOR, style="dashed", arrowhead="none")
    return top + height + 16


def _waitfor_note(g, story, system, final, top):
    """The wait-for graph, in text, under the verdict."""
    lines = waitfor.render_text(waitfor.wait_for(system, final))
    width, height = _box_size(lines)
    g.node("waitfor", _label(lines), shape="box", style="filled", fillcolor="#fff8e1",
           color="#ef6c00", width=_inch(width), height=_inch(height),
           pos=_pos(_under_chart(story, story["x"][story["lane_of"][-1]], width),
                    top + height / 2))
