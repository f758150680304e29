"""How a variant is written: the edits to the thread tables, the claims, and Variant.

A variant is a list of edits to the thread tables (a row dropped, changed or added) and
of guard or effect functions replaced by name, the QEMU commit or the hypothesis it
stands for, and its expected verdict: `breaks` names the properties a run must find
violated (empty: every property must hold). `flush_modes` and `transports` say where the
variant means something; elsewhere it may equal the seed.

A variant may also bring State fields of its own (`fields`, `channel_fields`), properties
of its own (`invariant`, `sometimes`, `eventually`, `fair`), and build on another
(`based_on`). The catalogue's B5, B14, 077fbb5942 and flush-mode entries use that API as
a user's file would (docs/variants.md, "Checking your own patch").
"""

import re
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping, NamedTuple, Optional

from ..config import FLUSH_MODES, TRANSPORTS
from ..machine import ModelError, row
from ..state import state_type
from .. import load, migration, monitor, recv, send

__all__ = ["Variant", "Drop", "Change", "Add", "row", "Claim", "invariant", "sometimes",
           "eventually", "fair", "ROLES", "apply_variant", "VariantError", "never",
           "per_round", "per_section"]

ROLES = {r.name: r for r in (migration.ROLE, send.ROLE, load.ROLE, recv.ROLE, monitor.ROLE)}


class VariantError(ValueError):
    """An unknown variant, or an edit that matches no row; one line for the user."""


@dataclass(frozen=True)
class Drop:
    """Remove the row `trigger` leaving `source` (and going to `dest`, when given)."""
    role: str
    trigger: str
    source: str
    dest: str = ""


@dataclass(frozen=True)
class Change:
    """Replace fields of one row, found by role, trigger and source (and dest, when two
    rows share those): `to` maps source, dest, when, unless, do or trace to the new
    value, as row() takes them."""
    role: str
    trigger: str
    source: str
    dest: str = ""
    to: Mapping = field(default_factory=dict)


@dataclass(frozen=True)
class Add:
    """Add a row (made by row()) at the end of a role's table."""
    role: str
    row: Mapping


class Claim(NamedTuple):
    """A property a variant brings: `predicate(cfg, s)` judged on every state, its
    docstring (first line the claim, then the QEMU rule it quotes) shown in reports.

    kind: "always" (an invariant), "sometimes" (some reachable state satisfies it),
    "eventually" (from every reachable state, a state satisfying it stays reachable) or
    "fair" (no run fair to every thread loops for ever without reaching one).
    `applies(cfg)`: where it is checked (None: everywhere). The name is the function's
    unless given (`name=`)."""

    name: str
    kind: str
    predicate: Callable
    doc: str
    applies: Optional[Callable] = None

    def holds(self, cfg, s) -> bool:
        """The predicate at `s`; an exception, or an answer that is not a bool, is the
        variant file's error (one line, exit 2)."""
        try:
            held = self.predicate(cfg, s)
        except Exception as e:
            raise self._error(f"raised {type(e).__name__}: {e}") from None
        if type(held) is not bool:
            raise self._error(f"gave back {held!r:.40}, not True or False")
        return held

    def applies_to(self, cfg) -> bool:
        if self.applies is None:
            return True
        try:
            return bool(self.applies(cfg))
        except Exception as e:
            raise VariantError(f"property {self.name}: applies= raised "
                               f"{type(e).__name__}: {e}") from None

    def _error(self, what) -> ModelError:
        code = getattr(self.predicate, "__code__", None)
        where = f"variant file {code.co_filename}: " if code else ""
        return ModelError(f"{where}property {self.name} {what}", False)


def _claim(kind: str, predicate, applies=None, name=None) -> Claim:
    if not callable(predicate):
        raise VariantError(f"a {kind} property must be a function (cfg, s) -> bool, "
                           f"not {type(predicate).__name__}")
    doc = " ".join((predicate.__doc__ or "").split())
    if not doc:
        raise VariantError(f"property {predicate.__name__}: give it a docstring that quotes "
                           f"the QEMU rule it checks")
    return Claim(name or predicate.__name__, kind, predicate, doc, applies)


