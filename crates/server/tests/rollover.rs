//! Key rollovers end to end (issue 13; RFC 6781 §4.1, RFC 7583, RFC 7344): a rollover of each
//! kind (ZSK pre-publication, KSK double-DS, CSK, algorithm 13 -> 15) driven with a fake key
//! clock, a validating Unbound asked after every step, and no answer ever bogus; a restart in
//! the middle of a roll keeps the keys and their states and the roll goes on.
//!
//! The world (`rollover/world.rs`): the parent `example.` is signed offline (`portcullis
//! sign-zone`) and served by one portcullis; it delegates `split.example.` (KSK and ZSK) and
//! `csk.example.` (one CSK), served by a second portcullis that signs them by policy. Unbound
//! trusts only the parent's DS. The test is the parent's operator of RFC 7344: whenever a
//! child's CDS set differs from the parent's DS set for it, the parent's DS set becomes the CDS
//! set (zone signed again, reloaded, served), then `portcullis dnssec ds-seen` / `ds-gone` record
//! what the parent now shows, after checking that `dnssec status` asks for exactly that.
//!
//! The clocks. Signature inception and expiration follow the real clock (Unbound checks them
//! against its own). The key planner's clock is the test's: the server reads it from the file
//! named by `PORTCULLIS_KEY_CLOCK_FILE` at each reload. Each step sets it to the planner's next
//! event (from `dnssec status`) and reloads (SIGHUP), then waits until the new serial is served.
//!
//! Why the waits are honest: Unbound's cache ages in real time, so the fake clock may not run
//! ahead of what caches really did. Every TTL served (parent and children: data, DNSKEY, DS,
//! negative answers) is 1 or 2 s, and each server is one process, so whatever a server stopped
//! serving has left every cache [`world::CACHE_BOUND`] (3.5 s) of real time later. Before the
//! key clock moves by `d`, the test lets at least `min(d, CACHE_BOUND)` of real time pass since
//! the last served change. Over any run of steps the real time is then at least the smaller of
//! the fake time and the cache bound, so whenever the planner counts on a cache having dropped
//! something (`Ipub`, `Isig`, `Ids` after a change), it really has. The policies say the TTLs
//! the zones have (`dnskey-ttl`, the zone's largest TTL, propagation 1 s) except
//! `parent-ds-ttl`, whose floor is 60 s: the planner then waits longer than the real DS TTL,
//! which is only safer. Long waits (a key lifetime of one day) are jumped over in 3.5 s.
//!
//! What is asked, and when: right before every change (a key clock step or a parent's move)
//! Unbound is asked everything, so its caches hold the state just before the change; after the
//! change it is asked at once (answers from those caches), 1.2 s later (in `split.example.` the
//! 1 s data expired and the 2 s DNSKEY RRset did not: old keys with new data; in
//! `csk.example.` the other way round) and once every cache dropped the old state (the served
//! state alone). Every answer must have the expected rcode and AD=1, and Unbound's log
//! (val-log-level 2, `val-max-restart: 0`) must hold no validation failure, not even one it
//! recovered from. Checked by hand that the test fails with a signer that skips ZSK
//! pre-publication (the mixed check: "signatures from unknown keys") and with one that leaves
//! the old KSK alone on the DNSKEY RRset after the parent's DS moved (the last check).
//! The whole test takes about two minutes.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[path = "it/client.rs"]
mod client;
#[path = "it/peers.rs"]
mod peers;
#[path = "rollover/world.rs"]
mod world;

use peers::{require, temp_dir, RemoveOnDrop};
use std::collections::BTreeSet;
use world::{Policies, World, CACHE_BOUND};

/// Steps allowed for one phase (each roll takes fewer than ten).
const MAX_STEPS: usize = 30;
const DAY: u64 = 86_400;
const SPLIT: &str = "split.example.";
const CSK: &str = "csk.example.";

/// Acts as the parent and steps the key clock event by event until `done`, asking the resolver
/// after every step (AD=1 required when `secure`); bounded.
fn drive(world: &mut World, policies: &Policies, secure: bool, what: &str, done: impl Fn(&World) -> bool) {
    for _ in 0..MAX_STEPS {
        if world.act_as_parent(policies, secure) {
            // The parent's move may make the child withdraw a CDS: act again before going on.
            world.check_resolver_thrice(secure);
            continue;
        }
        if done(world) {
            return;
        }
        let Some(next) = world.next_event() else {
            panic!("{what}: nothing scheduled and not done:\n{}\n{}\n{}", world.dnssec(&["status", SPLIT]), world.dnssec(&["status", CSK]), world.logs());
        };
        world.step_clock(next, policies, secure);
        world.check_resolver_thrice(secure);
    }
    panic!("{what}: not done after {MAX_STEPS} steps\n{}", world.logs());
}

/// The tags of `origin`'s keys of `role` ("KSK", "ZSK", "CSK") in the key directory.
fn tags_of(world: &World, origin: &str, role: &str) -> BTreeSet<u16> {
    let prefix = format!("K{origin}+");
    world
        .key_states()
        .into_iter()
        .filter(|(name, text)| name.starts_with(&prefix) && text.contains(&format!("Role: {role}\n")))
        .filter_map(|(_, text)| text.lines().find_map(|line| line.strip_prefix("KeyTag: ")?.trim().parse().ok()))
        .collect()
}

