//! Cache-hit cost driver: fills a [`Cache`] with 100 000 names the way a resolver would (A, AAAA,
//! MX, TXT RRsets, CNAME chains, NXDOMAIN and NODATA entries) and answers a realistic mix of
//! queries through `Engine::handle` with recursion on.
//!
//! `cargo run --release -p portcullis-engine --example cache_hits [QUERIES]`; for instruction
//! counts run it under `valgrind --tool=callgrind --toggle-collect=cache_hits::answer_all`, or
//! compare the totals of a run with QUERIES and one with 0. A second argument `tunnel` puts the
//! tunnelling detector (log mode, default thresholds) on the path, to measure its cost; a third
//! argument `replay` answers every query once before the measured pass (in `warm_up`, outside
//! the collected function), as in a steady state where each client's names were seen before
//! (the detector's repeated-name filter). With the detector on it prints how many queries of the
//! measured pass took the detector's full path, by what its repeated-name filter said. With
//! `CACHE_HITS_REPLIES=FILE` every reply of a further pass is written to FILE (length-prefixed),
//! to `cmp` before and after a change. With `REPLY_CACHE=N` the measured pass goes through a
//! UDP worker's [`ReplyCache`] of N slots (which stores none of these replies: the figure is
//! what its look-up costs a cache hit).
//!
//! The two workloads of the detector's cost (issue 16 item 5): `200000 tunnel replay` is the
//! steady state (every name a repeat for its client), `200000 tunnel` the first sightings: the
//! skewed pick asks 66 709 of the 200 000 queries (a third) for a name the client had not asked
//! before, mostly new hosts under the 2 000 domains it already asked about (the parent memo's
//! case). Compare both with `200000` (detectors off).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use portcullis_engine::auth::ZoneSet;
use portcullis_engine::cache::{Cache, CacheSettings, Rrset, Trust};
use portcullis_engine::policy::Instant;
use portcullis_engine::{Engine, EngineSettings, Outcome, ReplyCache, Request, Transport};
use portcullis_wire::header::Flags;
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::{Class, NameBuf, Rcode, Rtype};
use std::net::SocketAddr;
use std::sync::Arc;

const NAMES: u32 = 100_000;
const TTL: u32 = 3600;

fn name(text: &str) -> NameBuf {
    NameBuf::from_text(text, None).unwrap()
}

fn rrset(owner: &NameBuf, rtype: Rtype, rdatas: &[&[u8]]) -> Rrset {
    let mut rrset = Rrset::new(*owner, rtype, Class::IN, TTL);
    for rdata in rdatas {
        rrset.push(TTL, rdata);
    }
    rrset
}

/// The name of host `i` (spread over 2 000 registered domains under a few TLDs).
fn host(i: u32) -> String {
    let tld = ["com", "net", "org", "de", "example"][(i % 5) as usize];
    let label = ["www", "api", "mail", "cdn", "static", "login", "img", "m"][(i % 8) as usize];
    format!("{label}{i}.domain{}.{tld}.", i % 2000)
}

fn soa_of(i: u32) -> Rrset {
    let zone = name(&format!("domain{}.{}.", i % 2000, ["com", "net", "org", "de", "example"][(i % 5) as usize]));
    let mut rdata = name("ns1.provider.net.").as_wire().to_vec();
    rdata.extend_from_slice(name("hostmaster.provider.net.").as_wire());
    for value in [2024_0101u32, 7200, 3600, 1_209_600, 900] {
        rdata.extend_from_slice(&value.to_be_bytes());
    }
    rrset(&zone, Rtype::SOA, &[&rdata])
}

