"""Processes of bench/cold: the authoritative hierarchy (NSD and Knot, with query counters) and the
resolvers under test (their configs and command lines).

Every resolver gets the same root hints file, DNSSEC validation off (the hierarchy is unsigned),
QNAME minimisation left at its default (on in all four), loopback upstreams allowed, IPv6 off,
one worker, and a cache large enough that nothing is evicted during a run.
"""

import json
import os
import re
import shutil
import subprocess
import time

import cold_dns as dns

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def which(name):
    return shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/local/sbin/{name}") if os.access(p, os.X_OK)), None)


# ---------------------------------------------------------------- the authoritative hierarchy

def nsd_conf(run, proc, files):
    conf = (f'server:\n    port: 53\n    server-count: 1\n    username: ""\n    chroot: ""\n    zonesdir: "{run}"\n'
            f'    database: ""\n    zonelistfile: "{run}/zone.list"\n    xfrdfile: "{run}/xfrd.state"\n    xfrdir: "{run}"\n'
            f'    pidfile: "{run}/nsd.pid"\n    logfile: "{run}/nsd.log"\n    verbosity: 1\n    do-ip6: no\n'
            f'    rrl-ratelimit: 0\n    refuse-any: no\n    minimal-responses: yes\n')
    conf += "".join(f"    ip-address: {a}\n" for a in proc["addrs"])
    conf += f'remote-control:\n    control-enable: yes\n    control-interface: "{run}/nsd.sock"\n'
    conf += "".join(f'zone:\n    name: "{z}"\n    zonefile: "{files[z]}"\n' for z in proc["zones"])
    return write(os.path.join(run, "nsd.conf"), conf)


def knot_conf(run, proc, files):
    listen = ", ".join(f"{a}@53" for a in proc["addrs"])
    conf = (f'server:\n    rundir: "{run}"\n    listen: [ {listen} ]\n    udp-workers: 1\n    tcp-workers: 1\n'
            f'    background-workers: 1\ncontrol:\n    listen: "{run}/knot.sock"\ndatabase:\n    storage: "{run}"\n'
            f'log:\n  - target: stderr\n    any: warning\nmod-stats:\n  - id: count\n    request-protocol: on\n'
            f'    server-operation: off\n    request-bytes: off\n    response-bytes: off\n    edns-presence: off\n'
            f'    flag-presence: off\n    response-code: off\n    reply-nodata: off\n    query-type: off\n'
            f'    query-size: off\n    reply-size: off\ntemplate:\n  - id: default\n    storage: "{run}"\n'
            f'    zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n    semantic-checks: off\n'
            f'    global-module: mod-stats/count\nzone:\n')
    conf += "".join(f'  - domain: "{z}"\n    file: "{files[z]}"\n' for z in proc["zones"])
    return write(os.path.join(run, "knot.conf"), conf)


class Hierarchy:
    """The NSD and Knot processes of layout.json, started, awaited and counted."""

    def __init__(self, data, work, run):
        self.run = run  # bench/run's process helpers (start, stop)
        self.data, self.work = data, work
        with open(os.path.join(data, "layout.json")) as f:
            self.layout = json.load(f)
        self.procs = self.layout["procs"]
        self.hints = os.path.join(data, "root.hints")
        with open(os.path.join(data, "sample")) as f:
            self.sample = [tuple(line.split()) for line in f if line.strip()]
        self.aux = None

    def start(self, ready_timeout):
        for p in self.procs:
            run = os.path.join(self.work, p["name"])
            os.makedirs(run)
            if p["kind"] == "nsd":
                cmd = [which("nsd"), "-d", "-c", nsd_conf(run, p, self.layout["files"])]
            else:
                cmd = [which("knotd"), "-c", knot_conf(run, p, self.layout["files"])]
            p["run"] = run
            p["proc"] = self.run.start(cmd, os.path.join(run, "server.log"), cwd=run)
        deadline = time.monotonic() + ready_timeout
        for p in self.procs:
            left = dns.wait_zones(p["proc"], p["addrs"][0], p["zones"], deadline)
            if left:
                with open(os.path.join(p["run"], "server.log"), errors="replace") as f:
                    tail = f.read()[-1500:]
                raise RuntimeError(f"{p['name']}: {len(left)} zones not served after {ready_timeout:.0f} s "
                                   f"(first: {left[0]})\n{tail}")

    def upstream_queries(self):
        """Queries received so far by every authoritative server, the lame ones included."""
        total = 0
        for p in self.procs:
            if p["kind"] == "nsd":
                out = subprocess.run([which("nsd-control"), "-c", os.path.join(p["run"], "nsd.conf"), "stats_noreset"],
                                     capture_output=True, text=True, timeout=10).stdout
                m = re.search(r"^num\.queries=(\d+)", out, re.M)
            else:
                out = subprocess.run([which("knotc"), "-s", os.path.join(p["run"], "knot.sock"), "stats"],
                                     capture_output=True, text=True, timeout=10).stdout
                m = None
                total += sum(int(v) for v in re.findall(r"request-protocol\[\w+\] = (\d+)", out))
            if m:
                total += int(m.group(1))
        counts = self.aux.snapshot() if self.aux else {}
        return total + counts.get("blackhole", 0) + counts.get("refused", 0)


