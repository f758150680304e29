"""What a step does with each value it reads: the evidence derived transactions use.

A guard or effect run on a `TrackingRecorder` sees, instead of plain values, tags: ints
and tuples that remember where they came from (a location: a field, or one channel's
entry of a per-channel field) and log what the code asks of them. A comparison with a
constant logs that test and its outcome; `x + 1` written back to where `x` came from is
an increment, not a read; `queue + (item,)` and `queue[1:]` written back are a push and
a pop; anything else (arithmetic, hashing, iteration, a value copied elsewhere) logs an
opaque read, which depends on the whole value. What the tags cannot see, they count as
opaque: the evidence errs towards "depends on everything".

`Trace` collects, per step, the observations (location, test, argument, outcome) and the
writes (location, kind, value before, value after). `movers.py` turns them into mover
types.

>>> trace = Trace(); x = tag(3, ("sem", -1), trace); trace.begin()
>>> x > 0, trace.observations
(True, [(('sem', -1), 'gt', 0, True)])
>>> y = x + 1; type(y).__name__, y.delta, trace.observations[1:]
('Delta', 1, [])
"""

from .stepcache import WHOLE, Column, EntryWrite, Recorder

__all__ = ["Trace", "TrackingRecorder", "tag", "plain", "OPAQUE"]

OPAQUE = "opaque"        # the test that depends on the whole value
_COMPARE = {"__lt__": "lt", "__le__": "le", "__gt__": "gt", "__ge__": "ge"}
_FLIP = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}


class Trace:
    """The sink the tags of one recorder chain log into: the step being computed now."""

    __slots__ = ("observations", "writes")

    def __init__(self):
        self.begin()

    def begin(self):
        """Start a new step: forget what the last one logged."""
        self.observations, self.writes = [], []

    def observe(self, loc, test, arg, outcome):
        self.observations.append((loc, test, arg, outcome))


def plain(value):
    """`value` with every tag taken off (tuples of tags included)."""
    if isinstance(value, _Tag):
        return value.value()
    if type(value) is tuple and any(isinstance(v, _Tag) for v in value):
        return tuple(plain(v) for v in value)
    return value


def _is_constant(other) -> bool:
    return not isinstance(other, _Tag) and isinstance(other, (int, type(None)))


class _Tag:
    """What every tag has: where it came from and where it logs."""

    def _opaque(self):
        self.trace.observe(self.loc, OPAQUE, None, self.value())
        return self.value()


def _opaque_method(base, name):
    """`base`'s method `name` on plain values, logged as opaque reads of the tagged
    value and of every tagged argument."""
    method = getattr(base, name)

    def logged(self, *args):
        for a in args:
            if isinstance(a, _Tag):
                a._opaque()
        return method(self._opaque(), *(plain(a) for a in args))
    logged.__name__ = name
    return logged


def _opaque_int(name):
    return _opaque_method(int, name)


class Seen(_Tag, int):
    """An int read from location `loc`."""

    def __new__(cls, value, loc, trace):
        self = int.__new__(cls, value)
        self.loc, self.trace = loc, trace
        return self

    def value(self) -> int:
        return int.__int__(self)

    def _test(self, test, other, outcome):
        """Log `self <test> other` with its outcome: a test against a constant, or an
        opaque read of both sides when `other` is itself read from the state."""
        if _is_constant(other):
            self.trace.observe(self.loc, test, other, outcome)
        else:
            self._opaque()
            if isinstance(other, _Tag):
                other._opaque()
        return outcome

    def __eq__(self, other):
        return self._test("eq", other, self.value() == plain(other))

    def __ne__(self, other):
        return not self._test("eq", other, self.value() == plain(other))

    def __bool__(self):
        self.trace.observe(self.loc, "eq", 0, self.value() == 0)
        return self.value() != 0

    def __hash__(self):
        return hash(self._opaque())

    def __add__(self, other):
        if type(other) is int:
            return Delta(self.value() + other, self.loc, self.trace, other)
        return _opaque_int("__add__")(self, other)

    __radd__ = __add__

    def __sub__(self, other):
        if type(other) is int:
            return Delta(self.value() - other, self.loc, self.trace, -other)
        return _opaque_int("__sub__")(self, other)

    def __index__(self):
        return self._opaque()

    def __int__(self):
        return self._opaque()

    def __repr__(self):
        return repr(self.value())


def _comparison(name):
    test = _COMPARE[name]
    method = getattr(int, name)

    def compare(self, other):
        return self._test(test, other, method(self.value(), plain(other)))
    compare.__name__ = name
    return compare


