//! Tests of the cache handover: export then import gives the same answers (a property test over
//! random caches and random splits of the stream), TTLs keep counting down, a bogus entry stays
//! bogus, the importer's limits hold, and damaged, cut or foreign streams stop the import
//! cleanly with what was loaded so far.

use super::handover::{import_all, Import, ImportError, FORMAT_VERSION, MAGIC};
use super::*;
use proptest::prelude::*;

fn name(text: &str) -> NameBuf {
    NameBuf::from_text(text, None).unwrap()
}

fn set(owner: &str, rtype: Rtype, ttl: u32, rdatas: &[&[u8]], sigs: &[&[u8]]) -> Rrset {
    let mut rrset = Rrset::new(name(owner), rtype, Class::IN, ttl);
    rrset.rdatas = rdatas.iter().map(|r| r.to_vec()).collect();
    rrset.sigs = sigs.iter().map(|r| r.to_vec()).collect();
    rrset
}

fn soa(owner: &str, ttl: u32) -> Rrset {
    let mut rdata = name("ns.example.").as_wire().to_vec();
    rdata.extend_from_slice(name("host.example.").as_wire());
    for value in [1u32, 3600, 600, 86_400, 900] {
        rdata.extend_from_slice(&value.to_be_bytes());
    }
    set(owner, Rtype::SOA, ttl, &[&rdata], &[b"soa-sig"])
}

fn small(shards: usize) -> Cache {
    Cache::new(CacheSettings { shards, hash_key: [shards as u8; 16], ..CacheSettings::DEFAULT })
}

fn export(cache: &Cache, now: Instant) -> Vec<u8> {
    let (mut export, mut out) = (cache.export(), Vec::new());
    for _ in 0..100_000 {
        if !export.next_chunk(now, &mut out) {
            break;
        }
    }
    out
}

/// The answer to `qname`/`qtype` with DO=1, as bytes (the test RRSIGs are not well formed:
/// compared, not parsed) and hit facts.
fn answer(cache: &Cache, qname: &str, qtype: Rtype, now: Instant) -> Option<(Vec<u8>, AnswerHit)> {
    let mut buffer = [0u8; 4096];
    let question = Question { qname: name(qname), qtype, qclass: Class::IN };
    let mut writer = MessageWriter::new(&mut buffer, 4096).ok()?;
    writer.push_question(&question.qname, qtype, Class::IN).ok()?;
    let hit = cache.write_answer_dnssec(&question, now, false, true, &mut writer)?;
    let len = writer.finish();
    Some((buffer[..len].to_vec(), hit))
}

/// A cache with one of each kind of entry, filled at time 0.
fn filled() -> Cache {
    let cache = small(4);
    let t0 = Instant::ZERO;
    cache.insert_checked(&set("www.example.", Rtype::A, 300, &[&[192, 0, 2, 1], &[192, 0, 2, 2]], &[b"sig-a"]), Trust::Answer, (Security::Secure, 0), t0);
    cache.insert_checked(&set("bad.example.", Rtype::A, 300, &[&[192, 0, 2, 66]], &[b"bad-sig"]), Trust::Answer, (Security::Bogus, 6), t0);
    cache.insert_checked(&set("x.wild.example.", Rtype::TXT, 600, &[b"\x04wild"], &[b"sig-w"]), Trust::Answer, (Security::Secure, 0), t0);
    let nsec = set("w.example.", Rtype::NSEC, 600, &[b"nsec-rdata"], &[b"nsec-sig"]);
    cache.keep_wildcard_proofs(&set("x.wild.example.", Rtype::TXT, 600, &[b"\x04wild"], &[]), std::slice::from_ref(&nsec), t0);
    let (owner, example) = (name("nx.example."), soa("example.", 3600));
    cache.insert_denial(&owner, None, Class::IN, (Some(&example), std::slice::from_ref(&nsec)), Trust::AuthAuthority, (Security::Secure, 0), t0);
    cache.insert_denial(&name("www.example."), Some(Rtype::MX), Class::IN, (Some(&example), &[]), Trust::AuthAuthority, (Security::Insecure, 0), t0);
    cache.insert_rrset(&set("glue.example.", Rtype::A, 300, &[&[192, 0, 2, 53]], &[]), Trust::Glue, t0);
    // The RFC 8198 index: example. -> b.example. covers a.example. and *.example.
    let (apex, b) = (nsec_set("example.", "b.example.", &[Rtype::SOA, Rtype::NS]), nsec_set("b.example.", "example.", &[Rtype::A]));
    cache.nsec.insert(&name("example."), &example, &[apex, b], 900, t0);
    cache
}

