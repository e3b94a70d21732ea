//! Bodies of the fuzz targets in `fuzz/`, kept here so `cargo test` replays their seed corpora
//! (`crates/engine/tests/fuzz_corpus.rs`) without a fuzzer. Each must never panic.

use crate::auth::ZoneSet;
use crate::load::load_zone_text;
use crate::metrics::EngineCounters;
use crate::zonefile::{check_zone, parse_zone_text, NoIncludes};
use crate::{Engine, EngineSettings, Request, Transport};
use portcullis_wire::header::Flags;
use portcullis_wire::message::{decompress_rdata, Message, Section};
use portcullis_wire::rdata::rdata_to_text;
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::NameBuf;
use std::sync::Arc;

/// The zone every `message` run is answered from.
pub const FUZZ_ZONE: &str = "$ORIGIN example.\n$TTL 300\n@ SOA ns hostmaster 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n*.w TXT \"wild\"\nc CNAME ns\nd DNAME example.net.\nsub NS ns.sub\nns.sub A 192.0.2.2\nmx MX 10 ns\n";

/// Parses `data` as a message; when it parses, re-encodes it and checks the round trip, renders
/// every rdata, reads ahead for it in a batch (whole, and cut in two), and answers it with an
/// engine over [`FUZZ_ZONE`] on UDP and TCP (that lets anyone transfer the zone: a transfer is
/// drained to its end).
pub fn message(data: &[u8]) {
    if let Ok(message) = Message::parse(data) {
        round_trip(&message);
    }
    let engine = fuzz_engine();
    let (head, tail) = data.split_at(data.len() / 2);
    engine.warm([data, head, tail].into_iter());
    let mut out = vec![0u8; 65_535];
    for transport in [Transport::Udp, Transport::Tcp] {
        let request = Request::at_zero(data, ([192, 0, 2, 9], 5300).into(), transport);
        match engine.handle(&request, &mut out) {
            crate::Outcome::Reply(len) => assert!(Message::parse(&out[..len]).is_ok(), "the engine wrote a reply it cannot parse"),
            crate::Outcome::Transfer => transfer(&engine, &request, &mut out),
            _ => {}
        }
    }
}

/// Drains the zone transfer the engine allowed: every message parses, and it ends.
fn transfer(engine: &Engine, request: &Request<'_>, out: &mut [u8]) {
    assert_eq!(request.transport, Transport::Tcp, "a transfer over UDP");
    let Some(mut transfer) = engine.transfer(request) else { return };
    let mut messages = 0;
    while let Some(len) = transfer.next_message(out) {
        assert!(Message::parse(&out[..len]).is_ok(), "the engine wrote a transfer message it cannot parse");
        messages += 1;
        assert!(messages < 100, "a transfer of the fuzz zone that does not end");
    }
}

/// Parses `data` as a zone file; when it parses, checks it and builds the zone, and a zone that
/// builds is written as text and loaded back.
pub fn zone_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let origin = NameBuf::from_text("example.", None).unwrap_or(NameBuf::ROOT);
    if let Ok(records) = parse_zone_text(&origin, text, "fuzz.zone", &NoIncludes) {
        let _ = check_zone(&origin, &records);
        if let Ok(zone) = crate::load::build_checked(&origin, &records) {
            // What a secondary writes back must load again as the same zone.
            let text = crate::auth::zone_text::zone_text(&zone);
            let again = load_zone_text(&origin, &text, "written.zone", &NoIncludes);
            assert!(again.as_ref().is_ok_and(|again| again.node_count() == zone.node_count()), "the written zone does not load back: {again:?}\n{text}");
        }
    }
}

/// Reads `data` as an UPDATE message (RFC 2136); what reads is evaluated against
/// [`FUZZ_ZONE`], applied, and the difference rebuilt into a zone that must pass the load
/// checks. Hostile sections and counts end in an rcode, never a panic.
pub fn update(data: &[u8]) {
    use crate::auth::update::{apply, parse_bytes, prerequisite, rebuild, Applied};
    let Ok(update) = parse_bytes(data) else { return };
    let origin = NameBuf::from_text("example.", None).ok();
    let Some(zone) = origin.and_then(|origin| load_zone_text(&origin, FUZZ_ZONE, "fuzz", &NoIncludes).ok()) else { return };
    let _ = prerequisite::check(&zone, &update.prerequisites);
    if let Applied::Changed(change) = apply(&zone, &update.changes) {
        let next = rebuild(&zone, &change);
        assert_eq!(next.serial(), crate::auth::update::apply::soa_serial(&change.new_soa.rdata), "the new SOA is served");
    }
}

