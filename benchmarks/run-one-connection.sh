#!/usr/bin/env bash
# Added latency at one connection, every request timed (no sampling): the simulator (instant answers) and Tollgate
# with one account under POLICY on the embedded ledger; sequential requests on one keep-alive connection,
# alternating direct and through in rounds (OneConnection). Prints p50 / p99 / p99.9 per run and the added values.
#   bash benchmarks/run-one-connection.sh [per_request|stream_budget|none] [seconds per run, default 5] [rounds, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
policy="${1:-per_request}"
secs="${2:-5}"
rounds="${3:-3}"
jar=benchmarks/target/benchmarks.jar
[ -f "$jar" ] || ./mvnw -q -B -DskipTests package -pl benchmarks -am
./tollgate --help >/dev/null
. benchmarks/pair.sh
start_pair 18000 18080 19090 "$policy" "100.00" --ttft-ms 0
echo "policy: $policy, $secs s per run, $(nproc) cores"
java ${ONE_CONNECTION_OPTS:-} -cp "$jar" dev.tollgate.bench.latency.OneConnection "$sim_port" "$proxy_port" sk-bench "$secs" "$rounds"
# Times the journal writer left the idle scheduling class to catch up during the run (background_threads: idle).
echo "background promotions: $(curl -s "http://127.0.0.1:$admin_port/metrics" \
  | awk '$1 == "tollgate_background_promotions_total" {print $2; f=1} END {if (!f) print "n/a"}')"
