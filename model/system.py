"""The product of all threads: what the explorer walks, for one configuration and variant.

Threads, in the fixed order successors come out in: the source migration thread `mig`,
the send threads `send[0..N-1]`, the destination load thread `load`, the recv threads
`recv[0..N-1]`. A step is one row of one thread's compiled table whose guards hold; its
label is (thread, action, QEMU function).

With transactions on (the default), a step is a transaction: a row fired from any state,
followed by the rows the same thread can fire from each state that is not one of its
waits, until it reaches a wait or can go no further (machine.py says why that is sound).
Its label then joins the actions and QEMU functions with " > ".
"""

from functools import partial
from typing import NamedTuple

from .config import Config
from .machine import any_order, compile_role
from .movers import B, L, R, accesses, other_outcome
from .state import NO_JOB, NO_PACKET, State, state_type
from .stepcache import EntryWrite, Recorder, StepCache
from .tracking import TrackingRecorder
from .transports import RECORD_NAMES, packet_name
from .variants import SEED, Variant, apply_variant
from . import load, migration

__all__ = ["System", "initial_state", "final_memory"]


class Thread(NamedTuple):
    name: str           # "mig", "send[0]", ...
    role: str           # "migration", "send", "load", "recv"
    t: int              # channel index (0 for the single threads)
    table: tuple        # compiled rows per control state
    pc_index: int       # position of the role's pc field in State
    per_channel: bool
    waits: tuple        # per control state: may the thread block there


def initial_state(config: Config, roles: dict, variant: Variant = None) -> State:
    """Every thread at its first state, every semaphore at 0, nothing written; the
    variant's own fields (if any) at their initial values."""
    s = _qemu_initial(config, roles)
    if variant is None or not (variant.fields or variant.channel_fields):
        return s
    cls = state_type(variant.fields, variant.channel_fields)
    return cls(*s, *variant.fields.values(),
               *((value,) * config.channels for value in variant.channel_fields.values()))


def _qemu_initial(config: Config, roles: dict) -> State:
    n, zeros, pages = config.channels, (0,) * config.channels, (0,) * config.pages
    start = {name: role.start_state(config) for name, role in roles.items()}
    return State(
        mig_pc=start["migration"], mig_round=0, mig_page=0, mig_i=0, mig_caller=0,
        mig_seen=zeros, next_channel=0,
        send_pc=(start["send"],) * n, send_sem=zeros, send_sem_sync=zeros, pending_job=zeros,
        pending_sync=zeros, send_job=(NO_JOB,) * n, channels_ready=0, send_exiting=0,
        send_joined=zeros, send_freed=0, send_destroyed=zeros, send_error=0,
        channels_created=0, channel_inited=(0 if config.fault("channel-create-error") else 1,) * n,
        setup_failed=0,
        stream=(), stream_shut=0, monitor_pc=0, sockets=((),) * n, sock_shut=zeros,
        send_shut=zeros,
        bmap=pages, bmap_saved=0, file_data=pages,
        load_pc=start["load"], load_i=0, load_seen=zeros, load_error=0, next_recv_channel=0,
        recv_pc=(start["recv"],) * n, recv_packet=(NO_PACKET,) * n, recv_sem_sync=zeros,
        recv_sem=zeros, recv_pending_job=zeros, sem_sync=0,
        recv_exiting=0, recv_joined=zeros, recv_freed=0,
        ram=pages, vm_running=0, crashed=0,
        faults_left=config.max_faults if config.faults else 0,
        stale_landed=0, bmap_after_save=0, invalid_record_read=0, uncaused_error=0,
        job_read_after_handover=0, receivedmap_freed=0, receivedmap_after_free=0,
        flushed_before_sent=0, uninit_touched=0, net_stalled=0,
        destroyed_touched=0)


def final_memory(config: Config) -> tuple:
    """The source's last version of every page: each page is dirtied in every round, and
    a page that is zero in the last round reads as zero (0: no data landed)."""
    last = config.rounds
    return tuple(0 if config.is_zero(p, last) else last for p in range(config.pages))


