"""The variant catalogue: the seed design, and small named changes of it.

A variant is a list of edits to the thread tables (a row dropped, changed or added) and
of guard or effect functions replaced by name, the QEMU commit or the hypothesis it
stands for, and its expected verdict: `breaks` names the properties a run must find
violated (empty: every property must hold). `flush_modes` and `transports` say where the
variant means something; elsewhere it may equal the seed.

A variant may also bring State fields of its own (`fields`, `channel_fields`), properties
of its own (`invariant`, `sometimes`, `eventually`, `fair`), and build on another
(`based_on`). The catalogue's B5, B14, 077fbb5942 and flush-mode entries use that API as
a user's file would (README, "Checking your own patch").
"""

from dataclasses import dataclass, field
from typing import Callable, Mapping, NamedTuple, Optional

from .config import FLUSH_MODES, TRANSPORTS
from .machine import ModelError, row, validate_role
from .state import NO_JOB, add, put, state_type, touch_channel
from . import load, migration, monitor, recv, send

__all__ = ["Variant", "Drop", "Change", "Add", "row", "Claim", "invariant", "sometimes",
           "eventually", "fair", "CATALOGUE", "ROLES", "get_variant",
           "apply_variant", "load_variant_file", "VariantError", "NOT_MODELLED"]

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
    """Replace fields of one row: dest, when, unless, do (as row() takes them)."""
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
                "do": "after"}


