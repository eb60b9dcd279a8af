#!/usr/bin/env bash
# Paid requests at proxy speed: the same non-streaming requests sent with wrk directly to the simulator and through
# Tollgate with a per_request (or stream_budget) account on the embedded ledger, alternating, in one run. Prints
# added latency at one connection, throughput at 32 connections, and CPU per request of the proxy and of the
# simulator (from /proc/PID/stat). Needs wrk (Debian package 'wrk').
#   bash benchmarks/run-paid.sh [per_request|stream_budget] [seconds per run, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
policy="${1:-per_request}"
secs="${2:-10}"
command -v wrk >/dev/null || { echo "run-paid: wrk is needed (apt-get install wrk)" >&2; exit 2; }
./tollgate --help >/dev/null
. benchmarks/pair.sh
start_pair 18000 18080 19090 "$policy" "100.00" --ttft-ms 0
cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"model":"tollgate-sim-1","messages":[{"role":"user","content":"hello there"}],"max_tokens":16}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
LUA
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() { # target conns seconds -> wrk output
  wrk -t1 -c"$2" -d"$3"s --latency -s "$work/post.lua" "http://127.0.0.1:$1/v1/chat/completions"
}
echo "warming up (JIT)..." >&2
run $proxy_port 8 15 >/dev/null; run $proxy_port 1 5 >/dev/null; run $sim_port 8 5 >/dev/null
tick=$(getconf CLK_TCK)
report() { # label target conns
  local p0 s0 out p1 s1 reqs
  p0=$(cpu $proxy_pid); s0=$(cpu $sim_pid)
  out="$(run "$2" "$3" "$secs")"
  p1=$(cpu $proxy_pid); s1=$(cpu $sim_pid)
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  python3 - "$1" "$3" "$reqs" "$((p1 - p0))" "$((s1 - s0))" "$tick" "$secs" <<PY
import re, sys
label, conns, reqs, pt, st, tick, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
out = """$out"""
def lat(p):
    m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)" % p, out, re.M)
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v if u == "ms" else v * 1000
errs = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
print(f"| {label} | {conns} | {reqs / secs:,.0f} | {lat(50):.3f} | {lat(99):.3f} | "
      f"{pt * 1e6 / tick / max(reqs, 1):.1f} | {st * 1e6 / tick / max(reqs, 1):.1f} | {errs.group(1) if errs else 0} |")
PY
}
echo "policy: $policy, $secs s per run, $(nproc) cores"
echo
echo "| target | connections | req/s | p50 ms | p99 ms | proxy CPU us/req | simulator CPU us/req | non-2xx |"
echo "|---|---|---|---|---|---|---|---|"
for round in 1 2; do
  report "direct" $sim_port 1
  report "through ($policy)" $proxy_port 1
  report "direct" $sim_port 32
  report "through ($policy)" $proxy_port 32
done
curl -s "http://127.0.0.1:$admin_port/metrics" | grep -E "^tollgate_(ledger_commits_total|journal_usage_records_total|settlement_operations_pending) " || true
