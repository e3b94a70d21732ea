//! The validator's pieces against zones signed in the test by the dnssec crate's signer
//! (Ed25519, deterministic): RRSIG checks and their EDE codes, DNSKEY RRsets against DS RRsets,
//! NSEC and NSEC3 denials, and the proof of an unsigned delegation.

use super::denial::{prove, prove_no_ds, prove_wildcard, Denied, NoDs, Proven};
use super::verify::{verify_dnskeys, verify_rrset, KeyVerdict};
use super::Ede;
use crate::cache::Rrset;
use portcullis_dnssec::chain::{nsec3_rdata, Nsec3Params};
use portcullis_dnssec::key::ds_rdata;
use portcullis_dnssec::{sign_zone, Denial, DigestType, KeyRole, Record, SignOptions, SigningKey, ZoneKey};
use portcullis_wire::rdata::{rdata_from_text, Token};
use portcullis_wire::{Class, NameBuf, Rtype};
use ring::rand::SystemRandom;

const INCEPTION: u32 = 1_000_000;
const EXPIRATION: u32 = 2_000_000;
const NOW: u64 = 1_500_000;

fn name(text: &str) -> NameBuf {
    NameBuf::from_text(text, None).unwrap()
}

const ZONE: &[(&str, u32, Rtype, &str)] = &[
    ("example.", 3600, Rtype::SOA, "ns1.example. host.example. 1 7200 3600 1209600 300"),
    ("example.", 3600, Rtype::NS, "ns1.example."),
    ("ns1.example.", 3600, Rtype::A, "192.0.2.1"),
    ("*.wild.example.", 3600, Rtype::TXT, "wild"),
    ("a.b.example.", 3600, Rtype::A, "192.0.2.2"),
    ("insecure.example.", 3600, Rtype::NS, "ns.insecure.example."),
    ("ns.insecure.example.", 3600, Rtype::A, "192.0.2.5"),
    ("www.example.", 600, Rtype::A, "192.0.2.80"),
];

fn key(seed: u8) -> SigningKey {
    SigningKey::from_ed25519_seed(&[seed; 32]).unwrap()
}

/// The zone signed with a CSK from `seed`, as RRsets with their RRSIGs.
fn signed(seed: u8, denial: Denial) -> Vec<Rrset> {
    let records: Vec<Record> = ZONE
        .iter()
        .map(|(owner, ttl, rtype, text)| {
            let tokens: Vec<Token<'_>> = text.split_whitespace().map(|text| Token { text, quoted: false }).collect();
            let mut rdata = Vec::new();
            rdata_from_text(*rtype, &tokens, &NameBuf::ROOT, &mut rdata).unwrap();
            Record { owner: name(owner), rtype: *rtype, class: Class::IN, ttl: *ttl, rdata }
        })
        .collect();
    let csk = key(seed);
    let options = SignOptions { inception: INCEPTION, expiration: EXPIRATION, denial, keys: portcullis_dnssec::zone::KeyUse::PublishAll };
    let zone = sign_zone(&name("example."), &records, &[ZoneKey { key: &csk, role: KeyRole::Csk }], &options, &SystemRandom::new()).unwrap();
    let mut sets: Vec<Rrset> = Vec::new();
    for record in zone.iter().filter(|record| record.rtype != Rtype::RRSIG) {
        match sets.iter_mut().find(|set| set.owner == record.owner && set.rtype == record.rtype) {
            Some(set) => set.push(record.ttl, &record.rdata),
            None => {
                let mut set = Rrset::new(record.owner, record.rtype, record.class, record.ttl);
                set.push(record.ttl, &record.rdata);
                sets.push(set);
            }
        }
    }
    for sig in zone.iter().filter(|record| record.rtype == Rtype::RRSIG) {
        let covered = Rtype(u16::from_be_bytes([sig.rdata[0], sig.rdata[1]]));
        if let Some(set) = sets.iter_mut().find(|set| set.owner == sig.owner && set.rtype == covered) {
            set.sigs.push(sig.rdata.clone());
        }
    }
    sets
}

fn find(sets: &[Rrset], owner: &str, rtype: Rtype) -> Rrset {
    sets.iter().find(|set| set.owner == name(owner) && set.rtype == rtype).cloned().unwrap()
}

fn keys(sets: &[Rrset]) -> Vec<Vec<u8>> {
    find(sets, "example.", Rtype::DNSKEY).rdatas
}

fn proofs(sets: &[Rrset], rtype: Rtype) -> Vec<Rrset> {
    sets.iter().filter(|set| set.rtype == rtype).cloned().collect()
}

