//! RFC 5011 trust points against DNSKEY RRsets built and signed here (Ed25519, deterministic
//! keys), time passed in.

#![allow(clippy::cloned_ref_to_slice_refs)] // the key lists read better as literals
use super::*;
use portcullis_dnssec::{Algorithm, SigningKey};
use portcullis_wire::Class;
use ring::rand::SystemRandom;

const T0: u64 = 1_700_000_000;
const DAY: u64 = 86_400;
const ANCHOR: u64 = 7;

fn root() -> NameBuf {
    NameBuf::ROOT
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_ed25519_seed(&[seed; 32]).unwrap()
}

/// The DNSKEY rdata of `key` with `flags`.
fn dnskey(key: &SigningKey, flags: u16) -> Vec<u8> {
    let mut rdata = flags.to_be_bytes().to_vec();
    rdata.extend([3, 15]);
    rdata.extend(key.public_key());
    rdata
}

/// The root's DNSKEY RRset of `rdatas`, signed at `unix` by each of `signers` (key, its rdata).
fn rrset(rdatas: &[Vec<u8>], signers: &[(&SigningKey, &Vec<u8>)], unix: u64) -> Rrset {
    let mut set = Rrset::new(root(), Rtype::DNSKEY, Class::IN, 3600);
    for rdata in rdatas {
        set.push(3600, rdata);
    }
    for (key, rdata) in signers {
        let rrsig = Rrsig {
            type_covered: Rtype::DNSKEY,
            algorithm: Algorithm::ED25519,
            labels: 0,
            original_ttl: 3600,
            expiration: (unix + 10 * DAY) as u32,
            inception: (unix - DAY) as u32,
            key_tag: key_tag(rdata),
            signer: root(),
        };
        let mut input = Vec::new();
        signing_input(&rrsig, &set.owner, set.class, set.rdatas.iter().map(Vec::as_slice), &mut input).unwrap();
        let signature = key.sign(&input, &SystemRandom::new()).unwrap();
        set.sigs.push(rrsig.to_rdata(&signature));
    }
    set
}

fn states(points: &TrustPoints) -> Vec<(Vec<u8>, KeyState)> {
    points.point(&root()).map(|point| point.keys.into_iter().map(|key| (key.dnskey, key.state)).collect()).unwrap_or_default()
}

#[test]
fn a_standby_key_is_trusted_after_the_add_hold_down_only() {
    let (ksk1, ksk2, zsk) = (key(1), key(2), key(3));
    let (k1, k2, z) = (dnskey(&ksk1, 257), dnskey(&ksk2, 257), dnskey(&zsk, 256));
    let points = TrustPoints::default();
    let set = rrset(&[k1.clone(), k2.clone(), z.clone()], &[(&ksk1, &k1)], T0);
    // The anchor's DS names ksk1: valid at once; ksk2 waits; the ZSK is no trust anchor.
    points.observe(&root(), ANCHOR, &set, &[k1.clone()], T0);
    assert_eq!(states(&points), [(k1.clone(), KeyState::Valid), (k2.clone(), KeyState::AddPend)]);
    assert!(points.take_changed().is_some());
    assert!(points.take_changed().is_none(), "unchanged state is not written again");
    points.observe(&root(), ANCHOR, &set, &[k1.clone()], T0 + ADD_HOLD_DOWN - 1);
    assert_eq!(points.trusted(&root(), ANCHOR), [k1.clone()]);
    points.observe(&root(), ANCHOR, &set, &[k1.clone()], T0 + ADD_HOLD_DOWN);
    assert_eq!(points.trusted(&root(), ANCHOR), [k1.clone(), k2.clone()]);
    assert!(points.take_changed().is_some());
    // ksk1 retired (gone, not revoked): missing but still trusted, valid again when back.
    let rolled = rrset(&[k2.clone(), z.clone()], &[(&ksk2, &k2)], T0 + ADD_HOLD_DOWN + DAY);
    points.observe(&root(), ANCHOR, &rolled, &[k2.clone()], T0 + ADD_HOLD_DOWN + DAY);
    assert_eq!(states(&points), [(k1.clone(), KeyState::Missing), (k2.clone(), KeyState::Valid)]);
    assert_eq!(points.trusted(&root(), ANCHOR).len(), 2);
    points.observe(&root(), ANCHOR, &set, &[k1.clone()], T0 + ADD_HOLD_DOWN + 2 * DAY);
    assert_eq!(states(&points)[0], (k1, KeyState::Valid));
}

