"""The check after a derived search: no property could have seen a thread inside a
transaction. For every kept state and every thread that could be inside one, the values
its steps rolled back or forward are tried (`Roll`), alone and with other threads'
(`_RollCheck`); a step whose roll a property would see becomes a non-mover for the next
run (`unseen_moves`)."""

from functools import partial

from .movers import apply_op, can_change_to, holds, value_at
from .tracking import TrackingRecorder

__all__ = ["unseen_moves"]


def unseen_moves(packed, states, properties) -> set:
    """The judgement keys of steps some property could see move.

    For every kept state, every property whose verdict there is not yet news (an
    invariant that holds, a `sometimes` not yet met) is judged again on the states a
    thread inside a transaction could leave instead (the kept state with the rolls of
    the threads where they are applied, `Roll`). Where the verdict could differ, the
    steps behind those rolls must be seen: their keys come back, and the search has
    to run again with them as non-movers. `packed`: a PackedSystem over a Product with
    Knowledge; `states`: its packed states; `properties`: explorer Properties."""
    check = _RollCheck(packed, [p for p in properties if p.predicate is not None])
    keys = set()
    for x in states:
        keys |= check.state(x)
    return keys


class _RollCheck:
    CANDIDATES = 512     # states judged again per kept state and property, at most

    def __init__(self, packed, properties):
        self.packed, self.layout = packed, packed.layout
        system = packed.system
        self.cache, self.knowledge = system.cache, system.knowledge
        self.props = properties
        self.threads = [(t.name, t.pc_index, t.t if t.per_channel else -1)
                        for t in system.threads]
        self.pc_mask = 0
        for _, i, k in self.threads:
            self.pc_mask |= self.layout.mask(i, k)
        writers = self.knowledge.writers()
        self.moved = {name: frozenset(loc for loc, who in writers.items() if who - {name})
                      for name, _, _ in self.threads}
        self._at = {}          # pc bits -> per thread, its rolls there, packed
        self._by_pc = {}       # (thread, pc) -> its rolls there, packed
        self._fits = {}        # (pc bits, thread, required bits) -> its changes that apply
        self._sets = {}        # each such {changes: keys}, once
        self._packed = {}      # (roll, what others write) -> what it requires, packed
        self._touched = {}     # the changes that apply -> the locations they touch
        self._hits = {}        # (those locations, a property's reads) -> both
        self._touched_mask = {}  # the changes that apply -> those locations, packed
        self._quiets = [{} for _ in properties]   # per property: _quiet's answers
        self._candidates = {}  # (changes, locations, tests) -> the changes tests can see
        self._tests = {}       # each distinct set of tests a property made, once
        self._reads = [[0, {}] for _ in properties]   # per property: mask, {bits: reads}
        self._also = [0] * len(properties)   # per property: what it read on rolled states
        self._judged = [{} for _ in properties]
        self._verdicts = [{} for _ in properties]     # per property: its reads -> _tested

    def state(self, x) -> set:
        rolls = self._applicable(x, x & self.pc_mask)
        if not rolls:
            return set()
        ident = tuple(id(mine) for mine in rolls)       # kept in _sets: ids are stable
        touched = self._touched.get(ident)
        if touched is None:
            touched = self._touched[ident] = frozenset(_touched(rolls))
        found = set()
        for n in range(len(self.props)):
            reads = self._reads_at(n, x)
            hit = self._hits.get((touched, reads))
            if hit is None:
                hit = self._hits[touched, reads] = frozenset(
                    loc for loc in touched if _covers(reads, loc))
            if hit:
                found |= self._judged_at(n, x, ident, rolls, hit)
        return found

    def _judged_at(self, n, x, ident, rolls, hit) -> set:
        """The judgement of property n at `x`, kept by the values it read there and on
        rolled states (what it reads on a rolled state widens that, afresh), and the
        values where the rolls make their changes (which of them can be made)."""
        touched = self._touched_bits(ident)
        key = (ident, x & (self._reads[n][0] | self._also[n] | touched))
        found = self._judged[n].get(key)
        if found is None and self._quiet(n, x, ident, rolls, hit):
            found = self._judged[n][key] = frozenset()
        if found is None:
            found, read = self._judge(self.props[n], x, rolls, hit)
            wider = self._also[n] | self._mask(read)
            if wider != self._also[n]:
                self._also[n], self._judged[n] = wider, {}
                key = (ident, x & (self._reads[n][0] | wider | touched))
            self._judged[n][key] = found
        return found

    def _touched_bits(self, ident) -> int:
        bits = self._touched_mask.get(ident)
        if bits is None:
            bits = self._touched_mask[ident] = self._mask(self._touched[ident])
        return bits

    def _quiet(self, n, x, ident, rolls, hit) -> bool:
        """Whether no roll at `x` changes what property n's tests see there, or its
        verdict is news already: kept by the values it read and the rolls touch."""
        key = (ident, x & (self._reads[n][0] | self._touched_bits(ident)))
        quiet = self._quiets[n].get(key)
        if quiet is None:
            verdict, tests = self._verdict(self.props[n], x)
            quiet = self._quiets[n][key] = _news(self.props[n].kind, verdict) or \
                _unseen([self._seen(mine, hit, tests, x) for mine in rolls])
        return quiet

    def _seen(self, mine, hit, tests, x) -> tuple:
        """(whether one of a thread's changes (`mine`), made at `x`, moves a value the
        property tests at `hit`; whether one changes what those tests see, alone), as
        `_options` weighs them, kept per change by the values where it makes them."""
        key = (id(mine), hit, id(tests))
        candidates = self._candidates.get(key)
        if candidates is None:
            candidates = self._candidates[key] = [
                (changes, here, self._mask({loc for loc, _, _ in changes}), {})
                for changes in mine
                for here in [tuple(c for c in changes if c[0] in hit and c[0] in tests)]
                if here]
        moves = False
        for changes, here, mask, answers in candidates:
            found = answers.get(x & mask)
            if found is None:
                value = partial(self._value, x)
                can = can_change_to(changes, value)
                found = answers[x & mask] = (can and bool(_sign(here, value, {})),
                                             can and bool(_sign(here, value, tests)))
            if found[1]:
                return True, True
            moves = moves or found[0]
        return moves, False

    def _applicable(self, x, bits) -> list:
        """Per thread, the changes of its rolls whose required values `x` holds, as one
        kept dict {changes: keys of the steps behind them} each."""
        out = []
        for n, (union, groups) in enumerate(self._rolls_at(x, bits)):
            key = (bits, n, x & union)
            mine = self._fits.get(key)
            if mine is None:
                fit = {}
                for mask, by_value in groups:
                    for changes, keys in by_value.get(x & mask, {}).items():
                        fit[changes] = fit.get(changes, frozenset()) | keys
                mine = self._fits[key] = self._sets.setdefault(frozenset(fit.items()), fit)
            if mine:
                out.append(mine)
        return out

    def _rolls_at(self, x, bits) -> list:
        """Per thread with rolls where `x` has it: (the mask of all they require,
        [(mask, {bits: {changes: keys}})]): its rolls grouped by the locations they
        require, then by the values there, packed."""
        at = self._at.get(bits)
        if at is None:
            at = self._at[bits] = []
            for name, i, k in self.threads:
                grouped = self._grouped(name, self.layout.value(x, i, k))
                if grouped is not None:
                    at.append(grouped)
        return at

    def _grouped(self, name, pc):
        """`_rolls_at`'s entry for one thread at one control state (None: no rolls)."""
        key = (name, pc)
        if key not in self._by_pc:
            mine = self.knowledge.rolls.get(key)
            self._by_pc[key] = self._group(mine, self.moved[name]) if mine else None
        return self._by_pc[key]

    def _group(self, mine, moved) -> tuple:
        groups, union = {}, 0
        for roll, keys in mine.items():
            packed = self._required(roll, moved)
            if packed:
                by_value = groups.setdefault(packed[0], {}).setdefault(packed[1], {})
                by_value[roll.changes] = by_value.get(roll.changes, frozenset()) | \
                    frozenset(keys)
                union |= packed[0]
        return union, sorted(groups.items())

    def _required(self, roll, moved):
        """(mask, bits) of what `roll` requires, or None where no state can hold it."""
        key = (roll, moved)
        if key not in self._packed:
            self._packed[key] = self._pack(roll, moved)
        return self._packed[key]

    def _pack(self, roll, moved):
        mask = value = 0
        for (i, k), v in roll.requires:
            if roll.undo and (i, k) in moved:
                continue
            code = self.layout.tables[i, k][0].get(v)
            if code is None:
                return None
            offset, width = self.layout.offsets[i, k]
            mask |= ((1 << width) - 1) << offset
            value |= code << offset
        return mask, value

    def _reads_at(self, n, x):
        mask, known = self._reads[n]
        reads = known.get(x & mask)
        if reads is None:
            _, log = self.cache.evaluate(self.props[n].predicate, self.layout.unpack(x))
            reads = frozenset(log)
            wider = mask | self._mask(reads)
            if wider != mask:
                self._reads[n] = [wider, {}]
            self._reads[n][1][x & wider] = reads
        return reads

    def _mask(self, locs) -> int:
        mask = 0
        for i, k in locs:
            mask |= self.layout.mask(i, k)
        return mask

    def _judge(self, prop, x, rolls, hit) -> tuple:
        """(the keys behind a combination of rolls, at most one a thread, that makes
        `prop` judge otherwise than at `x`, or nothing; what it read on rolled states).
        Rolls are told apart only by what the property's tests at the locations it reads
        say of their values; where a rolled state shows it testing more, the options are
        drawn again."""
        verdict, tests = self._verdict(prop, x)     # not news here (`_quiet`)
        base = self.layout.unpack(x)
        tests = {loc: set(made) for loc, made in tests.items()}
        locs, touched, read = set(hit), _touched(rolls), set()
        for _ in range(8):
            options = _options(rolls, locs, partial(value_at, base), tests)
            if _product_size(options) > self.CANDIDATES:
                return _keys_at(rolls, locs), read
            for chosen in _combinations(options):
                state = _rolled(base, chosen)
                if state is None:
                    continue
                held, made = self._tested(prop, state)
                read |= set(made)
                unseen = {loc for loc in touched if loc not in locs and loc in made}
                news = {loc for loc in locs if loc in made and
                        not made[loc] <= tests.get(loc, set())}
                if unseen or news:
                    locs |= unseen
                    for loc, found in made.items():
                        tests.setdefault(loc, set()).update(found)
                    break                 # draw the options again, knowing more
                if held != verdict:
                    return set().union(*(keys for _, keys in chosen)), read
            else:
                return set(), read
        return _keys_at(rolls, locs), read

    def _verdict(self, prop, x) -> tuple:
        """`_tested` at the kept state `x`, kept by the values the property read there."""
        n = self.props.index(prop)
        key = x & self._reads[n][0]
        found = self._verdicts[n].get(key)
        if found is None:
            held, made = self._tested(prop, self.layout.unpack(x))
            frozen = frozenset((loc, frozenset(t)) for loc, t in made.items())
            found = self._verdicts[n][key] = (held, self._tests.setdefault(frozen, made))
        return found

    def _value(self, x, loc):
        return self.layout.value(x, loc[0], loc[1])

    def _tested(self, prop, state) -> tuple:
        """(the property's verdict on `state`, {location: {(test, argument)}} it made)."""
        recorder = TrackingRecorder(state, set(), self.cache.index, self.cache.columns)
        held = bool(prop.predicate(recorder))
        made = {}
        for loc, test, arg, _ in recorder.trace.observations:
            made.setdefault(loc, set()).add((test, arg))
        return held, made


