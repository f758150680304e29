"""multifd-check: the command line (docs/cli.md).

Exit codes (CONTRACT): 0 every property holds (matrix: every entry as expected; trace: the
logs conform); 1 a property is violated (matrix: an entry is not as expected; trace: the
logs are rejected); 2 bad usage or bad input, a variant file's errors included; 3 a
resource bound was hit before a verdict; 4 an internal error, a bug in the checker (one
line, the traceback in a file; --debug shows it); 128+N stopped by signal N (130 Ctrl-C,
143 SIGTERM), with no worker left running and no partial output file.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time

from model.config import (FAULTS, FLUSH_MODES, LOOPS, PICKS, TRANSPORTS, WHOLE_NUMBER, Config,
                          ConfigError, parse_zero_pages)
from model.machine import ModelError
from model.protocol import symmetry_refusal
from model.variants import (CATALOGUE, NOT_MODELLED, VariantError, get_variant,
                            load_variant_file)

from .traces import replay
from . import matrix as matrix_mod
from .reports.counterexample import render, result_json
from .engine.bounds import BoundHit, Watchdog, default_memory_mb, stop_reason
from .engine import core
from .engine.explorer import default_progress
from .output import OutputError, discard_partial, out_dir, safe_stem, write_atomic
from .properties import property_doc, property_docs, property_names
from .reports.mermaid import counterexample_diagram
from .reports.netgraph import GRAPHML_LIMIT, NETWORKX_LIMIT, GraphTooLarge, to_networkx, \
    write_graphml
from .reports.review import build, chart_sources, write_dot
from .traces.tracelog import TraceError
from .verify import transactions_for, verify

__all__ = ["main"]

EXIT_PASS, EXIT_VIOLATION, EXIT_USAGE, EXIT_BOUND, EXIT_INTERNAL = 0, 1, 2, 3, 4
EXIT_SIGNAL = 128            # + the signal's number
CONTRACT = ("exit codes: 0 pass (matrix: every entry as expected; trace: the logs conform); "
            "1 violation (matrix: an entry not as expected; trace: the logs rejected); "
            "2 bad usage or bad input; 3 a bound hit before a verdict; 4 an internal error, "
            "a bug in the checker (one line; the traceback in a file, or shown with "
            "--debug); 130 or 143 stopped by Ctrl-C or SIGTERM (no worker left running, no "
            "partial output file)")
MESSAGE_MAX = 300            # an error message is one line, at most this long


class UsageError(Exception):
    """Bad usage or bad input: printed as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _count(text):
    """A whole number in ASCII digits (not '٣', '1_0' or ' 3'), at most nine of them."""
    if not WHOLE_NUMBER.fullmatch(text):
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text[:20]!r}")
    return int(text)


def _positive(text):
    value = _count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