/// An NSEC RRset at `owner` pointing to `next`, listing `types` (and NSEC, RRSIG).
fn nsec_set(owner: &str, next: &str, types: &[Rtype]) -> Rrset {
    let mut rdata = name(next).as_wire().to_vec();
    rdata.extend(portcullis_dnssec::bitmap::encode(types.iter().copied().chain([Rtype::NSEC, Rtype::RRSIG])));
    set(owner, Rtype::NSEC, 900, &[&rdata], &[b"nsec-sig"])
}

const QUESTIONS: [(&str, Rtype); 6] = [
    ("www.example.", Rtype::A),
    ("bad.example.", Rtype::A),
    ("x.wild.example.", Rtype::TXT),
    ("nx.example.", Rtype::A),
    ("www.example.", Rtype::MX),
    ("glue.example.", Rtype::A),
];

#[test]
fn export_then_import_gives_the_same_answers_with_ttls_counting_on() {
    let old = filled();
    let stream = export(&old, Instant::from_secs(10));
    // The new process's clock has another origin: its `now` is 0 when the old one's is 10 s.
    let new = small(3);
    let stats = import_all(&new, &stream, Instant::ZERO).unwrap();
    assert_eq!((stats.loaded, stats.announced), (6, Some(6)), "{stats:?}");
    assert_eq!(new.len(), old.len());
    for (qname, qtype) in QUESTIONS {
        let before = answer(&old, qname, qtype, Instant::from_secs(15));
        let after = answer(&new, qname, qtype, Instant::from_secs(5));
        assert_eq!(before, after, "{qname} {qtype:?}");
        let old_get = old.get(&name(qname), qtype, Class::IN, Instant::from_secs(15), false);
        assert_eq!(old_get, new.get(&name(qname), qtype, Class::IN, Instant::from_secs(5), false), "{qname} {qtype:?}");
    }
    let Some(Cached::Positive(rrset, hit)) = new.get(&name("www.example."), Rtype::A, Class::IN, Instant::from_secs(5), false) else { panic!("no www") };
    assert_eq!((rrset.ttl, hit.ttl, hit.security), (285, 285, Security::Secure), "300 s at 0, exported at 10 s, asked 5 s later: 285 s left, not reset");
}

#[test]
fn the_proven_nsec_ranges_go_over_too() {
    let old = filled();
    let at_old = Instant::from_secs(100);
    let denial = old.nsec.synthesise(&name("a.example."), Rtype::A, at_old);
    assert_eq!(denial.as_ref().map(|d| d.rcode), Some(Rcode::NXDOMAIN), "{denial:?}");
    let new = small(2);
    let stats = import_all(&new, &export(&old, Instant::from_secs(90)), Instant::ZERO).unwrap();
    assert_eq!((stats.nsec, new.nsec.len()), (2, 2), "{stats:?}");
    assert_eq!(new.nsec.synthesise(&name("a.example."), Rtype::A, Instant::from_secs(10)), denial, "the same denial, the same TTLs");
    assert!(new.nsec.synthesise(&name("a.example."), Rtype::A, Instant::from_secs(810)).is_none(), "900 s from 0, exported at 90 s: gone at 810 s");
}

#[test]
fn a_bogus_entry_stays_bogus_and_short_lived() {
    let stream = export(&filled(), Instant::ZERO);
    let new = small(2);
    import_all(&new, &stream, Instant::ZERO).unwrap();
    let (_, hit) = answer(&new, "bad.example.", Rtype::A, Instant::from_secs(1)).unwrap();
    assert_eq!((hit.security, hit.ede), (Security::Bogus, 6));
    let Some(Cached::Positive(_, hit)) = new.get(&name("bad.example."), Rtype::A, Class::IN, Instant::ZERO, false) else { panic!() };
    assert!(hit.ttl <= BOGUS_TTL, "{hit:?}");
    assert!(new.get(&name("bad.example."), Rtype::A, Class::IN, Instant::from_secs(u64::from(BOGUS_TTL)), false).is_none());
}

