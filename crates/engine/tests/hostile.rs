//! The hostile-input catalogue of SECURITY-REFERENCE §6.1-§6.3, one test per row (the row number
//! leads the test name), as raw wire bytes through `Engine::handle`.
//!
//! Each test asserts the exact reply (rcode, with the OPT extension for BADVERS; QR; ID; opcode;
//! whether the question is echoed; no answer records) or the exact `DropReason`, and then that
//! the same engine still answers an ordinary query.
//!
//! Row 18 is tested in `recursion_engine.rs` (`clients_outside_the_acl_are_refused_with_ra_clear`);
//! row 39's cookie checks (the RFC 9018 time window, tampering, the RFC 7873 §5.2 decision table)
//! in `policy_cookies.rs`, and its reply here. The engine here runs with `Policy::defaults()`,
//! where cookies are off, except in the cookie rows; with cookies on (the server's default), row 6
//! is `defences/cookies.rs::qdcount_zero_with_cookie_returns_the_server_cookie`.
//!
//! Convention of §6: an error reply carries the question only when the question itself parsed
//! cleanly (BIND's exact-wire `formerr` tests answer QDCOUNT=0 otherwise).

mod common;
mod hostile {
    pub mod edns;
    pub mod header;
    pub mod names;
    pub mod tsig;
}

use common::*;
use portcullis_engine::{DropReason, EngineSettings, Outcome, Transport};
use portcullis_wire::edns::code;
use portcullis_wire::message::Section;
use portcullis_wire::Rtype;
use std::time::{Duration, Instant};

const FORMERR: u16 = 1;
const NOTIMP: u16 = 4;
const REFUSED: u16 = 5;
const BADVERS: u16 = 16;

/// `www.tricky.test. A IN`, the ordinary query the hostile ones are variations of.
fn www() -> Query {
    Query::new("www.tricky.test.", Rtype::A)
}

/// The question entry of `www()`.
fn www_question() -> Vec<u8> {
    question(&wire("www.tricky.test."), 1, 1)
}

/// Sends `query` over UDP and asserts an error reply with `rcode` that echoes the query's
/// question section byte for byte.
fn assert_error_with_question(query: &Query, transport: Transport, rcode: u16) -> Reply {
    let engine = tricky();
    let bytes = query.build();
    let reply = ask_raw(&engine, &bytes, transport);
    reply.assert_error(&bytes, rcode);
    assert_eq!(reply.counts()[0], 1, "the question parsed cleanly, so it is echoed");
    assert_eq!(reply.question_bytes(), query.questions, "question echoed byte for byte");
    assert_still_serves(&engine);
    reply
}

/// Sends raw bytes over UDP and asserts an error reply with `rcode` and no question.
fn assert_error_without_question(bytes: &[u8], transport: Transport, rcode: u16) -> Reply {
    let engine = tricky();
    let reply = ask_raw(&engine, bytes, transport);
    reply.assert_error(bytes, rcode);
    assert_eq!(reply.counts()[0], 0, "the question itself was bad, so it is not echoed");
    assert_still_serves(&engine);
    reply
}

/// Asserts the engine drops `bytes` for `reason`.
fn assert_drop(bytes: &[u8], transport: Transport, port: u16, reason: DropReason) {
    let engine = tricky();
    let peer = std::net::SocketAddr::from(([192, 0, 2, 200], port));
    let (outcome, _) = exchange(&engine, bytes, transport, peer);
    assert_eq!(outcome, Outcome::Drop(reason), "{} bytes over {transport:?} from port {port}", bytes.len());
    assert_eq!(engine.counters().drops_of(reason), 1);
    assert_still_serves(&engine);
}

// Beyond the catalogue.
#[test]
fn output_buffer_smaller_than_a_header_is_a_no_buffer_drop() {
    let engine = tricky();
    let bytes = www().build();
    let mut out = [0u8; 11];
    let request = portcullis_engine::Request::at_zero(&bytes, peer(), Transport::Udp);
    assert_eq!(engine.handle(&request, &mut out), Outcome::Drop(DropReason::NoBuffer));
    assert_still_serves(&engine);
}
