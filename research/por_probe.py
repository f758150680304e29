"""A probe (#6): what partial orders or dead variables could save beyond the transactions.

Not part of the checker: it measures, and its rules of what commutes are stated here,
not proven. It explores one configuration (transactions on, no symmetry) and prints the
states reached:

  full        every enabled step: what `multifd-check run` explores.
  stubborn    Valmari's strong stubborn sets, one thread's current step (a transaction
              from its control state) as the unit. A unit brings in every unit of another
              thread, at a control state that thread can still reach, that conflicts with
              it; a blocked unit brings in every unit that writes what its guards read; a
              unit at a control state its thread is not at brings in that thread's
              current unit. Accesses commute by kind: posts with posts and with the
              single waiter's wait, a FIFO's appends with its reads, ghost flags (set,
              never cleared) with each other. The ample set is the smallest one over the
              enabled threads; it is cut back to every enabled step when one of its steps
              changes a visible field (C2). Against the ignoring problem, every terminal
              strongly connected set of the reduced graph gets a fully expanded state
              (Valmari's condition for safety; `Probe.search`).
                `stubborn` takes as visible every field a property reads (what a sound
              check needs); `stubborn-ghosts` only the ghost flags and the guest RAM (what
              it would need if every property were restated over ghost flags).
  bound       a bound for any reduction by threads (unsound): one thread's steps alone,
              when each commutes with every other thread's current steps (the diamond is
              checked on the states themselves), whatever those threads may do later.
  dead-variables  not a search: the full search's states, merged where they differ only
              in variables no thread, property or end test reads again before they are
              written (computed backwards over the whole graph, so an upper bound for a
              dead-variable reduction). `dead-static`: the same with what a search could
              know ahead, the reads at the control states each thread can still reach and
              everything a property or the end test reads anywhere.

The footprints (what each thread reads and writes at each control state) are those the
full search's step cache recorded, so they cover every state the model reaches.

    python -m research.por_probe --channels 3 --pages 2 --rounds 2 --pick round-robin
    python -m research.por_probe --variant b4-eos-without-sync --flush per-section
    python -m research.por_probe --channels 2 --pages 1 --rounds 1 --faults recv-read-error

research/test_por_probe.py checks that the stubborn searches keep every deadlock and every
broken invariant of the full one, on three small configurations, and that states merged on
their live variables agree on their steps, their properties and their end.
"""

import argparse
import collections
import sys
import time

import networkx

from model.config import Config, ConfigError
from model.state import PER_CHANNEL_INDEX, State, put
from checks.engine.stepcache import WHOLE
from checks.system import System
from model.variants import SEED, Variant, VariantError, get_variant

from checks.properties import properties_for

__all__ = ["main"]

_FIELD = {name: i for i, name in enumerate(State._fields)}
WAITER = {"send_sem": "send", "send_sem_sync": "migration", "channels_ready": "migration",
          "recv_sem": "recv", "recv_sem_sync": "recv", "sem_sync": "load"}
FIFO_WRITERS = {"stream": ("migration", "monitor"), "sockets": ("migration", "send")}
GHOSTS = ("stale_landed", "bmap_after_save", "invalid_record_read", "uncaused_error",
          "job_read_after_handover", "receivedmap_after_free", "flushed_before_sent",
          "uninit_touched")
# Pairs of access kinds (this thread's, the other's) that commute.
COMMUTE = {("post", "post"), ("post", "wait"), ("wait", "post"), ("append", "read-fifo"),
           ("read-fifo", "append"), ("ghost", "ghost")}


# What `stubborn-ghosts` takes as visible: the ghost flags and the guest's pages.
GHOST_VISIBLE = frozenset({_FIELD[name] for name in GHOSTS} | {_FIELD["ram"], _FIELD["file_data"]})


def _written(steps) -> set:
    """The (field, entry) pairs some step of `steps` ((label, writes), ...) writes."""
    return {(i, k) for _, writes in steps for i, k, _ in writes}


