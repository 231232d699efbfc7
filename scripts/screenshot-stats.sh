#!/usr/bin/env bash
# Loads ringlb's stats page in a real browser (headless Chromium) with one server DOWN and
# one in MAINT, checks the rendered DOM, and saves the screenshot README shows.
#
#   scripts/screenshot-stats.sh [OUT.png]     # default docs/stats.png
#
# Needs apache2 and chromium (installed if missing), and a built ringlb
# (RINGLB=path, default target/debug/ringlb, built if missing). Exits non-zero if the page
# does not show what it should.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/stats.png}
scripts/install-deps.sh apache2 chromium curl
ringlb=${RINGLB:-target/debug/ringlb}
[ -x "$ringlb" ] || cargo build --bin ringlb -q
browser=$(command -v chromium || command -v chromium-browser)
dir=$(mktemp -d /tmp/ringlb-screenshot.XXXXXX)
# apache serves from here as www-data when run as root.
chmod 755 "$dir"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
p1=$(free_port); p2=$(free_port); down=$(free_port); front=$(free_port); stats=$(free_port)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  scripts/apache-backends.sh stop "$dir/apache" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
scripts/apache-backends.sh start "$dir/apache" "$p1" "$p2" >/dev/null
# The seed's sections; the page is open (no auth) so the browser needs no credentials, and
# everyone is admin so the forms show. server3 listens nowhere: it goes DOWN.
cat > "$dir/ringlb.cfg" <<CFG
defaults
 mode http
 balance roundrobin
 option dontlognull
 timeout connect 1s
 timeout client 10s
 timeout server 10s
listen stats
 bind 127.0.0.1:$stats
 stats enable
 stats uri /haproxy
 stats refresh 5s
 stats show-legends
 stats admin if TRUE
frontend servers
 bind 127.0.0.1:$front
 default_backend servers
backend servers
 option httpchk GET /
 http-check expect status 200
 server server1 127.0.0.1:$p1 weight 1 check inter 300ms
 server server2 127.0.0.1:$p2 weight 1 check inter 300ms
 server server3 127.0.0.1:$down weight 1 check inter 300ms fall 2
CFG
"$ringlb" -f "$dir/ringlb.cfg" 2>"$dir/ringlb.log" &
pid=$!
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$stats/haproxy;csv" && break; sleep 0.1; done
for _ in $(seq 40); do curl -s -o /dev/null "http://127.0.0.1:$front/"; done
# server2 to maintenance through the page's own admin form post.
curl -s -o /dev/null -w '%{http_code} %{redirect_url}\n' -d 's=server2&action=maint&b=servers' "http://127.0.0.1:$stats/haproxy"
sleep 1.5 # server3's checks fail twice; the shards ship their response times
url="http://127.0.0.1:$stats/haproxy;norefresh"
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --dump-dom "$url" > "$dir/dom.html" 2>/dev/null
mkdir -p "$(dirname "$out")"
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1920,760 \
  --screenshot="$out" "$url" >/dev/null 2>&1
# The rendered DOM must show each server's state and the process block.
fail=0
check() { grep -Eq "$1" "$dir/dom.html" || { echo "screenshot-stats: the page lacks: $2" >&2; fail=1; }; }
row() { tr '\n' ' ' < "$dir/dom.html" | grep -Eo "<tr[^>]*>([^<]|<[^/]|</[^t]|</t[^r])*$1([^<]|<[^/]|</[^t]|</t[^r])*</tr>" | head -1; }
row '>server1<' | grep -q '>UP<' || { echo "screenshot-stats: server1 is not shown UP" >&2; fail=1; }
row '>server2<' | grep -q '>MAINT<' || { echo "screenshot-stats: server2 is not shown MAINT" >&2; fail=1; }
row '>server3<' | grep -q '>DOWN<' || { echo "screenshot-stats: server3 is not shown DOWN" >&2; fail=1; }
check '<form[^>]*method="post"' "the admin form"
check 'io_uring|epoll' "the shards' driver in the process block"
check ';csv' "the CSV link"
[ -s "$out" ] || { echo "screenshot-stats: no screenshot written" >&2; fail=1; }
[ $fail = 0 ] || { echo "--- DOM:" >&2; head -c 3000 "$dir/dom.html" >&2; exit 1; }
echo "screenshot-stats: the page shows server1 UP, server2 MAINT, server3 DOWN; saved $out"
