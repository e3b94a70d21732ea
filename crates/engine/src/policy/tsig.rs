//! TSIG (RFC 8945): the server's keys ([`Keyring`]), the check of a signed request
//! ([`Keyring::check`], SECURITY-REFERENCE §6.4 rows 45-48) and the signing of what answers it
//! ([`Signer`]). The MACs are ring's HMACs; the wire record is `portcullis_wire::tsig`.
//!
//! - Unknown key name or algorithm: NOTAUTH, BADKEY, unsigned (§5.2.1).
//! - A MAC longer than the digest, or shorter than max(10 octets, half the digest): FORMERR
//!   (§5.2.2.1); a MAC that does not verify: NOTAUTH, BADSIG, unsigned (§5.2.2).
//! - A MAC that verifies but is shorter than the key's local minimum ([`TsigKey::min_mac_len`],
//!   the whole digest unless configured): NOTAUTH, BADTRUNC, signed (§5.2.2.1, §5.3.2).
//! - The MAC is checked before the time; a Time Signed outside now ± Fudge, the fudge capped at
//!   [`MAX_FUDGE`]: NOTAUTH, BADTIME, signed, with the server's time as Other Data (§5.2.3).
//! - A request seen before within its window ([`Keyring::first_use`], the replay cache of
//!   [`super::tsig_replay`]): answered as out of its time, BADTIME.
//! - Otherwise every reply is signed with the same key: the request's MAC, the reply, then the
//!   TSIG variables (§4.3.3); each further message of a transfer covers the previous message's
//!   MAC, the message and the timers (§5.3.1).
//!
//! MACs are compared in constant time (`subtle::ConstantTimeEq`): the received MAC against as
//! many first octets of the computed one, so that the check needs no random source.

use super::tsig_replay::ReplayCache;
use portcullis_wire::tsig::{error, Tsig};
use portcullis_wire::NameBuf;
use ring::hmac;
use std::fmt;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Fudge of the replies we sign, in seconds (RFC 8945 §10: 300 recommended).
pub const FUDGE: u16 = 300;
/// The largest fudge a request is granted: a request claiming more is checked with this.
pub const MAX_FUDGE: u16 = 300;
/// The largest digest (HMAC-SHA512).
pub const MAX_MAC: usize = 64;

/// A MAC algorithm (the IANA TSIG algorithm names that ring provides).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// `hmac-sha1.` (RFC 4635).
    HmacSha1,
    /// `hmac-sha256.`.
    HmacSha256,
    /// `hmac-sha384.`.
    HmacSha384,
    /// `hmac-sha512.`.
    HmacSha512,
}

impl Algorithm {
    /// Every algorithm.
    pub const ALL: [Self; 4] = [Self::HmacSha1, Self::HmacSha256, Self::HmacSha384, Self::HmacSha512];

    /// The name without the final dot (`hmac-sha256`).
    pub fn mnemonic(self) -> &'static str {
        match self {
            Self::HmacSha1 => "hmac-sha1",
            Self::HmacSha256 => "hmac-sha256",
            Self::HmacSha384 => "hmac-sha384",
            Self::HmacSha512 => "hmac-sha512",
        }
    }

    /// The algorithm named `text` (any case, with or without the final dot).
    pub fn from_text(text: &str) -> Option<Self> {
        let bare = text.strip_suffix('.').unwrap_or(text);
        Self::ALL.into_iter().find(|algorithm| algorithm.mnemonic().eq_ignore_ascii_case(bare))
    }

    /// The algorithm of a TSIG record's algorithm name.
    fn from_name(name: &NameBuf) -> Option<Self> {
        Self::ALL.into_iter().find(|algorithm| algorithm.name().as_wire().eq_ignore_ascii_case(name.as_wire()))
    }

    /// The algorithm's domain name, as TSIG records carry it.
    pub fn name(self) -> NameBuf {
        NameBuf::from_text(&format!("{}.", self.mnemonic()), None).unwrap_or(NameBuf::ROOT)
    }

    /// Octets of the full MAC.
    pub fn digest_len(self) -> usize {
        self.ring().digest_algorithm().output_len()
    }

    /// True for a MAC length RFC 8945 §5.2.2.1 accepts: at most the digest, at least half of it
    /// and 10 octets.
    pub fn accepts_mac_len(self, len: usize) -> bool {
        len <= self.digest_len() && len >= self.shortest_mac()
    }

    /// The shortest MAC RFC 8945 §5.2.2.1 allows: half the digest, at least 10 octets.
    pub fn shortest_mac(self) -> usize {
        (self.digest_len() / 2).max(10)
    }

    fn ring(self) -> hmac::Algorithm {
        match self {
            Self::HmacSha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Self::HmacSha256 => hmac::HMAC_SHA256,
            Self::HmacSha384 => hmac::HMAC_SHA384,
            Self::HmacSha512 => hmac::HMAC_SHA512,
        }
    }
}

