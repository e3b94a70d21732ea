//! Key management as policy: from a zone's managed keys ([`KeyState`]), the policy and the time,
//! what happens next ([`plan`]). Pure: the caller makes the keys the plan asks for, stores the
//! states and calls again at [`Plan::next_event`].
//!
//! Today the planner starts a zone's keys (a CSK, or a KSK and a ZSK, of the policy's
//! algorithm, published and signing at once, with CDS/CDNSKEY for the key-signing key); the
//! rollovers of RFC 6781 and RFC 7583 build on the same states.

use crate::keystate::KeyState;
use crate::zone::KeyRole;
use crate::Algorithm;

/// The timings and shape of a zone's keys (from `[[dnssec-policy]]`); seconds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RollPolicy {
    /// The algorithm every key should have (a change starts an algorithm rollover).
    pub algorithm: Algorithm,
    /// A KSK and a ZSK (true) or one CSK (false).
    pub split: bool,
    /// How long a KSK (or CSK) signs before it is rolled; `None`: never rolled.
    pub ksk_lifetime: Option<u64>,
    /// How long a ZSK signs before it is rolled; `None`: never rolled.
    pub zsk_lifetime: Option<u64>,
    /// TTL of the DNSKEY RRset (and of CDS/CDNSKEY).
    pub dnskey_ttl: u32,
    /// The largest TTL of the zone's signed data.
    pub zone_max_ttl: u32,
    /// How long a change takes to reach every server of the zone.
    pub zone_propagation_delay: u64,
    /// TTL of the DS RRset at the parent.
    pub parent_ds_ttl: u32,
    /// How long a DS change takes to reach every server of the parent.
    pub parent_propagation_delay: u64,
}

/// What the caller does next.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Plan {
    /// The states after this step (every key given, with events set; removed keys may be
    /// dropped by the caller once [`KeyState::is_removed`]).
    pub keys: Vec<KeyState>,
    /// Keys to make now: the caller generates them, adds `KeyState::new(..)` for each and
    /// plans again (their events are set by that call).
    pub new_keys: Vec<(KeyRole, Algorithm)>,
    /// When to plan again (the next event set in `keys`), if any.
    pub next_event: Option<u64>,
}

/// Plans the keys of one zone at `now`.
pub fn plan(policy: &RollPolicy, keys: &[KeyState], now: u64) -> Plan {
    let mut keys = keys.to_vec();
    let wanted: &[KeyRole] = if policy.split { &[KeyRole::Ksk, KeyRole::Zsk] } else { &[KeyRole::Csk] };
    let mut new_keys = Vec::new();
    for &role in wanted {
        let mine = |key: &KeyState| key.role == role && key.algorithm == policy.algorithm && !key.is_removed(now);
        if !keys.iter().any(mine) {
            new_keys.push((role, policy.algorithm));
        }
    }
    if new_keys.is_empty() {
        for key in keys.iter_mut().filter(|key| key.publish.is_none()) {
            start(key, now);
        }
    }
    let next_event =
        keys.iter().flat_map(|key| [key.publish, key.active, key.retire, key.remove, key.ds_publish, key.ds_withdraw]).flatten().filter(|&t| t > now).min();
    Plan { keys, new_keys, next_event }
}

/// A zone's first key: in the zone and signing at once (the zone is not secure before its DS
/// is at the parent, so nothing waits), with CDS/CDNSKEY for a key-signing key.
fn start(key: &mut KeyState, now: u64) {
    key.publish = Some(now);
    key.active = Some(now);
    if key.role != KeyRole::Zsk {
        key.ds_publish = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RollPolicy = RollPolicy {
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

    #[test]
    fn a_zone_without_keys_gets_them_and_they_start_at_once() {
        let first = plan(&POLICY, &[], 100);
        assert_eq!(first.new_keys, [(KeyRole::Csk, Algorithm::ECDSAP256SHA256)]);
        let made = [KeyState::new(Algorithm::ECDSAP256SHA256, 7, KeyRole::Csk, 100)];
        let second = plan(&POLICY, &made, 100);
        assert!(second.new_keys.is_empty());
        let key = second.keys[0];
        assert!(key.is_published(100) && key.is_signing(100) && key.has_cds(100));
        let split = plan(&RollPolicy { split: true, ..POLICY }, &[], 100);
        assert_eq!(split.new_keys, [(KeyRole::Ksk, Algorithm::ECDSAP256SHA256), (KeyRole::Zsk, Algorithm::ECDSAP256SHA256)]);
    }
}
