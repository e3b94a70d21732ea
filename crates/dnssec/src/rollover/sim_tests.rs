//! Every rollover kind run in the simulated world ([`super::sim`]): at every step every
//! combination a resolver may hold validates, rollovers finish within bounded steps, and a KSK
//! roll without an observed DS waits forever.

use super::sim::{Operator, Signer, World};
use super::{describe, RollPolicy};
use crate::zone::KeyRole;
use crate::Algorithm;

const DAY: u64 = 86_400;
const START: u64 = 1_800_000_000;

/// Distinct intervals, so that a mix-up shows: Ipub 4200 s, Isig 20 600 s, Ids 51 800 s.
const POLICY: RollPolicy = RollPolicy {
    algorithm: Algorithm::ECDSAP256SHA256,
    split: true,
    ksk_lifetime: None,
    zsk_lifetime: None,
    dnskey_ttl: 3600,
    zone_max_ttl: 20_000,
    zone_propagation_delay: 600,
    parent_ds_ttl: 50_000,
    parent_propagation_delay: 1800,
};

const OPERATOR: Operator = Operator { reacts: true, parent_delay: 2 * DAY, observe_delay: 3600 };

fn world(policy: RollPolicy, restart: bool) -> World {
    let mut world = World::new(policy, OPERATOR, START);
    world.restart_each_step = restart;
    world
}

/// Every key of `role` and `alg` but the newest is gone, and there were at least `rolls` rolls.
fn assert_rolled(world: &World, role: KeyRole, alg: u8, rolls: usize) {
    let made = world.made(role, alg);
    assert!(made.len() > rolls, "{role:?}: {} keys made, wanted {rolls} rolls: {made:#?}", made.len());
    for old in &made[..made.len() - 1] {
        let next = made.iter().find(|k| k.created > old.created).map_or(0, |k| k.created);
        assert!(old.is_removed(world.now) || next + 20 * DAY > world.now, "key {} never left: {old:?}", old.tag);
    }
}

fn zsk_roll(restart: bool) {
    let mut world = world(RollPolicy { zsk_lifetime: Some(30 * DAY), ..POLICY }, restart);
    world.run(START + 200 * DAY, 100);
    assert_rolled(&world, KeyRole::Zsk, 13, 5);
    assert_eq!(world.made(KeyRole::Ksk, 13).len(), 1);
}

#[test]
fn zsk_pre_publication_rolls_validate_at_every_step() {
    zsk_roll(false);
}

#[test]
fn zsk_rolls_survive_a_restart_at_every_step() {
    zsk_roll(true);
}

fn ksk_roll(restart: bool) {
    let mut world = world(RollPolicy { ksk_lifetime: Some(40 * DAY), ..POLICY }, restart);
    world.run(START + 300 * DAY, 200);
    assert_rolled(&world, KeyRole::Ksk, 13, 5);
    assert_eq!(world.made(KeyRole::Zsk, 13).len(), 1);
}

#[test]
fn ksk_double_ds_rolls_validate_at_every_step() {
    ksk_roll(false);
}

#[test]
fn ksk_rolls_survive_a_restart_at_every_step() {
    ksk_roll(true);
}

#[test]
fn csk_rolls_validate_at_every_step() {
    for restart in [false, true] {
        let mut world = world(RollPolicy { split: false, ksk_lifetime: Some(40 * DAY), ..POLICY }, restart);
        world.run(START + 300 * DAY, 200);
        assert_rolled(&world, KeyRole::Csk, 13, 5);
    }
}

#[test]
fn csk_rolls_validate_when_signatures_outlive_the_ds() {
    let policy = RollPolicy { split: false, ksk_lifetime: Some(20 * DAY), zone_max_ttl: 7 * DAY as u32, parent_ds_ttl: 600, ..POLICY };
    let mut world = World::new(policy, Operator { parent_delay: 60, observe_delay: 60, ..OPERATOR }, START);
    world.run(START + 200 * DAY, 300);
    assert_rolled(&world, KeyRole::Csk, 13, 5);
}

