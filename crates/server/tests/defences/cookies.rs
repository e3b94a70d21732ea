//! DNS cookies (RFC 7873, RFC 9018): interop with `dig` and `kdig`, the raw-wire cases of
//! §5.2.2 (bad lengths), §5.2.3 (client cookie only), §5.4 (QDCOUNT=0), `require-cookie`, and a
//! fixed secret surviving SIGHUP and shared by two servers (anycast).

use std::path::PathBuf;

use portcullis_wire::{Rcode, Rtype};

use crate::peers::require;
use crate::support::{self, dig, hex, kdig, printed_cookies, statuses, tcp_from, udp_from, Setup, Q, SRC1, SRC2, ZONE};

const CLIENT: [u8; 8] = [0xc1, 0x1e, 0x47, 0xc0, 0x0c, 0x1e, 0x00, 0x01];
const SECRET: &str = "000102030405060708090a0b0c0d0e0f";

fn www() -> Q {
    Q::new(&format!("www.{ZONE}"), Rtype::A)
}

fn clients(test: &str) -> Option<(PathBuf, PathBuf)> {
    let found = require(test, &["dig", "kdig"])?;
    Some((found[0].clone(), found[1].clone()))
}

/// A reply cookie must be the client cookie plus a 16-byte RFC 9018 server cookie (version 1,
/// reserved zero, a timestamp near now).
fn assert_server_cookie(cookie: &[u8], client: &[u8], what: &str) {
    assert_eq!(cookie.len(), 24, "{what}: 24-byte COOKIE option: {}", hex(cookie));
    assert_eq!(&cookie[..8], client, "{what}: client cookie echoed");
    assert_eq!(&cookie[8..12], &[1, 0, 0, 0], "{what}: version 1, reserved 0");
    let stamp = u32::from_be_bytes([cookie[12], cookie[13], cookie[14], cookie[15]]);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()) as u32;
    assert!(stamp.abs_diff(now) <= 300, "{what}: timestamp {stamp} is not near now {now}");
}

/// `dig +cookie` and `kdig +cookie`: the server returns a 24-byte cookie that dig calls good;
/// sending it back (`+cookie=HEX`) is answered with the same cookie.
#[test]
fn dig_and_kdig_cookie_interop() {
    let Some((dig_bin, kdig_bin)) = clients("dig_and_kdig_cookie_interop") else { return };
    let server = support::start("");
    let question = [&*format!("www.{ZONE}"), "A"];
    let first = dig(&dig_bin, SRC1, server.addr, &["+cookie"], &question);
    let cookies = printed_cookies(&first);
    assert_eq!(statuses(&first), ["NOERROR"], "{first}");
    assert_eq!(cookies.len(), 1, "dig prints one COOKIE line:\n{first}");
    let (cookie, remark) = &cookies[0];
    assert_eq!((cookie.len(), remark.as_str()), (48, "good"), "24-byte cookie, good:\n{first}");

    let again = dig(&dig_bin, SRC1, server.addr, &[&format!("+cookie={cookie}")], &question);
    assert_eq!(statuses(&again), ["NOERROR"], "{again}");
    assert_eq!(printed_cookies(&again), [(cookie.clone(), "good".to_owned())], "the same server cookie is echoed:\n{again}");

    let kfirst = kdig(&kdig_bin, SRC1, server.addr, &["+cookie"], &question);
    assert_eq!(statuses(&kfirst), ["NOERROR"], "{kfirst}");
    let kcookies = printed_cookies(&kfirst);
    assert!(kcookies.len() == 1 && kcookies[0].0.len() == 48, "kdig prints the 24-byte cookie:\n{kfirst}");
    let kagain = kdig(&kdig_bin, SRC1, server.addr, &[&format!("+cookie={}", kcookies[0].0)], &question);
    assert_eq!(statuses(&kagain), ["NOERROR"], "{kagain}");
    assert_eq!(printed_cookies(&kagain).first().map(|c| c.0.clone()), Some(kcookies[0].0.clone()), "kdig: the same cookie echoed:\n{kagain}");
    // The dig cookie was made for 127.0.0.1: from 127.0.0.2 it does not verify and is replaced.
    let other = dig(&dig_bin, SRC2, server.addr, &[&format!("+cookie={cookie}")], &question);
    let printed = printed_cookies(&other);
    assert_eq!(statuses(&other), ["NOERROR"], "{other}");
    assert!(printed.len() == 1 && printed[0].0 != *cookie && printed[0].0[..16] == cookie[..16], "a fresh cookie for another address:\n{other}");
}

