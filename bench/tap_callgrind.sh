#!/bin/bash
# User-space instructions per query of the server with dnstap off and on, exact on a shared
# machine (no hardware counters needed): the set-up of bench/tap_cost.sh (one UDP worker, the
# query mix of bench/gen_zone.py, dnstap to a file, /metrics scraped every second when on), the
# server under `valgrind --tool=callgrind --separate-threads=yes` with collection switched on
# once it answers, QUERIES queries sent by dnsperf, then a dump. Prints per mode the instructions
# per query of each thread (the UDP worker, the tap writer, ...) and in all; the dumps stay in
# OUT (callgrind_annotate OUT/MODE.*-NN shows where they go).
#
#   bench/tap_callgrind.sh [-q QUERIES] [-o OUT] [-p PORT] BINARY  (needs valgrind, dnsperf, dig, curl)
set -euo pipefail
queries=20000
out=
port=15996
while [ $# -gt 0 ]; do
    case "$1" in
        -q) queries=$2; shift 2 ;;
        -o) out=$2; shift 2 ;;
        -p) port=$2; shift 2 ;;
        *) break ;;
    esac
done
[ $# -eq 1 ] || { echo "usage: $0 [-q QUERIES] [-o OUT] [-p PORT] BINARY" >&2; exit 2; }
bin=$1
dir=$(mktemp -d /tmp/portcullis-tap-callgrind.XXXXXX)
trap 'rm -rf "$dir"' EXIT
out=${out:-$dir/out}
mkdir -p "$out"
. "$(dirname "$0")/tap_lib.sh"
tap_prepare "$dir" ""
head -n "$queries" "$dir/zone/queries" > "$dir/measured"
for mode in off on; do
    rm -f "$dir/run.dnstap"
    valgrind --tool=callgrind --separate-threads=yes --instr-atstart=no \
        --callgrind-out-file="$out/$mode.%p" "$bin" serve --config "$dir/$mode.toml" \
        --listen 127.0.0.1:$port --zone "bench.test.=$dir/zone/zone.db" --threads 1 --log-level warn \
        2>"$dir/server.log" &
    pid=$!
    for _ in $(seq 1 300); do dig +short +time=1 +tries=1 @127.0.0.1 -p $port ready-last.bench.test A >/dev/null 2>&1 && break; sleep 0.5; done
    scrape=
    if [ "$mode" = on ]; then
        (for _ in $(seq 1 600); do curl -s -o /dev/null http://127.0.0.1:18053/metrics || true; sleep 1; done) &
        scrape=$!
    fi
    callgrind_control -i on $pid >/dev/null
    callgrind_control -z $pid >/dev/null
    dnsperf -s 127.0.0.1 -p $port -d "$dir/measured" -n 1 -c 4 -q 20 -t 10 >"$dir/dnsperf.txt" 2>&1
    sleep 0.3 # the writer's next poll (every 20 ms) writes what the last batches held
    callgrind_control -d $pid >/dev/null
    [ -n "$scrape" ] && { kill $scrape; wait $scrape 2>/dev/null || true; }
    kill $pid; wait $pid 2>/dev/null || true
    q=$(awk '/Queries completed:/{print $3}' "$dir/dnsperf.txt")
    for file in "$out/$mode.$pid".1-*; do
        [ -e "$file" ] || continue
        printf '%s %s\n' "$(awk '/^summary:/{print $2}' "$file")" "$(sed -n 's/^thread: *//p' "$file")"
    done | awk -v mode=$mode -v q="$q" '{ir[$2] = $1; all += $1} END {
        printf "%-4s queries %s instructions/query %.0f:", mode, q, all / q;
        for (t in ir) if (ir[t] / q >= 1) printf " thread%s=%.0f", t, ir[t] / q; print "" }'
done
