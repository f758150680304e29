"""python -m harness {fetch,conformance,repro-p1,repro-p2}: real QEMU in the loop.

`--build patched` (repro-p1, repro-p2) and `--versions 10.0-patched` (conformance) run
QEMU 10.0.2 with the series in patches/, built by `make patched-qemu` (docs/upstream.md)."""

import argparse
import sys

from .qemu import BuildMissing, fetch_build, VERSIONS


def _parser():
    p = argparse.ArgumentParser(prog="python -m harness", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fetch", help="get the QEMU builds (apt for 7.2, backports for 10.0)")
    f.add_argument("--versions", default=",".join(VERSIONS))
    c = sub.add_parser("conformance", help="run real migrations and validate their traces")
    c.add_argument("--versions", default=",".join(VERSIONS))
    c.add_argument("--out", default="out/conformance", help="run folders")
    c.add_argument("--fixtures", help="also copy the fixture set into this folder")
    for name in ("repro-p1", "repro-p2"):
        r = sub.add_parser(name, help=f"reproduce {name[-2:].upper()} on real QEMU 10.0")
        r.add_argument("--out", default=f"out/{name}")
        r.add_argument("--runs", type=int, default=None, help="how many attempts (with "
                       "--clean: per fault setting and channel count)")
        r.add_argument("--channels", default=None, help="channel counts, e.g. 2,4")
        r.add_argument("--build", choices=("10.0", "patched"), default="10.0",
                       help="QEMU 10.0 as shipped, or built with patches/ (make patched-qemu)")
        r.add_argument("--clean", action="store_true",
                       help="judge every run for a clean failure (implied by --build patched; "
                       "on 10.0 it shows what the series fixes)")
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        if args.command == "fetch":
            for v in args.versions.split(","):
                print(fetch_build(v).describe())
            return 0
        if args.command == "conformance":
            from .conformance import run_conformance
            bad = run_conformance(args.out, args.versions.split(","), args.fixtures)
            print("conformance: all runs conform" if not bad else f"conformance: {bad} failed")
            return 1 if bad else 0
        from . import repro
        return repro.main(args)
    except BuildMissing as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
