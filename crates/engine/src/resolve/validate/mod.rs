//! DNSSEC validation (RFC 4033-4035, RFC 5155, RFC 6840), sans-IO, inside the resolver.
//!
//! When the client's frame of a [`Resolution`](super::Resolution) has its answer, a
//! [`Validation`] takes the answer (the CNAME/DNAME chain with its RRSIGs, the SOA and the
//! NSEC/NSEC3 proofs of a denial) and checks each RRset. For the keys of each signer it walks
//! the chain of trust down from the closest trust anchor: DNSKEY of the anchored zone checked
//! against the anchor, then DS of the next label below (from the parent's servers) and DNSKEY of
//! each zone cut on the way (`walk.rs`). Each DS or DNSKEY it lacks is asked for by the
//! resolution as one more frame, through the same `Driven` calls as every other query; what the
//! walk learns is kept in the cache's key cache ([`crate::cache::keys`]).
//!
//! The outcome is a [`Security`]: secure (AD to clients that ask), insecure (a proven unsigned
//! delegation, a negative trust anchor, an unsupported algorithm or digest, NSEC3 iterations
//! above the limit for a denial), bogus (SERVFAIL with the Extended DNS Error of [`Bogus`],
//! RFC 8914), or indeterminate (no trust anchor: validation off, or a root that is not the
//! IANA root without a configured anchor).
//!
//! - `anchors`: built-in root anchors and the trust-anchor file format.
//! - `verify`: RRSIG checks against keys, DNSKEY RRsets against DS RRsets.
//! - `denial`: NSEC and NSEC3 proofs.
//! - `walk`: the chain of trust down to a zone, through the key cache.
//! - `machine`: [`Validation`], the per-answer state the resolution drives.
//! - `rfc5011`: automated trust anchor updates (the anchored zones' key rollovers followed).

pub mod anchors;
pub mod denial;
mod machine;
pub mod rfc5011;
pub mod verify;
mod walk;

pub use crate::cache::Security;
pub use anchors::Anchor;
pub(super) use machine::{Fetched, Progress, Validation};
pub use walk::Lookup;

use crate::base::Instant;
use crate::cache::Cache;
use portcullis_wire::NameBuf;

/// What a validation step reads: the cache (and its key cache), the settings, and the time.
pub struct Context<'a> {
    /// The cache.
    pub cache: &'a Cache,
    /// The validation settings.
    pub settings: &'a ValidationSettings,
    /// The anchors apply (validation on, and the built-in root anchors only with the IANA
    /// root); when false every answer is insecure.
    pub anchors_apply: bool,
    /// The resolver's clock.
    pub now: Instant,
    /// Wall-clock seconds since the epoch, for RRSIG validity windows.
    pub unix: u64,
    /// The signature checks the client question may still spend.
    pub budget: verify::Budget,
}

impl Context<'_> {
    /// The question's budget and the cache's failed checks, at `now`.
    pub fn checks(&self) -> verify::Checks<'_> {
        verify::Checks { budget: &self.budget, failed: Some((&self.cache.failed_checks, self.now)) }
    }
}

/// Extended DNS Error codes of RFC 8914 §4 used by the validator.
pub struct Ede;

impl Ede {
    /// 1: Unsupported DNSKEY Algorithm.
    pub const UNSUPPORTED_DNSKEY_ALGORITHM: u16 = 1;
    /// 2: Unsupported DS Digest Type.
    pub const UNSUPPORTED_DS_DIGEST: u16 = 2;
    /// 5: DNSSEC Indeterminate (validation was given up before it ended).
    pub const INDETERMINATE: u16 = 5;
    /// 6: DNSSEC Bogus.
    pub const BOGUS: u16 = 6;
    /// 7: Signature Expired.
    pub const SIGNATURE_EXPIRED: u16 = 7;
    /// 8: Signature Not Yet Valid.
    pub const SIGNATURE_NOT_YET_VALID: u16 = 8;
    /// 9: DNSKEY Missing.
    pub const DNSKEY_MISSING: u16 = 9;
    /// 10: RRSIGs Missing.
    pub const RRSIGS_MISSING: u16 = 10;
    /// 12: NSEC Missing.
    pub const NSEC_MISSING: u16 = 12;
    /// 27: Unsupported NSEC3 Iterations Value (RFC 9276).
    pub const UNSUPPORTED_NSEC3_ITERATIONS: u16 = 27;