def _changed(r: Mapping, to: Mapping) -> dict:
    new = dict(r)
    for key, value in to.items():
        if key not in _CHANGE_KEYS:
            raise VariantError(f"a Change may set {', '.join(_CHANGE_KEYS)}; not {key!r}")
        new[_CHANGE_KEYS[key]] = value if key in ("source", "dest") else list(
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
    return {name: role.with_rows(tables[name], variant.functions.get(name),
                                 variant.states.get(name, ()))
            for name, role in ROLES.items()}


_MAPPINGS = ("functions", "states", "fields", "channel_fields", "defaults")
_NAME_TUPLES = ("breaks", "flush_modes", "transports", "faults")


def _check_types(v) -> None:
    """A variant's parts of the types the API takes, or a VariantError naming the part."""
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
    from .config import Config
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


SEED = Variant(
    name="seed",
    stands_for="9d01778af8e3 migration/multifd: Prepare multifd sync for mapped-ram "
               "migration (with the multifd.c of a49d15a38d)",
    description="the seed design: the sync points of ram.c at the seed, QEMU 9.0 multifd.c",
)

NO_RECV_PARK = Variant(
    name="no-recv-park",
    stands_for="hypothesis: a recv thread need not park on p->sem_sync after a SYNC packet",
    description="multifd_recv_thread() posts the shared sem_sync after a SYNC packet and "
                "reads on, without waiting for multifd_recv_sync_main() to release it",
    breaks=("no_stale_overwrite",),
    edits=(Change("recv", "post_sem_sync", "SYNCING", to={"dest": "TOP"}),),
    transports=("socket",),
)

NO_WRAP_SYNC = Variant(
    name="no-wrap-sync",
    stands_for="hypothesis: the per-round sync at the scan wrap is not needed for ordering "
               "(the seed keeps it: 'that provides ordering between the rounds of dirty pages')",
    description="find_dirty_block() wraps without multifd_send_sync_main() and without "
                "the MULTIFD_FLUSH record",
    breaks=("no_stale_overwrite",),
    edits=(Drop("migration", "wrap_sync", "ITERATE"),
           Change("migration", "wrap", "ITERATE", to={"unless": ["pages_left"]})),
)

B4_EOS_WITHOUT_SYNC = Variant(
    name="b4-eos-without-sync",
    stands_for="b6526c4b2122 migration/multifd: call multifd_send_sync_main when sending "
               "RAM_SAVE_FLAG_EOS (the code before the fix)",
    description="ram_save_iterate() may jump to out: (blk_mig_bulk_active()) and write EOS "
                "without the per-section sync; the destination still syncs on that EOS",
    breaks=("no_deadlock",),
    edits=(Add("migration", row("skip_sync_to_out", "ROUND_END", "ROUND_DONE",
                                when=["syncs_per_section"], do="put_eos",
                                qemu="ram_save_iterate")),),
    flush_modes=("per-section",),
    transports=("socket",),
)

FREE_BEFORE_JOIN = Variant(
    name="free-before-join",
    stands_for="hypothesis: multifd_recv_cleanup() may free the channels before joining "
               "their threads (the ordering B5 9560a48ecc and B12 4ce5622908 got wrong)",
    description="the destination frees the recv channel state at vm_start(), then joins",
    breaks=("threads_joined_before_free",),
    edits=(Change("load", "vm_start", "VM_START",
                  to={"do": ["vm_start", "restart_loop", "free_recv_state"]}),
           Change("load", "free_recv_state", "CLEANUP", to={"do": []})),
)

NO_RECV_SYNC = Variant(
    name="no-recv-sync",
    stands_for="hypothesis: the destination need not run multifd_recv_sync_main() on "
               "MULTIFD_FLUSH or EOS (for mapped-ram, the seed's parent did not: its "
               "file-mode sync was a no-op)",
    description="ram_load_precopy() reads MULTIFD_FLUSH and EOS without syncing; parked "
                "recv threads wait until multifd_recv_shutdown() wakes them",
    breaks=("memory_matches_source_at_vm_start", "no_channel_io_at_cleanup"),
    edits=(Change("load", "read_flush", "READ_RECORD", to={"dest": "READ_RECORD"}),
           Change("load", "read_eos", "READ_RECORD", dest="RECV_SYNC",
                  to={"dest": "READ_RECORD"})),
    transports=("socket",),
)

STUCK_PENDING_JOB = Variant(
    name="stuck-pending-job",
    stands_for="hypothesis: a send thread leaves pending_job set after its write, as a "
               "channel that died mid-job does (B2, 713f762a31 'fix migrate_cancel leads "
               "live_migration thread endless loop')",
    description="multifd_send_thread() never clears pending_job, so multifd_send_pages() "
                "spins over busy channels forever",
    breaks=("end_always_reachable", "no_fair_livelock"),
    edits=(Change("send", "clear_pending_job", "JOB_SENT", to={"do": []}),),
    transports=("socket",),
    defaults={"channels": 1},
)


def _per_round(cfg, s, t, c):
    return cfg.per_round


def _per_section(cfg, s, t, c):
    return not cfg.per_round


def _never(cfg, s, t, c):
    return False


# ram.c before the seed: the sync points ignore mapped-ram (protocol notes §0.1, §3 I1).
_PARENT_SOURCE = {"flush_record": _per_round, "syncs_at_wrap": _per_round,
                  "syncs_per_section": _per_section}
# ... and its destination: no sync after MEM_SIZE, FLUSH valid, EOS syncs per section,
# and the parent's multifd.c, whose multifd_recv_sync_main() returns at once for files.
_PARENT_DESTINATION = {"syncs_after_mem_size": _never, "flush_invalid": _never,
                       "syncs_on_eos": _per_section, "file_sync_works": _never}

PARENT = Variant(
    name="parent",
    stands_for="2dd7ee7a51bc migration/multifd: Add incoming QIOChannelFile support "
               "(the seed's parent: ram.c and the file-mode recv sync before the seed)",
    description="mapped-ram source writes MULTIFD_FLUSH into the file and syncs per "
                "section when asked; the destination never waits for its read jobs",
    breaks=("no_read_in_flight_after_mem_size",),
    functions={"migration": _PARENT_SOURCE, "load": _PARENT_DESTINATION},
    transports=("file",),
)

PARENT_FILE_SEED_DEST = Variant(
    name="parent-file-seed-dest",
    stands_for="9d01778af8e3 (the seed) loading a file a parent (2dd7ee7a51bc) source wrote",
    description="the parent source writes MULTIFD_FLUSH into the mapped-ram file; the seed "
                "destination must fail with 'Unexpected RAM flags', never hang or start "
                "the VM",
    breaks=("vm_starts",),
    functions={"migration": _PARENT_SOURCE},
    flush_modes=("per-round",),
    transports=("file",),
)


def _set_bit_only(cfg, s, t, c):
    """8fa1a21c6e's bug: the clearing loop ran from pages->num to zero_num, i.e. never."""
    return s


B11_ZERO_PAGE_BITMAP = Variant(
    name="b11-zero-page-bitmap",
    stands_for="8fa1a21c6edc migration/multifd: Fix clearing of mapped-ram zero pages "
               "(the code before the fix)",
    description="multifd_set_file_bitmap() never clears the bit of a zero page, so a page "
                "that turns zero keeps its stale data in the file",
    breaks=("file_matches_source",),
    functions={"send": {"clear_file_bitmap": _set_bit_only}},
    transports=("file",),
)

NO_SYNC_BEFORE_BITMAP = Variant(
    name="no-sync-before-bitmap",
    stands_for="hypothesis: ram_save_complete() may write the bitmap with no sync after "
               "the last pages (no wrap sync, no final sync; 1d457daf86 keeps the wrap's)",
    description="the channels may still update file_bmap after ram_save_file_bmap() "
                "wrote and freed it",
    breaks=("bitmap_untouched_after_save",),
    edits=NO_WRAP_SYNC.edits + (Change("migration", "complete_sync", "ROUND_DONE",
                                       to={"dest": "COMPLETE_SYNCED", "do": []}),),
    transports=("file",),
)


def get_variant(name: str, extra: tuple = ()) -> Variant:
    """The variant called `name`, from `extra` (a user's file) first, then the catalogue."""
    for variant in extra + CATALOGUE:
        if variant.name == name:
            return variant
    names = ", ".join(v.name for v in extra + CATALOGUE)
    raise VariantError(f"unknown variant {name!r} (known: {names})")


# -- P1: a recv thread's pread fails; the others exit; multifd_recv_sync_main() waits on --

def _post_sem_sync(cfg, s, t, c):
    """qemu_sem_post(&multifd_recv_state->sem_sync) as the recv thread leaves."""
    return s.replace(sem_sync=s.sem_sync + 1)


# Every way out of multifd_recv_thread() but a crash, with the effects it already has.
_RECV_EXITS = (("see_exiting", "TOP", ()), ("read_eof", "READ", ()),
               ("see_exiting", "FILE_WOKEN", ()), ("terminate_threads", "READ_ERROR",
                                                   ("terminate_threads",)),
               ("read_early_eof", "READ", ("use_fault", "close_channel")))


_RECV_EXITS_POST = tuple(Change("recv", trigger, source,
                               to={"do": list(effects) + ["post_sem_sync_on_exit"]})
                        for trigger, source, effects in _RECV_EXITS)


def _recv_thread_gone(cfg, s, t, c):
    """A recv thread has left multifd_recv_thread(), by an error, `exiting` or an EOF."""
    return any(pc == recv.EXITED for pc in s.recv_pc)


_RECV_POSTS_ON_EXIT = {"recv": {"post_sem_sync_on_exit": _post_sem_sync},
                       "load": {"recv_thread_gone": _recv_thread_gone}}

# read_ramblock_mapped_ram()'s err: path sets a real Error: parse_ramblocks() fails and
# ram_load_precopy() goes on to its unconditional multifd_recv_sync_main().
_P1B_FIX = (Change("load", "multifd_recv_fails", "PICK_CHANNEL",
                   to={"dest": "RECV_SYNC", "do": ["fail_load"]}),)

# multifd_recv_sync_main() returns an error, after its waits, when a recv thread has left
# (by an error, `exiting` or an early EOF), and ram_load_precopy() fails on it.
_SYNC_REPORTS_EXIT = (
    Change("load", "file_sync_done", "SYNC_WAIT",
           to={"unless": ["channels_left", "load_failed", "recv_thread_gone"]}),
    Change("load", "start_release", "SYNC_WAIT",
           to={"unless": ["channels_left", "mapped_ram", "recv_thread_gone"]}),
    Add("load", row("sync_sees_exiting", "SYNC_WAIT", "SHUTDOWN", when=["recv_thread_gone"],
                    unless=["channels_left", "load_failed"], do=["fail_load", "set_exiting"],
                    qemu="multifd_recv_sync_main")),
)

P1B_FIX = Variant(
    name="p1b-fix",
    stands_for="hypothesis: read_ramblock_mapped_ram() sets a real Error when multifd_recv() "
               "fails (P1b fixed alone; p1-real-qemu.md §4 predicts the P1 hang instead)",
    description="parse_ramblocks() fails cleanly, then multifd_recv_sync_main() runs anyway",
    breaks=("no_deadlock",),
    edits=_P1B_FIX,
    transports=("file",),
    faults=("recv-read-error",),
)

P1_FIX_RECV_EXIT_POSTS = Variant(
    name="p1-fix-recv-exit-posts",
    stands_for="hypothesis: every recv thread posts multifd_recv_state->sem_sync as it exits "
               "(as Prasad Pandit's unmerged v7 5/5 did, Feb 2025)",
    description="the sync after MEM_SIZE returns, but nobody tells the load thread that a "
                "read failed: the VM starts with a page missing",
    breaks=("memory_matches_source_at_vm_start",),
    edits=_RECV_EXITS_POST + _P1B_FIX,
    functions=_RECV_POSTS_ON_EXIT,
    transports=("file",),
    faults=("recv-read-error",),
)

P1_FIX_SYNC_CHECKS_EXITING = Variant(
    name="p1-fix-sync-checks-exiting",
    stands_for="hypothesis: multifd_recv_sync_main() checks multifd_recv_should_exit() "
               "before each wait and fails the load",
    description="a recv thread can fail after the check, while the load thread already "
                "waits: the hang stays",
    breaks=("no_deadlock",),
    states={"load": ("SYNC_CHECK",)},
    edits=_P1B_FIX + (
        Change("load", "start_waits", "FILE_SYNC_POST", to={"dest": "SYNC_CHECK"}),
        Change("load", "sync_socket_channels", "RECV_SYNC", to={"dest": "SYNC_CHECK"}),
        Change("load", "wait_sem_sync", "SYNC_WAIT", to={"dest": "SYNC_CHECK"}),
        Add("load", row("sync_sees_exiting", "SYNC_CHECK", "SHUTDOWN",
                        when=["channels_left", "recv_exiting"], do=["fail_load", "set_exiting"],
                        qemu="multifd_recv_sync_main")),
        Add("load", row("pass_exiting_check", "SYNC_CHECK", "SYNC_WAIT", when=["channels_left"],
                        unless=["recv_exiting"], qemu="multifd_recv_sync_main")),
        Change("load", "start_release", "SYNC_WAIT", to={"source": "SYNC_CHECK"}),
        Change("load", "file_sync_done", "SYNC_WAIT", to={"source": "SYNC_CHECK"}),
        Change("load", "fail_after_sync", "SYNC_WAIT", to={"source": "SYNC_CHECK"})),
    transports=("file",),
    faults=("recv-read-error",),
)

P1_FIX_SKIP_SYNC = Variant(
    name="p1-fix-skip-sync-on-parse-error",
    stands_for="hypothesis: ram_load_precopy() skips multifd_recv_sync_main() when "
               "parse_ramblocks() failed (with P1b fixed, so that it can fail)",
    description="the real hangs have parse_ramblocks() succeed (the recv error is never "
                "passed back), so the hang stays",
    breaks=("no_deadlock",),
    edits=(Change("load", "multifd_recv_fails", "PICK_CHANNEL",
                  to={"dest": "SHUTDOWN", "do": ["fail_load", "set_exiting"]}),),
    transports=("file",),
    faults=("recv-read-error",),
)

P1_FIX = Variant(
    name="p1-fix",
    stands_for="hypothesis: recv threads post sem_sync as they exit, and "
               "multifd_recv_sync_main() then fails when one has left (with P1b's err: path "
               "setting a real Error)",
    description="the smallest change the checker finds sufficient: the load fails cleanly "
                "on a recv read error, wherever it strikes",
    edits=_RECV_EXITS_POST + _P1B_FIX + _SYNC_REPORTS_EXIT,
    functions=_RECV_POSTS_ON_EXIT,
    faults=("recv-read-error",),
    defaults={"transport": "file"},
)


# -- P2: one send channel fails; another exits on `exiting` without posting sem_sync ----

def _kick_all(cfg, s, t, c):
    """The failing thread posts every channel's p->sem_sync (and channels_ready once)."""
    return s.replace(send_sem_sync=tuple(v + 1 for v in s.send_sem_sync),
                     channels_ready=s.channels_ready + 1)


_EXIT_KICKS = (Change("send", "see_exiting", "DISPATCH", to={"do": ["kick_main"]}),)
_RECHECK_AFTER_WAIT = tuple(
    Change("migration", f"return_to_{caller}", "SYNC_COLLECT",
           to={"unless": ["channels_left", "send_exiting"]})
    for caller in ("setup", "wrap", "section", "complete")) + (
    Add("migration", row("sync_sees_exiting", "SYNC_COLLECT", "MULTIFD_FAILED",
                         when=["send_exiting"], unless=["channels_left"],
                         qemu="multifd_send_sync_main")),)

P2_FIX_EXIT_KICKS = Variant(
    name="p2-fix-exit-kicks",
    stands_for="hypothesis: every exiting send thread runs multifd_send_kick_main() (part 1 "
               "of the fix tested in p2-real-qemu.md §5)",
    description="the migration thread wakes, but a kick for the last channel looks like a "
                "finished sync: MULTIFD_FLUSH goes out with a SYNC packet missing",
    breaks=("no_deadlock",),
    edits=_EXIT_KICKS,
    transports=("socket",),
    faults=("send-write-error",),
)

P2_FIX_KICK_ALL = Variant(
    name="p2-fix-kick-all",
    stands_for="hypothesis: the failing send thread posts every channel's sem_sync",
    description="the same hole as p2-fix-exit-kicks: a kick looks like a finished sync",
    breaks=("no_deadlock",),
    edits=(Change("send", "set_error", "SEND_ERROR", to={"do": ["set_error", "kick_all"]}),),
    functions={"send": {"kick_all": _kick_all}},
    transports=("socket",),
    faults=("send-write-error",),
)

P2_FIX = Variant(
    name="p2-fix",
    stands_for="hypothesis: the 2-part fix tested on QEMU 10.0.2 (p2-real-qemu.md §5): every "
               "exiting send thread kicks main, and multifd_send_sync_main() re-checks "
               "exiting after each wait",
    description="no hang on either side under a send write error",
    edits=_EXIT_KICKS + _RECHECK_AFTER_WAIT,
    faults=("send-write-error",),
)


# -- QEMU versions after the seed (protocol notes §2.9) ----------------------------------

def _never(cfg, s, t, c):
    return False


_NO_FINAL_FLUSH = (
    Drop("migration", "put_flush", "BITMAP_SAVED"),
    Change("migration", "put_eos", "BITMAP_SAVED", to={"unless": []}),
)
# 0bd5b9284f (9.1): a file channel that fails to be created no longer ends the setup loop.
_B13_FIXED = (Change("migration", "create_file_channel_fails", "CREATE", to={"dest": "CREATE"}),)

QEMU_9_1 = Variant(
    name="qemu-9.1",
    stands_for="637280aeb242 migration/multifd: Avoid the final FLUSH in complete() (9.1)",
    description="ram_save_complete() keeps its final sync but writes no MULTIFD_FLUSH: the "
                "recv threads stay parked at the last SYNC until shutdown (B14)",
    edits=_NO_FINAL_FLUSH + _B13_FIXED,
)

QEMU_10_0 = Variant(
    name="qemu-10.0",
    stands_for="1d457daf8681 migration/multifd: Further remove the SYNC on complete (10.0; "
               "with 637280aeb2 and 10801e08ac: mapped-ram syncs LOCAL)",
    description="ram_save_complete() syncs only in per-section mode and writes no FLUSH; "
                "mapped-ram relies on the last wrap's sync before the bitmap",
    edits=_NO_FINAL_FLUSH + _B13_FIXED + (
        Change("migration", "complete_sync", "ROUND_DONE", to={"when": ["syncs_per_section"]}),
        Add("migration", row("skip_complete_sync", "ROUND_DONE", "COMPLETE_SYNCED",
                             unless=["rounds_left", "syncs_per_section"],
                             qemu="ram_save_complete")),
    ),
)


def load_variant_file(path: str) -> tuple:
    """The Variant objects a user's Python file defines at top level, in file order.

    The file uses this module's API (Variant, Drop, Change, Add, row), as the catalogue
    does. Errors come back as VariantError with one line naming the file and line.
    """
    found = []
    for value in _run_file(path).values():     # its own variants (not imported catalogue ones)
        if isinstance(value, Variant) and not any(value is v for v in CATALOGUE + tuple(found)):
            found.append(value)
    found = tuple(found)
    if not found:
        raise VariantError(f"variant file {path}: defines no Variant")
    names = [v.name for v in found]
    for variant in found:
        if names.count(variant.name) > 1:
            raise VariantError(f"variant file {path}: two variants are named {variant.name!r}")
        if any(variant.name == v.name for v in CATALOGUE):
            raise VariantError(f"variant file {path}: variant {variant.name!r} has the name of "
                               f"a catalogue variant; give it a name of its own")
        try:                         # a bad edit or name is reported now, with the variant
            for role in apply_variant(variant).values():
                validate_role(role)
        except (VariantError, ValueError) as e:
            text = str(e).removeprefix(f"variant {variant.name}: ")
            raise VariantError(f"variant file {path}: variant {variant.name}: {text}") from None
    return found


def _run_file(path: str) -> dict:
    """The names a user's Python file defines at top level; any failure in one line."""
    import runpy
    import traceback
    try:
        return runpy.run_path(path)
    except FileNotFoundError:
        raise VariantError(f"variant file {path}: no such file") from None
    except IsADirectoryError:
        raise VariantError(f"variant file {path}: is a directory") from None
    except (Exception, SystemExit) as e:  # a user's file: report where it broke, in one line
        frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == path]
        where = f" line {frames[-1].lineno}" if frames else ""
        what = "calls sys.exit(); a variant file only defines variants" \
            if isinstance(e, SystemExit) else str(e) if isinstance(e, VariantError) \
            else f"{type(e).__name__}: {e}"
        raise VariantError(f"variant file {path}{where}: {what}") from None


