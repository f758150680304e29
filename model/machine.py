"""How a thread role is declared, and how the declaration is compiled for the explorer.

A role is declared the `transitions` way: a list of states and a table of rows
`[trigger, source, dest]` with named `conditions` (guards) and `after` callbacks
(effects). The same rows build a `transitions.Machine` (auto_transitions=False), which
draws the diagrams, and are compiled once per configuration into plain tuples the
explorer walks: triggers are never fired on live machine objects.

Guards and effects are plain functions of the configuration, the global state, the
thread's channel index and the picked channel:

    def guard(cfg, s, t, c) -> bool
    def effect(cfg, s, t, c) -> State

A row whose `prepare` is ["pick_channel"] stands for QEMU's scan for a channel (a busy
loop over the channels, round-robin in multifd_send_pages()); the model lets any
channel be picked, an over-approximation, and the row fans out over c = 0..N-1.
Elsewhere c is None.

Transactions (Lipton's reduction). A sequence of one thread's steps of the form
R* N? L* can run as one atomic step without changing what the other threads can
observe: R, right movers, are semaphore waits, blocking reads, joins and the reads of a
monotonic flag that find it set; L, left movers, are semaphore posts, writes to a FIFO
and the reads of a monotonic flag (`exiting`) that find it clear; N is at most one other
shared access (a store others read, a guest RAM write, vm_start()).
`transaction_starts` names the states where a transaction must start: where a right
mover or a non-mover follows a left mover. With transactions on, a step fires a row and
the thread runs on through the rows of every state that is not in `transaction_starts`
until it reaches one, blocks, or repeats a state (a spin). The fine-grained steps stay
available with transactions off, and the tests check both give the same verdicts.

`merged_waits` names the states where the thread waits on a semaphore that no other
thread waits on and no other thread reads (it only posts it), or joins a thread no other
thread joins (a thread that has returned stays returned): a run of such waits is one
step, as a compiled checker takes it (SPIN's anchor). A transaction that blocks in such
a run is postponed back to where the run began: the thread takes the run's tokens only
when it can take them all. To every other thread a consumer that holds some tokens and
blocks is the same as one that holds none yet (posts commute with waits), and it blocks
where the split run would block forever, so deadlocks are the same. A merged state that
is also a transaction start (a join loop, after the posts that wake the threads it
joins) ends a transaction only when it is entered from a state outside the runs: a wait
of its run from it back to itself, or from another state of a run, goes on in the same
transaction. A variant that edits a run's rows splits that run's waits again
(variants/dsl.py `_kept_waits`).

`quiet_waits` names states between such waits that read only what, in the
configurations `quiet_if` accepts, no other thread writes (the `exiting` check between a
loop's waits, which besides the waiting thread itself only a failing channel or a cancel
sets, so: with no fault layer on): such a read commutes with every other thread's step,
so the state joins the run, and the whole loop is one step. It is a transaction start
too, so that the posts before the loop end their transaction there. Elsewhere those
states are as the role declares them. `quiet_holds` states the argument at a state;
the search checks it on every state it keeps, and starts over without the quiet waits
where it fails (checks/verify.py).
"""

import inspect
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping, NamedTuple

from transitions import Machine

from .config import Config

__all__ = ["Role", "row", "CompiledRow", "compile_role", "build_machine", "PICK", "AnyOrder",
           "any_order", "ModelError", "table_functions"]


class ModelError(ValueError):
    """A guard or effect failed at a step (raised, or gave back the wrong kind of value):
    one line naming its file, the function and the row. `internal`: the function is the
    model's own, so the fault is the checker's, not the user's variant file's."""

    def __init__(self, message: str, internal: bool):
        super().__init__(message)
        self.internal = internal

PICK = "pick_channel"


def row(trigger: str, source: str, dest: str, *, when=(), unless=(), do=(), pick=False,
        trace=None, qemu: str) -> dict:
    """One transition row, in `transitions`' own format, plus the QEMU function it models
    and, for a row QEMU traces, `trace`: the name of the role's function (cfg, s, t, c)
    giving the abstract events it logs, read on the state before the row fires
    (checks/traces/match.py projects a trace onto them)."""
    return {"trigger": trigger, "source": source, "dest": dest,
            "conditions": list(when), "unless": list(unless), "after": list(_names(do)),
            "prepare": [PICK] if pick else [], "qemu": qemu, "trace": trace}


def _names(value) -> tuple:
    return (value,) if isinstance(value, str) else tuple(value)


