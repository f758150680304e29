"""The verification matrix: what `make check` runs, as data.

Each entry is a variant at one configuration, with the state count it is pinned to. The
expected verdict comes from the variant (pass, or a violation of each property it
`breaks`) unless the entry names more (`breaks`, where a configuration breaks more than
the variant always does). A changed state count fails the entry too: a model change
that moves a pin says why in its commit message.
"""

import os
from dataclasses import dataclass, replace
from functools import partial

from model.config import Config
from model.variants import get_variant

from .engine.bounds import default_memory_mb
from .engine.workers import run_ordered
from .verify import verify

__all__ = ["Entry", "MATRIX", "DEEP", "run_entry", "judge", "run_matrix", "entry_line",
           "summary_line"]


@dataclass(frozen=True)
class Entry:
    variant: str
    config: Config
    states: int          # pinned number of distinct states (with transactions)
    breaks: tuple = ()   # properties this configuration must break, beyond the variant's

    def expected_breaks(self) -> tuple:
        return get_variant(self.variant).breaks + self.breaks


def _cfg(channels, pages, rounds, flush, live=True, transport="socket", faults=()):
    return Config(transport=transport, channels=channels, pages=pages, rounds=rounds,
                  flush=flush, live=live, faults=faults)


def _file(channels, pages, rounds, flush, live=True, faults=()):
    return _cfg(channels, pages, rounds, flush, live, transport="file", faults=faults)


def _rr(config):
    return replace(config, pick="round-robin")


def _stall(config):
    """A stalled network under channel sockets that hold one packet (077fbb5942)."""
    return replace(config, faults=("network-stall",), socket_capacity=1)


def _any(config):
    """Channel loops in any order: an over-approximation with exact symmetry."""
    return replace(config, loops="any")


_SEND_ERR, _READ_ERR, _SHORT = ("send-write-error",), ("recv-read-error",), ("short-read",)
_EOF = ("recv-eof",)
_CREATE = ("channel-create-error",)
_CANCEL = ("cancel",)