fn fuzz_engine() -> Engine {
    let origin = NameBuf::from_text("example.", None).unwrap_or(NameBuf::ROOT);
    let zones = load_zone_text(&origin, FUZZ_ZONE, "fuzz", &NoIncludes).map(|z| ZoneSet::new(vec![Arc::new(z)])).unwrap_or_default();
    // Transfers allowed to everyone, so that inputs reach them too.
    let rules = crate::policy::ActionRules { transfer: Some(vec![crate::policy::MatchElement::Any { negated: false }]), ..Default::default() };
    let settings = crate::policy::AclSettings { global: rules, ..Default::default() };
    let mut policy = crate::engine::Policy::defaults();
    if let Ok(acl) = crate::policy::Acl::new(&settings, None) {
        policy.acl = acl;
    }
    Engine::with_policy(zones, EngineSettings::default(), Arc::new(EngineCounters::default()), policy)
}

/// Re-encodes a parsed message record by record and checks that it parses back the same.
fn round_trip(message: &Message<'_>) {
    let mut buf = vec![0u8; 65_535];
    let Ok(mut writer) = MessageWriter::new(&mut buf, 65_535) else { return };
    // The same opcode and flags: which records a section may hold depends on the opcode (UPDATE).
    writer.set_header(message.header().id(), Flags::from_header(message.header()));
    for question in message.questions() {
        if writer.push_question(&question.qname, question.qtype, question.qclass).is_err() {
            return;
        }
    }
    let mut rdata = Vec::new();
    let sections = [Section::Answer, Section::Authority, Section::Additional];
    for section in sections {
        for record in message.records(section) {
            rdata.clear();
            if decompress_rdata(message.bytes(), &record, &mut rdata).is_err() {
                return;
            }
            let mut text = String::new();
            let _ = rdata_to_text(record.rtype, &rdata, &mut text);
            if writer.push(section, &record.owner, record.rtype, record.class, record.ttl, &rdata).is_err() {
                return;
            }
        }
    }
    let len = writer.finish();
    let Ok(again) = Message::parse(&buf[..len]) else { panic!("a re-encoded message does not parse") };
    assert!(message.questions().eq(again.questions()), "questions changed in the round trip");
    for section in sections {
        let before = message.records(section).map(|r| (r.owner, r.rtype, r.class, r.ttl));
        let after = again.records(section).map(|r| (r.owner, r.rtype, r.class, r.ttl));
        assert!(before.eq(after), "records changed in the round trip");
    }
}

/// Reads `data` as a journal file's entries (after [`crate::auth::diff::codec::MAGIC`], when it
/// starts with it): every whole entry with a good check is decoded; a decoded difference must
/// encode back to the same body, condense with those before it or say why not, and apply to
/// [`FUZZ_ZONE`] or say why not.
pub fn journal(data: &[u8]) {
    use crate::auth::diff::codec::{decode, encode, read_entry, Entry, MAGIC};
    let body = data.strip_prefix(&MAGIC[..]).unwrap_or(data);
    let mut pos = 0;
    let mut diffs = Vec::new();
    for _ in 0..body.len() + 1 {
        let Entry::Good(entry, next) = read_entry(body, pos) else { break };
        if let Ok(change) = decode(entry) {
            assert_eq!(encode(&change), entry, "a decoded difference encodes back to its body");
            diffs.push(change);
        }
        pos = next;
    }
    if let Ok(decoded) = decode(body) {
        assert_eq!(encode(&decoded), body);
        diffs.push(decoded);
    }
    let origin = NameBuf::from_text("example.", None).unwrap_or(NameBuf::ROOT);
    if let Ok(zone) = load_zone_text(&origin, FUZZ_ZONE, "fuzz", &NoIncludes) {
        let _ = crate::auth::diff::condense(&diffs);
        let _ = crate::auth::diff::apply(&zone, &diffs);
    }
}

/// Reads `data` as a cache handover stream (`cache/handover.rs`) into a small cache, and again
/// wrapped in a valid header and frames with correct checks (so the entry decoder sees the
/// bytes); whatever was loaded is exported and imported again, and must load alike.
pub fn cache_import(data: &[u8]) {
    use crate::cache::handover::{self, import_all};
    use crate::cache::{Cache, CacheSettings};
    use crate::policy::Instant;
    let settings = CacheSettings { max_entries: 64, shards: 2, ..CacheSettings::DEFAULT };
    let cache = Cache::new(settings);
    let _ = import_all(&cache, data, Instant::from_secs(5));
    let wrapped = handover::fuzz_stream(data);
    let _ = import_all(&cache, &wrapped, Instant::from_secs(5));
    let mut export = cache.export();
    let mut stream = Vec::new();
    for _ in 0..10_000 {
        if !export.next_chunk(Instant::from_secs(6), &mut stream) {
            break;
        }
    }
    let again = Cache::new(settings);
    let stats = import_all(&again, &stream, Instant::ZERO).unwrap_or_default();
    assert_eq!(stats.loaded, export.written(), "a handover stream written by the exporter loads whole");
}
