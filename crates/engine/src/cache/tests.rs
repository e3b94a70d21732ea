//! Unit tests of the cache: keys, credibility, TTLs, negative entries, limits, eviction,
//! prefetch, serve-stale, failures and the allocation-free answer writer.

use super::*;
use portcullis_wire::message::Message;

fn name(text: &str) -> NameBuf {
    NameBuf::from_text(text, None).unwrap()
}

fn a_set(owner: &str, ttl: u32, count: usize) -> Rrset {
    let mut rrset = Rrset::new(name(owner), Rtype::A, Class::IN, ttl);
    for index in 0..count {
        rrset.push(ttl, &[192, 0, (index >> 8) as u8, index as u8]);
    }
    rrset
}

fn soa(owner: &str, ttl: u32, minimum: u32) -> Rrset {
    let mut rdata = name("ns.example.").as_wire().to_vec();
    rdata.extend_from_slice(name("host.example.").as_wire());
    for value in [1u32, 3600, 600, 86_400, minimum] {
        rdata.extend_from_slice(&value.to_be_bytes());
    }
    let mut rrset = Rrset::new(name(owner), Rtype::SOA, Class::IN, ttl);
    rrset.push(ttl, &rdata);
    rrset
}

fn cache() -> Cache {
    Cache::new(CacheSettings { shards: 4, ..CacheSettings::DEFAULT })
}

fn positive(cached: Option<Cached>) -> (Rrset, Hit) {
    match cached {
        Some(Cached::Positive(rrset, hit)) => (rrset, hit),
        other => panic!("expected a positive entry, got {other:?}"),
    }
}

fn question(qname: &str, qtype: Rtype) -> Question {
    Question { qname: name(qname), qtype, qclass: Class::IN }
}

#[test]
fn keys_ignore_case_and_ttl_counts_down() {
    let cache = cache();
    assert_eq!(cache.insert_rrset(&a_set("WWW.Example.", 300, 2), Trust::AuthAnswer, Instant::ZERO), InsertOutcome::Stored);
    let (rrset, hit) = positive(cache.get(&name("www.EXAMPLE."), Rtype::A, Class::IN, Instant::from_secs(100), false));
    assert_eq!((rrset.rdatas.len(), hit.ttl, hit.prefetch), (2, 200, false));
    assert_eq!(rrset.owner.as_wire(), name("www.example.").as_wire());
    assert!(cache.get(&name("www.example."), Rtype::A, Class::IN, Instant::from_secs(300), false).is_none());
    assert!(cache.get(&name("www.example."), Rtype::AAAA, Class::IN, Instant::ZERO, false).is_none());
}

#[test]
fn rfc2181_5_4_1_lower_trust_never_replaces_higher() {
    let cache = cache();
    cache.insert_rrset(&a_set("ns.example.", 300, 1), Trust::AuthAnswer, Instant::ZERO);
    let mut glue = a_set("ns.example.", 300, 1);
    glue.rdatas[0] = vec![6, 6, 6, 6];
    assert_eq!(cache.insert_rrset(&glue, Trust::Glue, Instant::ZERO), InsertOutcome::KeptHigherTrust);
    let (rrset, hit) = positive(cache.get(&name("ns.example."), Rtype::A, Class::IN, Instant::ZERO, false));
    assert_eq!((rrset.rdatas[0].as_slice(), hit.trust), (&[192, 0, 0, 0][..], Trust::AuthAnswer));
    // Once expired, anything may replace it; equal or higher trust always may.
    assert_eq!(cache.insert_rrset(&glue, Trust::Glue, Instant::from_secs(300)), InsertOutcome::Stored);
    assert_eq!(cache.insert_rrset(&a_set("ns.example.", 300, 3), Trust::Answer, Instant::from_secs(300)), InsertOutcome::Stored);
}

#[test]
fn ttls_are_clamped() {
    let cache = Cache::new(CacheSettings { min_ttl: 60, max_ttl: 1000, ..CacheSettings::DEFAULT });
    cache.insert_rrset(&a_set("low.example.", 5, 1), Trust::AuthAnswer, Instant::ZERO);
    cache.insert_rrset(&a_set("high.example.", 1_000_000, 1), Trust::AuthAnswer, Instant::ZERO);
    assert_eq!(positive(cache.get(&name("low.example."), Rtype::A, Class::IN, Instant::ZERO, false)).1.ttl, 60);
    assert_eq!(positive(cache.get(&name("high.example."), Rtype::A, Class::IN, Instant::ZERO, false)).1.ttl, 1000);
}

