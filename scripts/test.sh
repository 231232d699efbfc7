#!/usr/bin/env bash
# Every check, on a fresh machine: installs what the tests need, then formatting, lints,
# unit and end-to-end tests of the whole workspace, the quickstart as a smoke test, and the
# stats page rendered by headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh apache2 curl iproute2 haproxy chromium keepalived
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
cargo test --workspace
echo "== quickstart smoke test"
out=$(RINGLB_LAB_DIR=/tmp/ringlb-quickstart-test scripts/quickstart.sh 2>&1) || { echo "$out"; exit 1; }
RINGLB_LAB_DIR=/tmp/ringlb-quickstart-test scripts/quickstart.sh stop >/dev/null
got=$(echo "$out" | grep -E '^server[12]$' | tr '\n' ' ')
if [ "$got" != "server1 server2 server1 server2 " ]; then
  echo "$out"
  echo "quickstart: expected server1 server2 server1 server2, got: $got" >&2
  exit 1
fi
echo "quickstart: $got"
echo "== stats page in a real browser"
scripts/screenshot-stats.sh /tmp/ringlb-stats-check.png
echo "== all checks passed"
