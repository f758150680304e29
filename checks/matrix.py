"""The verification matrix: what `make check` runs, as data.

Each entry is a variant at one configuration, with the state count it is pinned to. The
expected verdict comes from the variant: pass, or a violation of each property it
`breaks`. A changed state count fails the entry too: a model change that moves a pin
says why in its commit message.
"""

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from model.config import Config
from model.variants import get_variant

from .verify import verify

__all__ = ["Entry", "MATRIX", "run_entry", "run_matrix", "entry_line", "summary_line"]


@dataclass(frozen=True)
class Entry:
    variant: str
    config: Config
    states: int   # pinned number of distinct states (with transactions)


def _cfg(channels, pages, rounds, flush, live=True):
    return Config(channels=channels, pages=pages, rounds=rounds, flush=flush, live=live)


MATRIX = (
    Entry("seed", _cfg(1, 2, 2, "per-round"), 982),
    Entry("seed", _cfg(1, 2, 2, "per-section"), 733),
    Entry("seed", _cfg(2, 2, 2, "per-round"), 61765),
    Entry("seed", _cfg(2, 2, 2, "per-section"), 50692),
    Entry("seed", _cfg(2, 2, 1, "per-round", live=False), 11686),
    Entry("seed", _cfg(2, 2, 1, "per-section", live=False), 9711),
    Entry("seed", _cfg(3, 1, 2, "per-round"), 204492),
    Entry("seed", _cfg(3, 1, 2, "per-section"), 174477),
    Entry("no-recv-park", _cfg(2, 1, 2, "per-round"), 44109),
    Entry("no-recv-park", _cfg(2, 1, 2, "per-section"), 38160),
    Entry("no-wrap-sync", _cfg(2, 1, 2, "per-round"), 10971),
    Entry("b4-eos-without-sync", _cfg(2, 1, 1, "per-section", live=False), 7579),
    Entry("free-before-join", _cfg(2, 1, 1, "per-round", live=False), 5670),
    Entry("free-before-join", _cfg(2, 1, 1, "per-section", live=False), 4746),
    Entry("no-recv-sync", _cfg(2, 1, 2, "per-round"), 15048),
    Entry("no-recv-sync", _cfg(2, 1, 2, "per-section"), 10701),
    Entry("stuck-pending-job", _cfg(1, 2, 1, "per-round", live=False), 84),
    Entry("stuck-pending-job", _cfg(1, 2, 1, "per-section", live=False), 74),
)


def run_entry(entry: Entry) -> dict:
    """Verify one entry; `ok` says whether verdict and state count are as expected."""
    variant = get_variant(entry.variant)
    _, result = verify(entry.config, variant)
    if variant.breaks:
        verdict_ok = result.verdict == "violation" and set(variant.breaks) <= set(
            result.violations)
    else:
        verdict_ok = result.verdict == "pass"
    return {"variant": entry.variant, "config": entry.config.as_dict(),
            "label": entry.config.label(), "expected": variant.expected,
            "verdict": result.verdict, "property": result.property,
            "violations": list(result.violations), "states": result.states,
            "pinned_states": entry.states, "seconds": round(result.seconds, 3),
            "ok": verdict_ok and result.states == entry.states,
            "verdict_ok": verdict_ok}


def run_matrix(entries=MATRIX, jobs=None, on_result=None) -> list:
    """Run the entries on `jobs` processes (default: every core), results in entry order."""
    jobs = jobs or os.cpu_count() or 1
    if jobs == 1:
        results = []
        for entry in entries:
            results.append(run_entry(entry))
            if on_result:
                on_result(results[-1])
        return results
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        results = []
        for result in pool.map(run_entry, entries):
            results.append(result)
            if on_result:
                on_result(result)
        return results


def entry_line(r: dict) -> str:
    mark = "ok  " if r["ok"] else "FAIL"
    got = r["verdict"] if r["verdict"] != "violation" else r["property"]
    more = len(r["violations"]) - 1
    if r["verdict"] == "violation" and more:
        got += f" (+{more} more)"
    line = (f"{mark} {r['variant']:<20} {r['label']:<39} {got:<44} "
            f"{r['states']:>9,} states {r['seconds']:>6.2f} s")
    if not r["verdict_ok"]:
        line += f"\n     expected {r['expected']}"
    if r["states"] != r["pinned_states"]:
        line += f"\n     state count {r['states']:,} differs from the pinned {r['pinned_states']:,}"
    return line


def summary_line(results: list, seconds: float) -> str:
    bad = [r for r in results if not r["ok"]]
    states = sum(r["states"] for r in results)
    return (f"{len(results) - len(bad)} of {len(results)} configurations as expected, "
            f"{len(bad)} not; {states:,} states in {seconds:.1f} s")
