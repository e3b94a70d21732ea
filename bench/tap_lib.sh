# The set-up bench/tap_cost.sh and bench/tap_count.sh share (sourced, not run): the zone and
# query file of gen_zone.py, the two configs (off: neither dnstap nor /metrics; on: dnstap to a
# file or, with a socket, to fstrm_capture's Unix socket, and the HTTP listener), and one server
# run: the collector (socket, on) and the server pinned to core 0 with one UDP worker started and
# awaited, /metrics scraped every second while on; then everything stopped.

# tap_prepare DIR SOCKET: writes DIR/zone, DIR/off.toml and DIR/on.toml (SOCKET non-empty: the
# socket output).
tap_prepare() {
    local dir=$1 socket=$2 output
    python3 "$(dirname "${BASH_SOURCE[0]}")/gen_zone.py" "$dir/zone" -n 20000 -q 100000 >/dev/null
    printf '[control]\nsocket = ""\n' > "$dir/off.toml"
    if [ -n "$socket" ]; then output="socket = \"$dir/tap.sock\""; else output="file = \"$dir/run.dnstap\""; fi
    printf '[control]\nsocket = ""\n\n[http]\nlisten = "127.0.0.1:18053"\n\n[dnstap]\n%s\n' "$output" > "$dir/on.toml"
}

# tap_start BIN MODE DIR PORT SOCKET SCRAPE: starts the collector (SOCKET non-empty, MODE on), the
# server in MODE and waits until it answers, and the scrape loop (MODE on, SCRAPE non-empty);
# sets TAP_PID, TAP_COLLECTOR and TAP_SCRAPE (empty when not started).
tap_start() {
    local bin=$1 mode=$2 dir=$3 port=$4 socket=$5 scrape=$6
    TAP_COLLECTOR= TAP_SCRAPE=
    rm -f "$dir/run.dnstap" "$dir/tap.sock"
    if [ -n "$socket" ] && [ "$mode" = on ]; then
        taskset -c 1 fstrm_capture -t protobuf:dnstap.Dnstap -u "$dir/tap.sock" -w "$dir/run.dnstap" 2>/dev/null &
        TAP_COLLECTOR=$!
        for _ in $(seq 1 100); do [ -S "$dir/tap.sock" ] && break; sleep 0.05; done
    fi
    taskset -c 0 "$bin" serve --config "$dir/$mode.toml" --listen 127.0.0.1:"$port" --zone "bench.test.=$dir/zone/zone.db" \
        --threads 1 --log-level warn 2>"$dir/server.log" &
    TAP_PID=$!
    for _ in $(seq 1 150); do dig +short +time=1 +tries=1 @127.0.0.1 -p "$port" ready-last.bench.test A >/dev/null 2>&1 && break; sleep 0.2; done
    if [ "$mode" = on ] && [ -n "$scrape" ]; then
        (for _ in $(seq 1 300); do curl -s -o /dev/null http://127.0.0.1:18053/metrics || true; sleep 1; done) &
        TAP_SCRAPE=$!
    fi
}

# tap_stop: stops the scrape loop, the server and the collector tap_start started.
tap_stop() {
    [ -n "$TAP_SCRAPE" ] && { kill "$TAP_SCRAPE"; wait "$TAP_SCRAPE" 2>/dev/null || true; }
    kill "$TAP_PID"; wait "$TAP_PID" 2>/dev/null || true
    [ -n "$TAP_COLLECTOR" ] && { kill "$TAP_COLLECTOR"; wait "$TAP_COLLECTOR" 2>/dev/null || true; }
    true
}