/// One shared secret.
#[derive(Clone)]
pub struct TsigKey {
    name: NameBuf,
    algorithm: Algorithm,
    key: hmac::Key,
    /// The secret itself, only to tell two keys apart ([`PartialEq`]: a reload that changes it).
    secret: std::sync::Arc<[u8]>,
    /// The shortest MAC accepted in a request; a shorter one that verifies is BADTRUNC.
    min_mac_len: u8,
}

impl PartialEq for TsigKey {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.algorithm == other.algorithm && self.secret == other.secret && self.min_mac_len == other.min_mac_len
    }
}

impl TsigKey {
    /// A key named `name` (kept lower-cased: names are compared and signed that way), accepting
    /// only whole MACs.
    pub fn new(name: &NameBuf, algorithm: Algorithm, secret: &[u8]) -> Self {
        let min_mac_len = algorithm.digest_len() as u8;
        Self { name: name.to_lowercase(), algorithm, key: hmac::Key::new(algorithm.ring(), secret), secret: secret.into(), min_mac_len }
    }

    /// The same key accepting MACs truncated to `len` octets (RFC 8945 §5.2.2.1's local
    /// minimum), held within what the RFC allows: [`Algorithm::shortest_mac`] to the digest.
    pub fn with_min_mac_len(mut self, len: usize) -> Self {
        self.min_mac_len = len.clamp(self.algorithm.shortest_mac(), self.algorithm.digest_len()) as u8;
        self
    }

    /// The shortest MAC accepted in a request (the whole digest unless configured).
    pub fn min_mac_len(&self) -> usize {
        usize::from(self.min_mac_len)
    }

    /// Octets of the secret.
    pub fn secret_len(&self) -> usize {
        self.secret.len()
    }

    /// The key's name.
    pub fn name(&self) -> &NameBuf {
        &self.name
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The HMAC key.
    pub(crate) fn hmac(&self) -> &hmac::Key {
        &self.key
    }
}

impl fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TsigKey({} {})", self.name, self.algorithm.mnemonic())
    }
}

/// The server's keys.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<TsigKey>,
    /// Signed requests seen within their window (shared across reloads by the server).
    replays: Arc<ReplayCache>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.keys).finish()
    }
}

impl Default for Keyring {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

/// What the check of a signed request decided.
#[derive(Debug)]
pub enum Checked {
    /// Answer FORMERR, unsigned.
    FormErr,
    /// Answer NOTAUTH with this TSIG error (BADKEY, BADSIG), unsigned.
    Unsigned(u16),
    /// Sign the answer: the request verified (error 0), or its MAC was shorter than the key's
    /// minimum (BADTRUNC) or it came outside its time window (BADTIME): the answer is NOTAUTH.
    Signed(Box<Signer>),
}

impl Keyring {
    /// A keyring holding `keys`.
    pub fn new(keys: Vec<TsigKey>) -> Self {
        Self { keys, replays: Arc::default() }
    }

    /// The same keys recording signed requests in `replays` (kept across reloads).
    pub fn with_replays(mut self, replays: Arc<ReplayCache>) -> Self {
        self.replays = replays;
        self
    }

    /// The replay cache.
    pub fn replays(&self) -> &ReplayCache {
        &self.replays
    }

