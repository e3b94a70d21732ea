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
//! - [`tunnel`]: the DNS tunnelling detector ([`tunnel::TunnelDetector::observe`]).
//! - [`rpz`]: response policy zones and blocklists ([`rpz::Rpz::check_query`]).
//! - [`shadow`]: the domain shadowing detector ([`shadow::ShadowDetector::answer`]).
//! - [`shadow_zone`]: its authoritative side, names added in bulk by a zone change
//!   ([`shadow_zone::bulk_additions`]).
//! - [`alerts`]: the one shape of an alert and the bounded store the server shows ([`Alerts`]).
//! - [`prefix`]: IPv4/IPv6 network prefixes, re-exported from [`crate::base`].
//!
//! [`Verdict`] says what an admission policy wants done; [`Instant`], [`Limit`] and [`Prefix`]
//! are [`crate::base`]'s, re-exported here for the paths callers already use.
//!
//! [RFC 7873]: https://www.rfc-editor.org/rfc/rfc7873
//! [RFC 9018]: https://www.rfc-editor.org/rfc/rfc9018
#![warn(missing_docs)]

pub mod acl;
pub mod alerts;
pub mod cookies;
pub mod query_limit;
pub mod rpz;
pub mod rrl;
pub mod shadow;
pub mod shadow_zone;
pub mod tsig;
pub mod tsig_client;
pub mod tsig_replay;
pub mod tunnel;

pub use crate::base::{prefix, Instant, Limit, Prefix, PrefixError};
pub use acl::{Acl, AclError, AclSettings, Action, ActionRules, DenyResponse, ListenerRules, MatchElement, NamedList, ZoneRules};
pub use alerts::{Alert, AlertAction, AlertKind, Alerts};
pub use cookies::{CookieAction, CookieOutcome, CookieSettings, CookieStatus, Cookies, ReplyCookie};
pub use query_limit::{LimitVerdict, QueryLimitSettings, QueryLimiter};
pub use rrl::{QueryCookie, ResponseKind, Rrl, RrlCounters, RrlEvent, RrlKey, RrlSettings, RrlVerdict, SlipReply};
pub use tsig::{Keyring, TsigKey};
pub use tsig_replay::ReplayCache;

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