def invariant(predicate, applies=None, name=None) -> Claim:
    """A variant's own invariant: `predicate(cfg, s)` holds in every reachable state."""
    return _claim("always", predicate, applies, name)


def sometimes(predicate, applies=None, name=None) -> Claim:
    """A variant's own witness: some reachable state satisfies `predicate(cfg, s)`."""
    return _claim("sometimes", predicate, applies, name)


def eventually(predicate, applies=None, name=None) -> Claim:
    """From every reachable state, a state satisfying `predicate(cfg, s)` stays reachable."""
    return _claim("eventually", predicate, applies, name)


def fair(predicate, applies=None, name=None) -> Claim:
    """No run that is weakly fair to every thread goes on for ever without reaching a
    state satisfying `predicate(cfg, s)` again (a fair livelock that avoids it)."""
    return _claim("fair", predicate, applies, name)


@dataclass(frozen=True)
class Variant:
    name: str
    stands_for: str                 # the QEMU commit (hash and title) or "hypothesis: ..."
    description: str                # one line: what changes, in QEMU's terms
    breaks: tuple = ()              # properties a run must find violated
    edits: tuple = ()
    functions: Mapping[str, Mapping[str, Callable]] = field(default_factory=dict)
    states: Mapping[str, tuple] = field(default_factory=dict)   # role -> extra states
    flush_modes: tuple = FLUSH_MODES
    transports: tuple = TRANSPORTS
    faults: tuple = ()              # the fault layers `breaks` refers to (none: fault-free)
    only: bool = False              # runs with `flush_modes` and `transports` only
    defaults: Mapping = field(default_factory=dict)   # Config fields it is judged at
    symmetric: bool = True          # False if it singles out a channel (no symmetry then)
    fields: Mapping[str, object] = field(default_factory=dict)   # new State fields: initial
    channel_fields: Mapping[str, object] = field(default_factory=dict)  # same, per channel
    properties: tuple = ()          # its own properties (invariant(), sometimes(), ...)
    based_on: object = None         # a Variant (or a catalogue name) this one builds on

    merged: bool = field(default=False, repr=False, compare=False)   # based_on applied

    def __post_init__(self):
        """Each part of the right type (one line otherwise). With `based_on`: the base's
        edits first, then these; its functions, states, fields and defaults, with these
        added (and winning on a name); its properties, then these (a name used twice is
        refused). Transports, flush modes, faults, `only` and `breaks` are the variant's
        own."""
        _check_types(self)
        base = self.based_on
        if base is None or self.merged:
            return
        if isinstance(base, str):
            from . import get_variant      # the catalogue, built from this module
            base = get_variant(base)
        if not isinstance(base, Variant):
            raise VariantError(f"variant {self.name}: based_on must be a Variant or a "
                               f"catalogue name, not {type(base).__name__}")
        merged = {
            "based_on": base, "edits": base.edits + tuple(self.edits),
            "functions": {role: {**base.functions.get(role, {}), **self.functions.get(role, {})}
                          for role in set(base.functions) | set(self.functions)},
            "states": {role: tuple(dict.fromkeys(tuple(base.states.get(role, ())) +
                                                  tuple(self.states.get(role, ()))))
                       for role in set(base.states) | set(self.states)},
            "fields": {**base.fields, **self.fields},
            "channel_fields": {**base.channel_fields, **self.channel_fields},
            "properties": tuple(base.properties) + tuple(self.properties),
            "defaults": {**base.defaults, **self.defaults},
            "symmetric": base.symmetric and self.symmetric, "merged": True}
        for name, value in merged.items():
            object.__setattr__(self, name, value)

    @property
    def own_vocabulary(self) -> bool:
        """Whether it adds State fields or properties of its own: a table the declared
        transactions were never argued for (checks/verify.py)."""
        return bool(self.fields or self.channel_fields or self.properties)

    def default_config(self) -> dict:
        """The Config fields `run` uses for options the user leaves out: the variant's
        first transport and flush mode, its fault layers, and its own `defaults`."""
        out = {"transport": self.transports[0], "flush": self.flush_modes[0],
               "faults": self.faults}
        out.update(self.defaults)
        return out

    def check_config(self, cfg) -> None:
        """Refuse a configuration the variant's QEMU cannot run, in one line."""
        if not self.only:
            return
        if cfg.flush not in self.flush_modes or cfg.transport not in self.transports:
            raise VariantError(f"variant {self.name} runs with --flush "
                               f"{'|'.join(self.flush_modes)} and --transport "
                               f"{'|'.join(self.transports)} only")

    def expectation(self, config):
        """The properties a run at `config` must find broken (empty: it must pass), or
        None where the variant declares no verdict: another set of fault layers than it
        is judged under, or a transport or flush mode it means nothing at."""
        if config.faults != tuple(sorted(set(self.faults))):
            return None
        if config.transport not in self.transports or config.flush not in self.flush_modes:
            return None
        return self.breaks

    @property
    def expected(self) -> str:
        verdict = "pass" if not self.breaks else "violation: " + ", ".join(self.breaks)
        return verdict + (f" (under {'+'.join(self.faults)})" if self.faults else "")


