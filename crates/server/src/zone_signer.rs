//! Signing a primary zone under its `dnssec-policy`, at load, on every reload and when its
//! signatures or keys are due (RFC 4035 §2, RFC 6781 §4.4.1): the zone file's records, the
//! DNSKEYs of the published keys, CDS (SHA-256) and CDNSKEY for the keys the parent should
//! have (RFC 7344, RFC 8078), signed by the signing keys with the NSEC or NSEC3 chain.
//!
//! Signatures of the previous signed version are kept when their RRset did not change and they
//! are still fresh ([`portcullis_dnssec::resign`]). A reload that changes nothing (same file,
//! keys and policy, nothing due: [`is_unchanged`]) keeps the served version as it is. Every
//! original record stays as written, except the SOA serial: the signed zone's serial is the
//! file's, or, once a signed version was served, `max(file serial, previous + 1)` (RFC 1982)
//! each time the zone is signed again, so that secondaries are told (NOTIFY) and transfer it.
//! The previous serial survives restarts in the key directory.
//!
//! The keys follow the rollover planner's signer contract ([`portcullis_dnssec::rollover`]):
//! the DNSKEY RRset holds the keys that are [`KeyState::is_published`](portcullis_dnssec::KeyState::is_published), the DNSKEY, CDS and
//! CDNSKEY RRsets are signed by the keys that [`KeyState::signs_keys`](portcullis_dnssec::KeyState::signs_keys), every other RRset by
//! those that [`KeyState::signs_data`](portcullis_dnssec::KeyState::signs_data) (published or not: an algorithm rollover signs first),
//! CDS and CDNSKEY are there for the keys that [`KeyState::has_cds`](portcullis_dnssec::KeyState::has_cds). The signing set is part of
//! the digest [`is_unchanged`] compares, so a change of it signs the zone again at once.
//!
//! Nothing here reads the clock: [`Now`] (seconds since the epoch) is an argument, read once by
//! the caller (`app::build`), so that a test can sign at any time it chooses.

use crate::dnssec_config::ZoneSigning;
use crate::key_store::{self, ZoneKeys};
use portcullis_dnssec::key::ds_rdata;
use portcullis_dnssec::resign::{earliest_expiration, Resign};
use portcullis_dnssec::zone::{sign_zone_with, KeyUse, Record, SignOptions, ZoneKey};
use portcullis_dnssec::DigestType;
use portcullis_engine::zonefile::ZoneRecord;
use portcullis_wire::{NameBuf, Rtype};
use ring::rand::SystemRandom;

/// Signatures start this long before the signing, for validators whose clocks run late.
pub const INCEPTION_SKEW: u64 = 3600;

/// The two times a signing reads: `keys`, the key planner's clock (RFC 7583 key events), and
/// `signatures`, the clock signature inception and expiration follow (a validator checks them
/// against its real clock). They are one time, except under the server's test hook that sets
/// the key clock apart (`PORTCULLIS_KEY_CLOCK_FILE`, see `app::signing`); key events are then
/// acted on at reloads only (`timed_key_events` false), as the key clock does not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// The key planner's time.
    pub keys: u64,
    /// The signatures' time.
    pub signatures: u64,
    /// True when the next key event schedules a signing (the key clock runs with the other).
    pub timed_key_events: bool,
}

impl Now {
    /// One time for both clocks.
    pub const fn at(time: u64) -> Self {
        Self { keys: time, signatures: time, timed_key_events: true }
    }
}

/// What is kept of a signed version of a zone between two signings (its records are in the
/// engine's zone, read back by [`zone_records`] when the zone is signed again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedZone {
    /// SHA-256 of what was signed: the zone file's records with the keys' records, and the
    /// policy ([`is_unchanged`]).
    pub input: [u8; 32],
    /// The SOA serial served.
    pub serial: u32,
    /// When to sign again (seconds since the epoch): the earliest signature expiration less
    /// the refresh period, or the key planner's next event, whichever comes first.
    pub next_signing: u64,
}

/// The version served before a signing: what was kept of it, and its records in canonical order
/// ([`zone_records`]).
pub struct Previous<'a> {
    /// Its serial and digest.
    pub kept: SignedZone,
    /// Its records.
    pub records: &'a [Record],
}

