"""`make bench`: states, seconds, states per second and peak memory, per reduction.

Each measurement runs in its own process (so its peak RSS is its own) and is
bounded in time; every configuration is measured with each reduction in the
same run, so the ratios are comparable on a shared machine.  Reductions:
  none          one row per step (`--fine-grained`): the distinct states of the model
  transactions  Lipton transactions, states packed into ints (the default), with channel
                symmetry where it is sound (with no fault layer and any idle channel)
  no-symmetry   `transactions` without channel symmetry (`--no-symmetry`): what it is worth
  2-threads     `transactions` on two threads (`--threads 2`)
  +symmetry     transactions and forced channel symmetry (`--symmetry`)
  +fingerprint  transactions, states kept as 64-bit hashes (`--fingerprint`)
  tuples        transactions with states kept as tuples: what packing them into ints
                (checks/engine/packed.py) is worth, as a ratio to `transactions`
  no-cache      transactions with states as tuples and every step computed afresh:
                what the step cache (checks/engine/stepcache.py) is worth, as a ratio to `tuples`
  round-robin   transactions, with QEMU's own scan for an idle channel (`--pick
                round-robin`): not a reduction but a closer model, so a different count
  any-order     transactions, with the sync wait and the joins visiting channels in any
                order (`--loops any`), where symmetry is exact and on: an
                over-approximation, so a different count
  derived       transactions derived from what the steps read and write (checks/engine/movers.py),
                what an edited table gets: a ratio to `transactions` and to `none`
  python-loop   `transactions` with the Python search loop, not the compiled one
                (checks/engine/core.py; SEARCH_LOOP=python): what compiling it is worth
  split-waits   `transactions` with each wait of a merged run its own step
                (`--split-waits`): what merging them is worth
  rr-split      `round-robin` with `--split-waits`
  rr-fingerprint  `round-robin` with `--fingerprint`: safety and deadlock at the sizes
                where the whole graph does not fit (the compiled loop's hash compaction)
  rr-2-threads  `round-robin` on two threads (`--threads 2`)
  rr-fp-2-threads  `rr-fingerprint` on two threads: with `rr-fingerprint`, issue 21's
                transitions a second on one core and on two, in one run

`--modes=a,b` measures only those modes. `--matrix` measures every entry of the
verification matrix instead of the configurations below (for example
`--matrix --modes=transactions,derived,none`), with the totals per mode and whether each
mode found the same broken properties as the first one.
"""

import json
import os
import resource
import subprocess
import sys
import time

from model.config import Config
from model.variants import get_variant

from .verify import verify

__all__ = ["CONFIGS", "QUICK", "MODES", "measure", "main", "write_rows"]

MODES = {"none": dict(transactions=False), "transactions": dict(),
         "no-symmetry": dict(symmetry=False), "2-threads": dict(threads=2),
         "+symmetry": dict(symmetry=True), "+fingerprint": dict(fingerprint=True),
         "tuples": dict(pack=False), "no-cache": dict(cache=False),
         "round-robin": dict(pick="round-robin"), "any-order": dict(loops="any"),
         "derived": dict(transactions="derived"),
         "python-loop": dict(loop="python"), "split-waits": dict(merge_waits=False),
         "rr-split": dict(pick="round-robin", merge_waits=False),
         "rr-fingerprint": dict(pick="round-robin", fingerprint=True),
         "rr-2-threads": dict(pick="round-robin", threads=2),
         "rr-fp-2-threads": dict(pick="round-robin", fingerprint=True, threads=2)}


def _socket(n, p, r):
    return dict(transport="socket", channels=n, pages=p, rounds=r)


CONFIGS = (                     # the list, then a speed probe with no reduction
    ("seed", _socket(4, 3, 2)), ("seed", _socket(4, 2, 3)), ("seed", _socket(6, 2, 2)),
    ("seed", _socket(8, 2, 2)), ("seed", dict(transport="file", channels=8, pages=4, rounds=3)),
    ("seed", _socket(2, 2, 2)),
)
QUICK = (("seed", _socket(2, 2, 1)), ("seed", dict(transport="file", channels=4, pages=3,
                                                    rounds=2)))


def measure(variant, config, mode, seconds):
    """One bounded run in this process; a dict of what it measured."""
    options = dict(MODES[mode])
    before = os.environ.get("SEARCH_LOOP")
    os.environ["SEARCH_LOOP"] = options.pop("loop", "compiled")
    try:
        return _measure(variant, config, options, mode, seconds)
    finally:
        if before is None:
            del os.environ["SEARCH_LOOP"]
        else:
            os.environ["SEARCH_LOOP"] = before