def symmetry_refusal(config: Config, variant: Variant):
    """Why channel symmetry cannot apply here even when forced (`--symmetry`), or None:
    the round-robin scan, or a variant that singles out a channel, tells them apart."""
    if config.round_robin:
        return "with --pick round-robin: the scan from next_channel tells the channels apart"
    if not variant.symmetric:
        return f"to variant {variant.name}: it singles out a channel"
    return None


class System:
    """One configuration and one variant, compiled: the model the explorer checks."""

    # A transaction longer than this is a loop with no wait in it: a modelling error.
    MAX_TRANSACTION = 10_000

    def __init__(self, config: Config, variant: Variant = SEED, transactions: bool = True,
                 symmetry: bool = None, cache: bool = True, knowledge=None):
        self.config = config
        self.variant = variant
        self.transactions = transactions
        # Derived transactions (movers.py) when given what is known of the steps; else
        # the roles' declared waits.
        self.knowledge = knowledge if transactions else None
        self.roles = _with_loop_order(apply_variant(variant), config)
        self.state = state_type(variant.fields, variant.channel_fields)
        self.threads = tuple(self._threads())
        self._channels = tuple(range(config.channels))
        self._labels = {}
        if self.knowledge is not None:
            symmetry, cache = False, True
            self._learn_starts()
        self.symmetric = self.symmetry_sound() if symmetry is None else \
            symmetry and symmetry_refusal(config, variant) is None
        # exact: symmetry is an automorphism here (symmetry_sound), and packed states
        # may use it too (packed.py)
        self.exact_symmetry = self.symmetric and self.symmetry_sound()
        if self.symmetric and config.channels > 1:
            self.canonical = self._canonical_any if self.exact_symmetry else self._canonical
        self._loops = {"mig": _indexes(self.roles["migration"], migration.CHANNEL_LOOPS),
                       "load": _indexes(self.roles["load"], load.CHANNEL_LOOPS)}
        self._atomic = {"mig": _indexes(self.roles["migration"], migration.ATOMIC_LOOPS),
                        "load": _indexes(self.roles["load"], load.ATOMIC_LOOPS)}
        self._committed = _indexes(self.roles["migration"], migration.COMMITTED)
        self.cache = None
        if cache:     # and per thread: where its pc is, its channel (-1: single), its slots
            derived = self.knowledge is not None
            self.cache = StepCache(self.state, self.state.per_channel_index,
                                   self._derived_steps if derived else self._steps,
                                   self.threads, recorder=TrackingRecorder if derived else None)
            self._plan = tuple((th, th.pc_index, th.t if th.per_channel else -1, slots)
                               for th, slots in zip(self.threads, self.cache.slots))

    def _learn_starts(self) -> None:
        initial = initial_state(self.config, self.roles, self.variant)
        for thread in self.threads:
            self.knowledge.start(thread.name, self._pc(initial, thread), initial)

    def symmetry_sound(self) -> bool:
        """Whether permuting channel identities is an automorphism of this model.

        With QEMU's loop order (--loops index) it is not: multifd_send_sync_main() and
        the join loops visit the channels in index order, and which channel a wait comes
        first on is what P2 turns on. Symmetry is then only forced on (`--symmetry`),
        and `canonical` never moves a channel across a running loop's position; verdicts
        agreed on every matrix entry (tests/test_reduction.py), but a counterexample may
        relabel channels at a step where the permutation is not an automorphism.

        With --loops any it is, given transactions, the pick of any idle channel and a
        variant that singles out no channel (`symmetric`): every loop either picks among
        the channels it has not visited, counts posts of a shared semaphore, or runs
        whole inside one transaction, where its order does not show. `_canonical_any`
        checks the last on every state it sees. The channel-create-error layer is the
        exception: a channel left uninitialized can crash the shutdown loop half way
        (B13), after the channels before it in index order were kicked."""
        return self.config.any_order and self.symmetry_sound_with_any_order()

    def symmetry_sound_with_any_order(self) -> bool:
        """Whether `symmetry_sound` holds with --loops any, whatever this run's loops."""
        return (self.transactions and symmetry_refusal(self.config, self.variant) is None
                and not self.config.fault("channel-create-error"))

    def _canonical(self, s: State) -> State:
        """The representative of `s` under channel permutations: channels sorted by
        their per-channel values, within the blocks that the migration and load
        threads' channel loops (if running) cut at their positions. Sorting within a
        block keeps which channels a running loop has visited; the order the loops
        will visit the others in is taken to be immaterial (tests compare verdicts
        with and without this reduction on many configurations)."""
        rows = _rows(s)
        order = []
        for lo, hi in self._blocks(s, self.config.channels):
            order += sorted(range(lo, hi), key=rows.__getitem__)
        return _reordered(s, order)

    def _canonical_any(self, s: State) -> State:
        """The representative of `s` under channel permutations, with --loops any:
        channels sorted by their per-channel values, the channel phase B committed to
        (mig_i) last, and mig_i following it."""
        self.check_atomic(s.mig_pc, s.mig_i, s.load_pc, s.load_i)
        rows = _rows(s)
        current = s.mig_i if self.committed(s.mig_pc) else -1
        order = sorted(range(len(rows)), key=lambda k: (k == current, rows[k]))
        r = _reordered(s, order)
        return r.replace(mig_i=order.index(current)) if current >= 0 and r is not s else r

    def committed(self, mig_pc: int) -> bool:
        """Whether phase B has committed to channel mig_i at this pc (--loops any)."""
        return mig_pc in self._committed

    def check_atomic(self, mig_pc, mig_i, load_pc, load_i):
        """A loop that runs whole inside one transaction is never seen half done."""
        n = self.config.channels
        if mig_pc in self._atomic["mig"] and 0 < mig_i < n or \
                load_pc in self._atomic["load"] and 0 < load_i < n:
            raise RuntimeError("symmetry: a loop over channels in index order stopped half "
                               "way, so the channels are not interchangeable here")

    def _blocks(self, s, n):
        cuts = {0, n}
        if s.mig_pc in self._loops["mig"] and 0 < s.mig_i < n:
            cuts.add(s.mig_i)
        if s.load_pc in self._loops["load"] and 0 < s.load_i < n:
            cuts.add(s.load_i)
        edges = sorted(cuts)
        return list(zip(edges, edges[1:]))

    def _threads(self):
        fields = State._fields     # a role's pc is one of QEMU's fields
        monitors = 1 if self.config.fault("cancel") else 0
        for role_name, count in (("migration", 1), ("send", self.config.channels),
                                 ("load", 1), ("recv", self.config.channels),
                                 ("monitor", monitors)):
            role = self.roles[role_name]
            table = compile_role(role, self.config)
            waits = tuple(name in role.waits for name in role.states)
            for t in range(count):
                yield Thread(role.thread.format(t=t), role_name, t, table,
                             fields.index(role.pc_field), role.per_channel, waits)

    def state_type(self, values: tuple) -> State:
        """A State again from its plain values (the explorer's disk queue stores those)."""
        return tuple.__new__(self.state, values)

    def initial_states(self) -> list:
        return [initial_state(self.config, self.roles, self.variant)]

    def is_proper_end(self, s: State) -> bool:
        """Both sides finished (the source freed its channels, the destination its own),
        or the destination process died: nothing is left waiting."""
        return s.crashed or (s.mig_pc == migration.DONE and s.load_pc == load.DONE)

    def end_kind(self, s: State) -> str:
        """How a proper end ended: completed, failed with an error, or crashed."""
        if s.crashed:
            return "crashed"
        return "failed" if s.load_error or s.send_error else "completed"

    def successors(self, s: State) -> list:
        """Every enabled step as (label, next state), in thread order, then row order;
        through the step cache (stepcache.py) unless it is off."""
        out = []
        if s.crashed:
            return out
        if self.cache is None:
            for thread in self.threads:
                out += self._steps(thread, s)
            return out
        miss, new, append, cls = self.cache.miss, tuple.__new__, out.append, self.state
        for thread, pc_index, t, slots in self._plan:       # the hot loop of every search
            pc = s[pc_index] if t < 0 else s[pc_index][t]
            slot = slots[pc]
            steps = slot[2].get(slot[1](s)) if slot else None
            if steps is None:
                steps = miss(thread, slots, pc, s)
            for label, writes in steps:
                values = list(s)
                for i, k, v in writes:
                    if k < 0:
                        values[i] = v
                    else:
                        column = values[i]
                        values[i] = column[:k] + (v,) + column[k + 1:]
                append((label, new(cls, values)))
        return out

    def _steps(self, thread, s) -> list:
        """The thread's steps from `s` (a State, or a Recorder for the cache)."""
        out = []
        for r, c in self._enabled(s, thread):
            self._run_on(thread, ((r, c),), s, self._fire(s, thread, r, c), out)
        return out

    def _pc(self, s, thread):
        return s[thread.pc_index][thread.t] if thread.per_channel else s[thread.pc_index]

    # -- derived transactions (movers.py) -----------------------------------------------

    def _derived_steps(self, thread, s) -> list:
        """The thread's transactions from `s` (a TrackingRecorder), cut where what the
        steps did says they must be: right movers, at most one step of any kind, then
        left movers at control states whose guards no other thread can change."""
        out, todo, start = [], [], self._plain_pc(s, thread)
        enabled, _ = self._traced_enabled(s, thread)
        for r, c, tests in reversed(enabled):
            after, judged = self._traced_fire(s, thread, r, c, tests)
            todo.append((((r, c),), s, after, (judged,)))
        while todo:
            chain, before, now, judged = todo.pop()
            right = all(kind in (R, B) for _, _, kind in judged)
            more = self._going_on(thread, chain, before, now, right)
            if more is None:
                self.knowledge.transaction(
                    thread.name, (start, partial(_peek, s)),
                    (self._plain_pc(now, thread), partial(_peek, now)), list(judged))
                out.append((self._label(thread, chain), now))
                continue
            for step, after, step_judged in reversed(more):
                todo.append((chain + (step,), now, after, judged + (step_judged,)))
        return out

    def _going_on(self, thread, chain, before, now, right):
        """The steps a transaction runs on with from `now` ((row, channel), state,
        judgement), or None where it ends. `right`: every step so far was a right mover."""
        if not now.differs_from(before):
            return None                           # a spin stays a step of its own
        if len(chain) > self.MAX_TRANSACTION:
            raise RuntimeError(f"{thread.name}: a transaction never reaches a wait: "
                               f"{self._label(thread, chain[-5:])[1]}")
        enabled, tests = self._traced_enabled(now, thread)
        if not enabled:
            return None
        if not right and not self.knowledge.stable(thread.name, self._plain_pc(now, thread),
                                                   frozenset(tests)):
            return None
        steps = [((r, c),) + self._traced_fire(now, thread, r, c, t) for r, c, t in enabled]
        if not right and any(judged[2] not in (L, B) for _, _, judged in steps):
            return None
        return steps

    @staticmethod
    def _plain_pc(s, thread):
        """The thread's control state in recorder `s`, read for the cache key only."""
        pcs = Recorder.__getitem__(s, thread.pc_index)
        return pcs[thread.t] if thread.per_channel else pcs

    def _traced_enabled(self, s, thread) -> tuple:
        """[(row, channel, the tests its guards made)] for the enabled rows, and every
        test any row's guards made (enabled or not). A row its guards turn down is a
        step the thread might take where they come out otherwise: the tests that turned
        it down, taken the other way, are what that step would find (movers.py)."""
        trace, t = s.trace, thread.t
        enabled, tests, untaken = [], [], []
        for r in thread.table[self._plain_pc(s, thread)]:
            for c in (self._channels if r.pick else _NO_PICK):
                trace.begin()
                refused = None
                for guard, want in r.guards:
                    mark = len(trace.observations)
                    if guard(s, t, c) != want:
                        refused = mark
                        break
                made = list(trace.observations)
                tests += made
                if refused is None:
                    enabled.append((r, c, made))
                else:
                    untaken += made[:refused] + [(loc, test, arg, other_outcome(outcome))
                                                 for loc, test, arg, outcome in made[refused:]]
        if untaken:
            self.knowledge.untaken(thread.name, untaken)
        return enabled, tests

    def _traced_fire(self, s, thread, r, c, tests) -> tuple:
        """(the state after row r, (its accesses, the key it is judged under, its type
        as movers.py judges it))."""
        trace = s.trace
        trace.begin()
        src = self._plain_pc(s, thread)
        after = self._fire(s, thread, r, c)
        if not trace.writes:
            return after, ({}, None, None)        # a spin: ends its transaction
        accs = accesses(tests, trace.writes, branching=trace.observations)
        kind, key = self.knowledge.step(thread.name, src, r.dest, r.trigger, accs)
        return after, (accs, key, kind)

    def _enabled(self, s, thread):
        pcs = s[thread.pc_index]
        rows = thread.table[pcs[thread.t] if thread.per_channel else pcs]
        if not rows:
            return rows
        t, channels, out = thread.t, self._channels, []
        for r in rows:                       # plain loops: the hot path of every search
            for c in (channels if r.pick else _NO_PICK):
                for guard, want in r.guards:
                    if guard(s, t, c) != want:
                        break
                else:
                    out.append((r, c))
        return out

    def _run_on(self, thread, chain, before, s, out):
        """Emit `s`, or, inside a transaction, every way the thread can go on from it.

        A transaction ends at a wait, where the thread is blocked, or where the last row
        changed nothing (a spin, which must stay a visible step)."""
        more = [] if not self.transactions or _same(s, before) or \
            thread.waits[self._pc(s, thread)] else self._enabled(s, thread)
        if not more:
            out.append((self._label(thread, chain), s))
            return
        if len(chain) > self.MAX_TRANSACTION:
            raise RuntimeError(f"{thread.name}: a transaction never reaches a wait: "
                               f"{self._label(thread, chain[-5:])[1]}")
        for r, c in more:
            self._run_on(thread, chain + ((r, c),), s, self._fire(s, thread, r, c), out)

    def _fire(self, s, thread, r, c):
        for effect in r.effects:
            s = effect(s, thread.t, c)
        if isinstance(s, Recorder):
            dest = EntryWrite(thread.pc_index, thread.t, r.dest) if thread.per_channel else r.dest
            return s.assign(((thread.pc_index, dest),))
        values = list(s)
        if thread.per_channel:
            pcs = values[thread.pc_index]
            values[thread.pc_index] = pcs[:thread.t] + (r.dest,) + pcs[thread.t + 1:]
        else:
            values[thread.pc_index] = r.dest
        return tuple.__new__(self.state, values)

    def unfold(self, s: State, label: tuple) -> list:
        """The rows of one step (a transaction may chain several), as (trigger, the
        state before that row): what trace matching projects onto QEMU's events."""
        thread = next(t for t in self.threads if t.name == label[0])
        rows = []
        for action in label[1].split(" > "):
            r, c = next((r, c) for r, c in self._enabled(s, thread)
                        if (r.trigger if c is None else f"{r.trigger}(channel {c})") == action)
            rows.append((r.trigger, s))
            s = self._fire(s, thread, r, c)
        return rows

    def _label(self, thread, chain):
        key = (thread.name, chain)
        label = self._labels.get(key)
        if label is None:
            actions = [r.trigger if c is None else f"{r.trigger}(channel {c})" for r, c in chain]
            functions = []
            for r, _ in chain:
                if not functions or functions[-1] != r.qemu:
                    functions.append(r.qemu)
            label = self._labels[key] = (thread.name, " > ".join(actions), " > ".join(functions))
        return label

    def changes(self, before: State, after: State) -> list:
        """The variables a step changed, as `name: old -> new` lines."""
        lines = []
        for name, old, new in zip(self.state._fields, before, after):
            if old != new:
                lines.extend(_describe(self, name, old, new))
        return lines

    def state_name(self, role: str, pc: int) -> str:
        return self.roles[role].states[pc]