MATRIX = (
    Entry("seed", _cfg(1, 2, 2, "per-round"), 716),
    Entry("seed", _cfg(1, 2, 2, "per-section"), 536),
    Entry("seed", _cfg(2, 2, 2, "per-round"), 13053),
    Entry("seed", _cfg(2, 2, 2, "per-section"), 10399),
    Entry("seed", _cfg(2, 2, 1, "per-round", live=False), 2551),
    Entry("seed", _cfg(2, 2, 1, "per-section", live=False), 2068),
    Entry("seed", _cfg(3, 1, 2, "per-round"), 11457),
    Entry("seed", _cfg(3, 1, 2, "per-section"), 9255),
    Entry("no-recv-park", _cfg(2, 1, 2, "per-round"), 8679),
    Entry("no-recv-park", _cfg(2, 1, 2, "per-section"), 7180),
    Entry("no-wrap-sync", _cfg(2, 1, 2, "per-round"), 2806),
    Entry("b4-eos-without-sync", _cfg(2, 1, 1, "per-section", live=False), 1618),
    Entry("free-before-join", _cfg(2, 1, 1, "per-round", live=False), 1258),
    Entry("free-before-join", _cfg(2, 1, 1, "per-section", live=False), 1019),
    Entry("no-recv-sync", _cfg(2, 1, 2, "per-round"), 3600),
    Entry("no-recv-sync", _cfg(2, 1, 2, "per-section"), 2568),
    Entry("stuck-pending-job", _cfg(1, 2, 1, "per-round", live=False), 74),
    Entry("stuck-pending-job", _cfg(1, 2, 1, "per-section", live=False), 64),
    # mapped-ram: the source writes the file, then the destination loads it
    Entry("seed", _file(1, 2, 2, "per-round"), 47),
    Entry("seed", _file(2, 2, 2, "per-round"), 87),
    Entry("seed", _file(2, 2, 2, "per-section"), 87),
    Entry("seed", _file(2, 2, 1, "per-round", live=False), 58),
    Entry("seed", _file(2, 2, 1, "per-section", live=False), 58),
    Entry("seed", _file(4, 3, 3, "per-round"), 417),
    Entry("parent", _file(2, 2, 2, "per-round"), 115, breaks=("unexpected_flag_is_error",)),
    Entry("parent", _file(2, 2, 2, "per-section"), 103),
    Entry("parent", _file(2, 2, 1, "per-round", live=False), 81),
    Entry("parent-file-seed-dest", _file(2, 2, 2, "per-round"), 80),
    Entry("no-wrap-sync", _file(2, 2, 2, "per-round"), 187),
    Entry("b11-zero-page-bitmap", _file(2, 2, 2, "per-round"), 98),
    Entry("no-sync-before-bitmap", _file(2, 2, 1, "per-round", live=False), 233),
    # QEMU versions after the seed
    Entry("qemu-9.1", _cfg(2, 1, 2, "per-round"), 3265),
    Entry("qemu-10.0", _cfg(2, 1, 2, "per-round"), 2529),
    Entry("qemu-10.0", _cfg(2, 1, 2, "per-section"), 2545),
    Entry("qemu-10.0", _file(2, 2, 2, "per-round"), 84),
    # faults: P1 (and P1a, P1b) on the destination, P2 on the source, and their fixes
    Entry("seed", _file(2, 2, 2, "per-round", faults=_READ_ERR), 163, breaks=("no_deadlock",)),
    Entry("seed", _file(2, 3, 1, "per-round", live=False, faults=_READ_ERR), 191,
          breaks=("no_deadlock", "errors_carry_their_cause")),
    Entry("seed", _file(2, 2, 2, "per-round", faults=_SHORT), 159,
          breaks=("errors_carry_their_cause",)),
    Entry("qemu-10.0", _file(2, 2, 2, "per-round", faults=_READ_ERR), 157,
          breaks=("no_deadlock",)),
    Entry("p1b-fix", _file(2, 3, 1, "per-round", live=False, faults=_READ_ERR), 191),
    Entry("p1-fix-recv-exit-posts", _file(2, 3, 1, "per-round", live=False, faults=_READ_ERR), 289),
    Entry("p1-fix-sync-checks-exiting", _file(2, 3, 1, "per-round", live=False,
                                              faults=_READ_ERR), 224),
    Entry("p1-fix-skip-sync-on-parse-error", _file(2, 3, 1, "per-round", live=False,
                                                   faults=_READ_ERR), 193),
    Entry("p1-fix", _file(3, 3, 1, "per-round", live=False, faults=_READ_ERR), 963),
    Entry("p1-fix", _file(2, 2, 2, "per-round", faults=_READ_ERR), 173),
    Entry("p1-fix", _cfg(2, 1, 1, "per-round", live=False, faults=_READ_ERR), 15917,
          breaks=("no_deadlock",)),
    Entry("seed", _cfg(2, 1, 1, "per-round", live=False, faults=_EOF), 7854,
          breaks=("no_deadlock",)),
    Entry("p1-p2-fix", _cfg(2, 1, 1, "per-round", live=False, faults=_READ_ERR), 15307),
    Entry("p1-p2-fix", _cfg(2, 1, 1, "per-round", live=False, faults=_EOF), 9702),
    Entry("p1-p2-fix", _cfg(2, 1, 1, "per-round", live=False, faults=_SEND_ERR), 10234),
    Entry("seed", _cfg(2, 1, 1, "per-round", live=False, faults=_SEND_ERR), 10608,
          breaks=("no_deadlock",)),
    Entry("qemu-10.0", _cfg(2, 1, 1, "per-round", live=False, faults=_SEND_ERR), 6582,
          breaks=("no_deadlock",)),
    Entry("p2-fix-exit-kicks", _cfg(2, 1, 1, "per-round", live=False, faults=_SEND_ERR), 10332),
    Entry("p2-fix-kick-all", _cfg(2, 1, 1, "per-round", live=False, faults=_SEND_ERR), 10968),
    Entry("p2-fix", _cfg(2, 1, 1, "per-round", live=False, faults=_SEND_ERR), 10234),
    Entry("p2-fix", _cfg(2, 1, 2, "per-section", faults=_SEND_ERR), 24412),
    Entry("p2-fix", _cfg(1, 2, 1, "per-round", live=False, faults=_SEND_ERR), 810),
    # the patch series in patches/ (model/variants/upstream.py): each patch before and
    # after, at the configuration its commit message gives
    Entry("qemu-10.0", _file(2, 2, 1, "per-round", live=False, faults=_SHORT), 95,
          breaks=("errors_carry_their_cause",)),
    Entry("qemu-10.0-patch1", _file(2, 2, 1, "per-round", live=False, faults=_SHORT), 99),
    Entry("qemu-10.0-patch1", _file(2, 3, 1, "per-round", live=False, faults=_READ_ERR), 185,
          breaks=("errors_carry_their_cause",)),
    Entry("qemu-10.0-patch2", _file(2, 3, 1, "per-round", live=False, faults=_READ_ERR), 213),
    Entry("qemu-10.0-patch2", _file(2, 3, 1, "per-round", live=False, faults=_SHORT), 213),
    Entry("qemu-10.0-patch2", _cfg(2, 1, 1, "per-round", live=False, faults=_SEND_ERR), 6609,
          breaks=("no_deadlock",)),
    Entry("qemu-10.0-patch3", _file(2, 3, 1, "per-round", live=False, faults=_SEND_ERR), 1577),
    Entry("qemu-10.0-patched", _file(2, 3, 1, "per-round", live=False, faults=_SEND_ERR), 1565),
    Entry("qemu-10.0-patched", _cfg(2, 1, 1, "per-round", live=False, faults=_SEND_ERR), 6346),
    Entry("qemu-10.0-patched", _cfg(2, 1, 1, "per-round", live=False, faults=_READ_ERR), 9286),
    Entry("qemu-10.0-patched", _cfg(2, 1, 1, "per-round", live=False, faults=_EOF), 6144),
    Entry("qemu-10.0-patched", _cfg(2, 1, 1, "per-round", live=False, faults=("cancel",)), 10501),
    Entry("qemu-10.0-patched", _file(2, 3, 1, "per-round", live=False, faults=_SHORT), 213),
    Entry("qemu-10.0-patched", _cfg(2, 1, 2, "per-section", faults=_SEND_ERR), 24412),
    # historical bugs; the fixed code (p2-fix, seed) passes at the same configurations
    Entry("b1-no-kick-on-page-error", _cfg(2, 1, 2, "per-round", faults=_SEND_ERR), 29672),
    Entry("b2-hung-forever", _cfg(2, 1, 1, "per-round", live=False, faults=_SEND_ERR), 7430),
    Entry("b2-endless-loop", _cfg(1, 2, 1, "per-round", live=False, faults=_SEND_ERR), 776),
    Entry("b9-read-after-handover", _cfg(1, 2, 1, "per-round", live=False), 382),
    Entry("b6-channels-ready-overcount", _cfg(1, 2, 2, "per-round"), 774),
    Entry("qemu-7.2", _cfg(2, 1, 1, "per-section", live=False), 7077),
    Entry("qemu-7.2", _cfg(1, 2, 2, "per-section"), 2021),
    Entry("b15-72-source-92-dest", _cfg(1, 2, 1, "per-section", live=False), 843),
    Entry("b12-receivedmap-race", _cfg(2, 1, 1, "per-round", live=False, faults=_SEND_ERR), 10267),
    Entry("seed", Config(channels=2, pages=1, rounds=2, zero_copy=True), 7748),
    Entry("b7-flush-before-send", Config(channels=2, pages=1, rounds=1, live=False,
                                         zero_copy=True), 2862),
    Entry("b13-setup-abort", _file(2, 1, 1, "per-round", live=False, faults=_CREATE), 100),
    Entry("b13-fix", _file(2, 1, 1, "per-round", live=False, faults=_CREATE), 122),
    Entry("seed", _cfg(2, 1, 1, "per-round", live=False, faults=_CREATE), 3142),
    Entry("seed", _cfg(2, 1, 1, "per-round", live=False, faults=_CANCEL), 13764,
          breaks=("no_deadlock",)),
    Entry("p1-p2-fix", _cfg(2, 1, 1, "per-round", live=False, faults=_CANCEL), 13562),
    Entry("seed", _file(2, 2, 2, "per-round", faults=_CANCEL), 560),
    # --loops any: P1 and P2 are still found, and their fixes hold for every loop order
    Entry("seed", _any(_cfg(2, 1, 1, "per-round", live=False, faults=_SEND_ERR)), 9489,
          breaks=("no_deadlock",)),
    Entry("p2-fix", _any(_cfg(2, 1, 1, "per-round", live=False, faults=_SEND_ERR)), 9456),
    Entry("seed", _any(_file(4, 3, 1, "per-round", live=False, faults=_READ_ERR)), 592,
          breaks=("no_deadlock",)),
    Entry("p1-fix", _any(_file(4, 3, 1, "per-round", live=False, faults=_READ_ERR)), 650),
    # written with the variant API (own fields and properties): derived transactions
    Entry("b14-sync-without-flush", _cfg(2, 1, 1, "per-round", live=False), 11220),
    Entry("b14-fix", _cfg(2, 1, 1, "per-round", live=False), 7026),
    Entry("flush-mode-mismatch", _cfg(2, 1, 1, "per-round", live=False), 1057),
    Entry("before-077fbb5942", _stall(_cfg(2, 1, 1, "per-round", live=False)), 34281),
    Entry("with-077fbb5942", _stall(_cfg(2, 1, 1, "per-round", live=False)), 37975),
    Entry("b5-destroy-in-join-loop",
          _rr(_cfg(2, 1, 1, "per-round", live=False, faults=_SEND_ERR)), 59689),
    Entry("b5-fix", _rr(_cfg(2, 1, 1, "per-round", live=False, faults=_SEND_ERR)), 52946),
)


