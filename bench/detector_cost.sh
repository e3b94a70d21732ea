#!/bin/bash
# The CPU cost of the detectors (tunnelling and shadowing at their defaults) on cache hits, end to
# end, against both off: the server under test forwards `.` to a portcullis authoritative for
# com./net./org./de./example. holding NAMES host names spread over 2000 registered domains, and is
# pinned to core 0 with one UDP worker; the upstream and dnsperf are pinned to core 1. One warm-up
# pass from 127.0.0.1 puts every name in the cache; then CLIENTS dnsperf runs, each from its own
# source address, send a query file in which every name appears three times close together, so a
# third of the hits are names that client has not asked before (the "fresh" workload; with -S the
# same address is reused and, after its first run, every hit is a repeat: the "steady" workload).
# The server's CPU time (`perf stat -e task-clock`) over the measured runs is divided by the
# queries answered. Prints CPU microseconds per query and queries per CPU-second per binary and
# mode, ROUNDS times, alternating.
#
#   bench/detector_cost.sh [-r ROUNDS] [-n NAMES] [-c CLIENTS] [-S] BINARY...
#   (needs dnsperf, dig, perf, taskset, python3; traffic stays on 127.0.0.0/8)
set -euo pipefail
rounds=3 names=30000 clients=10 steady= workload=fresh
while [ $# -gt 0 ]; do
    case "$1" in
        -r) rounds=$2; shift 2 ;;
        -n) names=$2; shift 2 ;;
        -c) clients=$2; shift 2 ;;
        -S) steady=1 workload=steady; shift ;;
        *) break ;;
    esac
done
[ $# -ge 1 ] || { echo "usage: $0 [-r ROUNDS] [-n NAMES] [-c CLIENTS] [-S] BINARY..." >&2; exit 2; }
dir=$(mktemp -d /tmp/portcullis-detector-cost.XXXXXX)
cleanup() { jobs -p | xargs -r kill 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
python3 - "$dir" "$names" <<'EOF'
import random, sys
out, n = sys.argv[1], int(sys.argv[2])
tlds = ["com", "net", "org", "de", "example"]
labels = ["www", "api", "mail", "cdn", "static", "login", "img", "m"]
zones = {t: [f"{t}. 3600 IN SOA ns.{t}. hostmaster.{t}. 1 7200 3600 1209600 900",
             f"{t}. 3600 IN NS ns.{t}.", f"ns.{t}. 3600 IN A 127.0.0.1"] for t in tlds}
hosts = []
for i in range(n):
    t = tlds[i % 5]
    host = f"{labels[i % 8]}{i}.domain{i % 2000}.{t}."
    hosts.append(host)
    zones[t].append(f"{host} 3600 IN A 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
for t, lines in zones.items():
    open(f"{out}/{t}.zone", "w").write("\n".join(lines) + "\n")
open(f"{out}/warm", "w").write("".join(f"{h} A\n" for h in hosts))
rng = random.Random(7)
order = hosts[:]
rng.shuffle(order)
lines = []
for k in range(0, len(order), 50):   # each name three times within a block of 150 queries
    block = order[k:k + 50] * 3
    rng.shuffle(block)
    lines += block
open(f"{out}/queries", "w").write("".join(f"{h} A\n" for h in lines))
EOF
up=15998 port=15997
zones=""
for t in com net org de example; do zones="$zones --zone $t.=$dir/$t.zone"; done
taskset -c 1 "$1" serve --listen 127.0.0.1:$up $zones --threads 1 --log-level warn 2>"$dir/upstream.log" &
for _ in $(seq 1 150); do dig +short +time=1 +tries=1 @127.0.0.1 -p $up ns.com A >/dev/null 2>&1 && break; sleep 0.2; done
conf() {
    printf '[control]\nsocket = ""\n[server]\nlisten = ["127.0.0.1:%s"]\nthreads = 1\n' $port
    printf '[resolver]\nrecursion = false\nallow-recursion = ["127.0.0.0/8"]\n'
    printf '[[forward]]\nzone = "."\nprimaries = ["127.0.0.1:%s"]\ndnssec-validation = false\n' $up
    [ "$1" = off ] && printf '[detection]\ntunnelling = "off"\nshadowing = "off"\n'
    true
}
conf on > "$dir/on.toml"; conf off > "$dir/off.toml"
run() {
    local bin=$1 mode=$2 pid stat q=0 ms c addr
    taskset -c 0 "$bin" serve --config "$dir/$mode.toml" --log-level warn 2>"$dir/server.log" &
    pid=$!
    for _ in $(seq 1 150); do dig +short +time=1 +tries=1 @127.0.0.1 -p $port ns.com A >/dev/null 2>&1 && break; sleep 0.2; done
    taskset -c 1 dnsperf -s 127.0.0.1 -p $port -d "$dir/warm" -n 1 -c 4 -q 100 >/dev/null 2>&1
    [ -n "$steady" ] && taskset -c 1 dnsperf -a 127.0.1.1 -s 127.0.0.1 -p $port -d "$dir/queries" -n 1 -c 4 -q 100 >/dev/null 2>&1
    perf stat -e task-clock -p $pid -o "$dir/stat.txt" & stat=$!
    sleep 0.5
    for c in $(seq 1 "$clients"); do
        if [ -n "$steady" ]; then addr=127.0.1.1; else addr=127.0.$((c / 250 + 2)).$((c % 250 + 1)); fi
        taskset -c 1 dnsperf -a $addr -s 127.0.0.1 -p $port -d "$dir/queries" -n 1 -c 4 -q 100 >"$dir/dnsperf.txt" 2>&1
        q=$((q + $(awk '/Queries completed:/{print $3}' "$dir/dnsperf.txt")))
    done
    kill -INT $stat; wait $stat || true
    kill $pid; wait $pid 2>/dev/null || true
    ms=$(awk '/task-clock/{gsub(",","",$1); print $1}' "$dir/stat.txt")
    python3 -c "print(f'{\"$(basename "$bin")\":24} {\"$mode\":4} {\"$workload\":7} queries {$q} cpu-us/query {$ms*1000/$q:.3f} kq/cpu-s {$q/$ms:.1f}')"
}
for _ in $(seq 1 "$rounds"); do
    for bin in "$@"; do run "$bin" off; run "$bin" on; done
done
