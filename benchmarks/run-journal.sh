#!/usr/bin/env bash
# Sustained journal throughput with per_request settlement (JournalThroughput): this tree's build and, with
# --before, an older build's escrow code, alternating in one run.
#   bash benchmarks/run-journal.sh [--before OLD-benchmarks.jar] [--rounds N] [--records N]
# OLD-benchmarks.jar is benchmarks/target/benchmarks.jar built at an older commit; the harness class comes from this
# tree's jar, the journal and ledger classes from the old one.
set -euo pipefail
cd "$(dirname "$0")/.."
before=""; rounds=2; records=51200
while [ $# -gt 0 ]; do
  case "$1" in
    --before) before="$2"; shift ;;
    --rounds) rounds="$2"; shift ;;
    --records) records="$2"; shift ;;
    *) echo "run-journal: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
jar=benchmarks/target/benchmarks.jar
[ -f "$jar" ] || ./mvnw -q -B -DskipTests package -pl benchmarks -am
main=dev.tollgate.bench.journal.JournalThroughput
for r in $(seq 1 "$rounds"); do
  if [ -n "$before" ]; then
    echo -n "before round $r: "; java -cp "$before:$jar" "$main" "$records" 3
  fi
  echo -n "after  round $r: "; java -cp "$jar" "$main" "$records" 3
done
