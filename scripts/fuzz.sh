#!/usr/bin/env bash
# Runs every cargo-fuzz target in turn, SECONDS each (default 60), on the nightly toolchain.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      # all targets unless some are named
#
# Each target starts from its committed seeds (fuzz/seeds/TARGET), copied into its working
# corpus (fuzz/corpus/TARGET, git-ignored, kept between runs so coverage accumulates). Crash
# inputs land in fuzz/artifacts/TARGET/ (git-ignored); libFuzzer's output is kept in
# fuzz/target/fuzz-logs/TARGET.log. Prints, per target, the executions run and any new crash
# artifact; exits non-zero if a target crashed or could not run.
#
# Needs the nightly toolchain (rustup toolchain install nightly); installs cargo-fuzz when
# missing. Builds with one job unless CARGO_BUILD_JOBS says otherwise. Reproduce a crash:
#   cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-…
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

seconds=${1:-60}
if [ $# -gt 0 ]; then shift; fi
case $seconds in
  '' | *[!0-9]*) echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac
all_targets=(request_head response_head chunked config differential_request vrrp_packet admin_command stats_auth proxy_header client_hello)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all_targets[@]}"); fi

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzz: the nightly toolchain is missing (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}

echo "== building fuzz targets (nightly, address sanitizer)"
cargo +nightly fuzz build

logs=fuzz/target/fuzz-logs
mkdir -p "$logs"
list_artifacts() { find "fuzz/artifacts/$1" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) 2>/dev/null | sort; }

failed=0
summary=()
for target in "${targets[@]}"; do
  corpus=fuzz/corpus/$target
  mkdir -p "$corpus" "fuzz/artifacts/$target"
  if [ -d "fuzz/seeds/$target" ]; then
    cp -n "fuzz/seeds/$target"/* "$corpus"/ 2>/dev/null || true
  fi
  before=$(list_artifacts "$target")
  log=$logs/$target.log
  echo "== $target: ${seconds}s"
  status=0
  cargo +nightly fuzz run "$target" "$corpus" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  runs=$(awk '/^stat::number_of_executed_units:/ {print $2}' "$log" | tail -n1)
  if [ -z "$runs" ]; then
    runs=$(grep -oE '^#[0-9]+' "$log" | tail -n1 | tr -d '#')
  fi
  rate=$(awk '/^stat::average_exec_per_sec:/ {print $2}' "$log" | tail -n1)
  new=$(comm -13 <(printf '%s\n' "$before") <(list_artifacts "$target") | sed '/^$/d')
  line="$target: ${runs:-?} runs (${rate:-?}/s)"
  if [ -n "$new" ]; then
    failed=1
    line="$line, CRASHED:"
    while IFS= read -r artifact; do line="$line $artifact"; done <<<"$new"
    grep -m1 -E "panicked at|ERROR: (AddressSanitizer|libFuzzer)" "$log" | sed 's/^/    /' || true
  elif [ "$status" -ne 0 ]; then
    failed=1
    line="$line, FAILED (exit $status, no artifact; see $log)"
  else
    line="$line, no crash"
  fi
  echo "$line"
  summary+=("$line")
done

echo "== summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
