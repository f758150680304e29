#!/bin/bash
# Every report the tool writes, for one checkout, with seconds stripped, so that two
# checkouts can be compared with `diff -r` (a move must change no report):
#
#   git worktree add /tmp/old OLD_COMMIT
#   research/reports.sh /tmp/old /tmp/reports-old
#   research/reports.sh .        /tmp/reports-new
#   diff -r /tmp/reports-old /tmp/reports-new
#
# PY (default: this checkout's .venv/bin/python) runs the command line from REPO.
set -u
PY=${PY:-$(pwd)/.venv/bin/python}
REPO=$1; OUT=$(realpath -m "$2"); rm -rf "$OUT"; mkdir -p "$OUT/runs"
cd "$REPO"
MC() { "$PY" -c "import sys; sys.argv[0]='multifd-check'; from checks.cli import main; sys.exit(main())" "$@"; }
MC --help > "$OUT/help.txt"
for c in run variants matrix diagrams trace; do MC $c --help > "$OUT/help-$c.txt"; done
MC variants > "$OUT/variants.txt"; MC variants --json > "$OUT/variants.json"
MC matrix --json 2>/dev/null > "$OUT/matrix.json"; echo "matrix rc=$?" >> "$OUT/rc.txt"
for v in $(MC variants --json | "$PY" -c "import json,sys; [print(v['name']) for v in json.load(sys.stdin)['variants']]"); do
  MC run --variant "$v" --quiet --max-seconds 120 --out "$OUT/runs/$v" > "$OUT/runs/$v.txt" 2>&1
  echo "$v rc=$?" >> "$OUT/rc.txt"
done
MC run --variant seed --faults send-write-error --pages 1 --no-live --quiet --out "$OUT/runs/p2chart" \
  > "$OUT/runs/p2chart.txt" 2>&1
MC run --variant seed --fine-grained --quiet --json > "$OUT/runs/seed-fine.json" 2>&1
for f in examples/*.py; do
  b=$(basename "$f" .py)
  MC run --variant-file "$f" --quiet --out "$OUT/runs/ex-$b" > "$OUT/runs/ex-$b.txt" 2>&1
done
for m in tests/fixtures/traces/*.meta.json; do
  s=${m%.meta.json}; b=$(basename "$s"); q=$(echo "$b" | sed -E 's/qemu([0-9.]+)-.*/\1/')
  MC trace "$s.src.log" "$s.dst.log" --qemu "$q" > "$OUT/trace-$b.txt" 2>&1
  MC trace "$s.src.log" "$s.dst.log" --qemu "$q" --json > "$OUT/trace-$b.json" 2>&1
done
MC diagrams --out "$OUT/diagrams" 2>&1 | grep -v "^wrote\|index.html$" > "$OUT/diagrams.txt"
# seconds and rates vary from run to run; nothing else may
find "$OUT" -type f \( -name '*.txt' -o -name '*.json' -o -name '*.html' -o -name '*.dot' \
  -o -name '*.svg' \) -exec sed -i -E \
  -e 's/[0-9]+(\.[0-9]+)? ?(s|seconds|ms)\b/<T>/g' \
  -e 's/"(seconds|elapsed|wall|cpu_seconds|states_per_second|rate|elapsed_s)": [0-9.e+-]+/"\1": <T>/g' \
  -e 's/[0-9,.]+[kM]? states\/s/<R> states\/s/g' -e 's/class="n">[0-9]+\.[0-9]+</class="n"><T></g' {} +