/// What name `i` holds: 0..=59 addresses (A, some with AAAA, MX, TXT), 60..=74 a CNAME to an
/// address, 75..=89 NXDOMAIN, 90..=99 A plus a NODATA AAAA.
fn fill(cache: &Cache, i: u32) {
    let owner = name(&host(i));
    let kind = i % 100;
    let now = Instant::ZERO;
    let v4 = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
    let v4b = [10, 128 | (i >> 16) as u8, (i >> 8) as u8, i as u8];
    match kind {
        0..=59 | 90..=99 => {
            let two = i.is_multiple_of(3);
            let addresses: &[&[u8]] = if two { &[&v4, &v4b] } else { &[&v4] };
            cache.insert_rrset(&rrset(&owner, Rtype::A, addresses), Trust::AuthAnswer, now);
            if kind < 40 {
                let mut v6 = [0u8; 16];
                v6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
                v6[12..].copy_from_slice(&i.to_be_bytes());
                cache.insert_rrset(&rrset(&owner, Rtype::AAAA, &[&v6]), Trust::AuthAnswer, now);
            }
            if kind < 10 {
                let mut mx = vec![0, 10];
                mx.extend_from_slice(name(&format!("mx{}.provider.net.", i % 50)).as_wire());
                let mut mx2 = vec![0, 20];
                mx2.extend_from_slice(name(&format!("mx{}.provider.net.", (i + 1) % 50)).as_wire());
                cache.insert_rrset(&rrset(&owner, Rtype::MX, &[&mx, &mx2]), Trust::AuthAnswer, now);
            }
            if kind < 8 {
                let spf = b"v=spf1 include:_spf.provider.net ip4:192.0.2.0/24 ~all";
                let mut txt = vec![spf.len() as u8];
                txt.extend_from_slice(spf);
                cache.insert_rrset(&rrset(&owner, Rtype::TXT, &[&txt]), Trust::AuthAnswer, now);
            }
            if kind >= 90 {
                cache.insert_negative(&owner, Some(Rtype::AAAA), Class::IN, Some(&soa_of(i)), Trust::AuthAuthority, now);
            }
        }
        60..=74 => {
            let target = name(&format!("edge{}.cdn{}.akamaiedge.net.", i, i % 7));
            cache.insert_rrset(&rrset(&owner, Rtype::CNAME, &[target.as_wire()]), Trust::AuthAnswer, now);
            cache.insert_rrset(&rrset(&target, Rtype::A, &[&v4, &v4b]), Trust::Answer, now);
        }
        _ => {
            cache.insert_negative(&owner, None, Class::IN, Some(&soa_of(i)), Trust::AuthAuthority, now);
        }
    }
}

/// A query for name `i` of the type the mix asks for it.
fn query(i: u32, pick: u32) -> Vec<u8> {
    let kind = i % 100;
    let qtype = match kind {
        0..=9 if pick.is_multiple_of(4) => Rtype::MX,
        0..=7 if pick % 4 == 1 => Rtype::TXT,
        0..=39 if pick.is_multiple_of(3) => Rtype::AAAA,
        90..=99 if pick.is_multiple_of(2) => Rtype::AAAA,
        _ => Rtype::A,
    };
    let mut buf = vec![0u8; 512];
    let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
    writer.set_header(pick as u16, Flags { rd: true, ..Flags::default() });
    writer.push_question(&name(&host(i)), qtype, Class::IN).unwrap();
    writer.push_opt(1232, Rcode::NOERROR, false, &[]).unwrap();
    let len = writer.finish();
    buf.truncate(len);
    buf
}

/// A small deterministic generator (xorshift).
fn next(state: &mut u64) -> u32 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state >> 16) as u32
}

#[inline(never)]
fn answer_all(engine: &Arc<Engine>, replies_cache: &mut ReplyCache, queries: &[Vec<u8>], out: &mut [u8]) -> (usize, usize) {
    let peer = SocketAddr::from(([127, 0, 0, 1], 5300));
    let (mut replies, mut bytes) = (0, 0);
    for query in queries {
        let request = Request { bytes: query, peer, transport: Transport::Udp, now: Instant::from_secs(100), unix_secs: 0, listener: 0, worker: 0 };
        if let Outcome::Reply(len) | Outcome::ReplyAndPrefetch(len) = replies_cache.answer(engine, &request, out) {
            replies += 1;
            bytes += len;
        }
    }
    (replies, bytes)
}

/// Every query answered once more after the measured pass, each reply length-prefixed (u32 big
/// endian) into `path`: `cmp` two runs' files to see that a change kept the replies.
fn write_replies(engine: &Engine, queries: &[Vec<u8>], out: &mut [u8], path: &std::path::Path) {
    let peer = SocketAddr::from(([127, 0, 0, 1], 5300));
    let mut all = Vec::new();
    for query in queries {
        let request = Request { bytes: query, peer, transport: Transport::Udp, now: Instant::from_secs(100), unix_secs: 0, listener: 0, worker: 0 };
        let len = match engine.handle(&request, out) {
            Outcome::Reply(len) | Outcome::ReplyAndPrefetch(len) => len,
            _ => 0,
        };
        all.extend_from_slice(&(len as u32).to_be_bytes());
        all.extend_from_slice(&out[..len]);
    }
    std::fs::write(path, all).expect("replies file written");
}