/// Raw wire: the first reply carries a fresh server cookie; the full cookie sent back is echoed
/// unchanged (valid, younger than 30 min), over UDP and TCP.
#[test]
fn server_cookie_is_echoed_when_valid() {
    let server = support::start("");
    let first = udp_from(SRC1, server.addr, &www().cookie(&CLIENT));
    assert_eq!((first.rcode, first.answers), (Rcode::NOERROR, 1), "{first:?}");
    let cookie = first.cookie.clone().unwrap_or_else(|| panic!("no cookie: {first:?}"));
    assert_server_cookie(&cookie, &CLIENT, "first reply");
    let second = udp_from(SRC1, server.addr, &www().cookie(&cookie));
    assert_eq!((second.rcode, second.answers, second.cookie.as_deref()), (Rcode::NOERROR, 1, Some(&cookie[..])), "echoed: {second:?}");
    let tcp = tcp_from(SRC1, server.addr, &www().cookie(&cookie));
    assert_eq!(tcp.cookie.as_deref(), Some(&cookie[..]), "echoed over TCP: {tcp:?}");
    // No COOKIE option: no cookie in the reply (RFC 7873 §5.2.1).
    let plain = udp_from(SRC1, server.addr, &www());
    assert_eq!((plain.rcode, plain.cookie.clone()), (Rcode::NOERROR, None), "{plain:?}");
    // A forged server cookie is replaced by a fresh one, the query still answered.
    let mut forged = cookie.clone();
    forged[23] ^= 0xff;
    let reply = udp_from(SRC1, server.addr, &www().cookie(&forged));
    assert_eq!((reply.rcode, reply.answers), (Rcode::NOERROR, 1), "{reply:?}");
    let fresh = reply.cookie.unwrap_or_default();
    assert_server_cookie(&fresh, &CLIENT, "reply to a forged cookie");
    assert_ne!(fresh, forged, "the forged server cookie must not be echoed");
}

/// Malformed COOKIE lengths (RFC 7873 §5.2.2: not 8 and not 16..=40) are FORMERR.
#[test]
fn malformed_cookie_lengths_are_formerr() {
    let server = support::start("");
    for len in [1, 7, 9, 15, 41] {
        let reply = udp_from(SRC1, server.addr, &www().cookie(&vec![0x5a; len]));
        assert_eq!((reply.rcode, reply.answers), (Rcode::FORMERR, 0), "COOKIE of {len} bytes: {reply:?}");
    }
    for len in [8, 16, 40] {
        let reply = udp_from(SRC1, server.addr, &www().cookie(&vec![0x5a; len]));
        assert_eq!((reply.rcode, reply.answers), (Rcode::NOERROR, 1), "COOKIE of {len} bytes is well formed: {reply:?}");
    }
}

/// §5.4: QDCOUNT=0 with a client cookie gets NOERROR, no records and a server cookie; with a
/// valid server cookie NOERROR again (the invalid case is [`qdcount_zero_with_invalid_server_cookie_is_badcookie`]).
#[test]
fn qdcount_zero_with_cookie_returns_the_server_cookie() {
    let server = support::start("");
    let mut query = Q::new(ZONE, Rtype::SOA).cookie(&CLIENT);
    query.question = false;
    let reply = udp_from(SRC1, server.addr, &query);
    assert_eq!((reply.rcode, reply.qdcount, reply.answers), (Rcode::NOERROR, 0, 0), "{reply:?}");
    let cookie = reply.cookie.clone().unwrap_or_else(|| panic!("no cookie: {reply:?}"));
    assert_server_cookie(&cookie, &CLIENT, "QDCOUNT=0");
    let mut valid = Q::new(ZONE, Rtype::SOA).cookie(&cookie);
    valid.question = false;
    let reply = udp_from(SRC1, server.addr, &valid);
    assert_eq!((reply.rcode, reply.cookie.as_deref()), (Rcode::NOERROR, Some(&cookie[..])), "{reply:?}");
    // Without a COOKIE option QDCOUNT=0 stays FORMERR.
    let mut plain = Q::new(ZONE, Rtype::SOA);
    plain.question = false;
    assert_eq!(udp_from(SRC1, server.addr, &plain).rcode, Rcode::FORMERR);
}

