//! DNS cookies: the server's decision about a query's COOKIE option ([RFC 7873] §5.2) with
//! interoperable server cookies ([RFC 9018] §4), plus small client helpers ([RFC 7873] §5.1,
//! §5.3) for `portcullis query --cookie` and the future resolver.
//!
//! A server cookie (version 1) is `Version(1)=1 | Reserved(3)=0 | Timestamp(4, big-endian Unix
//! seconds, serial arithmetic) | Hash(8)` with `Hash = SipHash-2-4(secret, ClientCookie |
//! Version | Reserved | Timestamp | ClientIP)`, the 64-bit result serialised little-endian
//! ([RFC 9018] §4.2, §4.4). Received Reserved bytes are hashed as received (Appendix A.3).
//! IPv4-mapped IPv6 clients are hashed as IPv4, so a dual-stack socket sees stable cookies.
//!
//! Verification ([RFC 9018] §4.3) accepts the current secret and, during a rollover, the
//! previous one; a cookie is invalid when its version or length is wrong, its hash does not
//! match, its timestamp is more than 300 s ahead ([`CookieStatus::Future`]) or more than 3600 s
//! old ([`CookieStatus::Expired`]). A valid cookie older than 1800 s, or made with the previous
//! secret, is renewed ([`CookieStatus::Renew`]); a younger one is echoed unchanged, so clients of
//! an anycast set keep one cookie.
//!
//! What the pipeline does with the outcome ([`decide`], [`Cookies::process`]):
//!
//! | option | status | UDP | TCP |
//! | --- | --- | --- | --- |
//! | none | – | as without cookies | as without cookies |
//! | bad length (not 8, not 16..=40) | `Malformed` | FORMERR (§5.2.2) | FORMERR |
//! | client cookie only, or invalid server cookie | `Missing`, `Invalid`, `Expired`, `Future` | answer + fresh cookie; BADCOOKIE + fresh cookie if `require_cookie` | answer + fresh cookie (§5.2.3) |
//! | valid | `Valid`, `Renew` | answer + echoed or renewed cookie; exempt from RRL | same |
//!
//! A query with QDCOUNT=0 and a COOKIE option (§5.4) is the engine's: it answers NOERROR with an
//! empty answer for [`CookieAction::Answer`] and BADCOOKIE for [`CookieAction::BadCookie`].
//! BADCOOKIE is extended rcode 23 (`Rcode::BADCOOKIE`): header rcode 7 plus OPT extended rcode 1.
//!
//! Secrets come from the caller (a CSPRNG or the configuration); RFC 7873 §7.1 asks to roll them
//! at least every 36 days (SHOULD every 26 hours): build a new [`Cookies`] with the old secret as
//! `previous`.
//!
//! [RFC 7873]: https://www.rfc-editor.org/rfc/rfc7873
//! [RFC 9018]: https://www.rfc-editor.org/rfc/rfc9018

use super::rrl::QueryCookie;
use crate::base::prefix::canonical;
use crate::base::Limit;
use crate::base::Transport;
use siphasher::sip::SipHasher24;
use std::net::IpAddr;

/// Length of a client cookie.
pub const CLIENT_COOKIE_LEN: usize = 8;
/// Length of an RFC 9018 version 1 server cookie.
pub const SERVER_COOKIE_LEN: usize = 16;

/// Validated cookie settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookieSettings {
    /// `require-server-cookie` (BIND, default off): over UDP, a cookie-aware client without a
    /// valid server cookie gets BADCOOKIE instead of an answer.
    pub require_cookie: bool,
    /// Renew valid cookies older than this many seconds ([RFC 9018] §4.3: half an hour).
    ///
    /// [RFC 9018]: https://www.rfc-editor.org/rfc/rfc9018
    pub renew_after: u32,
    /// Reject timestamps more than this many seconds in the future (300).
    pub max_future: u32,
    /// Reject timestamps more than this many seconds in the past (3600).
    pub max_age: u32,
}