# `make check-deep`: larger configurations, minutes rather than seconds (not pinned).
DEEP = (
    Entry("seed", _cfg(2, 3, 2, "per-round"), 0),
    Entry("seed", _cfg(2, 2, 3, "per-section"), 0),
    Entry("seed", _cfg(3, 2, 1, "per-round", live=False), 0),
    Entry("seed", _file(4, 4, 3, "per-round"), 0),
    Entry("qemu-10.0", _cfg(2, 3, 2, "per-round"), 0),
    Entry("qemu-7.2", _cfg(2, 2, 2, "per-section"), 0),
    Entry("p1-fix", _file(4, 4, 2, "per-round", faults=_READ_ERR), 0),
    Entry("p2-fix", _cfg(2, 2, 2, "per-round", faults=_SEND_ERR), 0),
    Entry("seed", _cfg(3, 1, 1, "per-round", live=False, faults=_SEND_ERR), 0,
          breaks=("no_deadlock",)),
    # four channels, with QEMU's round-robin pick (the default pick does not finish here)
    Entry("seed", _rr(_cfg(4, 3, 2, "per-round")), 0),
    Entry("qemu-10.0", _rr(_cfg(4, 2, 2, "per-round")), 0),
    Entry("seed", _rr(_cfg(4, 1, 1, "per-round", live=False, faults=_SEND_ERR)), 0,
          breaks=("no_deadlock",)),                                        # P2
    Entry("p2-fix", _rr(_cfg(4, 1, 1, "per-round", live=False, faults=_SEND_ERR)), 0),
    # five channels, with the channel loops in any order and symmetry
    Entry("seed", _any(_cfg(5, 1, 1, "per-round")), 0),
    # the patch series at four channels, under every fault layer but network-stall (which
    # hangs 10.0 and the series alike: tests/test_upstream.py)
    *(Entry("qemu-10.0-patched", _cfg(4, 1, 1, "per-round", live=False, faults=(f,)), 0)
      for f in ("send-write-error", "recv-read-error", "recv-eof", "channel-create-error",
                "cancel")),
    *(Entry("qemu-10.0-patched", _file(4, 1, 1, "per-round", live=False, faults=(f,)), 0)
      for f in ("send-write-error", "recv-read-error", "short-read", "recv-eof",
                "channel-create-error", "cancel")),
)


