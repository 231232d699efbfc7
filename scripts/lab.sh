#!/usr/bin/env bash
# The seed lab (two web servers, a load balancer on each, a virtual IP floating between
# them, a laptop as client) rebuilt on one machine with network namespaces:
#
#   rlb-lan       a bridge (br0) that plays the LAN switch
#   rlb-server1   eth0 10.99.0.11/24: apache answering "server1" on :80, ringlb (:8080, stats :8000)
#   rlb-server2   eth0 10.99.0.12/24: apache answering "server2" on :80, ringlb (:8080, stats :8000)
#   rlb-client    eth0 10.99.0.2/24: the laptop
#   VIP           10.99.0.100/24, held by the VRRP master (server1, priority 150; server2: 100)
#
# Usage (as root):
#   scripts/lab.sh up [--keepalived] [--version 2|3] [--advert-int T]
#   scripts/lab.sh failover [hard|graceful|parent|both]   # default: both (hard, graceful)
#   scripts/lab.sh status
#   scripts/lab.sh down
#
# VRRP is ringlb's own (a `vrrp VI_1` section in each node's config), or with --keepalived
# Debian's keepalived in each server namespace while ringlb only balances (the seed's
# HAProxy + keepalived pair, for comparison). `failover` runs the seed's experiment from
# the client: a request to VIP:8080 every 50 ms while the master's VRRP speaker (ringlb; or
# keepalived and the balancer beside it) is stopped - hard: SIGKILL, graceful: SIGTERM -
# and started again; it prints how many requests failed and the longest gap between two
# answered requests.
#
# Environment: RINGLB_BIN (default: the release build, else the debug build), LAB_PREFIX
# (namespace prefix, default rlb), LAB_DIR (state: configs, pids, logs; default
# /tmp/$LAB_PREFIX-lab). Nothing is created outside the namespaces and LAB_DIR; `down`
# removes all of it.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
prefix=${LAB_PREFIX:-rlb}
state=${LAB_DIR:-/tmp/$prefix-lab}
lan=$prefix-lan
nodes=(server1 server2 client)
vip=10.99.0.100
declare -A addr=([server1]=10.99.0.11 [server2]=10.99.0.12 [client]=10.99.0.2)
declare -A prio=([server1]=150 [server2]=100)
declare -A role=([server1]=MASTER [server2]=BACKUP)

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
log() { echo "lab: $*" >&2; }
ns() { echo "$prefix-$1"; }
in_ns() { local n=$1; shift; ip netns exec "$(ns "$n")" "$@"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

ringlb_bin() {
  local target=${CARGO_TARGET_DIR:-$repo/target}
  if [ -n "${RINGLB_BIN:-}" ]; then echo "$RINGLB_BIN"
  elif [ -x "$target/release/ringlb" ]; then echo "$target/release/ringlb"
  elif [ -x "$target/debug/ringlb" ]; then echo "$target/debug/ringlb"
  else
    log "building ringlb (release)"
    (cd "$repo" && cargo build --release --bin ringlb >&2)
    echo "$target/release/ringlb"
  fi
}


# ---------------------------------------------------------------------------------------
# Topology

make_net() {
  ip netns add "$lan"
  ip -n "$lan" link set lo up
  ip -n "$lan" link add br0 type bridge
  ip -n "$lan" link set br0 up
  local n
  for n in "${nodes[@]}"; do
    ip netns add "$(ns "$n")"
    ip -n "$(ns "$n")" link set lo up
    # Created inside the LAN namespace with its peer moved straight into the node: no
    # interface ever appears in the root namespace.
    ip -n "$lan" link add "v-$n" type veth peer name eth0 netns "$(ns "$n")"
    ip -n "$lan" link set "v-$n" master br0 up
    ip -n "$(ns "$n")" addr add "${addr[$n]}/24" dev eth0
    ip -n "$(ns "$n")" link set eth0 up
  done
}

# ---------------------------------------------------------------------------------------
# apache: scripts/apache-backends.sh writes its config, listening on the node's :80

apache_conf() { # NODE
  local n=$1
  "$repo/scripts/apache-backends.sh" config "$state/$n/apache" "$n" "${addr[$n]}:80"
  # apache's workers (www-data) must reach the document root through the state dir.
  chmod 755 "$state" "$state/$n"
}

# ---------------------------------------------------------------------------------------
# ringlb: the seed's haproxy.cfg with the lab's addresses, plus VRRP unless keepalived

ringlb_conf() { # NODE WITH_VRRP
  local n=$1 with_vrrp=$2 dir=$state/$1
  cat >"$dir/ringlb.cfg" <<EOF
global
 log /dev/log local0
 log /dev/log local1 notice
 stats socket $dir/admin.sock mode 600 level admin

userlist stats-auth
 group admin users admin
 user admin insecure-password XJsXMFgsr2doAEUg0mCf0
 group readonly users guest
 user guest insecure-password guest

defaults
 log global
 mode http
 balance roundrobin
 option httplog
 option dontlognull
 timeout connect 5000
 timeout client 50000
 timeout server 50000
 errorfile 400 $repo/examples/errors/400.http
 errorfile 403 $repo/examples/errors/403.http
 errorfile 408 $repo/examples/errors/408.http
 errorfile 500 $repo/examples/errors/500.http
 errorfile 502 $repo/examples/errors/502.http
 errorfile 503 $repo/examples/errors/503.http
 errorfile 504 $repo/examples/errors/504.http

listen stats
 bind :8000
 mode http
 stats enable
 stats uri /haproxy
 acl AUTH http_auth(stats-auth)
 acl AUTH_ADMIN http_auth_group(stats-auth) admin
 stats http-request auth unless AUTH
 stats admin if AUTH_ADMIN

frontend servers
 bind :8080
 default_backend servers

backend servers
 option httpchk GET /
 http-check expect status 200
 server server1 ${addr[server1]}:80 weight 1 check
 server server2 ${addr[server2]}:80 weight 1 check
EOF
  if [ "$with_vrrp" = yes ]; then
    cat >>"$dir/ringlb.cfg" <<EOF

# the floating VIP, in keepalived's words (what keepalived.conf's vrrp_instance said)
vrrp VI_1
 interface eth0
 state ${role[$n]}
 virtual_router_id 51
 priority ${prio[$n]}
 version $version
 advert_int $advert_int
 virtual_ipaddress $vip/24
EOF
  fi
}

keepalived_conf() { # NODE
  local n=$1 dir=$state/$1
  cat >"$dir/keepalived.conf" <<EOF
global_defs {
  router_id $n
  vrrp_version $version
}

vrrp_instance VI_1 {
  state ${role[$n]}
  interface eth0
  virtual_router_id 51
  priority ${prio[$n]}
  advert_int $advert_int
  virtual_ipaddress {
    $vip/24 dev eth0
  }
}
EOF
}

# ---------------------------------------------------------------------------------------
# Processes (each node's pid files under $state/NODE)

start_ringlb() { # NODE
  local n=$1 dir=$state/$1 bin
  bin=$(ringlb_bin)
  rm -f "$dir/admin.sock"
  # Not through in_ns: a backgrounded shell function is a subshell, and $! would be its
  # pid rather than ringlb's (ip netns exec and nohup both exec in place).
  ip netns exec "$(ns "$n")" nohup "$bin" -f "$dir/ringlb.cfg" >>"$dir/ringlb.log" 2>&1 </dev/null &
  echo $! >"$dir/ringlb.pid"
}

start_keepalived() { # NODE
  local n=$1 dir=$state/$1
  rm -f "$dir/keepalived.pid" "$dir/keepalived-vrrp.pid"
  ip netns exec "$(ns "$n")" nohup keepalived -n -l -G -D -P -f "$dir/keepalived.conf" \
    -p "$dir/keepalived.pid" -r "$dir/keepalived-vrrp.pid" >>"$dir/keepalived.log" 2>&1 </dev/null &
}

# The master's VRRP speaker: what `failover` stops and starts.
speaker_pids() { # NODE
  local n=$1 dir=$state/$1 f
  if [ "$(cat "$state/mode")" = keepalived ]; then
    # keepalived and the balancer beside it: the pair ringlb replaces.
    for f in keepalived.pid keepalived-vrrp.pid ringlb.pid; do
      [ -f "$dir/$f" ] && cat "$dir/$f"
    done
  else
    cat "$dir/ringlb.pid"
  fi
  return 0
}

start_speaker() { # NODE
  start_ringlb "$1"
  if [ "$(cat "$state/mode")" = keepalived ]; then start_keepalived "$1"; fi
}

holder() { # which server holds the VIP ("" if none, "server1 server2" if both)
  local n out=()
  for n in server1 server2; do
    if ip -n "$(ns "$n")" -4 -o addr show dev eth0 2>/dev/null | grep -q " $vip/"; then
      out+=("$n")
    fi
  done
  echo "${out[*]:-}"
}

wait_until() { # SECONDS DESCRIPTION COMMAND...
  local limit=$1 what=$2 i
  shift 2
  for ((i = 0; i < limit * 10; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  log "timed out waiting for $what"
  return 1
}

vip_answers() { [ -n "$(in_ns client curl -fsS -m 1 "http://$vip:8080/")" ]; }
vip_held_by() { [ "$(holder)" = "$1" ]; }
node_answers() { # NODE
  in_ns "$1" curl -fsS -m 1 -o /dev/null "http://${addr[$1]}:8080/"
}

# ---------------------------------------------------------------------------------------
# Commands

down() {
  local n pid
  for n in server1 server2; do
    local dir=$state/$n
    for f in ringlb.pid keepalived.pid keepalived-vrrp.pid; do
      if [ -f "$dir/$f" ]; then
        pid=$(cat "$dir/$f")
        kill -TERM "$pid" 2>/dev/null || true
      fi
    done
    if [ -f "$dir/apache/apache.conf" ]; then
      in_ns "$n" apache2 -f "$dir/apache/apache.conf" -k stop 2>/dev/null || true
    fi
  done
  sleep 0.5
  # Whatever still runs inside our namespaces was started by this script.
  for n in "${nodes[@]}"; do
    if ip netns list | awk '{print $1}' | grep -qx "$(ns "$n")"; then
      for pid in $(ip netns pids "$(ns "$n")" 2>/dev/null); do
        kill -KILL "$pid" 2>/dev/null || true
      done
      ip netns del "$(ns "$n")" 2>/dev/null || true
    fi
  done
  ip netns del "$lan" 2>/dev/null || true
  rm -rf "$state"
}

up() {
  local mode=ringlb n
  version=2
  advert_int=1
  while [ $# -gt 0 ]; do
    case "$1" in
      --keepalived) mode=keepalived ;;
      --version) version=$2; shift ;;
      --advert-int) advert_int=$2; shift ;;
      *) usage ;;
    esac
    shift
  done
  # install-deps.sh keeps Debian from starting its own apache2 or keepalived.
  "$repo/scripts/install-deps.sh" apache2 curl $([ "$mode" = keepalived ] && echo keepalived) >&2
  local bin
  bin=$(ringlb_bin)
  down 2>/dev/null || true
  mkdir -p "$state"
  echo "$mode" >"$state/mode"
  trap 'log "setup failed; tearing down"; down' ERR
  for n in server1 server2; do
    mkdir -p "$state/$n"
    apache_conf "$n"
    if [ "$mode" = keepalived ]; then
      ringlb_conf "$n" no
      keepalived_conf "$n"
    else
      ringlb_conf "$n" yes
    fi
    if ! out=$("$bin" -c -f "$state/$n/ringlb.cfg" 2>&1); then
      echo "$out" >&2
      false
    fi
  done
  make_net
  for n in server1 server2; do
    in_ns "$n" apache2 -f "$state/$n/apache/apache.conf" -k start
    start_speaker "$n"
  done
  for n in server1 server2; do
    wait_until 10 "ringlb on $n" node_answers "$n"
  done
  wait_until 15 "server1 to hold the VIP alone" vip_held_by server1
  wait_until 10 "the VIP to answer from the client" vip_answers
  trap - ERR
  log "up ($mode VRRP v$version, advert_int $advert_int): VIP $vip held by $(holder)"
  local i
  for i in 1 2 3 4; do
    echo "client\$ curl http://$vip:8080/ -> $(in_ns client curl -fsS -m 1 "http://$vip:8080/")"
  done
}

status() {
  [ -f "$state/mode" ] || { log "the lab is down"; return 1; }
  echo "mode: $(cat "$state/mode")   VIP $vip held by: $(holder)"
  local n
  for n in server1 server2; do
    printf '%s: ringlb %s' "$n" "$(kill -0 "$(cat "$state/$n/ringlb.pid" 2>/dev/null)" 2>/dev/null && echo up || echo down)"
    if [ "$(cat "$state/mode")" = keepalived ]; then
      printf ', keepalived %s' "$(kill -0 "$(cat "$state/$n/keepalived.pid" 2>/dev/null)" 2>/dev/null && echo up || echo down)"
    fi
    echo
  done
}

# One experiment: the loop runs $before s, the master is stopped, the loop runs $during s,
# the master starts again, the loop runs $after s.
#   hard      SIGKILL to the master's VRRP speaker (keepalived mode: keepalived's processes
#             and the balancer beside it, as a crash of that pair)
#   graceful  SIGTERM to the same processes
#   parent    keepalived mode only: SIGKILL to keepalived's parent alone (its VRRP child
#             then stops as on SIGTERM: priority 0, VIP removed), the balancer keeps running
restart_master() { # KIND NODE
  if [ "$1" = parent ]; then start_keepalived "$2"; else start_speaker "$2"; fi
}

experiment() { # hard|graceful|parent
  local kind=$1 signal=TERM master=server1 results pid pids
  case "$kind" in
    hard) signal=KILL; pids=$(speaker_pids "$master") ;;
    graceful) pids=$(speaker_pids "$master") ;;
    parent)
      [ "$(cat "$state/mode")" = keepalived ] || { log "parent: keepalived mode only"; return 1; }
      signal=KILL; pids=$(cat "$state/$master/keepalived.pid") ;;
  esac
  local before=2 during=4 after=5
  wait_until 15 "$master to hold the VIP before the experiment" vip_held_by "$master"
  results=$state/failover-$kind.txt
  : >"$results"
  # The loop: one line per request, "START_MS END_MS OK|FAIL", a request every 50 ms.
  in_ns client bash -c '
    end=$(( $(date +%s%N) / 1000000 + $1 ))
    while :; do
      t0=$(( $(date +%s%N) / 1000000 ))
      [ "$t0" -ge "$end" ] && break
      if body=$(curl -fsS --connect-timeout 1 -m 1 "http://$2:8080/" 2>/dev/null) && [ -n "$body" ]; then r=OK; else r=FAIL; fi
      echo "$t0 $(( $(date +%s%N) / 1000000 )) $r $body"
      sleep 0.05
    done' loop $(( (before + during + after) * 1000 )) "$vip" >"$results" &
  local loop=$!
  # Interrupted, the loop still ends and a stopped master still starts again.
  local stopped=
  trap 'kill $loop 2>/dev/null || true; [ -z "$stopped" ] || restart_master "$kind" "$master"; exit 130' INT TERM
  sleep "$before"
  local stopped_at started_at
  stopped_at=$(now_ms)
  stopped=yes
  for pid in $pids; do kill -"$signal" "$pid" 2>/dev/null || true; done
  log "$kind: SIG$signal sent to $master ($(tr '\n' ' ' <<<"$pids")), VIP held by: $(holder)"
  sleep "$during"
  log "$kind: after ${during}s the VIP is held by: $(holder); starting $master again"
  started_at=$(now_ms)
  restart_master "$kind" "$master"
  stopped=
  wait "$loop" || true
  trap - INT TERM
  awk -v kind="$kind" -v stop="$stopped_at" -v start="$started_at" '
    { n++; if ($3 == "OK") { if (last_ok && $2 - last_ok > gap) { gap = $2 - last_ok; gap_at = last_ok }
                             last_ok = $2 }
      else { failed++; if ($1 < start) f1++; else f2++ } }
    END {
      printf "%-8s requests %d, failed %d (%d after the stop, %d after the restart), longest gap %.2f s (from %.2f s after the stop)\n",
        kind, n, failed, f1, f2, gap / 1000, (gap_at - stop) / 1000 }' "$results"
  wait_until 15 "$master to take the VIP back" vip_held_by "$master" || true
}

failover() {
  [ -f "$state/mode" ] || { log "the lab is down: run 'lab.sh up' first"; return 1; }
  local which=${1:-both}
  case "$which" in
    hard) experiment hard ;;
    graceful) experiment graceful ;;
    parent) experiment parent ;;
    both) experiment hard; sleep 2; experiment graceful ;;
    *) usage ;;
  esac
}

[ "$(id -u)" = 0 ] || { log "needs root (network namespaces)"; exit 1; }
case "${1:-}" in
  up) shift; up "$@" ;;
  down) down; log "down" ;;
  status) status ;;
  failover) shift; failover "$@" ;;
  *) usage ;;
esac