/// The one key of `role` of `origin`.
fn only(world: &World, origin: &str, role: &str) -> u16 {
    let tags = tags_of(world, origin, role);
    assert_eq!(tags.len(), 1, "{origin}: {role} keys {tags:?}");
    tags.into_iter().next().unwrap()
}

/// True once `tag`'s files are in `removed/` and `origin` serves no DNSKEY of it.
fn removed(world: &World, origin: &str, tag: u16) -> bool {
    world.key_tags(origin).1.contains(&tag)
}

/// Changes the policies, reloads, and drives the roll this starts until `old` (the outgoing key)
/// is removed; then sets `reset` (lifetimes back to 0, so no other roll starts) and reloads.
fn roll(world: &mut World, policies: &mut Policies, what: &str, origin: &'static str, old: u16, reset: impl Fn(&mut Policies)) {
    world.reload_children(policies);
    world.check_resolver(true);
    drive(world, policies, true, what, |world| removed(world, origin, old));
    reset(policies);
    world.reload_children(policies);
    world.check_resolver(true);
}

#[test]
fn rollovers_of_every_kind_keep_every_answer_secure_and_survive_a_restart() {
    let Some(tools) = require("rollovers_of_every_kind_keep_every_answer_secure", &["unbound", "dig"]) else { return };
    let dir = temp_dir("rollover");
    let _cleanup = RemoveOnDrop(dir.clone());
    let mut policies = Policies { csk_algorithm: "ecdsap256sha256", ..Policies::default() };
    let mut world = World::start(dir, &tools[0], &tools[1], &policies);

    // First keys: signed at once, insecure until the parent has the DS of the CDS that comes
    // max(Ipub, Isig) later; then secure.
    world.check_resolver(false);
    drive(&mut world, &policies, false, "first keys", |world| {
        [SPLIT, CSK].iter().all(|origin| world.seen.iter().any(|(zone, _)| zone == origin)) && world.next_event().is_none()
    });
    std::thread::sleep(CACHE_BOUND); // the parent's cached "no DS" (TTL 2 s) expires
    world.check_resolver(true);

    // ZSK pre-publication.
    let old_zsk = only(&world, SPLIT, "ZSK");
    policies.split_zsk_lifetime = DAY;
    roll(&mut world, &mut policies, "ZSK rollover", SPLIT, old_zsk, |p| p.split_zsk_lifetime = 0);
    let new_zsk = only(&world, SPLIT, "ZSK");
    assert_ne!(new_zsk, old_zsk);

    // KSK double-DS, with a restart once the parent has the new DS.
    let old_ksk = only(&world, SPLIT, "KSK");
    policies.split_ksk_lifetime = DAY;
    world.reload_children(&policies);
    drive(&mut world, &policies, true, "KSK rollover to the new DS", |world| world.seen.iter().any(|&(zone, tag)| zone == SPLIT && tag != old_ksk));
    let (states, dnskeys, status) = (world.key_states(), world.dnskeys(SPLIT), world.dnssec(&["status", SPLIT]));
    assert!(status.contains(&format!("key {old_ksk} (KSK")), "the old KSK is still there:\n{status}");
    world.restart_children();
    assert_eq!(world.key_states(), states, "a restart keeps every key and its state");
    assert_eq!(world.dnskeys(SPLIT), dnskeys, "and serves the same DNSKEY RRset");
    let keys_only = |status: &str| status.lines().filter(|line| !line.starts_with("serial served")).collect::<Vec<_>>().join("\n");
    assert_eq!(keys_only(&world.dnssec(&["status", SPLIT])), keys_only(&status), "and the status is the same (the serial went up)");
    world.check_resolver(true);
    drive(&mut world, &policies, true, "KSK rollover", |world| removed(world, SPLIT, old_ksk));
    policies.split_ksk_lifetime = 0;
    world.reload_children(&policies);
    assert_eq!(tags_of(&world, SPLIT, "KSK").len(), 1);
    assert_eq!(only(&world, SPLIT, "ZSK"), new_zsk, "the ZSK stayed through the KSK roll");

    // CSK rollover.
    let old_csk = only(&world, CSK, "CSK");
    policies.csk_lifetime = DAY;
    roll(&mut world, &mut policies, "CSK rollover", CSK, old_csk, |p| p.csk_lifetime = 0);
    let ecdsa_csk = only(&world, CSK, "CSK");
    assert_ne!(ecdsa_csk, old_csk);

    // Algorithm rollover, ECDSAP256SHA256 (13) to ED25519 (15).
    policies.csk_algorithm = "ed25519";
    roll(&mut world, &mut policies, "algorithm rollover", CSK, ecdsa_csk, |_| {});
    let dnskeys = world.dnskeys(CSK);
    assert!(!dnskeys.is_empty() && dnskeys.iter().all(|key| key.starts_with("257 3 15 ")), "{dnskeys:?}");
    assert_eq!(world.key_tags(CSK).1.len(), 2, "both old CSKs in removed/");
}
