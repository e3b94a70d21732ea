//! Micro-benchmark of `Engine::handle` over a generated 100 000-name zone: ns per query for the
//! main answer shapes. No dependencies: `std::time::Instant` and `std::hint::black_box`.
//!
//!     cargo bench -p portcullis-engine --bench answer              # all cases
//!     cargo bench -p portcullis-engine --bench answer -- referral  # cases whose name contains "referral"
//!     BENCH_NAMES=20000 cargo bench -p portcullis-engine --bench answer
//!
//! Each case cycles through 1024 different queries (different names, so lookups are not all served
//! from one hot cache line), checks every reply in the pool has the expected shape, then times 15
//! batches of about 20 ms and prints ns per query: on-CPU time (leaves out time the thread was
//! preempted: the figure to compare on a shared machine), the median and the fastest batch by wall
//! clock, and the share of wall time the thread was on a CPU. Compare numbers from one machine.

// A benchmark is a test binary: a broken fixture should stop it loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use portcullis_engine::auth::ZoneSet;
use portcullis_engine::load::load_zone_text;
use portcullis_engine::metrics::EngineCounters;
use portcullis_engine::zonefile::NoIncludes;
use portcullis_engine::{Engine, EngineSettings, Outcome, Request, Transport};
use portcullis_wire::NameBuf;
use std::fmt::Write as _;
use std::hint::black_box;
use std::net::SocketAddr;
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

/// On-CPU nanoseconds of this thread so far (Linux `/proc/thread-self/schedstat`, updated at
/// scheduler ticks): lets a run on a shared machine leave out the time neighbours had the core.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// One case's timing, in ns per operation.
struct Timing {
    /// On-CPU time over all batches / operations (`None` without schedstat).
    cpu: Option<f64>,
    /// Median of the batches' wall-clock ns per operation.
    median: f64,
    /// Fastest batch.
    min: f64,
    /// Share of the wall-clock time this thread was on a CPU.
    on_cpu: Option<f64>,
}

impl std::fmt::Display for Timing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cpu = self.cpu.map_or("-".to_string(), |c| format!("{c:.1}"));
        let on_cpu = self.on_cpu.map_or("-".to_string(), |c| format!("{:.0}%", c * 100.0));
        write!(f, "{cpu:>10} {:>10.1} {:>10.1} {on_cpu:>7}", self.median, self.min)
    }
}

/// Header matching [`Timing`]'s display.
const COLUMNS: &str = "   cpu ns/op  median ns   min ns   on-cpu";

/// Times `f(i)` in batches of about 20 ms (after calibrating the batch size).
fn measure(mut f: impl FnMut(usize)) -> Timing {
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
    let mut per_op = Vec::with_capacity(BATCHES);
    let (mut wall_total, mut cpu_total) = (0u128, Some(0u64));
    for _ in 0..BATCHES {
        let cpu_before = thread_cpu_ns();
        let start = Instant::now();
        for i in 0..iters {
            f(i);
        }
        let wall = start.elapsed().as_nanos();
        let cpu_after = thread_cpu_ns();
        wall_total += wall;
        cpu_total = match (cpu_total, cpu_before, cpu_after) {
            (Some(total), Some(before), Some(after)) => Some(total + after.saturating_sub(before)),
            _ => None,
        };
        per_op.push(wall as f64 / iters as f64);
    }
    per_op.sort_by(f64::total_cmp);
    let ops = (BATCHES * iters) as f64;
    Timing { cpu: cpu_total.map(|c| c as f64 / ops), median: per_op[BATCHES / 2], min: per_op[0], on_cpu: cpu_total.map(|c| c as f64 / wall_total as f64) }
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
    println!("{:<34}{COLUMNS}", "case (ns per query)");
    for (case, expect, mut gen) in cases {
        if !filter.is_empty() && !filter.iter().any(|f| case.to_lowercase().contains(&f.to_lowercase())) {
            continue;
        }
        let pool: Vec<Vec<u8>> = (0..POOL).map(|i| gen(&mut rng, i as u16)).collect();
        for bytes in &pool {
            let request = Request::at_zero(bytes, peer, Transport::Udp);
            let Outcome::Reply(len) = engine.handle(&request, &mut out) else { panic!("{case}: no reply") };
            let (rcode, an, ns) = shape(&out[..len]);
            assert!(rcode == expect.0 && an >= expect.1 && ns >= expect.2, "{case}: reply rcode {rcode} an {an} ns {ns}, expected {expect:?}");
        }
        let requests: Vec<Request<'_>> = pool.iter().map(|bytes| Request::at_zero(bytes, peer, Transport::Udp)).collect();
        let timing = measure(|i| {
            let outcome = engine.handle(black_box(&requests[i % POOL]), black_box(&mut out));
            black_box(outcome);
        });
        println!("{case:<34}{timing}");
    }
}