#[test]
fn a_signed_rrset_verifies_and_its_ttl_is_capped() {
    let zone = signed(1, Denial::Nsec);
    let www = find(&zone, "www.example.", Rtype::A);
    let verified = verify_rrset(&www, &name("example."), &keys(&zone), NOW).unwrap();
    assert_eq!(verified.ttl, 600);
    assert_eq!(verified.labels, 2);
    let near_expiry = verify_rrset(&www, &name("example."), &keys(&zone), u64::from(EXPIRATION) - 10).unwrap();
    assert_eq!(near_expiry.ttl, 10, "the TTL does not outlive the signature");
    let mut longer = www.clone();
    longer.ttl = 86_400;
    assert_eq!(verify_rrset(&longer, &name("example."), &keys(&zone), NOW).unwrap().ttl, 600, "the original TTL caps the TTL");
}

#[test]
fn each_rrsig_failure_has_its_extended_error() {
    let zone = signed(1, Denial::Nsec);
    let www = find(&zone, "www.example.", Rtype::A);
    let (apex, keys) = (name("example."), keys(&zone));
    let ede = |set: &Rrset, keys: &[Vec<u8>], unix: u64| verify_rrset(set, &apex, keys, unix).unwrap_err().ede;
    let mut tampered = www.clone();
    tampered.rdatas = vec![vec![192, 0, 2, 66]];
    assert_eq!(ede(&tampered, &keys, NOW), Ede::BOGUS);
    assert_eq!(ede(&www, &keys, u64::from(EXPIRATION) + 1), Ede::SIGNATURE_EXPIRED);
    assert_eq!(ede(&www, &keys, u64::from(INCEPTION) - 1), Ede::SIGNATURE_NOT_YET_VALID);
    assert_eq!(ede(&www, &signed(2, Denial::Nsec).iter().find(|s| s.rtype == Rtype::DNSKEY).unwrap().rdatas, NOW), Ede::DNSKEY_MISSING);
    let unsigned = Rrset { sigs: Vec::new(), ..www.clone() };
    assert_eq!(ede(&unsigned, &keys, NOW), Ede::RRSIGS_MISSING);
    let elsewhere = Rrset { owner: name("www.example.net."), ..www };
    assert!(verify_rrset(&elsewhere, &apex, &keys, NOW).is_err(), "an RRSIG of another owner does not verify");
}

#[test]
fn a_dnskey_rrset_is_secure_only_through_a_matching_ds() {
    let zone = signed(1, Denial::Nsec);
    let dnskeys = find(&zone, "example.", Rtype::DNSKEY);
    let apex = name("example.");
    let ds = ds_rdata(&apex, &dnskeys.rdatas[0], DigestType::SHA256).unwrap();
    assert!(matches!(verify_dnskeys(&dnskeys, &apex, std::slice::from_ref(&ds), &[], NOW), KeyVerdict::Secure(..)));
    assert!(matches!(verify_dnskeys(&dnskeys, &apex, &[], &dnskeys.rdatas, NOW), KeyVerdict::Secure(..)), "a DNSKEY anchor");
    let other = ds_rdata(&apex, &find(&signed(2, Denial::Nsec), "example.", Rtype::DNSKEY).rdatas[0], DigestType::SHA256).unwrap();
    assert!(matches!(verify_dnskeys(&dnskeys, &apex, &[other], &[], NOW), KeyVerdict::Bogus(bogus) if bogus.ede == Ede::DNSKEY_MISSING));
    let mut unknown_algorithm = ds.clone();
    unknown_algorithm[2] = 200;
    assert_eq!(verify_dnskeys(&dnskeys, &apex, &[unknown_algorithm], &[], NOW), KeyVerdict::Unsupported(Ede::UNSUPPORTED_DNSKEY_ALGORITHM));
    let mut unknown_digest = ds;
    unknown_digest[3] = 9;
    assert_eq!(verify_dnskeys(&dnskeys, &apex, &[unknown_digest], &[], NOW), KeyVerdict::Unsupported(Ede::UNSUPPORTED_DS_DIGEST));
}

