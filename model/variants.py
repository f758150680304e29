"""The variant catalogue: the seed design, and small named changes of it.

A variant is a list of edits to the thread tables (a row dropped, changed or added),
the QEMU commit or the hypothesis it stands for, and its expected verdict: `breaks`
names the properties a run must find violated (empty: every property must hold).
`flush_modes` says where the variant means something; elsewhere it equals the seed.
"""

from dataclasses import dataclass, field
from typing import Callable, Mapping

from .config import FLUSH_MODES
from .machine import Role, row
from . import load, migration, recv, send

__all__ = ["Variant", "Drop", "Change", "Add", "CATALOGUE", "ROLES", "get_variant",
           "apply_variant", "VariantError"]

ROLES = {r.name: r for r in (migration.ROLE, send.ROLE, load.ROLE, recv.ROLE)}


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


@dataclass(frozen=True)
class Variant:
    name: str
    stands_for: str                 # the QEMU commit (hash and title) or "hypothesis: ..."
    description: str                # one line: what changes, in QEMU's terms
    breaks: tuple = ()              # properties a run must find violated
    edits: tuple = ()
    functions: Mapping[str, Mapping[str, Callable]] = field(default_factory=dict)
    flush_modes: tuple = FLUSH_MODES

    @property
    def expected(self) -> str:
        return "pass" if not self.breaks else "violation: " + ", ".join(self.breaks)


def _matches(r: Mapping, edit) -> bool:
    return (r["trigger"] == edit.trigger and r["source"] == edit.source
            and (not edit.dest or r["dest"] == edit.dest))


_CHANGE_KEYS = {"dest": "dest", "when": "conditions", "unless": "unless", "do": "after"}


def _changed(r: Mapping, to: Mapping) -> dict:
    new = dict(r)
    for key, value in to.items():
        if key not in _CHANGE_KEYS:
            raise VariantError(f"a Change may set {', '.join(_CHANGE_KEYS)}; not {key!r}")
        new[_CHANGE_KEYS[key]] = value if key == "dest" else list(
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
    """The four roles with the variant's edits applied, by role name."""
    tables = {name: list(role.rows) for name, role in ROLES.items()}
    for edit in variant.edits:
        if edit.role not in tables:
            raise VariantError(f"variant {variant.name}: unknown role {edit.role!r}")
        tables[edit.role] = _edit_rows(tables[edit.role], edit)
    return {name: role.with_rows(tables[name], variant.functions.get(name))
            for name, role in ROLES.items()}


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
    flush_modes=("per-round",),
)

B4_EOS_WITHOUT_SYNC = Variant(
    name="b4-eos-without-sync",
    stands_for="b6526c4b2122 migration/multifd: call multifd_send_sync_main when sending "
               "RAM_SAVE_FLAG_EOS (the code before the fix)",
    description="ram_save_iterate() may jump to out: (blk_mig_bulk_active()) and write EOS "
                "without the per-section sync; the destination still syncs on that EOS",
    breaks=("no_deadlock",),
    edits=(Add("migration", row("skip_sync_to_out", "ROUND_END", "ROUND_DONE",
                                unless=["per_round"], do="put_eos", qemu="ram_save_iterate")),),
    flush_modes=("per-section",),
)

FREE_BEFORE_JOIN = Variant(
    name="free-before-join",
    stands_for="hypothesis: multifd_recv_cleanup() may free the channels before joining "
               "their threads (the ordering B5 9560a48ecc and B12 4ce5622908 got wrong)",
    description="the destination frees the recv channel state at vm_start(), then joins",
    breaks=("threads_joined_before_free",),
    edits=(Change("load", "vm_start", "VM_START",
                  to={"do": ["vm_start", "restart_loop", "free_recv_state"]}),
           Change("load", "free_recv_state", "VM_RUNNING", to={"do": []})),
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
           Change("load", "read_eos", "READ_RECORD", dest="SYNC_WAIT",
                  to={"dest": "READ_RECORD"})),
)

STUCK_PENDING_JOB = Variant(
    name="stuck-pending-job",
    stands_for="hypothesis: a send thread leaves pending_job set after its write, as a "
               "channel that died mid-job does (B2, 713f762a31 'fix migrate_cancel leads "
               "live_migration thread endless loop')",
    description="multifd_send_thread() never clears pending_job, so multifd_send_pages() "
                "spins over busy channels forever",
    breaks=("end_always_reachable",),
    edits=(Change("send", "clear_pending_job", "JOB_SENT", to={"do": []}),),
)

CATALOGUE = (SEED, NO_RECV_PARK, NO_WRAP_SYNC, B4_EOS_WITHOUT_SYNC, FREE_BEFORE_JOIN,
             NO_RECV_SYNC, STUCK_PENDING_JOB)


def get_variant(name: str) -> Variant:
    for variant in CATALOGUE:
        if variant.name == name:
            return variant
    names = ", ".join(v.name for v in CATALOGUE)
    raise VariantError(f"unknown variant {name!r} (known: {names})")