_NO_PICK = (None,)


def _peek(recorder, loc):
    """The plain value at `loc` (field, channel or -1) in `recorder`, read for no key."""
    i, k = loc
    if i in recorder.whole:
        value = recorder.whole[i]
    else:
        value, written = recorder.base[i], recorder.entries.get(i)
        if written:                    # entries written one by one, the rest as it was
            value = tuple(written.get(c, v) for c, v in enumerate(value))
    return value if k < 0 else value[k]


def _same(a, b) -> bool:
    return not a.differs_from(b) if isinstance(a, Recorder) else a == b


def _indexes(role, names):
    return frozenset(role.states.index(n) for n in names if n in role.states)


def _rows(s: State) -> list:
    """Each channel's per-channel values, as one tuple per channel."""
    return list(zip(*(s[i] for i in s.per_channel_index)))


def _reordered(s: State, order: list) -> State:
    """`s` with channel order[j] moved to j in every per-channel field (`s` itself
    when the order is the identity)."""
    if order == list(range(len(order))):
        return s
    values = list(s)
    for i in s.per_channel_index:
        column = s[i]
        values[i] = tuple(column[k] for k in order)
    return tuple.__new__(type(s), values)


def _with_loop_order(roles: dict, config: Config) -> dict:
    """The roles with their loops over channels in the order `config.loops` asks."""
    if not config.any_order:
        return roles
    return dict(roles, migration=any_order(roles["migration"], migration.ANY_ORDER),
                load=any_order(roles["load"], load.ANY_ORDER))


