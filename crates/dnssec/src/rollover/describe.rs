//! A human-readable status of a zone's keys: one line for the plan and one per key with its
//! state and next step, for `portcullis dnssec status`.

use super::handover::{gone_or_never_asked, lifetime_trigger, seen, target};
use super::{plan, Intervals, RollPolicy, Shape};
use crate::keystate::{format_time, KeyState};
use crate::zone::KeyRole;

/// The status of the keys of `zone` at `now`, as [`plan`] sees them: a first line with the next
/// planning time (and the keys to be made, if any), then one line per key that
/// is not removed: tag, role, algorithm, state and next step with its time. A step that waits
/// for the parent names the command that records it.
pub fn describe(zone: &str, policy: &RollPolicy, keys: &[KeyState], now: u64) -> Vec<String> {
    let planned = plan(policy, keys, now);
    let next = planned.next_event.map_or_else(|| "not scheduled (after `ds-seen`, `ds-gone` or a policy change)".to_owned(), date);
    let shape = Shape { algorithm: policy.algorithm, split: policy.split };
    let successors: Vec<(usize, u64)> = shape
        .roles()
        .iter()
        .filter_map(|&role| {
            Some((target(&planned.keys, role, shape.algorithm)?, lifetime_trigger(policy, &planned.keys, shape, role, Intervals::of(policy), now)?))
        })
        .collect();
    let mut lines = vec![format!("zone {zone}: {} key(s), next planning {next}", planned.keys.iter().filter(|key| !key.is_removed(now)).count())];
    for (role, algorithm) in &planned.new_keys {
        lines.push(format!("new {} of algorithm {} to be made now", role_name(*role), algorithm.0));
    }
    for (index, key) in planned.keys.iter().enumerate().filter(|(_, key)| !key.is_removed(now)) {
        let successor = successors.iter().find(|(target, _)| *target == index).map(|&(_, at)| at);
        lines.push(format!(
            "key {} ({}, algorithm {}): {}; next: {}",
            key.tag,
            role_name(key.role),
            key.algorithm.0,
            state(key, now),
            next_step(zone, key, successor, now)
        ));
    }
    lines
}

fn role_name(role: KeyRole) -> &'static str {
    match role {
        KeyRole::Ksk => "KSK",
        KeyRole::Zsk => "ZSK",
        KeyRole::Csk => "CSK",
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC`.
fn date(secs: u64) -> String {
    let t = format_time(secs);
    format!("{}-{}-{} {}:{}:{} UTC", &t[0..4], &t[4..6], &t[6..8], &t[8..10], &t[10..12], &t[12..14])
}

/// What the key does now.
fn state(key: &KeyState, now: u64) -> String {
    let published = if key.is_published(now) { "published" } else { "not published" };
    let signing = match (key.signs_keys(now), key.signs_data(now)) {
        (true, true) => "signing everything",
        (true, false) => "signing the DNSKEY RRset",
        (false, true) => "signing the zone data",
        (false, false) => "not signing",
    };
    let cds = if key.has_cds(now) { ", CDS/CDNSKEY published" } else { "" };
    let parent = match (key.ds_seen, key.ds_gone) {
        (_, Some(gone)) if gone <= now => ", DS seen gone from the parent",
        (Some(seen), _) if seen <= now => ", DS seen at the parent",
        _ => "",
    };
    format!("{published}, {signing}{cds}{parent}")
}

/// The key's next timed event, or the observation it waits for.
fn next_step(zone: &str, key: &KeyState, successor: Option<u64>, now: u64) -> String {
    let timed = [
        (key.publish, "DNSKEY published"),
        (key.active, "starts signing"),
        (key.ds_publish, "CDS/CDNSKEY published"),
        (key.ds_withdraw, "CDS/CDNSKEY withdrawn"),
        (key.retire, "stops signing"),
        (key.remove, "DNSKEY removed"),
    ];
    if let Some(at) = timed.iter().filter_map(|&(at, _)| at.filter(|&at| at > now)).min() {
        let what: Vec<&str> = timed.iter().filter(|&&(when, _)| when == Some(at)).map(|&(_, what)| what).collect();
        return format!("{} at {}", what.join(" and "), date(at));
    }
    let asked = key.role != KeyRole::Zsk && key.ds_publish.is_some_and(|at| at <= now);
    let withdrawn = key.ds_withdraw.is_some_and(|at| at <= now);
    if withdrawn && key.remove.is_none() && !gone_or_never_asked(key, now) {
        return format!("waiting for the parent to remove the DS of key {tag} (run `portcullis dnssec ds-gone {zone} {tag}` once it has)", tag = key.tag);
    }
    if asked && !withdrawn && seen(key).is_none() {
        return format!("waiting for the parent's DS of key {tag} (run `portcullis dnssec ds-seen {zone} {tag}` once it is there)", tag = key.tag);
    }
    if let Some(at) = successor {
        format!("successor made at {}", date(at))
    } else if key.remove.is_none() {
        "none scheduled (in service)".to_owned()
    } else {
        "none (leaving)".to_owned()
    }
}