/// RFC 7873 §5.4: a QDCOUNT=0 query whose server cookie is invalid "SHALL have the RCODE
/// BADCOOKIE" (SECURITY-REFERENCE §3.5 item 5), with a fresh server cookie.
#[test]
fn qdcount_zero_with_invalid_server_cookie_is_badcookie() {
    let server = support::start("");
    let mut query = Q::new(ZONE, Rtype::SOA).cookie(&CLIENT);
    query.question = false;
    let cookie = udp_from(SRC1, server.addr, &query).cookie.unwrap_or_default();
    let mut forged = cookie.clone();
    forged[20] ^= 1;
    let mut bad = Q::new(ZONE, Rtype::SOA).cookie(&forged);
    bad.question = false;
    let reply = udp_from(SRC1, server.addr, &bad);
    assert_server_cookie(reply.cookie.as_deref().unwrap_or_default(), &CLIENT, "reply to an invalid server cookie");
    assert_ne!(reply.cookie.as_deref(), Some(&forged[..]), "the forged cookie must not be echoed");
    assert_eq!((reply.rcode, reply.answers), (Rcode::BADCOOKIE, 0), "an invalid server cookie: {reply:?}");
}

/// `require-cookie = true`: over UDP a client cookie alone gets BADCOOKIE with a fresh cookie
/// and no records; the same query with that cookie is answered; a query without any COOKIE
/// option is answered normally (RFC 7873 §5.2.1, as BIND's `require-server-cookie` does: it
/// targets cookie-aware clients only); TCP is answered (§5.2.3). dig shows BADCOOKIE with
/// `+nobadcookie` and retries by itself otherwise.
#[test]
fn require_cookie_answers_badcookie_to_client_cookie_only() {
    let server = support::start("[cookies]\nrequire-cookie = true\n");
    let reply = udp_from(SRC1, server.addr, &www().cookie(&CLIENT));
    assert_eq!((reply.rcode, reply.answers), (Rcode::BADCOOKIE, 0), "{reply:?}");
    let cookie = reply.cookie.clone().unwrap_or_else(|| panic!("BADCOOKIE without a cookie: {reply:?}"));
    assert_server_cookie(&cookie, &CLIENT, "BADCOOKIE");
    let retry = udp_from(SRC1, server.addr, &www().cookie(&cookie));
    assert_eq!((retry.rcode, retry.answers, retry.cookie.as_deref()), (Rcode::NOERROR, 1, Some(&cookie[..])), "{retry:?}");
    let plain = udp_from(SRC1, server.addr, &www());
    assert_eq!((plain.rcode, plain.answers, plain.cookie.clone()), (Rcode::NOERROR, 1, None), "no COOKIE option at all: {plain:?}");
    let tcp = tcp_from(SRC1, server.addr, &www().cookie(&CLIENT));
    assert_eq!((tcp.rcode, tcp.answers), (Rcode::NOERROR, 1), "TCP with a client cookie only: {tcp:?}");
    assert_server_cookie(tcp.cookie.as_deref().unwrap_or_default(), &CLIENT, "TCP");

    let Some((dig_bin, kdig_bin)) = clients("require_cookie_answers_badcookie_to_client_cookie_only") else { return };
    let question = [&*format!("www.{ZONE}"), "A"];
    let shown = dig(&dig_bin, SRC1, server.addr, &["+cookie", "+nobadcookie"], &question);
    assert_eq!(statuses(&shown), ["BADCOOKIE"], "{shown}");
    assert_eq!(printed_cookies(&shown).first().map(|c| c.1.as_str()), Some("good"), "{shown}");
    let retried = dig(&dig_bin, SRC1, server.addr, &["+cookie"], &question);
    assert!(retried.contains("BADCOOKIE, retrying"), "dig retries after BADCOOKIE:\n{retried}");
    assert_eq!(statuses(&retried), ["NOERROR"], "{retried}");
    let nocookie = dig(&dig_bin, SRC1, server.addr, &["+nocookie"], &question);
    assert_eq!(statuses(&nocookie), ["NOERROR"], "{nocookie}");
    let kshown = kdig(&kdig_bin, SRC1, server.addr, &["+cookie", "+nobadcookie"], &question);
    assert_eq!(statuses(&kshown), ["BADCOOKIE"], "{kshown}");
    let kretried = kdig(&kdig_bin, SRC1, server.addr, &["+cookie"], &question);
    assert_eq!(statuses(&kretried), ["BADCOOKIE", "NOERROR"], "kdig repeats the query with the received cookie:\n{kretried}");
    let kcookies = printed_cookies(&kretried);
    assert!(kcookies.len() == 2 && kcookies[0].0 == kcookies[1].0, "the retry is answered with the cookie BADCOOKIE gave:\n{kretried}");
}