def _kind(role: str, i: int, write: bool) -> str:
    name = State._fields[i]
    if name in WAITER:
        return "wait" if WAITER[name] == role else "post"
    if name in FIFO_WRITERS:
        return "append" if role in FIFO_WRITERS[name] else "read-fifo"
    if name in GHOSTS:
        return "ghost"
    return "write" if write else "read"


def _same(a, b) -> bool:
    return a[0] == b[0] and (a[1] == b[1] or WHOLE in (a[1], b[1]))


def _conflict(reads, writes, reads2, writes2) -> bool:
    """Whether two units' accesses fail to commute (a write against any access)."""
    return any(_same(a, b) and (a[2], b[2]) not in COMMUTE
               for a in writes for b in writes2 | reads2) or \
        any(_same(a, b) and (a[2], b[2]) not in COMMUTE for a in reads for b in writes2)


def _enables(writes, reads, s) -> bool:
    """Whether `writes` may change what `reads` (a blocked unit's guards) read; an
    append to a FIFO that is not empty leaves its head, and so its reader, as it was."""
    for a in writes:
        for b in reads:
            if not _same(a, b) or b[2] == "append":
                continue
            if a[2] == "append" and b[1] != WHOLE and s[b[0]][b[1]]:
                continue
            return True
    return False


