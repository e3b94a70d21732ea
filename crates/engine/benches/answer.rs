//! Micro-benchmark of `Engine::handle` over a generated 100 000-name zone: ns per query for the
//! main answer shapes. No dependencies: `std::time::Instant` and `std::hint::black_box`.
//!
//!     cargo bench -p portcullis-engine --bench answer              # all cases
//!     cargo bench -p portcullis-engine --bench answer -- referral  # cases whose name contains "referral"
//!     BENCH_NAMES=20000 cargo bench -p portcullis-engine --bench answer
//!
//! Each case cycles through 1024 different queries (different names, so lookups are not all served
//! from one hot cache line), checks the first reply has the expected shape, then times batches of
//! about 20 ms and prints the median ns per query over the batches (and the min and max batch).
//! Compare numbers from the same machine and run only; on a shared machine look at min too.

// A benchmark is a test binary: a broken fixture should stop it loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use portcullis_engine::auth::ZoneSet;
use portcullis_engine::load::load_zone_text;
use portcullis_engine::metrics::EngineCounters;
use portcullis_engine::zonefile::IncludeResolver;
use portcullis_engine::{Engine, EngineSettings, Outcome, Request, Transport};
use portcullis_wire::NameBuf;
use std::fmt::Write as _;
use std::hint::black_box;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ORIGIN: &str = "bench.test.";
const POOL: usize = 1024;
const BATCHES: usize = 15;
const BATCH_TARGET: Duration = Duration::from_millis(20);

/// Small deterministic PRNG (xorshift64*), so the zone and the query pools are the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The zone text: SOA/NS/MX at the apex, `names` hosts with A (AAAA on even, MX on every 10th,
/// TXT on every 10th + 5), a wildcard `*.any`, names/1000 delegations with glue, names/100 CNAME
/// chains of three links ending at a host.
fn zone_text(names: usize, rng: &mut Rng) -> String {
    let mut z = String::with_capacity(names * 80);
    let o = ORIGIN;
    let _ = writeln!(z, "$TTL 3600\n{o} IN SOA ns1.{o} hostmaster.{o} 1 7200 3600 1209600 300");
    let _ = writeln!(z, "{o} IN NS ns1.{o}\n{o} IN NS ns2.{o}\n{o} IN MX 10 mail0.{o}\nns1.{o} IN A 192.0.2.53\nns2.{o} IN A 192.0.2.54");
    for m in 0..4 {
        let _ = writeln!(z, "mail{m}.{o} IN A 192.0.2.{}\nmail{m}.{o} IN AAAA 2001:db8::{m}", 25 + m);
    }
    for i in 0..names {
        let r = rng.next();
        let _ = writeln!(z, "host{i}.{o} IN A 10.{}.{}.{}", r & 0xFF, (r >> 8) & 0xFF, (r >> 16) & 0xFF);
        if i % 2 == 0 {
            let _ = writeln!(z, "host{i}.{o} IN AAAA 2001:db8:{:x}::{:x}", (r >> 24) & 0xFFFF, (r >> 40) & 0xFFFF);
        }
        if i % 10 == 0 {
            let _ = writeln!(z, "host{i}.{o} IN MX 10 mail{}.{o}", i % 4);
        }
        if i % 10 == 5 {
            let _ = writeln!(z, "host{i}.{o} 300 IN TXT \"id={r:016x}\"");
        }
    }
    let _ = writeln!(z, "*.any.{o} IN A 192.0.2.80\n*.any.{o} IN TXT \"wildcard\"");
    for d in 0..(names / 1000).max(1) {
        let _ = writeln!(z, "deleg{d}.{o} IN NS nsa.deleg{d}.{o}\ndeleg{d}.{o} IN NS nsb.deleg{d}.{o}");
        let _ = writeln!(z, "nsa.deleg{d}.{o} IN A 127.0.53.1\nnsb.deleg{d}.{o} IN A 127.0.53.2");
    }
    for c in 0..(names / 100).max(1) {
        let target = rng.below(names);
        let _ = writeln!(z, "alias{c}.{o} IN CNAME alias{c}-2.{o}\nalias{c}-2.{o} IN CNAME alias{c}-3.{o}");
        let _ = writeln!(z, "alias{c}-3.{o} IN CNAME host{target}.{o}");
    }
    z
}

/// A query as a resolver sends it: RD clear, one question, optionally an OPT record (1232 bytes).
fn query(id: u16, name: &str, qtype: u16, edns: bool) -> Vec<u8> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)]);
    q.extend_from_slice(NameBuf::from_text(name, None).expect("valid name").as_wire());
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    if edns {
        q.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0]);
    }
    q
}

struct NoIncludes;

impl IncludeResolver for NoIncludes {
    fn read(&self, _path: &Path) -> std::io::Result<String> {
        Err(std::io::Error::new(std::io::ErrorKind::NotFound, "no includes in the benchmark zone"))
    }
}

