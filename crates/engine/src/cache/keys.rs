//! The validator's key cache (Unbound's key cache): what the chain of trust established about
//! each zone cut, so that a DNSKEY RRset is verified against its DS once per TTL, not once per
//! answer. Keyed by the lower-cased zone name; bounded ([`MAX_ZONES`], emptied when full, the
//! facts are cheap to learn again).

use crate::base::Instant;
use portcullis_wire::NameBuf;
use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

/// Most zones remembered.
pub const MAX_ZONES: usize = 10_000;

/// What is known about the zone at a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZoneKeys {
    /// A secure DS RRset names the zone's keys (the DNSKEY RRset is still to be checked).
    Ds(Vec<Vec<u8>>),
    /// The zone's DNSKEY RRset, verified from a trust anchor.
    Secure(Vec<Vec<u8>>),
    /// The zone is unsigned (a proven delegation without DS, unsupported algorithms or digests,
    /// or a negative trust anchor), with the EDE code to report (0 for none).
    Insecure(u16),
    /// The chain of trust breaks here: the EDE code and the reason.
    Bogus(u16, String),
    /// The name is no zone cut (its parent zone's denial of DS shows no NS there).
    NotCut,
}

/// The key cache.
#[derive(Debug, Default)]
pub struct KeyCache {
    zones: Mutex<BTreeMap<Vec<u8>, (ZoneKeys, Instant)>>,
}

impl KeyCache {
    /// What is known about `zone` at `now`.
    pub fn get(&self, zone: &NameBuf, now: Instant) -> Option<ZoneKeys> {
        let zones = self.zones.lock().unwrap_or_else(PoisonError::into_inner);
        zones.get(zone.to_lowercase().as_wire()).filter(|(_, until)| *until > now).map(|(keys, _)| keys.clone())
    }

    /// Remembers `keys` for `zone` for `ttl` seconds.
    pub fn put(&self, zone: &NameBuf, keys: ZoneKeys, ttl: u32, now: Instant) {
        let mut zones = self.zones.lock().unwrap_or_else(PoisonError::into_inner);
        if zones.len() >= MAX_ZONES {
            zones.clear();
        }
        zones.insert(zone.to_lowercase().as_wire().to_vec(), (keys, now.plus_secs(u64::from(ttl))));
    }

    /// Forgets what is known about `zone` (its data is asked again elsewhere).
    pub fn remove(&self, zone: &NameBuf) {
        self.zones.lock().unwrap_or_else(PoisonError::into_inner).remove(zone.to_lowercase().as_wire());
    }

    /// Forgets everything (a changed trust anchor).
    pub fn clear(&self) {
        self.zones.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}
