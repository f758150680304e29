"""Why a hang is a hang: the wait-for graph of a deadlocked (or stuck) state.

For each blocked thread: the semaphore (or FIFO) it waits on, found by asking
which post (or write) would let it move (`model.state.SEMAPHORES`, `FIFOS`),
and the threads that could post it, found by which of their rows add to it;
each of those is described as exited, blocked itself, or still able to run.  For P1 this
reads: the load thread waits on multifd_recv_state->sem_sync; recv[0] and
recv[1] could post it and have exited.
"""

from typing import NamedTuple

from model.state import FIFOS, SEMAPHORES, add, put
from model.transports import EOF_PACKET, RECORD_NAMES, STREAM_EOF

__all__ = ["Wait", "wait_for", "render_text", "to_dot"]


class Wait(NamedTuple):
    """One blocked thread and what it waits for."""

    thread: str
    state: str             # its control state
    resource: str          # e.g. "multifd_recv_state->sem_sync" or "p->sem_sync[0]"
    posters: tuple         # ((thread, status), ...)


def _moving_threads(system, s):
    """The threads that can take a step from `s`, a single wait of a merged run of
    waits included (Product.settle_steps)."""
    return {label[0] for label, _ in system.successors(s) + system.settle_steps(s)}


def _status(system, s, thread, moving):
    pc = system.pc(s, thread)
    if not thread.table[pc]:
        return "has exited" if "EXIT" in system.state_name(thread.role, pc) else \
            f"has finished ({system.state_name(thread.role, pc)})"
    if thread.name in moving:
        return "can still run"
    return f"is blocked in {system.state_name(thread.role, pc)}"


# What a write to each FIFO may carry: enough to wake a reader blocked on it.
_FIFO_ITEMS = {"stream": (*RECORD_NAMES, STREAM_EOF), "sockets": (EOF_PACKET,)}


def _slots(s):
    """Every semaphore and FIFO as (field, index or None)."""
    for field in (*SEMAPHORES, *FIFOS):
        value = getattr(s, field)
        if field == "stream":
            yield field, None
        elif isinstance(value, tuple):
            yield from ((field, i) for i in range(len(value)))
        else:
            yield field, None


def _posts_of(s, field, index):
    """The states one post (or one write) to this object makes from `s`."""
    value = getattr(s, field)
    if field == "stream":
        return [s.replace(stream=value + (item,)) for item in _FIFO_ITEMS[field]]
    if field in FIFOS:
        return [s.replace(**{field: put(value, index, value[index] + (item,))})
                for item in _FIFO_ITEMS[field]]
    return [s.replace(**{field: add(value, index, 1) if index is not None else value + 1})]


def _value(s, field, index):
    value = getattr(s, field)
    value = value[index] if index is not None and field != "stream" else value
    return len(value) if field in FIFOS else value


def _name(field, index):
    name = SEMAPHORES.get(field) or FIFOS[field]
    return name + (f"[{index}]" if index is not None else "")


def _posts(system, s, thread, field, index):
    """Does any row of `thread` add to this object (applied to `s`, guards aside)?

    A row of a single thread (mig, load) that adds to any channel's copy counts for
    every channel: its loop index, not its identity, picks the channel."""
    channels = range(system.config.channels)
    if index is not None and not thread.per_channel:
        return any(_posts_at(system, s, thread, field, i) for i in channels)
    return _posts_at(system, s, thread, field, index)


def _posts_at(system, s, thread, field, index):
    channels = range(system.config.channels)
    for rows in thread.table:
        for r in rows:
            for c in (channels if r.pick else (None,)):
                try:
                    after = s
                    for effect in r.effects:
                        after = effect(after, thread.t, c)
                except Exception:          # an effect that needs another control state
                    continue
                if _value(after, field, index) > _value(s, field, index):
                    return True
    return False


def wait_for(system, s):
    """The blocked threads of state `s`, each with its semaphore and its posters."""
    moving = _moving_threads(system, s)
    out = []
    for thread in system.threads:
        pc = system.pc(s, thread)
        if thread.name in moving or not thread.table[pc]:
            continue
        state = system.state_name(thread.role, pc)
        for field, index in _slots(s):
            if not any(thread.name in _moving_threads(system, p)
                       for p in _posts_of(s, field, index)):
                continue
            posters = tuple((t.name, _status(system, s, t, moving)) for t in system.threads
                            if t is not thread and _posts(system, s, t, field, index))
            out.append(Wait(thread.name, state, _name(field, index), posters))
            break
        else:
            out.append(Wait(thread.name, state, "", ()))
    return out


def render_text(waits):
    """The wait-for graph as lines a terminal shows."""
    lines = ["wait-for graph:"]
    for w in waits:
        if not w.resource:
            lines.append(f"  {w.thread} is blocked in {w.state} (no single post frees it)")
            continue
        lines.append(f"  {w.thread} waits on {w.resource} (in {w.state})")
        if not w.posters:
            lines.append("    no thread can post it")
        lines += [f"    {name} could post it and {status}" for name, status in w.posters]
    return lines


def to_dot(waits, title):
    """The wait-for graph as a graphviz.Digraph: threads, semaphores, who could post."""
    import graphviz
    g = graphviz.Digraph("waitfor", graph_attr={"rankdir": "LR", "label": title,
                                                "labelloc": "t", "fontname": "Helvetica"},
                         node_attr={"fontname": "Helvetica", "fontsize": "11"})
    for w in waits:
        g.node(w.thread, w.thread, shape="box", style="filled", fillcolor="#f4cccc")
        if not w.resource:
            continue
        g.node(w.resource, w.resource, shape="ellipse", style="filled", fillcolor="#fff2cc")
        g.edge(w.thread, w.resource, label="waits on")
        for name, status in w.posters:
            color = "#d9d9d9" if "exited" in status or "finished" in status else "#f4cccc"
            g.node(name, name, shape="box", style="filled", fillcolor=color)
            g.edge(w.resource, name, label=f"only posted by:\n{status}", dir="back",
                   style="dashed")
    return g
