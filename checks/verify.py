"""One verification: a configuration and a variant in, a verdict with its evidence out.

Three ways to cut the threads' steps into transactions (`transactions=`):

- "declared": at the waits each role declares (model/machine.py). The argument behind
  them was made for the catalogue's own tables, and is tested against the fine-grained
  model on every matrix entry; it is used for those tables only, unedited.
- "derived": where what the steps read and write says (checks/engine/movers.py). The search
  learns what every thread's steps do, and starts over whenever something it learnt
  takes back a judgement it made; at the end, every kept state is checked for what a
  property could see of a thread inside a transaction. Any edited table gets this.
- "none": one step per row (--fine-grained), the model itself.
"""

import time

from model.config import Config
from .engine.movers import Knowledge, Rederive
from .engine.rollcheck import unseen_moves
from .engine.packed import run_packed
from .engine.product import SymmetryLost
from .system import System
from model.variants import CATALOGUE, Variant

from .engine.bounds import BoundHit, Watchdog, acknowledge, stop_reason
from .engine.explorer import explore
from .engine.verdict import Property, Result
from .properties import properties_for

__all__ = ["verify", "transactions_for", "TRANSACTIONS"]

TRANSACTIONS = ("declared", "derived", "none")

# Derived transactions: a judgement found wrong within a run's first this many steps
# starts it over at once; later, the run goes on to the end and then starts over
# (it is cheaper to learn the rest of what the steps do in one go).
STRICT_STEPS = 300


def transactions_for(config: Config, variant: Variant) -> str:
    """The transactions a run uses unless told: the declared transaction starts for a catalogue
    variant as it is, with the knobs its argument covers; derived for anything else."""
    own = any(variant is v for v in CATALOGUE) and not variant.own_vocabulary
    argued = config.socket_capacity == 0 and config.max_faults <= 1 and \
        "network-stall" not in config.faults
    return "declared" if own and argued else "derived"


def verify(config: Config, variant: Variant, *, max_states=None, max_memory_mb=None,
           progress=None, transactions=None, symmetry=None, max_seconds=None,
           fingerprint=False, cache=True, pack=True, merge_waits=True, threads=1):
    """Explore the model of `variant` at `config`; return (system, result).

    `transactions`: "declared", "derived" or "none" (see above); None picks with
    `transactions_for`; True and False are "auto" and "none". `symmetry` None: as the
    model says (`System.symmetry_sound`); True forces it. `cache` False computes every
    step afresh (checks/engine/stepcache.py; for comparisons). `pack` False keeps states as
    tuples, not ints (checks/engine/packed.py; for comparisons); states are packed only with
    the cache on, and with symmetry only where it is exact (--loops any). `merge_waits` False
    takes each wait of a declared run of waits as its own step (model/machine.py).
    `threads`: how many the compiled search runs on (the same result on any)."""
    variant.check_config(config)
    mode = _mode(transactions, config, variant)
    if mode == "derived" and not (cache and pack):
        raise ValueError("derived transactions learn from the step cache and check packed "
                         "states: they need both")
    if mode == "derived" and fingerprint:
        raise ValueError("--fingerprint keeps no states, and derived transactions check "
                         "every kept state last: drop --fingerprint (or bound the run with "
                         "--max-states or --max-memory)")
    bounds = dict(max_states=max_states, max_memory_mb=max_memory_mb, progress=progress,
                  max_seconds=max_seconds, fingerprint=fingerprint, started=time.monotonic(),
                  threads=threads)
    props, skipped = _checkable(config, variant)
    try:                # outside the watchdog's block: its exit may raise BoundHit too
        with Watchdog(max_seconds, max_memory_mb, started=bounds["started"]):
            if mode == "derived":
                system, result = _derived(config, variant, props, bounds, pack)
            else:
                options = dict(transactions=mode == "declared", cache=cache,
                               merge_waits=merge_waits)
                system, result = _declared(config, variant, props, bounds, pack, symmetry,
                                           options)
                _settle_hangs(system, result)
    except (BoundHit, RecursionError) as e:
        acknowledge()
        system, result = System(config, variant), _stopped(e, bounds["started"])
    result.transactions = mode
    result.merged_waits = mode == "declared" and merge_waits
    result.unchecked += [name for name in skipped if name not in result.unchecked]
    return system, result


QUIET = "quiet_waits_hold"


def _declared(config, variant, props, bounds, pack, symmetry, options) -> tuple:
    """(system, result) of the search with the catalogue's transactions; where a state
    broke what a quiet wait rests on (model/machine.py `quiet_holds`), the search over
    again with the quiet states their own steps, the result saying so."""
    system, result = _symmetric(config, variant, props, bounds, pack, symmetry, options)
    if QUIET in result.violations:
        system, result = _symmetric(config, variant, props, bounds, pack, symmetry,
                                    dict(options, quiet=False))
        result.quiet_lost = True
    return system, result


