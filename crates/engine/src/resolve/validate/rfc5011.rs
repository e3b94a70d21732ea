//! Automated updates of trust anchors (RFC 5011): the resolver follows a trust-anchored zone's
//! key-signing key rollovers by itself. Each time the DNSKEY RRset of an anchored zone validates,
//! its SEP keys are taken in ([`TrustPoints::observe`]):
//!
//! - a new SEP key is `AddPend` and becomes `Valid` (trusted) once it has been seen, in RRsets
//!   validated by keys already trusted, for the add hold-down ([`ADD_HOLD_DOWN`], 30 days, §2.4.1);
//!   gone before then, it is forgotten;
//! - a `Valid` key missing from the RRset is `Missing` (still trusted) and `Valid` again when it
//!   comes back;
//! - a trusted key published with the REVOKE bit and signing the RRset itself (§2.1) is
//!   `Revoked` (never trusted again) and forgotten after the remove hold-down (§4.2).
//!
//! The keys the anchor's DS or DNSKEY records name are `Valid` from the first observation; a
//! trust point belongs to the configured anchor it started from (its [`fingerprint`]), and an
//! operator's new anchor for the zone starts it afresh. The
//! state is text the server keeps in its key directory ([`TrustPoints::to_text`],
//! [`TrustPoints::load`]); the engine decides, the server stores, the clock is the caller's
//! (seconds since the epoch). Revoked keys and keys pending beyond [`MAX_KEYS`] are not kept.

use crate::cache::Rrset;
use crate::zonefile::{parse_zone_text, NoIncludes};
use portcullis_dnssec::rrsig::signing_input;
use portcullis_dnssec::{key_tag, verify, Dnskey, Rrsig};
use portcullis_wire::rdata::rdata_to_text;
use portcullis_wire::{NameBuf, Rtype};
use std::sync::{Mutex, PoisonError};

/// The add hold-down time (RFC 5011 §2.4.1): 30 days.
pub const ADD_HOLD_DOWN: u64 = 30 * 86_400;
/// The remove hold-down time (RFC 5011 §2.4.2): 30 days.
pub const REMOVE_HOLD_DOWN: u64 = 30 * 86_400;
/// Most keys kept per trust point (a zone publishing more is not followed further).
pub const MAX_KEYS: usize = 16;

/// The shortest active refresh and retry interval (RFC 5011 §2.3): 1 hour.
pub const MIN_REFRESH: u64 = 3600;
/// The longest active refresh interval (RFC 5011 §2.3): 15 days.
pub const MAX_REFRESH: u64 = 15 * 86_400;
/// The longest retry interval after a failed refresh (RFC 5011 §2.3): 1 day.
pub const MAX_RETRY: u64 = 86_400;

/// Seconds until the next active refresh of an anchored zone whose DNSKEY RRset `dnskeys` was
/// just fetched and validated at `unix` (RFC 5011 §2.3): MAX(1 hour, MIN(15 days, 1/2 the
/// original TTL, 1/2 the time left before its RRSIGs expire)). The original TTL is the largest
/// of the RRSIGs' original TTL fields and the RRset's TTL; the RRSIG expiring first counts.
pub fn refresh_interval(dnskeys: &Rrset, unix: u64) -> u64 {
    let (ttl, expires) = ttl_and_expiry(dnskeys, unix);
    (ttl / 2).min(expires / 2).clamp(MIN_REFRESH, MAX_REFRESH)
}

/// Seconds until a failed refresh is tried again (RFC 5011 §2.3): MAX(1 hour, MIN(1 day, 1/10
/// the original TTL, 1/10 the time left before the RRSIGs expire)), from the DNSKEY RRset
/// last seen (`None`: 1 hour).
pub fn retry_interval(last_seen: Option<&Rrset>, unix: u64) -> u64 {
    let Some(dnskeys) = last_seen else { return MIN_REFRESH };
    let (ttl, expires) = ttl_and_expiry(dnskeys, unix);
    (ttl / 10).min(expires / 10).clamp(MIN_REFRESH, MAX_RETRY)
}

/// The original TTL of `dnskeys` and the seconds left at `unix` before its first RRSIG expires
/// (an RRset without RRSIGs: its TTL for both).
fn ttl_and_expiry(dnskeys: &Rrset, unix: u64) -> (u64, u64) {
    let sigs: Vec<Rrsig> = dnskeys.sigs.iter().filter_map(|sig| Rrsig::parse(sig).ok()).map(|(rrsig, _)| rrsig).collect();
    let ttl = sigs.iter().map(|rrsig| u64::from(rrsig.original_ttl)).chain([u64::from(dnskeys.ttl)]).max().unwrap_or(0);
    // RFC 1982 arithmetic: an expiration in the past is 0 seconds away.
    let left = |rrsig: &Rrsig| {
        let left = rrsig.expiration.wrapping_sub(unix as u32);
        if left >= 0x8000_0000 {
            0
        } else {
            u64::from(left)
        }
    };
    (ttl, sigs.iter().map(left).min().unwrap_or(ttl))
}