impl CookieSettings {
    /// The defaults of [RFC 9018] §4.3 and BIND.
    ///
    /// [RFC 9018]: https://www.rfc-editor.org/rfc/rfc9018
    pub const DEFAULT: Self =
        Self { require_cookie: false, renew_after: Self::RENEW_AFTER.default, max_future: Self::MAX_FUTURE.default, max_age: Self::MAX_AGE.default };
    /// `renew-after`, seconds.
    pub const RENEW_AFTER: Limit<u32> = Limit { default: 1800, min: 60, max: 3600 };
    /// `max-future`, seconds.
    pub const MAX_FUTURE: Limit<u32> = Limit { default: 300, min: 0, max: 3600 };
    /// `max-age`, seconds.
    pub const MAX_AGE: Limit<u32> = Limit { default: 3600, min: 60, max: 86_400 };
}

impl Default for CookieSettings {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What a received COOKIE option proves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookieStatus {
    /// A valid server cookie, younger than `renew_after`: echo it.
    Valid,
    /// A valid server cookie that is old or made with the previous secret: send a new one.
    Renew,
    /// A client cookie only ([RFC 7873] §5.2.3).
    ///
    /// [RFC 7873]: https://www.rfc-editor.org/rfc/rfc7873
    Missing,
    /// Unknown version, a length other than 16, or a hash matching neither secret.
    Invalid,
    /// Authentic, but the timestamp is more than `max_age` seconds old.
    Expired,
    /// Authentic, but the timestamp is more than `max_future` seconds ahead.
    Future,
    /// The option length is neither 8 nor 16..=40 ([RFC 7873] §5.2.2).
    ///
    /// [RFC 7873]: https://www.rfc-editor.org/rfc/rfc7873
    Malformed,
}

impl CookieStatus {
    /// True for [`CookieStatus::Valid`] and [`CookieStatus::Renew`]: the source is proven.
    pub const fn is_valid(self) -> bool {
        matches!(self, Self::Valid | Self::Renew)
    }
}

/// What the pipeline does with the query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookieAction {
    /// No COOKIE option: proceed as if cookies were not implemented ([RFC 7873] §5.2.1).
    ///
    /// [RFC 7873]: https://www.rfc-editor.org/rfc/rfc7873
    Ignore,
    /// Answer normally and add the reply cookie.
    Answer,
    /// Answer BADCOOKIE (rcode 23), no records, with the reply cookie.
    BadCookie,
    /// Answer FORMERR.
    FormErr,
}

/// The COOKIE option for a reply: client cookie then server cookie, 24 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyCookie([u8; CLIENT_COOKIE_LEN + SERVER_COOKIE_LEN]);

impl ReplyCookie {
    /// The option data to write.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The server cookie part.
    pub fn server_cookie(&self) -> &[u8] {
        &self.0[CLIENT_COOKIE_LEN..]
    }
}

/// Everything the pipeline needs from one query's COOKIE option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookieOutcome {
    /// What to do.
    pub action: CookieAction,
    /// The verification result; `None` without a COOKIE option.
    pub status: Option<CookieStatus>,
    /// The COOKIE option of the reply, for [`CookieAction::Answer`] and
    /// [`CookieAction::BadCookie`].
    pub reply: Option<ReplyCookie>,
}

impl CookieOutcome {
    /// The cookie state RRL needs: valid cookies are exempt, client cookies slip as BADCOOKIE.
    pub fn rrl_cookie(&self) -> QueryCookie {
        match self.status {
            None | Some(CookieStatus::Malformed) => QueryCookie::Absent,
            Some(status) if status.is_valid() => QueryCookie::Verified,
            Some(_) => QueryCookie::Unverified,
        }
    }
}

/// The server side: secrets and settings. Immutable; shared by all workers.
#[derive(Clone, Debug)]
pub struct Cookies {
    settings: CookieSettings,
    secret: [u8; 16],
    previous: Option<[u8; 16]>,
}

impl Cookies {
    /// Server cookies made with `secret`; cookies made with `previous` still verify.
    pub fn new(settings: CookieSettings, secret: [u8; 16], previous: Option<[u8; 16]>) -> Self {
        Self { settings, secret, previous }
    }

    /// The settings.
    pub fn settings(&self) -> &CookieSettings {
        &self.settings
    }

