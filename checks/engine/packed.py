"""Packed states: the model the explorer walks, with each state one Python int.

A state is a tuple of tuples; hashing one walks every entry, and every step copies it.
Here each field (and each channel's entry of a per-channel field) gets a few bits of one
int, holding the index of its value in that slot's table of values seen so far. A step
is then `(state & keep) | put`, and the key of a thread's cached steps is
`state & mask`: one operation each. Hashing an int of a few hundred bits is cheap, and
it takes 68-128 bytes (2 to 8 channels; 473 bits at 4) where a run keeps some 750-980
bytes a state as tuples.

It changes nothing but speed and memory: the steps are the Product's own, computed on
a Recorder (stepcache.py) over the unpacked state the first time a thread meets the values
it reads, and kept as (keep, put) under the bits of what it read. Properties and the end
test are kept the same way, by what they read. `view` unpacks a state for reports.

A slot's width is fixed for the run. When a slot sees more values than its bits hold,
`LayoutFull` says which field; `checks/verify.py` then starts the run over with that
field wider.
"""

from .stepcache import WHOLE, covered, widened

__all__ = ["PackedSystem", "Layout", "LayoutFull", "run_packed"]

MORE_BITS = 4         # how much wider a field gets when it overflows
LIMIT = 1 << 20       # cached entries kept before the caches start over (memory)


class LayoutFull(Exception):
    """A field took more values than its bits hold: run again with `widths`."""

    def __init__(self, name: str, widths: dict):
        super().__init__(f"{name} needs more than {widths[name] - MORE_BITS} bits")
        self.name, self.widths = name, widths


def run_packed(system, run, restarted=None):
    """`run(PackedSystem(system))`, started over with a wider field each time one
    overflows its bits; `restarted(full)` hears of each LayoutFull."""
    widths = {}
    while True:
        try:
            return run(PackedSystem(system, widths))
        except LayoutFull as full:
            widths = full.widths
            if restarted:
                restarted(full)


class Layout:
    """Where each field's bits are, and each slot's table of values.

    A slot is (field index, channel) for the per-channel fields and (field index, WHOLE)
    for the others; its code is the order its value was first seen in, so the initial
    state packs to 0."""

    def __init__(self, initial: tuple, widths: dict):
        self.widths = dict(widths)
        self.type, self.fields = type(initial), initial._fields
        self.columns = frozenset(initial.per_channel_index)
        self.channels = len(initial[initial.per_channel_index[0]])
        self.offsets, self.tables, at = {}, {}, 0
        for i, value in enumerate(initial):
            self._width(i, value)
            if i not in self.columns:
                at = self._place(i, WHOLE, at, ({}, []))
        # Then one row per channel, its fields side by side, each field's table shared by
        # the channels: equal values have equal codes, so rows compare (canonical()).
        self.row_base, shared = at, {i: ({}, []) for i in initial.per_channel_index}
        for c in range(self.channels):
            for i in initial.per_channel_index:
                at = self._place(i, c, at, shared[i])
        self.row_bits = (at - self.row_base) // self.channels
        self.bits = at

    def _width(self, i, value):
        name = self.fields[i]
        self.widths.setdefault(name, _first_width(value, i in self.columns))

    def _place(self, i, k, at, table) -> int:
        bits = self.widths[self.fields[i]]
        self.offsets[i, k], self.tables[i, k] = (at, bits), table
        return at + bits

    def code(self, i: int, k: int, value) -> int:
        """The bits of `value` in slot (i, k), shifted into place."""
        index, values = self.tables[i, k]
        code = index.get(value)
        if code is None:
            offset, bits = self.offsets[i, k]
            if len(values) >= 1 << bits:
                name = self.fields[i]
                raise LayoutFull(name, {**self.widths, name: bits + MORE_BITS})
            code = index[value] = len(values)
            values.append(value)
        return code << self.offsets[i, k][0]

    def mask(self, i: int, k: int) -> int:
        """The bits of slot (i, k); a whole per-channel field is all its channels'."""
        if k == WHOLE and i in self.columns:
            return sum(self.mask(i, c) for c in range(self.channels))
        offset, bits = self.offsets[i, k]
        return ((1 << bits) - 1) << offset

    def write(self, i: int, k: int, value) -> tuple:
        """(bits to clear, bits to set) for field i (entry k, or WHOLE) getting `value`."""
        if k == WHOLE and i in self.columns:
            parts = [self.write(i, c, v) for c, v in enumerate(value)]
            return sum(m for m, _ in parts), sum(b for _, b in parts)
        return self.mask(i, k), self.code(i, k, value)

    def pack(self, s: tuple) -> int:
        x = 0
        for i, value in enumerate(s):
            x |= self.write(i, WHOLE, value)[1]
        return x

    def unpack(self, x: int) -> tuple:
        return tuple.__new__(self.type, [self.field(x, i) for i in range(len(self.fields))])

    def field(self, x: int, i: int):
        """Field i of packed state `x` (a tuple of its channels' values if per-channel)."""
        if i in self.columns:
            return tuple(self.value(x, i, c) for c in range(self.channels))
        return self.value(x, i, WHOLE)

    def value(self, x: int, i: int, k: int):
        """The value of slot (i, k) in packed state `x`."""
        offset, bits = self.offsets[i, k]
        return self.tables[i, k][1][(x >> offset) & ((1 << bits) - 1)]


