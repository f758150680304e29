"""A cache of thread steps, keyed by what the step read: the explorer's hot loop.

A thread's steps from a state depend only on the fields (and, for per-channel fields,
the channel entries) its guards and effects read. The first time a thread computes its
steps at a control state, it runs on a `Recorder`: a stand-in for the State that logs
every field and every channel entry read, and keeps what is written apart from the
state it started from. The steps are kept as writes, under the values of what was
read; any later state that agrees on those values fires the same rows with the same
guards, so it gets the same writes, applied to its own values. The set of reads kept
per (thread, control state) only grows: when a computation reads something new, that
thread's cache at that control state starts again under the larger key.

Reads are logged at the granularity the model uses: `s.field` logs the field, and a
per-channel field comes back as a `Column`, whose `column[k]` logs entry k alone, and
whose iteration, comparison or slicing logs the whole field; its `put(k, value)` writes
one entry (a protocol's helpers call it where they would rebuild the tuple). So a
thread that runs one per channel keys on its own channel's entries, not every channel's.
"""

from operator import itemgetter

__all__ = ["StepCache", "Recorder", "Column", "EntryWrite", "WHOLE", "covered", "widened"]

WHOLE = -1          # a read or write of a whole field, not of one channel's entry


def _logging_whole(method):
    """A tuple method that reads every entry, logged as a read of the whole field."""
    def logged(self, *args):
        self._whole()
        return method(self, *args)
    return logged


class Column(tuple):
    """A per-channel field read through a Recorder: entry reads are logged one by one."""

    def __new__(cls, values, field, log, written=frozenset()):
        column = super().__new__(cls, values)
        column.field, column.log, column.written = field, log, written
        return column

    def __getitem__(self, k):
        if type(k) is int:
            if k not in self.written:
                self.log.add((self.field, k % len(self)))
        else:
            self._whole()
        return tuple.__getitem__(self, k)

    def _whole(self):
        self.log.add((self.field, WHOLE))

    def __iter__(self):
        self._whole()
        return tuple.__iter__(self)

    def __contains__(self, x):
        self._whole()
        return tuple.__contains__(self, x)

    def __eq__(self, other):
        self._whole()
        return tuple.__eq__(self, other)

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        self._whole()
        return tuple.__hash__(self)

    def __add__(self, other):
        self._whole()
        return tuple(self) + tuple(other)

    def __radd__(self, other):        # `(x,) + column`: tuple's own + would read unlogged
        self._whole()
        return tuple(other) + tuple(self)

    __lt__, __le__, __gt__, __ge__ = (_logging_whole(getattr(tuple, n)) for n in
                                      ("__lt__", "__le__", "__gt__", "__ge__"))
    count, index = _logging_whole(tuple.count), _logging_whole(tuple.index)

    def put(self, k: int, value) -> "EntryWrite":
        return EntryWrite(self.field, k, value)


class EntryWrite:
    """`put(column, k, value)`: entry k of a per-channel field gets `value`."""

    __slots__ = ("field", "k", "value")

    def __init__(self, field, k, value):
        self.field, self.k, self.value = field, k, value


class Recorder:
    """A State stand-in that logs reads and keeps writes apart from `base`.

    `whole` maps a field index to its new value; `entries` maps a per-channel field
    index to {channel: new value}, for fields not written whole."""

    __slots__ = ("base", "log", "whole", "entries", "index", "columns")

    def __init__(self, base, log, index, columns, whole=None, entries=None):
        self.base, self.log, self.index, self.columns = base, log, index, columns
        self.whole = whole or {}
        self.entries = entries or {}

    def __getattr__(self, name):
        i = self.index.get(name)
        if i is None:
            raise AttributeError(name)
        return self[i]

    def __getitem__(self, i):
        if i in self.whole:
            return self.whole[i]
        value = self.base[i]
        if i not in self.columns:
            self.log.add((i, WHOLE))
            return value
        written = self.entries.get(i, {})
        merged = tuple(written.get(k, v) for k, v in enumerate(value))
        return Column(merged, i, self.log, frozenset(written))

    def replace(self, **changes) -> "Recorder":
        return self.assign([(self.index[name], value) for name, value in changes.items()])

    _replace = replace

    def _whole_state(self, *_):
        raise TypeError("a guard or effect used the whole state (iterated or compared it); "
                        "read fields by name, so the step cache can key on them")

    __iter__ = __eq__ = __len__ = _whole_state
    __hash__ = None

    def assign(self, changes) -> "Recorder":
        whole = dict(self.whole)
        entries = {i: dict(e) for i, e in self.entries.items()}
        for i, value in changes:
            if type(value) is EntryWrite and value.field == i:
                if i in whole:
                    whole[i] = _put(whole[i], value.k, value.value)
                else:
                    entries.setdefault(i, {})[value.k] = value.value
            else:
                if type(value) is EntryWrite:       # an entry of one field into another
                    value = _put(self[value.field], value.k, value.value)
                whole[i] = tuple(value) if type(value) is Column else value
                entries.pop(i, None)
        return Recorder(self.base, self.log, self.index, self.columns, whole, entries)

    def differs_from(self, other: "Recorder") -> bool:
        """Whether the two (over the same base) hold different values; reads of the base
        that the comparison needs are logged."""
        for i in set(self.whole) | set(other.whole):
            if tuple.__eq__(_materialize(self, i), _materialize(other, i)) is not True:
                return True
        for i in (set(self.entries) | set(other.entries)) - set(self.whole) - set(other.whole):
            mine, theirs = self.entries.get(i, {}), other.entries.get(i, {})
            for k in set(mine) | set(theirs):
                if k not in mine or k not in theirs:
                    self.log.add((i, k))
                base = self.base[i][k]
                if mine.get(k, base) != theirs.get(k, base):
                    return True
        return False

    def writes(self) -> tuple:
        """What this step wrote, as (field, channel or WHOLE, value), in field order."""
        out = [(i, WHOLE, v) for i, v in self.whole.items()]
        out += [(i, k, v) for i, e in self.entries.items() for k, v in e.items()]
        return tuple(sorted(out, key=lambda w: (w[0], w[1])))


