"""The product of a protocol's threads: what the explorer walks.

A protocol (model/protocol.py is the one this project checks) offers:

- `threads`, each with its compiled table of rows (guards, effects, destination), its
  pc's field and whether it runs one per channel; `state`, the state type (a tuple
  subclass with `per_channel_index`); `channels`;
- `initial_states()`, `is_proper_end(s)` and `halted(s)` (no thread steps on);
- for channel symmetry: `loops`, the fields of its loops over channels;
  `loops_any_order`, whether those loops run in any order; `symmetry_refusal()`, why
  symmetry cannot apply even when forced (or None); `interchangeable_with_any_order()`;
- for packed states: `counts_to_2n`, fields that count up to twice the channels.

Nothing here knows what the threads do.

A step is one row of one thread whose guards hold; its label is (thread, action,
function). With transactions on (the default), a step is a transaction: a row fired
from any state, followed by the rows the same thread can fire from each state that is
not one of its declared transaction starts, until it reaches one or can go no further
(model/machine.py says why that is sound). Its label then joins the actions and
functions with " > ". With derived transactions (movers.py), where a transaction ends
is found from what each step read and wrote instead.
"""

from functools import partial

from .bounds import BoundHit
from .movers import B, L, R, accesses, other_outcome
from .stepcache import EntryWrite, Recorder, StepCache
from .tracking import TrackingRecorder

__all__ = ["Product", "SymmetryLost"]


class SymmetryLost(RuntimeError):
    """A state of the search with a loop over channels in index order stopped half way:
    the channels are not interchangeable there, and the run starts over without
    symmetry (checks/verify.py)."""


