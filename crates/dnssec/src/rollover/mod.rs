//! Key management as policy: from a zone's managed keys ([`KeyState`]), the policy and the time,
//! what happens next ([`plan`]). Pure and deterministic: the caller makes the keys the plan asks
//! for, stores the states and calls again at [`Plan::next_event`], and whenever it records an
//! observation of the parent ([`KeyState::ds_seen`], [`KeyState::ds_gone`]).
//!
//! # Intervals (RFC 7583 §3.1 names)
//!
//! - `Ipub` = zone propagation delay + DNSKEY TTL: after a DNSKEY change, how long a resolver
//!   may still hold the previous DNSKEY RRset.
//! - `Isig` = zone propagation delay + largest zone TTL: the same for signed data and its
//!   RRSIGs (the signer re-signs every RRset when the signing keys change, so `Dsgn` is 0).
//! - `Ids` = parent propagation delay + parent DS TTL: the same for the DS RRset.
//!
//! # The rollovers
//!
//! The zone's *target* keys are, for each role of the policy's shape (KSK and ZSK, or CSK), the
//! newest key of that role and the policy's algorithm that is not leaving. Every
//! other key is *outgoing*; the planner retires it once its target took over. Every time the
//! planner computes is clamped to `now` or later (so stored times are when the zone acts).
//!
//! - **First keys** (a zone without keys): published and signing at once (the zone is insecure
//!   until the parent has a DS); CDS/CDNSKEY after `max(Ipub, Isig)`, when no cache holds the
//!   unsigned zone any more, so that a quick parent cannot make cached unsigned data bogus.
//! - **ZSK pre-publication** (RFC 6781 §4.1.1.1, RFC 7583 §3.2.1): at `active + zsk_lifetime -
//!   Ipub` a successor is made and published; it signs from `+Ipub` (when every cached DNSKEY
//!   RRset holds it), and the old ZSK stops signing then; the old DNSKEY leaves `Isig` later
//!   (when no cached signature of it remains).
//! - **KSK rollover**, double-KSK with double-DS (RFC 7583 §3.3.1 with the DS set of §3.3.2,
//!   driven by RFC 7344 CDS/CDNSKEY): at `active + ksk_lifetime` the successor is published and
//!   signs the DNSKEY RRset beside the old KSK; its CDS/CDNSKEY join the old key's from `+Ipub`
//!   (every server and cache has its DNSKEY, so the parent may add the DS at once). Then the
//!   planner **waits for the observed event** `ds_seen` of the new key (never a timer). At
//!   `ds_seen` the old key's CDS/CDNSKEY are withdrawn (the parent is asked to drop its DS);
//!   the planner **waits for the observed** `ds_gone` of the old key and removes the old KSK at
//!   `max(ds_gone, ds_seen + Ids)` (no cache holds a DS set without the new key any more).
//! - **CSK rollover**: the ZSK and KSK rules together. The successor is published at
//!   `active + ksk_lifetime - Ipub`, signs everything from `+Ipub`, has CDS/CDNSKEY from
//!   `+2 Ipub` (when every cached DNSKEY RRset carries its signature); the old CSK stops signing
//!   data at `+Ipub` (its `retire`) but keeps signing the DNSKEY RRset until it is removed at
//!   `max(ds_gone, ds_seen + Ids, retire + Isig)`; the parent waits are observed as for a KSK.
//! - **Algorithm rollover**, conservative (RFC 6781 §4.1.4, RFC 7583 §3.4): when the policy's
//!   algorithm differs from the keys', new keys of the new algorithm (in the policy's shape, which
//!   may also change here) sign every RRset at once without being published; their DNSKEYs are
//!   published `Isig` later (every cached RRset then carries a signature of the new algorithm),
//!   their CDS/CDNSKEY `Ipub` after that. At the observed `ds_seen` of the new key-signing key
//!   the old algorithm's CDS/CDNSKEY are withdrawn; once every old key-signing key's DS is
//!   observed gone, at `R = max(ds_seen, ds_gone) + Ids` the old algorithm's DNSKEYs leave, and
//!   at `R + Ipub` its signatures stop (its keys are then [`KeyState::is_removed`]).
//! - **A change of shape** (CSK to KSK+ZSK or back, same algorithm) is a roll of its own, by the
//!   same rules: the new KSK takes over the DNSKEY RRset and the DS as in the KSK rollover (the
//!   new CSK as in the CSK rollover), the new ZSK (or CSK) takes over the data as in the ZSK
//!   rollover; an old CSK hands each half over separately.
//!
//! A key that started to leave (its retirement from data signing, its CDS withdrawal or its
//! removal is set) is never a target again, even if the policy changes back: a new key is made,
//! and as no key of its algorithm stays for it to take over from, it starts as an algorithm
//! rollover's key does (signing first, published `Isig` later).
//!
//! A new key's CDS/CDNSKEY are never published before those of the keys already in the zone (a
//! roll soon after signing started keeps the first key's wait).
//!
//! Lifetime rolls of a function (key signing, data signing) do not start while an outgoing key
//! of that function is still in the zone, so a roll never overlaps itself; a ZSK roll and a KSK
//! roll do overlap. A key-signing key whose CDS was published must be observed gone before it is
//! removed (the parent may have its DS even if nobody saw it); one whose CDS never was need not.
//!
//! # The observations
//!
//! `ds_seen`: the parent's DS RRset holds a DS for the key (from every parent server, or the
//! propagation delay covers the rest). `ds_gone`: after the key's CDS/CDNSKEY were withdrawn,
//! the parent's DS RRset no longer holds it (also when it never did). Both assume, as RFC 7344
//! §4.1 asks, that the parent acts on the CDS set the child publishes when it acts, not on one
//! read long before (a parent acting on a stale CDS set may briefly list a DS of a key already
//! gone; a validator still finds a path, RFC 6840 §5.11).
//!
//! # The signer's contract
//!
//! At time `t`, for every stored key that is not [`KeyState::is_removed`]:
//! - the DNSKEY RRset holds the keys with [`KeyState::is_published`] (flags from their role);
//! - the DNSKEY RRset is signed by every key with [`KeyState::signs_keys`], and every other
//!   authoritative RRset by every key with [`KeyState::signs_data`], whether or not that key is
//!   published ([`KeyState::signing_role`] gives the `ZoneKey` role that makes `sign_zone`'s
//!   per-role choice do this; its fallback, a lone key of an algorithm signing every RRset, only
//!   adds signatures, which is harmless);
//! - CDS and CDNSKEY records are published for the keys with [`KeyState::has_cds`] (RFC 7344
//!   §4.1 also wants them signed by a key with a DS: the [`KeyState::signs_keys`] keys);
//! - when that set changes, every RRset is re-signed at once (the intervals assume `Dsgn` = 0).
//!
//! `crate::sign_zone` does this with [`crate::KeyUse::SignOnly`]: the DNSKEY RRset is given
//! as input DNSKEY records (the published keys), the signing keys separately, each with its
//! [`KeyState::signing_role`], and no algorithm falls back to signing every RRset with the keys
//! it has. The server's signer (`zone_signer`) also puts the signing set in the digest that
//! decides whether a zone must be signed again, so a change of it re-signs at once.
//!
//! Using [`KeyState::is_signing`] with the key's own role instead is also safe (a rolling CSK
//! then signs data a little longer), but signing only published keys is not: the algorithm
//! rollover needs signatures before the DNSKEY.