def _parser():
    p = _Parser(prog="multifd-check",
                description="Model-check QEMU multifd migration synchronization.",
                epilog=CONTRACT)
    p.add_argument("--debug", action="store_true",
                   help="show an internal error's traceback instead of writing it to a file")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    run = sub.add_parser("run", help="check one variant at one configuration")
    run.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    run.add_argument("--variant", help="a name from `multifd-check variants` (default: seed, "
                                       "or the one variant --variant-file defines)")
    run.add_argument("--variant-file", metavar="FILE",
                     help="a Python file defining Variants (model.variants API)")
    run.add_argument("--transport", choices=TRANSPORTS,
                     help="socket (packets) or file (mapped-ram); default: the variant's")
    run.add_argument("--channels", type=_positive, help="multifd-channels (N); default 2")
    run.add_argument("--pages", type=_positive, help="guest pages (P); default 2")
    run.add_argument("--rounds", type=_positive, help="dirty rounds (R); default 2 live, 1 not")
    run.add_argument("--flush", choices=FLUSH_MODES,
                     help="per-section: multifd-flush-after-each-section=on; default: "
                          "the variant's (per-round for most)")
    live = run.add_mutually_exclusive_group()
    live.add_argument("--live", dest="live", action="store_true", default=None)
    live.add_argument("--no-live", dest="live", action="store_false")
    run.add_argument("--zero-pages", metavar="P@R,...",
                     help="file: pages that are zero in a round (default: the last page "
                          "in the last round; '' for none)")
    run.add_argument("--zero-copy", action="store_true", default=None,
                     help="zero-copy-send (sockets)")
    run.add_argument("--socket-capacity", type=_count, metavar="K",
                     help="packets a channel socket holds before sendmsg() blocks "
                          "(default 0: never blocks)")
    run.add_argument("--max-faults", type=_positive, metavar="K",
                     help="faults that may strike in one run (default 1)")
    run.add_argument("--pick", choices=PICKS,
                     help="which idle channel takes a job: any (the default, an "
                          "over-approximation) or round-robin (QEMU's scan from next_channel)")
    run.add_argument("--faults", metavar="LAYER,...",
                     help="fault layers: " + ", ".join(FAULTS) + " (one fault per run); "
                          "default: those the variant is judged under; '' for none")
    run.add_argument("--loops", choices=LOOPS,
                     help="the order multifd_send_sync_main()'s wait and the joins visit the "
                          "channels: index (QEMU's, the default) or any (an "
                          "over-approximation where symmetry reduction is sound)")
    sym = run.add_mutually_exclusive_group()
    sym.add_argument("--symmetry", action="store_true",
                     help="force symmetry reduction over channel identities where it is "
                          "not sound (a loop over channels that can stop half way, as with "
                          "a fault layer; see docs/scale.md)")
    sym.add_argument("--no-symmetry", action="store_true",
                     help="no symmetry reduction (the default is on where it is sound: with "
                          "--loops any, or with no fault layer and any idle channel)")
    run.add_argument("--fingerprint", action="store_true",
                     help="keep 64-bit hashes, not states (less memory; safety and deadlock "
                          "only, with the collision probability)")
    run.add_argument("--threads", type=_positive, metavar="K",
                     help="threads for the compiled search (the same result on any "
                          "number); default: the cores this process may use, at most 64")
    steps = run.add_mutually_exclusive_group()
    steps.add_argument("--transactions", choices=("declared", "derived"),
                       help="where a thread's steps are cut into transactions: at the waits "
                            "the roles declare (the catalogue's own tables only) or where "
                            "what the steps read and write says; default: declared for a "
                            "catalogue variant as it is, derived for anything else")
    steps.add_argument("--fine-grained", action="store_true",
                       help="one step per row: no transaction reduction")
    run.add_argument("--split-waits", action="store_true",
                     help="with declared transactions, each wait of multifd_recv_sync_main(), "
                          "of a sync's collect and of each side's join loop its own step, as "
                          "QEMU takes them (slower; the default takes such a run of waits as "
                          "one step)")
    run.add_argument("--max-states", type=_positive, help="stop at K states (exit 3)")
    _bound_options(run, "the run, guards, effects and the analysis after the search included")
    run.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.add_argument("--out", metavar="DIR", help="also write the report and JSON into DIR")

    var = sub.add_parser("variants", help="list the variant catalogue")
    var.add_argument("--variant-file", metavar="FILE", help="list this file's variants too")
    var.add_argument("--json", action="store_true")

    mat = sub.add_parser("matrix", help="check every variant at its configurations")
    mat.add_argument("--jobs", type=_positive, help="parallel processes (default: all cores)")
    mat.add_argument("--deep", action="store_true", help="the larger configurations (minutes)")
    mat.add_argument("--json", action="store_true")
    mat.add_argument("--out", metavar="DIR", help="also write matrix.json into DIR")
    _bound_options(mat, "each entry; memory: each worker, its share of the default")
    dia = sub.add_parser("diagrams", help="draw the thread diagrams, charts and review page")
    dia.add_argument("--out", default="diagrams", metavar="DIR", help="default: diagrams/")
    dia.add_argument("--jobs", type=_positive, help="parallel processes (default: all cores)")

    tr = sub.add_parser("trace", help="validate real QEMU trace logs against the model")
    tr.add_argument("src", metavar="SRC_LOG", help="the source's trace log ('none' if absent)")
    tr.add_argument("dst", metavar="DST_LOG", help="the destination's trace log ('none' if absent)")
    tr.add_argument("--qemu", required=True, metavar="VERSION",
                    help="7.2, 10.0 (10.0.x), or 10.0-patched (docs/upstream.md)")
    tr.add_argument("--json", action="store_true")
    _bound_options(tr, "reading and replaying the logs")
    return p


def _bound_options(parser, scope: str) -> None:
    parser.add_argument("--max-seconds", type=_positive, metavar="S",
                        help=f"stop after S seconds (exit 3): {scope}")
    parser.add_argument("--max-memory", type=_positive, metavar="MB",
                        help="stop when the process holds more (exit 3; default: 3/4 of the "
                             "memory it may use, a container's limit included)")


