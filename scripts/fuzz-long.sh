#!/usr/bin/env bash
# The long fuzz run (docs/security.md): each libFuzzer target, one
# at a time and niced, for SKYPORT_FUZZ_RUNS executions (default 10 million)
# starting from its seed corpus; the corpus it grows is kept under
# $SKYPORT_FUZZ_DIR/long/<target>/ for the next run. Prints one table row per
# target (executions, seconds, exec/s, corpus, coverage) and stops at the
# first crash, leaving the input in that dir.
#   scripts/fuzz-long.sh [TARGET...]     (default: every target in fuzz/targets.cmake)
#   SKYPORT_FUZZ_RUNS          executions per target (default 10000000)
#   SKYPORT_FUZZ_MAX_SECONDS   also stop a target after this long (default: no limit)
#   SKYPORT_FUZZ_JOBS          worker processes of one run (libFuzzer -fork=N; default 1,
#                              in-process); the executions are counted over all workers
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
dir=${SKYPORT_FUZZ_DIR:-$src/build-fuzz}
runs=${SKYPORT_FUZZ_RUNS:-10000000}
jobs=${SKYPORT_FUZZ_JOBS:-1}
targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(sed -n '/^set(SKYPORT_FUZZ_TARGETS/,/^)/{s/#.*//;p}' "$src/fuzz/targets.cmake" \
                         | tr -s ' ()' '\n' | grep -v -e '^$' -e SKYPORT_FUZZ_TARGETS -e '^set$')
fi
if [[ ! -x $dir/fuzz/fuzz_${targets[0]} ]]; then
  echo "no fuzz build at $dir: CXX=clang++ cmake -S . -B $dir -G Ninja -DSKYPORT_FUZZ=ON && cmake --build $dir --target fuzz_all" >&2
  exit 1
fi
echo "| target | executions | seconds | exec/s | corpus (files/bytes) | coverage (edges cov / features ft) | peak RSS MB |"
echo "|---|---|---|---|---|---|---|"
for t in "${targets[@]}"; do
  work=$dir/long/$t
  mkdir -p "$work/corpus"
  args=(-runs="$runs" -timeout=10 -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 -artifact_prefix="$work/")
  [[ -f $src/fuzz/$t.dict ]] && args+=(-dict="$src/fuzz/$t.dict")
  [[ -n ${SKYPORT_FUZZ_MAX_SECONDS:-} ]] && args+=(-max_total_time="$SKYPORT_FUZZ_MAX_SECONDS")
  ((jobs > 1)) && args+=(-fork="$jobs")
  start=$(date +%s)
  if ! (cd "$work" && nice -n 10 "$dir/fuzz/fuzz_$t" "${args[@]}" "$work/corpus" "$src/fuzz/$t/corpus" 2>"$work/log"); then
    echo "| $t | CRASH: see $work/log and $work/crash-* |"
    tail -n 40 "$work/log" >&2
    exit 1
  fi
  secs=$(($(date +%s) - start))
  if ((jobs > 1)); then
    # -fork prints "#RUNS: cov: C ft: F corp: N exec/s E oom/timeout/crash: a/b/c time: Ts job: J ..."
    # per finished job (no final stats); the last one counts every worker's executions.
    last=$({ grep -E '^#[0-9]+: cov:' "$work/log" || true; } | tail -1)
    n=$(sed -E 's/^#([0-9]+):.*/\1/' <<<"$last")
    cov=$(sed -E 's/.*cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+).*/\1 \/ \2|\3 files/' <<<"$last")
    echo "| $t (-fork=$jobs) | $n | $secs | $((n / (secs > 0 ? secs : 1))) | ${cov#*|} | ${cov%%|*} | - |"
    continue
  fi
  stat() { sed -n "s/^stat::$1: *//p" "$work/log"; }
  done_line=$({ grep -E '^#[0-9]+[[:space:]]+DONE' "$work/log" || true; } | tail -1)
  cov=$(sed -E 's/.*cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+)\/([0-9a-zA-Z]+).*/\1 \/ \2|\3 \/ \4/' <<<"$done_line")
  echo "| $t | $(stat number_of_executed_units) | $secs | $(stat average_exec_per_sec) | ${cov#*|} | ${cov%%|*} | $(stat peak_rss_mb) |"
done
