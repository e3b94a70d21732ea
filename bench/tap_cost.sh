#!/bin/bash
# The CPU cost of dnstap (with /metrics scraped every second) per query, against both off:
# the server pinned to core 0 with one UDP worker, dnsperf pinned to core 1 sending the query
# file of bench/gen_zone.py twice (exactly 2 x LINES queries), the server's CPU time measured by
# `perf stat -e task-clock` from ready to the end of dnsperf. Prints CPU microseconds per query
# and queries per CPU-second for each binary and mode, ROUNDS times, alternating.
#
# With -s, dnstap goes to a collector's Unix socket instead of a file: fstrm_capture (pinned to
# core 1 beside dnsperf, its CPU not counted) reads it and writes the frames to a file.
#
#   bench/tap_cost.sh [-r ROUNDS] [-s] BINARY...  (needs dnsperf, dig, perf, taskset, curl; -s: fstrm_capture)
set -euo pipefail
rounds=3
socket=
while [ $# -gt 0 ]; do
    case "$1" in
        -r) rounds=$2; shift 2 ;;
        -s) socket=1; shift ;;
        *) break ;;
    esac
done
[ $# -ge 1 ] || { echo "usage: $0 [-r ROUNDS] [-s] BINARY..." >&2; exit 2; }
dir=$(mktemp -d /tmp/portcullis-tap-cost.XXXXXX)
trap 'rm -rf "$dir"' EXIT
. "$(dirname "$0")/tap_lib.sh"
tap_prepare "$dir" "$socket"
port=15999
run() {
    local bin=$1 mode=$2 stat q ms
    tap_start "$bin" "$mode" "$dir" $port "$socket" 1
    perf stat -e task-clock -p $TAP_PID -o "$dir/stat.txt" & stat=$!
    sleep 0.5
    taskset -c 1 dnsperf -s 127.0.0.1 -p $port -d "$dir/zone/queries" -n 2 -c 4 -q 100 -T 1 >"$dir/dnsperf.txt" 2>&1
    kill -INT $stat; wait $stat || true
    tap_stop
    q=$(awk '/Queries completed:/{print $3}' "$dir/dnsperf.txt")
    ms=$(awk '/task-clock/{gsub(",","",$1); print $1}' "$dir/stat.txt")
    python3 -c "print(f'{\"$(basename "$bin")\":24} {\"$mode${socket:+-socket}\":11} queries {$q} cpu-us/query {$ms*1000/$q:.3f} kq/cpu-s {$q/$ms:.1f}')"
}
for _ in $(seq 1 "$rounds"); do
    for bin in "$@"; do run "$bin" off; run "$bin" on; done
done
