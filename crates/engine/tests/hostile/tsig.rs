//! SECURITY-REFERENCE §6.4: TSIG (RFC 8945) rows 46-49 through the engine: a verified request
//! answered signed, BADSIG, MAC lengths (FORMERR, and BADTRUNC under the key's local minimum),
//! BADTIME with the fudge capped at 300 s, and the replay cache refusing a request seen twice.

use crate::*;
use portcullis_engine::auth::ZoneSet;
use portcullis_engine::engine::Policy;
use portcullis_engine::metrics::EngineCounters;
use portcullis_engine::policy::tsig::Algorithm;
use portcullis_engine::policy::{Keyring, ReplayCache, TsigKey};
use portcullis_engine::{Engine, Outcome, Request};
use portcullis_wire::tsig::{self, Tsig};
use std::sync::Arc;

const NOTAUTH: u16 = 9;

const SECRET: &[u8] = b"thirty-two octets of secret key!";

/// `tricky.test.` with the TSIG key `key.` (hmac-sha256, [`SECRET`]).
fn keyed() -> Engine {
    let zones = ZoneSet::new(vec![Arc::new(load_zone("tricky.test.", "tricky.zone"))]);
    let mut policy = Policy::defaults();
    policy.keys = Keyring::new(vec![TsigKey::new(&name("key."), Algorithm::HmacSha256, SECRET)]);
    Engine::with_policy(zones, EngineSettings::default(), Arc::new(EngineCounters::default()), policy)
}

/// `tricky.test.` with the key `key.` accepting MACs of `min_mac_len` octets, its replay cache
/// `replays` (an engine reloaded keeps the server's).
fn keyed_with(min_mac_len: usize, replays: Arc<ReplayCache>) -> Engine {
    let zones = ZoneSet::new(vec![Arc::new(load_zone("tricky.test.", "tricky.zone"))]);
    let mut policy = Policy::defaults();
    let key = TsigKey::new(&name("key."), Algorithm::HmacSha256, SECRET).with_min_mac_len(min_mac_len);
    policy.keys = Keyring::new(vec![key]).with_replays(replays);
    Engine::with_policy(zones, EngineSettings::default(), Arc::new(EngineCounters::default()), policy)
}

/// The TSIG variables of RFC 8945 §4.3.3 for `key.` and hmac-sha256, written out here.
fn variables(time: u64, error: u16, other: &[u8]) -> Vec<u8> {
    variables_with(time, 300, error, other)
}

/// [`variables`] with another fudge.
fn variables_with(time: u64, fudge: u16, error: u16, other: &[u8]) -> Vec<u8> {
    let mut out = wire("key.");
    out.extend_from_slice(&[0, 255, 0, 0, 0, 0]);
    out.extend_from_slice(&wire("hmac-sha256."));
    out.extend_from_slice(&time.to_be_bytes()[2..]);
    out.extend_from_slice(&fudge.to_be_bytes());
    out.extend_from_slice(&error.to_be_bytes());
    out.extend_from_slice(&(other.len() as u16).to_be_bytes());
    out.extend_from_slice(other);
    out
}

/// `www()` signed with `secret` at `time`, the MAC cut to `mac_len`; returns it and its MAC.
fn signed_www(time: u64, mac_len: usize, secret: &[u8]) -> (Vec<u8>, Vec<u8>) {
    signed_www_fudge(time, 300, mac_len, secret)
}

/// [`signed_www`] claiming `fudge` seconds.
fn signed_www_fudge(time: u64, fudge: u16, mac_len: usize, secret: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let unsigned = www().build();
    let mut covered = unsigned.clone();
    covered.extend(variables_with(time, fudge, 0, &[]));
    let mac = ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret), &covered);
    let mac = mac.as_ref()[..mac_len].to_vec();
    let mut rdata = wire("hmac-sha256.");
    rdata.extend_from_slice(&time.to_be_bytes()[2..]);
    rdata.extend_from_slice(&fudge.to_be_bytes());
    rdata.extend_from_slice(&(mac.len() as u16).to_be_bytes());
    rdata.extend_from_slice(&mac);
    rdata.extend_from_slice(&[unsigned[0], unsigned[1], 0, 0, 0, 0]);
    (www().record(Section::Additional, &rr(&wire("key."), Rtype::TSIG.0, 255, 0, &rdata)).build(), mac)
}