#[test]
fn a_key_gone_during_its_hold_down_is_forgotten() {
    let (ksk1, ksk2) = (key(1), key(2));
    let (k1, k2) = (dnskey(&ksk1, 257), dnskey(&ksk2, 257));
    let points = TrustPoints::default();
    points.observe(&root(), ANCHOR, &rrset(&[k1.clone(), k2.clone()], &[(&ksk1, &k1)], T0), &[k1.clone()], T0);
    points.observe(&root(), ANCHOR, &rrset(&[k1.clone()], &[(&ksk1, &k1)], T0 + DAY), &[k1.clone()], T0 + DAY);
    assert_eq!(states(&points), [(k1.clone(), KeyState::Valid)]);
    // Back later: its hold-down starts again.
    points.observe(&root(), ANCHOR, &rrset(&[k1.clone(), k2.clone()], &[(&ksk1, &k1)], T0 + 2 * DAY), &[k1.clone()], T0 + 2 * DAY);
    points.observe(&root(), ANCHOR, &rrset(&[k1.clone(), k2.clone()], &[(&ksk1, &k1)], T0 + 2 * DAY), &[k1.clone()], T0 + ADD_HOLD_DOWN + DAY);
    assert_eq!(states(&points)[1], (k2, KeyState::AddPend));
}

#[test]
fn a_revoked_key_signing_itself_is_never_trusted_again() {
    let (ksk1, ksk2) = (key(1), key(2));
    let (k1, k2) = (dnskey(&ksk1, 257), dnskey(&ksk2, 257));
    let revoked = dnskey(&ksk1, 257 | Dnskey::REVOKE);
    let points = TrustPoints::default();
    points.observe(&root(), ANCHOR, &rrset(&[k1.clone(), k2.clone()], &[(&ksk1, &k1)], T0), &[k1.clone(), k2.clone()], T0);
    // The revoked key without its own signature proves nothing: ksk1 is missing, still trusted.
    let unsigned = rrset(&[revoked.clone(), k2.clone()], &[(&ksk2, &k2)], T0 + DAY);
    points.observe(&root(), ANCHOR, &unsigned, &[k2.clone()], T0 + DAY);
    assert_eq!(states(&points)[0], (k1.clone(), KeyState::Missing));
    let signed = rrset(&[revoked.clone(), k2.clone()], &[(&ksk2, &k2), (&ksk1, &revoked)], T0 + 2 * DAY);
    points.observe(&root(), ANCHOR, &signed, &[k2.clone()], T0 + 2 * DAY);
    assert_eq!(states(&points)[0], (k1.clone(), KeyState::Revoked));
    assert_eq!(points.trusted(&root(), ANCHOR), [k2.clone()]);
    // Published unrevoked again, it stays revoked; after the remove hold-down it is forgotten.
    points.observe(&root(), ANCHOR, &rrset(&[k1.clone(), k2.clone()], &[(&ksk2, &k2)], T0 + 3 * DAY), &[k1.clone(), k2.clone()], T0 + 3 * DAY);
    assert_eq!(points.trusted(&root(), ANCHOR), [k2.clone()]);
    points.observe(&root(), ANCHOR, &signed, &[k2.clone()], T0 + 2 * DAY + REMOVE_HOLD_DOWN);
    assert_eq!(states(&points), [(k2, KeyState::Valid)]);
}

