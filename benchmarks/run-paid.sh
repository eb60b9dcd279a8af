#!/usr/bin/env bash
# Paid requests at proxy speed: the same non-streaming requests sent with wrk directly to the simulator and through
# Tollgate with a per_request (or stream_budget, or none: the open proxy, usage still journaled) account on the
# embedded ledger, alternating, in one run. Prints throughput and latency at 1 and 32 connections, CPU per request
# of the proxy and of the simulator (from /proc/PID/stat) and their ratio, the proxy's CPU per request by thread
# group (from /proc/PID/task/*/stat), and the ledger's commits and journaled records per second. Needs wrk
# (Debian package 'wrk').
#   bash benchmarks/run-paid.sh [per_request|stream_budget|none] [seconds per run, default 10] [options]
# Options:
#   --pin          Tollgate on core 1, the simulator and wrk on core 0 (taskset); default: not pinned
#   --before JAR   a second Tollgate from JAR (e.g. built from main) beside this tree's, same simulator, runs
#                  alternating direct / before / after
#   --rounds N     alternations (default 2)
#   --body FILE    the chat request's JSON body (default: one 11-character message, max_tokens 16)
set -euo pipefail
cd "$(dirname "$0")/.."
policy="${1:-per_request}"
secs="${2:-10}"
shift $(( $# < 2 ? $# : 2 ))
pin=0; before_jar=""; rounds=2; body_file=""
while [ $# -gt 0 ]; do
  case "$1" in
    --pin) pin=1 ;;
    --before) before_jar="$2"; shift ;;
    --rounds) rounds="$2"; shift ;;
    --body) body_file="$2"; shift ;;
    *) echo "run-paid: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
command -v wrk >/dev/null || { echo "run-paid: wrk is needed (apt-get install wrk)" >&2; exit 2; }
./tollgate --help >/dev/null
wrk_pin=()
if [ "$pin" = 1 ]; then
  [ "$(nproc)" -ge 2 ] || { echo "run-paid: --pin needs two cores" >&2; exit 2; }
  export PROXY_CPUS=1 SIM_CPUS=0
  wrk_pin=(taskset -c 0)
fi
. benchmarks/pair.sh
start_pair 18000 18080 19090 "$policy" "100.00" --ttft-ms 0
targets=("after:$proxy_port:$proxy_pid:19090")
if [ -n "$before_jar" ]; then
  start_tollgate before "$before_jar" 18081 19091 "$policy" "100.00"
  targets=("before:18081:$tollgate_pid:19091" "${targets[@]}")
else
  targets=("through:$proxy_port:$proxy_pid:19090")
fi
if [ -n "$body_file" ]; then
  cp "$body_file" "$work/body.json"
else
  printf '%s' '{"model":"tollgate-sim-1","messages":[{"role":"user","content":"hello there"}],"max_tokens":16}' \
    >"$work/body.json"
fi
cat >"$work/post.lua" <<LUA
local f = io.open("$work/body.json", "rb")
wrk.body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
LUA
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
threads() { # pid -> one line per thread: name ticks
  for t in /proc/"$1"/task/*/stat; do
    sed -E 's/^[0-9]+ \((.*)\) [A-Za-z] (([^ ]+ ){10})([0-9]+) ([0-9]+).*/\1\t\4 \5/' "$t" 2>/dev/null \
      | awk -F'\t' '{split($2, a, " "); gsub(/ /, "_", $1); print $1, a[1] + a[2]}'
  done
}
metric() { # admin_port name -> value or 0
  curl -s "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n {print $2; f=1} END {if (!f) print 0}'
}
run() { # target conns seconds -> wrk output
  "${wrk_pin[@]}" wrk -t1 -c"$2" -d"$3"s --latency -s "$work/post.lua" "http://127.0.0.1:$1/v1/chat/completions"
}
echo "warming up (JIT)..." >&2
for t in "${targets[@]}"; do
  IFS=: read -r _ port _ _ <<<"$t"
  run "$port" 8 20 >/dev/null; run "$port" 1 5 >/dev/null