/// The reply's TSIG record, checked to be signed over `request_mac` as RFC 8945 §4.3.3 says.
#[allow(clippy::expect_used)]
fn verified_tsig(reply: &Reply, request_mac: &[u8]) -> (u16, Vec<u8>) {
    let message = reply.message();
    let offset = message.tsig_offset().expect("a TSIG record, last");
    let record = Tsig::parse(message.bytes(), offset).expect("TSIG rdata");
    let mut unsigned = message.bytes()[..offset].to_vec();
    unsigned[11] -= 1;
    let mut covered = (request_mac.len() as u16).to_be_bytes().to_vec();
    covered.extend_from_slice(request_mac);
    covered.extend_from_slice(&unsigned);
    covered.extend(variables(record.time_signed, record.error, record.other));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET);
    assert!(ring::hmac::verify(&key, &covered, record.mac).is_ok(), "the reply's MAC verifies");
    (record.error, record.other.to_vec())
}

#[test]
fn a_request_signed_with_a_known_key_is_answered_signed() {
    let engine = keyed();
    let (query, mac) = signed_www(0, 32, SECRET);
    let reply = ask_raw(&engine, &query, Transport::Udp);
    assert_eq!((reply.rcode(), reply.aa()), (0, true));
    assert_eq!(reply.answer(), ["www.tricky.test. 120 IN A 192.0.2.80"]);
    assert_eq!(verified_tsig(&reply, &mac), (0, Vec::new()));
}

#[test]
fn row46_a_mac_that_does_not_verify_is_notauth_with_an_unsigned_badsig() {
    let engine = keyed();
    let (query, _) = signed_www(0, 32, b"another secret");
    let reply = ask_raw(&engine, &query, Transport::Udp);
    assert_eq!((reply.rcode(), reply.counts()[1]), (NOTAUTH, 0));
    let message = reply.message();
    let record = Tsig::parse(message.bytes(), message.tsig_offset().expect("TSIG")).expect("TSIG rdata");
    assert_eq!((record.error, record.mac), (tsig::error::BADSIG, &[][..]));
    assert_still_serves(&engine);
}

#[test]
fn row47_a_mac_too_short_or_too_long_is_formerr() {
    let engine = keyed();
    let (query, _) = signed_www(0, 15, SECRET);
    let reply = ask_raw(&engine, &query, Transport::Udp);
    reply.assert_error(&query, FORMERR);
    assert_still_serves(&engine);
}

#[test]
fn row47_a_mac_shorter_than_the_local_minimum_is_notauth_with_a_signed_badtrunc() {
    // RFC 8945 §5.2.2.1: 16 octets (half the digest) is allowed by the RFC, but the key's local
    // minimum is the whole digest unless configured: NOTAUTH, BADTRUNC, signed (§5.3.2).
    let engine = keyed();
    let (query, mac) = signed_www(0, 16, SECRET);
    let reply = ask_raw(&engine, &query, Transport::Udp);
    assert_eq!((reply.rcode(), reply.counts()[1]), (NOTAUTH, 0));
    assert_eq!(verified_tsig(&reply, &mac), (tsig::error::BADTRUNC, Vec::new()));
    // A key configured for 16-octet MACs accepts it.
    let truncating = keyed_with(16, Arc::default());
    let reply = ask_raw(&truncating, &query, Transport::Udp);
    assert_eq!(reply.answer(), ["www.tricky.test. 120 IN A 192.0.2.80"]);
    assert_eq!(verified_tsig(&reply, &mac), (0, Vec::new()));
}