def _news(kind: str, verdict: bool) -> bool:
    """Whether a property's value at a kept state is reported as it is: an invariant
    false, a `sometimes` true. A goal (eventually, fair) matters either way."""
    return kind in ("always", "sometimes") and verdict != (kind == "always")


def _covers(reads, loc) -> bool:
    """Whether `reads` (a Recorder's log) read location `loc`."""
    return loc in reads or (loc[0], -1) in reads


def _touched(rolls) -> set:
    return {loc for mine in rolls for changes in mine for loc, _, _ in changes}


def _unseen(found) -> bool:
    """From `_seen` per thread: no change can matter. One thread's changes matter only
    if one changes what a test sees on its own; where two threads move tested values,
    together they may flip a test that neither flips alone."""
    if sum(1 for moves, _ in found if moves) >= 2:
        return False
    return not any(seen for _, seen in found)


def _options(rolls, locs, value, tests) -> list:
    """Per thread whose changes that can be made to the state `value` reads change
    something at `locs` that the property's `tests` there would see: its distinct such
    changes, each with the keys of the steps behind it. Where two or more threads move
    tested values, changes are told apart by the values they leave, not by what the
    tests see of each alone (together they may flip a test neither flips alone). (Every
    use of a value read logs a test, so a location with none logged is one the property
    did not look at.)"""
    moving = []
    for mine in rolls:
        mine = [(here, keys) for changes, keys in mine.items()
                for here in [tuple(c for c in changes if c[0] in locs and c[0] in tests)]
                if here and can_change_to(changes, value) and _sign(here, value, {})]
        if mine:
            moving.append(mine)
    by = tests if len(moving) < 2 else {}
    options = []
    for mine in moving:
        seen = {}
        for here, keys in mine:
            sign = _sign(here, value, by)
            if sign:
                seen.setdefault(sign, [here, set()])[1].update(keys)
        if seen:
            options.append([(here, keys) for _, (here, keys) in
                            sorted(seen.items(), key=lambda kv: repr(kv[0]))])
    return options