def run_entry(entry: Entry, max_seconds=None, max_memory_mb=None) -> dict:
    """Verify one entry; `ok` says whether verdict and state count are as expected."""
    _, result = verify(entry.config, get_variant(entry.variant), max_seconds=max_seconds,
                       max_memory_mb=max_memory_mb)
    return judge(entry, result)


def judge(entry: Entry, result) -> dict:
    """The matrix row of one entry's result."""
    breaks = entry.expected_breaks()
    if breaks:
        verdict_ok = result.verdict == "violation" and set(breaks) <= set(result.violations)
    else:
        verdict_ok = result.verdict == "pass"
    expected = "violation: " + ", ".join(breaks) if breaks else "pass"
    return {"variant": entry.variant, "config": entry.config.as_dict(),
            "label": entry.config.label(), "expected": expected,
            "verdict": result.verdict, "property": result.property,
            "violations": list(result.violations), "states": result.states,
            "pinned_states": entry.states, "seconds": round(result.seconds, 3),
            "ok": verdict_ok and entry.states in (0, result.states),
            "verdict_ok": verdict_ok, "bound": result.bound,
            "stopped": _stopped(breaks, result)}


def _stopped(breaks, result) -> bool:
    """Whether a bound stopped the entry before its verdict could be judged: anything
    but a violation where a pass was expected (that one is a verdict, bound or not)."""
    return result.bound is not None and not (result.verdict == "violation" and not breaks)


