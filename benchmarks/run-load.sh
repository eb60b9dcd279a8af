#!/usr/bin/env bash
# Direct-vs-Tollgate load harness. Builds what it needs, then runs; results go to benchmarks/RESULTS-load.md.
#   bash benchmarks/run-load.sh            # full run (about 10 minutes)
#   bash benchmarks/run-load.sh --quick    # about 2 minutes
set -euo pipefail
cd "$(dirname "$0")/.."
./mvnw -q -B -DskipTests package -pl benchmarks -am
exec java -Xmx1g -Dio.netty.leakDetection.level=disabled -cp benchmarks/target/benchmarks.jar \
  dev.tollgate.bench.load.LoadHarness "$@"