def _sign(changes, value, tests) -> tuple:
    """What the tests see of `changes` applied alone where `value` reads the state: ()
    when nothing. With no `tests`: the values they leave where they move one."""
    sign = []
    for loc, kind, arg in changes:
        before = value(loc)
        after = apply_op(kind, arg, before)
        if after is None:
            continue
        if not tests:
            if after != before:
                sign.append((loc, repr(after)))
            continue
        made = tests.get(loc)
        if not made:
            continue
        seen = tuple(repr(holds(t, a, after)) for t, a in sorted(made, key=repr))
        if seen != tuple(repr(holds(t, a, before)) for t, a in sorted(made, key=repr)):
            sign.append((loc, seen))
    return tuple(sign)


def _product_size(options) -> int:
    size = 1
    for choices in options:
        size *= len(choices) + 1
    return size


def _combinations(options):
    """Every choice of at most one option a thread, but the empty one."""
    combos = [[]]
    for choices in options:
        combos = [c + [o] for c in combos for o in [None] + choices]
    for combo in combos:
        chosen = [o for o in combo if o is not None]
        if chosen:
            yield chosen


def _rolled(state, chosen):
    """`state` with the chosen changes applied (None where one cannot apply)."""
    values = {}
    for changes, _ in chosen:
        for loc, kind, arg in changes:
            value = apply_op(kind, arg, values.get(loc, value_at(state, loc)))
            if value is None:
                return None
            values[loc] = value
    fields = list(state)
    for (i, k), v in values.items():
        if k < 0:
            fields[i] = v
        else:
            column = list(fields[i])
            column[k] = v
            fields[i] = tuple(column)
    return tuple.__new__(type(state), fields)


def _keys_at(rolls, locs) -> set:
    return {key for mine in rolls for changes, keys in mine.items()
            if any(at in locs for at, _, _ in changes) for key in keys}