# -- historical bugs (protocol notes §4), each on top of the code that fixed it ----------
# B1 and B2 are send-side error paths: they are modelled on p2-fix, whose error paths are
# otherwise sound, so the fixed variant (p2-fix) passes under the same fault.

B1_NO_KICK_ON_PAGE_ERROR = Variant(
    name="b1-no-kick-on-page-error",
    stands_for="2f4aefd320a8 migration: multifd_send_thread always post p->sem_sync when "
               "error happen (the code before the fix)",
    description="a failed page write exits without posting sem_sync; only a failed SYNC "
                "write does: the migration thread waits in multifd_send_sync_main()",
    breaks=("no_deadlock",),
    edits=P2_FIX.edits + (Change("send", "page_write_fails", "DISPATCH",
                                 to={"dest": "EXITED", "do": ["use_fault", "set_error"]}),),
    transports=("socket",),
    faults=("send-write-error",),
)

B2_HUNG_FOREVER = Variant(
    name="b2-hung-forever",
    stands_for="a3ec6b7d2365 migration/multifd: fix migrate_cancel multifd migration leads "
               "destination hung forever (the code before: an erroring send thread posts "
               "nothing)",
    description="a send thread that fails posts neither sem_sync nor channels_ready",
    breaks=("no_deadlock",),
    edits=P2_FIX.edits + (Change("send", "set_error", "SEND_ERROR", to={"do": ["set_error"]}),),
    transports=("socket",),
    faults=("send-write-error",),
)