#[test]
fn the_importer_keeps_to_its_own_limits() {
    let stream = export(&filled(), Instant::ZERO);
    let tiny = Cache::new(CacheSettings { shards: 1, max_entries: 3, max_ttl: 100, max_negative_ttl: 50, ..CacheSettings::DEFAULT });
    let stats = import_all(&tiny, &stream, Instant::ZERO).unwrap();
    assert_eq!((stats.loaded, stats.full), (3, 3), "{stats:?}");
    assert_eq!(tiny.len(), 3);
    for (qname, qtype) in QUESTIONS {
        if let Some(cached) = tiny.get(&name(qname), qtype, Class::IN, Instant::ZERO, false) {
            let (Cached::Positive(_, hit) | Cached::NxDomain(_, hit) | Cached::NoData(_, hit)) = cached;
            assert!(hit.ttl <= 100, "{qname}: {hit:?}");
        }
    }
    let few = Cache::new(CacheSettings { shards: 1, max_rrs_per_rrset: 1, ..CacheSettings::DEFAULT });
    assert_eq!(import_all(&few, &stream, Instant::ZERO).unwrap().refused, 1, "the two-record RRset");
}

#[test]
fn expired_entries_are_not_handed_over() {
    let stream = export(&filled(), Instant::from_secs(400));
    let new = small(2);
    let stats = import_all(&new, &stream, Instant::ZERO).unwrap();
    assert_eq!(stats.loaded, 3, "the 600 s and 3600 s entries: {stats:?}");
}

#[test]
fn a_cut_stream_keeps_what_came_before_the_cut() {
    let stream = export(&filled(), Instant::ZERO);
    let mut previous = 0;
    for cut in 0..stream.len() {
        let new = small(2);
        let (stats, error) = import_all(&new, &stream[..cut], Instant::ZERO).unwrap_err();
        assert_eq!(error, ImportError::Truncated, "cut at {cut}");
        assert_eq!(stats.loaded as usize, new.len());
        assert!(stats.loaded >= previous, "more input never loads less");
        previous = stats.loaded;
    }
    assert_eq!(previous, 6, "the end frame alone missing: everything loaded");
}

#[test]
fn damage_anywhere_stops_the_import_without_a_panic() {
    let stream = export(&filled(), Instant::ZERO);
    for at in 0..stream.len() {
        let mut damaged = stream.clone();
        damaged[at] ^= 0x41;
        let new = small(2);
        let (stats, error) = import_all(&new, &damaged, Instant::ZERO).unwrap_err();
        let expected = match at {
            _ if at < MAGIC.len() => ImportError::NotACacheStream,
            _ if at < MAGIC.len() + 2 => ImportError::Version(FORMAT_VERSION ^ if at == MAGIC.len() { 0x4100 } else { 0x41 }),
            _ => error.clone(),
        };
        assert_eq!(error, expected, "damage at {at}");
        // A length made longer waits for bytes that never come: cut short.
        assert!(
            matches!(
                error,
                ImportError::NotACacheStream | ImportError::Version(_) | ImportError::Checksum | ImportError::Malformed(_) | ImportError::Truncated
            ),
            "at {at}: {error:?}"
        );
        assert!(stats.loaded <= 6 && new.len() as u64 == stats.loaded && stats.announced.is_none(), "at {at}: {stats:?}");
    }
}

#[test]
fn another_format_version_is_refused_whole() {
    let mut stream = export(&filled(), Instant::ZERO);
    stream[MAGIC.len()..MAGIC.len() + 2].copy_from_slice(&2u16.to_be_bytes());
    let new = small(2);
    assert_eq!(import_all(&new, &stream, Instant::ZERO), Err((Default::default(), ImportError::Version(2))));
    assert!(new.is_empty());
    let mut import = Import::new();
    assert_eq!(import.feed(&new, b"portcullis-", Instant::ZERO), Ok(()), "a prefix of the magic waits for more");
    assert_eq!(import.feed(&new, b"zzzzz", Instant::ZERO), Err(ImportError::NotACacheStream));
    assert_eq!(import.feed(&new, b"", Instant::ZERO), Err(ImportError::NotACacheStream), "stays failed");
}

/// One random entry: (owner index, type index, kind, TTL, trust, security).
fn entries() -> impl Strategy<Value = Vec<(u8, u8, u8, u32, u8, u8)>> {
    proptest::collection::vec((0u8..12, 0u8..4, 0u8..3, 1u32..5000, 1u8..7, 0u8..4), 0..60)
}

const TYPES: [Rtype; 4] = [Rtype::A, Rtype::AAAA, Rtype::TXT, Rtype::MX];
const SECURITY: [Security; 4] = [Security::Indeterminate, Security::Bogus, Security::Insecure, Security::Secure];
const TRUST: [Trust; 6] = [Trust::Glue, Trust::Additional, Trust::Authority, Trust::Answer, Trust::AuthAuthority, Trust::AuthAnswer];