# ---------------------------------------------------------------- resolvers

def find_portcullis():
    candidates = [os.environ.get("PORTCULLIS_BIN", "")]
    if os.environ.get("CARGO_TARGET_DIR"):
        candidates.append(os.path.join(os.environ["CARGO_TARGET_DIR"], "release", "portcullis"))
    candidates.append(os.path.join(ROOT, "target", "release", "portcullis"))
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


BINARIES = {"portcullis": find_portcullis, "unbound": lambda: which("unbound"),
            "pdns-recursor": lambda: which("pdns_recursor"), "kresd": lambda: which("kresd")}


def locate(name):
    return BINARIES[name]()


def version(name):
    args = {"portcullis": ["--version"], "unbound": ["-V"], "pdns-recursor": ["--version"], "kresd": ["--version"]}[name]
    try:
        out = subprocess.run([locate(name)] + args, capture_output=True, text=True, timeout=10)
        lines = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
        line = next((x for x in lines if "ersion" in x or "Recursor" in x), lines[0] if lines else "?")
        return re.sub(r"^\w{3} \d\d \d\d:\d\d:\d\d ", "", line.strip())
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def resolver_cmd(name, run, port, hints):
    """The command line of a fresh resolver with its config written into `run`."""
    binary = locate(name)
    if name == "portcullis":
        conf = write(os.path.join(run, "portcullis.toml"), f"""\
[server]
listen = ["127.0.0.1:{port}"]
threads = 1

[resolver]
recursion = true
root-hints = "{hints}"
allow-recursion = ["127.0.0.0/8"]
do-not-query-localhost = false
use-ipv6 = false
dnssec-validation = false
cache-entries = 2000000
cache-size-mb = 512
""")
        return [binary, "serve", "--config", conf, "--log-level", "info"]
    if name == "unbound":
        conf = write(os.path.join(run, "unbound.conf"), f"""\
server:
    interface: 127.0.0.1@{port}
    port: {port}
    num-threads: 1
    do-ip6: no
    do-daemonize: no
    chroot: ""
    username: ""
    directory: "{run}"
    pidfile: "{run}/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 0
    root-hints: "{hints}"
    do-not-query-localhost: no
    module-config: "iterator"
    access-control: 127.0.0.0/8 allow
    msg-cache-size: 256m
    rrset-cache-size: 512m
    trust-anchor-signaling: no
    root-key-sentinel: no
remote-control:
    control-enable: no
""")
        return [binary, "-d", "-c", conf]
    if name == "pdns-recursor":
        write(os.path.join(run, "recursor.conf"), f"""\
local-address=127.0.0.1
local-port={port}
hint-file={hints}
dont-query=
threads=1
pdns-distributes-queries=no
dnssec=off
security-poll-suffix=
socket-dir={run}
daemon=no
quiet=yes
disable-syslog=yes
loglevel=3
allow-from=127.0.0.0/8
max-cache-entries=2000000
max-packetcache-entries=2000000
""")
        return [binary, f"--config-dir={run}"]
    if name == "kresd":
        conf = write(os.path.join(run, "kresd.conf"), f"""\
net.ipv6 = false
net.listen('127.0.0.1', {port}, {{ kind = 'dns' }})
cache.open(512 * MB, 'lmdb://{run}/cache')
trust_anchors.remove('.')
modules.load('hints > iterate')
hints.root_file('{hints}')
-- kresd ignores 127.0.0.0/8 in glue and NS addresses unless a query has the ALLOW_LOCAL flag
policy.add(policy.all(policy.FLAGS('ALLOW_LOCAL')))
""")
        return [binary, "-n", "-c", conf, run]
    raise ValueError(name)


def tree_memory_mib(pids):
    """(RSS, PSS) in MiB summed over pids, from smaps_rollup."""
    rss = pss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss / 1024, pss / 1024


def log_digest(path):
    """portcullis: warnings and errors by kind (first 4), to point at the obvious cause of a slow run."""
    kinds = {}
    try:
        with open(path, errors="replace") as f:
            for line in f:
                if " WARN " in line or " ERROR " in line or "level=warn" in line or "level=error" in line:
                    key = re.sub(r"\d+", "N", line.strip())[-140:]
                    kinds[key] = kinds.get(key, 0) + 1
    except OSError:
        return ""
    return "; ".join(f"{n}x {k}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])[:4])


def portcullis_stats(binary, run, out_path):
    """Saves `portcullis ctl stats` of the running server (its counters: upstream queries,
    timeouts, cache) next to the run's results, for a look at where a slow run went."""
    try:
        out = subprocess.run([binary, "ctl", "--socket", os.path.join(run, "portcullis.ctl"), "stats"],
                             capture_output=True, text=True, timeout=10)
        write(out_path, out.stdout + out.stderr)
    except (OSError, subprocess.TimeoutExpired) as error:
        write(out_path, f"ctl stats failed: {error}\n")


def tree_user_system(pids, clk_tck):
    """(user, system) CPU seconds summed over pids, from /proc/PID/stat (utime, stime)."""
    user = system = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        user, system = user + int(fields[11]), system + int(fields[12])
    return user / clk_tck, system / clk_tck