class Fields:
    """A packed state's fields by index, each unpacked when first read: what a Recorder
    (stepcache.py) reads a state through on a cache miss, where a step or a property
    reads a few of its fields."""

    __slots__ = ("layout", "x", "got")

    def __init__(self, layout: Layout, x: int):
        self.layout, self.x, self.got = layout, x, {}

    def __getitem__(self, i: int):
        got = self.got.get(i, _UNREAD)
        if got is _UNREAD:
            got = self.got[i] = self.layout.field(self.x, i)
        return got


_UNREAD = object()


def _first_width(value, per_channel: bool) -> int:
    """A first guess at a field's bits: 4 for a number, 12 for a FIFO or a per-page
    tuple (a socket of a 4-channel run holds more than 64 different contents). A few
    spare bits cost little; starting over costs the time spent so far."""
    entry = value[0] if per_channel else value
    return 12 if isinstance(entry, tuple) else 4


class PackedSystem:
    """A Product (product.py) seen through a Layout: same steps, same order, same labels."""

    def __init__(self, system, widths: dict = None):
        if system.cache is None:
            raise ValueError("packed states need the step cache")
        self.system = system
        widths = dict(widths or {})
        fields, channels = system.state._fields, system.protocol.channels
        for thread in system.threads:    # a control state's bits from its role's size
            name = fields[thread.pc_index]
            widths.setdefault(name, max(1, (len(thread.table) - 1).bit_length()))
        # Counts the protocol bounds by twice the channels: their first width holds 2N,
        # so eight channels need no restart.
        for name in system.protocol.counts_to_2n:
            widths.setdefault(name, max(4, (2 * channels).bit_length()))
        self.layout = Layout(system.initial_states()[0], widths)
        self._bytes = (self.layout.bits + 7) // 8 or 1      # see fingerprint()
        self.size = 0
        self._plan = tuple(self._thread_plan(thread) for thread in system.threads)
        self.thread_index = {thread.name: k for k, thread in enumerate(system.threads)}
        self._memos = []
        # Each with its memo ([reads, mask, values]): the compiled loop keys on the mask.
        self._halted, self.halted_memo = self._cached(system.protocol.halted)
        self.is_proper_end, self.end_memo = self._cached(system.is_proper_end)
        if system.exact_symmetry and self.layout.channels > 1:
            self._symmetry_tables()
            self.canonical = self._canonical

    def _symmetry_tables(self):
        """What `_canonical` reads: where the channels' rows are, the loop fields' bits
        (and the committed channel under each, filled by `_pin`), and the committed
        loop's position at N-1."""
        layout = self.layout
        loop_fields = {i for loop in self.system.loops for i in (loop.pc_index, loop.index)}
        self._loop_mask = sum(layout.mask(i, WHOLE) for i in loop_fields)
        self._pins = {}          # the loop fields' bits -> the committed channel, or -1
        width, base = layout.row_bits, layout.row_base
        self._rows = (tuple(base + c * width for c in range(layout.channels)),
                      (1 << width) - 1, 1 << width)      # shifts, a row's mask, the pin bit
        self._below_rows = (1 << base) - 1
        if not self.system.protocol.loops_any_order:
            self._core_plan = self._index_plan()
            return
        index = next((loop.index for loop in self.system.loops if loop.committed), None)
        if index is not None:        # no loop commits to a channel: pinned stays -1
            self._index_clear = ~layout.mask(index, WHOLE)
            self._last = layout.code(index, WHOLE, layout.channels - 1)

    def symmetry_plan(self):
        """What the compiled loop needs to take channel symmetry as `_canonical` does
        (`_core.Search.symmetry`), or None where only `_canonical` can (`_index_plan`)."""
        return getattr(self, "_core_plan", None)

    def _index_plan(self):
        """With QEMU's index order: (the first row's bit, a row's bits, the channels, per
        loop over channels (its pc's offset and bits, its position's, the codes of the
        pcs inside it, of those where it commits to a channel, and of the positions half
        way)). No state the search keeps has a loop half way or committed
        (Product.pinned), so no channel sorts last as with --loops any; every pc and
        position gets its code here, before any state is packed. None with more than 64
        codes for a loop's pcs or positions."""
        system, layout = self.system, self.layout
        initial, loops = system.initial_states()[0], []
        for loop in system.loops:
            thread = next(t for t in system.threads if t.pc_index == loop.pc_index)
            pcs = self._codes(loop.pc_index, len(thread.table), initial)
            places = self._codes(loop.index, 2 * layout.channels + 1, initial)
            if max(pcs.values()) >= 64 or max(places.values()) >= 64:
                return None
            loops.append((*layout.offsets[loop.pc_index, WHOLE],
                          *layout.offsets[loop.index, WHOLE],
                          sum(1 << pcs[pc] for pc in loop.states),
                          sum(1 << pcs[pc] for pc in loop.committed),
                          sum(1 << places[i] for i in range(1, layout.channels))))
        return layout.row_base, layout.row_bits, layout.channels, loops

    def _codes(self, i: int, values: int, initial) -> dict:
        """{value: its code} in field i for 0 to `values` - 1, each given one now if it
        has none yet, the `initial` state's value first (it packs to 0)."""
        offset, first = self.layout.offsets[i, WHOLE][0], initial[i]
        order = [first] + [v for v in range(values) if v != first]
        return {v: self.layout.code(i, WHOLE, v) >> offset for v in order}

    def _thread_plan(self, thread):
        """(thread, offset of its pc, pc mask, per pc code: None or [reads, mask, steps])."""
        k = thread.t if thread.per_channel else WHOLE
        offset, bits = self.layout.offsets[thread.pc_index, k]
        return thread, offset, (1 << bits) - 1, [None] * (1 << bits)

    def initial_states(self) -> list:
        """The initial states packed (their representatives, under symmetry)."""
        states = [self.layout.pack(s) for s in self.system.initial_states()]
        canon = getattr(self, "canonical", None)
        return [canon(x) for x in states] if canon else states

    def successors(self, x: int) -> list:
        """Every enabled step as (label, next state), in the System's order."""
        out = []
        if self._halted(x):
            return out
        append = out.append
        for thread, offset, pc_mask, slots in self._plan:     # the hot loop of every search
            slot = slots[(x >> offset) & pc_mask]
            steps = slot[2].get(x & slot[1]) if slot else None
            if steps is None:
                steps = self._miss(thread, slots, (x >> offset) & pc_mask, x)
            for label, keep, put in steps:
                append((label, x & keep | put))
        return out

    def step_mask(self, x: int, thread: str) -> int:
        """The bits that `thread`'s steps from `x` were computed from (call it after
        `successors(x)`): any state that agrees with `x` there takes the same steps."""
        _, offset, pc_mask, slots = self._plan[self.thread_index[thread]]
        return slots[(x >> offset) & pc_mask][1] | pc_mask << offset

    def _miss(self, thread, slots, pc: int, x: int) -> tuple:
        steps, log = self.system.cache.writes_of(thread, Fields(self.layout, x))
        packed = tuple((label, ~clear, put) for label, (clear, put) in
                       ((label, self._writes(writes)) for label, writes in steps))
        slot = slots[pc] = self._keep(slots[pc], log)
        slot[2][x & slot[1]] = packed
        return packed

    def _writes(self, writes) -> tuple:
        clear = put = 0
        for i, k, value in writes:
            mask, bits = self.layout.write(i, k, value)
            clear, put = clear | mask, put | bits
        return clear, put

    def _keep(self, slot, log):
        """`slot` ([reads, mask, values]), started over under a wider key when `log`
        read something its key does not hold; every cache starts over at LIMIT."""
        if slot is None or not covered(log, slot[0]):
            reads = widened(slot[0] if slot else frozenset(), log)
            mask = 0
            for i, k in reads:
                mask |= self.layout.mask(i, k)
            slot = [reads, mask, {}]
        self.size += 1
        if self.size > LIMIT:
            self._clear()
        return slot

    def _clear(self):
        self.size = 0
        for _, _, _, slots in self._plan:
            for slot in slots:
                if slot:
                    slot[2].clear()
        for memo in self._memos:
            memo[2].clear()

    def cached(self, function):
        """`function` of a state, as a function of a packed state, kept by what it reads."""
        return self._cached(function)[0]

    def _cached(self, function):
        """(`cached(function)`, its memo: [reads, mask, values], as a thread's slot)."""
        memo = [frozenset(), 0, {}]
        self._memos.append(memo)
        mask, values, missing = 0, memo[2], object()

        def value(x):
            nonlocal mask, values
            v = values.get(x & mask, missing)
            if v is missing:
                v, log = self.system.cache.evaluate(function, Fields(self.layout, x))
                memo[:] = self._keep(memo, log)
                mask, values = memo[1], memo[2]
                values[x & mask] = v
            return v
        return value, memo

    def screen(self, props: list):
        """The explorer's screen (explorer.py) of `props`: the indices of those
        whose value is news at a state (an invariant false, a `sometimes` true).

        One lookup a state, keyed by the bits all the properties have read so far. That
        key takes more values than any one property's, so a miss is answered from each
        property's own cache (`cached`), not by unpacking the state; the key widens with
        theirs."""
        news_at, key_mask = self.news_parts(props)
        mask, answers = 0, {}

        def news(x):
            nonlocal mask
            found = answers.get(x & mask)
            if found is None:
                found = news_at(x)
                wider = key_mask()
                if wider != mask or len(answers) >= LIMIT:
                    mask = wider
                    answers.clear()
                answers[x & mask] = found
            return found
        return news

    def news_parts(self, props: list) -> tuple:
        """(news_at, key_mask): the indices in `props` whose value is news at a state,
        from each property's own cache; and the bits those caches have read so far (a
        key under which the answer holds, which `screen` keeps it under). The compiled
        loop does the same in its own tables, from `property_values`."""
        cached = self.property_values(props)
        tests = [(i, holds, p.kind == "always")
                 for i, (p, (holds, _)) in enumerate(zip(props, cached))]
        memos = [memo for _, memo in cached]

        def news_at(x) -> tuple:
            return tuple(i for i, holds, always in tests if always != bool(holds(x)))

        def key_mask() -> int:
            mask = 0
            for memo in memos:
                mask |= memo[1]
            return mask
        return news_at, key_mask

    def property_values(self, props: list) -> list:
        """Per property: its value at a packed state, from its own cache, and that
        cache's memo ([reads, mask, values]; the compiled loop keys on the mask)."""
        return [self._cached(p.predicate) for p in props]

    def _canonical(self, x: int) -> int:
        """Product._canonical_any on packed states: the channels' rows sorted as ints (a
        field's code is the same on every channel), the channel a wait committed to
        last, and the loop's position then N-1."""
        shifts, mask, pin = self._rows
        rows = [(x >> shift) & mask for shift in shifts]
        pinned = self._pins.get(x & self._loop_mask)
        if pinned is None:
            pinned = self._pin(x)
        if pinned >= 0:
            rows[pinned] |= pin
        order = sorted(rows)
        if order == rows:
            return x
        if pinned >= 0:         # last in the order; the loop's position names it there
            order[-1] ^= pin
            x = x & self._index_clear | self._last
        y = x & self._below_rows
        for shift, row in zip(shifts, order):
            y |= row << shift
        return y

    def _pin(self, x: int) -> int:
        """The channel a wait committed to in `x`, or -1 (kept by the loop fields)."""
        pinned, _ = self.system.pinned(lambda i: self.layout.value(x, i, WHOLE))
        self._pins[x & self._loop_mask] = pinned
        return pinned

    def view(self, x: int) -> tuple:
        """The state a packed state stands for (what reports show)."""
        return self.layout.unpack(x)

    def fingerprint(self, x: int) -> int:
        """A 64-bit hash of the state's bits, signed, never 0: CPython's hash of the
        bytes, SipHash-1-3 under the process's random key (PEP 456; 1-3 since 3.11), so
        two states share it with probability about 2^-64. With it `--fingerprint` runs
        1.2 to 1.4 times as fast as with the multiply-shift hash it replaced (a product
        of two 500-bit ints). Not hash() of the int: that is its value modulo
        2^61 - 1, which states whose bits differ 61 apart share. The key changes from
        run to run; nothing a run prints depends on the hash values."""
        return hash(x.to_bytes(self._bytes, "little")) or 1
