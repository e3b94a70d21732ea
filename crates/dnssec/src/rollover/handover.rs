//! The rules of [`super::plan`]: when a new key is published and signs, when an outgoing key hands
//! over to its target, and when a lifetime starts the next roll (the steps are listed in the
//! module documentation of [`super`]). Every rule sets a time only where none is set yet, so
//! planning again changes nothing.

use super::{Intervals, RollPolicy, Shape};
use crate::keystate::KeyState;
use crate::zone::KeyRole;
use crate::Algorithm;

/// Sets `slot` to `at` (at least `now`) when it is not set yet.
fn set(slot: &mut Option<u64>, at: u64, now: u64) {
    if slot.is_none() {
        *slot = Some(at.max(now));
    }
}

/// Orders keys from oldest to newest: creation, then publication (a key not yet published is the
/// newer), then tag (so that any order of the stored files gives the same plan).
fn age(key: &KeyState) -> (u64, u64, u16) {
    (key.created, key.publish.unwrap_or(u64::MAX), key.tag)
}

/// True when keys of roles `a` and `b` share a function (signing the DNSKEY RRset, or the data).
fn overlap(a: KeyRole, b: KeyRole) -> bool {
    (a != KeyRole::Zsk && b != KeyRole::Zsk) || (a != KeyRole::Ksk && b != KeyRole::Ksk)
}

/// True when the key is leaving: its removal, its retirement from signing data or the withdrawal
/// of its CDS is set (a key that started to leave never comes back, even if the policy does).
fn leaving(key: &KeyState) -> bool {
    key.remove.is_some() || key.ds_withdraw.is_some() || (key.role != KeyRole::Ksk && key.retire.is_some())
}

/// The target key of `role`: the newest key of that role and algorithm that is not leaving.
pub(crate) fn target(keys: &[KeyState], role: KeyRole, algorithm: Algorithm) -> Option<usize> {
    let mine = keys.iter().enumerate().filter(|(_, key)| key.role == role && key.algorithm == algorithm && !leaving(key));
    mine.max_by_key(|(_, key)| age(key)).map(|(index, _)| index)
}

/// When the parent's DS of a key-signing key counts as seen: the observation, but never before
/// its CDS was published.
pub(crate) fn seen(key: &KeyState) -> Option<u64> {
    key.ds_seen.map(|seen| seen.max(key.ds_publish.unwrap_or(seen)))
}

/// True when the key's CDS/CDNSKEY were in the zone at some time up to `now`.
fn cds_was_published(key: &KeyState, now: u64) -> bool {
    let (Some(ds_publish), Some(publish)) = (key.ds_publish, key.publish) else { return false };
    let from = ds_publish.max(publish);
    from <= now && key.ds_withdraw.is_none_or(|end| from < end) && key.remove.is_none_or(|end| from < end)
}

/// True when an outgoing key-signing key may leave as far as the parent goes: its DS was
/// observed gone, or it never was asked for and never seen.
pub(crate) fn gone_or_never_asked(key: &KeyState, now: u64) -> bool {
    key.ds_gone.is_some() || (key.ds_seen.is_none() && !cds_was_published(key, now))
}

/// Sets the events of keys the caller just made (no time set yet).
pub(crate) fn schedule_new(keys: &mut [KeyState], intervals: Intervals, now: u64) {
    for index in 0..keys.len() {
        let key = keys[index];
        if key.publish.is_some() || key.active.is_some() {
            continue;
        }
        let others = || keys.iter().enumerate().filter(move |&(other, o)| other != index && o.publish.is_some() && !o.is_removed(now)).map(|(_, o)| o);
        // A successor takes over from a key of its algorithm that is staying until it is ready;
        // without one, a key signs before it is published if another key keeps signing meanwhile
        // (algorithm rollover, or a policy changed back while its old keys are leaving).
        let successor = others().any(|o| o.algorithm == key.algorithm && overlap(o.role, key.role) && !leaving(o));
        let sign_first = others().any(|o| overlap(o.role, key.role) && o.is_signing(now));
        // Never ask the parent earlier than for the keys before (the first key's CDS waits until
        // no cache holds the unsigned zone).
        let not_before = others().filter_map(|o| o.ds_publish).max().unwrap_or(0);
        let key = &mut keys[index];
        let (publish, active, ds_publish) = if successor {
            match key.role {
                KeyRole::Zsk => (now, now + intervals.publish, None),
                KeyRole::Ksk => (now, now, Some(now + intervals.publish)),
                // Its signature of the DNSKEY RRset must be in every cache before the old DS
                // can go: CDS Ipub after it starts signing.
                KeyRole::Csk => (now, now + intervals.publish, Some(now + 2 * intervals.publish)),
            }
        } else if sign_first {
            let publish = now + intervals.signatures;
            (publish, now, (key.role != KeyRole::Zsk).then_some(publish + intervals.publish))
        } else {
            let signed_everywhere = now + intervals.publish.max(intervals.signatures);
            (now, now, (key.role != KeyRole::Zsk).then_some(signed_everywhere))
        };
        key.publish = Some(publish);
        key.active = Some(active);
        key.ds_publish = ds_publish.map(|at| at.max(not_before));
    }
}