class Probe:
    """One configuration and variant: its full search, the footprints that search
    recorded, and the reduced searches measured against it."""

    def __init__(self, config: Config, variant: Variant = SEED):
        self.system = System(config, variant)
        self.threads = self.system.threads
        self._names = {th.name: j for j, th in enumerate(self.threads)}
        self.states = self.search(lambda s, by: None)
        self.full = len(self.states)
        self.reads, self.writes = self._footprints()
        self._reach = {}

    def search(self, choose) -> dict:
        """Breadth-first search; `choose(s, steps by thread)` gives the threads whose
        steps to take, or None for all of them. The states found, in order.

        Against the ignoring problem (a step put off forever), Valmari's condition for
        safety: every terminal strongly connected set of the reduced graph holds a state
        where every enabled step was taken; where one does not, its first state found
        takes them all, and the search goes on."""
        seen, edges, full = {}, collections.defaultdict(set), set()
        queue = collections.deque()

        def expand(s, everything):
            by = self.by_thread(s)
            chosen = None if everything or len(by) <= 1 else choose(s, by)
            if chosen is None:
                full.add(s)
            for j in (by if chosen is None else chosen):
                for t in by[j].values():
                    edges[s].add(t)
                    if t not in seen:
                        seen[t] = len(seen)
                        queue.append(t)

        for s in self.system.initial_states():
            seen[s] = len(seen)
            queue.append(s)
        while queue:
            while queue:
                expand(queue.popleft(), False)
            for s in self._ignoring(seen, edges, full) if len(full) < len(seen) else ():
                expand(s, True)
        return seen

    def deadlocks(self, states) -> set:
        """The states of `states` where nothing can run and the migration has not ended."""
        return {s for s in states
                if not self.system.successors(s) and not self.system.is_proper_end(s)}

    @staticmethod
    def _ignoring(seen: dict, edges: dict, full: set) -> list:
        """The first state found of each terminal strongly connected set of the graph
        with no fully expanded state."""
        graph = networkx.DiGraph()
        graph.add_nodes_from(seen)
        graph.add_edges_from((s, t) for s, ts in edges.items() for t in ts)
        condensed = networkx.condensation(graph)
        return [min(members, key=seen.__getitem__)
                for c, members in condensed.nodes(data="members")
                if not condensed.out_degree(c) and not members & full]

    def by_thread(self, s) -> dict:
        """Thread index -> {action: next state}, for the threads with a step from `s`."""
        by = collections.defaultdict(dict)
        for label, t in self.system.successors(s):
            by[self._names[label[0]]][label[1]] = t
        return by

    def _footprints(self):
        """Per (thread, control state): the classified reads and writes the cache saw."""
        reads, writes = {}, {}
        for j, (th, slots) in enumerate(zip(self.threads, self.system.cache.slots)):
            for pc, slot in enumerate(slots):
                if slot:
                    done = set().union(*map(_written, slot[2].values()))
                    reads[j, pc] = self._classified(th, slot[0], False)
                    writes[j, pc] = self._classified(th, done, True)
        return reads, writes

    @staticmethod
    def _classified(thread, accesses, write) -> frozenset:
        return frozenset((i, k, _kind(thread.role, i, write)) for i, k in accesses
                         if i != thread.pc_index)

    def reachable(self, j: int, pc: int) -> list:
        """The control states thread j can reach from `pc` (where it has steps)."""
        key = (j, pc)
        if key not in self._reach:
            seen, todo = {pc}, [pc]
            while todo:
                for r in self.threads[j].table[todo.pop()]:
                    if r.dest not in seen:
                        seen.add(r.dest)
                        todo.append(r.dest)
            self._reach[key] = [q for q in seen if (j, q) in self.reads]
        return self._reach[key]

    def current(self, s, j: int):
        """Thread j's accesses from `s` itself: the reads its guards and effects made,
        and the writes of its enabled steps."""
        thread = self.threads[j]
        steps, log = self.system.cache.writes_of(thread, s)
        return (self._classified(thread, log, False),
                self._classified(thread, _written(steps), True))

    def stubborn(self, s, start: int, pcs: list, enabled, current) -> set:
        """The threads whose current units a stubborn set from `start` holds;
        `current(j)` gives thread j's accesses from `s` (`Probe.current`)."""
        units, todo, threads = {(start, pcs[start])}, [(start, pcs[start])], {start}
        while todo:
            j, pc = todo.pop()
            if pc != pcs[j]:
                found = [(j, pcs[j])]
            else:
                reads, writes = current(j)
                found = [(k, q) for k in range(len(self.threads)) if k != j
                         for q in self.reachable(k, pcs[k])
                         if (j in enabled and _conflict(reads, writes, self.reads[k, q],
                                                        self.writes[k, q]))
                         or _enables(self.writes[k, q], reads, s)]
            for unit in found:
                if unit not in units:
                    units.add(unit)
                    todo.append(unit)
                    if unit[1] == pcs[unit[0]]:
                        threads.add(unit[0])
        return threads

    def stubborn_choice(self, visible: set):
        """A `choose` for `search`: the smallest stubborn set over the enabled threads,
        or every step when one of its steps changes a field in `visible` (C2)."""
        def choose(s, by):
            pcs = self._pcs(s)
            best, memo = None, {}

            def current(j):         # each thread's accesses once, for every start
                if j not in memo:
                    memo[j] = self.current(s, j)
                return memo[j]
            for j in by:
                threads = self.stubborn(s, j, pcs, by, current)
                size = sum(len(by[k]) for k in threads if k in by)
                if best is None or size < best[0]:
                    best = (size, [k for k in threads if k in by])
            steps = [t for k in best[1] for t in by[k].values()]
            if any(s[i] != t[i] for t in steps for i in visible):
                return None
            return best[1]
        return choose

    def bound_choice(self, s, by):
        """A `choose` for `search` (unsound): the first thread whose steps commute with
        every other thread's steps from `s`, alone."""
        for j in by:
            if all(self._commute(by[j], by[k], j, k) for k in by if k != j):
                return [j]
        return None

    def _commute(self, mine: dict, theirs: dict, j: int, k: int) -> bool:
        """Whether every step of thread j commutes with every step of thread k from
        here: neither enables nor disables the other's, and both orders meet."""
        after_theirs = {label: self.by_thread(b).get(j, {}) for label, b in theirs.items()}
        if any(after.keys() != mine.keys() for after in after_theirs.values()):
            return False
        for a_label, a in mine.items():
            after_a = self.by_thread(a).get(k, {})
            if after_a.keys() != theirs.keys() or any(
                    after_a[b_label] != after[a_label] for b_label, after in after_theirs.items()):
                return False
        return True

    def dead_variable_states(self, static: bool = False) -> int:
        """The states left when each state's dead variables are reset to their initial
        values: what a dead-variable reduction could merge.

        A variable (a field, or one channel's entry of a per-channel field) is live at a
        state when, on some path from it, a thread's guard or effect, a property or the
        end test reads it before a step writes it: the least fixpoint, backwards over the
        full graph, which a search could not know ahead (an upper bound). States that
        agree on their live variables take the same steps and give the same verdicts,
        so merging them is sound. `static`: live is what a search could know, what some
        thread reads at a control state it can still reach, what a property or the end
        test reads at any state."""
        bits = _atom_bits(self.system.config.channels)
        states = list(self.states)
        live = self._static_live(states, bits) if static else self._dynamic_live(states, bits)
        return len({_reset(s, states[0], mask, bits) for s, mask in zip(states, live)})

    def _dynamic_live(self, states: list, bits: dict) -> list:
        observers = self._observers()
        reads, edges = zip(*(self._accesses(s, bits, observers) for s in states))
        return _live(list(reads), edges)

    def _accesses(self, s, bits: dict, observers: list) -> tuple:
        """The bits of what a thread or an observer reads at `s`, and each step's
        (target id, bits written)."""
        cache, read, edges = self.system.cache, set(), []
        for thread in self.threads:
            steps, log = cache.writes_of(thread, s)
            read |= log | {(thread.pc_index, thread.t if thread.per_channel else WHOLE)}
            edges += [(self.states[_applied(s, writes)],
                       _mask(bits, [(i, k) for i, k, _ in writes])) for _, writes in steps]
        for function in observers:
            read |= cache.evaluate(function, s)[1]
        return _mask(bits, read), edges

    def _static_live(self, states: list, bits: dict) -> list:
        always = _mask(bits, {(i, WHOLE) for i in self.fields_read(self._observers())})
        at = {(j, pc): _mask(bits, slot[0] | {(th.pc_index, th.t if th.per_channel else WHOLE)})
              for j, (th, slots) in enumerate(zip(self.threads, self.system.cache.slots))
              for pc, slot in enumerate(slots) if slot}
        memo = {}

        def live(s) -> int:
            pcs = tuple(self._pcs(s))
            if pcs not in memo:
                memo[pcs] = always | _union(at[j, q] for j, pc in enumerate(pcs)
                                            for q in self.reachable(j, pc))
            return memo[pcs]
        return [live(s) for s in states]

    def _pcs(self, s) -> list:
        return [s[th.pc_index][th.t] if th.per_channel else s[th.pc_index]
                for th in self.threads]

    def _predicates(self) -> list:
        return [p.predicate for p in properties_for(self.system.config) if p.predicate]

    def _observers(self) -> list:
        """What reads a state besides the threads: the properties and the end tests."""
        return self._predicates() + [self.system.is_proper_end, self.system.end_kind]

    def property_fields(self) -> set:
        """Every field a property predicate reads, on any state the full search found."""
        return self.fields_read(self._predicates())

    def fields_read(self, functions: list) -> set:
        """Every field one of `functions` reads, on any state the full search found."""
        fields = set()
        for s in self.states:
            for function in functions:
                fields |= {i for i, _ in self.system.cache.evaluate(function, s)[1]}
        return fields