/// Where one key stands (RFC 5011 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    /// Seen, waiting out the add hold-down.
    AddPend,
    /// Trusted.
    Valid,
    /// Trusted, absent from the last RRset.
    Missing,
    /// Revoked by its owner: never trusted again.
    Revoked,
}

impl KeyState {
    fn name(self) -> &'static str {
        match self {
            KeyState::AddPend => "ADDPEND",
            KeyState::Valid => "VALID",
            KeyState::Missing => "MISSING",
            KeyState::Revoked => "REVOKED",
        }
    }

    fn from_name(text: &str) -> Option<Self> {
        [KeyState::AddPend, KeyState::Valid, KeyState::Missing, KeyState::Revoked].into_iter().find(|state| state.name() == text)
    }
}

/// One key of a trust point: its DNSKEY rdata (REVOKE bit clear), state, and since when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagedKey {
    /// The DNSKEY rdata, with the REVOKE bit clear.
    pub dnskey: Vec<u8>,
    /// The state.
    pub state: KeyState,
    /// When the key entered the state (seconds since the epoch).
    pub since: u64,
}

/// The managed keys of one anchored zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustPoint {
    /// The zone.
    pub zone: NameBuf,
    /// The [`fingerprint`] of the configured anchor the keys were learned from: another
    /// anchor (the operator changed it) starts the trust point afresh.
    pub anchor: u64,
    /// Its keys.
    pub keys: Vec<ManagedKey>,
}

/// The trust points of the resolver, shared by every resolution (the cache holds them).
#[derive(Debug, Default)]
pub struct TrustPoints {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    points: Vec<TrustPoint>,
    /// Changed since the server last took the text.
    dirty: bool,
}

/// A fingerprint of the configured anchor `anchor` (its DS and DNSKEY rdatas, in any order).
pub fn fingerprint(anchor: &super::Anchor) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut rdatas: Vec<&Vec<u8>> = anchor.ds.iter().chain(&anchor.dnskeys).collect();
    rdatas.sort();
    let mut hasher = crate::base::hash::Fnv::default();
    rdatas.hash(&mut hasher);
    hasher.finish()
}

/// `rdata` with the REVOKE bit clear.
fn unrevoked(rdata: &[u8]) -> Vec<u8> {
    let mut key = rdata.to_vec();
    if let Some(flags) = key.get_mut(1) {
        *flags &= !(Dnskey::REVOKE as u8);
    }
    key
}

fn flags(rdata: &[u8]) -> u16 {
    rdata.get(..2).map_or(0, |bytes| u16::from_be_bytes([bytes[0], bytes[1]]))
}

/// True when the revoked key `rdata` signs `dnskeys` itself (RFC 5011 §2.1).
fn self_signed(rdata: &[u8], dnskeys: &Rrset, unix: u64) -> bool {
    let Ok(key) = Dnskey::parse(rdata) else { return false };
    let tag = key_tag(rdata);
    let mut input = Vec::new();
    dnskeys.sigs.iter().filter_map(|sig| Rrsig::parse(sig).ok()).any(|(rrsig, signature)| {
        input.clear();
        rrsig.key_tag == tag
            && rrsig.algorithm == key.algorithm
            && rrsig.type_covered == Rtype::DNSKEY
            && rrsig.is_current(unix as u32)
            && signing_input(&rrsig, &dnskeys.owner, dnskeys.class, dnskeys.rdatas.iter().map(Vec::as_slice), &mut input).is_ok()
            && verify(key.algorithm, key.public_key, &input, signature).is_ok()
    })
}