def _matches(r: Mapping, edit) -> bool:
    return (r["trigger"] == edit.trigger and r["source"] == edit.source
            and (not edit.dest or r["dest"] == edit.dest))


_CHANGE_KEYS = {"source": "source", "dest": "dest", "when": "conditions", "unless": "unless",
                "do": "after", "trace": "trace"}


def _changed(r: Mapping, to: Mapping) -> dict:
    """The row with the fields `to` sets; the others (its trace among them) as they were."""
    new = dict(r)
    for key, value in to.items():
        if key not in _CHANGE_KEYS:
            raise VariantError(f"a Change may set {', '.join(_CHANGE_KEYS)}; not {key!r}")
        new[_CHANGE_KEYS[key]] = value if key in ("source", "dest", "trace") else list(
            (value,) if isinstance(value, str) else value)
    return new


def _edit_rows(rows: list, edit) -> list:
    if isinstance(edit, Add):
        return rows + [dict(edit.row)]
    hits = [i for i, r in enumerate(rows) if _matches(r, edit)]
    if len(hits) != 1:
        how = "no row" if not hits else f"{len(hits)} rows (give dest)"
        raise VariantError(f"{type(edit).__name__} {edit.role}.{edit.trigger} from "
                           f"{edit.source}: matches {how}")
    i = hits[0]
    if isinstance(edit, Drop):
        return rows[:i] + rows[i + 1:]
    return rows[:i] + [_changed(rows[i], edit.to)] + rows[i + 1:]


def apply_variant(variant: Variant) -> dict:
    """Every role with the variant's edits applied, by role name."""
    _check_vocabulary(variant)
    tables = {name: list(role.rows) for name, role in ROLES.items()}
    for edit in variant.edits:
        if edit.role not in tables:
            raise VariantError(f"variant {variant.name}: unknown role {edit.role!r}")
        tables[edit.role] = _edit_rows(tables[edit.role], edit)
    roles = {name: role.with_rows(tables[name], variant.functions.get(name),
                                  variant.states.get(name, ()))
             for name, role in ROLES.items()}
    return {name: _kept_waits(ROLES[name], role) for name, role in roles.items()}


def _kept_waits(base, edited):
    """`edited` with the merged and quiet waits (model/machine.py) its author declared,
    but for the runs the variant touched: a run is a set of merged states its rows link,
    and an edit of one of those rows, or of a function they name, voids the argument for
    that run, whose waits are then split again. A quiet state is kept only where its run
    with the quiet states in it is untouched, with every row leaving a quiet state.
    (b5-destroy-in-join-loop makes a join destroy its channel, which other threads touch:
    its joins are split, its sync's waits are not.)"""
    merged = _untouched(base, edited, base.merged_waits)
    quiet = tuple(state for state in _untouched(base, edited, base.merged_waits +
                                                base.quiet_waits)
                  if state in base.quiet_waits)
    if (merged, quiet) == (edited.merged_waits, edited.quiet_waits):
        return edited
    return replace(edited, merged_waits=merged, quiet_waits=quiet)


