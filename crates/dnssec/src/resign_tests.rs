//! Signing again: reuse of unchanged RRsets' signatures, jitter, published-only keys.

use super::*;
use crate::resign::{earliest_expiration, Resign};

fn rrsigs(signed: &[Record]) -> Vec<(NameBuf, Rtype, Vec<u8>)> {
    signed.iter().filter(|r| r.rtype == Rtype::RRSIG).map(|r| (r.owner, Rrsig::parse(&r.rdata).unwrap().0.type_covered, r.rdata.clone())).collect()
}

#[test]
fn a_changed_rrset_is_signed_again_and_the_others_keep_their_signatures() {
    let rng = SystemRandom::new();
    let (ksk, zsk) = keys(&rng);
    let keys = [ZoneKey { key: &ksk, role: KeyRole::Ksk }, ZoneKey { key: &zsk, role: KeyRole::Zsk }];
    let options = SignOptions { inception: 1_000, expiration: 100_000, denial: Denial::Nsec, keys: KeyUse::PublishAll };
    let first = sign_zone(&name("example."), &zone(), &keys, &options, &rng).unwrap();
    let mut changed = zone();
    let a = changed.iter_mut().find(|r| r.owner == name("ns1.example.") && r.rtype == Rtype::A).unwrap();
    a.rdata = vec![192, 0, 2, 99];
    let later = SignOptions { inception: 2_000, expiration: 101_000, ..options };
    let resign = Resign { previous: &first, now: 2_000, refresh: 10_000, jitter: 0 };
    let second = sign_zone_with(&name("example."), &changed, &keys, &later, &resign, &rng).unwrap();
    let (before, after) = (rrsigs(&first), rrsigs(&second));
    assert_eq!(before.len(), after.len());
    let differing: Vec<(NameBuf, Rtype)> = before.iter().zip(&after).filter(|(a, b)| a != b).map(|(_, b)| (b.0, b.1)).collect();
    assert_eq!(differing, [(name("ns1.example."), Rtype::A)]);
    // Close to expiry (within the refresh period), everything is signed again.
    let late = Resign { previous: &first, now: 95_000, refresh: 10_000, jitter: 0 };
    let third = sign_zone_with(&name("example."), &changed, &keys, &later, &late, &rng).unwrap();
    assert!(rrsigs(&first).iter().zip(&rrsigs(&third)).all(|(a, b)| a != b));
    // A key that no longer signs: its signatures go (and the DNSKEY RRset changed with it).
    let other = ecdsa(&rng);
    let rolled = [ZoneKey { key: &ksk, role: KeyRole::Ksk }, ZoneKey { key: &other, role: KeyRole::Zsk }];
    let fourth = sign_zone_with(&name("example."), &zone(), &rolled, &later, &resign, &rng).unwrap();
    let old = rrsigs(&first);
    assert!(rrsigs(&fourth).iter().all(|sig| !old.contains(sig)), "nothing is kept");
}

#[test]
fn the_reuse_decision_follows_key_ttl_and_freshness() {
    let signer = name("example.");
    let rrsig =
        Rrsig { type_covered: Rtype::A, algorithm: Algorithm::ED25519, labels: 2, original_ttl: 300, expiration: 50_000, inception: 1_000, key_tag: 7, signer };
    let resign = Resign { previous: &[], now: 10_000, refresh: 20_000, jitter: 0 };
    assert!(resign.fresh(&rrsig, Rtype::A, 300, Algorithm::ED25519, 7, &signer));
    assert!(!resign.fresh(&rrsig, Rtype::A, 600, Algorithm::ED25519, 7, &signer), "TTL changed");
    assert!(!resign.fresh(&rrsig, Rtype::A, 300, Algorithm::ED25519, 8, &signer), "another key");
    assert!(!resign.fresh(&rrsig, Rtype::A, 300, Algorithm::ECDSAP256SHA256, 7, &signer), "another algorithm");
    assert!(!resign.fresh(&rrsig, Rtype::AAAA, 300, Algorithm::ED25519, 7, &signer), "another type");
    assert!(!Resign { now: 30_000, ..resign }.fresh(&rrsig, Rtype::A, 300, Algorithm::ED25519, 7, &signer), "expires within the refresh period");
    assert!(!Resign { now: 500, ..resign }.fresh(&rrsig, Rtype::A, 300, Algorithm::ED25519, 7, &signer), "not yet valid");
    assert!(!Resign { now: 60_000, ..resign }.fresh(&rrsig, Rtype::A, 300, Algorithm::ED25519, 7, &signer), "expired");
    // Across the 2^32 wrap (RFC 1982).
    let wrapping = Rrsig { inception: u32::MAX - 100, expiration: 40_000, ..rrsig };
    assert!(Resign { now: 5, ..resign }.fresh(&wrapping, Rtype::A, 300, Algorithm::ED25519, 7, &signer));
}

#[test]
fn expirations_get_a_jitter_within_bounds() {
    let rng = SystemRandom::new();
    let resign = Resign { previous: &[], now: 0, refresh: 0, jitter: 3_600 };
    let values: Vec<u32> = (0..200).map(|_| resign.expiration(1_000_000, &rng).unwrap()).collect();
    assert!(values.iter().all(|v| (996_400..=1_000_000).contains(v)), "{values:?}");
    assert!(values.iter().any(|v| *v != values[0]), "jitter varies");
    assert_eq!(Resign::NONE.expiration(1_000_000, &rng).unwrap(), 1_000_000);
    let key = ecdsa(&rng);
    let keys = [ZoneKey { key: &key, role: KeyRole::Csk }];
    let options = SignOptions { inception: 0, expiration: 1_000_000, denial: Denial::Nsec, keys: KeyUse::PublishAll };
    let signed = sign_zone_with(&name("example."), &zone(), &keys, &options, &resign, &rng).unwrap();
    let earliest = earliest_expiration(&signed, 0).unwrap();
    assert!((996_400..=1_000_000).contains(&earliest));
    let expirations: Vec<u32> = signed.iter().filter(|r| r.rtype == Rtype::RRSIG).map(|r| Rrsig::parse(&r.rdata).unwrap().0.expiration).collect();
    assert!(expirations.iter().any(|e| *e != expirations[0]), "per signature");
}

#[test]
fn a_published_key_that_does_not_sign_stays_in_the_dnskey_rrset() {
    let rng = SystemRandom::new();
    let (signing, waiting) = (ecdsa(&rng), ecdsa(&rng));
    let waiting_rdata = ZoneKey { key: &waiting, role: KeyRole::Zsk }.dnskey_rdata();
    let mut records = zone();
    records.push(Record { owner: name("example."), rtype: Rtype::DNSKEY, class: Class::IN, ttl: 600, rdata: waiting_rdata.clone() });
    let keys = [ZoneKey { key: &signing, role: KeyRole::Csk }];
    let options = SignOptions { inception: 0, expiration: 1_000_000, denial: Denial::Nsec, keys: KeyUse::PublishAll };
    let signed = sign_zone(&name("example."), &records, &keys, &options, &rng).unwrap();
    let dnskeys: Vec<&Record> = signed.iter().filter(|r| r.rtype == Rtype::DNSKEY).collect();
    assert_eq!(dnskeys.len(), 2);
    assert!(dnskeys.iter().all(|r| r.ttl == 600), "the published key's TTL is the set's");
    let waiting_tag = crate::key_tag(&waiting_rdata);
    assert!(signed.iter().filter(|r| r.rtype == Rtype::RRSIG).all(|r| Rrsig::parse(&r.rdata).unwrap().0.key_tag != waiting_tag));
}
