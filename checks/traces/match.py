"""Match a real hang trace to a model path that ends in the same hang.

Where `conformance` replays long traces on the sync skeleton, this searches
the model itself (one row per step, so every traced action has its own
step): a path whose per-thread projection onto traced events equals the real
trace's, and which ends in a state the model calls a deadlock.  Found, it
says the real trace is a prefix of a model counterexample to `no_deadlock`,
and gives that counterexample.

Projection.  Each model row that QEMU traces declares the abstract events it
logs for its thread (`trace=` on the row in model/: `("signal", c)`,
`("wait", i)`, `("sync",)`, `("error",)`, `("end",)`, ...), read on the state
before it fires; rows QEMU does not trace yield none and may happen freely.
Only the threads of the traced side take part: a destination-only trace
leaves the source's steps free. A suffix (`suffix=True`) is the trace's last
sync round: on the source from the migration thread's last `signal 0` on, on
the destination from the load thread's last `wait iter 0` on; it starts
wherever the model's thread is about to log that event.

Ending.  A hang trace must end where the model deadlocks (`ending="deadlock"`, the
default). A trace of a run that failed cleanly (the patch series, docs/upstream.md) must
end where every thread of the model has stopped at a proper end (`ending="end"`).
"""

import time
from functools import partial
from heapq import heappop, heappush

from model.config import Config
from checks.engine.packed import run_packed
from checks.system import System
from model.variants import get_variant
from model.variants.upstream import SERIES

from .replay import Skeleton, replay
from checks.reports.counterexample import compact

# Variants of the patch series: their traces follow the series' rules (10.0-patched).
SERIES_NAMES = {v.name for v in SERIES}

__all__ = ["real_projection", "model_events", "find_matching_path", "match_trace",
           "pages_needed", "MatchError"]


class MatchError(Exception):
    """The search could not run (too large, or nothing to match)."""


# ------------------------------------------------------------ the real side

def real_projection(events, roles, side, suffix=False):
    """Per model thread name, the abstract events a real log shows, in thread order.

    `roles` maps (side, tid) to a role name, as `checks.traces.replay` binds them.
    """
    names = {"migration thread": "mig", "load thread": "load"}
    out = {}
    start_ts = _suffix_start(events, side) if suffix else None
    for ev in events:
        if ev.side != side or (start_ts is not None and ev.ts < start_ts):
            continue
        role = roles.get((ev.side, ev.tid))
        item = _abstract(ev)
        if role is None or item is None:
            continue
        out.setdefault(names.get(role, role), []).append(item)
    return out


def _suffix_start(events, side):
    """When the trace's last sync round starts: `signal 0` (source), `wait iter 0`
    (destination)."""
    kind = "send_signal" if side == "src" else "recv_wait"
    starts = [ev.ts for ev in events if ev.kind == kind and ev.ch == 0]
    if not starts:
        raise MatchError(f"the {_SIDES[side]} trace has no sync round to match")
    return starts[-1]


_SIDES = {"src": "source", "dst": "destination"}


def _abstract(ev):
    kind = ev.kind
    if kind in ("send_signal", "recv_signal"):
        return ("signal", ev.ch)
    if kind in ("send_wait", "recv_wait"):
        return ("wait", ev.ch)
    if kind == "send_sync_done":
        return ("done",)
    if kind == "send_packet":
        return ("sync",) if ev.flags & 1 else ("packet",)
    if kind == "send_error":
        return ("error",)
    if kind == "recv_terminate":
        return ("error",) if ev.err else None
    if kind in ("send_end", "recv_end"):
        return ("end",)
    return None


# ------------------------------------------------------------ the model side

def model_events(system, s, label):
    """Per row of one model step (`label`, taken from `s`), the abstract events QEMU
    traces for it: what the row declares (`trace=` in model/), read on the state before
    the row fires; () for a row QEMU does not trace."""
    t = _channel(label[0]) if "[" in label[0] else 0
    return [r.trace(before, t, c) if r.trace else ()
            for r, before, c in system.unfold(s, label)]


def _channel(thread):
    """The channel of a per-channel thread's name: 3 for "recv[3]"."""
    return int(thread[thread.index("[") + 1:-1])


# ------------------------------------------------------------ the search

def _advance(real, pos, thread_index, events):
    """New positions after `events`, or None if they do not match the trace."""
    if not events:
        return pos
    pos = list(pos)
    for thread, item in events:
        k = thread_index[thread]
        seq = real[thread]
        if pos[k] >= len(seq) or seq[pos[k]] != item:
            return None
        pos[k] += 1
    return tuple(pos)