def run_matrix(entries=MATRIX, jobs=None, on_result=None, max_seconds=None,
               max_memory_mb=None) -> list:
    """Run the entries on `jobs` processes (default: every core), results in entry order.
    Bounds are each entry's; memory is each worker's (default: its share of 3/4 of what
    the process may use)."""
    jobs = jobs or os.cpu_count() or 1
    run = partial(run_entry, max_seconds=max_seconds,
                  max_memory_mb=max_memory_mb or default_memory_mb(jobs))
    if jobs == 1:
        results = []
        for entry in entries:
            results.append(run(entry))
            if on_result:
                on_result(results[-1])
        return results
    return run_ordered(run, entries, jobs, on_result)


def entry_line(r: dict) -> str:
    mark = "ok  " if r["ok"] else "FAIL"
    got = r["verdict"] if r["verdict"] != "violation" else r["property"]
    more = len(r["violations"]) - 1
    if r["verdict"] == "violation" and more:
        got += f" (+{more} more)"
    line = (f"{mark} {r['variant']:<21} {r['label']:<51} {got:<44} "
            f"{r['states']:>9,} states {r['seconds']:>6.2f} s")
    if not r["verdict_ok"] and not r["stopped"]:
        line += f"\n     expected {r['expected']}"
    if r["stopped"] and not r["ok"]:
        line += f"\n     stopped before a verdict: {r['bound']}"
    elif r["pinned_states"] and r["states"] != r["pinned_states"]:
        line += f"\n     state count {r['states']:,} differs from the pinned {r['pinned_states']:,}"
    return line


def summary_line(results: list, seconds: float) -> str:
    bad = [r for r in results if not r["ok"]]
    stopped = sum(r["stopped"] for r in bad)
    states = sum(r["states"] for r in results)
    return (f"{len(results) - len(bad)} of {len(results)} configurations as expected, "
            f"{len(bad) - stopped} not" + (f", {stopped} stopped by a bound" if stopped else "")
            + f"; {states:,} states in {seconds:.1f} s")