#[test]
fn nsec_denials_are_proven_and_missing_proofs_are_bogus() {
    let zone = signed(1, Denial::Nsec);
    let (apex, all) = (name("example."), proofs(&zone, Rtype::NSEC));
    let nx = name("nx.example.");
    let nxdomain = Denied { name: &nx, rtype: None, zone: &apex };
    assert_eq!(prove(&nxdomain, &all, 150), Proven::Secure);
    // Only the NSEC covering the name: the wildcard is not denied.
    let covering: Vec<Rrset> = all.iter().filter(|set| set.owner == name("insecure.example.")).cloned().collect();
    assert!(matches!(prove(&nxdomain, &covering, 150), Proven::Bogus(bogus) if bogus.ede == Ede::NSEC_MISSING));
    let www = name("www.example.");
    assert_eq!(prove(&Denied { name: &www, rtype: Some(Rtype::TXT), zone: &apex }, &all, 150), Proven::Secure);
    assert!(matches!(prove(&Denied { name: &www, rtype: Some(Rtype::A), zone: &apex }, &all, 150), Proven::Bogus(_)), "the type exists");
    let ent = name("b.example.");
    assert_eq!(prove(&Denied { name: &ent, rtype: Some(Rtype::A), zone: &apex }, &all, 150), Proven::Secure, "an empty non-terminal");
    assert!(matches!(prove(&nxdomain, &[], 150), Proven::Bogus(_)));
    assert_eq!(prove_wildcard(&name("x.wild.example."), 2, &apex, &all, 150), Proven::Secure);
}

#[test]
fn nsec3_denials_are_proven_and_too_many_iterations_are_insecure() {
    let zone = signed(1, Denial::Nsec3 { opt_out: false });
    let (apex, all) = (name("example."), proofs(&zone, Rtype::NSEC3));
    let nx = name("nx.a.b.example.");
    assert_eq!(prove(&Denied { name: &nx, rtype: None, zone: &apex }, &all, 150), Proven::Secure);
    let www = name("www.example.");
    assert_eq!(prove(&Denied { name: &www, rtype: Some(Rtype::MX), zone: &apex }, &all, 150), Proven::Secure);
    assert_eq!(prove_wildcard(&name("x.wild.example."), 2, &apex, &all, 150), Proven::Secure);
    // A chain of 200 iterations (hand-made; its proof is not even looked at).
    let params = Nsec3Params { algorithm: 1, iterations: 200, salt: &[] };
    let mut heavy = Rrset::new(name("0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example."), Rtype::NSEC3, Class::IN, 300);
    heavy.push(300, &nsec3_rdata(&params, 0, &[0x55; 20], &[Rtype::A]));
    assert_eq!(prove(&Denied { name: &nx, rtype: None, zone: &apex }, &[heavy], 150), Proven::Insecure(Ede::UNSUPPORTED_NSEC3_ITERATIONS));
}

#[test]
fn a_delegation_without_ds_is_an_insecure_cut_and_other_names_are_no_cut() {
    let apex = name("example.");
    for denial in [Denial::Nsec, Denial::Nsec3 { opt_out: false }, Denial::Nsec3 { opt_out: true }] {
        let zone = signed(1, denial);
        let all: Vec<Rrset> = zone.iter().filter(|set| matches!(set.rtype, Rtype::NSEC | Rtype::NSEC3)).cloned().collect();
        assert_eq!(prove_no_ds(&name("insecure.example."), &apex, &all, 150), NoDs::InsecureCut, "{denial:?}");
        assert_eq!(prove_no_ds(&name("www.example."), &apex, &all, 150), NoDs::NotCut, "{denial:?}");
        assert_eq!(prove_no_ds(&name("b.example."), &apex, &all, 150), NoDs::NotCut, "{denial:?}: an empty non-terminal");
    }
}

#[test]
fn a_keytrap_rrset_fails_within_its_budget() {
    // 600 keys with one key tag (two high-order bytes moved in opposite directions keep the
    // checksum) and 300 RRSIGs naming that tag, none valid: at most MAX_SIGS_TRIED x
    // MAX_KEYS_PER_TAG verifications, not 360,000 (KeyTrap, CVE-2023-50387; without the budget
    // this takes seconds).
    let apex = name("example.");
    let mut base = vec![1u8, 0, 3, 15];
    base.extend_from_slice(&[0x80; 32]);
    let keys: Vec<Vec<u8>> = (0..600u16)
        .map(|i| {
            let mut key = base.clone();
            let (up, down) = ((i % 120) as u8, (i / 120) as u8);
            key[4] += up;
            key[6] -= up;
            key[8] += down;
            key[10] -= down;
            key
        })
        .collect();
    let tag = portcullis_dnssec::key_tag(&keys[0]);
    assert!(keys.iter().all(|key| portcullis_dnssec::key_tag(key) == tag));
    let mut set = Rrset::new(name("www.example."), Rtype::A, Class::IN, 300);
    set.push(300, &[192, 0, 2, 1]);
    for index in 0..600u32 {
        let rrsig = portcullis_dnssec::Rrsig {
            type_covered: Rtype::A,
            algorithm: portcullis_dnssec::Algorithm::ED25519,
            labels: 2,
            original_ttl: 300,
            expiration: EXPIRATION,
            inception: INCEPTION,
            key_tag: tag,
            signer: apex,
        };
        set.sigs.push(rrsig.to_rdata(&[index as u8; 64]));
    }
    let started = std::time::Instant::now();
    let result = verify_rrset(&set, &apex, &keys, NOW);
    assert_eq!(result.unwrap_err().ede, Ede::BOGUS);
    assert!(started.elapsed() < std::time::Duration::from_millis(250), "took {:?}", started.elapsed());
}