/// Signs `records` (the zone file's, checked) of `origin` at `now`; `previous` is the version
/// served before, if any. Returns the signed records in canonical order and what to keep.
pub fn sign(
    origin: &NameBuf,
    records: &[ZoneRecord],
    signing: &ZoneSigning,
    previous: Option<&Previous<'_>>,
    now: Now,
) -> Result<(Vec<Record>, SignedZone), String> {
    let policy = &signing.policy;
    let dir = &signing.key_directory;
    let max_ttl = records.iter().map(|r| r.ttl).max().unwrap_or(0);
    let keys = key_store::zone_keys(dir, origin, policy, max_ttl, now.keys)?;
    let file_serial = soa_serial(origin, records).ok_or_else(|| format!("zone {origin}: no SOA record"))?;
    let mut input = unsigned_input(origin, records, &keys, policy.dnskey_ttl, now.keys)?;
    let input_digest = input_digest(&input, &keys, signing, now.keys);
    let signing_keys = signing_keys(&keys, now.keys);
    if signing_keys.is_empty() {
        return Err(format!("zone {origin}: no key signs at this time (key directory {})", dir.display()));
    }
    let t = now.signatures;
    let validity = policy.signature_validity;
    let options = SignOptions {
        inception: t.saturating_sub(INCEPTION_SKEW) as u32,
        expiration: t.saturating_add(validity) as u32,
        denial: policy.denial,
        keys: KeyUse::SignOnly,
    };
    let rng = SystemRandom::new();
    let sign_at = |input: &[Record], previous: &[Record]| {
        let resign = Resign { previous, now: t as u32, refresh: policy.signature_refresh as u32, jitter: policy.signature_jitter as u32 };
        sign_zone_with(origin, input, &signing_keys, &options, &resign, &rng).map_err(|e| format!("zone {origin}: {e}"))
    };
    let (signed, serial) = match previous {
        // The caller asked [`is_unchanged`] first: signing again means a new version.
        Some(previous) => {
            let serial = next_serial(file_serial, previous.kept.serial);
            set_serial(origin, &mut input, serial);
            (sign_at(&input, previous.records)?, serial)
        }
        None => {
            let serial = key_store::stored_serial(dir, origin).map_or(file_serial, |stored| next_serial(file_serial, stored));
            set_serial(origin, &mut input, serial);
            (sign_at(&input, &[])?, serial)
        }
    };
    if key_store::stored_serial(dir, origin) != Some(serial) {
        key_store::store_serial(dir, origin, serial)?;
    }
    // A key event in the signatures' time (the same time unless the key clock is the test hook's).
    let next_event = keys.next_event.filter(|_| now.timed_key_events).map(|event| t.saturating_add(event.saturating_sub(now.keys)));
    let next_signing = next_signing(&signed, t, policy.signature_refresh, next_event);
    let kept = SignedZone { input: input_digest, serial, next_signing };
    Ok((signed, kept))
}

/// The signing keys at `now` by the signer contract: every key that signs, with the role
/// ([`KeyState::signing_role`](portcullis_dnssec::KeyState::signing_role)) that makes it sign what the planner asks, published or not.
fn signing_keys(keys: &ZoneKeys, now: u64) -> Vec<ZoneKey<'_>> {
    keys.keys.iter().filter_map(|k| Some(ZoneKey { key: &k.pair.key, role: k.state.signing_role(now)? })).collect()
}

/// True when signing `records` at `now` would give the version `kept` describes again: nothing
/// is due (signatures, key events) and the zone file, the keys and the policy are the same. A
/// reload then keeps the zone served as it is, without reading it back or signing.
pub fn is_unchanged(origin: &NameBuf, records: &[ZoneRecord], signing: &ZoneSigning, kept: &SignedZone, now: Now) -> Result<bool, String> {
    if now.signatures >= kept.next_signing {
        return Ok(false);
    }
    let max_ttl = records.iter().map(|r| r.ttl).max().unwrap_or(0);
    let keys = key_store::zone_keys(&signing.key_directory, origin, &signing.policy, max_ttl, now.keys)?;
    let input = unsigned_input(origin, records, &keys, signing.policy.dnskey_ttl, now.keys)?;
    Ok(input_digest(&input, &keys, signing, now.keys) == kept.input)
}

/// SHA-256 of the records to sign, of the signing set at `now` (key tag, algorithm and signing
/// role of each signing key: when it changes every RRset is signed again, not reused) and of
/// the policy and key directory.
fn input_digest(input: &[Record], keys: &ZoneKeys, signing: &ZoneSigning, now: u64) -> [u8; 32] {
    let signers: Vec<(u16, u8, Option<portcullis_dnssec::KeyRole>)> =
        keys.keys.iter().map(|k| (k.state.tag, k.state.algorithm.0, k.state.signing_role(now))).filter(|s| s.2.is_some()).collect();
    digest_with(input, format!("{signing:?} {signers:?}").as_bytes())
}

