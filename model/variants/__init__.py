"""The variant catalogue: the seed design, and small named changes of it.

A variant is a list of edits to the thread tables (a row dropped, changed or added) and
of guard or effect functions replaced by name, the QEMU commit or the hypothesis it
stands for, and its expected verdict (dsl.py says how one is written). The catalogue
comes in families: QEMU versions (versions.py), hypotheses about the seed
(hypotheses.py), historical bugs (bugs.py), and the two hangs the checker found, with
their candidate fixes (p1.py, p2.py), and the patch series for them (upstream.py).
"""

from ..machine import validate_role
from .dsl import (Add, Change, Claim, Drop, ROLES, Variant, VariantError, apply_variant,
                  eventually, fair, invariant, row, sometimes)
from .bugs import (B1_NO_KICK_ON_PAGE_ERROR, B2_ENDLESS_LOOP, B2_HUNG_FOREVER,
                   B4_EOS_WITHOUT_SYNC, B5_DESTROY_IN_JOIN_LOOP, B5_FIX,
                   B6_CHANNELS_READY_OVERCOUNT, B7_FLUSH_BEFORE_SEND, B9_READ_AFTER_HANDOVER,
                   B11_ZERO_PAGE_BITMAP, B12_RECEIVEDMAP_RACE, B13_FIX, B13_SETUP_ABORT,
                   B14_FIX, B14_SYNC_WITHOUT_FLUSH, B15_72_SOURCE_92_DEST, BEFORE_077FBB5942,
                   WITH_077FBB5942)
from .hypotheses import (FLUSH_MODE_MISMATCH, FREE_BEFORE_JOIN, NO_RECV_PARK, NO_RECV_SYNC,
                         NO_SYNC_BEFORE_BITMAP, NO_WRAP_SYNC, STUCK_PENDING_JOB)
from .p1 import (P1_FIX, P1_FIX_RECV_EXIT_POSTS, P1_FIX_SKIP_SYNC, P1_FIX_SYNC_CHECKS_EXITING,
                 P1B_FIX)
from .p2 import P1_P2_FIX, P2_FIX, P2_FIX_EXIT_KICKS, P2_FIX_KICK_ALL
from .upstream import QEMU_10_0_PATCH1, QEMU_10_0_PATCH2, QEMU_10_0_PATCH3, QEMU_10_0_PATCHED
from .versions import PARENT, PARENT_FILE_SEED_DEST, QEMU_7_2, QEMU_9_1, QEMU_10_0, SEED

__all__ = ["Variant", "Drop", "Change", "Add", "row", "Claim", "invariant", "sometimes",
           "eventually", "fair", "CATALOGUE", "ROLES", "SEED", "get_variant",
           "apply_variant", "load_variant_file", "VariantError", "NOT_MODELLED"]


def get_variant(name: str, extra: tuple = ()) -> Variant:
    """The variant called `name`, from `extra` (a user's file) first, then the catalogue."""
    for variant in extra + CATALOGUE:
        if variant.name == name:
            return variant
    names = ", ".join(v.name for v in extra + CATALOGUE)
    raise VariantError(f"unknown variant {name!r} (known: {names})")



CATALOGUE = (
    # the seed, and hypotheses that show what each of its syncs is for
    SEED, NO_RECV_PARK, NO_WRAP_SYNC, NO_RECV_SYNC, FREE_BEFORE_JOIN, STUCK_PENDING_JOB,
    NO_SYNC_BEFORE_BITMAP,
    # QEMU versions
    PARENT, PARENT_FILE_SEED_DEST, QEMU_7_2, QEMU_9_1, QEMU_10_0,
    # historical bugs (docs/protocol.md, Historical bugs); B13 is present at the seed itself
    B1_NO_KICK_ON_PAGE_ERROR, B2_HUNG_FOREVER, B2_ENDLESS_LOOP, B4_EOS_WITHOUT_SYNC,
    B6_CHANNELS_READY_OVERCOUNT, B7_FLUSH_BEFORE_SEND, B9_READ_AFTER_HANDOVER,
    B11_ZERO_PAGE_BITMAP, B12_RECEIVEDMAP_RACE, B13_SETUP_ABORT, B13_FIX,
    B15_72_SOURCE_92_DEST,
    # P1 and P2: candidate fixes, judged by the checker
    P1B_FIX, P1_FIX_RECV_EXIT_POSTS, P1_FIX_SYNC_CHECKS_EXITING, P1_FIX_SKIP_SYNC, P1_FIX,
    P2_FIX_EXIT_KICKS, P2_FIX_KICK_ALL, P2_FIX, P1_P2_FIX,
    # the patch series in patches/, one variant per patch (upstream.py)
    QEMU_10_0_PATCH1, QEMU_10_0_PATCH2, QEMU_10_0_PATCH3, QEMU_10_0_PATCHED,
    # written with the variant API: own fields, properties and fault layers
    B5_DESTROY_IN_JOIN_LOOP, B5_FIX, B14_SYNC_WITHOUT_FLUSH, B14_FIX, BEFORE_077FBB5942,
    WITH_077FBB5942, FLUSH_MODE_MISMATCH,
)

# Historical bugs (docs/protocol.md) this model does not express, and why (no fake variant).
NOT_MODELLED = {
    "B16": "48796f6b44: the source ends the TLS sessions without a bye while recv threads "
           "sit in recv(); a channel's end here is one event (EOF_PACKET), with no TLS "
           "session layer to tell a bye from a premature termination, nor the "
           "multifd-clean-tls-termination compat switch",
}


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
