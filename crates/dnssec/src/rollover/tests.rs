//! The planner's steps, one at a time, with their exact times.

use super::*;

pub(super) const POLICY: RollPolicy = RollPolicy {
    algorithm: Algorithm::ECDSAP256SHA256,
    split: false,
    ksk_lifetime: None,
    zsk_lifetime: None,
    dnskey_ttl: 3600,
    zone_max_ttl: 86_400,
    zone_propagation_delay: 300,
    parent_ds_ttl: 86_400,
    parent_propagation_delay: 3600,
};

const IPUB: u64 = 3900;
const ISIG: u64 = 86_700;
const IDS: u64 = 90_000;
const DAY: u64 = 86_400;

/// Plans, makes the keys asked for (tags from `tag`), plans again.
fn settle(policy: &RollPolicy, keys: &[KeyState], now: u64, tag: u16) -> Plan {
    let first = plan(policy, keys, now);
    let mut keys = first.keys.clone();
    for (offset, &(role, algorithm)) in first.new_keys.iter().enumerate() {
        keys.push(KeyState::new(algorithm, tag + offset as u16, role, now));
    }
    plan(policy, &keys, now)
}

fn key(keys: &[KeyState], tag: u16) -> KeyState {
    *keys.iter().find(|k| k.tag == tag).unwrap_or_else(|| panic!("no key {tag}"))
}

#[test]
fn a_zone_without_keys_gets_them_and_they_start_at_once() {
    let first = plan(&POLICY, &[], 100);
    assert_eq!(first.new_keys, [(KeyRole::Csk, Algorithm::ECDSAP256SHA256)]);
    let made = [KeyState::new(Algorithm::ECDSAP256SHA256, 7, KeyRole::Csk, 100)];
    let second = plan(&POLICY, &made, 100);
    assert!(second.new_keys.is_empty());
    let key = second.keys[0];
    assert!(key.is_published(100) && key.is_signing(100) && !key.has_cds(100));
    assert!(!key.has_cds(100 + ISIG - 1) && key.has_cds(100 + ISIG), "CDS once no cache holds unsigned data");
    assert_eq!(second.next_event, Some(100 + ISIG));
    let split = plan(&RollPolicy { split: true, ..POLICY }, &[], 100);
    assert_eq!(split.new_keys, [(KeyRole::Ksk, Algorithm::ECDSAP256SHA256), (KeyRole::Zsk, Algorithm::ECDSAP256SHA256)]);
}

#[test]
fn zsk_pre_publication_steps_and_times() {
    let policy = RollPolicy { split: true, zsk_lifetime: Some(30 * DAY), ..POLICY };
    let start = settle(&policy, &[], 0, 1);
    let zsk = key(&start.keys, 2);
    assert_eq!(plan(&policy, &start.keys, 2 * DAY).next_event, Some(30 * DAY - IPUB), "the successor is made Ipub before the lifetime ends");
    let roll_at = 30 * DAY - IPUB;
    let asked = plan(&policy, &start.keys, roll_at);
    assert_eq!(asked.new_keys, [(KeyRole::Zsk, policy.algorithm)]);
    let rolled = settle(&policy, &start.keys, roll_at, 3);
    let (old, new) = (key(&rolled.keys, zsk.tag), key(&rolled.keys, 3));
    assert_eq!((new.publish, new.active), (Some(roll_at), Some(30 * DAY)));
    assert_eq!((old.retire, old.remove), (Some(30 * DAY), Some(30 * DAY + ISIG)));
    assert!(new.is_published(roll_at) && !new.is_signing(roll_at) && old.signs_data(roll_at));
    assert_eq!(rolled.next_event, Some(30 * DAY));
    assert!(old.is_published(30 * DAY + ISIG - 1) && old.is_removed(30 * DAY + ISIG));
}