/// Every query answered once, outside the collected `answer_all`.
#[inline(never)]
fn warm_up(engine: &Engine, queries: &[Vec<u8>], out: &mut [u8]) {
    let peer = SocketAddr::from(([127, 0, 0, 1], 5300));
    for query in queries {
        let request = Request { bytes: query, peer, transport: Transport::Udp, now: Instant::from_secs(100), unix_secs: 0, listener: 0, worker: 0 };
        engine.handle(&request, out);
    }
}

fn main() {
    let count: usize = std::env::args().nth(1).and_then(|arg| arg.parse().ok()).unwrap_or(200_000);
    let cache = Cache::new(CacheSettings { max_entries: 1_000_000, max_bytes: 1 << 30, ..CacheSettings::DEFAULT });
    let heap = allocation_counter::measure(|| (0..NAMES).for_each(|i| fill(&cache, i)));
    let entries = cache.len();
    println!(
        "entries {entries}, heap {} bytes = {} per entry, charged {} per entry",
        heap.bytes_current,
        heap.bytes_current / entries as i64,
        cache.bytes() / entries
    );
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let queries: Vec<Vec<u8>> = (0..count)
        .map(|_| {
            let pick = next(&mut state);
            // Popular names are asked more often: a skewed pick over the 100 000 names.
            let i = (u64::from(next(&mut state) % NAMES) * u64::from(next(&mut state) % NAMES) / u64::from(NAMES)) as u32;
            query(i, pick)
        })
        .collect();
    let engine = Engine::new(ZoneSet::new(Vec::new()), EngineSettings::default(), Arc::default()).with_recursion(Arc::new(cache));
    let detector = (std::env::args().nth(2).as_deref() == Some("tunnel")).then(|| {
        use portcullis_engine::policy::tunnel::{TunnelDetector, TunnelMode, TunnelSettings};
        println!("tunnelling detector on (log mode)");
        Arc::new(TunnelDetector::new(TunnelSettings::new(TunnelMode::Log), [7; 16]))
    });
    let engine = match &detector {
        Some(detector) => engine.with_tunnel_detector(detector.clone()),
        None => engine,
    };
    let mut out = vec![0u8; 4096];
    if std::env::args().nth(3).as_deref() == Some("replay") {
        warm_up(&engine, &queries, &mut out);
    }
    let before = detector.as_ref().map(|detector| detector.full_path());
    let started = std::time::Instant::now();
    let engine = Arc::new(engine);
    let mut replies_cache = ReplyCache::new(std::env::var("REPLY_CACHE").ok().and_then(|text| text.parse().ok()).unwrap_or(0));
    let (replies, bytes) = answer_all(&engine, &mut replies_cache, &queries, &mut out);
    let elapsed = started.elapsed();
    println!("{count} queries, {replies} answered from the cache, {} bytes per reply, {:?} per query", bytes / replies.max(1), elapsed / count.max(1) as u32);
    if let Some(path) = std::env::var_os("CACHE_HITS_REPLIES") {
        write_replies(&engine, &queries, &mut out, std::path::Path::new(&path));
    }
    if let (Some(detector), Some(before)) = (&detector, before) {
        // The detector's full path in the measured pass, by what its repeated-name filter said;
        // first sightings are the distinct (client, name) pairs not asked before it.
        let after = detector.full_path();
        let mut seen = std::collections::HashSet::new();
        if std::env::args().nth(3).as_deref() == Some("replay") {
            seen.extend(queries.iter().map(|query| query_name(query)));
        }
        let first = queries.iter().filter(|query| seen.insert(query_name(query))).count();
        println!(
            "full path: {} not in the filter ({first} first sightings), {} stale, {} while held",
            after.unknown - before.unknown,
            after.stale - before.stale,
            after.held - before.held
        );
    }
}

/// The question name of a query built by [`query`], lower-cased.
fn query_name(query: &[u8]) -> Vec<u8> {
    let end = 12 + query[12..].iter().position(|&byte| byte == 0).unwrap_or(0) + 1;
    query[12..end].to_ascii_lowercase()
}