#[test]
fn proven_nsec_gaps_answer_later_questions_rfc8198() {
    use crate::base::Instant;
    use crate::cache::aggressive::NsecIndex;
    use portcullis_wire::Rcode;
    let zone = signed(1, Denial::Nsec);
    let (apex, now) = (name("example."), Instant::from_secs(100));
    let index = NsecIndex::default();
    index.insert(&apex, &find(&zone, "example.", Rtype::SOA), &proofs(&zone, Rtype::NSEC), 300, now);
    let ask = |qname: &str, rtype: Rtype| index.synthesise(&name(qname), rtype, now).map(|found| (found.rcode, found.proofs.len()));
    assert_eq!(ask("nx.example.", Rtype::A), Some((Rcode::NXDOMAIN, 2)), "the gap and the wildcard's gap");
    assert_eq!(ask("www.example.", Rtype::TXT), Some((Rcode::NOERROR, 1)), "NODATA");
    assert_eq!(ask("b.example.", Rtype::A), Some((Rcode::NOERROR, 1)), "an empty non-terminal");
    assert_eq!(ask("www.example.", Rtype::A), None, "the type exists");
    assert_eq!(ask("x.wild.example.", Rtype::A), None, "a wildcard would answer");
    assert_eq!(ask("host.insecure.example.", Rtype::A), None, "below a delegation");
    assert_eq!(ask("insecure.example.", Rtype::A), None, "a referral, not a denial");
    assert_eq!(ask("insecure.example.", Rtype::DS), Some((Rcode::NOERROR, 1)), "no DS at the delegation");
    assert_eq!(ask("www.example.org.", Rtype::A), None, "another zone");
    assert!(index.synthesise(&name("nx.example."), Rtype::A, now.plus_secs(301)).is_none(), "expired");
    // The NSEC records are the zone's own: each proof verifies with its keys.
    let found = index.synthesise(&name("nx.example."), Rtype::A, now).unwrap();
    assert!(found.proofs.iter().all(|set| verify_rrset(set, &apex, &keys(&zone), NOW).is_ok()));
    let nx = name("nx.example.");
    assert_eq!(prove(&Denied { name: &nx, rtype: None, zone: &apex }, &found.proofs, 150), Proven::Secure);
}

#[test]
fn signature_checks_are_bounded_per_question() {
    use super::verify::{verify_rrset_within, Budget, Checks};
    let sets = signed(1, Denial::Nsec);
    let www = find(&sets, "www.example.", Rtype::A);
    let budget = Budget::new(1);
    assert!(verify_rrset_within(&www, &name("example."), &keys(&sets), NOW, &Checks::new(&budget)).is_ok());
    assert!(budget.spent());
    // A clone is the same question's budget.
    let bogus = verify_rrset_within(&www, &name("example."), &keys(&sets), NOW, &Checks::new(&budget.clone())).unwrap_err();
    assert_eq!(bogus.ede, Ede::BOGUS);
    assert!(bogus.why.contains("budget exhausted"), "{bogus:?}");
}

#[test]
fn a_zone_another_resolution_proved_secure_meanwhile_stays_secure() {
    use super::walk::{learn, Fetched, Lookup};
    use super::{Context, ValidationSettings};
    use crate::base::Instant;
    use crate::cache::keys::ZoneKeys;
    use crate::cache::{Cache, CacheSettings};
    // Two resolutions learn the keys of one zone at once: the first DNSKEY answer made it
    // secure (the DS consumed); the second's DNSKEY or DS answer must not make it bogus.
    let cache = Cache::new(CacheSettings::DEFAULT);
    let settings = ValidationSettings::default();
    let zone = name("example.");
    cache.keys.put(&zone, ZoneKeys::Secure(vec![vec![1, 2, 3]]), 300, Instant::ZERO);
    let context = Context { cache: &cache, settings: &settings, anchors_apply: true, now: Instant::ZERO, unix: NOW, budget: Default::default() };
    learn(Lookup::Dnskey(zone), &Fetched::default(), &context);
    learn(Lookup::Ds(zone), &Fetched::default(), &context);
    assert_eq!(cache.keys.get(&zone, Instant::ZERO), Some(ZoneKeys::Secure(vec![vec![1, 2, 3]])));
}