class _Events:
    """The traced events of model steps, from packed states, kept by what they read.

    A step's events come from the rows it fires (`trace=` in model/), on the unpacked
    state. Each label's events are computed through the packed model's cache
    (`PackedSystem.cached`), which keeps them under the bits the rows and their trace
    functions read: nothing here lists what a trace function may read."""

    def __init__(self, model, side):
        self.model, self.side, self.system = model, side, model.system
        self.traced_of, self.suffix_of = {}, {}

    def traced(self, x, label):
        """[(thread, event), ...] QEMU logs for this step of the traced side."""
        if _side_of(label[0]) != self.side:
            return []
        of = self.traced_of.get(label)
        if of is None:
            of = self.traced_of[label] = self.model.cached(
                partial(_traced_events, self.system, label))
        return of(x)

    def suffix(self, x, label):
        """If this step logs the event a suffix starts with (`_STARTS`), the traced
        events from that row on (the suffix starts inside the step); else None."""
        if label[0] != _STARTS[self.side][0]:
            return None
        of = self.suffix_of.get(label)
        if of is None:
            of = self.suffix_of[label] = self.model.cached(
                partial(_suffix_rows, self.system, label, self.side))
        return of(x)


def _traced_events(system, label, s):
    return [(label[0], e) for row in model_events(system, s, label) for e in row]


def _side_of(thread):
    return "src" if thread == "mig" or thread.startswith("send") else (
        "dst" if thread == "load" or thread.startswith("recv") else "other")


# Per side, the thread whose event starts a suffix, and that event.
_STARTS = {"src": ("mig", ("signal", 0)), "dst": ("load", ("wait", 0))}


def _suffix_rows(system, label, side, s):
    thread, start = _STARTS[side]
    events = model_events(system, s, label)
    for k, row in enumerate(events):
        if start in row:
            return [(thread, e) for later in events[k:] for e in later]
    return None


def _next_nodes(events, x, pos, label, real, index):
    """Product successors of one model step: unconstrained before the suffix starts
    (pos None), else only if the step's traced events match the trace."""
    if pos is not None:
        npos = _advance(real, pos, index, events.traced(x, label))
        return [] if npos is None else [npos]
    out = [None]
    suffix = events.suffix(x, label)
    if suffix is not None:
        npos = _advance(real, tuple(0 for _ in index), index, suffix)
        if npos is not None:
            out.append(npos)
    return out


ENDINGS = ("deadlock", "end")


def find_matching_path(system, real, side, suffix=False, limit=2_000_000, progress=None,
                       ending="deadlock"):
    """(path, start) for a model path (a list of (label, state)) whose projection
    from step `start` on is `real` and that ends in a deadlock (or, `ending="end"`, at
    a proper end); None if none.

    One search over (model state, trace position), with the model's states packed
    (checks/engine/packed.py); in suffix mode the position is None until the migration thread
    signals channel 0. It is best-first: the node with the most traced events matched
    goes first, breadth-first among equals, so it follows the trace down as soon as it
    can. Breadth-first alone first visits every interleaving of the untraced steps up
    to the depth of the match: under the default pick, the 4-channel P2 trace took 17.5
    million product states so, and takes 137,057 now. With no match, both visit the
    same nodes. `progress`, if given, gets a line every few seconds."""
    n = system.config.channels
    lanes = ["mig", *(f"send[{c}]" for c in range(n))] if side == "src" else \
        ["load", *(f"recv[{c}]" for c in range(n))]
    unknown = sorted(set(real) - set(lanes))
    if unknown:
        raise MatchError(f"the trace has threads the model at N={n} does not: {unknown}")
    if ending not in ENDINGS:
        raise ValueError(f"ending must be one of {ENDINGS}, not {ending!r}")
    real = {t: real.get(t, []) for t in lanes}
    proper = ending == "end"
    return run_packed(system, lambda model: _search(model, real, lanes, side, suffix, limit,
                                                    progress, proper))


def _search(model, real, lanes, side, suffix, limit, progress, proper=False):
    index = {t: k for k, t in enumerate(lanes)}
    goal = tuple(len(real[t]) for t in lanes)
    events = _Events(model, side)
    first = None if suffix else tuple(0 for _ in lanes)
    parent = dict.fromkeys(_node(x, first) for x in model.initial_states())
    queue = [(-_rank(first), k, node) for k, node in enumerate(parent)]
    ticker = _Ticker(progress)
    while queue:
        ticker.tick(len(parent), len(queue))
        node = heappop(queue)[2]
        x, pos = _split(node)
        succ = model.successors(x)
        if pos == goal and not succ and model.is_proper_end(x) == proper:
            return _path(model, node, parent)
        for label, nxt in succ:
            for npos in _next_nodes(events, x, pos, label, real, index):
                key = _node(nxt, npos)
                if key in parent:
                    continue
                if len(parent) >= limit:
                    raise MatchError(f"the search passed {limit:,} states before a match")
                parent[key] = (node, label)
                heappush(queue, (-_rank(npos), len(parent), key))
    return None


def _rank(pos):
    """How far into the trace a node is: 0 before the suffix starts, else 1 + the
    traced events matched."""
    return 0 if pos is None else 1 + sum(pos)