class Product:
    """A protocol, compiled into steps: what the explorer checks."""

    # A transaction longer than this is a loop with no wait in it, its state never repeating.
    MAX_TRANSACTION = 1_000

    def __init__(self, protocol, transactions: bool = True, symmetry: bool = None,
                 cache: bool = True, knowledge=None, merge_waits: bool = True,
                 quiet: bool = True):
        self.protocol = protocol
        self.transactions = transactions
        # Declared transactions take a run of merged waits as one step (model/machine.py).
        self.merge_waits = bool(transactions) and merge_waits and knowledge is None
        # Derived transactions (movers.py) when given what is known of the steps; else
        # the declared transaction starts.
        self.knowledge = knowledge if transactions else None
        self.state = protocol.state
        # Quiet states join the runs (model/machine.py), each role's argument for them
        # checked on every state the search keeps (`quiet_holds`; checks/verify.py).
        self.quiet = self.merge_waits and quiet and any(any(t.quiet) for t in protocol.threads)
        self.threads = tuple(map(_quiet_joined, protocol.threads)) if self.quiet \
            else protocol.threads
        self.loops = protocol.loops
        self._halted = protocol.halted
        self._channels = tuple(range(protocol.channels))
        self._labels = {}
        if self.knowledge is not None:
            symmetry, cache = False, True
            self._learn_starts()
        self.symmetric = self.symmetry_sound() if symmetry is None else \
            symmetry and protocol.symmetry_refusal() is None
        # exact: symmetry is an automorphism here (symmetry_sound), and packed states
        # may use it too (packed.py)
        self.exact_symmetry = self.symmetric and self.symmetry_sound()
        if self.symmetric and protocol.channels > 1:
            self.canonical = self._canonical_any if self.exact_symmetry else self._canonical
        self.cache = None
        if cache:     # and per thread: where its pc is, its channel (-1: single), its slots
            derived = self.knowledge is not None
            self.cache = StepCache(self.state, self.state.per_channel_index,
                                   self._derived_steps if derived else self._steps,
                                   self.threads, recorder=TrackingRecorder if derived else None)
            self._plan = tuple((th, th.pc_index, th.t if th.per_channel else -1, slots)
                               for th, slots in zip(self.threads, self.cache.slots))

    def _learn_starts(self) -> None:
        initial = self.protocol.initial_states()[0]
        for thread in self.threads:
            self.knowledge.start(thread.name, self.pc(initial, thread), initial)

    # -- channel symmetry -------------------------------------------------------------

    def symmetry_sound(self) -> bool:
        """Whether permuting channel identities is an automorphism of this model.

        It is, given transactions and channels the protocol calls interchangeable (no
        round-robin scan, no variant singling out a channel, no channel left
        uninitialized), where every loop over channels either runs whole inside one
        transaction, where its order does not show, or:

        - with --loops any, picks among the channels it has not visited, or counts
          posts of a shared semaphore;
        - with QEMU's index order, is a run of merged waits (`loops_run_whole`), taken
          as one step when every channel's wait can go: which channel a wait comes first
          on cannot decide a hang then, as it can where each wait is a step.

        `pinned` checks, on every state the search keeps, that no loop stopped where
        this argument says it cannot (SymmetryLost otherwise)."""
        if not self.symmetry_sound_with_any_order():
            return False
        return self.protocol.loops_any_order or self.loops_run_whole()

    def symmetry_sound_with_any_order(self) -> bool:
        """Whether `symmetry_sound` holds with --loops any, whatever this run's loops."""
        return self.transactions and self.protocol.interchangeable_with_any_order()

    def quiet_holds(self) -> list:
        """The state predicates the quiet states rest on (Role.quiet_holds), where they
        joined their runs."""
        if not self.quiet:
            return []
        roles = {t.role for t in self.protocol.threads if any(t.quiet)}
        return [partial(self.protocol.roles[name].quiet_holds, self.protocol.config)
                for name in sorted(roles) if self.protocol.roles[name].quiet_holds]

    def loops_run_whole(self) -> bool:
        """Whether each loop over channels in index order runs as one step: every state
        of it that its thread can reach is a merged wait (with the quiet ones:
        model/machine.py) or inside a loop that runs in one transaction."""
        if not self.merge_waits:
            return False
        initial = self.protocol.initial_states()[0]
        for thread in self.threads:
            loop = next((lp for lp in self.loops if lp.pc_index == thread.pc_index), None)
            if loop is not None and not thread.per_channel and any(
                    pc in loop.states and not (pc in loop.atomic or thread.waits[pc])
                    for pc in _reachable(thread, initial)):
                return False
        return True

    def _canonical(self, s):
        """The representative of `s` under channel permutations: channels sorted by
        their per-channel values, within the blocks that the running loops over channels
        cut at their positions. Sorting within a block keeps which channels a running
        loop has visited; the order the loops will visit the others in is taken to be
        immaterial (tests compare verdicts with and without this reduction on many
        configurations)."""
        rows = _rows(s)
        order = []
        for lo, hi in self._blocks(s, len(self._channels)):
            order += sorted(range(lo, hi), key=rows.__getitem__)
        return _reordered(s, order)

    def _canonical_any(self, s):
        """The representative of `s` under channel permutations, where they are
        automorphisms (`symmetry_sound`): channels sorted by their per-channel values,
        the channel a wait committed to (--loops any) last, and the loop's position
        following it."""
        current, index = self.pinned(s.__getitem__)
        rows = _rows(s)
        order = sorted(range(len(rows)), key=lambda k: (k == current, rows[k]))
        r = _reordered(s, order)
        if current < 0 or r is s:
            return r
        values = list(r)
        values[index] = order.index(current)
        return tuple.__new__(type(r), values)

    def pinned(self, get) -> tuple:
        """(the channel a running loop's wait committed to, or -1; the field holding
        it), with `get(i)` reading field i. A loop that runs whole inside one transaction
        is never seen half done, and with QEMU's index order (`loops_run_whole`) no loop
        is seen half done nor committed to a channel: SymmetryLost."""
        n, pinned = len(self._channels), (-1, -1)
        index_order = not self.protocol.loops_any_order
        for loop in self.loops:
            pc, i = get(loop.pc_index), get(loop.index)
            if pc in loop.states and 0 < i < n and (index_order or pc in loop.atomic) or \
                    index_order and pc in loop.committed:
                raise SymmetryLost("a loop over channels in index order stopped half way, "
                                   "so the channels are not interchangeable here")
            if pc in loop.committed:
                pinned = (i, loop.index)
        return pinned

    def _blocks(self, s, n):
        cuts = {0, n}
        for loop in self.loops:
            if s[loop.pc_index] in loop.states and 0 < s[loop.index] < n:
                cuts.add(s[loop.index])
        edges = sorted(cuts)
        return list(zip(edges, edges[1:]))

    # -- the model the explorer walks -------------------------------------------------

    def state_type(self, values: tuple):
        """A state again from its plain values (the explorer's disk queue stores those)."""
        return tuple.__new__(self.state, values)

    def initial_states(self) -> list:
        return self.protocol.initial_states()

    def is_proper_end(self, s) -> bool:
        return self.protocol.is_proper_end(s)

    def successors(self, s) -> list:
        """Every enabled step as (label, next state), in thread order, then row order;
        through the step cache (stepcache.py) unless it is off."""
        out = []
        if self._halted(s):
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
        """The thread's steps from `s` (a state, or a Recorder for the cache)."""
        out = []
        for r, c in self._enabled(s, thread):
            self._run_on(thread, ((r, c),), s, self._fire(s, thread, r, c), out)
        return out

    def pc(self, s, thread) -> int:
        """The thread's control state in `s`."""
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
            todo.append((((r, c),), (s,), after, (judged,)))
        while todo:
            chain, earlier, now, judged = todo.pop()
            right = all(kind in (R, B) for _, _, kind in judged)
            more = self._going_on(thread, chain, earlier, now, right)
            if more is None:
                self.knowledge.transaction(
                    thread.name, (start, partial(_peek, s)),
                    (self._plain_pc(now, thread), partial(_peek, now)), list(judged))
                out.append((self._label(thread, chain), now))
                continue
            for step, after, step_judged in reversed(more):
                todo.append((chain + (step,), earlier + (now,), after,
                             judged + (step_judged,)))
        return out

    def _going_on(self, thread, chain, earlier, now, right):
        """The steps a transaction runs on with from `now` ((row, channel), state,
        judgement), or None where it ends. `earlier`: the states the transaction went
        through before `now`; `right`: every step so far was a right mover."""
        if self._halted(now) or any(not now.differs_from(e) for e in earlier):
            return None          # a spin, or a cycle with no wait: a step of its own
        self._bounded(thread, chain)
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

    # -- declared transactions, and the rows themselves ---------------------------------

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
        """Emit `s`, or, inside a transaction, every way the thread can go on from it
        (depth first, as a recursion would, without Python's recursion limit).

        A transaction ends at a declared start, where the thread is blocked, where the
        last row changed nothing (a spin, which must stay a visible step), or where the
        protocol halts (nothing runs on after a crash, inside a transaction either).
        A start that is a merged wait, come to from a state of a run, is no end. One
        that blocks in a run of merged waits ends where the run began."""
        todo = [(chain, (before, s))]
        while todo:
            chain, path = todo.pop()
            before, s = path[-2], path[-1]
            pc = self.pc(s, thread)
            ends = not self.transactions or _same(s, before) or self._halted(s) or \
                (thread.starts[pc] and not (self.merge_waits and thread.waits[pc] and
                                            thread.waits[self.pc(before, thread)]))
            more = [] if ends else self._enabled(s, thread)
            if not more:
                k = len(chain) if ends else self._unblocked(thread, path)
                if k:
                    out.append((self._label(thread, chain[:k]), path[k]))
                continue
            self._bounded(thread, chain)
            todo += [(chain + ((r, c),), path + (self._fire(s, thread, r, c),))
                     for r, c in reversed(more)]

    def settle_steps(self, s) -> list:
        """[(label, state)]: the single waits, from one state of a run of merged waits to
        another, that the threads can take from `s`: the steps a run postpones when the
        whole run cannot go. A hang's report takes them (`settled`), to show where each
        thread's run blocks; they are not steps of the search."""
        if not self.merge_waits or self._halted(s):
            return []
        out = []
        for thread in self.threads:
            if thread.waits[self.pc(s, thread)]:
                for r, c in self._enabled(s, thread):
                    after = self._fire(s, thread, r, c)
                    if thread.waits[self.pc(after, thread)]:
                        out.append((self._label(thread, ((r, c),)), after))
        return out

    def settled(self, s) -> list:
        """[(label, state)]: from `s`, the waits of merged runs the threads can take one
        at a time, each thread's in turn: where a hang in the split model stops."""
        tail = []
        while len(tail) < self.MAX_TRANSACTION:
            steps = self.settle_steps(s)
            if not steps:
                break
            tail.append(steps[0])
            s = steps[0][1]
        return tail

    def _unblocked(self, thread, path) -> int:
        """How many of a blocked transaction's steps it keeps: all, unless it blocked in
        a run of merged waits (model/machine.py), which waits whole where it began (0:
        the thread takes no step from here until it can take the whole run).

        `path`: the state before the transaction's first step, then after each step."""
        k = len(path) - 1
        if not (self.merge_waits and thread.waits[self.pc(path[k], thread)]):
            return k
        while k and thread.waits[self.pc(path[k - 1], thread)]:
            k -= 1
        return k

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

    def unfold(self, s, label: tuple) -> list:
        """The rows of one step (a transaction may chain several), as (the compiled row,
        the state before it, the channel it picked or None): what trace matching reads
        QEMU's events from (the rows' `trace`)."""
        thread = next(t for t in self.threads if t.name == label[0])
        rows = []
        for action in label[1].split(" > "):
            r, c = next((r, c) for r, c in self._enabled(s, thread)
                        if (r.trigger if c is None else f"{r.trigger}(channel {c})") == action)
            rows.append((r, s, c))
            s = self._fire(s, thread, r, c)
        return rows

    def _bounded(self, thread, chain) -> None:
        """A transaction longer than MAX_TRANSACTION is a loop with no wait in it whose
        state never repeats (a field that grows without end): no verdict."""
        if len(chain) > self.MAX_TRANSACTION:
            raise BoundHit(f"a transaction of {thread.name} ran {self.MAX_TRANSACTION:,} "
                           f"steps without reaching a wait, its state never repeating "
                           f"(... {self._label(thread, chain[-3:])[1]})")

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