B2_ENDLESS_LOOP = Variant(
    name="b2-endless-loop",
    stands_for="713f762a3163 migration: fix migrate_cancel leads live_migration thread "
               "endless loop (the code before the fix)",
    description="multifd_send_pages() spins over the channels with no exiting check; a "
                "channel that died mid-job never clears pending_job",
    breaks=("end_always_reachable", "no_fair_livelock"),
    edits=P2_FIX.edits + (
        Drop("migration", "send_pages_sees_exiting", "ITERATE"),
        Drop("migration", "pick_sees_exiting", "PICK"),
        Change("migration", "wait_channels_ready", "ITERATE",
               to={"when": ["pages_left", "channel_ready"], "unless": []}),
        Change("migration", "spin_for_idle_channel", "PICK", to={"unless": []}),
        Change("migration", "queue_page", "PICK", to={"unless": []})),
    transports=("socket",),
    faults=("send-write-error",),
    defaults={"channels": 1},
)


def _read_handed_over_buffer(cfg, s, t, c):
    """multifd_queue_page() reads pages->block after multifd_send_pages() handed `pages`
    to channel c: the channel owns it while pending_job is set."""
    return s.replace(job_read_after_handover=1) if s.pending_job[c] else s


B9_READ_AFTER_HANDOVER = Variant(
    name="b9-read-after-handover",
    stands_for="ddbe628c97c3 multifd: Fix a race on reading MultiFDPages_t.block (the code "
               "before the fix)",
    description="after handing the page buffer to a channel, multifd_queue_page() still "
                "reads pages->block from it",
    breaks=("job_buffer_single_owner",),
    edits=(Change("migration", "queue_page", "PICK",
                  to={"do": ["queue_page", "read_handed_over_buffer"]}),),
    functions={"migration": {"read_handed_over_buffer": _read_handed_over_buffer}},
    transports=("socket",),
)