    /// Verifies the server cookie part of a COOKIE option (`server_cookie` empty when the
    /// client sent only its own) for a query from `client_ip` at `now_unix_secs`.
    pub fn verify(&self, client_cookie: &[u8; 8], server_cookie: &[u8], client_ip: IpAddr, now_unix_secs: u64) -> CookieStatus {
        if server_cookie.is_empty() {
            return CookieStatus::Missing;
        }
        if !(8..=32).contains(&server_cookie.len()) {
            return CookieStatus::Malformed;
        }
        let Ok(received) = <[u8; SERVER_COOKIE_LEN]>::try_from(server_cookie) else { return CookieStatus::Invalid };
        if received[0] != 1 {
            return CookieStatus::Invalid;
        }
        let with_current = hash_matches(&self.secret, client_cookie, &received, client_ip);
        let with_previous = !with_current && self.previous.is_some_and(|old| hash_matches(&old, client_cookie, &received, client_ip));
        if !with_current && !with_previous {
            return CookieStatus::Invalid;
        }
        let timestamp = u32::from_be_bytes([received[4], received[5], received[6], received[7]]);
        let ahead = i64::from(timestamp.wrapping_sub(now_unix_secs as u32) as i32);
        if ahead > i64::from(self.settings.max_future) {
            return CookieStatus::Future;
        }
        if -ahead > i64::from(self.settings.max_age) {
            return CookieStatus::Expired;
        }
        if with_previous || -ahead > i64::from(self.settings.renew_after) {
            return CookieStatus::Renew;
        }
        CookieStatus::Valid
    }

    /// A fresh version 1 server cookie for `client_cookie` from `client_ip` at `now_unix_secs`
    /// ([RFC 9018] §4.2), made with the current secret.
    ///
    /// [RFC 9018]: https://www.rfc-editor.org/rfc/rfc9018
    pub fn mint(&self, client_cookie: &[u8; 8], client_ip: IpAddr, now_unix_secs: u64) -> [u8; 16] {
        let mut cookie = [0u8; SERVER_COOKIE_LEN];
        cookie[0] = 1;
        cookie[4..8].copy_from_slice(&(now_unix_secs as u32).to_be_bytes());
        let hash = server_hash(&self.secret, client_cookie, &cookie, client_ip);
        cookie[8..].copy_from_slice(&hash);
        cookie
    }

    /// The whole server-side treatment of a query's COOKIE option data (`option`, as the wire
    /// parser kept it; `None` when the query had none).
    pub fn process(&self, option: Option<&[u8]>, client_ip: IpAddr, transport: Transport, now_unix_secs: u64) -> CookieOutcome {
        let Some(option) = option else {
            return CookieOutcome { action: CookieAction::Ignore, status: None, reply: None };
        };
        let parts = split_option(option);
        let status = match parts {
            Some((client, server)) => self.verify(&client, server, client_ip, now_unix_secs),
            None => CookieStatus::Malformed,
        };
        let action = decide(Some(status), transport, self.settings.require_cookie);
        let reply = match (action, parts) {
            (CookieAction::Answer | CookieAction::BadCookie, Some((client, server))) => {
                Some(self.reply_cookie(&client, server, status, client_ip, now_unix_secs))
            }
            _ => None,
        };
        CookieOutcome { action, status: Some(status), reply }
    }

    /// Echoes a [`CookieStatus::Valid`] server cookie, mints a new one otherwise.
    fn reply_cookie(&self, client: &[u8; 8], server: &[u8], status: CookieStatus, client_ip: IpAddr, now: u64) -> ReplyCookie {
        let mut bytes = [0u8; CLIENT_COOKIE_LEN + SERVER_COOKIE_LEN];
        bytes[..CLIENT_COOKIE_LEN].copy_from_slice(client);
        match <[u8; SERVER_COOKIE_LEN]>::try_from(server) {
            Ok(valid) if status == CookieStatus::Valid => bytes[CLIENT_COOKIE_LEN..].copy_from_slice(&valid),
            _ => bytes[CLIENT_COOKIE_LEN..].copy_from_slice(&self.mint(client, client_ip, now)),
        }
        ReplyCookie(bytes)
    }
}

/// The decision table of the module docs: `status` `None` means the query had no COOKIE option.
pub fn decide(status: Option<CookieStatus>, transport: Transport, require_cookie: bool) -> CookieAction {
    match status {
        None => CookieAction::Ignore,
        Some(CookieStatus::Malformed) => CookieAction::FormErr,
        Some(status) if status.is_valid() => CookieAction::Answer,
        Some(_) if transport == Transport::Udp && require_cookie => CookieAction::BadCookie,
        Some(_) => CookieAction::Answer,
    }
}