#[test]
fn ksk_double_ds_waits_for_the_observed_ds_and_never_guesses() {
    let policy = RollPolicy { split: true, ksk_lifetime: Some(100 * DAY), ..POLICY };
    let mut keys = settle(&policy, &[], 0, 1).keys;
    keys[0].ds_seen = Some(2 * DAY);
    let rolled = settle(&policy, &keys, 100 * DAY, 3);
    let new = key(&rolled.keys, 3);
    assert_eq!((new.publish, new.active, new.ds_publish), (Some(100 * DAY), Some(100 * DAY), Some(100 * DAY + IPUB)));
    // Years later, nothing was observed: the old KSK stays, its CDS stays, nothing is guessed.
    let later = plan(&policy, &rolled.keys, 1000 * DAY);
    let old = key(&later.keys, 1);
    assert!(old.ds_withdraw.is_none() && old.remove.is_none() && old.has_cds(1000 * DAY) && old.signs_keys(1000 * DAY));
    assert!(later.new_keys.is_empty(), "no second roll while the first waits");
    // The new DS is seen: the old CDS goes at once; its DS must be seen gone before it leaves.
    let mut keys = later.keys;
    keys.iter_mut().find(|k| k.tag == 3).into_iter().for_each(|k| k.ds_seen = Some(1000 * DAY));
    let seen = plan(&policy, &keys, 1000 * DAY);
    let old = key(&seen.keys, 1);
    assert_eq!((old.ds_withdraw, old.remove), (Some(1000 * DAY), None));
    let mut keys = seen.keys;
    keys.iter_mut().find(|k| k.tag == 1).into_iter().for_each(|k| k.ds_gone = Some(1001 * DAY));
    let gone = plan(&policy, &keys, 1001 * DAY);
    let old = key(&gone.keys, 1);
    assert_eq!((old.retire, old.remove), (Some(1000 * DAY + IDS), Some(1000 * DAY + IDS)), "Ids after the new DS was seen");
}

#[test]
fn csk_roll_keeps_the_old_key_signing_the_dnskey_rrset() {
    let policy = RollPolicy { ksk_lifetime: Some(100 * DAY), ..POLICY };
    let mut keys = settle(&policy, &[], 0, 1).keys;
    keys[0].ds_seen = Some(DAY);
    let roll_at = 100 * DAY - IPUB;
    assert_eq!(plan(&policy, &keys, 2 * DAY).next_event, Some(roll_at));
    let mut keys = settle(&policy, &keys, roll_at, 2).keys;
    let (old, new) = (key(&keys, 1), key(&keys, 2));
    assert_eq!((new.publish, new.active, new.ds_publish, old.retire), (Some(roll_at), Some(100 * DAY), Some(100 * DAY + IPUB), Some(100 * DAY)));
    assert_eq!(old.signing_role(100 * DAY), Some(KeyRole::Ksk));
    assert_eq!(new.signing_role(100 * DAY), Some(KeyRole::Csk));
    let seen = 100 * DAY + IPUB + 10;
    keys.iter_mut().for_each(|k| k.ds_seen = k.ds_seen.or(Some(seen)));
    let mut keys = plan(&policy, &keys, seen).keys;
    assert_eq!(key(&keys, 1).ds_withdraw, Some(seen));
    keys.iter_mut().for_each(|k| k.ds_gone = (k.tag == 1).then_some(seen + 10));
    let old = key(&plan(&policy, &keys, seen + 10).keys, 1);
    assert_eq!(old.remove, Some((seen + IDS).max(100 * DAY + ISIG)));
}

#[test]
fn algorithm_rollover_signs_before_publishing_and_unpublishes_before_unsigning() {
    let mut keys = settle(&POLICY, &[], 0, 1).keys;
    keys[0].ds_seen = Some(DAY);
    let policy = RollPolicy { algorithm: Algorithm::ED25519, ..POLICY };
    let keys = settle(&policy, &keys, 10 * DAY, 2).keys;
    let new = key(&keys, 2);
    assert_eq!((new.active, new.publish, new.ds_publish), (Some(10 * DAY), Some(10 * DAY + ISIG), Some(10 * DAY + ISIG + IPUB)));
    assert!(new.is_signing(10 * DAY) && !new.is_published(10 * DAY) && new.signing_role(10 * DAY) == Some(KeyRole::Csk));
    let seen_at = 20 * DAY;
    let mut keys = keys;
    keys.iter_mut().filter(|k| k.tag == 2).for_each(|k| k.ds_seen = Some(seen_at));
    let mut keys = plan(&policy, &keys, seen_at).keys;
    assert_eq!(key(&keys, 1).ds_withdraw, Some(seen_at));
    keys.iter_mut().filter(|k| k.tag == 1).for_each(|k| k.ds_gone = Some(seen_at + DAY));
    let old = key(&plan(&policy, &keys, seen_at + DAY).keys, 1);
    assert_eq!((old.remove, old.retire), (Some(seen_at + DAY + IDS), Some(seen_at + DAY + IDS + IPUB)));
    assert!(!old.is_published(seen_at + DAY + IDS) && old.signs_data(seen_at + DAY + IDS) && !old.is_removed(seen_at + DAY + IDS));
}