def _materialize(rec, i):
    """Field i of `rec` as a plain value, logging the base entries it takes."""
    if i in rec.whole:
        if i not in rec.columns:
            return (rec.whole[i],)
        return tuple(rec.whole[i])
    base = rec.base[i]
    if i not in rec.columns:
        rec.log.add((i, WHOLE))
        return (base,)
    written = rec.entries.get(i, {})
    for k in range(len(base)):
        if k not in written:
            rec.log.add((i, k))
    return tuple(written.get(k, v) for k, v in enumerate(base))


def _put(values, k, value):
    return tuple(values[:k]) + (value,) + tuple(values[k + 1:])


class StepCache:
    """Per (thread, control state): the reads that matter, and the steps by their values.

    `compute(thread, recorder)` runs the real step logic on a Recorder and returns
    [(label, recorder after), ...]; the cache turns those into writes."""

    def __init__(self, state_type, columns, compute, threads, limit=1 << 20, recorder=None):
        self.index = {name: i for i, name in enumerate(state_type._fields)}
        self.columns = frozenset(columns)
        self.compute = compute
        self.recorder = recorder or Recorder     # tracking.TrackingRecorder: derived steps
        self.limit = limit          # entries kept before the cache starts over (memory)
        self.size = self.misses = 0
        # per thread, per control state: None or (reads, key function, {key: steps})
        self.slots = [[None] * len(thread.table) for thread in threads]

    def miss(self, thread, slots: list, pc: int, s) -> tuple:
        """Compute the thread's steps at `pc` from `s` on a Recorder and keep them in
        `slots` (the thread's own, from `self.slots`), as ((label, writes), ...)."""
        self.misses += 1
        steps, log = self.writes_of(thread, s)
        slot = slots[pc]
        if slot is None or not covered(log, slot[0]):
            reads = widened(slot[0] if slot else frozenset(), log)
            slot = slots[pc] = (reads, _key_function(reads), {})
        if self.size >= self.limit:
            self._clear()
        slot[2][slot[1](s)] = steps
        self.size += 1
        return steps

    def writes_of(self, thread, s) -> tuple:
        """The thread's steps from `s` as ((label, writes), ...), and the reads logged."""
        log = set()
        recorder = self.recorder(s, log, self.index, self.columns)
        steps = self.compute(thread, recorder)
        return tuple((label, after.writes()) for label, after in steps), log

    def evaluate(self, function, s) -> tuple:
        """`function` of a Recorder over `s`: its value, and the reads it logged."""
        log = set()
        return function(Recorder(s, log, self.index, self.columns)), log

    def _clear(self):
        for slots in self.slots:
            for slot in slots:
                if slot:
                    slot[2].clear()
        self.size = 0


def covered(log, reads) -> bool:
    """Whether the key `reads` already holds every read in `log` (an entry read is held
    by a read of its whole field)."""
    return all(r in reads or (r[0], WHOLE) in reads for r in log)


def widened(reads, log) -> frozenset:
    """The key `reads` grown by `log`; a whole-field read covers that field's entry reads."""
    reads = reads | log
    whole = {i for i, k in reads if k == WHOLE}
    return frozenset(r for r in reads if r[1] == WHOLE or r[0] not in whole)


def _key_function(reads):
    """A function of a state giving the values of `reads`, compiled once per key shape
    (itemgetter when every read is of a whole field)."""
    reads = sorted(reads)
    if reads and all(k == WHOLE for _, k in reads):
        fields = [i for i, _ in reads]
        return itemgetter(*fields) if len(fields) > 1 else itemgetter(slice(fields[0], fields[0] + 1))
    parts = [f"s[{i}]" if k == WHOLE else f"s[{i}][{k}]" for i, k in reads]
    return eval(f"lambda s: ({', '.join(parts)},)") if parts else (lambda s: ())
