#!/usr/bin/env python3
"""Deterministic loopback DNS hierarchy + query files for bench/cold.

Writes into OUTDIR:
  zones/*.zone    one RFC 1035 master file per zone (absolute names, TTL 3600, negative TTL 3600)
  root.hints      the root servers in named.root format (the same file for every resolver)
  layout.json     the authoritative processes: kind (nsd, knot), addresses, zones served; the
                  slow proxy and the lame addresses; counts
  queries-miss    dnsperf input, every line a different question (the cache-miss workload)
  queries-mix     dnsperf input, Zipf popularity over the same kinds of names (the realistic mix)
  sample          ~50 questions whose answers are compared across resolvers

Hierarchy for Z zones under T TLDs (seeded: two runs with the same arguments are byte-identical):
  * the root zone on two servers (NSD 127.10.0.1, Knot 127.10.0.2);
  * T TLDs (alpha., bravo., ...) on two servers (NSD 127.10.1.1, Knot 127.10.1.2), glue in the root;
  * Z leaf zones z<N>.<tld>. spread over P leaf processes (NSD and Knot alternating, process p on
    127.10.(2+p).1-3), each zone on two addresses of its process:
      - ~75% with in-bailiwick NS names and glue in the TLD zone;
      - ~20% without glue: NS names in a hosting zone dns<p>.<another tld>. (itself glued), which
        the resolver must resolve first (out of bailiwick);
      - 1% (zones 10, 110, ...) behind the slow server (127.10.8.1, a proxy that answers 50-200 ms late);
      - 1% (zones 20, 120, ...) with one lame server that never answers (127.10.9.1) next to a good
        one, 1% (zones 30, 130, ...) with one that answers REFUSED (127.10.9.2) next to a good one;
      - one zone, lame.<tld>., whose two servers are the lame ones (SERVFAIL after the resolver's
        timeouts; only in the miss workload: its 11 questions spread over the first half);
  * in every leaf zone: apex A, MX, TXT; www, mail, h0..h7 (A, AAAA on even hosts); a wildcard
    *.w; ~5% of zones start a CNAME chain "cdn" -> e<N> in a second zone -> a host of a third.

Miss workload: Q distinct questions, shuffled: 70% explicit names of the hierarchy (apex A/MX/TXT,
www A/AAAA, mail A, hosts A/AAAA, cdn A; fewer if there are not that many), the rest distinct
wildcard names (r<k>.w...) and NXDOMAIN names (nx<k>...), 2:1. Mix workload: Zipf (s=1) popularity over a universe of U
questions drawn the same way (no lame.<tld>), sized so ~85% of the lines repeat an earlier one.
"""

import argparse
import json
import os
import random

TLDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
HOSTS = 8
TTL = 3600
ROOT_ADDRS = ("127.10.0.1", "127.10.0.2")
TLD_ADDRS = ("127.10.1.1", "127.10.1.2")
SLOW_ADDR, SLOW_BACKEND = "127.10.8.1", "127.10.8.2"
BLACKHOLE_ADDR, REFUSER_ADDR = "127.10.9.1", "127.10.9.2"


def leaf_addrs(p):
    return [f"127.10.{2 + p}.{i}" for i in (1, 2, 3)]


def soa(origin):
    return [f"{origin} {TTL} IN SOA ns1.{origin} hostmaster.{origin} 1 3600 600 86400 {TTL}"]


def write_zone(zdir, origin, lines):
    path = os.path.join(zdir, (origin.rstrip(".") or "root") + ".zone")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


