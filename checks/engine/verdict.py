"""What a search answers: the properties it checks, where one broke, and the result."""

from dataclasses import dataclass, field
from typing import Callable, Optional

__all__ = ["KINDS", "Property", "Violation", "Result"]


KINDS = ("always", "sometimes", "deadlock", "eventually", "fair")


@dataclass(frozen=True)
class Property:
    """A named property. `predicate` is a state predicate (always, sometimes kinds)."""

    name: str
    kind: str
    predicate: Optional[Callable] = None
    doc: str = ""
    headline: bool = True     # headline (what the design is for) or structural

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"property {self.name}: kind must be one of {KINDS}")


@dataclass
class Violation:
    """Where a property broke: a path of state ids; a lasso loops back to `loop_at`."""

    property: Property
    path: list                     # state ids from an initial state to the violation
    loop_at: Optional[int] = None  # index in `path` the last state steps back to (lasso)
    # A hang's last steps outside the graph: the single waits of merged runs the threads
    # can still take ([(label, state)]; Product.settled).
    tail: list = field(default_factory=list)

    @property
    def length(self) -> int:
        return len(self.path) - 1 + (1 if self.loop_at is not None else 0) + len(self.tail)


@dataclass
class Result:
    verdict: str                      # "pass", "violation" or "inconclusive"
    property: Optional[str]           # the headline broken property, or None
    violations: dict                  # property name -> Violation (vacuous: empty path)
    states: int
    transitions: int
    depth: int
    seconds: float
    bound: Optional[str] = None       # why the run stopped early
    graph: object = field(default=None, repr=False)   # the Graph searched (graph.py)
    ends: list = field(default_factory=list)   # ids of the proper end states reached
    fingerprint: bool = False         # states kept as 64-bit hashes (no liveness checks)
    unchecked: list = field(default_factory=list)   # properties this mode cannot check
    transactions: str = ""            # how steps were cut: declared, derived or none
    restarts: int = 0                 # derived transactions: times the search started over
    loop: str = "python"              # the search loop that ran: compiled or python (core.py)
    threads: int = 1                  # the threads it ran on
    merged_waits: bool = False        # a run of waits was one step (Product.merge_waits)
    quiet_lost: bool = False          # a state broke what a quiet wait rests on: run again
                                      # with the quiet states their own steps (verify.py)
    symmetry: str = "off"             # "on": states up to a relabelling of channels (sound
                                      # here), "forced" (--symmetry), or "lost": on until a
                                      # state showed it fails (verify.py)
    _readable: dict = field(default_factory=dict, repr=False)   # name -> chosen path

    @property
    def collision_probability(self) -> float:
        """Fingerprint mode: the chance two of the states seen share a hash, as TLC
        reports it (optimistic: n^2 / 2^65 for n states and 64-bit hashes)."""
        return self.states * self.states / 2.0 ** 65 if self.fingerprint else 0.0

    def trace(self, name: str) -> list:
        """The violation of `name` as [(label or None, state), ...] from an initial state;
        a lasso ends with the step back into its cycle. A path to a state is, among the
        shortest, the one with the fewest switches between threads."""
        v = self.violations[name]
        if v.loop_at is not None:
            return self.graph.steps(v.path + [v.path[v.loop_at]])
        if name not in self._readable:
            self._readable[name] = self.graph.readable_path(v.path[-1]) if v.path else []
        return self.graph.steps(self._readable[name]) + v.tail
