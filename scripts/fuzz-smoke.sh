#!/usr/bin/env bash
# ctest's fuzz.<target>: a few seconds of one libFuzzer target (fuzz/<target>.cc)
# over its seed corpus plus mutations. New corpus items and any crash file go
# to a temp dir that is removed afterwards: the repository's corpus is only
# read. Exits 77 (ctest: skipped) with the reason when there is no fuzz build
# (scripts/setup.sh makes one where clang and libFuzzer are available).
#   SKYPORT_FUZZ_DIR      the -DSKYPORT_FUZZ=ON build dir (default ./build-fuzz)
#   SKYPORT_FUZZ_SECONDS  how long to mutate (default 4)
set -euo pipefail
t=${1:?usage: fuzz-smoke.sh TARGET}
src=$(cd "$(dirname "$0")/.." && pwd)
dir=${SKYPORT_FUZZ_DIR:-$src/build-fuzz}
bin=$dir/fuzz/fuzz_$t
if [[ -f $dir/SKIPPED ]]; then
  echo "fuzz.$t skipped: $(cat "$dir/SKIPPED")"
  exit 77
fi
if [[ ! -x $bin ]]; then
  echo "fuzz.$t skipped: no fuzz build at $dir (scripts/setup.sh makes one when clang++ and libFuzzer are installed)"
  exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/skyport-fuzz-$t.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/new"
args=(-max_total_time="${SKYPORT_FUZZ_SECONDS:-4}" -timeout=10 -rss_limit_mb=2048 -max_len=4096
      -print_final_stats=1 -artifact_prefix="$work/")
[[ -f $src/fuzz/$t.dict ]] && args+=(-dict="$src/fuzz/$t.dict")
cd "$work"
if ! "$bin" "${args[@]}" "$work/new" "$src/fuzz/$t/corpus" 2>"$work/log"; then
  tail -n 60 "$work/log"
  for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
    [[ -f $f ]] || continue
    echo "--- $(basename "$f") (base64; reproduce: base64 -d > input && $bin input)"
    base64 -w0 "$f" | head -c 8192
    echo
  done
  exit 1
fi
grep -E "^(INFO: seed corpus|#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::average_exec_per_sec)" "$work/log" || true
