#!/usr/bin/env bash
# What health checks cost the control thread: N servers (default 1000) checked every
# INTER (default 1s) over HTTP, against one nginx; prints the control thread's CPU time per
# second of wall time, measured from /proc over SECONDS (default 20).
#
#   bench/check-cost.sh [N] [INTER] [SECONDS]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
n=${1:-1000}; inter=${2:-1s}; seconds=${3:-20}
"$root/scripts/install-deps.sh" nginx >/dev/null
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin ringlb
work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
web=$(free_port); front=$(free_port)
cat >"$work/nginx.conf" <<NGINX
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 4096; }
http {
  access_log off;
  server { listen 127.0.0.1:$web backlog=4096; location / { return 200 "ok\n"; } }
}
NGINX
{
  printf 'global\n nbthread 1\ndefaults\n mode http\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n'
  printf 'frontend f\n bind 127.0.0.1:%s\n default_backend b\nbackend b\n option httpchk GET /\n' "$front"
  for i in $(seq 1 "$n"); do printf ' server s%s 127.0.0.1:%s check inter %s\n' "$i" "$web" "$inter"; done
} >"$work/ringlb.cfg"
nginx -c "$work/nginx.conf"
"${CARGO_TARGET_DIR:-$root/target}/release/ringlb" -f "$work/ringlb.cfg" 2>"$work/ringlb.err" &
lb=$!
cleanup() { kill "$lb" 2>/dev/null || true; kill "$(cat "$work/nginx.pid")" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
sleep 3   # the first checks are spread over the first interval
ticks() { awk '{print $14 + $15}' "/proc/$lb/task/$lb/stat"; }
hz=$(getconf CLK_TCK)
before=$(ticks); sleep "$seconds"; after=$(ticks)
downs=$(grep -c ' is DOWN' "$work/ringlb.err" || true)
awk -v a="$after" -v b="$before" -v hz="$hz" -v s="$seconds" -v n="$n" -v i="$inter" -v d="$downs" 'BEGIN {
  printf "control thread: %.1f%% of one core for %d servers checked every %s (HTTP), %d went DOWN\n", 100*(a-b)/hz/s, n, i, d }'