done
run $sim_port 8 5 >/dev/null
tick=$(getconf CLK_TCK)
report() { # label port conns pid admin_port (pid and admin empty: direct)
  local label=$1 port=$2 conns=$3 pid=${4:-} admin=${5:-}
  local p0=0 s0 out p1=0 s1 reqs c0=0 c1=0 r0=0 r1=0
  if [ -n "$pid" ]; then
    threads "$pid" >"$work/t0"; p0=$(cpu "$pid")
    c0=$(metric "$admin" tollgate_ledger_commits_total); r0=$(metric "$admin" tollgate_journal_usage_records_total)
  fi
  s0=$(cpu $sim_pid)
  out="$(run "$port" "$conns" "$secs")"
  s1=$(cpu $sim_pid)
  if [ -n "$pid" ]; then
    p1=$(cpu "$pid"); threads "$pid" >"$work/t1"
    c1=$(metric "$admin" tollgate_ledger_commits_total); r1=$(metric "$admin" tollgate_journal_usage_records_total)
  else
    : >"$work/t0"; : >"$work/t1"
  fi
  echo "$out" >"$work/wrk.out"
  python3 - "$label" "$conns" "$((p1 - p0))" "$((s1 - s0))" "$tick" "$secs" "$work" "$((c1 - c0))" "$((r1 - r0))" \
    "${pid:+1}" <<'PY'
import re, sys
label, conns = sys.argv[1], sys.argv[2]
pt, st, tick, secs = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
work, commits, records, proxied = sys.argv[7], int(sys.argv[8]), int(sys.argv[9]), sys.argv[10] == "1"
out = open(f"{work}/wrk.out").read()
reqs = int(re.search(r"(\d+) requests in", out).group(1))
def lat(p):
    m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)" % p, out, re.M)
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v if u == "ms" else v * 1000
errs = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
us = lambda ticks: ticks * 1e6 / tick / max(reqs, 1)
def group(name):
    if name.startswith(("multiThreadIoEv", "nioEventLoop", "epollEventLoop")):
        return "loops"
    if name.startswith("tollgate-meteri"):
        return "metering"
    if name.startswith("tollgate-journ"):
        return "journal"
    if name.startswith(("tollgate-wal", "tollgate-settl", "tollgate-ledge")):
        return "settle/wal"
    if name.startswith(("C1_Compiler", "C2_Compiler")):
        return "jit"
    if name.startswith(("GC_Thread", "G1_")):
        return "gc"
    return "other"
def load(f):
    d = {}
    for line in open(f):
        name, t = line.rsplit(" ", 1)
        d.setdefault(name, []).append(int(t))
    return d
groups = {}
if proxied:
    t0, t1 = load(f"{work}/t0"), load(f"{work}/t1")
    for name, ticks in t1.items():
        # Threads are matched by name in order; a thread that started during the run counts from zero.
        before = t0.get(name, [])
        delta = sum(ticks) - sum(before[:len(ticks)])
        groups[group(name)] = groups.get(group(name), 0) + max(delta, 0)
order = ["loops", "metering", "journal", "settle/wal", "jit", "gc", "other"]
split = " / ".join(f"{us(groups.get(g, 0)):.0f}" for g in order) if proxied else ""
# The proxy's JIT compiler threads are reported apart: on a short run they are still warming up, not serving.
jit = groups.get("jit", 0)
ratio = f"{pt / st:.2f} ({(pt - jit) / st:.2f})" if proxied and st > 0 else ""
ledger = f"{commits / secs:,.0f} / {records / secs:,.0f}" if proxied else ""
print(f"| {label} | {conns} | {reqs / secs:,.0f} | {lat(50):.3f} | {lat(99):.3f} | "
      f"{us(pt) if proxied else 0:.1f} | {us(st):.1f} | {ratio} | {split} | {ledger} | {errs.group(1) if errs else 0} |")
PY
}
echo "policy: $policy, $secs s per run, $(nproc) cores, $([ "$pin" = 1 ] && echo "pinned: Tollgate on cpu 1, simulator and wrk on cpu 0" || echo "not pinned")"
echo
echo "| target | connections | req/s | p50 ms | p99 ms | proxy CPU us/req | simulator CPU us/req | proxy/simulator CPU (without JIT threads) | proxy us/req: loops / metering / journal writer / settle+wal / jit / gc / other | ledger commits/s / journaled records/s | non-2xx |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for round in $(seq 1 "$rounds"); do
  for conns in 1 32; do
    report "direct" $sim_port $conns
    for t in "${targets[@]}"; do
      IFS=: read -r label port pid admin <<<"$t"
      report "$label ($policy)" "$port" $conns "$pid" "$admin"
    done
  done
done