class Stopped(BaseException):
    """SIGINT or SIGTERM: end at once, quietly (the handler ignores a second one)."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def _stop(signum, frame):
    _ignore_signals()
    raise Stopped(signum)


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _ignore_signals() -> None:
    for each in _SIGNALS:
        signal.signal(each, signal.SIG_IGN)


def main(argv=None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)   # `| head` ends us quietly
    main_thread = threading.current_thread() is threading.main_thread()
    previous = [signal.signal(each, _stop) for each in _SIGNALS] if main_thread else []
    argv = sys.argv[1:] if argv is None else argv
    try:
        code = _dispatch(argv)
    except (Stopped, KeyboardInterrupt) as e:
        if main_thread:
            _ignore_signals()          # on the way out: a second Ctrl-C adds nothing
        signum = getattr(e, "signum", signal.SIGINT)
        _say(f"stopped by {signal.Signals(signum).name}")
        return EXIT_SIGNAL + signum
    finally:
        discard_partial()
    for each, handler in zip(_SIGNALS, previous):
        signal.signal(each, handler)
    return code


def _dispatch(argv) -> int:
    """Run the command; every failure as one line and its exit code (CONTRACT)."""
    try:
        args = _parser().parse_args(argv)
        return {"run": cmd_run, "variants": cmd_variants, "matrix": cmd_matrix,
                "trace": cmd_trace, "diagrams": cmd_diagrams}[args.command](args)
    except (UsageError, ConfigError, VariantError, TraceError, OutputError) as e:
        _say(f"error: {e}")
        return EXIT_USAGE
    except ModelError as e:
        if e.internal:
            return _internal(e, "--debug" in argv)
        _say(f"error: {e}")
        return EXIT_USAGE
    except (BoundHit, RecursionError) as e:
        _say(f"stopped before a verdict: {stop_reason(e)}")
        return EXIT_BOUND
    except MemoryError:
        _say("error: out of memory; bound the run with --max-memory (or --max-states)")
        return EXIT_BOUND
    except Exception as e:          # a bug in the checker: one line, and where to look
        return _internal(e, "--debug" in argv)


def _say(message: str) -> None:
    """One line on stderr, whatever the message holds."""
    line = " ".join(str(message).split())
    if len(line) > MESSAGE_MAX:
        line = line[:MESSAGE_MAX - 1] + "…"
    print(f"multifd-check: {line}", file=sys.stderr)


def _internal(error: Exception, debug: bool) -> int:
    """Report a bug in the checker: the traceback to a file (or shown, with --debug)."""
    if debug:
        raise error
    import tempfile
    import traceback
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    try:
        with tempfile.NamedTemporaryFile("w", prefix="multifd-check-", suffix=".log",
                                         delete=False) as f:
            f.write(text)
        where = f"the traceback is in {f.name}"
    except OSError:
        where = "run again with --debug for the traceback"
    _say(f"internal error (a bug in the checker): {type(error).__name__}: {error}; {where}")
    return EXIT_INTERNAL


def variant_config(variant, **given) -> Config:
    """The fields given, and for the others the variant's defaults, then the model's."""
    fields = {"channels": 2, "pages": 2, "live": True, "zero_copy": False}
    fields.update(variant.default_config())
    fields.update({k: v for k, v in given.items() if v is not None})
    fields.setdefault("rounds", 2 if fields["live"] else 1)
    return Config(**fields)


def _config(args, variant) -> Config:
    given = {"transport": args.transport, "channels": args.channels, "pages": args.pages,
             "flush": args.flush, "live": args.live, "zero_copy": args.zero_copy,
             "rounds": args.rounds, "pick": args.pick, "loops": args.loops,
             "socket_capacity": args.socket_capacity, "max_faults": args.max_faults}
    if args.faults is not None:
        given["faults"] = tuple(f.strip() for f in args.faults.split(",") if f.strip())
    if args.zero_pages is not None:
        given["zero_pages"] = parse_zero_pages(args.zero_pages)
    return variant_config(variant, **given)


def cmd_run(args) -> int:
    variant = _chosen_variant(args)
    config = _config(args, variant)
    transactions = _transactions(args, config, variant)
    _refuse_options(args, config, variant, transactions)
    out = out_dir(args.out) if args.out is not None else None
    system, result = _verified(args, config, variant, transactions)
    text = render(system, result, property_docs(variant))
    data = result_json(system, result)
    if out:
        stem = f"{safe_stem(variant.name)}-{config.slug()}"
        _write_files(out, {stem + ".txt": text, stem + ".json": json.dumps(data, indent=2) + "\n"})
        _write_charts(out, stem, system, result)
    print(json.dumps(data, indent=2) if args.json else text, end="\n" if args.json else "")
    if not args.quiet:
        threads = f", {result.threads} threads" if result.threads > 1 else ""
        print(f"{result.states:,} states in {result.seconds:.2f} s ({result.loop} search loop"
              f"{threads if result.loop == 'compiled' else ', ' + core.why_python()})",
              file=sys.stderr)
    if result.verdict == "violation":
        return EXIT_VIOLATION
    return EXIT_BOUND if result.verdict == "inconclusive" else EXIT_PASS


def _verified(args, config, variant, transactions) -> tuple:
    """(system, result) of the run."""
    try:
        return verify(config, variant, max_states=args.max_states,
                      max_memory_mb=args.max_memory or default_memory_mb(),
                      progress=None if args.quiet else default_progress,
                      transactions=transactions,
                      symmetry=True if args.symmetry else False if args.no_symmetry else None,
                      max_seconds=args.max_seconds, fingerprint=args.fingerprint,
                      merge_waits=not args.split_waits, threads=_threads(args.threads))
    except ModelError:
        raise
    except ValueError as e:
        raise UsageError(str(e)) from None


def _threads(asked) -> int:
    """--threads, or the cores this process may use (at most the core's 64)."""
    if asked is not None:
        return min(asked, 64)
    return min(len(os.sched_getaffinity(0)), 64)


def _chosen_variant(args):
    """The variant `run` checks: --variant, else a file's one variant, else the seed."""
    extra = load_variant_file(args.variant_file) if args.variant_file else ()
    name = args.variant
    if name is None and extra:
        if len(extra) > 1:
            raise UsageError(f"{args.variant_file} defines {len(extra)} variants "
                             f"({', '.join(v.name for v in extra)}): pick one with --variant")
        name = extra[0].name
    variant = get_variant(name or "seed", extra)
    known = property_names(variant)
    unknown = [p for p in variant.breaks if p not in known]
    if unknown:
        raise UsageError(f"variant {variant.name} breaks {', '.join(map(repr, unknown))}: no "
                         f"such property (known: {', '.join(known)})")
    return variant


def _refuse_options(args, config, variant, transactions) -> None:
    """A UsageError for an option that does not apply to this run."""
    refusal = symmetry_refusal(config, variant) if args.symmetry else None
    if refusal:
        raise UsageError(f"--symmetry does not apply {refusal}")
    if args.symmetry and transactions != "declared":
        raise UsageError("--symmetry needs the catalogue's declared transactions")
    if args.split_waits and transactions != "declared":
        what = "--fine-grained" if transactions == "none" else "derived transactions"
        raise UsageError(f"--split-waits splits the declared transactions' runs of waits; "
                         f"with {what} each wait is its own step already")


def _transactions(args, config, variant) -> str:
    """The transactions asked for, refusing the declared transaction starts for tables they were not
    argued for: an edit there could pass where the model itself fails."""
    if args.fine_grained:
        return "none"
    auto = transactions_for(config, variant)
    if args.transactions == "declared" and auto != "declared":
        raise UsageError(f"--transactions declared is for the catalogue's own tables (no "
                         f"fields or properties of their own), with unbounded sockets, one "
                         f"fault and no network-stall; variant {variant.name} at "
                         f"{config.label()} gets derived transactions")
    return args.transactions or auto


def _write_charts(directory, stem, system, result) -> None:
    """The counterexample's sequence chart (and a deadlock's wait-for graph) as DOT + SVG,
    the chart as Mermaid too, and for a small run the explored graph as GraphML."""
    for kind, source in chart_sources(system, result).items():
        try:
            write_dot(os.path.join(directory, f"{stem}-{kind}"), source)
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"multifd-check: note: {kind} not rendered to SVG ({e})", file=sys.stderr)
    if result.property:
        mermaid = counterexample_diagram(system, result,
                                         property_doc(result.property, system.variant))
        if mermaid:
            _write_files(directory, {stem + ".mmd": mermaid})
    try:
        graph = to_networkx(system, result, limit=GRAPHML_LIMIT)
    except GraphTooLarge as e:
        more = "" if result.fingerprint else (f"; in Python, checks.reports.netgraph."
                                              f"to_networkx takes up to {NETWORKX_LIMIT:,} "
                                              f"(docs/networkx.md)")
        _say(f"note: no GraphML written: {e}{more}")
        return
    try:
        write_graphml(graph, os.path.join(directory, stem + ".graphml"))
    except OSError as e:
        raise UsageError(f"--out {directory}: {e.strerror or e}") from None


