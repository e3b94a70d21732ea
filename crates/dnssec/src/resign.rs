//! Signing a zone again (RFC 6781 §4.4.1, "incremental signing"): what a new signing of a zone
//! keeps from its previous signed version, and the per-signature jitter of expirations.
//!
//! A previous RRSIG is reused when its RRset is unchanged (same owner, type, class, TTLs and
//! rdatas), the key that made it still signs that RRset (same algorithm and key tag, same
//! signer), and it is still fresh: made at or before `now` and expiring more than `refresh`
//! seconds after it (RFC 4034 §3.1.5 serial arithmetic). Everything else is signed anew, with an
//! expiration `jitter` seconds or less before the nominal one, so that the signatures of a
//! large zone do not all expire, and are not all refreshed, at the same second.

use crate::canonical::name_cmp;
use crate::rrsig::Rrsig;
use crate::zone::Record;
use crate::{Algorithm, Error};
use core::cmp::Ordering;
use portcullis_wire::{NameBuf, Rtype};
use ring::rand::SecureRandom;

/// How a signing reuses an earlier one, and how it spreads expirations.
#[derive(Clone, Copy, Debug)]
pub struct Resign<'a> {
    /// The previous signed zone, in the canonical order `sign_zone` returns
    /// ([`crate::zone::sort_records`]; empty: none). Owner names compare without case.
    pub previous: &'a [Record],
    /// The time of this signing, seconds since the epoch modulo 2^32.
    pub now: u32,
    /// A previous signature is reused only when it expires more than this many seconds after
    /// `now`.
    pub refresh: u32,
    /// A new signature expires up to this many seconds before the nominal expiration (chosen
    /// at random per signature).
    pub jitter: u32,
}

impl Resign<'_> {
    /// Nothing to reuse and no jitter: every signature made anew with the nominal times.
    pub const NONE: Resign<'static> = Resign { previous: &[], now: 0, refresh: 0, jitter: 0 };

    /// The previous records at `owner` (a slice of the canonical order).
    fn at_owner(&self, owner: &NameBuf) -> &[Record] {
        let start = self.previous.partition_point(|r| name_cmp(&r.owner, owner) == Ordering::Less);
        let len = self.previous[start..].iter().take_while(|r| name_cmp(&r.owner, owner) == Ordering::Equal).count();
        &self.previous[start..start + len]
    }

    /// A previous signature of `set` (one RRset, sorted as `sign_zone` sorts) by the key
    /// (`algorithm`, `key_tag`) of `signer`, if it may be reused (see the module documentation),
    /// with the owner and TTL of `set` (a zone read back may have them lower-cased and its
    /// RRSIGs' TTLs merged).
    pub fn reusable(&self, set: &[Record], algorithm: Algorithm, key_tag: u16, signer: &NameBuf) -> Option<Record> {
        let first = set.first()?;
        let at_owner = self.at_owner(&first.owner);
        let old: Vec<&Record> = at_owner.iter().filter(|r| r.rtype == first.rtype).collect();
        let same = old.len() == set.len() && old.iter().zip(set).all(|(a, b)| a.class == b.class && a.ttl == b.ttl && a.rdata == b.rdata);
        if !same {
            return None;
        }
        let ttl = set.iter().map(|r| r.ttl).min().unwrap_or(first.ttl);
        at_owner
            .iter()
            .filter(|r| r.rtype == Rtype::RRSIG && r.class == first.class)
            .find(|r| Rrsig::parse(&r.rdata).is_ok_and(|(fields, _)| self.fresh(&fields, first.rtype, ttl, algorithm, key_tag, signer)))
            .map(|r| Record { owner: first.owner, ttl, ..r.clone() })
    }

    /// True when a previous signature's fields allow its reuse for an RRset of `rtype` and
    /// `ttl` signed by the key (`algorithm`, `key_tag`) of `signer` at `now`.
    pub fn fresh(&self, rrsig: &Rrsig, rtype: Rtype, ttl: u32, algorithm: Algorithm, key_tag: u16, signer: &NameBuf) -> bool {
        rrsig.type_covered == rtype
            && rrsig.algorithm == algorithm
            && rrsig.key_tag == key_tag
            && rrsig.original_ttl == ttl
            && rrsig.signer.canonical_cmp(signer) == Ordering::Equal
            && serial_le(rrsig.inception, self.now)
            && serial_lt(self.now.wrapping_add(self.refresh), rrsig.expiration)
            && rrsig.expiration.wrapping_sub(self.now) < 0x8000_0000
    }

    /// The expiration of a new signature: `expiration` less a random jitter in `0..=jitter`.
    pub fn expiration(&self, expiration: u32, rng: &dyn SecureRandom) -> Result<u32, Error> {
        if self.jitter == 0 {
            return Ok(expiration);
        }
        let mut bytes = [0u8; 4];
        rng.fill(&mut bytes).map_err(|_| Error::SigningFailed)?;
        let jitter = u64::from(u32::from_be_bytes(bytes)) % (u64::from(self.jitter) + 1);
        Ok(expiration.wrapping_sub(jitter as u32))
    }
}

/// The earliest expiration among the RRSIG records of `zone` (seconds modulo 2^32, compared to
/// `now` in serial arithmetic), if there is any: when the zone must be signed again, less the
/// refresh period.
pub fn earliest_expiration(zone: &[Record], now: u32) -> Option<u32> {
    zone.iter()
        .filter(|r| r.rtype == Rtype::RRSIG)
        .filter_map(|r| Rrsig::parse(&r.rdata).ok().map(|(fields, _)| fields.expiration))
        .min_by_key(|expiration| expiration.wrapping_sub(now))
}

/// `a <= b` in RFC 1982 serial arithmetic on 32 bits.
fn serial_le(a: u32, b: u32) -> bool {
    b.wrapping_sub(a) < 0x8000_0000
}

/// `a < b` in RFC 1982 serial arithmetic on 32 bits.
fn serial_lt(a: u32, b: u32) -> bool {
    a != b && serial_le(a, b)
}