#[test]
fn row48_outside_the_fudge_is_notauth_with_a_signed_badtime_and_our_time() {
    let engine = keyed();
    // The engine's clock (Request::at_zero) says 0; the request says 1000, beyond 300 s.
    let (query, mac) = signed_www(1000, 32, SECRET);
    let reply = ask_raw(&engine, &query, Transport::Udp);
    assert_eq!((reply.rcode(), reply.counts()[1]), (NOTAUTH, 0));
    assert_eq!(verified_tsig(&reply, &mac), (tsig::error::BADTIME, vec![0; 6]));
    assert_still_serves(&engine);
}

#[test]
fn a_fudge_over_300_seconds_is_treated_as_300() {
    let engine = keyed();
    // The engine's clock says 0; signed at 1000 claiming a fudge of 3600 s: outside 300 s.
    let (query, mac) = signed_www_fudge(1000, 3600, 32, SECRET);
    let reply = ask_raw(&engine, &query, Transport::Udp);
    assert_eq!((reply.rcode(), reply.counts()[1]), (NOTAUTH, 0));
    assert_eq!(verified_tsig(&reply, &mac), (tsig::error::BADTIME, vec![0; 6]));
    // Within 300 s a large fudge is still accepted.
    let (query, mac) = signed_www_fudge(200, 3600, 32, SECRET);
    assert_eq!(verified_tsig(&ask_raw(&engine, &query, Transport::Udp), &mac), (0, Vec::new()));
}

#[test]
fn row49_a_signed_request_seen_twice_is_refused_the_second_time() {
    let replays = Arc::new(ReplayCache::default());
    let engine = keyed_with(32, replays.clone());
    let (query, mac) = signed_www(0, 32, SECRET);
    let first = ask_raw(&engine, &query, Transport::Udp);
    assert_eq!(verified_tsig(&first, &mac), (0, Vec::new()), "first seen: answered");
    // The same bytes again, over TCP, and with another message ID (the MAC covers the original
    // ID): NOTAUTH with a signed BADTIME.
    let mut other_id = query.clone();
    other_id[..2].copy_from_slice(&[0x12, 0x34]);
    for (what, bytes, transport) in [("again", &query, Transport::Udp), ("over TCP", &query, Transport::Tcp), ("another ID", &other_id, Transport::Udp)] {
        let reply = ask_raw(&engine, bytes, transport);
        assert_eq!((reply.rcode(), reply.counts()[1]), (NOTAUTH, 0), "{what}");
        assert_eq!(verified_tsig(&reply, &mac), (tsig::error::BADTIME, vec![0; 6]), "{what}");
    }
    // A reloaded engine sharing the server's cache still refuses it; a new request is answered.
    let reloaded = keyed_with(32, replays.clone());
    assert_eq!(ask_raw(&reloaded, &query, Transport::Udp).rcode(), NOTAUTH);
    let (fresh, fresh_mac) = signed_www(1, 32, SECRET);
    assert_eq!(verified_tsig(&ask_raw(&reloaded, &fresh, Transport::Udp), &fresh_mac), (0, Vec::new()));
    assert_eq!(replays.replays(), 4);
}

#[test]
fn row49_replays_are_remembered_only_within_the_window() {
    let engine = keyed();
    let (query, _) = signed_www(1000, 32, SECRET);
    let at = |unix_secs: u64| {
        let mut out = vec![0u8; 65_535];
        let request = Request { unix_secs, ..Request::at_zero(&query, peer(), Transport::Udp) };
        match engine.handle(&request, &mut out) {
            Outcome::Reply(len) => Reply::new(out[..len].to_vec()),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(at(1000).rcode(), 0);
    assert_eq!(at(1300).rcode(), NOTAUTH, "a replay at the window's last second");
    // Past the window the time check refuses it (BADTIME) whatever the cache says.
    let late = at(1301);
    assert_eq!(late.rcode(), NOTAUTH);
}