def _write_files(directory, files: dict) -> None:
    """Each file whole, or not at all (checks/output.py)."""
    try:
        for name, text in files.items():
            write_atomic(os.path.join(directory, name), text)
    except OSError as e:
        raise UsageError(f"--out {directory}: {e.strerror or e}") from None


def cmd_variants(args) -> int:
    extra = load_variant_file(args.variant_file) if args.variant_file else ()
    rows = [{"name": v.name, "stands_for": v.stands_for, "description": v.description,
             "expected": v.expected, "breaks": list(v.breaks),
             "flush_modes": list(v.flush_modes), "transports": list(v.transports),
             "faults": list(v.faults), "judged_at": variant_config(v).label()}
            for v in extra + CATALOGUE]
    if args.json:
        print(json.dumps({"variants": rows, "not_modelled": NOT_MODELLED}, indent=2))
        return EXIT_PASS
    for r in rows:
        print(f"{r['name']:<32} {r['expected']}")
        for line in (r["stands_for"], r["description"], "judged at: " + r["judged_at"]):
            print("\n".join(textwrap.wrap(line, 100, initial_indent=" " * 33,
                                           subsequent_indent=" " * 33)))
    print("\nnot modelled (and why):")
    for bug, why in NOT_MODELLED.items():
        print("\n".join(textwrap.wrap(why, 100, initial_indent=f"  {bug:<5} ",
                                       subsequent_indent=" " * 8)))
    return EXIT_PASS


