#!/usr/bin/env python3
"""Deterministic zone + dnsperf query file for bench/run.

Writes into OUTDIR:
  zone.db     the zone (RFC 1035 master file, one record per line, absolute names)
  queries     dnsperf input: "name type" per line
  meta.json   origin, the name to poll for readiness, probe queries, counts

Zone content for N names (seeded, so two runs with the same arguments are byte-identical):
  * apex: SOA, 2 NS with in-zone addresses, MX, A, AAAA, TXT
  * N host names, in a mix of depths (about a third sit one label below a "site" name, which makes
    empty non-terminals): an A record each, AAAA for ~50%, MX for ~10% (target: an in-zone mail
    host, so the additional section has work to do), TXT for ~10%
  * a wildcard *.any with A and TXT
  * N/1000 delegations, each with 2 NS names below the cut and glue A records
  * N/100 CNAME chains of 3 links ending at a host name
  * the readiness name last, so "it answers" means "the whole zone is loaded"

Query mix (per 100): 44 A of hosts, 18 AAAA of hosts (about half NODATA), 3 MX, 2 TXT, 1 apex,
10 NXDOMAIN, 8 CNAME chain heads, 7 wildcard, 5 names under a delegation (referrals),
2 with mixed-case owner names (case must not matter).
"""

import argparse
import json
import os
import random
import sys

ORIGIN = "bench.test."
WORDS = ("www", "mail", "api", "cdn", "app", "db", "vpn", "git", "ci", "img",
         "auth", "shop", "blog", "docs", "status", "files", "m", "portal", "edge", "static")


