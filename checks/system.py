"""The protocol of model/ bound to the engine: `System(config, variant)` is what the
explorer walks, what the reports read and what trace matching replays."""

from model.config import Config
from model.protocol import Protocol
from model.variants import SEED, Variant

from .engine.product import Product

__all__ = ["System"]


class System(Product):
    """One configuration and one variant, compiled: the model the explorer checks."""

    def __init__(self, config: Config, variant: Variant = SEED, transactions: bool = True,
                 symmetry: bool = None, cache: bool = True, knowledge=None,
                 merge_waits: bool = True, quiet: bool = True):
        protocol = Protocol(config, variant)
        self.config, self.variant, self.roles = config, variant, protocol.roles
        super().__init__(protocol, transactions, symmetry, cache, knowledge, merge_waits,
                         quiet)

    def end_kind(self, s) -> str:
        return self.protocol.end_kind(s)

    def state_name(self, role: str, pc: int) -> str:
        return self.protocol.state_name(role, pc)