def _untouched(base, edited, states: tuple) -> tuple:
    """Those of `states` whose run (`_runs`) the variant left as it was, in order."""
    kept = {state for run in _runs(base, states)
            if _run_rows(base, run) == _run_rows(edited, run) for state in run}
    return tuple(state for state in states if state in kept)


def _runs(role, states: tuple) -> list:
    """`states` of the role in sets linked by its rows from one to another."""
    runs = [{state} for state in states]
    for r in role.rows:
        if r["source"] in states and r["dest"] in states:
            a, b = (next(x for x in runs if state in x) for state in (r["source"], r["dest"]))
            if a is not b:
                a |= b
                runs.remove(b)
    return runs


def _run_rows(role, run) -> tuple:
    """The rows of a role from one state of `run` to another, or from a quiet state of
    it, and the functions they name."""
    rows = [r for r in role.rows if r["source"] in run and
            (r["dest"] in run or r["source"] in role.quiet_waits)]
    names = {n for r in rows for n in r["conditions"] + r["unless"] + r["after"]}
    return rows, {n: role.functions.get(n) for n in names}


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,79}")
_MAPPINGS = ("functions", "states", "fields", "channel_fields", "defaults")
_NAME_TUPLES = ("breaks", "flush_modes", "transports", "faults")


def _check_types(v) -> None:
    """A variant's parts of the types the API takes, or a VariantError naming the part."""
    if not isinstance(v.name, str) or not _NAME.fullmatch(v.name):
        raise VariantError(f"variant {str(v.name)[:40]!r}: a name is letters, digits, '.', "
                           f"'_', '+' and '-', starting with a letter or digit (it names "
                           f"files)")
    where = f"variant {v.name}"
    for part in _MAPPINGS:
        if not isinstance(getattr(v, part), Mapping):
            raise VariantError(f"{where}: {part} must be a dict, not "
                               f"{type(getattr(v, part)).__name__}")
    for part in _NAME_TUPLES + ("edits", "properties"):
        if isinstance(getattr(v, part), (str, bytes)) or \
                not isinstance(getattr(v, part), (tuple, list)):
            raise VariantError(f"{where}: {part} must be a tuple (for one: ('x',)), not "
                               f"{getattr(v, part)!r:.40}")
    for role, states in v.states.items():
        if isinstance(states, str) or not all(isinstance(x, str) for x in states):
            raise VariantError(f"{where}: states[{role!r}] must be a tuple of state names")
    for edit in v.edits:
        if not isinstance(edit, (Drop, Change, Add)):
            raise VariantError(f"{where}: an edit must be a Drop, Change or Add, not "
                               f"{edit!r:.40}")
        if isinstance(edit, Add) and not isinstance(edit.row, Mapping):
            raise VariantError(f"{where}: Add({edit.role!r}, ...) takes a row made by row()")
    from ..config import Config
    unknown = sorted(set(v.defaults) - set(Config.__dataclass_fields__))
    if unknown:
        raise VariantError(f"{where}: defaults names {unknown[0]!r}, not a Config field")


def _check_vocabulary(variant: Variant) -> None:
    """A variant's own fields and properties, refused in one line where they cannot be."""
    for name, value in {**variant.fields, **variant.channel_fields}.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise VariantError(f"field name {name!r} is not a Python identifier")
        try:
            hash(value)
        except TypeError:
            raise VariantError(f"field {name}: its initial value {value!r} is not hashable "
                               f"(use a tuple, not a list)") from None
    try:
        state_type(variant.fields, variant.channel_fields)
    except ValueError as e:
        raise VariantError(str(e)) from None
    for claim in variant.properties:
        if not isinstance(claim, Claim):
            raise VariantError(f"properties holds {claim!r}: make each with invariant(), "
                               f"sometimes(), eventually() or fair()")



# Guards a variant puts in place of the model's by name.

def per_round(cfg, s, t, c):
    return cfg.per_round


def per_section(cfg, s, t, c):
    return not cfg.per_round


def never(cfg, s, t, c):
    return False
