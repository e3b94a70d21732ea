use super::*;
use crate::chain::{Nsec, Nsec3};
use crate::{verify, Algorithm};
use portcullis_wire::rdata::{rdata_from_text, Token};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

fn name(text: &str) -> NameBuf {
    NameBuf::from_text(text, None).unwrap()
}

/// A zone with a wildcard, an empty non-terminal (b.example.), a signed and an unsigned
/// delegation with glue, a CNAME and a DNAME. SOA TTL 3600, minimum 300.
const ZONE: &[(&str, u32, Rtype, &str)] = &[
    ("example.", 3600, Rtype::SOA, "ns1.example. host.example. 1 7200 3600 1209600 300"),
    ("example.", 3600, Rtype::NS, "ns1.example."),
    ("ns1.example.", 3600, Rtype::A, "192.0.2.1"),
    ("*.example.", 3600, Rtype::TXT, "wild"),
    ("a.b.example.", 3600, Rtype::A, "192.0.2.2"),
    ("a.b.example.", 3600, Rtype::A, "192.0.2.3"),
    ("secure.example.", 3600, Rtype::NS, "ns.secure.example."),
    ("secure.example.", 3600, Rtype::DS, "12345 13 2 0011223344556677889900112233445566778899001122334455667788990011"),
    ("ns.secure.example.", 3600, Rtype::A, "192.0.2.4"),
    ("insecure.example.", 3600, Rtype::NS, "ns.insecure.example."),
    ("ns.insecure.example.", 3600, Rtype::A, "192.0.2.5"),
    ("www.example.", 600, Rtype::CNAME, "a.b.example."),
    ("moved.example.", 3600, Rtype::DNAME, "example.net."),
];

fn zone() -> Vec<Record> {
    ZONE.iter()
        .map(|(owner, ttl, rtype, text)| {
            let tokens: Vec<Token<'_>> = text.split_whitespace().map(|text| Token { text, quoted: false }).collect();
            let mut rdata = Vec::new();
            rdata_from_text(*rtype, &tokens, &NameBuf::ROOT, &mut rdata).unwrap();
            Record { owner: name(owner), rtype: *rtype, class: Class::IN, ttl: *ttl, rdata }
        })
        .collect()
}

fn ecdsa(rng: &SystemRandom) -> SigningKey {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, rng).unwrap();
    SigningKey::from_pkcs8(Algorithm::ECDSAP256SHA256, pkcs8.as_ref(), rng).unwrap()
}

fn ed25519(rng: &SystemRandom) -> SigningKey {
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(rng).unwrap();
    SigningKey::from_pkcs8(Algorithm::ED25519, pkcs8.as_ref(), rng).unwrap()
}

fn keys(rng: &SystemRandom) -> (SigningKey, SigningKey) {
    (ecdsa(rng), ecdsa(rng))
}

fn sign(denial: Denial) -> Vec<Record> {
    let rng = SystemRandom::new();
    let (ksk, zsk) = keys(&rng);
    let keys = [ZoneKey { key: &ksk, role: KeyRole::Ksk }, ZoneKey { key: &zsk, role: KeyRole::Zsk }];
    let options = SignOptions { inception: 1_000, expiration: 2_000, denial, keys: KeyUse::PublishAll };
    sign_zone(&name("example."), &zone(), &keys, &options, &rng).unwrap()
}

fn types_at(signed: &[Record], owner: &str) -> Vec<Rtype> {
    signed.iter().filter(|r| r.owner == name(owner)).map(|r| r.rtype).collect()
}

/// The types covered by the RRSIGs at `owner`.
fn signed_types(signed: &[Record], owner: &str) -> Vec<Rtype> {
    let rrsigs = signed.iter().filter(|r| r.rtype == Rtype::RRSIG && r.owner == name(owner));
    rrsigs.map(|r| Rrsig::parse(&r.rdata).unwrap().0.type_covered).collect()
}