def _atom_bits(channels: int) -> dict:
    """(field, entry) -> its bits: one bit per field, and per channel entry of a
    per-channel field, whose whole (WHOLE) is all of its entries' bits."""
    bits = {}
    for i in range(len(State._fields)):
        if i in PER_CHANNEL_INDEX:
            for k in range(channels):
                bits[i, k] = 1 << len(bits)
            bits[i, WHOLE] = sum(bits[i, k] for k in range(channels))
        else:
            bits[i, WHOLE] = 1 << len(bits)
    return bits


def _mask(bits: dict, accesses) -> int:
    """The bits of (field, entry) accesses; an entry of a plain tuple field is the field."""
    mask = 0
    for i, k in accesses:
        mask |= bits.get((i, k)) or bits[i, WHOLE]
    return mask


def _applied(s, writes):
    """`s` after a step's writes ((field, entry, value), ...)."""
    values = list(s)
    for i, k, v in writes:
        values[i] = v if k == WHOLE else put(values[i], k, v)
    return tuple.__new__(State, values)


def _union(masks) -> int:
    out = 0
    for mask in masks:
        out |= mask
    return out


def _live(reads: list, edges) -> list:
    """Per state: the bits live there, the least fixpoint of live(s) = reads(s) | the
    union over edges s -> t of live(t) & ~written, swept backwards until it holds."""
    live, changed = list(reads), True
    while changed:
        changed = False
        for j in range(len(live) - 1, -1, -1):
            mask = live[j]
            for t, written in edges[j]:
                mask |= live[t] & ~written
            if mask != live[j]:
                live[j], changed = mask, True
    return live


