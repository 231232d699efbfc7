#!/usr/bin/env bash
# ringlb vs HAProxy vs nginx in front of two apache backends: one command.
#
#   bench/run.sh [--quick] [--pin|--unpinned|--both] [more bench flags, see --help]
#   bench/run.sh --baseline OLD/ringlb --proxies ringlb,ringlb-baseline --pin   # vs an older ringlb
#
# Installs what is missing (apache2, haproxy, nginx with its stream module, wrk, curl),
# builds ringlb, loadgen and the bench in release, and runs the bench. Results go to
# bench/results/. Run it on a quiet machine: the numbers are only as good as that.
set -euo pipefail
# Paths in --baseline and --results are relative to where run.sh was called from: made
# absolute before the cd below.
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --baseline | --results)
      args+=("$1")
      if [ $# -gt 1 ]; then
        args+=("$(realpath -m -- "$2")")
        shift
      fi
      ;;
    --baseline=* | --results=*) args+=("${1%%=*}=$(realpath -m -- "${1#*=}")") ;;
    *) args+=("$1") ;;
  esac
  shift
done
cd "$(dirname "$0")/.."
scripts/install-deps.sh apache2 haproxy nginx libnginx-mod-stream wrk curl
cargo build --release --bin ringlb -p ringlb
cargo build --release -p loadgen
cargo build --release -p bench
target_dir=${CARGO_TARGET_DIR:-target}
exec "$target_dir/release/bench" --bin-dir "$target_dir/release" ${args[@]+"${args[@]}"}