/// Every RRSIG verifies over its RRset with the DNSKEY of its key tag.
fn assert_signatures_verify(signed: &[Record]) -> usize {
    let dnskeys: Vec<&Record> = signed.iter().filter(|r| r.rtype == Rtype::DNSKEY).collect();
    let mut count = 0;
    for record in signed.iter().filter(|r| r.rtype == Rtype::RRSIG) {
        let (rrsig, signature) = Rrsig::parse(&record.rdata).unwrap();
        let key = dnskeys.iter().find(|k| crate::key_tag(&k.rdata) == rrsig.key_tag).unwrap();
        let key = Dnskey::parse(&key.rdata).unwrap();
        let set = signed.iter().filter(|r| r.owner == record.owner && r.rtype == rrsig.type_covered);
        let mut input = Vec::new();
        signing_input(&rrsig, &record.owner, Class::IN, set.map(|r| r.rdata.as_slice()), &mut input).unwrap();
        verify(rrsig.algorithm, key.public_key, &input, signature).unwrap();
        let has =
            |sep: bool| dnskeys.iter().any(|k| Dnskey::parse(&k.rdata).is_ok_and(|d| d.algorithm == key.algorithm && (d.flags & Dnskey::SEP != 0) == sep));
        let split = has(true) && has(false);
        if split {
            assert_eq!(key.flags & Dnskey::SEP != 0, rrsig.type_covered == Rtype::DNSKEY, "KSK for DNSKEY only, ZSK for the rest: {record:?}");
        }
        count += 1;
    }
    count
}

#[test]
fn nsec_zone_signs_authoritative_data_only_and_closes_the_chain() {
    let signed = sign(Denial::Nsec);
    assert!(assert_signatures_verify(&signed) > 10);
    assert!(signed_types(&signed, "ns.secure.example.").is_empty() && signed_types(&signed, "ns.insecure.example.").is_empty());
    assert_eq!(signed_types(&signed, "insecure.example."), [Rtype::NSEC]);
    assert_eq!(signed_types(&signed, "secure.example."), [Rtype::DS, Rtype::NSEC]);
    assert_eq!(signed_types(&signed, "*.example."), [Rtype::TXT, Rtype::NSEC]);
    for record in zone() {
        assert!(signed.contains(&record), "{record:?} kept unchanged");
    }
    let nsecs: Vec<&Record> = signed.iter().filter(|r| r.rtype == Rtype::NSEC).collect();
    let owners = ["example.", "*.example.", "a.b.example.", "insecure.example.", "moved.example.", "ns1.example.", "secure.example.", "www.example."];
    assert_eq!(nsecs.iter().map(|r| r.owner).collect::<Vec<_>>(), owners.map(name));
    for (i, record) in nsecs.iter().enumerate() {
        assert_eq!(Nsec::parse(&record.rdata).unwrap().next, nsecs[(i + 1) % nsecs.len()].owner);
        assert_eq!(record.ttl, 300);
    }
    let apex = Nsec::parse(&nsecs[0].rdata).unwrap();
    let apex_types = crate::bitmap::decode(apex.bitmap).unwrap();
    assert_eq!(apex_types, [Rtype::NS, Rtype::SOA, Rtype::RRSIG, Rtype::NSEC, Rtype::DNSKEY]);
    assert_eq!(types_at(&signed, "example.").iter().filter(|t| **t == Rtype::DNSKEY).count(), 2);
}

#[test]
fn nsec3_zone_has_empty_non_terminals_and_unsigned_delegations() {
    let signed = sign(Denial::Nsec3 { opt_out: false });
    assert_signatures_verify(&signed);
    let nsec3s: Vec<&Record> = signed.iter().filter(|r| r.rtype == Rtype::NSEC3).collect();
    // 8 names with data plus the empty non-terminal b.example.
    assert_eq!(nsec3s.len(), 9);
    let b = PARAMS.hash(&name("b.example.")).unwrap();
    let insecure = PARAMS.hash(&name("insecure.example.")).unwrap();
    let mut seen = Vec::new();
    for record in &nsec3s {
        let nsec3 = Nsec3::parse(&record.rdata).unwrap();
        assert_eq!((nsec3.flags, record.ttl), (0, 300));
        let hash = nsec3::base32hex_decode(core::str::from_utf8(&record.owner.as_wire()[1..33]).unwrap()).unwrap();
        if hash == b {
            assert!(nsec3.bitmap.is_empty());
        }
        if hash == insecure {
            assert_eq!(crate::bitmap::decode(nsec3.bitmap).unwrap(), [Rtype::NS]);
        }
        seen.push(hash);
    }
    assert!(seen.contains(&b.to_vec()) && seen.contains(&insecure.to_vec()));
    let param = signed.iter().find(|r| r.rtype == Rtype::NSEC3PARAM).unwrap();
    assert_eq!(param.rdata, [1, 0, 0, 0, 0]);
}

