"""multifd-check: the command line (docs/cli.md).

Exit codes: 0 every property holds (matrix: every entry as expected; trace: the logs
conform); 1 a property is violated (matrix: an entry is not as expected; trace: the logs
are rejected); 2 bad usage or bad input, a variant file's errors included; 3 a resource
bound was hit before a verdict; 4 an internal error, a bug in the checker (one line, the
traceback in a file; --debug shows it).
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

from model.config import (FAULTS, FLUSH_MODES, LOOPS, PICKS, TRANSPORTS, Config, ConfigError,
                          parse_zero_pages)
from model.machine import ModelError
from model.protocol import symmetry_refusal
from model.variants import (CATALOGUE, NOT_MODELLED, VariantError, get_variant,
                            load_variant_file)

from .traces import replay
from . import matrix as matrix_mod
from .reports.counterexample import render, result_json
from .engine.explorer import default_progress
from .properties import property_docs, property_names
from .reports.review import build, chart_sources, write_dot
from .traces.tracelog import TraceError, version_key
from .verify import transactions_for, verify

__all__ = ["main"]

EXIT_PASS, EXIT_VIOLATION, EXIT_USAGE, EXIT_BOUND, EXIT_INTERNAL = 0, 1, 2, 3, 4


class UsageError(Exception):
    """Bad usage or bad input: printed as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


def _count(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _parser():
    p = _Parser(prog="multifd-check",
                description="Model-check QEMU multifd migration synchronization.",
                epilog="exit codes: 0 pass (matrix: all as expected; trace: conforms), "
                       "1 violation (matrix: not as expected; trace: rejected), 2 bad usage "
                       "or input, 3 a bound hit before a verdict, 4 an internal error")
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
                     help="force symmetry reduction over channel identities (with --loops "
                          "index it is not an automorphism; see docs/scale.md)")
    sym.add_argument("--no-symmetry", action="store_true",
                     help="no symmetry reduction (the default unless --loops any)")
    run.add_argument("--fingerprint", action="store_true",
                     help="keep 64-bit hashes, not states (less memory; safety and deadlock "
                          "only, with the collision probability)")
    steps = run.add_mutually_exclusive_group()
    steps.add_argument("--transactions", choices=("declared", "derived"),
                       help="where a thread's steps are cut into transactions: at the waits "
                            "the roles declare (the catalogue's own tables only) or where "
                            "what the steps read and write says; default: declared for a "
                            "catalogue variant as it is, derived for anything else")
    steps.add_argument("--fine-grained", action="store_true",
                       help="one step per row: no transaction reduction")
    run.add_argument("--max-states", type=_positive, help="stop after K states (exit 3)")
    run.add_argument("--max-seconds", type=_positive, metavar="S",
                     help="stop after S seconds of search (exit 3)")
    run.add_argument("--max-memory", type=_positive, metavar="MB",
                     help="stop when the process uses more (default: 3/4 of the machine)")
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
    dia = sub.add_parser("diagrams", help="draw the thread diagrams, charts and review page")
    dia.add_argument("--out", default="diagrams", metavar="DIR", help="default: diagrams/")
    dia.add_argument("--jobs", type=_positive, help="parallel processes (default: all cores)")

    tr = sub.add_parser("trace", help="validate real QEMU trace logs against the model")
    tr.add_argument("src", metavar="SRC_LOG", help="the source's trace log ('none' if absent)")
    tr.add_argument("dst", metavar="DST_LOG", help="the destination's trace log ('none' if absent)")
    tr.add_argument("--qemu", required=True, metavar="VERSION", help="7.2 or 10.0 (10.0.x)")
    tr.add_argument("--json", action="store_true")
    return p