def _measure(variant, config, options, mode, seconds):
    config = dict(config, **{k: options.pop(k) for k in ("pick", "loops") if k in options})
    config = {k: tuple(map(tuple, v)) if k == "zero_pages" else tuple(v) if k == "faults"
              else v for k, v in config.items()}
    cfg = Config(**config)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    began = time.monotonic()
    _, result = verify(cfg, get_variant(variant), max_seconds=seconds, **options)
    took = time.monotonic() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"variant": variant, "config": cfg.label(), "mode": mode,
            "verdict": result.verdict, "broken": sorted(result.violations),
            "states": result.states,
            "transitions": result.transitions, "seconds": round(took, 2),
            "states_per_second": round(result.states / took) if took else 0,
            "transitions_per_second": round(result.transitions / took) if took else 0,
            "peak_mb": round(peak / 2**20),
            "bytes_per_state": round((peak - base) / max(result.states, 1)),
            "bound": result.bound, "loop": result.loop}


def _child(variant, config, mode, seconds):
    cmd = [sys.executable, "-m", "checks.bench", "--one",
           json.dumps([variant, config, mode, seconds])]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds * 3 + 120)
    if out.returncode != 0:
        return {"variant": variant, "config": str(config), "mode": mode, "verdict": "error",
                "error": out.stderr.strip().splitlines()[-1:] or ["no output"]}
    return json.loads(out.stdout)


def _line(r):
    if r["verdict"] == "error":
        return f"{r['config']:<40} {r['mode']:<15} error: {r['error'][0]}"
    return (f"{r['config']:<40} {r['mode']:<15} {r['verdict']:<12} {r['states']:>10,} "
            f"{r['seconds']:>8.1f} {r['states_per_second']:>9,} "
            f"{r['transitions_per_second']:>11,} {r['peak_mb']:>7,} {r['bytes_per_state']:>7,}")


HEAD = (f"{'configuration':<40} {'reduction':<15} {'verdict':<12} {'states':>10} "
        f"{'seconds':>8} {'states/s':>9} {'trans./s':>11} {'peak MB':>7} {'B/state':>7}")


def _configs(argv, quick) -> list:
    if "--matrix" in argv:
        from .matrix import MATRIX
        return [(e.variant, e.config.as_dict()) for e in MATRIX]
    return list(QUICK if quick else CONFIGS)


def _totals(rows, modes) -> list:
    """Per mode: the states and seconds over every entry, and the entries whose broken
    properties differ from the first mode's (where both reached a verdict)."""
    first = {(r["variant"], r["config"]): r for r in rows if r["mode"] == modes[0]}
    lines = []
    for mode in modes:
        mine = [r for r in rows if r["mode"] == mode and r["verdict"] != "error"]
        done = [r for r in mine if r["verdict"] != "inconclusive"]
        other = [r for r in done if first.get((r["variant"], r["config"]), {}).get("verdict")
                 not in (None, "inconclusive", "error")]
        differ = [r for r in other if r["broken"] != first[r["variant"], r["config"]]["broken"]]
        lines.append(f"{mode:<14} {sum(r['states'] for r in mine):>12,} states "
                     f"{sum(r['seconds'] for r in mine):>8.1f} s; {len(done)} of "
                     f"{len(rows) // len(modes)} reached a verdict; {len(differ)} of "
                     f"{len(other)} differ from {modes[0]}")
    return lines


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--one"]:
        print(json.dumps(measure(*json.loads(argv[1]))))
        return 0
    quick = "--quick" in argv
    seconds = 20 if quick else float(next((a.split("=")[1] for a in argv
                                           if a.startswith("--seconds=")), 120))
    out = next((a.split("=", 1)[1] for a in argv if a.startswith("--json=")), "out/bench.json")
    modes = next((a.split("=", 1)[1].split(",") for a in argv if a.startswith("--modes=")),
                 list(MODES))
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        print(f"bench: unknown mode {unknown[0]!r} (choose from {', '.join(MODES)})",
              file=sys.stderr)
        return 2
    rows = []
    print(f"each run bounded at {seconds:g} s; 'inconclusive' = the bound was hit\n{HEAD}")
    for variant, config in _configs(argv, quick):
        for mode in modes:
            rows.append(_child(variant, config, mode, seconds))
            print(_line(rows[-1]), flush=True)
    if "--matrix" in argv:
        print("\n".join(_totals(rows, modes)))
    write_rows(rows, out)
    return 0


def write_rows(rows: list, out: str) -> None:
    """The measurements as JSON at `out` (its directory made if need be)."""
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w") as f:
        json.dump(rows, f, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