# Before d2026ee117: the send thread posts channels_ready after every job, the sync's
# included, and multifd_send_sync_main() never waits on it.
_READY_AFTER_EVERY_JOB = (
    Change("send", "post_channels_ready", "TOP", to={"do": []}),
    Change("send", "clear_pending_job", "JOB_SENT",
           to={"do": ["clear_pending_job", "post_channels_ready"]}),
    Change("send", "post_sem_sync", "SYNC_SENT",
           to={"do": ["post_sem_sync", "post_channels_ready"]}),
    Change("migration", "pass_exiting_check", "SYNC_COLLECT", to={"dest": "SYNC_WAIT_SYNC"}),
)

B6_CHANNELS_READY_OVERCOUNT = Variant(
    name="b6-channels-ready-overcount",
    stands_for="d2026ee11714 multifd: Fix the number of channels ready (the code before the "
               "fix, as in QEMU 7.2)",
    description="channels_ready is posted after every job and never taken by the sync: it "
                "grows by N a sync, and multifd_send_pages() spins while every channel is busy",
    breaks=("channels_ready_bounded",),
    edits=_READY_AFTER_EVERY_JOB,
    transports=("socket",),
)


# -- QEMU 7.2 (Debian bookworm; protocol notes §2.10) ------------------------------------

def _take_job_72(cfg, s, t, c):
    """7.2 multifd_send_thread(): under p->mutex, the packet takes p->pages and p->flags
    (MULTIFD_FLAG_SYNC if a sync was requested): a SYNC can ride on a data packet."""
    job = s.send_job[t]
    pages = job & ~1 if job != NO_JOB else 0
    packet = pages | (1 if s.pending_sync[t] else 0)
    return s.replace(send_job=put(s.send_job, t, packet), pending_sync=put(s.pending_sync, t, 0),
                     sockets=put(s.sockets, t, s.sockets[t] + (packet,)))


def _finish_job_72(cfg, s, t, c):
    """pending_job--; if the packet carried SYNC, post p->sem_sync; post channels_ready."""
    packet = s.send_job[t]
    s = s.replace(pending_job=put(s.pending_job, t, s.pending_job[t] - 1),
                  send_job=put(s.send_job, t, NO_JOB), channels_ready=s.channels_ready + 1)
    if packet & 1:
        s = s.replace(send_sem_sync=put(s.send_sem_sync, t, s.send_sem_sync[t] + 1))
    return s


def _job_counted(cfg, s, t, c):
    return s.pending_job[t] > 0


def _bump_pending_job(cfg, s, t, c):
    """7.2 multifd_send_sync_main(): p->flags |= MULTIFD_FLAG_SYNC; p->pending_job++."""
    i = s.mig_i - 1
    return s.replace(pending_job=put(s.pending_job, i, s.pending_job[i] + 1))


_QEMU_7_2_SOURCE = (
    # send thread: no post at the loop top; one packet per pending_job count
    Change("send", "post_channels_ready", "TOP", to={"do": []}),
    Drop("send", "write_page_packet", "DISPATCH"),
    Drop("send", "write_sync_packet", "DISPATCH"),
    Add("send", row("write_packet", "DISPATCH", "JOB_SENT", when=["job_counted"],
                    unless=["exiting", "mapped_ram", "peer_closed"], do="take_job_72",
                    qemu="multifd_send_thread")),
    Change("send", "clear_pending_job", "JOB_SENT", to={"do": ["finish_job_72"]}),
    Add("send", row("spurious_wakeup", "DISPATCH", "TOP", unless=["exiting", "job_counted"],
                    qemu="multifd_send_thread")),
    # migration thread: the sync bumps pending_job and waits only on p->sem_sync
    Change("migration", "request_sync", "SYNC_REQUEST", to={"do": ["request_sync", "bump_pending_job"]}),
    Drop("migration", "sync_sees_exiting", "SYNC_COLLECT"),
    Change("migration", "pass_exiting_check", "SYNC_COLLECT",
           to={"dest": "SYNC_WAIT_SYNC", "unless": []}),
    Change("migration", "queue_page", "PICK", to={"do": ["queue_page", "read_handed_over_buffer"]}),
)
_QEMU_7_2_DESTINATION = (
    # multifd_load_cleanup() (terminate, join, free) before vm_start()
    Change("load", "kicks_done", "SHUTDOWN", to={"dest": "CLEANUP", "do": ["restart_loop"]}),
    Change("load", "free_recv_state", "CLEANUP",
           to={"dest": "VM_START", "unless": ["channels_left", "load_failed"]}),
    Add("load", row("free_recv_state", "CLEANUP", "DONE", when=["load_failed"],
                    unless=["channels_left"], do="free_recv_state", qemu="multifd_load_cleanup")),
    Change("load", "vm_start", "VM_START", to={"dest": "DONE", "do": ["vm_start"]}),
)
_QEMU_7_2_FUNCTIONS = {
    "send": {"take_job_72": _take_job_72, "finish_job_72": _finish_job_72,
             "job_counted": _job_counted},
    "migration": {"bump_pending_job": _bump_pending_job,
                  "read_handed_over_buffer": _read_handed_over_buffer},
}

