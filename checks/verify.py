"""One verification: a configuration and a variant in, a verdict with its evidence out."""

from model.config import Config
from model.system import System
from model.variants import Variant

from .explorer import explore
from .properties import properties_for

__all__ = ["verify"]


def verify(config: Config, variant: Variant, *, max_states=None, max_memory_mb=None,
           progress=None, transactions=True, symmetry=None, max_seconds=None,
           fingerprint=False, cache=True):
    """Explore the model of `variant` at `config`; return (system, result).

    `symmetry` None: as the model says (`System.symmetry_sound`); True forces it.
    `cache` False computes every step afresh (model/stepcache.py; for comparisons)."""
    variant.check_config(config)
    system = System(config, variant, transactions=transactions, symmetry=symmetry,
                    cache=cache)
    result = explore(system, properties_for(config), max_states=max_states,
                     max_memory_mb=max_memory_mb, progress=progress, max_seconds=max_seconds,
                     fingerprint=fingerprint)
    return system, result