def _reachable(thread, initial) -> set:
    """The control states the thread's table leads to from where it starts (whatever
    the guards say)."""
    pcs = initial[thread.pc_index]
    todo = [pcs[thread.t] if thread.per_channel else pcs]
    seen = set(todo)
    while todo:
        for r in thread.table[todo.pop()]:
            if r.dest not in seen:
                seen.add(r.dest)
                todo.append(r.dest)
    return seen


def _quiet_joined(thread):
    """The thread with its quiet states (Protocol's Thread.quiet) in its runs of merged
    waits, and transaction starts (model/machine.py)."""
    if not any(thread.quiet):
        return thread
    return thread._replace(starts=tuple(map(max, thread.starts, thread.quiet)),
                           waits=tuple(map(max, thread.waits, thread.quiet)))


def _rows(s) -> list:
    """Each channel's per-channel values, as one tuple per channel."""
    return list(zip(*(s[i] for i in s.per_channel_index)))


def _reordered(s, order: list):
    """`s` with channel order[j] moved to j in every per-channel field (`s` itself
    when the order is the identity)."""
    if order == list(range(len(order))):
        return s
    values = list(s)
    for i in s.per_channel_index:
        column = s[i]
        values[i] = tuple(column[k] for k in order)
    return tuple.__new__(type(s), values)