#[test]
fn zsk_and_ksk_rolls_overlap_and_validate_at_every_step() {
    let policy = RollPolicy { ksk_lifetime: Some(25 * DAY), zsk_lifetime: Some(7 * DAY), ..POLICY };
    let mut world = World::new(policy, Operator { parent_delay: 5 * DAY, ..OPERATOR }, START);
    world.run(START + 200 * DAY, 400);
    assert_rolled(&world, KeyRole::Ksk, 13, 4);
    assert_rolled(&world, KeyRole::Zsk, 13, 20);
    let overlapped = world.made(KeyRole::Zsk, 13).iter().any(|z| {
        world.made(KeyRole::Ksk, 13).iter().skip(1).any(|k| {
            let ksk_roll = k.created..k.ds_seen.unwrap_or(u64::MAX);
            ksk_roll.contains(&z.created)
        })
    });
    assert!(overlapped, "a ZSK roll started during a KSK roll");
}

fn algorithm_roll(split_after: bool, restart: bool) {
    let mut world = world(RollPolicy { zsk_lifetime: Some(10 * DAY), ksk_lifetime: Some(60 * DAY), ..POLICY }, restart);
    world.run(START + 25 * DAY, 100);
    world.policy.algorithm = Algorithm::ED25519;
    world.policy.split = split_after;
    world.run(START + 80 * DAY, 200);
    for key in world.keys.iter().filter(|k| k.algorithm.0 == 13) {
        assert!(key.is_removed(world.now), "old algorithm key left: {key:?}");
    }
    let role = if split_after { KeyRole::Ksk } else { KeyRole::Csk };
    let new = world.made(role, 15);
    assert!(new.last().is_some_and(|k| k.signs_keys(world.now) && k.has_cds(world.now)), "{:#?}", world.keys);
}

#[test]
fn algorithm_rollover_validates_at_every_step() {
    algorithm_roll(true, false);
    algorithm_roll(true, true);
}

#[test]
fn algorithm_rollover_may_change_the_shape_too() {
    algorithm_roll(false, false);
    let mut world = world(RollPolicy { split: false, ..POLICY }, true);
    world.run(START + 5 * DAY, 50);
    world.policy.algorithm = Algorithm::ECDSAP384SHA384;
    world.policy.split = true;
    world.run(START + 60 * DAY, 100);
    assert!(world.keys.iter().filter(|k| k.algorithm.0 == 13).all(|k| k.is_removed(world.now)));
    assert!(world.made(KeyRole::Zsk, 14).last().is_some_and(|k| k.signs_data(world.now)));
}

#[test]
fn algorithm_rollover_changed_back_midway_still_validates() {
    let mut world = world(POLICY, false);
    world.run(START + 5 * DAY, 50);
    world.policy.algorithm = Algorithm::ED25519;
    world.run(START + 5 * DAY + 30_000, 50);
    world.policy.algorithm = Algorithm::ECDSAP256SHA256;
    world.run(START + 60 * DAY, 100);
    assert!(world.keys.iter().filter(|k| k.algorithm.0 == 15).all(|k| k.is_removed(world.now)), "{:#?}", world.keys);
}

#[test]
fn a_ksk_roll_without_the_parent_waits_forever() {
    let mut world = world(RollPolicy { ksk_lifetime: Some(40 * DAY), zsk_lifetime: Some(30 * DAY), ..POLICY }, false);
    world.run(START + 10 * DAY, 50);
    world.operator.reacts = false;
    world.run(START + 3000 * DAY, 500);
    let ksks = world.made(KeyRole::Ksk, 13);
    assert_eq!(ksks.len(), 2, "one roll started, none after it");
    let (old, new) = (ksks[0], ksks[1]);
    assert!(old.ds_withdraw.is_none() && old.remove.is_none() && old.signs_keys(world.now) && old.has_cds(world.now));
    assert!(new.ds_seen.is_none() && new.has_cds(world.now) && new.signs_keys(world.now));
    let lines = describe("example.", &world.policy, &world.keys, world.now);
    let waiting = format!("waiting for the parent's DS of key {} (run `portcullis dnssec ds-seen example. {}` once it is there)", new.tag, new.tag);
    assert!(lines.iter().any(|line| line.ends_with(&waiting)), "{lines:#?}");
    assert!(world.made(KeyRole::Zsk, 13).len() > 90, "ZSK rolls go on meanwhile");
}

