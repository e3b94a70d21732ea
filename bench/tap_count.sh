#!/bin/bash
# Where dnstap's cost goes, in counts rather than totals: the setup of bench/tap_cost.sh (server
# pinned to core 0 with one UDP worker, dnsperf on core 1 sending exactly 2 x 100000 queries,
# /metrics scraped every second when on), but per query: each thread's CPU nanoseconds (from
# /proc/PID/task/*/schedstat, so the UDP worker, the tap writer and the HTTP threads apart; with
# the times each ran, per 1000 queries), the
# user and kernel split (perf's user_time and system_time), and the system calls and context
# switches (perf's tracepoints). Hardware counters (instructions) are unavailable in this VM;
# the per-thread CPU time is measured the same way for off and on, alternating, ROUNDS times.
#
# With -s, dnstap goes to fstrm_capture's Unix socket (on core 1, not counted); with -n, the
# scrape is left out (dnstap alone); with -P DIR, the on runs are also recorded with `perf record
# -g` into DIR/perf-N.data (then: perf report -i DIR/perf-N.data --no-children --sort sym).
#
#   bench/tap_count.sh [-r ROUNDS] [-s] [-n] [-P DIR] BINARY
set -euo pipefail
rounds=3
socket=
scrape_on=1
record=
while [ $# -gt 0 ]; do
    case "$1" in
        -r) rounds=$2; shift 2 ;;
        -s) socket=1; shift ;;
        -n) scrape_on=; shift ;;
        -P) record=$2; shift 2 ;;
        *) break ;;
    esac
done
[ $# -eq 1 ] || { echo "usage: $0 [-r ROUNDS] [-s] [-n] [-P DIR] BINARY" >&2; exit 2; }
bin=$1
dir=$(mktemp -d /tmp/portcullis-tap-count.XXXXXX)
trap 'rm -rf "$dir"' EXIT
. "$(dirname "$0")/tap_lib.sh"
tap_prepare "$dir" "$socket"
port=15998
events=task-clock,user_time,system_time,context-switches
for call in write writev pwrite64 sendmmsg recvmmsg clock_nanosleep futex accept4 sendto; do events+=",syscalls:sys_enter_$call"; done

# Sums each thread's run time (schedstat's first field, ns) by thread name.
threads() {
    local pid=$1 task
    for task in /proc/"$pid"/task/*; do
        printf '%s %s\n' "$(cat "$task/comm" 2>/dev/null || echo gone)" "$(cut -d' ' -f1,3 "$task/schedstat" 2>/dev/null || echo 0 0)"
    done | awk '{sub(/-[0-9]+$/, "", $1); t[$1] += $2; s[$1] += $3} END {for (n in t) print n, t[n], s[n]}'
}

run() {
    local mode=$1 round=$2 pid stat q prof=
    tap_start "$bin" "$mode" "$dir" $port "$socket" "$scrape_on"
    pid=$TAP_PID
    sleep 0.5
    threads $pid > "$dir/before.txt"
    perf stat -x, -e "$events" -p $pid -o "$dir/stat.txt" & stat=$!
    if [ -n "$record" ] && [ "$mode" = on ]; then
        perf record -q -g -p $pid -o "$record/perf-$round.data" >/dev/null 2>&1 & prof=$!
    fi
    sleep 0.3
    taskset -c 1 dnsperf -s 127.0.0.1 -p $port -d "$dir/zone/queries" -n 2 -c 4 -q 100 -T 1 >"$dir/dnsperf.txt" 2>&1
    threads $pid > "$dir/after.txt"
    kill -INT $stat; wait $stat || true
    [ -n "$prof" ] && { kill -INT $prof; wait $prof || true; }
    tap_stop
    q=$(awk '/Queries completed:/{print $3}' "$dir/dnsperf.txt")
    python3 - "$mode${socket:+-socket}${scrape_on:-+noscrape}" "$q" "$dir" <<'EOF'
import sys
mode, q, d = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def load(name):
    return {l.split()[0]: (int(l.split()[1]), int(l.split()[2])) for l in open(f"{d}/{name}") if l.strip()}
before, after = load("before.txt"), load("after.txt")
per = {n: (after[n][0] - before.get(n, (0, 0))[0]) / q for n in after}
slices = {n: round((after[n][1] - before.get(n, (0, 0))[1]) / q * 1000, 1) for n in after}
stat = {}
for line in open(f"{d}/stat.txt"):
    parts = line.strip().split(",")
    if len(parts) > 2 and parts[0] and parts[0][0].isdigit():
        stat[parts[2].replace("syscalls:sys_enter_", "")] = float(parts[0])
busy = {n: (round(v), slices[n]) for n, v in sorted(per.items(), key=lambda kv: -kv[1]) if v >= 0.5}
total = sum(per.values())
calls = " ".join(f"{k}={v / q * 1000:.1f}" for k, v in stat.items() if k not in ("task-clock", "user_time", "system_time") and v)
user, system = stat.get("user_time", 0) / q, stat.get("system_time", 0) / q
print(f"{mode:18} q={q} ns/q={total:.0f} {busy} user={user:.0f} sys={system:.0f} per-kq: {calls}")
EOF
}
for round in $(seq 1 "$rounds"); do
    run off "$round"
    run on "$round"
done
