//! The tunnelling detector against generated tunnels and a benign corpus with the known
//! false-positive traps (`tunnel_corpus`), in block mode with the default settings, fed in
//! detector time (sans-IO): prints precision and recall per (client, domain) pair and asserts
//! precision >= 0.99, recall >= 0.95 and each tunnel blocked within 30 s of its first query.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod tunnel_corpus;

use portcullis_engine::base::Instant;
use portcullis_engine::policy::tunnel::{TunnelDetector, TunnelMode, TunnelSettings, TunnelVerdict};
use portcullis_wire::NameBuf;
use std::net::IpAddr;
use tunnel_corpus::Stream;

/// Where the corpus starts in detector time (any day will do).
const EPOCH_MS: u64 = 1_800_000_000_000;

/// What happened to one stream: the first blocked query's delay, and blocked queries.
struct Outcome {
    first_block_ms: Option<u64>,
    blocked: usize,
}

fn replay(streams: &[Stream], detector: &TunnelDetector) -> Vec<Outcome> {
    let mut timeline: Vec<(u64, usize, usize)> =
        streams.iter().enumerate().flat_map(|(s, stream)| stream.queries.iter().enumerate().map(move |(q, query)| (query.at_ms, s, q))).collect();
    timeline.sort_unstable();
    let mut outcomes: Vec<Outcome> = streams.iter().map(|_| Outcome { first_block_ms: None, blocked: 0 }).collect();
    for (at_ms, s, q) in timeline {
        let (stream, query) = (&streams[s], &streams[s].queries[q]);
        let client: IpAddr = stream.client.parse().expect("client address");
        let name = NameBuf::from_text(&query.name, None).unwrap_or_else(|err| panic!("{}: {err:?}", query.name));
        let now = Instant::from_millis(EPOCH_MS + at_ms);
        match detector.observe(now, client, name.as_wire(), query.qtype) {
            TunnelVerdict::Block => {
                let outcome = &mut outcomes[s];
                outcome.blocked += 1;
                outcome.first_block_ms.get_or_insert(at_ms - stream.queries[0].at_ms);
            }
            TunnelVerdict::Pass if query.nxdomain => detector.nxdomain(now, client, name.as_wire()),
            TunnelVerdict::Pass => {}
        }
    }
    outcomes
}

#[test]
fn generated_tunnels_are_blocked_within_30_seconds_and_benign_traffic_is_not() {
    let mut streams = tunnel_corpus::tunnels();
    streams.extend(tunnel_corpus::benign());
    let detector = TunnelDetector::new(TunnelSettings::new(TunnelMode::Block), *b"tunnel-corpus-k!");
    let outcomes = replay(&streams, &detector);
    let (mut tp, mut fp, mut fn_, mut tn) = (0usize, 0usize, 0usize, 0usize);
    let mut late = Vec::new();
    println!("{:<32} {:<16} {:<24} {:>7} {:>8} {:>9} {:>6}", "stream", "client", "domain", "tunnel", "queries", "blocked", "after");
    for (stream, outcome) in streams.iter().zip(&outcomes) {
        let detected = outcome.first_block_ms.is_some();
        match (stream.tunnel, detected) {
            (true, true) => tp += 1,
            (true, false) => fn_ += 1,
            (false, true) => fp += 1,
            (false, false) => tn += 1,
        }
        if stream.tunnel && outcome.first_block_ms.is_none_or(|ms| ms > 30_000) {
            late.push(stream.label);
        }
        let after = outcome.first_block_ms.map_or("-".to_string(), |ms| format!("{:.1}s", ms as f64 / 1000.0));
        println!(
            "{:<32} {:<16} {:<24} {:>7} {:>8} {:>9} {:>6}",
            stream.label,
            stream.client,
            stream.domain,
            stream.tunnel,
            stream.queries.len(),
            outcome.blocked,
            after
        );
    }
    let precision = if tp + fp == 0 { 0.0 } else { tp as f64 / (tp + fp) as f64 };
    let recall = tp as f64 / (tp + fn_).max(1) as f64;
    println!("pairs: {} tunnels, {} benign; TP {tp} FP {fp} FN {fn_} TN {tn}; precision {precision:.3} recall {recall:.3}", tp + fn_, fp + tn);
    assert!(precision >= 0.99, "precision {precision:.3}");
    assert!(recall >= 0.95, "recall {recall:.3}");
    assert!(late.is_empty(), "not blocked within 30 s: {late:?}");
    let events = detector.drain_events();
    assert!(events.iter().all(|event| event.blocked && event.score >= 1.0));
    let tunnels: Vec<_> = streams.iter().filter(|s| s.tunnel).map(|s| s.domain).collect();
    assert!(tunnels.iter().all(|domain| events.iter().any(|event| event.domain == *domain)), "an event per tunnel");
}

#[test]
fn log_mode_never_blocks_and_off_looks_at_nothing() {
    let streams = tunnel_corpus::tunnels();
    let detector = TunnelDetector::new(TunnelSettings::new(TunnelMode::Log), [9; 16]);
    assert!(replay(&streams, &detector).iter().all(|outcome| outcome.blocked == 0));
    assert!(detector.drain_events().len() >= streams.len());
    let detector = TunnelDetector::new(TunnelSettings::new(TunnelMode::Off), [9; 16]);
    assert!(replay(&streams, &detector).iter().all(|outcome| outcome.blocked == 0));
    assert!(detector.drain_events().is_empty());
}

#[test]
fn the_benign_corpus_stays_below_four_fifths_of_the_threshold() {
    let streams = tunnel_corpus::benign();
    let settings = TunnelSettings { score: 80, ..TunnelSettings::new(TunnelMode::Block) };
    let detector = TunnelDetector::new(settings, [5; 16]);
    let outcomes = replay(&streams, &detector);
    let flagged: Vec<_> = streams.iter().zip(&outcomes).filter(|(_, o)| o.blocked > 0).map(|(s, _)| (s.label, s.domain)).collect();
    assert!(flagged.is_empty(), "benign streams within a factor of 1.25 of the threshold: {flagged:?}");
}