/// A parent that acts at once (and one that removes slowly), so that every wait for the parent
/// that the planner adds to the observed events is what keeps the resolver validating.
#[test]
fn rollovers_validate_with_an_instant_parent() {
    for (parent_delay, observe_delay) in [(0, 0), (1000, 0), (0, 1000)] {
        let operator = Operator { reacts: true, parent_delay, observe_delay };
        for split in [true, false] {
            let policy = RollPolicy { split, ksk_lifetime: Some(9 * DAY), zsk_lifetime: Some(4 * DAY), ..POLICY };
            let mut world = World::new(policy, operator, START);
            world.run(START + 20 * DAY, 300);
            world.policy.algorithm = Algorithm::ED25519;
            world.run(START + 60 * DAY, 300);
            assert!(world.keys.iter().filter(|k| k.algorithm.0 == 13).all(|k| k.is_removed(world.now)));
        }
    }
}

/// After the lifetimes are switched off, every roll under way finishes: only one key per role
/// of the policy is left, of the policy's algorithm.
fn assert_converges(world: &mut World) {
    world.policy.ksk_lifetime = None;
    world.policy.zsk_lifetime = None;
    world.operator.reacts = true;
    let end = world.now + 120 * DAY;
    world.run(end, 400);
    let live: Vec<_> = world.keys.iter().filter(|k| !k.is_removed(world.now)).collect();
    let roles = if world.policy.split { 2 } else { 1 };
    assert_eq!(live.len(), roles, "{live:#?}");
    assert!(live.iter().all(|k| k.algorithm == world.policy.algorithm && k.is_published(world.now)));
}

#[test]
fn every_kind_of_roll_converges_once_lifetimes_stop() {
    let mut world = world(RollPolicy { ksk_lifetime: Some(30 * DAY), zsk_lifetime: Some(7 * DAY), ..POLICY }, false);
    world.run(START + 31 * DAY, 100);
    world.policy.algorithm = Algorithm::ED25519;
    world.run(START + 32 * DAY, 100);
    assert_converges(&mut world);
}

mod random {
    use super::*;
    use proptest::prelude::*;