#[test]
fn rfc2308_negative_entries_use_soa_minimum() {
    let cache = cache();
    let soa = soa("example.", 3600, 300);
    assert_eq!(cache.insert_negative(&name("nx.example."), None, Class::IN, Some(&soa), Trust::AuthAuthority, Instant::ZERO), InsertOutcome::Stored);
    cache.insert_negative(&name("www.example."), Some(Rtype::AAAA), Class::IN, Some(&soa), Trust::AuthAuthority, Instant::ZERO);
    match cache.get(&name("NX.example."), Rtype::MX, Class::IN, Instant::from_secs(100), false) {
        Some(Cached::NxDomain(Some(soa), hit)) => assert_eq!((soa.owner, hit.ttl), (name("example."), 200)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(cache.get(&name("www.example."), Rtype::AAAA, Class::IN, Instant::ZERO, false), Some(Cached::NoData(Some(_), _))));
    assert!(cache.get(&name("www.example."), Rtype::AAAA, Class::IN, Instant::from_secs(300), false).is_none());
    assert_eq!(cache.insert_negative(&name("x.example."), None, Class::IN, None, Trust::AuthAuthority, Instant::ZERO), InsertOutcome::NoSoa);
    // Negative TTLs are capped at max_negative_ttl (3600).
    cache.insert_negative(&name("long.example."), None, Class::IN, Some(&soa_with(86_400)), Trust::AuthAuthority, Instant::ZERO);
    assert!(cache.get(&name("long.example."), Rtype::A, Class::IN, Instant::from_secs(3599), false).is_some());
    assert!(cache.get(&name("long.example."), Rtype::A, Class::IN, Instant::from_secs(3600), false).is_none());
}

fn soa_with(ttl: u32) -> Rrset {
    soa("example.", ttl, ttl)
}

#[test]
fn positive_data_replaces_an_nxdomain_entry() {
    let cache = cache();
    cache.insert_negative(&name("new.example."), None, Class::IN, Some(&soa("example.", 300, 300)), Trust::AuthAuthority, Instant::ZERO);
    cache.insert_rrset(&a_set("new.example.", 300, 1), Trust::AuthAnswer, Instant::ZERO);
    assert!(cache.get(&name("new.example."), Rtype::MX, Class::IN, Instant::ZERO, false).is_none());
}

#[test]
fn security_reference_7_rrset_and_type_limits() {
    let cache = cache();
    assert_eq!(cache.insert_rrset(&a_set("big.example.", 300, 101), Trust::AuthAnswer, Instant::ZERO), InsertOutcome::TooManyRecords);
    assert_eq!(cache.insert_rrset(&a_set("big.example.", 300, 100), Trust::AuthAnswer, Instant::ZERO), InsertOutcome::Stored);
    for rtype in 1000..1099u16 {
        let mut rrset = Rrset::new(name("types.example."), Rtype(rtype), Class::IN, 300);
        rrset.push(300, &[1]);
        assert_eq!(cache.insert_rrset(&rrset, Trust::AuthAnswer, Instant::ZERO), InsertOutcome::Stored);
    }
    let mut rrset = Rrset::new(name("types.example."), Rtype(2000), Class::IN, 300);
    rrset.push(300, &[1]);
    assert_eq!(cache.insert_rrset(&rrset, Trust::AuthAnswer, Instant::ZERO), InsertOutcome::Stored);
    rrset.rtype = Rtype(2001);
    assert_eq!(cache.insert_rrset(&rrset, Trust::AuthAnswer, Instant::ZERO), InsertOutcome::TooManyTypes);
    // Replacing an existing type is still allowed.
    rrset.rtype = Rtype(1000);
    assert_eq!(cache.insert_rrset(&rrset, Trust::AuthAnswer, Instant::ZERO), InsertOutcome::Stored);
}

#[test]
fn least_recently_used_is_evicted_first() {
    let cache = Cache::new(CacheSettings { shards: 1, max_entries: 3, ..CacheSettings::DEFAULT });
    for owner in ["a.example.", "b.example.", "c.example."] {
        cache.insert_rrset(&a_set(owner, 300, 1), Trust::AuthAnswer, Instant::ZERO);
    }
    assert!(cache.get(&name("a.example."), Rtype::A, Class::IN, Instant::ZERO, false).is_some());
    cache.insert_rrset(&a_set("d.example.", 300, 1), Trust::AuthAnswer, Instant::ZERO);
    assert_eq!(cache.len(), 3);
    assert!(cache.get(&name("b.example."), Rtype::A, Class::IN, Instant::ZERO, false).is_none());
    for owner in ["a.example.", "c.example.", "d.example."] {
        assert!(cache.get(&name(owner), Rtype::A, Class::IN, Instant::ZERO, false).is_some(), "{owner}");
    }
    assert_eq!(cache.counters.evictions.load(Ordering::Relaxed), 1);
}

#[test]
fn when_every_entry_was_used_the_oldest_goes_after_one_pass() {
    let cache = Cache::new(CacheSettings { shards: 1, max_entries: 3, ..CacheSettings::DEFAULT });
    for owner in ["a.example.", "b.example.", "c.example."] {
        cache.insert_rrset(&a_set(owner, 300, 1), Trust::AuthAnswer, Instant::ZERO);
    }
    for owner in ["c.example.", "a.example.", "b.example."] {
        assert!(cache.get(&name(owner), Rtype::A, Class::IN, Instant::ZERO, false).is_some(), "{owner}");
    }
    cache.insert_rrset(&a_set("d.example.", 300, 1), Trust::AuthAnswer, Instant::ZERO);
    assert_eq!(cache.len(), 3);
    assert_eq!(cache.counters.evictions.load(Ordering::Relaxed), 1);
    assert!(cache.get(&name("a.example."), Rtype::A, Class::IN, Instant::ZERO, false).is_none(), "the first stored");
    // The marks were cleared by that pass: the next eviction takes the tail at once.
    cache.insert_rrset(&a_set("e.example.", 300, 1), Trust::AuthAnswer, Instant::ZERO);
    assert!(cache.get(&name("b.example."), Rtype::A, Class::IN, Instant::ZERO, false).is_none());
    assert_eq!(cache.counters.evictions.load(Ordering::Relaxed), 2);
}

#[test]
fn byte_budget_is_kept() {
    let cache = Cache::new(CacheSettings { shards: 2, max_bytes: 64 << 10, ..CacheSettings::DEFAULT });
    for index in 0..2000 {
        cache.insert_rrset(&a_set(&format!("host{index}.example."), 300, 50), Trust::AuthAnswer, Instant::ZERO);
    }
    assert!(cache.bytes() <= 64 << 10, "{}", cache.bytes());
    assert!(cache.len() > 10 && cache.len() < 2000);
}

#[test]
fn prefetch_below_ten_percent() {
    let cache = cache();
    cache.insert_rrset(&a_set("p.example.", 100, 1), Trust::AuthAnswer, Instant::ZERO);
    assert!(!positive(cache.get(&name("p.example."), Rtype::A, Class::IN, Instant::from_secs(90), false)).1.prefetch);
    assert!(positive(cache.get(&name("p.example."), Rtype::A, Class::IN, Instant::from_secs(91), false)).1.prefetch);
}

#[test]
fn rfc8767_stale_only_when_enabled_and_asked() {
    let stale_on = Cache::new(CacheSettings { serve_stale: true, stale_retain_secs: 1000, ..CacheSettings::DEFAULT });
    let stale_off = cache();
    for cache in [&stale_on, &stale_off] {
        cache.insert_rrset(&a_set("s.example.", 60, 1), Trust::AuthAnswer, Instant::ZERO);
    }
    let late = Instant::from_secs(500);
    assert!(stale_on.get(&name("s.example."), Rtype::A, Class::IN, late, false).is_none());
    assert!(stale_off.get(&name("s.example."), Rtype::A, Class::IN, late, true).is_none());
    let (_, hit) = positive(stale_on.get(&name("s.example."), Rtype::A, Class::IN, late, true));
    assert_eq!((hit.stale, hit.ttl), (true, 30));
    assert!(stale_on.get(&name("s.example."), Rtype::A, Class::IN, Instant::from_secs(1060), true).is_none());
}

#[test]
fn rfc9520_failures_back_off_to_five_minutes() {
    let cache = cache();
    let (owner, mut now) = (name("fail.example."), Instant::ZERO);
    let mut holds = Vec::new();
    for _ in 0..8 {
        let hold = cache.record_failure(&owner, Rtype::A, Class::IN, now);
        assert!(cache.failed(&owner, Rtype::A, Class::IN, now));
        now = now.plus_secs(u64::from(hold));
        assert!(!cache.failed(&owner, Rtype::A, Class::IN, now));
        holds.push(hold);
    }
    assert_eq!(holds, [5, 10, 20, 40, 80, 160, 300, 300]);
    cache.clear_failure(&owner, Rtype::A, Class::IN);
    assert_eq!(cache.record_failure(&owner, Rtype::A, Class::IN, now), 5);
}

#[test]
fn write_answer_follows_cname_and_decrements_ttl() {
    let cache = cache();
    let mut cname = Rrset::new(name("www.example."), Rtype::CNAME, Class::IN, 300);
    cname.push(300, name("web.example.").as_wire());
    cache.insert_rrset(&cname, Trust::AuthAnswer, Instant::ZERO);
    cache.insert_rrset(&a_set("web.example.", 100, 2), Trust::AuthAnswer, Instant::ZERO);
    let mut buf = [0u8; 512];
    let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
    writer.push_question(&name("WWW.example."), Rtype::A, Class::IN).unwrap();
    let hit = cache.write_answer(&question("WWW.example.", Rtype::A), Instant::from_secs(40), false, &mut writer).unwrap();
    assert_eq!((hit.rcode, hit.truncated), (Rcode::NOERROR, false));
    let len = writer.finish();
    let message = Message::parse(&buf[..len]).unwrap();
    let answers: Vec<_> = message.records(Section::Answer).map(|r| (r.owner.to_string(), r.rtype, r.ttl)).collect();
    assert_eq!(answers, [("WWW.example.".into(), Rtype::CNAME, 260), ("web.example.".into(), Rtype::A, 60), ("web.example.".into(), Rtype::A, 60)]);
}

#[test]
fn write_answer_puts_the_dname_before_the_cname_it_synthesised() {
    // RFC 6672 §3.4: DNAME dn.example. -> other.example., the synthesised CNAME, the data.
    let cache = cache();
    let mut dname = Rrset::new(name("dn.example."), Rtype::DNAME, Class::IN, 300);
    dname.push(300, name("other.example.").as_wire());
    let mut cname = Rrset::new(name("www.dn.example."), Rtype::CNAME, Class::IN, 300);
    cname.push(300, name("www.other.example.").as_wire());
    let mut unrelated = Rrset::new(name("mail.dn.example."), Rtype::CNAME, Class::IN, 300);
    unrelated.push(300, name("www.other.example.").as_wire());
    for set in [&dname, &cname, &unrelated, &a_set("www.other.example.", 300, 1)] {
        cache.insert_rrset(set, Trust::Answer, Instant::ZERO);
    }
    let answers = |qname: &str| {
        let mut buf = [0u8; 512];
        let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
        writer.push_question(&name(qname), Rtype::A, Class::IN).unwrap();
        cache.write_answer(&question(qname, Rtype::A), Instant::ZERO, false, &mut writer).unwrap();
        let len = writer.finish();
        let message = Message::parse(&buf[..len]).unwrap();
        message.records(Section::Answer).map(|r| (r.owner.to_string(), r.rtype)).collect::<Vec<_>>()
    };
    let expected = [("dn.example.".to_string(), Rtype::DNAME), ("www.dn.example.".into(), Rtype::CNAME), ("www.other.example.".into(), Rtype::A)];
    assert_eq!(answers("www.dn.example."), expected);
    // A CNAME the DNAME does not give (mail -> www) is written alone.
    assert_eq!(answers("mail.dn.example.").iter().filter(|(_, rtype)| *rtype == Rtype::DNAME).count(), 0);
}

#[test]
fn nodata_for_type_cname_does_not_answer_other_types() {
    let cache = cache();
    cache.insert_negative(&name("plain.example."), Some(Rtype::CNAME), Class::IN, Some(&soa("example.", 300, 60)), Trust::AuthAuthority, Instant::ZERO);
    let mut buf = [0u8; 512];
    let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
    writer.push_question(&name("plain.example."), Rtype::A, Class::IN).unwrap();
    assert!(cache.write_answer(&question("plain.example.", Rtype::A), Instant::ZERO, false, &mut writer).is_none());
    assert!(cache.write_answer(&question("plain.example.", Rtype::CNAME), Instant::ZERO, false, &mut writer).is_some());
}

#[test]
fn write_answer_negative_and_miss() {
    let cache = cache();
    cache.insert_negative(&name("nx.example."), None, Class::IN, Some(&soa("example.", 300, 300)), Trust::AuthAuthority, Instant::ZERO);
    let mut buf = [0u8; 512];
    let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
    writer.push_question(&name("nx.example."), Rtype::A, Class::IN).unwrap();
    let hit = cache.write_answer(&question("nx.example.", Rtype::A), Instant::ZERO, false, &mut writer).unwrap();
    assert_eq!(hit.rcode, Rcode::NXDOMAIN);
    assert_eq!(writer.count(Section::Authority), 1);
    let before = writer.len();
    assert!(cache.write_answer(&question("other.example.", Rtype::A), Instant::ZERO, false, &mut writer).is_none());
    assert_eq!(writer.len(), before);
}

#[test]
fn glue_is_never_written_to_clients() {
    let cache = cache();
    cache.insert_rrset(&a_set("ns.example.", 300, 1), Trust::Glue, Instant::ZERO);
    let mut buf = [0u8; 512];
    let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
    assert!(cache.write_answer(&question("ns.example.", Rtype::A), Instant::ZERO, false, &mut writer).is_none());
    assert!(cache.get(&name("ns.example."), Rtype::A, Class::IN, Instant::ZERO, false).is_some());
}

#[test]
fn cname_loop_in_cache_is_bounded() {
    let cache = cache();
    for (from, to) in [("a.example.", "b.example."), ("b.example.", "a.example.")] {
        let mut cname = Rrset::new(name(from), Rtype::CNAME, Class::IN, 300);
        cname.push(300, name(to).as_wire());
        cache.insert_rrset(&cname, Trust::AuthAnswer, Instant::ZERO);
    }
    let mut buf = [0u8; 4096];
    let mut writer = MessageWriter::new(&mut buf, 4096).unwrap();
    assert!(cache.write_answer(&question("a.example.", Rtype::A), Instant::ZERO, false, &mut writer).is_none());
    assert!(writer.is_empty());
}

#[test]
fn truncation_is_reported() {
    let cache = cache();
    cache.insert_rrset(&a_set("many.example.", 300, 100), Trust::AuthAnswer, Instant::ZERO);
    let mut buf = [0u8; 512];
    let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
    writer.push_question(&name("many.example."), Rtype::A, Class::IN).unwrap();
    let hit = cache.write_answer(&question("many.example.", Rtype::A), Instant::ZERO, false, &mut writer).unwrap();
    assert!(hit.truncated);
    assert_eq!(writer.count(Section::Answer), 0);
}

#[test]
fn removals_keep_the_other_entries_reachable() {
    // Backward-shift deletion in the shard table: after removing every third entry (and after the
    // table grew several times), every other entry is still found, and removed ones are not.
    let cache = Cache::new(CacheSettings { shards: 1, ..CacheSettings::DEFAULT });
    let owner = |index: usize| name(&format!("h{index}.Example."));
    for index in 0..600 {
        for rtype in [Rtype::A, Rtype::AAAA] {
            let mut rrset = a_set("x.", 300, 1);
            (rrset.owner, rrset.rtype) = (owner(index), rtype);
            assert_eq!(cache.insert_rrset(&rrset, Trust::AuthAnswer, Instant::ZERO), InsertOutcome::Stored);
        }
    }
    for index in (0..600).step_by(3) {
        assert!(cache.remove(&owner(index), Rtype::A, Class::IN));
    }
    assert_eq!(cache.len(), 1000);
    for index in 0..600 {
        let found = cache.get(&owner(index), Rtype::A, Class::IN, Instant::ZERO, false).is_some();
        assert_eq!(found, index % 3 != 0, "{index}");
        assert!(cache.get(&owner(index), Rtype::AAAA, Class::IN, Instant::ZERO, false).is_some(), "{index}");
    }
}

/// The records of `section` in a message written by the cache: (owner, type).
fn written(buf: &[u8], section: Section) -> Vec<(String, Rtype)> {
    let message = Message::parse(buf).unwrap();
    message.records(section).map(|r| (r.owner.to_string(), r.rtype)).collect()
}

#[test]
fn rrsigs_and_the_validation_status_travel_with_cached_data() {
    let cache = cache();
    let mut www = a_set("www.example.", 300, 1);
    www.sigs.push(vec![0, 1, 13, 2, 0, 0, 1, 44, 0, 0, 0, 9, 0, 0, 0, 1, 0, 7, 0]);
    cache.insert_checked(&www, Trust::AuthAnswer, (Security::Secure, 0), Instant::ZERO);
    let (set, hit) = positive(cache.get(&name("www.example."), Rtype::A, Class::IN, Instant::ZERO, false));
    assert_eq!((set.sigs.len(), hit.security), (1, Security::Secure));
    for (dnssec_ok, expected) in
        [(false, vec![("www.example.".to_string(), Rtype::A)]), (true, vec![("www.example.".into(), Rtype::A), ("www.example.".into(), Rtype::RRSIG)])]
    {
        let mut buf = [0u8; 512];
        let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
        writer.push_question(&name("www.example."), Rtype::A, Class::IN).unwrap();
        let hit = cache.write_answer_dnssec(&question("www.example.", Rtype::A), Instant::ZERO, false, dnssec_ok, &mut writer).unwrap();
        assert_eq!(hit.security, Security::Secure);
        let len = writer.finish();
        assert_eq!(written(&buf[..len], Section::Answer), expected, "DO={dnssec_ok}");
    }
}

#[test]
fn bogus_data_is_kept_briefly_and_never_replaces_secure_data() {
    let cache = cache();
    let www = a_set("www.example.", 3600, 1);
    cache.insert_checked(&www, Trust::AuthAnswer, (Security::Secure, 0), Instant::ZERO);
    let forged = a_set("www.example.", 3600, 2);
    assert_eq!(cache.insert_checked(&forged, Trust::AuthAnswer, (Security::Bogus, 6), Instant::ZERO), InsertOutcome::KeptHigherTrust);
    assert_eq!(positive(cache.get(&name("www.example."), Rtype::A, Class::IN, Instant::ZERO, false)).0.rdatas.len(), 1);
    cache.insert_checked(&a_set("bad.example.", 3600, 1), Trust::AuthAnswer, (Security::Bogus, 7), Instant::ZERO);
    let (_, hit) = positive(cache.get(&name("bad.example."), Rtype::A, Class::IN, Instant::ZERO, false));
    assert_eq!((hit.security, hit.ede, hit.ttl), (Security::Bogus, 7, BOGUS_TTL));
    // A validation result lands on the entry it was about, and only on the same data.
    cache.insert_rrset(&a_set("new.example.", 3600, 1), Trust::AuthAnswer, Instant::ZERO);
    cache.set_security(&name("new.example."), Some(Rtype::A), Class::IN, Some(&forged.rdatas), (Security::Secure, 0), 3600, Instant::ZERO);
    assert_eq!(positive(cache.get(&name("new.example."), Rtype::A, Class::IN, Instant::ZERO, false)).1.security, Security::Indeterminate);
    cache.set_security(&name("new.example."), Some(Rtype::A), Class::IN, Some(&www.rdatas), (Security::Secure, 0), 100, Instant::ZERO);
    let (_, hit) = positive(cache.get(&name("new.example."), Rtype::A, Class::IN, Instant::ZERO, false));
    assert_eq!((hit.security, hit.ttl), (Security::Secure, 100), "the RRSIG's limit shortens the TTL");
}

#[test]
fn a_denial_keeps_its_proofs_for_do_queries() {
    let cache = cache();
    let mut soa = soa("example.", 3600, 300);
    soa.sigs.push(vec![0, 6, 13, 1, 0, 0, 14, 16, 0, 0, 0, 9, 0, 0, 0, 1, 0, 7, 0]);
    let mut nsec = Rrset::new(name("a.example."), Rtype::NSEC, Class::IN, 300);
    let mut rdata = name("c.example.").as_wire().to_vec();
    rdata.extend_from_slice(&[0, 1, 0x40]);
    nsec.push(300, &rdata);
    nsec.sigs.push(vec![0, 47, 13, 2, 0, 0, 1, 44, 0, 0, 0, 9, 0, 0, 0, 1, 0, 7, 0]);
    let denial = (Some(&soa), std::slice::from_ref(&nsec));
    cache.insert_denial(&name("b.example."), None, Class::IN, denial, Trust::AuthAuthority, (Security::Secure, 0), Instant::ZERO);
    let (sigs, proofs) = cache.denial_proofs(&name("b.example."), None, Class::IN, Instant::ZERO);
    assert_eq!((sigs, proofs.len(), proofs[0].rdatas.clone(), proofs[0].sigs.len()), (soa.sigs.clone(), 1, nsec.rdatas.clone(), 1));
    for (dnssec_ok, count) in [(false, 1), (true, 4)] {
        let mut buf = [0u8; 512];
        let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
        writer.push_question(&name("b.example."), Rtype::A, Class::IN).unwrap();
        let hit = cache.write_answer_dnssec(&question("b.example.", Rtype::A), Instant::ZERO, false, dnssec_ok, &mut writer).unwrap();
        assert_eq!((hit.rcode, hit.security), (Rcode::NXDOMAIN, Security::Secure));
        let len = writer.finish();
        let authority = written(&buf[..len], Section::Authority);
        assert_eq!(authority.len(), count, "DO={dnssec_ok}: {authority:?}");
        assert_eq!(authority[0], ("example.".to_string(), Rtype::SOA));
    }
}

#[test]
fn a_wildcard_expansion_keeps_its_proof_for_do_queries() {
    let cache = cache();
    // x.w.example. A, expanded from *.w.example. (the RRSIG's labels field, 2, is below the
    // owner's 3), and the NSEC proving that no closer name than the wildcard matched.
    let mut expanded = a_set("x.w.example.", 300, 1);
    expanded.sigs.push(vec![0, 1, 13, 2, 0, 0, 1, 44, 0, 0, 0, 9, 0, 0, 0, 1, 0, 7, 0]);
    let mut nsec = Rrset::new(name("w.example."), Rtype::NSEC, Class::IN, 300);
    let mut rdata = name("z.example.").as_wire().to_vec();
    rdata.extend_from_slice(&[0, 1, 0x40]);
    nsec.push(300, &rdata);
    nsec.sigs.push(vec![0, 47, 13, 2, 0, 0, 1, 44, 0, 0, 0, 9, 0, 0, 0, 1, 0, 7, 0]);
    cache.insert_checked(&expanded, Trust::AuthAnswer, (Security::Secure, 0), Instant::ZERO);
    cache.keep_wildcard_proofs(&expanded, std::slice::from_ref(&nsec), Instant::ZERO);
    // Kept once: a second call changes nothing; the entry's data and status are unchanged.
    cache.keep_wildcard_proofs(&expanded, std::slice::from_ref(&nsec), Instant::ZERO);
    let (set, hit) = positive(cache.get(&name("x.w.example."), Rtype::A, Class::IN, Instant::ZERO, false));
    assert_eq!((set.rdatas, set.sigs.len(), hit.security), (expanded.rdatas.clone(), 1, Security::Secure));
    for (dnssec_ok, answer, authority) in [(false, 1, 0), (true, 2, 2)] {
        let mut buf = [0u8; 512];
        let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
        writer.push_question(&name("x.w.example."), Rtype::A, Class::IN).unwrap();
        let hit = cache.write_answer_dnssec(&question("x.w.example.", Rtype::A), Instant::ZERO, false, dnssec_ok, &mut writer).unwrap();
        assert_eq!((hit.rcode, hit.security), (Rcode::NOERROR, Security::Secure));
        let len = writer.finish();
        assert_eq!(written(&buf[..len], Section::Answer).len(), answer, "DO={dnssec_ok}");
        let written_authority = written(&buf[..len], Section::Authority);
        assert_eq!(written_authority.len(), authority, "DO={dnssec_ok}: {written_authority:?}");
        if dnssec_ok {
            assert_eq!(written_authority, [("w.example.".to_string(), Rtype::NSEC), ("w.example.".to_string(), Rtype::RRSIG)]);
        }
    }
}