def _guarded(system, props: list) -> list:
    """`props`, and what the system's quiet waits rest on as one more invariant."""
    holds = system.quiet_holds()
    if not holds:
        return props
    return props + [Property(QUIET, "always", lambda s: all(h(s) for h in holds),
                             "what the quiet waits rest on holds", False)]


def _symmetric(config, variant, props, bounds, pack, symmetry, options) -> tuple:
    """(system, result) of the search, with channel symmetry as `symmetry` asks; where
    it was on and a state showed the channels not interchangeable (SymmetryLost), the
    search over again without it, the result saying so."""
    system = System(config, variant, symmetry=symmetry, **options)
    try:
        result = _explore(system, _guarded(system, props), bounds, pack)[1]
    except SymmetryLost:
        system = System(config, variant, symmetry=False, **options)
        result = _explore(system, _guarded(system, props), bounds, pack)[1]
        result.symmetry = "lost"
        return system, result
    if system.symmetric and config.channels > 1:
        result.symmetry = "on" if system.exact_symmetry else "forced"
    return system, result


def _settle_hangs(system, result) -> None:
    """A hang's counterexample goes on through the single waits of merged runs that its
    threads can still take (Product.settled), so that it ends where each thread's wait
    blocks, as in QEMU, not where its run of waits began."""
    for name, v in result.violations.items():
        if system.merge_waits and v.property.kind == "deadlock" and v.path:
            last = result.trace(name)[-1][1]
            if not system.successors(last):
                v.tail = system.settled(last)


def _stopped(e: BaseException, began: float) -> Result:
    """The inconclusive result of a run a bound stopped outside the explorer's search
    (building the system, the learning between derived runs, the checks after them)."""
    return Result("inconclusive", None, {}, 0, 0, 0, time.monotonic() - began,
                  bound=stop_reason(e))


def _mode(transactions, config, variant) -> str:
    if transactions is False:
        return "none"
    if transactions in (None, True):
        return transactions_for(config, variant)
    if transactions not in TRANSACTIONS:
        raise ValueError(f"transactions must be one of {TRANSACTIONS}, not {transactions!r}")
    return transactions


def _explore(system, props, bounds, pack) -> tuple:
    """(the model the explorer walked, its result)."""
    if pack and system.cache and (system.exact_symmetry or not system.symmetric):
        return _explore_packed(system, props, bounds)
    return system, explore(system, props, **bounds)


def _derived(config, variant, props, bounds, pack) -> tuple:
    """Search with derived transactions until a run relies on nothing it unlearnt."""
    knowledge, progress = Knowledge(), bounds["progress"]
    while True:
        system = System(config, variant, knowledge=knowledge)
        knowledge.begin_run(STRICT_STEPS)
        try:
            model, result = _explore(system, props, bounds, pack)
        except Rederive:
            result = None       # early in a run: start over at once
        else:
            knowledge.strict = 0
            if knowledge.weakened is None and result.bound is None:
                knowledge.make_visible(unseen_moves(model, result.graph.states,
                                                    _judged_again(props, result)))
        if knowledge.weakened is None or (result is not None and result.bound):
            result.restarts = knowledge.restarts        # a bound ends the search
            return system, result
        knowledge.restarts += 1
        if progress:
            progress(f"derived transactions: {knowledge.weakened}; starting over")
        knowledge.weakened = None


def _judged_again(props: list, result) -> list:
    """The properties a reduction could have judged wrongly: every invariant, each
    `sometimes` the run never saw hold (one it saw hold, it saw on a real path), and
    every goal of a variant's eventually or fair property (either of its values)."""
    return [p for p in props if p.kind == "always" or
            (p.kind == "sometimes" and p.name in result.violations) or
            (p.kind in ("eventually", "fair") and p.predicate is not None)]


def _checkable(config: Config, variant: Variant) -> tuple:
    """(the properties a run checks, the names of those it leaves out). With --loops
    any the model over-approximates QEMU's: an invariant or deadlock freedom that holds
    there holds in QEMU, but a liveness property or a witness need not."""
    props = properties_for(config, variant)
    if not config.any_order:
        return props, []
    kept = [p for p in props if p.kind in ("always", "deadlock")]
    return kept, [p.name for p in props if p not in kept]


def _explore_packed(system: System, props: list, bounds: dict):
    """Explore `system` with packed states, starting over with a wider field each time
    one overflows its bits (the time bound counts every start); (model, result)."""
    progress = bounds["progress"]

    def run(model):
        return model, explore(model, props, **bounds)

    def restarted(full):
        if progress:
            progress(f"packed states: {full}; starting over with "
                     f"{full.widths[full.name]} bits for it")

    return run_packed(system, run, restarted)