QEMU_7_2 = Variant(
    name="qemu-7.2",
    stands_for="b67b00e6b4c7 v7.2.0 (Debian bookworm's QEMU): multifd before the 8.x-9.0 "
               "reworks",
    description="a job and a sync share pending_job, so a SYNC can ride on a data packet, "
                "then an empty packet; channels_ready posted after every job (B6); "
                "pages->block read after the handover (B9); per-section sync only",
    breaks=("channels_ready_bounded", "job_buffer_single_owner"),
    edits=_QEMU_7_2_SOURCE + _QEMU_7_2_DESTINATION,
    functions=_QEMU_7_2_FUNCTIONS,
    flush_modes=("per-section",),
    transports=("socket",),
    only=True,
    defaults={"pages": 1},
)


def _sync_packet_any(cfg, s, t, c):
    """9.2 (d7e58f412c): a packet with MULTIFD_FLAG_SYNC is a sync; its pages are skipped."""
    socket = s.sockets[t]
    return bool(socket) and socket[0] >= 0 and bool(socket[0] & 1)


def _page_packet_without_sync(cfg, s, t, c):
    socket = s.sockets[t]
    return bool(socket) and socket[0] > 1 and not socket[0] & 1


B15_72_SOURCE_92_DEST = Variant(
    name="b15-72-source-92-dest",
    stands_for="b93d897ea2f0 migration/multifd: Fix compat with QEMU < 9.0 (the code before "
               "the fix: a 9.2 destination loading from a 7.2 source)",
    description="the 7.2 source puts pages in SYNC packets; the 9.2 destination reads a SYNC "
                "packet's header only, and those pages are lost",
    breaks=("memory_matches_source_at_vm_start",),
    edits=_QEMU_7_2_SOURCE,
    functions={**_QEMU_7_2_FUNCTIONS,
               "recv": {"sync_packet_next": _sync_packet_any,
                        "page_packet_next": _page_packet_without_sync}},
    flush_modes=("per-section",),
    transports=("socket",),
    only=True,
    defaults={"channels": 1, "live": False},
)


P1_P2_FIX = Variant(
    name="p1-p2-fix",
    stands_for="hypothesis: p1-fix and p2-fix together (a failure on one side of a socket "
               "migration reaches the other as a write error or an early end)",
    description="both hangs fixed: every fault ends in a clean failure on both sides",
    edits=P1_FIX.edits + P2_FIX.edits,
    functions=P1_FIX.functions,
    faults=("recv-read-error", "send-write-error", "recv-eof", "cancel"),
    defaults={"pages": 1, "live": False},
)


def _mark_received(cfg, s, t, c):
    """9.1 (5ef7e26bdb): a recv thread sets the page's bit in rb->receivedmap."""
    return s.replace(receivedmap_after_free=1) if s.receivedmap_freed else s


def _free_receivedmap(cfg, s, t, c):
    """qemu_loadvm_state() ends with qemu_loadvm_state_cleanup(): receivedmap is freed."""
    return s.replace(receivedmap_freed=1)


B12_RECEIVEDMAP_RACE = Variant(
    name="b12-receivedmap-race",
    stands_for="4ce562290878 migration/multifd: Fix rb->receivedmap cleanup race (the code "
               "before the fix; on p1-p2-fix, so the fixed order passes the same faults)",
    description="recv threads mark receivedmap (9.1), and qemu_loadvm_state() frees it as it "
                "returns, before multifd_recv_cleanup() joins them",
    breaks=("receivedmap_untouched_after_free",),
    edits=P1_P2_FIX.edits + (
        Change("recv", "write_guest_page", "RECEIVING", dest="TOP",
               to={"do": ["write_guest_page", "mark_received"]}),
        Change("recv", "write_guest_page", "RECEIVING", dest="SYNCING",
               to={"do": ["write_guest_page", "mark_received"]}),
        Change("load", "read_vm_eof", "READ_RECORD",
               to={"do": ["take_record", "free_receivedmap", "set_exiting"]}),
        Change("load", "read_stream_eof", "READ_RECORD",
               to={"do": ["take_record", "fail_load", "free_receivedmap", "set_exiting"]})),
    functions={**P1_P2_FIX.functions, "recv": {**P1_P2_FIX.functions["recv"],
                                               "mark_received": _mark_received},
               "load": {**P1_P2_FIX.functions["load"], "free_receivedmap": _free_receivedmap}},
    transports=("socket",),
    faults=("send-write-error",),
)


def _flush_just_requested(cfg, s, t, c):
    """7.2: qio_channel_flush() right after qemu_sem_post(&p->sem), before the channel ran."""
    return migration._flush(cfg, s, s.mig_i - 1)


B7_FLUSH_BEFORE_SEND = Variant(
    name="b7-flush-before-send",
    stands_for="ebfc57871506 multifd: Fix flush of zero copy page send request (the code "
               "before the fix, as in 7.2)",
    description="with zero-copy, multifd_send_sync_main() flushes each channel right after "
                "requesting its sync, before the channel has sent anything",
    breaks=("zero_copy_flush_after_send",),
    edits=(Change("migration", "request_sync", "SYNC_REQUEST",
                  to={"do": ["request_sync", "flush_just_requested"]}),
           Change("migration", "wait_sem_sync", "SYNC_WAIT_SYNC", to={"do": ["take_sem_sync"]})),
    functions={"migration": {"flush_just_requested": _flush_just_requested}},
    transports=("socket",),
    defaults={"zero_copy": True, "pages": 1},
)


