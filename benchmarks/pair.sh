# Sourced by the benchmark scripts: starts the simulator and Tollgate on loopback (one account, key sk-bench,
# funded with 1,000,000 USDC on the embedded ledger) and waits until both answer. Everything started is
# stopped, and the work directory removed, when the calling script exits.
#   start_pair SIM_PORT PROXY_PORT ADMIN_PORT POLICY BUDGET [simulator flags...]
# Sets: work, sim_pid, proxy_pid, sim_port, proxy_port, admin_port.
# Optional environment: TOLLGATE_JAR (default proxy/target/tollgate.jar; e.g. a jar built from another commit),
# PROXY_JAVA_OPTS (extra JVM flags for Tollgate only, e.g. a profiler agent), PROXY_CPUS and SIM_CPUS (cpu lists
# for taskset: pin Tollgate and the simulator to their own cores).
start_pair() {
  sim_port=$1; proxy_port=$2; admin_port=$3
  local policy=$4 budget=$5
  shift 5
  work="$(mktemp -d)"
  local jar="${TOLLGATE_JAR:-proxy/target/tollgate.jar}"
  local sim_pin=() proxy_pin=()
  [ -n "${SIM_CPUS:-}" ] && sim_pin=(taskset -c "$SIM_CPUS")
  [ -n "${PROXY_CPUS:-}" ] && proxy_pin=(taskset -c "$PROXY_CPUS")
  trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
  "${sim_pin[@]}" java -Xmx1g -Dio.netty.leakDetection.level=disabled -jar "$jar" simulate \
    --listen "127.0.0.1:$sim_port" "$@" >"$work/sim.log" 2>&1 &
  sim_pid=$!
  local key_hash
  key_hash="$(java -jar "$jar" hash-key sk-bench)"
  cat >"$work/tollgate.yaml" <<YAML
listen: 127.0.0.1:$proxy_port
admin: 127.0.0.1:$admin_port
data_dir: $work/data
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
    --config "$work/tollgate.yaml" >"$work/proxy.log" 2>&1 &
  proxy_pid=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$admin_port/readyz" >/dev/null 2>&1 \
      && curl -sf "http://127.0.0.1:$sim_port/v1/models" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "the simulator or Tollgate did not start; see $work/*.log" >&2
  return 1
}
