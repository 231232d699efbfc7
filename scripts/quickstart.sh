#!/usr/bin/env bash
# The seed lab on one machine: two apache backends answering "server1" and "server2" on
# loopback, and ringlb in front of them with examples/lab.cfg (the lab's haproxy.cfg with
# loopback addresses): the frontend on :8080, the stats listener on :8000.
#
#   scripts/quickstart.sh        # install, build, start, and show the round-robin
#   scripts/quickstart.sh stop   # stop ringlb and both backends
set -euo pipefail
cd "$(dirname "$0")/.."
state=${RINGLB_LAB_DIR:-/tmp/ringlb-quickstart}

stop() {
  if [ -f "$state/ringlb.pid" ]; then
    kill "$(cat "$state/ringlb.pid")" 2>/dev/null || true
    rm -f "$state/ringlb.pid"
  fi
  scripts/apache-backends.sh stop "$state/backends"
}

if [ "${1:-}" = stop ]; then
  stop
  echo "stopped ringlb and the two apache backends"
  exit 0
fi

scripts/install-deps.sh apache2 curl
cargo build --release --bin ringlb
ringlb="${CARGO_TARGET_DIR:-target}/release/ringlb"
mkdir -p "$state"
stop >/dev/null 2>&1 || true
scripts/apache-backends.sh start "$state/backends" 8081 8082
"$ringlb" -c -f examples/lab.cfg 2>/dev/null
nohup "$ringlb" -f examples/lab.cfg >"$state/ringlb.log" 2>&1 &
echo $! >"$state/ringlb.pid"
for _ in $(seq 1 100); do
  grep -q " started: " "$state/ringlb.log" 2>/dev/null && break
  if ! kill -0 "$(cat "$state/ringlb.pid")" 2>/dev/null; then
    cat "$state/ringlb.log" >&2
    exit 1
  fi
  sleep 0.1
done
echo "ringlb is running (pid $(cat "$state/ringlb.pid"), log $state/ringlb.log). Four requests, a new connection each:"
for _ in 1 2 3 4; do
  echo "\$ curl http://127.0.0.1:8080/"
  curl -fsS http://127.0.0.1:8080/
done
echo
echo "Stop everything with: scripts/quickstart.sh stop"