/// Applies the hand-over rules until nothing changes (a rule may enable another).
pub(crate) fn hand_over(keys: &mut [KeyState], shape: Shape, intervals: Intervals, now: u64) {
    for _ in 0..4 {
        let before = keys.to_vec();
        same_algorithm(keys, shape, intervals, now);
        other_algorithms(keys, shape, intervals, now);
        if keys == before.as_slice() {
            break;
        }
    }
}

/// ZSK, KSK and CSK rollovers: outgoing keys of the policy's algorithm.
fn same_algorithm(keys: &mut [KeyState], shape: Shape, intervals: Intervals, now: u64) {
    let data = target(keys, shape.data_signer(), shape.algorithm);
    let signer = target(keys, shape.key_signer(), shape.algorithm);
    // The new data signer is ready when it signs and every cache has its DNSKEY (the same time
    // for a pre-published successor; later for one that signs before it is published).
    let data_ready = data.and_then(|index| Some(keys[index].active?.max(keys[index].publish? + intervals.publish)));
    let signer_seen = signer.and_then(|index| seen(&keys[index]));
    for (index, key) in keys.iter_mut().enumerate() {
        if Some(index) == data || Some(index) == signer || key.algorithm != shape.algorithm || key.remove.is_some() {
            continue;
        }
        if key.role != KeyRole::Ksk {
            if let Some(ready) = data_ready {
                set(&mut key.retire, ready, now);
            }
        }
        if key.role == KeyRole::Zsk {
            if let Some(retire) = key.retire {
                set(&mut key.remove, retire + intervals.signatures, now);
            }
            continue;
        }
        let Some(seen) = signer_seen else { continue };
        set(&mut key.ds_withdraw, seen, now);
        if !gone_or_never_asked(key, now) || (key.role == KeyRole::Csk && key.retire.is_none()) {
            continue;
        }
        let data_done = if key.role == KeyRole::Csk { key.retire.map_or(0, |retire| retire + intervals.signatures) } else { 0 };
        let remove = (seen + intervals.parent).max(key.ds_gone.unwrap_or(0)).max(data_done);
        set(&mut key.remove, remove, now);
        if key.role == KeyRole::Ksk {
            set(&mut key.retire, remove, now);
        }
    }
}

/// Algorithm rollover: the keys of other algorithms leave once the new algorithm's DS is seen
/// and the old DS observed gone (RFC 6781 §4.1.4: DNSKEYs first, signatures `Ipub` later).
fn other_algorithms(keys: &mut [KeyState], shape: Shape, intervals: Intervals, now: u64) {
    let signer = target(keys, shape.key_signer(), shape.algorithm).map(|index| keys[index]);
    let data = target(keys, shape.data_signer(), shape.algorithm).map(|index| keys[index]);
    let (Some(signer), Some(data)) = (signer, data) else { return };
    let (Some(seen), Some(signer_published), Some(data_published)) = (seen(&signer), signer.publish, data.publish) else { return };
    let outgoing = |key: &KeyState| key.algorithm != shape.algorithm && key.remove.is_none();
    for key in keys.iter_mut().filter(|key| outgoing(key) && key.role != KeyRole::Zsk) {
        set(&mut key.ds_withdraw, seen, now);
    }
    let mut remove = (seen + intervals.parent).max(signer_published + intervals.publish).max(data_published + intervals.publish);
    for key in keys.iter().filter(|key| outgoing(key) && key.role != KeyRole::Zsk) {
        if !gone_or_never_asked(key, now) {
            return;
        }
        if let Some(gone) = key.ds_gone {
            remove = remove.max(gone + intervals.parent);
        }
    }
    // Clamped first: the signatures' end is counted from when the DNSKEYs really leave.
    let remove = remove.max(now);
    for key in keys.iter_mut().filter(|key| outgoing(key)) {
        set(&mut key.remove, remove, now);
        let retire = if key.role == KeyRole::Ksk { remove } else { remove + intervals.publish };
        set(&mut key.retire, retire, now);
    }
}

/// When the target key of `role` should be succeeded (its lifetime less the time its successor
/// needs to be ready), or `None` when it is not rolled by time or a roll of the same function is
/// still under way.
pub(crate) fn lifetime_trigger(policy: &RollPolicy, keys: &[KeyState], shape: Shape, role: KeyRole, intervals: Intervals, now: u64) -> Option<u64> {
    let lifetime = if role == KeyRole::Zsk { policy.zsk_lifetime } else { policy.ksk_lifetime }?;
    let index = target(keys, role, shape.algorithm)?;
    let active = keys[index].active?;
    let busy = keys.iter().enumerate().any(|(other, key)| other != index && !key.is_removed(now) && overlap(key.role, role));
    if busy {
        return None;
    }
    let lead = if role == KeyRole::Ksk { 0 } else { intervals.publish };
    Some(active.saturating_add(lifetime).saturating_sub(lead).max(active))
}