mod describe;
mod handover;

pub use describe::describe;

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
    /// When to plan again, if any time is known. The planner must also run again when the
    /// caller records `ds_seen` or `ds_gone`: a roll waiting for the parent has no time.
    pub next_event: Option<u64>,
}

/// The waiting intervals of RFC 7583 §3.1 for a policy (see the module documentation).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Intervals {
    /// `Ipub`: a DNSKEY change reaches every cache.
    pub publish: u64,
    /// `Isig`: a signature change reaches every cache.
    pub signatures: u64,
    /// `Ids`: a DS change at the parent reaches every cache.
    pub parent: u64,
}

/// The longest interval the planner computes with (about 35 000 years): a bigger propagation
/// delay is taken as this, so that adding intervals to times never overflows.
const LONGEST: u64 = 1 << 40;

impl Intervals {
    pub(crate) fn of(policy: &RollPolicy) -> Self {
        let interval = |delay: u64, ttl: u32| delay.min(LONGEST) + u64::from(ttl);
        Self {
            publish: interval(policy.zone_propagation_delay, policy.dnskey_ttl),
            signatures: interval(policy.zone_propagation_delay, policy.zone_max_ttl),
            parent: interval(policy.parent_propagation_delay, policy.parent_ds_ttl),
        }
    }
}

/// The roles and algorithm the zone's target keys have.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shape {
    pub algorithm: Algorithm,
    pub split: bool,
}

impl Shape {
    /// The roles of the target keys.
    pub(crate) fn roles(self) -> &'static [KeyRole] {
        if self.split {
            &[KeyRole::Ksk, KeyRole::Zsk]
        } else {
            &[KeyRole::Csk]
        }
    }

    /// The role of the key that signs the DNSKEY RRset and has the DS.
    pub(crate) fn key_signer(self) -> KeyRole {
        if self.split {
            KeyRole::Ksk
        } else {
            KeyRole::Csk
        }
    }

    /// The role of the key that signs the data.
    pub(crate) fn data_signer(self) -> KeyRole {
        if self.split {
            KeyRole::Zsk
        } else {
            KeyRole::Csk
        }
    }
}

/// Plans the keys of one zone at `now`. Idempotent: planning the returned keys again at the same
/// `now` changes nothing.
pub fn plan(policy: &RollPolicy, keys: &[KeyState], now: u64) -> Plan {
    let mut keys = keys.to_vec();
    let shape = Shape { algorithm: policy.algorithm, split: policy.split };
    let intervals = Intervals::of(policy);
    let mut new_keys: Vec<(KeyRole, Algorithm)> =
        shape.roles().iter().filter(|&&role| handover::target(&keys, role, shape.algorithm).is_none()).map(|&role| (role, shape.algorithm)).collect();
    let mut triggers = Vec::new();
    if new_keys.is_empty() {
        handover::schedule_new(&mut keys, intervals, now);
        handover::hand_over(&mut keys, shape, intervals, now);
        for &role in shape.roles() {
            match handover::lifetime_trigger(policy, &keys, shape, role, intervals, now) {
                Some(at) if at <= now => new_keys.push((role, shape.algorithm)),
                Some(at) => triggers.push(at),
                None => {}
            }
        }
    }
    let events = keys.iter().flat_map(|key| [key.publish, key.active, key.retire, key.remove, key.ds_publish, key.ds_withdraw]).flatten();
    let next_event = events.chain(triggers).filter(|&t| t > now).min();
    Plan { keys, new_keys, next_event }
}

#[cfg(test)]
mod sim;
#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod tests;