B13_SETUP_ABORT = Variant(
    name="b13-setup-abort",
    stands_for="0bd5b9284fa9 migration/multifd: Fix multifd_send_setup cleanup when channel "
               "creation fails (the code before the fix: the seed's own multifd_send_setup())",
    description="a file channel that fails to be created returns from the setup loop at "
                "once; terminate then posts semaphores that were never initialized",
    breaks=("terminate_touches_initialized_channels",),
    transports=("file",),
    faults=("channel-create-error",),
    defaults={"pages": 1, "live": False},
)

B13_FIX = Variant(
    name="b13-fix",
    stands_for="0bd5b9284fa9 migration/multifd: Fix multifd_send_setup cleanup when channel "
               "creation fails (9.1; the seed has the bug, B13)",
    description="a file channel that fails to be created no longer ends the setup loop: "
                "every channel is initialized and waited for, then setup fails",
    edits=_B13_FIXED,
    transports=("file",),
    faults=("channel-create-error",),
)


# -- the catalogue, in the order `multifd-check variants` lists it ------------------------
# -- B5, B14, 077fbb5942 and a flush-mode mismatch: written with the variant API a user
#    has (own fields, own properties, based_on), and judged like the rest

def _fault_free(cfg) -> bool:
    return not cfg.faults


def _kick_noting_parked(cfg, s, t, c):
    """multifd_recv_terminate_threads() posting p->sem_sync: note a recv thread parked at
    a SYNC packet that no multifd_recv_sync_main() released, freed by the shutdown."""
    i = s.load_i
    if not cfg.mapped_ram and s.recv_pc[i] == recv.PARKED and not s.recv_sem_sync[i]:
        s = s.replace(sync_released_by_shutdown=1)
    return load.kick_channel(cfg, s, t, c)


def every_sync_released_by_recv_sync_main(cfg, s) -> bool:
    """Every SYNC packet a recv thread parks on is released by multifd_recv_sync_main(),
    never only by the shutdown (I3(b): per channel, as many destination syncs as SYNC
    packets).

    1d457daf86 "migration/multifd: Further remove the SYNC on complete": with the final
    FLUSH gone and the final SYNC kept, "the recv threads will hang when receiving the
    MULTIFD_FLAG_SYNC message, waiting for the destination sync which only happens when
    RAM_SAVE_FLAG_MULTIFD_FLUSH is received" (B14). Checked without faults: after a
    failure the shutdown is what releases them.
    """
    return not s.sync_released_by_shutdown


_B14_GHOST = dict(
    fields={"sync_released_by_shutdown": 0},
    functions={"load": {"kick_noting_parked": _kick_noting_parked}},
    edits=(Change("load", "kick_channel", "SHUTDOWN", to={"do": ["kick_noting_parked"]}),),
    properties=(invariant(every_sync_released_by_recv_sync_main, applies=_fault_free),),
    transports=("socket",), flush_modes=("per-round",),
    defaults={"pages": 1, "rounds": 1, "live": False})

B14_SYNC_WITHOUT_FLUSH = Variant(
    name="b14-sync-without-flush",
    stands_for="637280aeb242 migration/multifd: Avoid the final FLUSH in complete() (9.1)",
    description="the final SYNC packets have no FLUSH after them: the recv threads stay "
                "parked until multifd_recv_terminate_threads() posts them (B14)",
    breaks=("every_sync_released_by_recv_sync_main",), based_on=QEMU_9_1, **_B14_GHOST)

B14_FIX = Variant(
    name="b14-fix",
    stands_for="1d457daf8681 migration/multifd: Further remove the SYNC on complete (10.0)",
    description="no SYNC in complete() unless per-section: every SYNC is released by "
                "multifd_recv_sync_main()",
    based_on=QEMU_10_0, **_B14_GHOST)


def _join_and_destroy(cfg, s, t, c):
    """multifd_save_cleanup() before 9560a48ecc: join channel i, then destroy its mutex
    and semaphores (multifd_send_cleanup_channel) in the same loop iteration."""
    i = s.mig_i
    s = migration.join_send_thread(cfg, s, t, c)
    return s.replace(send_destroyed=put(s.send_destroyed, i, 1))


def _terminate_next(cfg, s, t, c):
    """multifd_send_terminate_threads() called by the failing send thread (2019: no
    `exiting` check): lock p->mutex, p->quit = true, post p->sem, channel by channel."""
    j = s.term_i[t]
    s = touch_channel(s, j)
    return s.replace(send_sem=add(s.send_sem, j, 1), term_i=put(s.term_i, t, j + 1))


def _channels_left_to_terminate(cfg, s, t, c):
    return s.term_i[t] < cfg.channels


_TERMINATE_FROM_SEND_THREAD = dict(
    channel_fields={"term_i": 0},
    states={"send": ("TERMINATE",)},
    functions={"send": {"terminate_next": _terminate_next,
                        "channels_left_to_terminate": _channels_left_to_terminate},
               "migration": {"join_and_destroy": _join_and_destroy}},
    faults=("send-write-error",), transports=("socket",),
    defaults={"pages": 1, "rounds": 1, "live": False, "pick": "round-robin"})
_TERMINATE_ROWS = (
    Change("send", "set_error", "SEND_ERROR", to={"dest": "TERMINATE"}),
    Add("send", row("terminate_channel", "TERMINATE", "TERMINATE",
                    when=["channels_left_to_terminate"], do="terminate_next",
                    qemu="multifd_send_terminate_threads")),
    Add("send", row("terminated", "TERMINATE", "EXITED", unless=["channels_left_to_terminate"],
                    qemu="multifd_send_terminate_threads")))

