//! Micro-benchmark of the codec: ns per operation for parsing a query, reading a compressed name,
//! and writing a 5-record answer with compression. No dependencies: `std::time::Instant` and
//! `std::hint::black_box`.
//!
//!     cargo bench -p portcullis-wire --bench codec
//!     cargo bench -p portcullis-wire --bench codec -- writer   # cases containing "writer"
//!
//! Prints ns per operation over 15 batches of about 20 ms: on-CPU time per operation (leaves out
//! time the thread was preempted: the figure to compare on a shared machine), the median and the
//! fastest batch by wall clock, and the share of wall time the thread was on a CPU.

// A benchmark is a test binary: a broken fixture should stop it loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use portcullis_wire::header::Flags;
use portcullis_wire::message::{Message, Section};
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::{Class, NameBuf, Rtype};
use std::hint::black_box;
use std::time::{Duration, Instant};

const BATCHES: usize = 15;
const BATCH_TARGET: Duration = Duration::from_millis(20);

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

fn name(text: &str) -> NameBuf {
    NameBuf::from_text(text, None).expect("valid name")
}

/// `www.example.test. A` with an OPT record (1232 bytes), as a resolver sends it.
fn query_bytes() -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
    q.extend_from_slice(name("www.example.test.").as_wire());
    q.extend_from_slice(&[0, 1, 0, 1]);
    q.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0]);
    q
}

/// Writes the reply to `www.example.test. A`: 2 A in the answer, 2 NS in the authority, 1 glue
/// A in the additional section; owners and NS targets compressed. Returns the length.
fn write_answer(buf: &mut [u8], names: &Names) -> usize {
    let Ok(mut w) = MessageWriter::new(buf, 1232) else { return 0 };
    w.set_header(0x1234, Flags { qr: true, aa: true, ..Flags::default() });
    let mut ok = w.push_question(&names.qname, Rtype::A, Class::IN).is_ok();
    ok &= w.push(Section::Answer, &names.qname, Rtype::A, Class::IN, 3600, &[192, 0, 2, 1]).is_ok();
    ok &= w.push(Section::Answer, &names.qname, Rtype::A, Class::IN, 3600, &[192, 0, 2, 2]).is_ok();
    ok &= w.push(Section::Authority, &names.apex, Rtype::NS, Class::IN, 86_400, names.ns1.as_wire()).is_ok();
    ok &= w.push(Section::Authority, &names.apex, Rtype::NS, Class::IN, 86_400, names.ns2.as_wire()).is_ok();
    ok &= w.push(Section::Additional, &names.ns1, Rtype::A, Class::IN, 86_400, &[192, 0, 2, 53]).is_ok();
    if !ok {
        w.set_tc(true);
    }
    w.finish()
}

struct Names {
    qname: NameBuf,
    apex: NameBuf,
    ns1: NameBuf,
    ns2: NameBuf,
}

fn main() {
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let wanted = |case: &str| filter.is_empty() || filter.iter().any(|f| case.to_lowercase().contains(&f.to_lowercase()));
    let names = Names { qname: name("www.example.test."), apex: name("example.test."), ns1: name("ns1.example.test."), ns2: name("ns2.example.test.") };

    let query = query_bytes();
    let mut buf = vec![0u8; 65_535];
    let reply_len = write_answer(&mut buf, &names);
    let reply = buf[..reply_len].to_vec();
    // Sanity: the reply parses back with the counts meant, and compression happened.
    let parsed = Message::parse(&reply).expect("reply parses");
    assert_eq!(parsed.records(Section::Answer).count() + parsed.records(Section::Authority).count() + parsed.records(Section::Additional).count(), 5);
    assert!(reply_len < 150, "reply not compressed: {reply_len} bytes");
    // Offset of the second NS rdata (`ns2` + pointer to `example.test.`), for parse_compressed.
    let ns2_rdata = parsed.records(Section::Authority).nth(1).expect("second NS").rdata_offset;
    assert_eq!(NameBuf::parse_compressed(&reply, ns2_rdata).expect("name").0, names.ns2);
    // The additional A's owner: a bare pointer to the first NS rdata.
    let glue_owner = parsed.records(Section::Additional).next().expect("glue").offset;
    let glue = NameBuf::parse_compressed(&reply, glue_owner).map(|(n, _)| n == names.ns1).unwrap_or(false);

    println!("query {} bytes, 5-record reply {reply_len} bytes", query.len());
    println!("{:<44}{COLUMNS}", "case");
    type Case<'a> = (&'static str, Box<dyn FnMut() + 'a>);
    let mut cases: Vec<Case<'_>> = vec![
        (
            "Message::parse query (1 question + OPT)",
            Box::new(|| {
                black_box(Message::parse(black_box(&query)).is_ok());
            }),
        ),
        (
            "Message::parse 5-record reply",
            Box::new(|| {
                black_box(Message::parse(black_box(&reply)).is_ok());
            }),
        ),
        (
            "NameBuf::parse_compressed (label + pointer)",
            Box::new(|| {
                black_box(NameBuf::parse_compressed(black_box(&reply), black_box(ns2_rdata)).is_ok());
            }),
        ),
        (
            "NameBuf::parse_compressed (question, none)",
            Box::new(|| {
                black_box(NameBuf::parse_compressed(black_box(&query), black_box(12)).is_ok());
            }),
        ),
    ];
    if glue {
        cases.push((
            "NameBuf::parse_compressed (pointer only)",
            Box::new(|| {
                black_box(NameBuf::parse_compressed(black_box(&reply), black_box(glue_owner)).is_ok());
            }),
        ));
    }
    let mut out = vec![0u8; 65_535];
    cases.push((
        "MessageWriter 5-record answer, compressed",
        Box::new(move || {
            black_box(write_answer(black_box(&mut out), black_box(&names)));
        }),
    ));
    for (case, f) in cases.iter_mut() {
        if wanted(case) {
            let timing = measure(|_| f());
            println!("{case:<44}{timing}");
        }
    }
}