    /// Records the verified request `tsig` at `now`; false when it was seen before within its
    /// window (a replay, to be refused).
    pub fn first_use(&self, tsig: &Tsig<'_>, now: u64) -> bool {
        self.replays.first_use(tsig.time_signed, u64::from(tsig.fudge.min(MAX_FUDGE)), tsig.mac, now)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key is configured.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key named `name` (any case).
    pub fn get(&self, name: &NameBuf) -> Option<&TsigKey> {
        self.position(name).map(|index| &self.keys[index])
    }

    /// The name of the key at `index` (as [`Signer::key_index`] gives it).
    pub fn name_at(&self, index: usize) -> Option<&NameBuf> {
        self.keys.get(index).map(|key| &key.name)
    }

    fn position(&self, name: &NameBuf) -> Option<usize> {
        self.keys.iter().position(|key| key.name.as_wire().eq_ignore_ascii_case(name.as_wire()))
    }

    /// Checks the TSIG record `tsig` found at `offset` of `message` at `now` (seconds since the
    /// epoch).
    pub fn check(&self, message: &[u8], offset: usize, tsig: &Tsig<'_>, now: u64) -> Checked {
        let algorithm = Algorithm::from_name(&tsig.algorithm);
        let Some(index) = self.position(&tsig.key).filter(|&index| Some(self.keys[index].algorithm) == algorithm) else {
            return Checked::Unsigned(error::BADKEY);
        };
        let key = &self.keys[index];
        if !key.algorithm.accepts_mac_len(tsig.mac.len()) {
            return Checked::FormErr;
        }
        let mut context = hmac::Context::with_key(&key.key);
        update_message(&mut context, &message[..offset.min(message.len())], tsig.original_id, true);
        update_variables(&mut context, key, tsig.time_signed, tsig.fudge, tsig.error, tsig.other);
        if !mac_matches(context.sign().as_ref(), tsig.mac) {
            return Checked::Unsigned(error::BADSIG);
        }
        let error = if tsig.mac.len() < key.min_mac_len() {
            error::BADTRUNC
        } else if now.abs_diff(tsig.time_signed) > u64::from(tsig.fudge.min(MAX_FUDGE)) {
            error::BADTIME
        } else {
            0
        };
        let mut request_mac = [0u8; MAX_MAC];
        request_mac[..tsig.mac.len()].copy_from_slice(tsig.mac);
        Checked::Signed(Box::new(Signer {
            key: key.clone(),
            index,
            prior: request_mac,
            prior_len: tsig.mac.len() as u8,
            request_time: tsig.time_signed,
            error,
            first: true,
        }))
    }
}

/// Signs the answer to a verified request, and each further message of a transfer.
#[derive(Clone, Debug)]
pub struct Signer {
    key: TsigKey,
    index: usize,
    /// The MAC the next one covers: the request's, then each message's.
    prior: [u8; MAX_MAC],
    prior_len: u8,
    request_time: u64,
    /// The TSIG error of the answer (0, or BADTIME).
    pub error: u16,
    first: bool,
}

impl Signer {
    /// The key's index in its keyring ([`Keyring::name_at`]).
    pub fn key_index(&self) -> usize {
        self.index
    }

    /// Octets the TSIG record adds to a message (reserve them before writing the answer).
    pub fn record_len(&self) -> usize {
        let other = if self.error == error::BADTIME { 6 } else { 0 };
        self.key.name.len() + 10 + self.key.algorithm.name().len() + 16 + self.key.algorithm.digest_len() + other
    }

    /// Appends the TSIG record to the finished message `out[..len]` (its ID is the request's),
    /// signed at `now`; returns the new length, or `None` when `out` has no room.
    pub fn sign(&mut self, out: &mut [u8], len: usize, now: u64) -> Option<usize> {
        let end = len.checked_add(self.record_len()).filter(|end| *end <= out.len().min(65_535))?;
        let message = out.get(..len).filter(|m| m.len() >= 12)?;
        let id = u16::from_be_bytes([message[0], message[1]]);
        let badtime = self.error == error::BADTIME;
        let time = if badtime { self.request_time } else { now };
        let other = if badtime { now.to_be_bytes()[2..].to_vec() } else { Vec::new() };
        let mut context = hmac::Context::with_key(&self.key.key);
        context.update(&u16::from(self.prior_len).to_be_bytes());
        context.update(&self.prior[..usize::from(self.prior_len)]);
        update_message(&mut context, message, id, false);
        if self.first {
            update_variables(&mut context, &self.key, time, FUDGE, self.error, &other);
        } else {
            update_timers(&mut context, time, FUDGE);
        }
        let mac = context.sign();
        let mac = mac.as_ref();
        let record = tsig_record(&self.key, time, mac, id, self.error, &other);
        out[len..end].copy_from_slice(&record);
        let arcount = u16::from_be_bytes([out[10], out[11]]).saturating_add(1);
        out[10..12].copy_from_slice(&arcount.to_be_bytes());
        self.prior[..mac.len()].copy_from_slice(mac);
        self.prior_len = mac.len() as u8;
        self.first = false;
        Some(end)
    }
}

impl crate::auth::transfer::MessageSigner for Signer {
    fn record_len(&self) -> usize {
        Signer::record_len(self)
    }