    prop_compose! {
        fn policies()(split in any::<bool>(), ksk in 1u64..90, zsk in 1u64..40, dnskey_ttl in 60u32..172_800, zone_max_ttl in 60u32..604_800,
                      zone_delay in 0u64..7200, ds_ttl in 60u32..172_800, parent_delay in 0u64..7200) -> RollPolicy {
            RollPolicy { split, ksk_lifetime: Some(ksk * DAY), zsk_lifetime: Some(zsk * DAY), dnskey_ttl, zone_max_ttl,
                         zone_propagation_delay: zone_delay, parent_ds_ttl: ds_ttl, parent_propagation_delay: parent_delay, ..POLICY }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Random timings, operators (with pauses), algorithm and shape changes (and changes
        /// back), restarts, callers that drop removed keys, and three signers (the contract; each
        /// key by its own role; and one that also publishes every key it signs with, for which
        /// only the RFC 6840 rules 1 and 2 hold): every step validates and everything converges.
        #[test]
        fn random_policies_and_parents_always_validate(policy in policies(), parent_delay in 0u64..4 * DAY, observe_delay in 0u64..DAY,
                                                       change_at in proptest::option::of(0u64..100 * DAY), split_after in any::<bool>(),
                                                       change_algorithm in any::<bool>(),
                                                       restart in any::<bool>(), signer in 0..3usize, drop_removed in any::<bool>(),
                                                       change_back_at in proptest::option::of(0u64..30 * DAY),
                                                       pause in proptest::option::of(1u64..60 * DAY)) {
            let mut world = World::new(policy, Operator { reacts: true, parent_delay, observe_delay }, START);
            world.restart_each_step = restart;
            world.signer = [Signer::Contract, Signer::OwnRole, Signer::PublishesSigners][signer];
            world.drop_removed = drop_removed;
            if let Some(at) = change_at {
                world.run(START + at, 2000);
                if change_algorithm {
                    world.policy.algorithm = Algorithm::ED25519;
                }
                world.policy.split = split_after;
                if let Some(back) = change_back_at {
                    world.run(START + at + back, 2000);
                    world.policy = policy;
                }
            }
            if let Some(pause) = pause {
                world.operator.reacts = false;
                world.run(world.now + pause, 2000);
                world.operator.reacts = true;
            }
            world.run(START + 150 * DAY, 4000);
            assert_converges(&mut world);
        }
    }
}

/// Found by the random test: a CSK rolled before the first key's CDS was due must not ask the
/// parent earlier than the first key would have (caches still hold the unsigned zone).
#[test]
fn a_roll_right_after_signing_starts_keeps_the_first_cds_delay() {
    let policy = RollPolicy { split: false, ksk_lifetime: Some(DAY), zone_max_ttl: 7 * DAY as u32, ..POLICY };
    let mut world = World::new(policy, Operator { reacts: true, parent_delay: 0, observe_delay: 0 }, START);
    world.run(START + 30 * DAY, 300);
    assert_rolled(&world, KeyRole::Csk, 13, 3);
}

/// `describe` during a KSK roll names the observation each step waits for.
#[test]
fn describe_follows_a_ksk_roll() {
    let mut world = World::new(RollPolicy { ksk_lifetime: Some(40 * DAY), ..POLICY }, Operator { reacts: false, ..OPERATOR }, START);
    let mut seen = Vec::new();
    world.run(START + 41 * DAY, 50);
    seen.push(describe("example.", &world.policy, &world.keys, world.now));
    let (old, new) = (world.made(KeyRole::Ksk, 13)[0].tag, world.made(KeyRole::Ksk, 13)[1].tag);
    world.keys.iter_mut().filter(|k| k.tag == new).for_each(|k| k.ds_seen = Some(START + 42 * DAY));
    world.run(START + 42 * DAY, 50);
    seen.push(describe("example.", &world.policy, &world.keys, world.now));
    world.keys.iter_mut().filter(|k| k.tag == old).for_each(|k| k.ds_gone = Some(START + 42 * DAY + 3600));
    world.run(START + 42 * DAY + 3600, 50);
    seen.push(describe("example.", &world.policy, &world.keys, world.now));
    for lines in &seen {
        println!("{}\n", lines.join("\n"));
    }
    assert!(seen[0].iter().any(|l| l.contains(&format!("waiting for the parent's DS of key {new}"))), "{seen:#?}");
    assert!(seen[1].iter().any(|l| l.contains(&format!("run `portcullis dnssec ds-gone example. {old}`"))), "{seen:#?}");
    assert!(seen[2].iter().any(|l| l.starts_with(&format!("key {old} ")) && l.contains("DNSKEY removed at")), "{seen:#?}");
}

#[test]
fn shape_changes_without_an_algorithm_change_validate() {
    for (from, restart) in [(true, false), (false, false), (true, true), (false, true)] {
        let mut world = world(RollPolicy { split: from, ksk_lifetime: Some(30 * DAY), zsk_lifetime: Some(9 * DAY), ..POLICY }, restart);
        world.run(START + 40 * DAY, 200);
        world.policy.split = !from;
        world.run(START + 45 * DAY, 200);
        world.policy.split = from;
        world.run(START + 46 * DAY, 200);
        world.policy.split = !from;
        world.run(START + 100 * DAY, 200);
        assert_converges(&mut world);
    }
}