class Hierarchy:
    """The zones, their servers and their names, built from one seeded RNG."""

    def __init__(self, zones, tlds, procs, seed):
        self.rng = random.Random(seed)
        self.tlds = [f"{t}." for t in TLDS[:tlds]]
        self.procs = [{"name": f"leaf{p}-{'nsd' if p % 2 == 0 else 'knot'}", "kind": "nsd" if p % 2 == 0 else "knot",
                       "addrs": leaf_addrs(p), "zones": []} for p in range(procs)]
        self.tld_text = {t: soa(t) + [f"{t} {TTL} IN NS ns1.nic.{t}", f"{t} {TTL} IN NS ns2.nic.{t}",
                                      f"ns1.nic.{t} {TTL} IN A {TLD_ADDRS[0]}", f"ns2.nic.{t} {TTL} IN A {TLD_ADDRS[1]}"]
                         for t in self.tlds}
        self.leaves = {}  # origin -> zone lines
        self.kinds = {}  # origin -> delegation kind
        self.chains = []  # (head zone, middle zone, tail zone)
        self.hosting = {}  # process index -> hosting zone origin
        self._hosting_zones()
        for i in range(zones):
            self._leaf(i)
        self._lame_zone()
        self._chains(max(1, zones // 20))

    def _hosting_zones(self):
        for p, proc in enumerate(self.procs):
            origin = f"dns{p}.{self.tlds[p % len(self.tlds)]}"
            addrs = proc["addrs"]
            lines = soa(origin) + [f"{origin} {TTL} IN NS ns1.{origin}", f"{origin} {TTL} IN NS ns2.{origin}"]
            lines += [f"ns{k + 1}.{origin} {TTL} IN A {a}" for k, a in enumerate(addrs)]
            self._delegate(origin, [(f"ns1.{origin}", addrs[0]), (f"ns2.{origin}", addrs[1])], glue=True)
            self.leaves[origin] = lines
            self.kinds[origin] = "hosting"
            proc["zones"].append(origin)
            self.hosting[p] = origin

    def _delegate(self, origin, servers, glue):
        tld = origin.split(".", 1)[1]
        for name, addr in servers:
            self.tld_text[tld].append(f"{origin} {TTL} IN NS {name}")
            if glue:
                self.tld_text[tld].append(f"{name} {TTL} IN A {addr}")

    def _leaf(self, i):
        rng = self.rng
        tld = self.tlds[i % len(self.tlds)]
        origin = f"z{i}.{tld}"
        p = rng.randrange(len(self.procs))
        addrs = rng.sample(self.procs[p]["addrs"], 2)
        slot, draw = i % 100, rng.random()  # 1% each of slow, lame-timeout, lame-refused, even for small -z
        if slot == 10:
            kind, servers = "slow", [(f"ns1.{origin}", SLOW_ADDR)]
            p = 0  # the proxy's backend is leaf process 0 (on SLOW_BACKEND, which no NS names)
        elif slot == 20:
            kind, servers = "lame-timeout", [(f"ns1.{origin}", BLACKHOLE_ADDR), (f"ns2.{origin}", addrs[1])]
        elif slot == 30:
            kind, servers = "lame-refused", [(f"ns1.{origin}", REFUSER_ADDR), (f"ns2.{origin}", addrs[1])]
        elif draw < 0.28 and self.hosting[p].split(".", 1)[1] != tld:
            host = self.hosting[p]
            index = {a: k for k, a in enumerate(self.procs[p]["addrs"])}
            kind, servers = "no-glue", [(f"ns{index[a] + 1}.{host}", a) for a in addrs]
        else:
            kind, servers = "glue", [(f"ns1.{origin}", addrs[0]), (f"ns2.{origin}", addrs[1])]
        self._delegate(origin, servers, glue=kind != "no-glue")
        lines = soa(origin) + [f"{origin} {TTL} IN NS {name}" for name, _ in servers]
        if kind != "no-glue":
            lines += [f"{name} {TTL} IN A {addr}" for name, addr in servers]
        lines += self._content(origin)
        self.leaves[origin] = lines
        self.kinds[origin] = kind
        self.procs[p]["zones"].append(origin)

    def _content(self, origin):
        rng = self.rng
        net = f"10.{rng.randrange(256)}.{rng.randrange(256)}"
        lines = [f"{origin} {TTL} IN A {net}.1", f"{origin} {TTL} IN MX 10 mail.{origin}",
                 f'{origin} {TTL} IN TXT "v=bench {origin}"', f"www.{origin} {TTL} IN A {net}.2",
                 f"mail.{origin} {TTL} IN A {net}.3", f"*.w.{origin} {TTL} IN A {net}.4"]
        for h in range(HOSTS):
            lines.append(f"h{h}.{origin} {TTL} IN A {net}.{10 + h}")
            if h % 2 == 0:
                lines.append(f"h{h}.{origin} {TTL} IN AAAA 2001:db8:{rng.randrange(65536):x}::{h + 1}")
        return lines

    def _lame_zone(self):
        origin = f"lame.{self.tlds[2 % len(self.tlds)]}"
        servers = [(f"ns1.{origin}", BLACKHOLE_ADDR), (f"ns2.{origin}", REFUSER_ADDR)]
        self._delegate(origin, servers, glue=True)
        self.kinds[origin] = "lame"

    def _chains(self, count):
        plain = sorted(o for o, k in self.kinds.items() if k == "glue" or k == "no-glue")
        for n in range(min(count, len(plain) // 3)):
            head, middle, tail = self.rng.sample(plain, 3)
            if any(o == head for o, _, _ in self.chains):
                continue
            self.leaves[head].append(f"cdn.{head} {TTL} IN CNAME e{n}.{middle}")
            self.leaves[middle].append(f"e{n}.{middle} {TTL} IN CNAME h{self.rng.randrange(HOSTS)}.{tail}")
            self.chains.append((head, middle, tail))

    def root_lines(self):
        lines = [f". {TTL} IN SOA a.root-servers.bench. hostmaster.root-servers.bench. 1 3600 600 86400 {TTL}"]
        for k, addr in enumerate(ROOT_ADDRS):
            letter = "ab"[k]
            lines += [f". {TTL} IN NS {letter}.root-servers.bench.", f"{letter}.root-servers.bench. {TTL} IN A {addr}"]
        for t in self.tlds:
            lines += [f"{t} {TTL} IN NS ns1.nic.{t}", f"{t} {TTL} IN NS ns2.nic.{t}",
                      f"ns1.nic.{t} {TTL} IN A {TLD_ADDRS[0]}", f"ns2.nic.{t} {TTL} IN A {TLD_ADDRS[1]}"]
        return lines

    def explicit_questions(self):
        """Every name with data, as (name, type), in zone order (the lame zone last)."""
        out = []
        for origin, kind in self.kinds.items():
            if kind == "hosting":
                continue
            if kind == "lame":
                out += [(origin, "A"), (f"www.{origin}", "A"), (f"mail.{origin}", "A")]
                out += [(f"h{h}.{origin}", "A") for h in range(HOSTS)]
                continue
            out += [(origin, "A"), (origin, "MX"), (origin, "TXT"), (f"www.{origin}", "A"), (f"www.{origin}", "AAAA"),
                    (f"mail.{origin}", "A")]
            out += [(f"h{h}.{origin}", t) for h in range(HOSTS) for t in ("A", "AAAA")]
        out += [(f"cdn.{head}", "A") for head, _, _ in self.chains]
        return out

    def filler(self, k, origins):
        """The k-th extra distinct question: a wildcard name (2 in 3) or an NXDOMAIN name."""
        origin = origins[k % len(origins)]
        return (f"r{k}.w.{origin}", "A") if k % 3 else (f"nx{k}.{origin}", "A")


def blend(h, count, rng, first_filler):
    """count distinct questions: 70% explicit names (fewer if the hierarchy has fewer), the rest
    wildcard and NXDOMAIN names (2:1), shuffled; the lame zone left out."""
    lame = tuple(o for o, k in h.kinds.items() if k == "lame")
    base = [q for q in h.explicit_questions() if not q[0].endswith(lame)]
    origins = sorted(o for o, k in h.kinds.items() if k not in ("hosting", "lame"))
    rng.shuffle(base)
    out = base[:count * 7 // 10]
    k = first_filler
    while len(out) < count:
        out.append(h.filler(k, origins))
        k += 1
    rng.shuffle(out)
    return out


def miss_questions(h, count, rng):
    lame = tuple(o for o, k in h.kinds.items() if k == "lame")
    lame_q = [q for q in h.explicit_questions() if q[0].endswith(lame)]
    out = blend(h, count, rng, 0)
    # the zone nobody can answer: its questions spread evenly over the first half (none in a file
    # shorter than 400), so that a resolver's last SERVFAIL comes back before the file ends
    step = len(out) // 2 // max(1, len(lame_q))
    for n, q in enumerate(lame_q if step >= 20 else []):
        out[n * step + step // 2] = q
    return out


def mix_questions(h, count, repeat_share, rng):
    """count lines from a Zipf(1) popularity over a universe sized for ~repeat_share repeats."""
    pool = blend(h, max(10, int(count * (1 - repeat_share) * 2.0)), rng, 10_000_000)
    weights, total = [], 0.0
    for rank in range(len(pool)):
        total += 1.0 / (rank + 1)
        weights.append(total)
    return [pool[i] for i in (bisect_right(weights, rng.random() * total) for _ in range(count))]


def bisect_right(cum, x):
    lo, hi = 0, len(cum) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid] > x:
            hi = mid
        else:
            lo = mid + 1
    return lo


def sample_questions(h):
    """~55 questions: for two zones of every delegation kind an MX, a AAAA, a NODATA, an NXDOMAIN
    and a wildcard answer; two questions of the lame zone; five CNAME chain heads."""
    by_kind = {}
    for origin, kind in h.kinds.items():
        by_kind.setdefault(kind, []).append(origin)
    picks = []
    for kind in ("glue", "no-glue", "slow", "lame-timeout", "lame-refused"):
        for origin in by_kind.get(kind, [])[:2]:
            picks += [(origin, "MX"), (f"h2.{origin}", "AAAA"), (f"www.{origin}", "AAAA"), (f"nx-s.{origin}", "A"),
                      (f"s.w.{origin}", "A")]
    for origin in by_kind.get("lame", []):
        picks += [(origin, "A"), (f"www.{origin}", "A")]
    picks += [(f"cdn.{head}", "A") for head, _, _ in h.chains[:5]]
    return picks


def write_lines(path, questions):
    with open(path, "w") as f:
        f.write("".join(f"{n} {t}\n" for n, t in questions))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir")
    parser.add_argument("-z", dest="zones", type=int, default=2000, help="leaf zones (default 2000)")
    parser.add_argument("-t", dest="tlds", type=int, default=4, help=f"TLDs, 2..{len(TLDS)} (default 4)")
    parser.add_argument("-P", dest="procs", type=int, default=4, help="leaf server processes, NSD and Knot alternating (default 4)")
    parser.add_argument("-m", dest="miss", type=int, default=60000, help="lines of the miss workload (default 60000)")
    parser.add_argument("-x", dest="mix", type=int, default=200000, help="lines of the mix workload (default 200000)")
    parser.add_argument("-r", dest="repeat", type=float, default=0.85, help="share of mix lines repeating an earlier one (default 0.85)")
    parser.add_argument("-s", dest="seed", type=int, default=19, help="seed (default 19)")
    args = parser.parse_args()
    if not 2 <= args.tlds <= len(TLDS) or args.procs < 2 or args.zones < 10:
        parser.error(f"need 2 <= -t <= {len(TLDS)}, -P >= 2, -z >= 10")
    h = Hierarchy(args.zones, args.tlds, args.procs, args.seed)
    zdir = os.path.join(args.outdir, "zones")
    os.makedirs(zdir, exist_ok=True)
    files = {".": write_zone(zdir, ".", h.root_lines())}
    for t, lines in h.tld_text.items():
        files[t] = write_zone(zdir, t, lines)
    for origin, lines in h.leaves.items():
        files[origin] = write_zone(zdir, origin, lines)
    with open(os.path.join(args.outdir, "root.hints"), "w") as f:
        for k, addr in enumerate(ROOT_ADDRS):
            f.write(f".  3600000 NS {'ab'[k]}.root-servers.bench.\n{'ab'[k]}.root-servers.bench. 3600000 A {addr}\n")
    qrng = random.Random(args.seed + 1)
    miss = miss_questions(h, args.miss, qrng)
    mix = mix_questions(h, args.mix, args.repeat, qrng)
    write_lines(os.path.join(args.outdir, "queries-miss"), miss)
    write_lines(os.path.join(args.outdir, "queries-mix"), mix)
    write_lines(os.path.join(args.outdir, "sample"), sample_questions(h))
    procs = [{"name": "root-nsd", "kind": "nsd", "addrs": [ROOT_ADDRS[0]], "zones": ["."]},
             {"name": "root-knot", "kind": "knot", "addrs": [ROOT_ADDRS[1]], "zones": ["."]},
             {"name": "tld-nsd", "kind": "nsd", "addrs": [TLD_ADDRS[0]], "zones": list(h.tlds)},
             {"name": "tld-knot", "kind": "knot", "addrs": [TLD_ADDRS[1]], "zones": list(h.tlds)}] + h.procs
    procs[4]["addrs"].append(SLOW_BACKEND)
    kinds = {}
    for kind in h.kinds.values():
        kinds[kind] = kinds.get(kind, 0) + 1
    layout = {"procs": procs, "files": files, "slow": {"listen": SLOW_ADDR, "backend": SLOW_BACKEND},
              "blackhole": BLACKHOLE_ADDR, "refuser": REFUSER_ADDR, "root_addrs": list(ROOT_ADDRS),
              "zones": args.zones, "kinds": kinds, "chains": len(h.chains), "miss_lines": len(miss), "mix_lines": len(mix),
              "mix_distinct": len(set(mix)), "seed": args.seed}
    with open(os.path.join(args.outdir, "layout.json"), "w") as f:
        json.dump(layout, f, indent=1)
    print(json.dumps({k: layout[k] for k in ("zones", "kinds", "chains", "miss_lines", "mix_lines", "mix_distinct")}))


if __name__ == "__main__":
    main()
