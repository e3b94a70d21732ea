//! Policy units of the query pipeline (DESIGN §3, §4.4 steps b and h): each is a plain struct
//! built once from its own validated settings, with a pure decision method. None of them reads a
//! clock or a random source: time and secrets are arguments (DESIGN §5.4).
//!
//! - [`acl`]: address match lists per action, listener and zone ([`Acl::check`]).
//! - [`rrl`]: response rate limiting with BIND 9's semantics ([`Rrl::account`]).
//! - [`query_limit`]: a Knot-style per-prefix UDP query limiter in front ([`QueryLimiter::check`]).
//! - [`cookies`]: DNS cookies, server side per [RFC 7873] and [RFC 9018] ([`Cookies::process`]).
//! - [`tsig`]: TSIG keys, the check of signed requests and the signing of replies
//!   ([`Keyring::check`]); [`tsig_replay`]: the replay cache of signed requests.
//! - [`prefix`]: IPv4/IPv6 network prefixes shared by the above ([`Prefix`]).
//!
//! Shared vocabulary lives here: [`Instant`] (monotonic milliseconds supplied by the I/O layer),
//! [`Verdict`] (what an admission policy wants done) and [`Limit`] (a setting's bounds, DESIGN
//! §5.11).
//!
//! [RFC 7873]: https://www.rfc-editor.org/rfc/rfc7873
//! [RFC 9018]: https://www.rfc-editor.org/rfc/rfc9018
#![warn(missing_docs)]

pub mod acl;
pub mod cookies;
pub mod prefix;
pub mod query_limit;
pub mod rrl;
pub mod tsig;
pub mod tsig_client;
pub mod tsig_replay;

pub use acl::{Acl, AclError, AclSettings, Action, ActionRules, DenyResponse, ListenerRules, MatchElement, NamedList, ZoneRules};
pub use cookies::{CookieAction, CookieOutcome, CookieSettings, CookieStatus, Cookies, ReplyCookie};
pub use prefix::{Prefix, PrefixError};
pub use query_limit::{LimitVerdict, QueryLimitSettings, QueryLimiter};
pub use rrl::{QueryCookie, ResponseKind, Rrl, RrlCounters, RrlEvent, RrlKey, RrlSettings, RrlVerdict, SlipReply};
pub use tsig::{Keyring, TsigKey};
pub use tsig_replay::ReplayCache;

/// A point on the I/O layer's monotonic clock, in milliseconds since an arbitrary origin.
///
/// The engine never reads a clock: the network worker reads it once per request and passes it
/// down (DESIGN §4.4 step 2). Tests start at [`Instant::ZERO`] and add time by hand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    /// The clock's origin.
    pub const ZERO: Self = Self(0);

    /// The instant `millis` milliseconds after the origin.
    pub const fn from_millis(millis: u64) -> Self {
        Self(millis)
    }

    /// The instant `secs` seconds after the origin (saturating).
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs.saturating_mul(1000))
    }

    /// Milliseconds since the origin.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Whole seconds since the origin (rounded down).
    pub const fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// This instant plus `millis` milliseconds (saturating).
    pub const fn plus_millis(self, millis: u64) -> Self {
        Self(self.0.saturating_add(millis))
    }

    /// This instant plus `secs` seconds (saturating).
    pub const fn plus_secs(self, secs: u64) -> Self {
        Self(self.0.saturating_add(secs.saturating_mul(1000)))
    }
}

/// What an admission policy (the ACL) wants done with a request.
///
/// The engine turns [`Verdict::Drop`] into `Outcome::Drop(DropReason::AclDeny)` and
/// [`Verdict::Refuse`] into a REFUSED reply (DESIGN §5.9 `enforce`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Carry on.
    Allow,
    /// Answer REFUSED (RFC 1035 §4.1.1 rcode 5).
    Refuse,
    /// Send nothing (UDP) or close the connection (TCP).
    Drop,
}

/// A numeric setting's default and accepted range (DESIGN §5.11), for the config layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit<T> {
    /// Used when the key is absent.
    pub default: T,
    /// Smallest accepted value.
    pub min: T,
    /// Largest accepted value.
    pub max: T,
}

impl<T: PartialOrd + Copy> Limit<T> {
    /// True when `value` lies within `min..=max`.
    pub fn accepts(&self, value: T) -> bool {
        self.min <= value && value <= self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instant_arithmetic_saturates() {
        assert_eq!(Instant::from_secs(2).as_millis(), 2000);
        assert_eq!(Instant::from_millis(2999).as_secs(), 2);
        assert_eq!(Instant::from_millis(u64::MAX).plus_secs(1).as_millis(), u64::MAX);
        assert_eq!(Instant::ZERO.plus_millis(5).plus_secs(1), Instant::from_millis(1005));
    }

    #[test]
    fn limit_accepts_its_range() {
        let limit = Limit { default: 15u32, min: 1, max: 3600 };
        assert!(limit.accepts(1) && limit.accepts(3600) && limit.accepts(limit.default));
        assert!(!limit.accepts(0) && !limit.accepts(3601));
    }
}
