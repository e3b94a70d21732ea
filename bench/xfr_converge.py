#!/usr/bin/env python3
"""Convergence time of a secondary after a one-record change in a large zone (issue 18):
a portcullis primary with NOTIFY and TSIG, a portcullis secondary and a Knot secondary; the
change by IXFR (the primary reloaded) and by AXFR (the primary restarted without its journal).
Each time is from the moment the primary serves the change to the moment the secondary does.
Loopback only.

    python3 bench/gen_zone.py -n 100000 -q 10 /tmp/xfr-zone
    PORTCULLIS=target/release/portcullis python3 bench/xfr_converge.py /tmp/xfr-zone/zone.db
"""
import os, re, shutil, signal, socket, struct, subprocess, sys, threading, time, random

BIN = os.environ.get("PORTCULLIS", "target/release/portcullis")
ZONE = sys.argv[1] if len(sys.argv) > 1 else "/tmp/xfr-zone/zone.db"
ROOT = os.path.join(os.path.dirname(os.path.abspath(ZONE)), "run")
shutil.rmtree(ROOT, ignore_errors=True)
os.makedirs(ROOT)

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def qname(name):
    return b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".")) + b"\0"

def query(port, name, qtype, timeout=0.2):
    qid = random.randint(0, 65535)
    msg = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0) + qname(name) + struct.pack(">HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(timeout)
    try:
        s.sendto(msg, ("127.0.0.1", port)); data = s.recv(65535)
    except OSError:
        return None
    finally:
        s.close()
    return data

def answers(port, name, qtype=1):
    d = query(port, name, qtype)
    return d is not None and (d[3] & 15) == 0 and struct.unpack(">H", d[6:8])[0] > 0

def wait(cond, limit=120):
    start = time.monotonic()
    while not cond():
        if time.monotonic() - start > limit:
            raise SystemExit("timed out")
        time.sleep(0.002)
    return time.monotonic()

base = open(ZONE).read()
SERIAL = 2024010101
def zone(serial, extra):
    text = base.replace(f"SOA ns1.bench.test. hostmaster.bench.test. {SERIAL} ", f"SOA ns1.bench.test. hostmaster.bench.test. {serial} ", 1)
    return text + "".join(f"{n}.bench.test. 300 IN A 192.0.2.{i % 250 + 1}\n" for i, n in enumerate(extra))

P, S, K = free_port(), free_port(), free_port()
key = "xfr-key"; secret = "UAPt4A/SdkCEQu1bozbFMuZaXwDbky5wlHHF0Zt02M8="
pdir, sdir, kdir = (os.path.join(ROOT, d) for d in ("primary", "secondary", "knot"))
for d in (pdir, sdir, kdir): os.makedirs(d)
zfile = os.path.join(pdir, "bench.zone")
open(zfile, "w").write(zone(SERIAL, []))
keytab = f'[[key]]\nname = "{key}"\nsecret = "{secret}"\n'
open(os.path.join(pdir, "p.toml"), "w").write(f'[server]\nlisten = ["127.0.0.1:{P}"]\nthreads = 1\n[acl]\ntransfer = ["key {key}"]\n{keytab}[[zone]]\norigin = "bench.test."\nfile = "{zfile}"\nnotify = ["127.0.0.1:{S}", "127.0.0.1:{K}"]\nkey = "{key}"\n')
open(os.path.join(sdir, "s.toml"), "w").write(f'[server]\nlisten = ["127.0.0.1:{S}"]\nthreads = 1\n[acl]\nnotify = ["127.0.0.1"]\n{keytab}[[zone]]\norigin = "bench.test."\nprimaries = ["127.0.0.1:{P}"]\nkey = "{key}"\n')
os.makedirs(os.path.join(kdir, "db"))
open(os.path.join(kdir, "knot.conf"), "w").write(f"""server:
    rundir: "{kdir}"
    listen: 127.0.0.1@{K}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
    pidfile: "{kdir}/knot.pid"
database:
    storage: "{kdir}/db"
log:
  - target: stderr
    any: info
key:
  - id: {key}
    algorithm: hmac-sha256
    secret: {secret}
remote:
  - id: primary
    address: 127.0.0.1@{P}
    key: {key}
acl:
  - id: notify
    key: {key}
    action: notify
template:
  - id: default
    storage: "{kdir}"
    zonefile-sync: -1
    journal-content: changes
zone:
  - domain: bench.test.
    master: primary
    acl: notify
""")
procs = []
def start(args, log):
    p = subprocess.Popen(args, stdout=open(log, "w"), stderr=subprocess.STDOUT); procs.append(p); return p
try:
    prim = start([BIN, "serve", "--config", os.path.join(pdir, "p.toml")], os.path.join(pdir, "log"))
    wait(lambda: answers(P, "bench.test.", 6))
    t = time.monotonic()
    sec = start([BIN, "serve", "--config", os.path.join(sdir, "s.toml")], os.path.join(sdir, "log"))
    knot = start(["knotd", "-c", os.path.join(kdir, "knot.conf")], os.path.join(kdir, "log"))
    ts = wait(lambda: answers(S, "bench.test.", 6)); tk = wait(lambda: answers(K, "bench.test.", 6))
    print(f"initial AXFR (start to serving): portcullis {ts - t:.2f} s, knot {tk - t:.2f} s")
    def converge(name, trigger):
        done = {}
        def poll(label, port):
            done[label] = wait(lambda: answers(port, name))
        threads = [threading.Thread(target=poll, args=(l, p)) for l, p in (("primary", P), ("portcullis", S), ("knot", K))]
        t0 = time.monotonic(); trigger()
        for th in threads: th.start()
        time.sleep(0)
        for th in threads: th.join()
        # Times from the moment the primary serves the change.
        return {l: done[l] - done["primary"] for l in done if l != "primary"} | {"primary_after_trigger": done["primary"] - t0}
    serial = SERIAL
    extra = []
    results = {"IXFR": [], "AXFR": []}
    for i in range(4):
        serial += 1; extra = [f"measure{serial}"]
        open(zfile, "w").write(zone(serial, extra))
        time.sleep(2)  # past the secondary's one refresh a second, and NOTIFY resends
        results["IXFR"].append(converge(f"measure{serial}.bench.test.", lambda: prim.send_signal(signal.SIGHUP)))
    for i in range(4):
        serial += 1; extra = [f"measure{serial}"]
        time.sleep(2)
        prim.send_signal(signal.SIGKILL); prim.wait()
        for f in os.listdir(pdir):
            if f.endswith(".jnl"): os.remove(os.path.join(pdir, f))
        open(zfile, "w").write(zone(serial, extra))
        def restart():
            global prim
            prim = start([BIN, "serve", "--config", os.path.join(pdir, "p.toml")], os.path.join(pdir, "log"))
        results["AXFR"].append(converge(f"measure{serial}.bench.test.", restart))
    for kind, runs in results.items():
        for r in runs:
            print(kind, " ".join(f"{k}={v:.3f}s" for k, v in sorted(r.items())))
    slog = open(os.path.join(sdir, "log")).read()
    print("portcullis secondary methods:", re.findall(r'method="(\w+)" serial=(\d+)', slog))
    klog = open(os.path.join(kdir, "log")).read()
    print("knot:", [l.split("] ", 1)[1][:90] for l in klog.splitlines() if "incoming" in l and "finished" in l])
    plog = open(os.path.join(pdir, "log")).read()
    print("primary sent:", re.findall(r'kind="(\w+)" messages=(\d+) records=(\d+)', plog))
finally:
    for p in procs:
        if p.poll() is None: p.kill()