for _name in _COMPARE:
    setattr(Seen, _name, _comparison(_name))
for _name in ("__mul__", "__rmul__", "__floordiv__", "__rfloordiv__", "__truediv__",
              "__rtruediv__", "__mod__", "__rmod__", "__pow__", "__rpow__", "__neg__",
              "__pos__", "__abs__", "__invert__", "__and__", "__rand__", "__or__", "__ror__",
              "__xor__", "__rxor__", "__lshift__", "__rlshift__", "__rshift__",
              "__rrshift__", "__rsub__", "__divmod__", "__rdivmod__", "__float__",
              "__round__", "__trunc__", "__floor__", "__ceil__", "__format__", "__str__",
              "bit_length", "to_bytes"):
    setattr(Seen, _name, _opaque_int(_name))


class Delta(Seen):
    """`x + d` for an int `x` read from `loc`: an increment when written back there."""

    def __new__(cls, value, loc, trace, delta):
        self = Seen.__new__(cls, value, loc, trace)
        self.delta = delta
        return self

    def _test(self, test, other, outcome):   # the sum is compared: the read shows
        self._opaque()
        return outcome

    def __bool__(self):
        self._opaque()
        return self.value() != 0

    def __add__(self, other):
        if type(other) is int:
            return Delta(self.value() + other, self.loc, self.trace, self.delta + other)
        return _opaque_int("__add__")(self, other)

    __radd__ = __add__

    def __sub__(self, other):
        return self.__add__(-other) if type(other) is int else _opaque_int("__sub__")(self, other)


class SeenTuple(_Tag, tuple):
    """A tuple read from `loc` (a queue, or a per-page table)."""

    def __new__(cls, values, loc, trace):
        self = tuple.__new__(cls, values)
        self.loc, self.trace = loc, trace
        return self

    def value(self) -> tuple:
        return tuple(tuple.__iter__(self))

    def __bool__(self):
        self.trace.observe(self.loc, "empty", None, tuple.__len__(self) == 0)
        return tuple.__len__(self) > 0

    def __len__(self):
        size = tuple.__len__(self)
        self.trace.observe(self.loc, "len", None, size)
        return size

    def __getitem__(self, k):
        if isinstance(k, slice):
            if k == slice(1, None, None):
                return Popped(tuple.__getitem__(self, k), self.loc, self.trace)
            return tuple(self._opaque()[k])
        k = k._opaque() if isinstance(k, _Tag) else k
        size = tuple.__len__(self)
        if k == 0:
            self.trace.observe(self.loc, "head", None,
                               tuple.__getitem__(self, 0) if size else None)
        elif 0 < k < size:
            self.trace.observe(self.loc, "item", k, tuple.__getitem__(self, k))
        else:
            self._opaque()
        return tuple.__getitem__(self, k)

    def __add__(self, other):
        if type(other) is tuple:
            _copied(other)
            return Appended(self.value() + plain(other), self.loc, self.trace)
        return tuple(self._opaque()) + tuple(plain(other))

    def __radd__(self, other):
        return tuple(plain(other)) + tuple(self._opaque())

    def __hash__(self):
        return hash(self._opaque())

    def __repr__(self):
        return repr(self.value())


for _name in ("__iter__", "__contains__", "__eq__", "__ne__", "__lt__", "__le__",
              "__gt__", "__ge__", "__mul__", "__rmul__", "count", "index"):
    setattr(SeenTuple, _name, _opaque_method(tuple, _name))


class _Derived(SeenTuple):
    """A new queue made from the one at `loc`: used for anything but being written back
    there, it reads that queue whole."""

    def __bool__(self):
        self._opaque()
        return tuple.__len__(self) > 0

    def __len__(self):
        self._opaque()
        return tuple.__len__(self)

    def __getitem__(self, k):
        self._opaque()
        return tuple.__getitem__(self, plain(k))

    def __add__(self, other):
        self._opaque()
        return tuple(self.value()) + tuple(plain(other))


class Appended(_Derived):
    """`queue + (item, ...)`: a push when written back to `loc`."""

    def __add__(self, other):
        if type(other) is tuple:
            _copied(other)
            return Appended(self.value() + plain(other), self.loc, self.trace)
        return _Derived.__add__(self, other)


class Popped(_Derived):
    """`queue[1:]`: a pop when written back to `loc`."""


def tag(value, loc, trace):
    """`value` read from `loc`, tagged (ints and tuples; other values as they are)."""
    if type(value) is int or type(value) is bool:
        return Seen(int(value), loc, trace)
    if type(value) is tuple:
        return SeenTuple(value, loc, trace)
    return value


