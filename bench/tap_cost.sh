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
python3 "$(dirname "$0")/gen_zone.py" "$dir/zone" -n 20000 -q 100000 >/dev/null
printf '[control]\nsocket = ""\n' > "$dir/off.toml"
if [ -n "$socket" ]; then output="socket = \"$dir/tap.sock\""; else output="file = \"$dir/run.dnstap\""; fi
printf '[control]\nsocket = ""\n\n[http]\nlisten = "127.0.0.1:18053"\n\n[dnstap]\n%s\n' "$output" > "$dir/on.toml"
port=15999
run() {
    local bin=$1 mode=$2 pid scrape stat q ms
    local collector=
    rm -f "$dir/run.dnstap" "$dir/tap.sock"
    if [ -n "$socket" ] && [ "$mode" = on ]; then
        taskset -c 1 fstrm_capture -t protobuf:dnstap.Dnstap -u "$dir/tap.sock" -w "$dir/run.dnstap" 2>/dev/null &
        collector=$!
        for _ in $(seq 1 100); do [ -S "$dir/tap.sock" ] && break; sleep 0.05; done
    fi
    taskset -c 0 "$bin" serve --config "$dir/$mode.toml" --listen 127.0.0.1:$port --zone "bench.test.=$dir/zone/zone.db" \
        --threads 1 --log-level warn 2>"$dir/server.log" &
    pid=$!
    for _ in $(seq 1 150); do dig +short +time=1 +tries=1 @127.0.0.1 -p $port ready-last.bench.test A >/dev/null 2>&1 && break; sleep 0.2; done
    scrape=
    if [ "$mode" = on ]; then
        (for _ in $(seq 1 300); do curl -s -o /dev/null http://127.0.0.1:18053/metrics || true; sleep 1; done) &
        scrape=$!
    fi
    perf stat -e task-clock -p $pid -o "$dir/stat.txt" & stat=$!
    sleep 0.5
    taskset -c 1 dnsperf -s 127.0.0.1 -p $port -d "$dir/zone/queries" -n 2 -c 4 -q 100 -T 1 >"$dir/dnsperf.txt" 2>&1
    kill -INT $stat; wait $stat || true
    [ -n "$scrape" ] && { kill $scrape; wait $scrape 2>/dev/null || true; }
    kill $pid; wait $pid 2>/dev/null || true
    [ -n "$collector" ] && { kill $collector; wait $collector 2>/dev/null || true; }
    q=$(awk '/Queries completed:/{print $3}' "$dir/dnsperf.txt")
    ms=$(awk '/task-clock/{gsub(",","",$1); print $1}' "$dir/stat.txt")
    python3 -c "print(f'{\"$(basename "$bin")\":24} {\"$mode${socket:+-socket}\":11} queries {$q} cpu-us/query {$ms*1000/$q:.3f} kq/cpu-s {$q/$ms:.1f}')"
}
for _ in $(seq 1 "$rounds"); do
    for bin in "$@"; do run "$bin" off; run "$bin" on; done
done