impl TrustPoints {
    /// The trusted keys (`Valid` or `Missing`) of `zone`'s trust point, learned from the anchor
    /// of fingerprint `anchor`.
    pub fn trusted(&self, zone: &NameBuf, anchor: u64) -> Vec<Vec<u8>> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let point = state.points.iter().find(|point| point.zone == *zone && point.anchor == anchor);
        point
            .map(|point| point.keys.iter().filter(|key| matches!(key.state, KeyState::Valid | KeyState::Missing)).map(|key| key.dnskey.clone()).collect())
            .unwrap_or_default()
    }

    /// The trust point of `zone`, when there is one.
    pub fn point(&self, zone: &NameBuf) -> Option<TrustPoint> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).points.iter().find(|point| point.zone == *zone).cloned()
    }

    /// Takes in `dnskeys`, the DNSKEY RRset of `zone` (anchored by the anchor of fingerprint
    /// `anchor`) just validated by the keys `vouched` (those its anchor or trusted keys name),
    /// at `unix`.
    pub fn observe(&self, zone: &NameBuf, anchor: u64, dnskeys: &Rrset, vouched: &[Vec<u8>], unix: u64) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let index = match state.points.iter().position(|point| point.zone == *zone) {
            Some(index) => index,
            None => {
                state.points.push(TrustPoint { zone: *zone, anchor, keys: Vec::new() });
                state.points.len() - 1
            }
        };
        let before = state.points[index].clone();
        if before.anchor != anchor {
            state.points[index] = TrustPoint { zone: *zone, anchor, keys: Vec::new() };
        }
        let keys = &mut state.points[index].keys;
        let published: Vec<&Vec<u8>> = dnskeys.rdatas.iter().filter(|key| flags(key) & Dnskey::SEP != 0).collect();
        for rdata in &published {
            let revoked = flags(rdata) & Dnskey::REVOKE != 0;
            let plain = unrevoked(rdata);
            let count = keys.len();
            let known = keys.iter_mut().find(|key| key.dnskey == plain);
            match (known, revoked) {
                (Some(key), true) if key.state != KeyState::Revoked && self_signed(rdata, dnskeys, unix) => {
                    (key.state, key.since) = (KeyState::Revoked, unix);
                }
                (Some(key), false) => match key.state {
                    KeyState::AddPend if unix >= key.since.saturating_add(ADD_HOLD_DOWN) => (key.state, key.since) = (KeyState::Valid, unix),
                    KeyState::Missing => (key.state, key.since) = (KeyState::Valid, unix),
                    _ => {}
                },
                (None, false) if count < MAX_KEYS => {
                    // The keys the anchor names are trusted at once; others wait (§2.4.1).
                    let state = if vouched.contains(rdata) { KeyState::Valid } else { KeyState::AddPend };
                    keys.push(ManagedKey { dnskey: plain, state, since: unix });
                }
                _ => {}
            }
        }
        // Published as trusted (a revoked form without its own signature does not count).
        let present = |key: &ManagedKey| published.iter().any(|rdata| **rdata == key.dnskey);
        keys.retain(|key| match key.state {
            KeyState::AddPend => present(key),
            KeyState::Revoked => unix < key.since.saturating_add(REMOVE_HOLD_DOWN),
            _ => true,
        });
        for key in keys.iter_mut().filter(|key| key.state == KeyState::Valid) {
            if !present(key) {
                (key.state, key.since) = (KeyState::Missing, unix);
            }
        }
        if state.points[index] != before {
            state.dirty = true;
        }
    }

    /// The state as text when it changed since the last call (for the server to store).
    pub fn take_changed(&self) -> Option<String> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if !std::mem::take(&mut state.dirty) {
            return None;
        }
        Some(to_text(&state.points))
    }

    /// The state as text: one DNSKEY record per key in zone-file form, its state and since when
    /// in a comment (`; VALID 1765000000`).
    pub fn to_text(&self) -> String {
        to_text(&self.state.lock().unwrap_or_else(PoisonError::into_inner).points)
    }

    /// Replaces the state by the one `text` holds (as [`TrustPoints::to_text`] wrote it).
    pub fn load(&self, text: &str, label: &str) -> Result<(), String> {
        let points = parse(text, label)?;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.points = points;
        state.dirty = false;
        Ok(())
    }
}

fn to_text(points: &[TrustPoint]) -> String {
    let mut out = String::from("; portcullis: trust anchor state (RFC 5011), rewritten by the server\n");
    for point in points {
        for key in &point.keys {
            let mut rdata = String::new();
            let _ = rdata_to_text(Rtype::DNSKEY, &key.dnskey, &mut rdata);
            out.push_str(&format!("{} 0 IN DNSKEY {rdata} ; {} {} anchor={:016x}\n", point.zone, key.state.name(), key.since, point.anchor));
        }
    }
    out
}

fn parse(text: &str, label: &str) -> Result<Vec<TrustPoint>, String> {
    let mut points: Vec<TrustPoint> = Vec::new();
    for (number, line) in text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty() && !line.trim_start().starts_with(';')) {
        let error = |why: &str| format!("{label}:{}: {why}", number + 1);
        let (record, comment) = line.split_once(';').ok_or_else(|| error("no '; STATE SINCE' comment"))?;
        let mut words = comment.split_whitespace();
        let state = words.next().and_then(KeyState::from_name).ok_or_else(|| error("unknown key state"))?;
        let since = words.next().and_then(|word| word.parse().ok()).ok_or_else(|| error("no time"))?;
        let anchor = words.next().and_then(|word| word.strip_prefix("anchor=")).and_then(|hex| u64::from_str_radix(hex, 16).ok()).unwrap_or(0);
        let parsed = parse_zone_text(&NameBuf::ROOT, record, label, &NoIncludes).map_err(|e| error(&e.to_string()))?;
        let [parsed] = &parsed[..] else { return Err(error("expected one DNSKEY record")) };
        if parsed.rtype != Rtype::DNSKEY {
            return Err(error("expected a DNSKEY record"));
        }
        let zone = parsed.owner.to_lowercase();
        let key = ManagedKey { dnskey: parsed.rdata.clone(), state, since };
        match points.iter_mut().find(|point| point.zone == zone) {
            Some(point) => point.keys.push(key),
            None => points.push(TrustPoint { zone, anchor, keys: vec![key] }),
        }
    }
    Ok(points)
}

#[cfg(test)]
#[path = "rfc5011_tests.rs"]
mod tests;