class TrackedColumn(Column):
    """A per-channel field read through a TrackingRecorder: entries come back tagged."""

    def __new__(cls, values, field, log, written, trace):
        column = Column.__new__(cls, values, field, log, written)
        column.trace = trace
        return column

    def __getitem__(self, k):
        if isinstance(k, _Tag):
            k = k._opaque()
        if type(k) is not int:
            self._whole()
            return tuple(tag(v, (self.field, i), self.trace)
                         for i, v in enumerate(tuple.__iter__(self)))[k]
        value = Column.__getitem__(self, k)
        return tag(value, (self.field, k % len(self)), self.trace)

    def __iter__(self):
        self._whole()
        return iter([tag(v, (self.field, i), self.trace)
                     for i, v in enumerate(tuple.__iter__(self))])

    def put(self, k, value):
        return Column.put(self, k._opaque() if isinstance(k, _Tag) else k, value)

    def _all_opaque(self):
        for i, v in enumerate(tuple.__iter__(self)):
            self.trace.observe((self.field, i), OPAQUE, None, v)

    def __eq__(self, other):
        self._all_opaque()
        return Column.__eq__(self, plain(other))

    def __hash__(self):
        self._all_opaque()
        return Column.__hash__(self)

    def __contains__(self, x):
        self._all_opaque()
        return Column.__contains__(self, plain(x))


def _opaque_column(name):
    method = getattr(Column, name)

    def logged(self, *args):
        self._all_opaque()
        return method(self, *(plain(a) for a in args))
    logged.__name__ = name
    return logged


for _name in ("__add__", "__radd__", "__lt__", "__le__", "__gt__", "__ge__", "count", "index"):
    setattr(TrackedColumn, _name, _opaque_column(_name))


class TrackingRecorder(Recorder):
    """A Recorder whose reads come back tagged and whose writes are logged by kind."""

    __slots__ = ("trace",)

    def __init__(self, base, log, index, columns, whole=None, entries=None, trace=None):
        Recorder.__init__(self, base, log, index, columns, whole, entries)
        self.trace = trace if trace is not None else Trace()

    def __getitem__(self, i):
        value = Recorder.__getitem__(self, i)
        if i in self.columns:
            written = value.written if type(value) is Column else frozenset(range(len(value)))
            return TrackedColumn(tuple.__iter__(value), i, self.log, written, self.trace)
        return tag(value, (i, WHOLE), self.trace)

    def current(self, i, k):
        """The value at (field i, entry k) now, untagged; logged as a read for the cache
        (a step's type may depend on what it overwrote)."""
        if i in self.whole:
            value = self.whole[i]
            return value if k == WHOLE else value[k]
        if k != WHOLE and k in self.entries.get(i, {}):
            return self.entries[i][k]
        self.log.add((i, k))
        return self.base[i] if k == WHOLE else self.base[i][k]

    def assign(self, changes) -> "TrackingRecorder":
        plain_changes = []
        for i, value in changes:
            plain_changes.append((i, self._logged_write(i, value)))
        done = Recorder.assign(self, plain_changes)
        return TrackingRecorder(done.base, done.log, done.index, done.columns, done.whole,
                                done.entries, self.trace)

    def _logged_write(self, i, value):
        """Log the write of `value` to field i by kind; give back the plain value."""
        if type(value) is EntryWrite:
            if value.field == i:
                self._write((i, value.k), value.value)
                return EntryWrite(i, value.k, plain(value.value))
            value = _put_plain(self, value)
        if i in self.columns:
            for k, v in enumerate(value):
                self._write((i, k), v)
            return tuple(plain(v) for v in value)
        self._write((i, WHOLE), value)
        return plain(value)

    def _write(self, loc, value):
        before = self.current(*loc)
        after = plain(value)
        if isinstance(value, _Tag) and value.loc == loc:
            if type(value) is Delta:
                kind = "delta"
            elif type(value) is Appended:
                kind = "push"
            elif type(value) is Popped:
                kind = "pop"
            else:
                kind = "store"
        else:
            _copied(value)
            kind = "store"
        if kind == "store" and after == before:
            return
        self.trace.writes.append((loc, kind, before, after))


def _copied(value):
    """A tagged value stored somewhere else: its source is read whole."""
    if isinstance(value, _Tag):
        value._opaque()
    elif type(value) is tuple:
        for v in value:
            _copied(v)


def _put_plain(recorder, write):
    """An entry of one per-channel field written into another: the whole new tuple."""
    values = list(tuple.__iter__(Recorder.__getitem__(recorder, write.field)))
    values[write.k] = write.value
    return tuple(values)