#[test]
fn nsec3_opt_out_leaves_out_unsigned_delegations_and_sets_the_flag() {
    let signed = sign(Denial::Nsec3 { opt_out: true });
    assert_signatures_verify(&signed);
    let insecure = nsec3::base32hex_encode(&PARAMS.hash(&name("insecure.example.")).unwrap());
    let nsec3s: Vec<&Record> = signed.iter().filter(|r| r.rtype == Rtype::NSEC3).collect();
    assert_eq!(nsec3s.len(), 8);
    assert!(nsec3s.iter().all(|r| Nsec3::parse(&r.rdata).unwrap().flags == OPT_OUT));
    assert!(!nsec3s.iter().any(|r| r.owner == name(&format!("{insecure}.example."))));
}

#[test]
fn a_zone_without_soa_or_keys_is_refused() {
    let rng = SystemRandom::new();
    let (ksk, _) = keys(&rng);
    let options = SignOptions { inception: 0, expiration: 1, denial: Denial::Nsec, keys: KeyUse::PublishAll };
    let keys = [ZoneKey { key: &ksk, role: KeyRole::Csk }];
    assert_eq!(sign_zone(&name("example."), &zone()[1..], &keys, &options, &rng), Err(Error::InvalidZone("no SOA record at the origin")));
    assert_eq!(sign_zone(&name("example."), &zone(), &[], &options, &rng), Err(Error::InvalidZone("no signing key")));
    let outside = Record { owner: name("example.net."), ..zone()[2].clone() };
    let with_outside = [zone(), vec![outside]].concat();
    assert_eq!(sign_zone(&name("example."), &with_outside, &keys, &options, &rng), Err(Error::InvalidZone("a record outside the zone")));
}

#[test]
fn every_algorithm_signs_every_rrset() {
    let rng = SystemRandom::new();
    let (ksk, zsk) = (ecdsa(&rng), ed25519(&rng));
    let keys = [ZoneKey { key: &ksk, role: KeyRole::Ksk }, ZoneKey { key: &zsk, role: KeyRole::Zsk }];
    let options = SignOptions { inception: 1_000, expiration: 2_000, denial: Denial::Nsec, keys: KeyUse::PublishAll };
    let signed = sign_zone(&name("example."), &zone(), &keys, &options, &rng).unwrap();
    assert_signatures_verify(&signed);
    let rrsigs: Vec<Rrsig> = signed.iter().filter(|r| r.rtype == Rtype::RRSIG).map(|r| Rrsig::parse(&r.rdata).unwrap().0).collect();
    for algorithm in [Algorithm::ECDSAP256SHA256, Algorithm::ED25519] {
        for covered in [Rtype::SOA, Rtype::DNSKEY, Rtype::NSEC, Rtype::DS] {
            assert!(rrsigs.iter().any(|r| r.algorithm == algorithm && r.type_covered == covered), "{algorithm:?} {covered}");
        }
    }
}