/// SHA-256 over `extra`, then the records (owner without case, type, class, TTL, rdata) in
/// their order.
fn digest_with(records: &[Record], extra: &[u8]) -> [u8; 32] {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(extra);
    for record in records {
        context.update(record.owner.to_lowercase().as_wire());
        context.update(&record.rtype.0.to_be_bytes());
        context.update(&record.class.0.to_be_bytes());
        context.update(&record.ttl.to_be_bytes());
        context.update(&(record.rdata.len() as u32).to_be_bytes());
        context.update(&record.rdata);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

/// The records of a built zone in canonical order (a signed version, read back to sign the
/// next one).
pub fn zone_records(zone: &portcullis_engine::auth::Zone) -> Vec<Record> {
    let class = zone.class();
    let mut records = Vec::new();
    for node in zone.nodes() {
        let owner = zone.node_name(node);
        for rrset in zone.rrsets(node) {
            records.extend(zone.rdatas(&rrset).map(|rdata| Record { owner, rtype: rrset.rtype, class, ttl: rrset.ttl, rdata: rdata.to_vec() }));
        }
    }
    portcullis_dnssec::zone::sort_records(&mut records);
    records
}

/// The zone's records, the published keys' DNSKEYs and the CDS/CDNSKEY records.
fn unsigned_input(origin: &NameBuf, records: &[ZoneRecord], keys: &ZoneKeys, dnskey_ttl: u32, now: u64) -> Result<Vec<Record>, String> {
    let mut input: Vec<Record> =
        records.iter().map(|r| Record { owner: r.owner, rtype: r.rtype, class: r.class, ttl: r.ttl, rdata: r.rdata.clone() }).collect();
    let class = input.first().map_or(portcullis_wire::Class::IN, |r| r.class);
    let ttl = input.iter().find(|r| r.rtype == Rtype::DNSKEY && r.owner == *origin).map_or(dnskey_ttl, |r| r.ttl);
    for key in keys.keys.iter().filter(|k| k.state.is_published(now)) {
        let dnskey = key.pair_dnskey(key.state.role.flags());
        if key.state.has_cds(now) {
            let cds = ds_rdata(origin, &dnskey, DigestType::SHA256).map_err(|e| format!("zone {origin}: CDS: {e}"))?;
            input.push(Record { owner: *origin, rtype: Rtype::CDS, class, ttl, rdata: cds });
            input.push(Record { owner: *origin, rtype: Rtype::CDNSKEY, class, ttl, rdata: dnskey.clone() });
        }
        input.push(Record { owner: *origin, rtype: Rtype::DNSKEY, class, ttl, rdata: dnskey });
    }
    Ok(input)
}

impl key_store::ManagedKey {
    /// The DNSKEY rdata of this key with `flags` (those of its role).
    fn pair_dnskey(&self, flags: u16) -> Vec<u8> {
        let public_key = self.pair.key.public_key();
        portcullis_dnssec::Dnskey { flags, protocol: 3, algorithm: self.pair.key.algorithm(), public_key: &public_key }.to_rdata()
    }
}

/// The SOA serial of the zone file.
fn soa_serial(origin: &NameBuf, records: &[ZoneRecord]) -> Option<u32> {
    let soa = records.iter().find(|r| r.rtype == Rtype::SOA && r.owner == *origin)?;
    let at = soa.rdata.len().checked_sub(20)?;
    Some(u32::from_be_bytes(soa.rdata[at..at + 4].try_into().ok()?))
}

/// Writes `serial` into the SOA record of `records`.
fn set_serial(origin: &NameBuf, records: &mut [Record], serial: u32) {
    if let Some(soa) = records.iter_mut().find(|r| r.rtype == Rtype::SOA && r.owner == *origin) {
        if let Some(at) = soa.rdata.len().checked_sub(20) {
            soa.rdata[at..at + 4].copy_from_slice(&serial.to_be_bytes());
        }
    }
}

/// The serial after `previous` when the zone changed: the file's when it is newer (RFC 1982),
/// else `previous + 1`.
pub fn next_serial(file: u32, previous: u32) -> u32 {
    let newer = file != previous && file.wrapping_sub(previous) < 0x8000_0000;
    if newer {
        file
    } else {
        previous.wrapping_add(1)
    }
}

/// When to sign again: `refresh` before the earliest expiration (never before `now` + 60 s, so
/// a misconfigured zone does not spin), or the key planner's next event.
pub fn next_signing(signed: &[Record], now: u64, refresh: u64, next_event: Option<u64>) -> u64 {
    let expiry = earliest_expiration(signed, now as u32).map(|expiration| now + u64::from(expiration.wrapping_sub(now as u32)));
    let refresh_at = expiry.map_or(u64::MAX, |expiry| expiry.saturating_sub(refresh).max(now + 60));
    next_event.map_or(refresh_at, |event| refresh_at.min(event.max(now + 1)))
}

#[cfg(test)]
#[path = "zone_signer_tests.rs"]
mod tests;
