//! Amplification limits (SECURITY-REFERENCE §2.5, §6.6 rows 64 and 65): the UDP size cap for
//! clients without a valid server cookie, reflection source ports, responses sent as queries,
//! and minimal ANY over UDP.

use portcullis_wire::{Rcode, Rtype};

use crate::support::{self, assert_dropped, tcp_from, udp_from, udp_socket, BIG_RECORDS, HUGE_RECORDS, Q, SRC1, SRC2, ZONE};

fn big() -> Q {
    Q::new(&format!("big.{ZONE}"), Rtype::TXT)
}

/// Row 65: with `nocookie-udp-size = 512`, a ~900-byte answer to a cookie-less client (or one
/// with only a client cookie, or a forged server cookie) is TC=1 within 512 bytes; with a valid
/// server cookie it is sent whole (up to `udp-payload`, 1232); larger than that is TC=1 for
/// everyone; TCP is never capped.
#[test]
fn nocookie_udp_size_caps_answers_without_a_valid_cookie() {
    let server = support::start("[cookies]\nnocookie-udp-size = 512\n");
    let plain = udp_from(SRC1, server.addr, &big().edns(Some(4096)));
    assert!(plain.tc && plain.len <= 512 && plain.answers < BIG_RECORDS, "cookie-less client, EDNS 4096: {plain:?}");
    let client = [9u8, 8, 7, 6, 5, 4, 3, 2];
    let half = udp_from(SRC1, server.addr, &big().cookie(&client));
    assert!(half.tc && half.len <= 512, "client cookie only (address not proven): {half:?}");
    let cookie = half.cookie.clone().unwrap_or_else(|| panic!("no cookie: {half:?}"));
    let proven = udp_from(SRC1, server.addr, &big().cookie(&cookie).edns(Some(4096)));
    assert!(!proven.tc && proven.answers == BIG_RECORDS && proven.len > 512 && proven.len <= 1232, "valid server cookie: {proven:?}");
    let small = udp_from(SRC1, server.addr, &big().cookie(&cookie).edns(Some(700)));
    assert!(small.tc && small.len <= 700, "the client's own smaller size still applies: {small:?}");
    let mut forged = cookie.clone();
    forged[16] ^= 0x80;
    let bad = udp_from(SRC1, server.addr, &big().cookie(&forged).edns(Some(4096)));
    assert!(bad.tc && bad.len <= 512, "forged server cookie: {bad:?}");
    let huge = udp_from(SRC1, server.addr, &Q::new(&format!("huge.{ZONE}"), Rtype::TXT).cookie(&cookie).edns(Some(4096)));
    assert!(huge.tc && huge.len <= 1232, "valid cookie, answer over udp-payload: {huge:?}");
    let tcp = tcp_from(SRC1, server.addr, &Q::new(&format!("huge.{ZONE}"), Rtype::TXT));
    assert!(!tcp.tc && tcp.answers == HUGE_RECORDS, "TCP is not capped: {tcp:?}");
    // The cookie was made for 127.0.0.1: from 127.0.0.2 it proves nothing.
    let moved = udp_from(SRC2, server.addr, &big().cookie(&cookie).edns(Some(4096)));
    assert!(moved.tc && moved.len <= 512, "127.0.0.1's cookie from 127.0.0.2: {moved:?}");
}

/// The default cap is 1232: the ~900-byte answer fits for everyone.
#[test]
fn default_nocookie_cap_is_the_udp_payload() {
    let server = support::start("");
    let reply = udp_from(SRC1, server.addr, &big().edns(Some(4096)));
    assert!(!reply.tc && reply.answers == BIG_RECORDS, "{reply:?}");
    let noedns = udp_from(SRC1, server.addr, &big().edns(None));
    assert!(noedns.tc && noedns.len <= 512, "without EDNS: 512 bytes: {noedns:?}");
}

/// Queries from the UDP ports of echo (7), daytime (13), chargen (19) and time (37) are dropped:
/// answering them would start a reflection loop. Another client is answered meanwhile.
#[test]
fn reflection_source_ports_are_dropped() {
    let server = support::start("");
    for port in [7u16, 13, 19, 37] {
        let socket = udp_socket(SRC1, port, server.addr);
        socket.send(&Q::new(&format!("www.{ZONE}"), Rtype::A).wire()).unwrap_or_else(|e| panic!("{e}"));
        assert_dropped(&socket, server.addr, SRC2, &format!("query from source port {port}"));
    }
    // Their neighbours are ordinary ports.
    let socket = udp_socket(SRC1, 8, server.addr);
    let query = Q::new(&format!("www.{ZONE}"), Rtype::A);
    socket.send(&query.wire()).unwrap_or_else(|e| panic!("{e}"));
    let reply = support::recv_id(&socket, query.id, support::REPLY_WITHIN).unwrap_or_else(|e| panic!("{e}"));
    assert!(reply.is_some(), "source port 8 must be answered");
}

/// A message with QR=1 (a response sent to us, e.g. reflected) is never answered.
#[test]
fn responses_are_not_answered() {
    let server = support::start("");
    let socket = udp_socket(SRC1, 0, server.addr);
    let mut query = Q::new(&format!("www.{ZONE}"), Rtype::A);
    query.qr = true;
    socket.send(&query.wire()).unwrap_or_else(|e| panic!("{e}"));
    assert_dropped(&socket, server.addr, SRC2, "QR=1 message");
    let mut noedns = Q::new(&format!("www.{ZONE}"), Rtype::A).edns(None);
    noedns.qr = true;
    socket.send(&noedns.wire()).unwrap_or_else(|e| panic!("{e}"));
    assert_dropped(&socket, server.addr, SRC2, "QR=1 message without EDNS");
}

/// Row 64: ANY over UDP returns one RRset (RFC 8482); over TCP the whole set.
#[test]
fn any_over_udp_is_one_rrset() {
    let server = support::start("");
    let any = Q::new(ZONE, Rtype::ANY);
    let udp = udp_from(SRC1, server.addr, &any);
    assert_eq!((udp.rcode, udp.rrsets, udp.tc), (Rcode::NOERROR, 1, false), "ANY over UDP: {udp:?}");
    let tcp = tcp_from(SRC1, server.addr, &any);
    assert!(tcp.rcode == Rcode::NOERROR && tcp.rrsets >= 5, "ANY over TCP (SOA NS A MX TXT AAAA at the apex): {tcp:?}");
    let big_any = udp_from(SRC1, server.addr, &Q::new(&format!("huge.{ZONE}"), Rtype::ANY).edns(Some(4096)));
    assert!(big_any.len <= 1232, "ANY for a large RRset stays within the UDP limit: {big_any:?}");
}
