#!/bin/bash
# A feature's cost measured with the shared peer harness (`shared/bench/peers.sh` or
# `resolvers.sh`), as the issues ask: portcullis alone as the candidate, runs alternating between
# the feature on and off, one line per run with its kq/s per server core, then the means, medians
# and per-pair costs.
#
#   bench/onoff.sh [-r PAIRS] [-d SECONDS] [-H HARNESS_DIR] detectors|dnstap BINARY
#
# detectors: resolvers.sh; portcullis forwards `.` to the harness' NSD (127.0.0.1:5310) with
#   validation off (as the peers run there), the detectors at their defaults against both off.
# dnstap: peers.sh; dnstap to a file plus /metrics fetched every second (by a loop outside the
#   server's process tree, so its own CPU is not counted) against neither.
# Needs what the harness needs (root for its network namespace, dnsperf, NSD); HARNESS_DIR
# defaults to ../shared/bench beside this checkout.
set -euo pipefail
pairs=10 secs=10 harness="$(cd "$(dirname "$0")/../.." && pwd)/shared/bench"
while getopts r:d:H: opt; do
    case $opt in
        r) pairs=$OPTARG ;; d) secs=$OPTARG ;; H) harness=$OPTARG ;;
        *) echo "usage: $0 [-r PAIRS] [-d SECONDS] [-H HARNESS_DIR] detectors|dnstap BINARY" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || { echo "usage: $0 [-r PAIRS] [-d SECONDS] [-H HARNESS_DIR] detectors|dnstap BINARY" >&2; exit 2; }
feature=$1 bin=$(realpath "$2")
dir=$(mktemp -d /tmp/portcullis-onoff.XXXXXX)
trap 'rm -rf "$dir"' EXIT
# The candidate: writes its config into the harness' run dir and execs the server.
cat > "$dir/candidate.sh" <<EOF
#!/bin/bash
feature=\$1 mode=\$2 port=\$3 zone=\$4 run=\$5 threads=\$6
config="\$run/portcullis.toml"
printf '[control]\nsocket = ""\n' > "\$config"
if [ "\$feature" = detectors ]; then
    printf '\n[[forward]]\nzone = "."\nprimaries = ["127.0.0.1:5310"]\ndnssec-validation = false\n' >> "\$config"
    [ "\$mode" = off ] && printf '\n[detection]\ntunnelling = "off"\nshadowing = "off"\n' >> "\$config"
    exec "$bin" serve -c "\$config" --listen 127.0.0.1:\$port --threads \$threads --log-level warn
fi
if [ "\$mode" = on ]; then
    printf '\n[http]\nlisten = "127.0.0.1:18055"\n\n[dnstap]\nfile = "%s/run.dnstap"\n' "\$run" >> "\$config"
    ( setsid bash -c "for i in \\\$(seq 1 600); do kill -0 \$\$ 2>/dev/null || exit 0; curl -s -o /dev/null http://127.0.0.1:18055/metrics; sleep 1; done" </dev/null >/dev/null 2>&1 & )
fi
exec "$bin" serve -c "\$config" --listen 127.0.0.1:\$port --zone "example.test=\$zone" --threads \$threads --log-level warn
EOF
chmod +x "$dir/candidate.sh"
case $feature in
    detectors) script=resolvers.sh ;;
    dnstap) script=peers.sh ;;
    *) echo "$0: feature is detectors or dnstap" >&2; exit 2 ;;
esac
for i in $(seq 1 "$pairs"); do
    for mode in on off; do
        out="$dir/$mode-$i"
        mkdir -p "$out"
        (cd "$harness" && ./$script -s none -d "$secs" -L 1 -o "$out" -N "$feature-$mode" \
            -C "$dir/candidate.sh $feature $mode {port} {zone} {rundir} {threads}" > "$out/log" 2>&1)
        # The row's eighth column is kq/s per server core.
        core=$(awk -F'|' -v n="$feature-$mode" '$2 ~ "^ *"n" *$" {gsub(/ /, "", $9); print $9}' "$out/log" | tail -1)
        echo "$mode $i ${core:-failed}"
    done
done | tee "$dir/runs"
python3 - "$dir/runs" <<'EOF'
import statistics as st, sys
runs = {"on": [], "off": []}
for line in open(sys.argv[1]):
    mode, _, value = line.split()
    if value != "failed":
        runs[mode].append(float(value))
on, off = runs["on"], runs["off"]
if not on or not off:
    sys.exit("no complete runs")
per = [1 - a / b for a, b in zip(on, off)]
print(f"on:  mean {st.mean(on):.1f} median {st.median(on):.1f} kq/s per server core ({len(on)} runs)")
print(f"off: mean {st.mean(off):.1f} median {st.median(off):.1f} ({len(off)} runs)")
print(f"cost: of the means {1 - st.mean(on) / st.mean(off):+.2%}, of the medians {1 - st.median(on) / st.median(off):+.2%}, "
      f"per pair mean {st.mean(per):+.2%} median {st.median(per):+.2%}")
EOF