def main(argv=None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)   # `| head` ends us quietly
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        args = _parser().parse_args(argv)
        return {"run": cmd_run, "variants": cmd_variants, "matrix": cmd_matrix,
                "trace": cmd_trace, "diagrams": cmd_diagrams}[args.command](args)
    except (UsageError, ConfigError, VariantError, TraceError) as e:
        print(f"multifd-check: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except ModelError as e:
        if e.internal:
            return _internal(e, debug)
        print(f"multifd-check: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError:
        print("multifd-check: error: out of memory; bound the run with --max-states",
              file=sys.stderr)
        return EXIT_BOUND
    except KeyboardInterrupt:
        print("multifd-check: interrupted", file=sys.stderr)
        return 130
    except Exception as e:          # a bug in the checker: one line, and where to look
        return _internal(e, debug)


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
    print(f"multifd-check: internal error (a bug in the checker): {type(error).__name__}: "
          f"{error}; {where}", file=sys.stderr)
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


def _default_memory_mb() -> int:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 0
    return int(total * 3 / 4) // (1 << 20)


def cmd_run(args) -> int:
    variant = _chosen_variant(args)
    config = _config(args, variant)
    transactions = _transactions(args, config, variant)
    refusal = symmetry_refusal(config, variant) if args.symmetry else None
    if refusal:
        raise UsageError(f"--symmetry does not apply {refusal}")
    if args.symmetry and transactions != "declared":
        raise UsageError("--symmetry needs the catalogue's declared transactions")
    progress = None if args.quiet else default_progress
    try:
        system, result = verify(config, variant, max_states=args.max_states,
                                max_memory_mb=args.max_memory or _default_memory_mb(),
                                progress=progress, transactions=transactions,
                                symmetry=True if args.symmetry else
                                False if args.no_symmetry else None,
                                max_seconds=args.max_seconds, fingerprint=args.fingerprint)
    except ModelError:
        raise
    except ValueError as e:
        raise UsageError(str(e)) from None
    text = render(system, result, property_docs(variant))
    data = result_json(system, result)
    print(json.dumps(data, indent=2) if args.json else text, end="\n" if args.json else "")
    if not args.quiet:
        print(f"{result.states:,} states in {result.seconds:.2f} s", file=sys.stderr)
    if args.out:
        stem = f"{variant.name}-{config.slug()}"
        _write_outputs(args.out, stem, text, data)
        _write_charts(args.out, stem, system, result)
    if result.verdict == "violation":
        return EXIT_VIOLATION
    return EXIT_BOUND if result.verdict == "inconclusive" else EXIT_PASS


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
    """The counterexample's sequence chart (and a deadlock's wait-for graph) as DOT + SVG."""
    for kind, source in chart_sources(system, result).items():
        try:
            write_dot(os.path.join(directory, f"{stem}-{kind}"), source)
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"multifd-check: note: {kind} not rendered to SVG ({e})", file=sys.stderr)


def _write_outputs(directory, stem, text, data) -> None:
    try:
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, stem + ".txt"), "w") as f:
            f.write(text)
        with open(os.path.join(directory, stem + ".json"), "w") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
    except OSError as e:
        raise UsageError(f"--out {directory}: {e.strerror}") from None


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
    began = time.monotonic()
    on_result = None if args.json else (lambda r: print(matrix_mod.entry_line(r), flush=True))
    entries = matrix_mod.DEEP if args.deep else matrix_mod.MATRIX
    results = matrix_mod.run_matrix(entries, jobs=args.jobs, on_result=on_result)
    seconds = time.monotonic() - began
    summary = matrix_mod.summary_line(results, seconds)
    if args.json:
        print(json.dumps({"results": results, "summary": summary}, indent=2))
    else:
        print(summary)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "matrix.json"), "w") as f:
            json.dump({"results": results}, f, indent=2)
            f.write("\n")
    return EXIT_PASS if all(r["ok"] for r in results) else EXIT_VIOLATION



def cmd_trace(args) -> int:
    try:
        version_key(args.qemu)
    except ValueError as e:
        raise UsageError(str(e)) from None
    src, dst = (None if p == "none" else p for p in (args.src, args.dst))
    if src is None and dst is None:
        raise UsageError("give at least one of SRC_LOG and DST_LOG")
    verdict = replay.validate_files(src, dst, args.qemu)
    if args.json:
        print(json.dumps(replay.verdict_json(verdict), indent=1))
    else:
        print(replay.render(verdict, src, dst))
    return EXIT_PASS if verdict.conforms else EXIT_VIOLATION


def cmd_diagrams(args) -> int:
    if shutil.which("dot") is None:
        raise UsageError("graphviz's dot is missing: sudo apt-get install graphviz")
    try:
        page = build(args.out, jobs=args.jobs, log=lambda line: print(line, file=sys.stderr))
    except OSError as e:
        raise UsageError(f"--out {args.out}: {e.strerror or e}") from None
    print(page)
    return EXIT_PASS


if __name__ == "__main__":
    sys.exit(main())