#[test]
fn the_state_is_written_and_read_back_as_text() {
    let (ksk1, ksk2) = (key(1), key(2));
    let (k1, k2) = (dnskey(&ksk1, 257), dnskey(&ksk2, 257));
    let points = TrustPoints::default();
    points.observe(&root(), ANCHOR, &rrset(&[k1.clone(), k2.clone()], &[(&ksk1, &k1)], T0), &[k1.clone()], T0);
    let text = points.to_text();
    assert!(text.contains(&format!("; VALID {T0}")) && text.contains(&format!("; ADDPEND {T0}")), "{text}");
    let loaded = TrustPoints::default();
    loaded.load(&text, "state").unwrap();
    assert_eq!(loaded.point(&root()), points.point(&root()));
    assert!(loaded.take_changed().is_none(), "a loaded state is not dirty");
    assert!(loaded.load(". 0 IN DNSKEY 257 3 15 AAAA\n", "state").unwrap_err().contains("state:1"));
    assert!(loaded.load(". 0 IN A 192.0.2.1 ; VALID 1\n", "state").is_err());
    assert!(loaded.load(". 0 IN DNSKEY 257 3 15 AAAA ; SOMETIMES 1\n", "state").is_err());
}

#[test]
fn another_configured_anchor_starts_the_trust_point_afresh() {
    let (ksk1, ksk2) = (key(1), key(2));
    let (k1, k2) = (dnskey(&ksk1, 257), dnskey(&ksk2, 257));
    let points = TrustPoints::default();
    points.observe(&root(), ANCHOR, &rrset(&[k1.clone(), k2.clone()], &[(&ksk1, &k1)], T0), &[k1.clone(), k2.clone()], T0);
    assert_eq!(points.trusted(&root(), ANCHOR).len(), 2);
    assert!(points.trusted(&root(), ANCHOR + 1).is_empty(), "keys learned from another anchor are not trusted");
    points.observe(&root(), ANCHOR + 1, &rrset(&[k1.clone(), k2.clone()], &[(&ksk2, &k2)], T0), &[k2.clone()], T0 + DAY);
    assert_eq!(states(&points), [(k1, KeyState::AddPend), (k2.clone(), KeyState::Valid)]);
    assert_eq!(points.trusted(&root(), ANCHOR + 1), [k2]);
    let anchor = |ds: Vec<Vec<u8>>| super::super::Anchor { zone: root(), ds, dnskeys: Vec::new() };
    assert_eq!(fingerprint(&anchor(vec![vec![1], vec![2]])), fingerprint(&anchor(vec![vec![2], vec![1]])));
    assert_ne!(fingerprint(&anchor(vec![vec![1]])), fingerprint(&anchor(vec![vec![2]])));
}

#[test]
fn the_active_refresh_follows_the_timers_of_section_2_3() {
    let ksk = key(1);
    let rdata = dnskey(&ksk, 257);
    // TTL 3600 and RRSIGs expiring in 10 days: half the TTL is below an hour, so an hour.
    let set = rrset(&[rdata.clone()], &[(&ksk, &rdata)], T0);
    assert_eq!(refresh_interval(&set, T0), MIN_REFRESH);
    // TTL 2 days (the root's): one day, half the TTL.
    let mut long = set.clone();
    long.ttl = 2 * DAY as u32;
    assert_eq!(refresh_interval(&long, T0), DAY);
    // Nine days later the RRSIGs expire within a day: half of that.
    assert_eq!(refresh_interval(&long, T0 + 9 * DAY), DAY / 2);
    // Expired RRSIGs, or a TTL of a year: never below an hour, never above 15 days.
    assert_eq!(refresh_interval(&long, T0 + 11 * DAY), MIN_REFRESH);
    let mut year = rrset(&[rdata.clone()], &[], T0);
    year.ttl = 365 * DAY as u32;
    assert_eq!(refresh_interval(&year, T0), MAX_REFRESH);
    // Retries: a tenth, between an hour and a day; an hour when nothing was seen.
    assert_eq!(retry_interval(None, T0), MIN_REFRESH);
    assert_eq!(retry_interval(Some(&long), T0), 2 * DAY / 10);
    assert_eq!(retry_interval(Some(&year), T0), MAX_RETRY);
}