def table_functions(namespace: dict) -> dict:
    """The guards and effects a role module offers its table: the public functions it
    defines itself, by name. A name it imports (`put`, `add`) is not one of them, so a
    row naming it is refused where the table is checked.

    >>> from model import send
    >>> "put" in send.ROLE.functions, "sem_posted" in send.ROLE.functions
    (False, True)
    """
    module = namespace["__name__"]
    return {name: value for name, value in namespace.items()
            if inspect.isfunction(value) and value.__module__ == module
            and not name.startswith("_")}


@dataclass(frozen=True)
class Role:
    """A thread role: its states, its transition table and the functions the table names."""

    name: str                         # e.g. "send"
    doc: str                          # which QEMU function, at which commit
    states: tuple                     # control states; the first is the initial one
    rows: tuple                       # the transition table (dicts made by row())
    functions: Mapping[str, Callable] = field(repr=False)   # guards and effects by name
    pc_field: str = ""                # the State field holding the program counter
    per_channel: bool = False         # one thread per channel, or a single thread
    thread: str = ""                  # thread name in traces: "mig", "send[{t}]"
    transaction_starts: tuple = ()    # states where a declared transaction starts (above)
    merged_waits: tuple = ()          # states of a run of waits taken as one step (above)
    quiet_waits: tuple = ()           # states that join those runs where `quiet_if` says
                                      # (above), as transaction starts too
    quiet_if: Callable = None         # config -> whether they do
    quiet_holds: Callable = None      # (config, state) -> whether what they rest on holds
    start: Mapping = field(default_factory=dict)   # transport -> first state, if not states[0]
    start_if: Callable = None         # config -> first state name, or None (then `start`)
    # The role's loops over channels in index order, which channel symmetry must respect:
    loop_index: str = ""              # the State field holding the loops' position
    channel_loops: tuple = ()         # states inside such a loop, at position `loop_index`
    atomic_loops: tuple = ()          # those loops that run whole inside one transaction
    committed: tuple = ()             # states where `loop_index` names the channel a wait
                                      # committed to (--loops any keeps it)
    any_order: "AnyOrder" = None      # how the loops run in any order (--loops any)

    def start_state(self, config: Config) -> int:
        name = self.start_if(config) if self.start_if else None
        return self.states.index(name or self.start.get(config.transport, self.states[0]))

    def with_rows(self, rows, functions=None, states=()) -> "Role":
        merged = dict(self.functions)
        merged.update(functions or {})
        return replace(self, rows=tuple(rows), functions=merged,
                       states=self.states + tuple(states))


@dataclass(frozen=True)
class AnyOrder:
    """How a role's loops over channels in index order become loops in any order
    (--loops any): in the rows leaving `states`, each iteration picks a channel the
    loop has not visited, as a pick row, instead of taking the next index.

    `seen` is the per-channel field that keeps the visits. The index loops' guard
    `channels_left` becomes `picked_unvisited` in the rows that pick and
    `unvisited_left` in the others (both made here, over `seen`). `picks` maps the
    trigger of each row that picks to the effects it gains; the names in `pick_names`
    are renamed in those rows, and those in `names` in the others (guards and effects
    alike)."""

    seen: str
    states: tuple
    picks: Mapping
    pick_names: Mapping
    names: Mapping


def any_order(role: Role, spec: AnyOrder) -> Role:
    """`role` with its loops over channels in any order (see AnyOrder)."""
    return role.with_rows([_any_order_row(r, spec) if r["source"] in spec.states else r
                           for r in role.rows], _visit_guards(spec.seen))


def _visit_guards(seen: str) -> dict:
    """The guards of a loop that keeps its visits in per-channel field `seen`."""
    def unvisited_left(cfg, s, t, c):
        return not all(getattr(s, seen))

    def picked_unvisited(cfg, s, t, c):
        return getattr(s, seen)[c] == 0
    return {"unvisited_left": unvisited_left, "picked_unvisited": picked_unvisited}


def _any_order_row(r: dict, spec: AnyOrder) -> dict:
    pick = r["trigger"] in spec.picks
    names = {"channels_left": "picked_unvisited" if pick else "unvisited_left",
             **(spec.pick_names if pick else spec.names)}
    r = dict(r, conditions=[names.get(n, n) for n in r["conditions"]],
             unless=[names.get(n, n) for n in r["unless"]],
             after=[names.get(n, n) for n in r["after"]])
    if pick:
        r["prepare"], r["after"] = [PICK], r["after"] + list(spec.picks[r["trigger"]])
    return r


class CompiledRow(NamedTuple):
    trigger: str
    source: str
    dest: int
    guards: tuple          # ((bound guard, wanted truth value), ...)
    effects: tuple         # bound effects, applied in order
    pick: bool             # fans out over the channels
    qemu: str
    trace: Callable = None  # bound (s, t, c) -> the abstract events QEMU logs; None: untraced