def host_names(rng, count):
    """count distinct relative host names, deterministic."""
    sites = max(1, count // 200)
    names = []
    for i in range(count):
        word = WORDS[i % len(WORDS)]
        kind = rng.random()
        if kind < 0.34:
            names.append(f"{word}{i}.site{rng.randrange(sites)}")
        elif kind < 0.40:
            names.append(f"{word}-{i}.dc{i % 7}.site{rng.randrange(sites)}")
        else:
            names.append(f"{word}{i}")
    return names


def ipv4(rng):
    return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def ipv6(rng):
    return "2001:db8:%x:%x::%x" % (rng.randrange(65536), rng.randrange(65536), rng.randrange(1, 65536))


def mixed_case(rng, name):
    return "".join(c.upper() if c.isalpha() and rng.random() < 0.5 else c for c in name)


def generate(outdir, count, queries, seed):
    rng = random.Random(seed)
    o = ORIGIN
    hosts = host_names(rng, count)
    has_aaaa = []
    mail_hosts = [f"mx{i}" for i in range(max(2, count // 5000))]
    delegations = [f"deleg{i}" for i in range(max(1, count // 1000))]
    chains = [f"alias{i}" for i in range(max(1, count // 100))]
    ready_name = f"ready-last.{o}"

    zone_path = os.path.join(outdir, "zone.db")
    with open(zone_path, "w", encoding="ascii") as f:
        w = f.write
        w(f"$ORIGIN {o}\n$TTL 3600\n")
        w(f"{o} 3600 IN SOA ns1.{o} hostmaster.{o} 2024010101 7200 3600 1209600 300\n")
        w(f"{o} 3600 IN NS ns1.{o}\n{o} 3600 IN NS ns2.{o}\n")
        w(f"{o} 3600 IN MX 10 {mail_hosts[0]}.{o}\n")
        w(f"{o} 3600 IN A 192.0.2.1\n{o} 3600 IN AAAA 2001:db8::1\n")
        w(f'{o} 3600 IN TXT "v=spf1 mx -all"\n')
        w(f"ns1.{o} 3600 IN A 192.0.2.53\nns2.{o} 3600 IN A 192.0.2.54\n")
        for m in mail_hosts:
            w(f"{m}.{o} 3600 IN A {ipv4(rng)}\n{m}.{o} 3600 IN AAAA {ipv6(rng)}\n")
        for name in hosts:
            fq = f"{name}.{o}"
            w(f"{fq} 3600 IN A {ipv4(rng)}\n")
            six = rng.random() < 0.5
            has_aaaa.append(six)
            if six:
                w(f"{fq} 3600 IN AAAA {ipv6(rng)}\n")
            if rng.random() < 0.10:
                w(f"{fq} 3600 IN MX {rng.choice((10, 20))} {rng.choice(mail_hosts)}.{o}\n")
            if rng.random() < 0.10:
                w(f'{fq} 300 IN TXT "id={rng.getrandbits(64):016x}" "owner=team{rng.randrange(100)}"\n')
        w(f"*.any.{o} 600 IN A 192.0.2.80\n")
        w(f'*.any.{o} 600 IN TXT "wildcard"\n')
        for d in delegations:
            for ns in ("a", "b"):
                w(f"{d}.{o} 86400 IN NS ns{ns}.{d}.{o}\n")
            for ns in ("a", "b"):
                w(f"ns{ns}.{d}.{o} 86400 IN A 127.0.53.{rng.randrange(1, 255)}\n")
        for c in chains:
            target = rng.choice(hosts)
            w(f"{c}.{o} 300 IN CNAME {c}-2.{o}\n")
            w(f"{c}-2.{o} 300 IN CNAME {c}-3.{o}\n")
            w(f"{c}-3.{o} 300 IN CNAME {target}.{o}\n")
        w(f"{ready_name} 3600 IN A 192.0.2.255\n")

    # Query file: a cumulative table of (weight, generator).
    def q_host_a():
        return f"{rng.choice(hosts)}.{o} A"

    def q_host_aaaa():
        return f"{hosts[rng.randrange(count)]}.{o} AAAA"

    def q_mx():
        return f"{rng.choice(hosts)}.{o} MX"

    def q_txt():
        return f"{rng.choice(hosts)}.{o} TXT"

    def q_apex():
        return f"{o} {rng.choice(('SOA', 'NS', 'MX', 'A'))}"

    def q_nx():
        # Under the origin, never matching: the "nx-" prefix is not generated and the site
        # labels exist only with host children, so nx-*.siteN is also NXDOMAIN.
        if rng.random() < 0.5:
            return f"nx-{rng.getrandbits(32):08x}.{o} A"
        return f"nx-{rng.getrandbits(24):06x}.site{rng.randrange(max(1, count // 200))}.{o} AAAA"

    def q_cname():
        return f"{rng.choice(chains)}.{o} A"

    def q_wild():
        return f"u{rng.getrandbits(32):08x}.any.{o} {rng.choice(('A', 'A', 'TXT'))}"

    def q_referral():
        return f"www{rng.randrange(1000)}.{rng.choice(delegations)}.{o} A"

    def q_case():
        return f"{mixed_case(rng, rng.choice(hosts) + '.' + o)} A"

    mix = [(44, q_host_a), (18, q_host_aaaa), (3, q_mx), (2, q_txt), (1, q_apex), (10, q_nx),
           (8, q_cname), (7, q_wild), (5, q_referral), (2, q_case)]
    table = []
    for weight, gen in mix:
        table.extend([gen] * weight)
    assert len(table) == 100
    with open(os.path.join(outdir, "queries"), "w", encoding="ascii") as f:
        f.writelines(table[rng.randrange(100)]() + "\n" for _ in range(queries))

    first_with_aaaa = next((h for h, six in zip(hosts, has_aaaa) if six), hosts[0])
    meta = {
        "origin": o,
        "names": count,
        "queries": queries,
        "seed": seed,
        "ready_name": ready_name,
        # (name, type): what each server must answer identically (rcode and answer count).
        "probes": [
            [f"{hosts[0]}.{o}", "A"],
            [f"{first_with_aaaa}.{o}", "AAAA"],
            [f"nx-probe.{o}", "A"],
            [f"{chains[0]}.{o}", "A"],
            [f"probe.any.{o}", "TXT"],
            [f"www.{delegations[0]}.{o}", "A"],
            [o, "MX"],
            [o, "SOA"],
        ],
    }
    with open(os.path.join(outdir, "meta.json"), "w", encoding="ascii") as f:
        json.dump(meta, f, indent=1)
    return meta


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir")
    parser.add_argument("-n", "--names", type=int, default=100_000, help="host names (default 100000)")
    parser.add_argument("-q", "--queries", type=int, default=500_000, help="query lines (default 500000)")
    parser.add_argument("--seed", type=int, default=20240501)
    args = parser.parse_args()
    if args.names < 100:
        parser.error("need at least 100 names")
    os.makedirs(args.outdir, exist_ok=True)
    meta = generate(args.outdir, args.names, args.queries, args.seed)
    print(f"zone {meta['origin']}: {args.names} names, {args.queries} queries in {args.outdir}", file=sys.stderr)


if __name__ == "__main__":
    main()