_PC_ROLES = {"mig_pc": "migration", "send_pc": "send", "load_pc": "load", "recv_pc": "recv"}
_FIFOS = {"stream": lambda r: RECORD_NAMES.get(r, hex(r)), "sockets": packet_name}
_PACKETS = {"send_job": NO_JOB, "recv_packet": NO_PACKET}
_PER_PAGE = ("ram", "bmap", "file_data")


def _value(system, name, value):
    if name in _PC_ROLES:
        return system.state_name(_PC_ROLES[name], value)
    if name in _PACKETS:
        return "-" if value == _PACKETS[name] else packet_name(value)
    if name == "mig_caller":
        return migration.CALLERS[value]
    if name in ("ram", "file_data"):
        return f"r{value}"
    return str(value)


def _describe_fifo(name, old, new, show):
    if new[:len(old)] == old and len(new) > len(old):
        return [f"{name} += {', '.join(show(x) for x in new[len(old):])}"]
    if old[len(old) - len(new):] == new and len(old) > len(new):
        return [f"{name} -= {', '.join(show(x) for x in old[:len(old) - len(new)])} (read)"]
    return [f"{name}: [{', '.join(map(show, old))}] -> [{', '.join(map(show, new))}]"]


def _describe(system, name, old, new):
    """`name: old -> new` lines; per index for per-channel and per-page tuples, and as
    `+= written` / `-= read` for the FIFOs (the main stream and each socket)."""
    if name == "stream":
        return _describe_fifo(name, old, new, _FIFOS[name])
    if not isinstance(old, tuple):
        return [f"{name}: {_value(system, name, old)} -> {_value(system, name, new)}"]
    lines = []
    for i, (o, n) in enumerate(zip(old, new)):
        if o == n:
            continue
        label = f"{name}[p{i}]" if name in _PER_PAGE else f"{name}[{i}]"
        if name == "sockets":
            lines.extend(_describe_fifo(label, o, n, packet_name))
        else:
            lines.append(f"{label}: {_value(system, name, o)} -> {_value(system, name, n)}")
    return lines
