"""One verification: a configuration and a variant in, a verdict with its evidence out."""

import time

from model.config import Config
from model.packed import run_packed
from model.system import System
from model.variants import Variant

from .explorer import explore
from .properties import properties_for

__all__ = ["verify"]


def verify(config: Config, variant: Variant, *, max_states=None, max_memory_mb=None,
           progress=None, transactions=True, symmetry=None, max_seconds=None,
           fingerprint=False, cache=True, pack=True):
    """Explore the model of `variant` at `config`; return (system, result).

    `symmetry` None: as the model says (`System.symmetry_sound`); True forces it.
    `cache` False computes every step afresh (model/stepcache.py; for comparisons).
    `pack` False keeps states as tuples, not ints (model/packed.py; for comparisons);
    states are packed only with the cache on, and with symmetry only where it is exact
    (--loops any)."""
    variant.check_config(config)
    system = System(config, variant, transactions=transactions, symmetry=symmetry,
                    cache=cache)
    bounds = dict(max_states=max_states, max_memory_mb=max_memory_mb, progress=progress,
                  max_seconds=max_seconds, fingerprint=fingerprint)
    props, skipped = _checkable(config)
    if pack and cache and (system.exact_symmetry or not system.symmetric):
        result = _explore_packed(system, props, bounds)
    else:
        result = explore(system, props, **bounds)
    result.unchecked += [name for name in skipped if name not in result.unchecked]
    return system, result


def _checkable(config: Config) -> tuple:
    """(the properties a run checks, the names of those it leaves out). With --loops
    any the model over-approximates QEMU's: an invariant or deadlock freedom that holds
    there holds in QEMU, but a liveness property or a witness need not."""
    props = properties_for(config)
    if not config.any_order:
        return props, []
    kept = [p for p in props if p.kind in ("always", "deadlock")]
    return kept, [p.name for p in props if p not in kept]


def _explore_packed(system: System, props: list, bounds: dict):
    """Explore `system` with packed states, starting over with a wider field each time
    one overflows its bits (the time bound counts every start)."""
    began, progress = time.monotonic(), bounds["progress"]

    def run(model):
        return explore(model, props, started=began, **bounds)

    def restarted(full):
        if progress:
            progress(f"packed states: {full}; starting over with "
                     f"{full.widths[full.name]} bits for it")

    return run_packed(system, run, restarted)
