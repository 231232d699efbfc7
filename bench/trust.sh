#!/usr/bin/env bash
# Can loadgen be trusted? Same apache target, same run, same CPU: Debian's wrk against
# loadgen, closed loop, interleaved rounds, medians compared (requests/s within ±10% of
# wrk's, CPU per request no more than wrk's); then loadgen's open loop at 2,000 req/s for
# 10 s (achieved rate within 1%). apache's own throughput drifts by ~10% between rounds,
# which is why medians over several rounds are compared, not single rounds.
#
#   bench/trust.sh [ROUNDS]
#
# apache runs on CPU 0, wrk and loadgen (one thread each, 64 connections) on CPU 1.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-4}
scripts/install-deps.sh apache2 wrk curl
cargo build --release -p loadgen
loadgen="${CARGO_TARGET_DIR:-target}/release/loadgen"
dir=$(mktemp -d /tmp/ringlb-trust.XXXXXX)
chmod 755 "$dir"
port1=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
port2=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
trap 'scripts/apache-backends.sh stop "$dir/backends"' EXIT
taskset -c 0 scripts/apache-backends.sh start "$dir/backends" "$port1" "$port2"
url="http://127.0.0.1:$port1/"
cpu_us() { awk '{printf "%.0f", ($1 + $2) * 1000000}' "$1"; }
echo "round | wrk req/s | loadgen req/s | ratio | wrk CPU us/req | loadgen CPU us/req"
for r in $(seq 1 "$rounds"); do
  /usr/bin/time -f "%U %S" -o "$dir/wrk.time" taskset -c 1 wrk -t1 -c64 -d5s "$url" >"$dir/wrk.out" 2>&1
  wrk_rps=$(awk '/Requests\/sec/ {print $2}' "$dir/wrk.out")
  wrk_n=$(awk '/requests in/ {print $1}' "$dir/wrk.out")
  /usr/bin/time -f "%U %S" -o "$dir/lg.time" taskset -c 1 "$loadgen" --no-pin -t1 -c64 -d5s --json "$dir/lg.json" "$url" >/dev/null 2>&1
  python3 - "$wrk_rps" "$wrk_n" "$(cpu_us "$dir/wrk.time")" "$dir/lg.json" "$(cpu_us "$dir/lg.time")" "$r" <<'PY'
import json, sys
wrk_rps, wrk_n, wrk_cpu, lg_json, lg_cpu, r = sys.argv[1:]
d = json.load(open(lg_json))
lg_rps, lg_n = d["requests_per_sec"], d["requests"]
row = (float(wrk_rps), lg_rps, float(wrk_cpu) / int(wrk_n), float(lg_cpu) / lg_n)
print(f"{r} | {row[0]:.0f} | {row[1]:.0f} | {row[1] / row[0]:.3f} | {row[2]:.2f} | {row[3]:.2f}")
print(*row, file=open(sys.argv[4] + ".rows", "a"))
PY
done
python3 - "$dir/lg.json.rows" <<'PY'
import statistics, sys
rows = [list(map(float, line.split())) for line in open(sys.argv[1])]
med = [statistics.median(col) for col in zip(*rows)]
print(f"median | {med[0]:.0f} | {med[1]:.0f} | {med[1] / med[0]:.3f} | {med[2]:.2f} | {med[3]:.2f}")
PY
taskset -c 1 "$loadgen" --no-pin -t1 -c64 -R 2000 -d10s --json "$dir/open.json" "$url" >/dev/null 2>&1
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(f\"open loop: target {d['target_rate']:.0f} req/s, achieved {d['achieved_rate']:.1f} req/s, p99 {d['latency']['p99']} us\")" "$dir/open.json"