def cmd_matrix(args) -> int:
    out = out_dir(args.out) if args.out is not None else None
    began = time.monotonic()
    on_result = None if args.json else (lambda r: print(matrix_mod.entry_line(r), flush=True))
    entries = matrix_mod.DEEP if args.deep else matrix_mod.MATRIX
    results = matrix_mod.run_matrix(entries, jobs=args.jobs, on_result=on_result,
                                    max_seconds=args.max_seconds, max_memory_mb=args.max_memory)
    seconds = time.monotonic() - began
    summary = matrix_mod.summary_line(results, seconds)
    if args.json:
        print(json.dumps({"results": results, "summary": summary}, indent=2))
    else:
        print(summary)
    if out:
        _write_files(out, {"matrix.json": json.dumps({"results": results}, indent=2) + "\n"})
    wrong = [r for r in results if not r["ok"]]
    if not wrong:
        return EXIT_PASS
    return EXIT_BOUND if all(r["stopped"] for r in wrong) else EXIT_VIOLATION



def cmd_trace(args) -> int:
    try:
        replay.rules(args.qemu)
    except ValueError as e:
        raise UsageError(str(e)) from None
    src, dst = (None if p == "none" else p for p in (args.src, args.dst))
    if src is None and dst is None:
        raise UsageError("give at least one of SRC_LOG and DST_LOG")
    memory = args.max_memory or default_memory_mb()
    with Watchdog(args.max_seconds, memory):
        verdict = replay.validate_files(src, dst, args.qemu, progress=_every(3.0))
    if args.json:
        print(json.dumps(replay.verdict_json(verdict), indent=1))
    else:
        print(replay.render(verdict, src, dst))
    return EXIT_PASS if verdict.conforms else EXIT_VIOLATION


def _every(seconds: float):
    """A progress callback that prints a line at most every `seconds` (stderr)."""
    due = [time.monotonic() + seconds]

    def progress(line):
        if time.monotonic() >= due[0]:
            default_progress(line)
            due[0] = time.monotonic() + seconds
    return progress


def cmd_diagrams(args) -> int:
    if shutil.which("dot") is None:
        raise UsageError("graphviz's dot is missing: sudo apt-get install graphviz")
    out_dir(args.out)
    try:
        page = build(args.out, jobs=args.jobs, log=lambda line: print(line, file=sys.stderr))
    except OSError as e:
        raise UsageError(f"--out {args.out}: {e.strerror or e}") from None
    print(page)
    return EXIT_PASS


if __name__ == "__main__":
    sys.exit(main())
