#!/usr/bin/env bash
# This tree's ringlb against the ringlb of git revision REV, in the same bench run.
#
#   bench/baseline.sh REV [more bench flags, e.g. --quick or --rounds 5]
#
# Builds ringlb at REV in a temporary git worktree (release, target dir
# target/baseline-COMMIT, kept so that the next run against REV needs no build), removes
# the worktree, then runs
#   bench/run.sh --baseline target/baseline-COMMIT/release/ringlb \
#                --proxies ringlb,ringlb-baseline --pin [flags]
# --pin is left out if the flags name a placement (--unpinned, --both), --proxies if they
# have --proxies or --only. REV is anything git understands: HEAD (this tree's uncommitted
# changes against the last commit), HEAD~1, a tag, a branch.
set -euo pipefail
if [ $# -lt 1 ] || [[ $1 == -* ]]; then
  echo "usage: bench/baseline.sh REV [bench flags]" >&2
  exit 2
fi
rev=$1
shift
root=$(cd "$(dirname "$0")/.." && pwd)
if ! commit=$(git -C "$root" rev-parse --verify --quiet "$rev^{commit}"); then
  echo "bench/baseline.sh: '$rev' is not a commit" >&2
  exit 2
fi
short=$(git -C "$root" rev-parse --short=12 "$commit")
described=$(git -C "$root" describe --always "$commit")
subject=$(git -C "$root" log -1 --format=%s "$commit" | cut -c1-70 | sed 's/ *$//')
label="$described: $subject"
[ "$rev" = "$described" ] || label="$rev = $label"
# Relative to the repository root, as run.sh (which cds there) reads it.
target_dir=$(cd "$root" && realpath -m "${CARGO_TARGET_DIR:-target}")
out="$target_dir/baseline-$short"
bin="$out/release/ringlb"
if [ -x "$bin" ]; then
  echo "bench/baseline.sh: ringlb at $short is built already: $bin" >&2
else
  wt=$(mktemp -d "${TMPDIR:-/tmp}/ringlb-baseline.XXXXXX")
  cleanup() {
    git -C "$root" worktree remove --force "$wt" 2>/dev/null || rm -rf "$wt"
    git -C "$root" worktree prune
  }
  trap cleanup EXIT
  echo "bench/baseline.sh: building ringlb at $short in $wt (target dir $out)" >&2
  git -C "$root" worktree add --detach --quiet "$wt" "$commit"
  (cd "$wt" && CARGO_TARGET_DIR="$out" cargo build --release --bin ringlb -p ringlb)
  cleanup
  trap - EXIT
fi
placement=(--pin)
proxies=(--proxies ringlb,ringlb-baseline)
for a in "$@"; do
  case $a in
    --pin | --unpinned | --both) placement=() ;;
    --proxies | --proxies=* | --only | --only=*) proxies=() ;;
  esac
done
exec "$root/bench/run.sh" --baseline "$bin" --baseline-label "$label" \
  ${proxies[@]+"${proxies[@]}"} ${placement[@]+"${placement[@]}"} "$@"