    fn sign(&mut self, out: &mut [u8], len: usize, now: u64) -> Option<usize> {
        Signer::sign(self, out, len, now)
    }
}

/// True when `received` is the first octets of `computed`, compared in constant time (the
/// lengths are public: the MAC size is in the record).
pub(crate) fn mac_matches(computed: &[u8], received: &[u8]) -> bool {
    computed.get(..received.len()).is_some_and(|prefix| bool::from(prefix.ct_eq(received)))
}

/// The message as signed: with `id` as its ID and, for a request, the TSIG record's count
/// taken out of ARCOUNT (its bytes are already cut off).
pub(crate) fn update_message(context: &mut hmac::Context, message: &[u8], id: u16, minus_tsig: bool) {
    let Some((header, rest)) = message.split_first_chunk::<12>() else { return context.update(message) };
    let mut header = *header;
    header[..2].copy_from_slice(&id.to_be_bytes());
    if minus_tsig {
        let arcount = u16::from_be_bytes([header[10], header[11]]).saturating_sub(1);
        header[10..12].copy_from_slice(&arcount.to_be_bytes());
    }
    context.update(&header);
    context.update(rest);
}

/// The TSIG variables (RFC 8945 §4.3.3): key name and algorithm in canonical form, class ANY,
/// TTL 0, time signed, fudge, error, other data.
pub(crate) fn update_variables(context: &mut hmac::Context, key: &TsigKey, time: u64, fudge: u16, error: u16, other: &[u8]) {
    context.update(key.name.as_wire());
    context.update(&[0, 255, 0, 0, 0, 0]);
    context.update(key.algorithm.name().as_wire());
    update_timers(context, time, fudge);
    context.update(&error.to_be_bytes());
    context.update(&(other.len() as u16).to_be_bytes());
    context.update(other);
}

/// Time signed (48 bits) and fudge.
pub(crate) fn update_timers(context: &mut hmac::Context, time: u64, fudge: u16) {
    context.update(&time.to_be_bytes()[2..]);
    context.update(&fudge.to_be_bytes());
}

/// The TSIG record: owner (uncompressed), type, class ANY, TTL 0, rdata.
pub(crate) fn tsig_record(key: &TsigKey, time: u64, mac: &[u8], id: u16, error: u16, other: &[u8]) -> Vec<u8> {
    let algorithm = key.algorithm.name();
    let mut rdata = Vec::with_capacity(algorithm.len() + 16 + mac.len() + other.len());
    rdata.extend_from_slice(algorithm.as_wire());
    rdata.extend_from_slice(&time.to_be_bytes()[2..]);
    rdata.extend_from_slice(&FUDGE.to_be_bytes());
    rdata.extend_from_slice(&(mac.len() as u16).to_be_bytes());
    rdata.extend_from_slice(mac);
    rdata.extend_from_slice(&id.to_be_bytes());
    rdata.extend_from_slice(&error.to_be_bytes());
    rdata.extend_from_slice(&(other.len() as u16).to_be_bytes());
    rdata.extend_from_slice(other);
    let mut record = key.name.as_wire().to_vec();
    record.extend_from_slice(&[0, 250, 0, 255, 0, 0, 0, 0]);
    record.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    record.extend_from_slice(&rdata);
    record
}

#[cfg(test)]
#[path = "tsig_tests.rs"]
mod tests;
