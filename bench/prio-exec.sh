#!/usr/bin/env bash
# prio-exec.sh NICE CPUS CMD...: runs CMD at nice NICE, pinned to CPUS ("-" = unpinned).
# Start it in its own session (setsid): the kernel groups CPU time by session
# ("autogroup"), so plain nice would not beat other sessions' work; the
# session's autogroup gets the same nice value.
n=$1 cpus=$2; shift 2
[[ -w /proc/self/autogroup ]] && echo "$n" >/proc/self/autogroup 2>/dev/null
if [[ $cpus == - ]]; then exec nice -n "$n" "$@"; else exec nice -n "$n" taskset -c "$cpus" "$@"; fi