/// A client cookie from 8 random bytes supplied by the caller ([RFC 7873] §4.1 allows any
/// pseudo-random value; a one-shot client such as `portcullis query` needs nothing more).
///
/// [RFC 7873]: https://www.rfc-editor.org/rfc/rfc7873
pub fn client_cookie(random: [u8; 8]) -> [u8; 8] {
    random
}

/// A client cookie that stays the same per server: SipHash-2-4 of the server's address under
/// the client's secret (as Knot does; [RFC 7873] §4.1, Appendix A.2).
///
/// [RFC 7873]: https://www.rfc-editor.org/rfc/rfc7873
pub fn client_cookie_for(client_secret: &[u8; 16], server_ip: IpAddr) -> [u8; 8] {
    let mut address = [0u8; 16];
    let used = write_ip(&mut address, server_ip);
    SipHasher24::new_with_key(client_secret).hash(&address[..used]).to_le_bytes()
}

/// The COOKIE option data of a query: the client cookie, then the server cookie last learned
/// from that server (8..=32 bytes; anything else is left out). Returns the buffer and its length.
pub fn query_option(client_cookie: &[u8; 8], server_cookie: Option<&[u8]>) -> ([u8; 40], usize) {
    let mut data = [0u8; 40];
    data[..CLIENT_COOKIE_LEN].copy_from_slice(client_cookie);
    let server = server_cookie.filter(|server| (8..=32).contains(&server.len())).unwrap_or(&[]);
    data[CLIENT_COOKIE_LEN..CLIENT_COOKIE_LEN + server.len()].copy_from_slice(server);
    (data, CLIENT_COOKIE_LEN + server.len())
}

/// Checks a reply's COOKIE option against the client cookie sent ([RFC 7873] §5.3): the server
/// cookie to remember, or `None` when the reply must be discarded (wrong client cookie, or a
/// malformed option).
///
/// [RFC 7873]: https://www.rfc-editor.org/rfc/rfc7873
pub fn reply_server_cookie<'a>(sent: &[u8; 8], option: &'a [u8]) -> Option<&'a [u8]> {
    let (client, server) = split_option(option)?;
    (constant_time_eq(&client, sent) && !server.is_empty()).then_some(server)
}

/// Client cookie and server cookie of an option of valid length (8 or 16..=40).
fn split_option(option: &[u8]) -> Option<([u8; 8], &[u8])> {
    if !(option.len() == CLIENT_COOKIE_LEN || (16..=40).contains(&option.len())) {
        return None;
    }
    let (client, server) = option.split_at(CLIENT_COOKIE_LEN);
    Some((client.try_into().ok()?, server))
}

fn hash_matches(secret: &[u8; 16], client_cookie: &[u8; 8], received: &[u8; 16], client_ip: IpAddr) -> bool {
    constant_time_eq(&server_hash(secret, client_cookie, received, client_ip), &received[8..])
}

/// RFC 9018 §4.4: SipHash-2-4 over ClientCookie | Version | Reserved | Timestamp | ClientIP.
fn server_hash(secret: &[u8; 16], client_cookie: &[u8; 8], cookie: &[u8; 16], client_ip: IpAddr) -> [u8; 8] {
    let mut message = [0u8; 8 + 8 + 16];
    message[..8].copy_from_slice(client_cookie);
    message[8..16].copy_from_slice(&cookie[..8]);
    let used = write_ip(&mut message[16..], client_ip);
    SipHasher24::new_with_key(secret).hash(&message[..16 + used]).to_le_bytes()
}

/// Writes the address (IPv4-mapped as IPv4) and returns its length: 4 or 16.
fn write_ip(out: &mut [u8], ip: IpAddr) -> usize {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            out[..4].copy_from_slice(&v4.octets());
            4
        }
        IpAddr::V6(v6) => {
            out[..16].copy_from_slice(&v6.octets());
            16
        }
    }
}

/// Equality whose time does not depend on where the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7873_5_2_2_lengths() {
        assert!(split_option(&[1; 8]).is_some());
        assert!(split_option(&[1; 16]).is_some() && split_option(&[1; 40]).is_some());
        for bad in [0, 7, 9, 15, 41] {
            assert!(split_option(&vec![1; bad]).is_none(), "{bad}");
        }
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd") && !constant_time_eq(b"ab", b"abc"));
    }
}