fn fill(cache: &Cache, entries: &[(u8, u8, u8, u32, u8, u8)]) {
    for &(owner, rtype, kind, ttl, trust, security) in entries {
        let owner = format!("n{owner}.Example.");
        let (rtype, trust, security) = (TYPES[usize::from(rtype)], TRUST[usize::from(trust - 1)], SECURITY[usize::from(security)]);
        let checked = (security, if security == Security::Bogus { 9 } else { 0 });
        let rdata = [owner.len() as u8, ttl as u8, 1, 2];
        match kind {
            0 => cache.insert_checked(&set(&owner, rtype, ttl, &[&rdata, &[9; 4]], &[b"sig"]), trust, checked, Instant::ZERO),
            1 => cache.insert_denial(&name(&owner), Some(rtype), Class::IN, (Some(&soa("example.", ttl)), &[]), trust, checked, Instant::ZERO),
            _ => {
                let proof = set(&owner, Rtype::NSEC, ttl, &[b"next"], &[b"nsec-sig"]);
                cache.insert_denial(&name(&owner), None, Class::IN, (Some(&soa("example.", ttl)), &[proof]), trust, checked, Instant::ZERO)
            }
        };
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn export_then_import_answers_every_question_alike(entries in entries(), split in 1usize..200, later in 0u64..6000, exported in 0u64..3000) {
        let old = small(4);
        fill(&old, &entries);
        let stream = export(&old, Instant::from_secs(exported));
        let new = small(3);
        let mut import = Import::new();
        for piece in stream.chunks(split) {
            import.feed(&new, piece, Instant::ZERO).unwrap();
        }
        let stats = import.finish().unwrap();
        prop_assert_eq!(stats.announced, Some(stats.loaded));
        for owner in 0..12 {
            for rtype in TYPES {
                let qname = format!("n{owner}.example.");
                let (at_old, at_new) = (Instant::from_secs(exported + later), Instant::from_secs(later));
                prop_assert_eq!(answer(&old, &qname, rtype, at_old), answer(&new, &qname, rtype, at_new), "{} {:?}", qname, rtype);
                prop_assert_eq!(old.get(&name(&qname), rtype, Class::IN, at_old, false), new.get(&name(&qname), rtype, Class::IN, at_new, false));
            }
        }
    }
}

/// Each entry (kind 0) and NSEC (kind 1) payload of `stream` behind its kind and 2-byte
/// length: what the fuzz body frames again.
fn payloads(stream: &[u8]) -> Vec<u8> {
    let (mut payloads, mut at) = (Vec::new(), MAGIC.len() + 2);
    while at + 5 < stream.len() {
        let len = u32::from_be_bytes(stream[at + 1..at + 5].try_into().unwrap()) as usize;
        if stream[at] != 2 {
            payloads.push(stream[at] / 3);
            payloads.extend_from_slice(&(len as u16).to_be_bytes());
            payloads.extend_from_slice(&stream[at + 5..at + 5 + len]);
        }
        at += 5 + len + 8;
    }
    payloads
}

/// Writes the seed corpus of the `cache_import` fuzz target (`fuzz/corpus/cache_import/`):
/// `cargo test -p portcullis-engine --lib write_cache_import_seeds -- --ignored`.
#[test]
#[ignore = "writes files: run by hand when the format changes"]
fn write_cache_import_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/cache_import");
    std::fs::create_dir_all(&dir).unwrap();
    let stream = export(&filled(), Instant::ZERO);
    let payloads = payloads(&stream);
    let mut damaged = stream.clone();
    damaged[40] ^= 1;
    let mut version = stream.clone();
    version[MAGIC.len() + 1] = 9;
    let seeds: [(&str, Vec<u8>); 10] = [
        ("stream", stream.clone()),
        ("stream-cut", stream[..stream.len() / 2].to_vec()),
        ("stream-no-end", stream[..stream.len() - 21].to_vec()),
        ("damaged", damaged),
        ("version", version),
        ("magic-only", MAGIC.to_vec()),
        ("empty", Vec::new()),
        ("payloads", payloads.clone()),
        ("payloads-cut", payloads[..payloads.len() / 3].to_vec()),
        ("empty-cache", export(&small(1), Instant::ZERO)),
    ];
    for (file, bytes) in seeds {
        std::fs::write(dir.join(file), bytes).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The fuzz body on random bytes and on the seed payloads with random bytes changed.
    #[test]
    fn the_importer_takes_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6)) {
        crate::fuzz::cache_import(&bytes);
        let mut mutated = payloads(&export(&filled(), Instant::ZERO));
        for (at, value) in flips {
            let len = mutated.len();
            mutated[at % len] = value;
        }
        crate::fuzz::cache_import(&mutated);
    }
}