def _reset(s, initial, live: int, bits: dict) -> tuple:
    """`s` with every variable not in `live` set to its value in `initial`."""
    values = list(s)
    for (i, k), bit in bits.items():
        if not live & bit and (k != WHOLE or i not in PER_CHANNEL_INDEX):
            values[i] = initial[i] if k == WHOLE else put(values[i], k, initial[i][k])
    return tuple(values)


COLUMNS = ("stubborn", "stubborn-ghosts", "bound", "dead-variables", "dead-static")


def _choices(probe: Probe) -> dict:
    """Each column's choice of threads, made when asked for (`stubborn` reads every
    state once more to find the fields the properties read)."""
    return {"stubborn": lambda: probe.stubborn_choice(probe.property_fields()),
            "stubborn-ghosts": lambda: probe.stubborn_choice(GHOST_VISIBLE),
            "bound": lambda: probe.bound_choice}


def _count(probe: Probe, name: str) -> int:
    """The states column `name` leaves."""
    if name.startswith("dead-"):
        return probe.dead_variable_states(static=name == "dead-static")
    return len(probe.search(_choices(probe)[name]()))


def _columns(text: str) -> tuple:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in COLUMNS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown column {', '.join(unknown) or text!r} "
                                         f"(choose from {', '.join(COLUMNS)})")
    return names


def _faults(text: str) -> tuple:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _row(name: str, states: int, full: int, seconds: float) -> None:
    print(f"  {name:16} {states:>10,} states  {full / states:6.2f}x  {seconds:7.1f} s",
          flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m research.por_probe",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--pages", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--transport", default="socket", choices=("socket", "file"))
    parser.add_argument("--flush", default="per-round", choices=("per-round", "per-section"))
    parser.add_argument("--pick", default="round-robin", choices=("any", "round-robin"))
    parser.add_argument("--variant", default=SEED.name)
    parser.add_argument("--faults", type=_faults, default=None, metavar="LAYER,...",
                        help="fault layers (default: the variant's; '' for none)")
    parser.add_argument("--columns", type=_columns, default=COLUMNS,
                        help=f"the columns to measure (default: {','.join(COLUMNS)})")
    args = parser.parse_args(argv)
    try:
        variant = get_variant(args.variant)
        config = Config(transport=args.transport, channels=args.channels, pages=args.pages,
                        rounds=args.rounds, flush=args.flush, pick=args.pick,
                        faults=variant.faults if args.faults is None else args.faults)
        variant.check_config(config)
    except (ConfigError, VariantError) as error:
        print(f"por_probe: error: {error}", file=sys.stderr)
        return 2
    print(config.label(), flush=True)
    began = time.monotonic()
    probe = Probe(config, variant)
    _row("full", probe.full, probe.full, time.monotonic() - began)
    for name in args.columns:
        began = time.monotonic()
        _row(name, _count(probe, name), probe.full, time.monotonic() - began)
    return 0


if __name__ == "__main__":
    sys.exit(main())