def pages_needed(events, roles, real, side="src") -> int:
    """How many pages the model's one round needs to match a trace under round-robin.

    Source suffix (at least 2): one for each page packet the suffix shows, and one for
    each channel still busy with a page when the suffix starts (`_busy_at_suffix`).
    QEMU's scan passes over a busy channel; the model's passes over one only if it holds
    a page too. Destination (mapped-ram): the model's scan starts at recv[0] and hands
    page k to recv[k], so a failed read on recv[f] needs f+1 pages."""
    if side == "dst":
        failed = [_channel(t) for t, seq in real.items()
                  if t.startswith("recv[") and ("error",) in seq]
        return 1 + max(failed, default=0)
    shown = sum(seq.count(("packet",)) for seq in real.values())
    return max(2, shown + len(_busy_at_suffix(events, roles, real)))


def _busy_at_suffix(events, roles, real) -> list:
    """The send channels whose last traced packet before the suffix is a page, and that
    show no page in it: their write may still be in flight when the suffix starts."""
    start, last = _suffix_start(events, "src"), {}
    for ev in events:
        role, item = roles.get((ev.side, ev.tid)), _abstract(ev)
        if ev.side == "src" and ev.ts < start and item in (("packet",), ("sync",)):
            last[role] = item
    return sorted(t for t, item in last.items()
                  if item == ("packet",) and ("packet",) not in real.get(t, ()))


def _node(x, pos):
    """A product node: the packed state alone before the suffix starts (most nodes,
    and an int hashes and compares faster than a pair), else (state, position)."""
    return x if pos is None else (x, pos)


def _split(node):
    return (node, None) if type(node) is int else node


class _Ticker:
    """A progress line every INTERVAL seconds, checked every 4096 states."""

    INTERVAL = 5.0

    def __init__(self, progress):
        self.progress, self.began, self.calls = progress, time.monotonic(), 0
        self.next = self.began + self.INTERVAL

    def tick(self, states, queued):
        self.calls += 1
        if self.progress is None or self.calls % 4096:
            return
        now = time.monotonic()
        if now >= self.next:
            self.next = now + self.INTERVAL
            rate = states / (now - self.began)
            self.progress(f"match: {states:,} states searched ({rate:,.0f}/s), "
                          f"{queued:,} queued")


def match_trace(events, side, channels, transport, fault, suffix=False, pages=1,
                limit=2_000_000, pick="any", progress=None, variant="qemu-10.0",
                ending="deadlock"):
    """(system, real, found): one side's real 10.0 events projected (thread roles bound by
    a skeleton replay: with the series' rules for a variant of it, model/variants/
    upstream.py), and find_matching_path's answer on `variant` with one fault layer at a
    small non-live configuration. `pages` None: as many as `pages_needed`."""
    st = Skeleton("10.0", channels, transport == "file", has_src=side == "src",
                  patched=variant in SERIES_NAMES)
    replay(st, events)
    real = real_projection(events, st.roles, side, suffix)
    if pages is None:
        pages = pages_needed(events, st.roles, real, side)
    config = Config(transport=transport, channels=channels, pages=pages, rounds=1, live=False,
                    faults=(fault,), zero_pages=(), pick=pick)
    # QEMU traces each wait of a run (multifd_recv_sync_main_wait, ..._send_sync_main_wait)
    # as it takes it: the model matched against a trace takes them one at a time too.
    system = System(config, get_variant(variant), merge_waits=False)
    return system, real, find_matching_path(system, real, side, suffix, limit, progress,
                                            ending)


def _path(model, node, parent):
    """(path, start): the steps from the initial state, and how many come before
    the step where the matched trace starts."""
    steps = []
    while parent[node] is not None:
        prev, label = parent[node]
        (x, pos), before = _split(node), _split(prev)[1]
        steps.append((label, model.view(x), before is None and pos is not None))
        node = prev
    steps.reverse()
    start = next((k for k, (_, _, seed) in enumerate(steps) if seed), 0)
    return [(None, model.view(_split(node)[0]))] + [(label, s) for label, s, _ in steps], start


def render_path(system, path, side, real, ending="deadlock"):
    """The matched model path, traced-side steps numbered, each with what QEMU logs."""
    path, start = path
    lines, hidden = [], 0
    for number, ((label, state), (_, before)) in enumerate(zip(path[1:], path), start=1):
        if number <= start:
            continue
        if _side_of(label[0]) != side:
            hidden += 1
            continue
        lines += _render_step(system, number, label, before)
    width = sum(len(v) for v in real.values())
    lead = f", steps 1-{start} lead to the round the trace ends in" if start else ""
    head = [f"model path: {len(path) - 1} steps{lead}; {hidden} steps of the other side's "
            f"threads are left out below; the {width} traced events match, and "
            f"{'it ends in a deadlock' if ending == 'deadlock' else 'every thread ends'}"]
    return head + lines


def _render_step(system, number, label, before):
    thread, action, qemu = label
    traced = [e for row in model_events(system, before, label) for e in row]
    shown = ", ".join(" ".join(map(str, e)) for e in traced) or "(nothing traced)"
    return [f"{number:>4}. {thread:<8} logs {shown}", f"{'':15}{qemu}: {compact(action)}"]