/// RFC 7873 §5.4: "If such a query provided just a Client Cookie and no Server Cookie, the
/// response SHALL have the RCODE NOERROR" — also when server cookies are required (BIND answers
/// the QDCOUNT=0 cookie query before its require-server-cookie check).
#[test]
fn require_cookie_qdcount_zero_client_cookie_is_noerror() {
    let server = support::start("[cookies]\nrequire-cookie = true\n");
    let mut query = Q::new(ZONE, Rtype::SOA).cookie(&CLIENT);
    query.question = false;
    let reply = udp_from(SRC1, server.addr, &query);
    assert_server_cookie(reply.cookie.as_deref().unwrap_or_default(), &CLIENT, "QDCOUNT=0");
    assert_eq!((reply.rcode, reply.answers), (Rcode::NOERROR, 0), "{reply:?}");
}

/// A fixed `secret`: the server cookie still verifies (is echoed unchanged) after a SIGHUP
/// reload, and a second server with the same secret (an anycast sibling) accepts it too, while a
/// server with another secret replaces it.
#[test]
fn fixed_secret_survives_reload_and_is_shared() {
    let extra = format!("[cookies]\nsecret = \"{SECRET}\"\n");
    let server = support::start(&extra);
    let first = udp_from(SRC1, server.addr, &www().cookie(&CLIENT));
    let cookie = first.cookie.clone().unwrap_or_else(|| panic!("{first:?}"));
    server.signal("HUP");
    support::wait_reloaded(&server, 1);
    let after = udp_from(SRC1, server.addr, &www().cookie(&cookie));
    assert_eq!((after.rcode, after.cookie.as_deref()), (Rcode::NOERROR, Some(&cookie[..])), "after SIGHUP: {after:?}");

    let sibling = support::start(&extra);
    let there = udp_from(SRC1, sibling.addr, &www().cookie(&cookie));
    assert_eq!(there.cookie.as_deref(), Some(&cookie[..]), "a sibling with the same secret echoes the cookie: {there:?}");
    let stranger = support::start_with(Setup::new("[cookies]\nsecret = \"ffeeddccbbaa99887766554433221100\"\n"));
    let elsewhere = udp_from(SRC1, stranger.addr, &www().cookie(&cookie));
    assert_ne!(elsewhere.cookie.as_deref(), Some(&cookie[..]), "another secret does not verify it: {elsewhere:?}");
}

/// Without a configured secret, the random secret is kept across SIGHUP (cookies stay valid).
#[test]
fn random_secret_survives_reload() {
    let server = support::start("");
    let first = udp_from(SRC1, server.addr, &www().cookie(&CLIENT));
    let cookie = first.cookie.clone().unwrap_or_else(|| panic!("{first:?}"));
    server.signal("HUP");
    support::wait_reloaded(&server, 1);
    let after = udp_from(SRC1, server.addr, &www().cookie(&cookie));
    assert_eq!(after.cookie.as_deref(), Some(&cookie[..]), "after SIGHUP: {after:?}");
}

/// `answer-cookie = false`: no COOKIE option in replies, as if cookies were not implemented.
#[test]
fn answer_cookie_false_sends_no_cookie() {
    let server = support::start("[cookies]\nanswer-cookie = false\n");
    let reply = udp_from(SRC1, server.addr, &www().cookie(&CLIENT));
    assert_eq!((reply.rcode, reply.answers, reply.cookie.clone()), (Rcode::NOERROR, 1, None), "{reply:?}");
}

/// A changed `secret` takes effect on SIGHUP (README: SIGHUP reloads the configuration): the
/// reloaded server echoes cookies made by a server started with the new secret, and still
/// accepts its old cookies (renewed, not rejected) during the rollover.
#[test]
fn changed_secret_takes_effect_on_reload() {
    let old = "000102030405060708090a0b0c0d0e0f";
    let new = "f0e0d0c0b0a090807060504030201000";
    let server = support::start(&format!("[cookies]\nsecret = \"{old}\"\n"));
    let old_cookie = udp_from(SRC1, server.addr, &www().cookie(&CLIENT)).cookie.unwrap_or_default();
    let reference = support::start(&format!("[cookies]\nsecret = \"{new}\"\n"));
    let new_cookie = udp_from(SRC1, reference.addr, &www().cookie(&CLIENT)).cookie.unwrap_or_default();
    assert_ne!(old_cookie, new_cookie);
    support::write_config(&server.dir, &[server.addr], &format!("[cookies]\nsecret = \"{new}\"\n"));
    server.signal("HUP");
    support::wait_reloaded(&server, 1);
    let reply = udp_from(SRC1, server.addr, &www().cookie(&new_cookie));
    assert_eq!(reply.cookie.as_deref(), Some(&new_cookie[..]), "a cookie of the new secret verifies after reload: {reply:?}");
    let rolled = udp_from(SRC1, server.addr, &www().cookie(&old_cookie));
    assert_eq!((rolled.rcode, rolled.answers), (Rcode::NOERROR, 1), "{rolled:?}");
}
