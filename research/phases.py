"""A probe (issue 21): where this model's states come from, by phase of the migration.

Not part of the checker. It explores one configuration (as `multifd-check run` does)
and counts the states by what the two sides are doing:

  source    setup       ram_save_setup(): channel creation, MEM_SIZE, the setup sync
            run         the rounds and ram_save_complete()
            shutdown    from migrate_fd_cleanup() on: exiting, the kicks, the joins, free
  dest      run         reading records, the syncs
            shutdown    from QEMU_VM_EOF (or an error) on: exiting, vm_start(), the joins

and, among the source's shutdown states, those where the migration thread has joined
some send threads but not all (`joins part way`): none since the joins are a run of
merged waits (model/migration.py); `--split-waits` counts them with each wait its own
step, as before.

    python -m research.phases --channels 3
    python -m research.phases --channels 4 --pick any
    python -m research.phases --channels 4 --split-waits

research/test_phases.py checks that the phases count every state once.
"""

import argparse
from collections import Counter

from checks.verify import verify
from model import load, migration
from model.config import Config
from model.variants import get_variant

__all__ = ["phases", "main"]

SOURCE_SETUP = {"CREATE", "WAIT_CREATED", "SETUP", "SETUP_SYNCED", "SETUP_FLUSHED"}
SOURCE_SHUTDOWN = {"CLEANUP", "SHUTDOWN", "JOIN", "DONE"}
DEST_SHUTDOWN = {"SHUTDOWN", "VM_START", "CLEANUP", "DONE"}


def _source(s) -> str:
    name = migration.STATES[s.mig_pc]
    if name in SOURCE_SHUTDOWN:
        return "shutdown"
    setup = name in SOURCE_SETUP or (s.mig_round == 0 and s.mig_caller == migration.SETUP)
    return "setup" if setup else "run"


def _dest(s) -> str:
    return "shutdown" if load.STATES[s.load_pc] in DEST_SHUTDOWN else "run"


def phases(config: Config, variant: str = "seed", merge_waits: bool = True) -> tuple:
    """(states, Counter of (source phase, destination phase), states with the joins
    part way) at `config`."""
    _, result = verify(config, get_variant(variant), merge_waits=merge_waits)
    g, counts, part_way = result.graph, Counter(), 0
    join = migration.STATES.index("JOIN")
    for x in g.states:
        s = g.view(x)
        counts[(_source(s), _dest(s))] += 1
        part_way += s.mig_pc == join and 0 < s.mig_i < config.channels
    return result.states, counts, part_way


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--pages", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--pick", default="round-robin")
    ap.add_argument("--variant", default="seed")
    ap.add_argument("--split-waits", action="store_true", help="each wait its own step")
    args = ap.parse_args(argv)
    config = Config(transport="socket", channels=args.channels, pages=args.pages,
                    rounds=args.rounds, pick=args.pick)
    states, counts, part_way = phases(config, args.variant, not args.split_waits)
    print(f"{states:,} states ({config.slug()}, {args.variant})")
    for (source, dest), n in sorted(counts.items()):
        print(f"  source {source:<8} dest {dest:<8} {n:>12,} {100 * n / states:5.1f}%")
    print(f"  joins part way {part_way:>23,} {100 * part_way / states:5.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