#[test]
fn a_keytrap_rrset_costs_two_checks_once_and_none_again_while_the_genuine_data_still_verifies() {
    use super::verify::{verify_rrset_within, Budget, Checks, MAX_FAILURES_PER_RRSET, MAX_VERIFICATIONS};
    use crate::base::Instant;
    use crate::cache::failed_checks::FailedChecks;
    let sets = signed(1, Denial::Nsec);
    let (www, apex, keys) = (find(&sets, "www.example.", Rtype::A), name("example."), keys(&sets));
    // Eight RRSIGs of the real key, each with a signature that fails.
    let mut trap = www.clone();
    trap.sigs = (0..8u8)
        .map(|n| {
            let mut sig = www.sigs[0].clone();
            let last = sig.len() - 1;
            sig[last] ^= n + 1;
            sig
        })
        .collect();
    let table = FailedChecks::new([9; 16]);
    let now = Instant::from_secs(10);
    let spent = |set: &Rrset| {
        let budget = Budget::new(MAX_VERIFICATIONS);
        let result = verify_rrset_within(set, &apex, &keys, NOW, &Checks { budget: &budget, failed: Some((&table, now)) });
        (result, MAX_VERIFICATIONS - budget.left())
    };
    let (first, cost) = spent(&trap);
    assert_eq!(first.unwrap_err().ede, Ede::BOGUS);
    assert_eq!(cost as usize, MAX_FAILURES_PER_RRSET, "the first answer stops after {MAX_FAILURES_PER_RRSET} failed checks");
    let (again, cost) = spent(&trap);
    assert_eq!(again.unwrap_err().ede, Ede::BOGUS);
    assert_eq!(cost, 0, "the same failing signatures fail again from the table");
    // The tampered data signed by the genuine RRSIG fails; the genuine data is not held by it.
    let mut tampered = www.clone();
    tampered.rdatas = vec![vec![192, 0, 2, 66]];
    assert!(spent(&tampered).0.is_err());
    let (genuine, cost) = spent(&www);
    assert!(genuine.is_ok(), "{genuine:?}");
    assert_eq!(cost, 1);
}

#[test]
fn a_validation_given_up_leaves_its_unvalidated_answer_bogus() {
    use super::machine::{Progress, Validation};
    use super::{anchors, Context, Security, ValidationSettings};
    use crate::base::Instant;
    use crate::cache::{Cache, CacheSettings, Cached, Trust};
    use portcullis_wire::Rcode;
    // The answer is cached before it is validated (as the resolver and the forwarder do); the
    // root's keys are then needed and never come (no server answers, time runs out).
    let cache = Cache::new(CacheSettings::DEFAULT);
    let settings = ValidationSettings::default().with_anchors(anchors::builtin_root(), false);
    let context = Context { cache: &cache, settings: &settings, anchors_apply: true, now: Instant::ZERO, unix: NOW, budget: Default::default() };
    let www = find(&signed(1, Denial::Nsec), "www.example.", Rtype::A);
    cache.insert_rrset(&www, Trust::Answer, Instant::ZERO);
    let mut validation = Validation::new(Rcode::NOERROR, vec![www.clone()], Vec::new(), Vec::new(), www.owner, Rtype::A, Class::IN);
    assert!(matches!(validation.step(&context), Progress::Need(_)), "the chain of trust is to be fetched");
    let status = |cache: &Cache| match cache.get(&www.owner, Rtype::A, Class::IN, Instant::ZERO, false) {
        Some(Cached::Positive(_, hit)) => (hit.security, hit.ede),
        other => panic!("{other:?}"),
    };
    assert_eq!(status(&cache).0, Security::Indeterminate);
    validation.abandon(&cache, Instant::ZERO);
    assert_eq!(status(&cache), (Security::Bogus, Ede::INDETERMINATE));
    // An entry some other resolution validated meanwhile keeps its status.
    cache.insert_rrset(&www, Trust::Answer, Instant::ZERO);
    cache.set_security(&www.owner, Some(Rtype::A), Class::IN, Some(&www.rdatas), (Security::Secure, 0), 600, Instant::ZERO);
    validation.abandon(&cache, Instant::ZERO);
    assert_eq!(status(&cache).0, Security::Secure);
}
