#!/usr/bin/env bash
# Heap per in-flight stream: N streaming requests held open through Tollgate (the simulator sends one token a
# second, so every stream has started and stays in flight), the proxy's live heap read from a class histogram
# (jcmd GC.class_histogram, which runs a full GC first) before the streams and while they are all open.
# Prints the difference per stream and the classes that grew most. Direct (off-heap) buffers are not in the
# heap: their part is the gauge tollgate_relay_held_bytes, printed beside it.
#   bash benchmarks/heap-per-stream.sh [streams, default 1000] [policy: none|stream_budget, default stream_budget]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000}"
policy="${2:-stream_budget}"
./tollgate --help >/dev/null
. benchmarks/pair.sh
start_pair 18100 18180 19190 "$policy" "1000.00" --ttft-ms 0 --tokens-per-second 1
# Warm every path once (class loading, pools) so the baseline holds what a running proxy holds.
for _ in 1 2 3; do
  curl -s -H 'authorization: Bearer sk-bench' -H 'content-type: application/json' \
    -d '{"model":"tollgate-sim-1","messages":[{"role":"user","content":"warm"}],"max_tokens":2,"stream":true}' \
    "http://127.0.0.1:$proxy_port/v1/chat/completions" >/dev/null
done
histogram() { jcmd "$proxy_pid" GC.class_histogram > "$1"; }
histogram "$work/before.txt"
python3 - "$n" "$proxy_port" "$work/ready" <<'PY' &
import asyncio, sys
n, port, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
body = b'{"model":"tollgate-sim-1","messages":[{"role":"user","content":"hold this stream open"}],"max_tokens":100000,"stream":true}'
req = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-bench\r\n"
       b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
started = 0
async def stream(all_started):
    global started
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(req)
    await w.drain()
    buf = b""
    while b"data: " not in buf:
        chunk = await r.read(65536)
        if not chunk:
            raise SystemExit("stream ended before its first event: " + buf[:200].decode(errors="replace"))
        buf += chunk
    started += 1
    if started == n:
        all_started.set()
    while await r.read(65536):
        pass
async def main():
    all_started = asyncio.Event()
    tasks = [asyncio.create_task(stream(all_started)) for _ in range(n)]
    await all_started.wait()
    open(ready, "w").write("ok")
    await asyncio.gather(*tasks)
asyncio.run(main())
PY
client=$!
for _ in $(seq 1 600); do [ -f "$work/ready" ] && break; kill -0 $client 2>/dev/null || { echo "client failed" >&2; exit 1; }; sleep 0.1; done
[ -f "$work/ready" ] || { echo "streams did not all start" >&2; exit 1; }
histogram "$work/during.txt"
held=$(curl -s "http://127.0.0.1:$admin_port/metrics" | awk '/^tollgate_relay_held_bytes/ {print $2}')
inflight=$(curl -s "http://127.0.0.1:$admin_port/metrics" | awk '/^tollgate_streams_in_flight/ {s+=$2} END {print s}')
python3 - "$n" "$work/before.txt" "$work/during.txt" "$held" "$inflight" <<'PY'
import re, sys
n = int(sys.argv[1])
def read(path):
    classes, total = {}, 0
    for line in open(path):
        m = re.match(r"\s*\d+:\s+(\d+)\s+(\d+)\s+(\S+)", line)
        if m:
            classes[m.group(3)] = (int(m.group(1)), int(m.group(2)))
        t = re.match(r"Total\s+(\d+)\s+(\d+)", line)
        if t:
            total = int(t.group(2))
    return classes, total
b, tb = read(sys.argv[2])
d, td = read(sys.argv[3])
print(f"streams in flight: {n} (gauge tollgate_streams_in_flight: {sys.argv[5]}); relay held bytes (direct): {sys.argv[4]}")
print(f"live heap before: {tb:,} B; with the streams: {td:,} B; per stream: {(td - tb) / n:,.0f} B")
print()
print("| class | instances per stream | bytes per stream |")
print("|---|---|---|")
growth = sorted(((d[k][1] - b.get(k, (0, 0))[1], d[k][0] - b.get(k, (0, 0))[0], k) for k in d), reverse=True)
for bytes_, inst, k in growth[:15]:
    print(f"| `{k}` | {inst / n:.2f} | {bytes_ / n:,.0f} |")
PY