#[test]
fn denial_ttl_is_the_lower_of_soa_ttl_and_minimum_and_resigning_replaces_old_records() {
    let rng = SystemRandom::new();
    let (ksk, _) = keys(&rng);
    let keys = [ZoneKey { key: &ksk, role: KeyRole::Csk }];
    let options = SignOptions { inception: 1_000, expiration: 2_000, denial: Denial::Nsec3 { opt_out: false }, keys: KeyUse::PublishAll };
    let mut records = zone();
    records[0].ttl = 200;
    let signed = sign_zone(&name("example."), &records, &keys, &options, &rng).unwrap();
    assert!(signed.iter().filter(|r| matches!(r.rtype, Rtype::NSEC3 | Rtype::NSEC3PARAM)).all(|r| r.ttl == 200));
    let again = sign_zone(&name("example."), &signed, &keys, &SignOptions { denial: Denial::Nsec, ..options }, &rng).unwrap();
    assert!(!again.iter().any(|r| matches!(r.rtype, Rtype::NSEC3 | Rtype::NSEC3PARAM)));
    assert_eq!(again.iter().filter(|r| r.rtype == Rtype::DNSKEY).count(), 1);
    assert_eq!(again.iter().filter(|r| r.rtype == Rtype::RRSIG && r.owner == name("example.")).count(), 4, "NS SOA NSEC DNSKEY");
    assert_signatures_verify(&again);
}

#[path = "resign_tests.rs"]
mod resign_tests;

/// The signer contract of the rollover planner: with [`KeyUse::SignOnly`] the DNSKEY RRset is
/// the input's, an unpublished key signs by its role (an algorithm rollover's new keys), a
/// published key that is not given signs nothing, and no algorithm falls back to signing every
/// RRset with the keys it has.
#[test]
fn sign_only_keys_sign_by_role_without_being_published_or_falling_back() {
    let rng = SystemRandom::new();
    let (ksk, zsk) = keys(&rng);
    let (new_zsk, prepublished) = (ed25519(&rng), ecdsa(&rng));
    let published = [ZoneKey { key: &ksk, role: KeyRole::Ksk }, ZoneKey { key: &zsk, role: KeyRole::Zsk }, ZoneKey { key: &prepublished, role: KeyRole::Zsk }];
    let mut input = zone();
    input.extend(published.iter().map(|k| Record { owner: name("example."), rtype: Rtype::DNSKEY, class: Class::IN, ttl: 60, rdata: k.dnskey_rdata() }));
    // The ED25519 ZSK signs data unpublished, alone of its algorithm: it does not sign DNSKEY.
    let signers = [ZoneKey { key: &ksk, role: KeyRole::Ksk }, ZoneKey { key: &zsk, role: KeyRole::Zsk }, ZoneKey { key: &new_zsk, role: KeyRole::Zsk }];
    let options = SignOptions { inception: 1_000, expiration: 2_000, denial: Denial::Nsec, keys: KeyUse::SignOnly };
    let signed = sign_zone(&name("example."), &input, &signers, &options, &rng).unwrap();
    let dnskey_tags: Vec<u16> = signed.iter().filter(|r| r.rtype == Rtype::DNSKEY).map(|r| crate::key_tag(&r.rdata)).collect();
    let tag = |key: &SigningKey, role: KeyRole| crate::key_tag(&ZoneKey { key, role }.dnskey_rdata());
    assert_eq!(dnskey_tags.len(), 3, "exactly the input's DNSKEYs");
    assert!(!dnskey_tags.contains(&tag(&new_zsk, KeyRole::Zsk)), "the signing-only key is not published");
    let signers_of = |owner: &str, rtype: Rtype| {
        let mut tags: Vec<u16> = signed
            .iter()
            .filter(|r| r.rtype == Rtype::RRSIG && r.owner == name(owner))
            .map(|r| Rrsig::parse(&r.rdata).unwrap().0)
            .filter(|rrsig| rrsig.type_covered == rtype)
            .map(|rrsig| rrsig.key_tag)
            .collect();
        tags.sort_unstable();
        tags
    };
    assert_eq!(signers_of("example.", Rtype::DNSKEY), vec![tag(&ksk, KeyRole::Ksk)]);
    let mut data = vec![tag(&zsk, KeyRole::Zsk), tag(&new_zsk, KeyRole::Zsk)];
    data.sort_unstable();
    assert_eq!(signers_of("ns1.example.", Rtype::A), data, "both ZSKs, not the pre-published one nor the KSK");
    assert_eq!(signers_of("example.", Rtype::SOA), data);
}