def _failed(function, name, where, what) -> ModelError:
    """The one line for a function that failed at a step."""
    code = getattr(function, "__code__", None)
    path = code.co_filename if code else "?"
    internal = path.startswith(_MODEL_DIR)
    origin = "the model" if internal else f"variant file {path}"
    return ModelError(f"{origin}: {where}: {name} {what}", internal)


def _typed(function, kind, name, config, where, wanted: type, said: str):
    """`function` bound to `config`, as a guard or a row's trace: what it gives back must
    be of type `wanted` (`said`, in the error)."""
    what = f"{kind} {name}"

    def call(s, t, c):
        value = _called(function, what, where, config, s, t, c)
        if type(value) is not wanted:
            raise _failed(function, what, where, f"gave back {_shown(value)}, not {said}")
        return value
    call.__name__ = name
    return call


def _guard(function, name, config, where):
    """A guard: it must give True or False."""
    return _typed(function, "guard", name, config, where, bool, "True or False")


def _trace(function, name, config, where):
    """A row's trace: it must give a tuple of events."""
    return _typed(function, "trace", name, config, where, tuple, "a tuple of events")


def _effect(function, name, config, where):
    """`function` bound to `config`, as an effect that must give back the state."""
    def effect(s, t, c):
        after = _called(function, f"effect {name}", where, config, s, t, c)
        if type(after) is not type(s):      # (a step being recorded: the same recorder)
            hint = " (a missing `return`?)" if after is None else ""
            raise _failed(function, f"effect {name}", where,
                          f"gave back {_shown(after)}, not the state{hint}")
        return after
    effect.__name__ = name
    return effect


def _called(function, what, where, config, s, t, c):
    """function(config, s, t, c); an exception it raises becomes one line (ModelError)."""
    try:
        return function(config, s, t, c)
    except (ModelError, MemoryError):
        raise                           # memory: the run's bound, not the function's fault
    except Exception as e:
        raise _failed(function, what, where, f"raised {type(e).__name__}: {e}") from None


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_MODEL_DIR = __file__.rsplit("/", 1)[0] + "/"


def build_machine(role: Role) -> Machine:
    """The `transitions` machine declared by the role's table (for diagrams and review)."""
    validate_role(role)
    rows = [{k: v for k, v in r.items() if k not in ("qemu", "trace")} for r in role.rows]
    return Machine(model=None, states=list(role.states), transitions=rows,
                   initial=role.states[0], auto_transitions=False)


def validate_role(role: Role) -> None:
    """Raise ValueError naming the row that refers to an unknown state or function."""
    known = set(role.states)
    for r in role.rows:
        where = f"{role.name} row {r['trigger']!r} from {r['source']}"
        for end in (r["source"], r["dest"]):
            if end not in known:
                raise ValueError(f"{where}: unknown state {end!r}")
        trace = r.get("trace")
        if trace is not None and (not isinstance(trace, str) or trace not in role.functions):
            raise ValueError(f"{where}: trace must name a function (cfg, s, t, c) of the "
                             f"role, not {trace!r:.40}")
        for name in r["conditions"] + r["unless"] + r["after"] + ([trace] if trace else []):
            if name not in role.functions:
                raise ValueError(f"{where}: no guard or effect named {name!r}")
            if not callable(role.functions[name]):
                raise ValueError(f"{where}: {name} must be a function (cfg, s, t, c), not "
                                 f"{type(role.functions[name]).__name__}")
            if not _takes_four(role.functions[name]):
                raise ValueError(f"{where}: {name} must take (cfg, s, t, c)")


def _takes_four(function) -> bool:
    """Whether `function` can be called with the four arguments of a guard or effect."""
    try:
        inspect.signature(function).bind(None, None, None, None)
    except TypeError:
        return False
    except ValueError:          # no signature to read (a builtin): let the call say
        return True
    return True


def compile_role(role: Role, config: Config) -> tuple:
    """Per control state, the rows leaving it, with functions bound to `config` and
    checked as they run (see ModelError)."""
    validate_role(role)
    index = {name: i for i, name in enumerate(role.states)}
    table = [[] for _ in role.states]
    for r in role.rows:
        where = f"{role.name} row {r['trigger']!r} from {r['source']}"
        guards = tuple((_guard(role.functions[n], n, config, where), True)
                       for n in r["conditions"]) + \
            tuple((_guard(role.functions[n], n, config, where), False) for n in r["unless"])
        effects = tuple(_effect(role.functions[n], n, config, where) for n in r["after"])
        trace = r.get("trace")
        table[index[r["source"]]].append(CompiledRow(
            r["trigger"], r["source"], index[r["dest"]], guards, effects,
            PICK in r["prepare"], r["qemu"],
            trace and _trace(role.functions[trace], trace, config, where)))
    return tuple(tuple(rows) for rows in table)