B5_DESTROY_IN_JOIN_LOOP = Variant(
    name="b5-destroy-in-join-loop",
    stands_for="9560a48ecc migration/multifd: fix destroyed mutex access in terminating "
               "multifd threads (the code before the fix)",
    description="cleanup destroys each channel right after joining it, while a failing "
                "send thread's terminate still touches every channel (B5)",
    breaks=("nothing_touches_destroyed_channel",), based_on=P2_FIX,
    edits=_TERMINATE_ROWS + (
        Change("migration", "join_send_thread", "JOIN", to={"do": ["join_and_destroy"]}),),
    **_TERMINATE_FROM_SEND_THREAD)

B5_FIX = Variant(
    name="b5-fix",
    stands_for="9560a48ecc migration/multifd: fix destroyed mutex access in terminating "
               "multifd threads (2019; QEMU 5.0)",
    description="join every channel first, then destroy them all: a terminate running "
                "late touches live objects",
    based_on=P2_FIX, edits=_TERMINATE_ROWS, **_TERMINATE_FROM_SEND_THREAD)


def _post_sem_only(cfg, s, t, c):
    """multifd_send_terminate_threads() before 077fbb5942: qemu_sem_post(&p->sem) and no
    qio_channel_shutdown(p->c), so a thread blocked in sendmsg() stays there."""
    i = s.mig_i
    s = touch_channel(s, i)
    return s.replace(send_sem=add(s.send_sem, i, 1), mig_i=i + 1)


def cleanup_joins_return(cfg, s) -> bool:
    """Goal: the migration thread is not in the join loop of multifd_send_shutdown(), so
    from every state a state where every join has returned stays reachable.

    077fbb5942 "multifd: Shut down the QIO channels to avoid blocking the send threads
    when they are terminated": "The main thread is blocked on qemu_thread_join ... other
    send threads are blocked on sendmsg. They could not be terminated."
    """
    return s.mig_pc != migration.STATES.index("JOIN")


_STALL = dict(properties=(eventually(cleanup_joins_return),), faults=("network-stall",),
              transports=("socket",),
              defaults={"pages": 1, "rounds": 1, "live": False, "socket_capacity": 1})

BEFORE_077FBB5942 = Variant(
    name="before-077fbb5942",
    stands_for="077fbb5942 multifd: Shut down the QIO channels to avoid blocking the send "
               "threads when they are terminated (the code before: QEMU 6.2)",
    description="terminate posts p->sem but does not shut the channels down: a send "
                "thread blocked in sendmsg() on a stalled network is joined for ever",
    breaks=("cleanup_joins_return", "no_deadlock"), based_on=P1_P2_FIX,
    functions={"migration": {"post_sem_only": _post_sem_only}},
    edits=(Change("migration", "kick_channel", "SHUTDOWN", to={"do": ["post_sem_only"]}),),
    **_STALL)

WITH_077FBB5942 = Variant(
    name="with-077fbb5942",
    stands_for="077fbb5942 multifd: Shut down the QIO channels to avoid blocking the send "
               "threads when they are terminated (QEMU 7.0)",
    description="terminate shuts every channel down: a blocked sendmsg() fails and the "
                "joins return; a multifd_send_sync_main() already waiting on that channel "
                "still waits (no_deadlock)",
    breaks=("no_deadlock",), based_on=P1_P2_FIX, **_STALL)


def _syncs_on_every_eos(cfg, s, t, c):
    """multifd-flush-after-each-section on at the destination: every EOS syncs."""
    return not cfg.mapped_ram


FLUSH_MODE_MISMATCH = Variant(
    name="flush-mode-mismatch",
    stands_for="hypothesis: multifd-flush-after-each-section off on the source and on at "
               "the destination (the parameter must match; nothing checks it)",
    description="the source sends SYNC packets once a round; the destination waits for "
                "them at every EOS",
    breaks=("no_deadlock",), functions={"load": {"syncs_on_eos": _syncs_on_every_eos}},
    flush_modes=("per-round",), transports=("socket",), only=True,
    defaults={"pages": 1, "rounds": 1, "live": False})


CATALOGUE = (
    # the seed, and hypotheses that show what each of its syncs is for
    SEED, NO_RECV_PARK, NO_WRAP_SYNC, NO_RECV_SYNC, FREE_BEFORE_JOIN, STUCK_PENDING_JOB,
    NO_SYNC_BEFORE_BITMAP,
    # QEMU versions
    PARENT, PARENT_FILE_SEED_DEST, QEMU_7_2, QEMU_9_1, QEMU_10_0,
    # historical bugs (protocol notes §4); B13 is present at the seed itself
    B1_NO_KICK_ON_PAGE_ERROR, B2_HUNG_FOREVER, B2_ENDLESS_LOOP, B4_EOS_WITHOUT_SYNC,
    B6_CHANNELS_READY_OVERCOUNT, B7_FLUSH_BEFORE_SEND, B9_READ_AFTER_HANDOVER,
    B11_ZERO_PAGE_BITMAP, B12_RECEIVEDMAP_RACE, B13_SETUP_ABORT, B13_FIX,
    B15_72_SOURCE_92_DEST,
    # P1 and P2: candidate fixes, judged by the checker
    P1B_FIX, P1_FIX_RECV_EXIT_POSTS, P1_FIX_SYNC_CHECKS_EXITING, P1_FIX_SKIP_SYNC, P1_FIX,
    P2_FIX_EXIT_KICKS, P2_FIX_KICK_ALL, P2_FIX, P1_P2_FIX,
    # written with the variant API: own fields, properties and fault layers
    B5_DESTROY_IN_JOIN_LOOP, B5_FIX, B14_SYNC_WITHOUT_FLUSH, B14_FIX, BEFORE_077FBB5942,
    WITH_077FBB5942, FLUSH_MODE_MISMATCH,
)

# Bugs of the protocol notes this model does not express, and why (no fake variant).
NOT_MODELLED = {
    "B16": "48796f6b44: the source ends the TLS sessions without a bye while recv threads "
           "sit in recv(); a channel's end here is one event (EOF_PACKET), with no TLS "
           "session layer to tell a bye from a premature termination, nor the "
           "multifd-clean-tls-termination compat switch",
}
