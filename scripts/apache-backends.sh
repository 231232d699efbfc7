#!/usr/bin/env bash
# Two apache backends on loopback, as in the seed lab: each answers its name at `/`
# ("server1", "server2") and serves a 1 MiB file at /1mib.bin.
#
#   scripts/apache-backends.sh start DIR PORT1 PORT2   # start both, wait until they answer
#   scripts/apache-backends.sh stop DIR                # stop both
#   scripts/apache-backends.sh config DIR NAME ADDR:PORT # only write one backend's config
#                                                        # (DIR/apache.conf; scripts/lab.sh)
#
# Each backend is its own apache instance (mpm_event, keep-alive on) with its config, pid
# file and logs under DIR/serverN. Needs Debian's apache2 (scripts/install-deps.sh).
set -euo pipefail

usage() { echo "usage: $0 start DIR PORT1 PORT2 | stop DIR | config DIR NAME ADDR:PORT" >&2; exit 2; }

modules=/usr/lib/apache2/modules

write_config() { # DIR NAME ADDR:PORT
  local dir=$1 name=$2 listen=$3
  mkdir -p "$dir/htdocs"
  printf '%s\n' "$name" > "$dir/htdocs/index.html"
  head -c 1048576 /dev/zero | tr '\0' 'x' > "$dir/htdocs/1mib.bin"
  local user_lines=""
  if [ "$(id -u)" = 0 ]; then
    user_lines=$'User www-data\nGroup www-data'
    chmod 755 "$dir" "$dir/htdocs"
    chmod 644 "$dir/htdocs/"*
  fi
  cat > "$dir/apache.conf" <<EOF
ServerRoot /etc/apache2
ServerName $name.localhost
LoadModule mpm_event_module $modules/mod_mpm_event.so
LoadModule authz_core_module $modules/mod_authz_core.so
LoadModule dir_module $modules/mod_dir.so
LoadModule mime_module $modules/mod_mime.so
$user_lines
Listen $listen
PidFile $dir/apache.pid
DefaultRuntimeDir $dir
Mutex file:$dir default
ErrorLog $dir/error.log
LogLevel warn
DocumentRoot $dir/htdocs
DirectoryIndex index.html
TypesConfig /etc/mime.types
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 5
# Enough threads from the start, and never reaped: a child retiring mid-run closes the
# keep-alive connections that proxies pool.
StartServers 4
ServerLimit 16
ThreadsPerChild 64
MinSpareThreads 64
MaxSpareThreads 1024
MaxRequestWorkers 1024
MaxConnectionsPerChild 0
# No .htaccess lookups up the path (they cost a stat per directory per request, and fail
# under a private temporary directory).
<Directory />
  AllowOverride None
  Require all denied
</Directory>
<Directory $dir/htdocs>
  Require all granted
</Directory>
EOF
}

wait_for() { # PORT NAME
  for _ in $(seq 1 100); do
    if [ "$(curl -fsS "http://127.0.0.1:$1/" 2>/dev/null)" = "$2" ]; then return 0; fi
    sleep 0.1
  done
  echo "apache on port $1 did not answer '$2'" >&2
  return 1
}

case "${1:-}" in
  start)
    [ $# -eq 4 ] || usage
    dir=$(mkdir -p "$2" && cd "$2" && pwd)
    # apache's workers (www-data when started as root) must reach the document roots.
    [ "$(id -u)" = 0 ] && chmod 755 "$dir"
    for i in 1 2; do
      port=$([ $i = 1 ] && echo "$3" || echo "$4")
      write_config "$dir/server$i" "server$i" "127.0.0.1:$port"
      apache2 -f "$dir/server$i/apache.conf" -k start
    done
    wait_for "$3" server1
    wait_for "$4" server2
    ;;
  stop)
    [ $# -eq 2 ] || usage
    for i in 1 2; do
      conf="$2/server$i/apache.conf"
      [ -f "$conf" ] && apache2 -f "$conf" -k stop 2>/dev/null || true
    done
    ;;
  config)
    [ $# -eq 4 ] || usage
    write_config "$2" "$3" "$4"
    ;;
  *) usage ;;
esac
