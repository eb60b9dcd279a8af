# Sourced by the benchmark scripts: starts the simulator and Tollgate on loopback (one account, key sk-bench,
# funded with 1,000,000 USDC on the embedded ledger) and waits until both answer. Everything started is
# stopped, and the work directory removed, when the calling script exits.
#   start_pair SIM_PORT PROXY_PORT ADMIN_PORT POLICY BUDGET [simulator flags...]
# Sets: work, sim_pid, proxy_pid, sim_port, proxy_port, admin_port.
#   start_tollgate NAME JAR PROXY_PORT ADMIN_PORT POLICY BUDGET   (after start_pair: one more Tollgate in front of
#   the same simulator, e.g. a jar built from another commit, with its own data directory; sets tollgate_pid)
# Optional environment: TOLLGATE_JAR (default proxy/target/tollgate.jar), PROXY_JAVA_OPTS (extra JVM flags for
# Tollgate only, e.g. a profiler agent), PROXY_CPUS and SIM_CPUS (cpu lists for taskset: pin Tollgate and the
# simulator to their own cores).
start_pair() {
  sim_port=$1; proxy_port=$2; admin_port=$3
  local policy=$4 budget=$5
  shift 5
  work="$(mktemp -d)"
  local jar="${TOLLGATE_JAR:-proxy/target/tollgate.jar}"
  local sim_pin=()
  [ -n "${SIM_CPUS:-}" ] && sim_pin=(taskset -c "$SIM_CPUS")
  trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
  "${sim_pin[@]}" java -Xmx1g -Dio.netty.leakDetection.level=disabled -jar "$jar" simulate \
    --listen "127.0.0.1:$sim_port" "$@" >"$work/sim.log" 2>&1 &
  sim_pid=$!
  start_tollgate proxy "$jar" "$proxy_port" "$admin_port" "$policy" "$budget" || return 1
  proxy_pid=$tollgate_pid
  answers "http://127.0.0.1:$sim_port/v1/models" "the simulator" "$work/sim.log"
}

# answers URL WHAT LOG: waits (up to 20 s) until URL answers; otherwise says WHAT did not start.
answers() {
  for _ in $(seq 1 100); do
    curl -sf "$1" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "$2 did not start; see $3" >&2
  return 1
}

start_tollgate() {
  local name=$1 jar=$2 port=$3 admin=$4 policy=$5 budget=$6
  local proxy_pin=() key_hash
  [ -n "${PROXY_CPUS:-}" ] && proxy_pin=(taskset -c "$PROXY_CPUS")
  key_hash="$(java -jar "$jar" hash-key sk-bench)"
  cat >"$work/$name.yaml" <<YAML
listen: 127.0.0.1:$port
admin: 127.0.0.1:$admin
data_dir: $work/data-$name
upstreams:
  - {name: sim, url: "http://127.0.0.1:$sim_port/v1", worker: ag_worker}
api_keys:
  - {sha256: $key_hash, account: ag_payer}
settlement:
  prices: {"*": {prompt_per_million: "0.15", completion_per_million: "0.60"}}
  accounts:
    ag_payer: {policy: $policy, fund: "1000000.00", budget: "$budget"}
YAML
  "${proxy_pin[@]}" java -Xmx1g -Dio.netty.leakDetection.level=disabled ${PROXY_JAVA_OPTS:-} -jar "$jar" serve \
    --config "$work/$name.yaml" >"$work/$name.log" 2>&1 &
  tollgate_pid=$!
  answers "http://127.0.0.1:$admin/readyz" "Tollgate ($name)" "$work/$name.log"
}