    /// The code's name in RFC 8914's registry.
    pub fn text(code: u16) -> &'static str {
        match code {
            Self::UNSUPPORTED_DNSKEY_ALGORITHM => "unsupported DNSKEY algorithm",
            Self::UNSUPPORTED_DS_DIGEST => "unsupported DS digest type",
            Self::INDETERMINATE => "DNSSEC indeterminate",
            Self::BOGUS => "DNSSEC bogus",
            Self::SIGNATURE_EXPIRED => "signature expired",
            Self::SIGNATURE_NOT_YET_VALID => "signature not yet valid",
            Self::DNSKEY_MISSING => "DNSKEY missing",
            Self::RRSIGS_MISSING => "RRSIGs missing",
            Self::NSEC_MISSING => "NSEC missing",
            Self::UNSUPPORTED_NSEC3_ITERATIONS => "unsupported NSEC3 iterations value",
            _ => "DNSSEC validation failure",
        }
    }
}

/// Why validation failed: the EDE code (RFC 8914) and a sentence for the log and the EDE text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bogus {
    /// The Extended DNS Error code.
    pub ede: u16,
    /// What failed, naming the RRset or zone.
    pub why: String,
}

impl Bogus {
    /// A failure with `ede` and `why`.
    pub fn new(ede: u16, why: String) -> Self {
        Self { ede, why }
    }
}

/// How the resolver validates: on or off, its trust anchors and negative trust anchors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationSettings {
    /// Validate (`[resolver] dnssec-validation`, on by default).
    pub enabled: bool,
    /// The trust anchors (by default the built-in IANA root anchors).
    pub anchors: Vec<Anchor>,
    /// The anchors are the built-in root's: they apply only while the root servers are the
    /// IANA root's (a test root of its own has other keys; without an anchor of its own its
    /// answers are insecure, not bogus).
    pub builtin: bool,
    /// Names below which nothing is validated (RFC 7646).
    pub negative_anchors: Vec<NameBuf>,
    /// NSEC3 iterations above which a denial is insecure (RFC 9276 §3.2; Unbound 150).
    pub max_nsec3_iterations: u16,
}

impl Default for ValidationSettings {
    fn default() -> Self {
        Self { enabled: true, anchors: anchors::builtin_root(), builtin: true, negative_anchors: Vec::new(), max_nsec3_iterations: 150 }
    }
}

impl ValidationSettings {
    /// Settings with `anchors` read from a trust-anchor file; unless one is for the root, the
    /// built-in root anchors are added when `iana_root` (the root hints are IANA's).
    pub fn with_anchors(mut self, mut anchors: Vec<Anchor>, iana_root: bool) -> Self {
        if iana_root && !anchors.iter().any(|anchor| anchor.zone.is_root()) {
            anchors.extend(anchors::builtin_root());
        }
        self.anchors = anchors;
        self.builtin = false;
        self
    }

    /// The closest anchor at or above `name`.
    pub fn anchor_for(&self, name: &NameBuf) -> Option<&Anchor> {
        self.anchors.iter().filter(|anchor| name.is_subdomain_of(&anchor.zone)).max_by_key(|anchor| anchor.zone.label_count())
    }

    /// True when a negative trust anchor covers `name`.
    pub fn negative(&self, name: &NameBuf) -> bool {
        self.negative_anchors.iter().any(|nta| name.is_subdomain_of(nta))
    }
}

#[cfg(test)]
mod tests;