/// Median, min and max ns per call of `f(i)` over timed batches.
fn measure(mut f: impl FnMut(usize)) -> (f64, f64, f64) {
    let mut iters = 64usize;
    loop {
        let start = Instant::now();
        for i in 0..iters {
            f(i);
        }
        let elapsed = start.elapsed();
        if elapsed >= BATCH_TARGET / 4 {
            iters = ((iters as f64) * BATCH_TARGET.as_secs_f64() / elapsed.as_secs_f64()).max(1.0) as usize;
            break;
        }
        iters *= 2;
    }
    let mut per_op: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let start = Instant::now();
            for i in 0..iters {
                f(i);
            }
            start.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    per_op.sort_by(f64::total_cmp);
    (per_op[BATCHES / 2], per_op[0], per_op[BATCHES - 1])
}

/// (rcode, ancount, nscount) of a reply.
fn shape(reply: &[u8]) -> (u8, u16, u16) {
    (reply[3] & 0x0F, u16::from_be_bytes([reply[6], reply[7]]), u16::from_be_bytes([reply[8], reply[9]]))
}

fn main() {
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let names: usize = std::env::var("BENCH_NAMES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000).max(1000);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);

    let text = zone_text(names, &mut rng);
    let origin = NameBuf::from_text(ORIGIN, None).expect("origin");
    let start = Instant::now();
    let zone = load_zone_text(&origin, &text, "bench.zone", &NoIncludes).unwrap_or_else(|e| panic!("benchmark zone: {e}"));
    let load = start.elapsed();
    println!(
        "zone {ORIGIN}: {names} names, {} nodes, {} lines; parse+check+build {:.0} ms, {:.1} MiB heap",
        zone.node_count(),
        text.lines().count(),
        load.as_secs_f64() * 1e3,
        zone.heap_bytes() as f64 / (1 << 20) as f64
    );
    let engine = Engine::new(ZoneSet::new(vec![Arc::new(zone)]), EngineSettings::default(), Arc::new(EngineCounters::default()));

    let delegations = (names / 1000).max(1);
    let chains = (names / 100).max(1);
    // (case, expected (rcode, min answers, min authority), query builder)
    type Gen<'a> = Box<dyn FnMut(&mut Rng, u16) -> Vec<u8> + 'a>;
    let cases: Vec<(&str, (u8, u16, u16), Gen<'_>)> = vec![
        ("exact A (EDNS)", (0, 1, 0), Box::new(|r, id| query(id, &format!("host{}.{ORIGIN}", r.below(names)), 1, true))),
        ("exact A (no EDNS)", (0, 1, 0), Box::new(|r, id| query(id, &format!("host{}.{ORIGIN}", r.below(names)), 1, false))),
        ("NODATA (TXT of a host without)", (0, 0, 1), Box::new(|r, id| query(id, &format!("host{}.{ORIGIN}", r.below(names / 10) * 10), 16, true))),
        ("NXDOMAIN", (3, 0, 1), Box::new(|r, id| query(id, &format!("nx{:x}.{ORIGIN}", r.next() >> 32), 1, true))),
        ("wildcard A", (0, 1, 0), Box::new(|r, id| query(id, &format!("u{:x}.any.{ORIGIN}", r.next() >> 32), 1, true))),
        ("referral (NS + glue)", (0, 0, 2), Box::new(|r, id| query(id, &format!("www.deleg{}.{ORIGIN}", r.below(delegations)), 1, true))),
        ("CNAME chain of 3 + A", (0, 4, 0), Box::new(|r, id| query(id, &format!("alias{}.{ORIGIN}", r.below(chains)), 1, true))),
        ("MX + additional A/AAAA", (0, 1, 0), Box::new(|r, id| query(id, &format!("host{}.{ORIGIN}", r.below(names / 10) * 10), 15, true))),
    ];

    let peer = SocketAddr::from(([192, 0, 2, 200], 40_000));
    let mut out = vec![0u8; 65_535];
    println!("{:<34} {:>10} {:>10} {:>10}", "case", "ns/query", "min", "max");
    for (case, expect, mut gen) in cases {
        if !filter.is_empty() && !filter.iter().any(|f| case.to_lowercase().contains(&f.to_lowercase())) {
            continue;
        }
        let pool: Vec<Vec<u8>> = (0..POOL).map(|i| gen(&mut rng, i as u16)).collect();
        for bytes in &pool {
            let request = Request { bytes, peer, transport: Transport::Udp };
            let Outcome::Reply(len) = engine.handle(&request, &mut out) else { panic!("{case}: no reply") };
            let (rcode, an, ns) = shape(&out[..len]);
            assert!(rcode == expect.0 && an >= expect.1 && ns >= expect.2, "{case}: reply rcode {rcode} an {an} ns {ns}, expected {expect:?}");
        }
        let requests: Vec<Request<'_>> = pool.iter().map(|bytes| Request { bytes, peer, transport: Transport::Udp }).collect();
        let (median, min, max) = measure(|i| {
            let outcome = engine.handle(black_box(&requests[i % POOL]), black_box(&mut out));
            black_box(outcome);
        });
        println!("{case:<34} {median:>10.1} {min:>10.1} {max:>10.1}");
    }
}