#[test]
fn describe_names_the_state_the_next_step_and_the_command_to_run() {
    let policy = RollPolicy { split: true, ksk_lifetime: Some(100 * DAY), zsk_lifetime: Some(30 * DAY), ..POLICY };
    let keys = settle(&policy, &[], 0, 1).keys;
    let lines = describe("example.", &policy, &keys, 2 * DAY);
    assert_eq!(lines[0], "zone example.: 2 key(s), next planning 1970-01-30 22:55:00 UTC");
    assert_eq!(
        lines[1],
        "key 1 (KSK, algorithm 13): published, signing the DNSKEY RRset, CDS/CDNSKEY published; next: waiting for the parent's DS of key 1 (run `portcullis dnssec ds-seen example. 1` once it is there)"
    );
    assert_eq!(lines[2], "key 2 (ZSK, algorithm 13): published, signing the zone data; next: successor made at 1970-01-30 22:55:00 UTC");
    let rolled = settle(&policy, &keys, 100 * DAY, 3).keys;
    let lines = describe("example.", &policy, &rolled, 100 * DAY);
    assert!(
        lines[3].contains("key 3 (KSK, algorithm 13): published, signing the DNSKEY RRset; next: CDS/CDNSKEY published at 1970-04-11 01:05:00 UTC"),
        "{lines:#?}"
    );
}

#[test]
fn a_csk_hands_its_halves_to_a_new_ksk_and_zsk() {
    let mut keys = settle(&POLICY, &[], 0, 1).keys;
    keys[0].ds_seen = Some(2 * DAY);
    let split = RollPolicy { split: true, ..POLICY };
    assert_eq!(plan(&split, &keys, 3 * DAY).new_keys, [(KeyRole::Ksk, POLICY.algorithm), (KeyRole::Zsk, POLICY.algorithm)]);
    let keys = settle(&split, &keys, 3 * DAY, 2).keys;
    let (csk, ksk, zsk) = (key(&keys, 1), key(&keys, 2), key(&keys, 3));
    assert_eq!((zsk.publish, zsk.active, csk.retire), (Some(3 * DAY), Some(3 * DAY + IPUB), Some(3 * DAY + IPUB)), "data: as a ZSK roll");
    assert_eq!((ksk.publish, ksk.active, ksk.ds_publish), (Some(3 * DAY), Some(3 * DAY), Some(3 * DAY + IPUB)), "keys: as a KSK roll");
    assert_eq!(csk.signing_role(3 * DAY + IPUB), Some(KeyRole::Ksk));
    assert!(csk.ds_withdraw.is_none(), "the CSK's DS stays until the new KSK's is seen");
}

#[test]
fn absurd_policies_and_times_do_not_panic() {
    let policy = RollPolicy {
        ksk_lifetime: Some(u64::MAX),
        zsk_lifetime: Some(0),
        zone_propagation_delay: u64::MAX,
        parent_propagation_delay: u64::MAX,
        dnskey_ttl: u32::MAX,
        split: true,
        ..POLICY
    };
    for now in [0, 1_800_000_000, 1 << 50] {
        let keys = settle(&policy, &[], now, 1).keys;
        let again = settle(&policy, &keys, now + 1, 3);
        assert!(again.keys.iter().all(|k| k.publish.is_some()));
        assert!(!describe("example.", &policy, &again.keys, now + 1).is_empty());
    }
}
