//! Answers a query file through `Engine::handle`, for instruction counts under callgrind:
//!
//!     python3 bench/gen_zone.py DIR -n 100000 -q 20000
//!     cargo build --release -p portcullis-engine --example auth_mix
//!     valgrind --tool=callgrind --toggle-collect='*run_measured*' \
//!         $CARGO_TARGET_DIR/release/examples/auth_mix DIR/zone.db DIR/queries [mix|exact-a] [REPLIES]
//!
//! `mix` answers every line of the query file (`name type`, as dnsperf reads it), `exact-a` only
//! the A questions whose answer is one A record. Every query carries an OPT record (1232 bytes),
//! as resolvers send them. Each query is answered once before the measured pass (warm caches); the
//! measured pass answers each once more. With REPLIES, every measured reply is written to that
//! file (length-prefixed), to check that a change keeps answers byte-identical. With
//! `REPLY_CACHE=N` in the environment every pass goes through a [`ReplyCache`] of N slots (as
//! the UDP workers answer), so that the measured pass shows what a repeated query costs.

// A tool: a broken input should stop it loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use portcullis_engine::auth::ZoneSet;
use portcullis_engine::load::load_zone_text;
use portcullis_engine::metrics::EngineCounters;
use portcullis_engine::zonefile::NoIncludes;
use portcullis_engine::{Engine, EngineSettings, Outcome, ReplyCache, Request, Transport};
use portcullis_wire::{NameBuf, Rtype};
use std::net::SocketAddr;
use std::sync::Arc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(zone_path), Some(queries_path)) = (args.get(1), args.get(2)) else { return eprintln!("usage: auth_mix ZONE QUERIES [mix|exact-a] [REPLIES]") };
    let exact_a = args.get(3).is_some_and(|mode| mode == "exact-a");
    let origin = NameBuf::from_text("bench.test.", None).expect("origin");
    let text = std::fs::read_to_string(zone_path).unwrap_or_else(|e| panic!("{zone_path}: {e}"));
    let zone = load_zone_text(&origin, &text, zone_path, &NoIncludes).unwrap_or_else(|e| panic!("zone: {e}"));
    let engine = Arc::new(Engine::new(ZoneSet::new(vec![Arc::new(zone)]), EngineSettings::default(), Arc::new(EngineCounters::default())));
    let slots = std::env::var("REPLY_CACHE").ok().and_then(|text| text.parse().ok()).unwrap_or(0);
    let mut cache = ReplyCache::new(slots);
    let text = std::fs::read_to_string(queries_path).expect("query file");
    let peer = SocketAddr::from(([192, 0, 2, 200], 40_000));
    let mut out = vec![0u8; 65_535];
    let mut pool = Vec::new();
    for (id, line) in text.lines().enumerate() {
        let mut words = line.split_whitespace();
        let (Some(name), Some(rtype)) = (words.next(), words.next()) else { continue };
        let qtype = Rtype::from_text(rtype).expect("query type");
        let bytes = query(id as u16, name, qtype.0);
        let Outcome::Reply(len) = cache.answer(&engine, &Request::at_zero(&bytes, peer, Transport::Udp), &mut out) else { panic!("no reply to {line}") };
        if exact_a && !is_single_a(qtype, &out[..len]) {
            continue;
        }
        pool.push(bytes);
    }
    let requests: Vec<Request<'_>> = pool.iter().map(|bytes| Request::at_zero(bytes, peer, Transport::Udp)).collect();
    let total = run_measured(&engine, &mut cache, &requests, &mut out);
    if let Some(path) = args.get(4) {
        let mut replies = Vec::new();
        for request in &requests {
            let Outcome::Reply(len) = cache.answer(&engine, request, &mut out) else { panic!("no reply") };
            replies.extend_from_slice(&(len as u16).to_be_bytes());
            replies.extend_from_slice(&out[..len]);
        }
        std::fs::write(path, &replies).expect("replies file");
    }
    eprintln!("{} measured queries, {total} reply bytes, {} from the reply cache ({} slots)", requests.len(), cache.hits(), cache.slots());
}

/// The measured pass (callgrind: `--toggle-collect='*run_measured*'`): each request once.
#[inline(never)]
fn run_measured(engine: &Arc<Engine>, cache: &mut ReplyCache, requests: &[Request<'_>], out: &mut [u8]) -> usize {
    let mut total = 0;
    for request in requests {
        if let Outcome::Reply(len) = cache.answer(engine, std::hint::black_box(request), out) {
            total += len;
        }
    }
    total
}

/// NOERROR with exactly one answer record, asked for A.
fn is_single_a(qtype: Rtype, reply: &[u8]) -> bool {
    qtype == Rtype::A && reply[3] & 0x0F == 0 && u16::from_be_bytes([reply[6], reply[7]]) == 1 && u16::from_be_bytes([reply[8], reply[9]]) == 0
}

/// A query as a resolver sends it: RD clear, one question, an OPT record (1232 bytes).
fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
    q.extend_from_slice(NameBuf::from_text(name, None).expect("valid name").as_wire());
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    q.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0]);
    q
}
