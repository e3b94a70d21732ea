//! `portcullis query ZONE AXFR`: a zone transfer (RFC 5936) over TCP, read message by message
//! until the closing SOA, printed as dig prints one (the records, then the transfer's size), or
//! as JSON. A refusal (or any error rcode) is printed as an ordinary reply.

use crate::query::{read_framed, tcp_send};
use crate::render;
use portcullis_wire::message::{Message, Section};
use portcullis_wire::{Rcode, Rtype};
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Messages read before a transfer that never closes is given up.
const MAX_MESSAGES: usize = 1_000_000;

/// A finished transfer: every message, or the one error reply.
pub enum Transfer {
    /// The whole zone, the SOA first and last.
    Zone { messages: Vec<Vec<u8>>, elapsed: Duration },
    /// An error reply (REFUSED, NOTAUTH...), as received.
    Refused(Vec<u8>),
}

/// Sends `query` (an AXFR with `id`) to `server` over TCP and reads the transfer; each read
/// waits at most `timeout`.
pub fn transfer(query: &[u8], server: SocketAddr, timeout: Duration, id: u16, matches: impl Fn(&[u8]) -> bool) -> Result<Transfer, String> {
    let started = Instant::now();
    let mut stream = tcp_send(query, server, timeout)?;
    let mut messages: Vec<Vec<u8>> = Vec::new();
    let mut soas = 0;
    while messages.len() < MAX_MESSAGES {
        let bytes = read_framed(&mut stream).map_err(|e| format!("reading the transfer after {} messages: {e}", messages.len()))?;
        let message = Message::parse(&bytes).map_err(|e| format!("message {} of the transfer is malformed: {e}", messages.len() + 1))?;
        let header = message.header();
        let first = messages.is_empty();
        if header.id() != id || !header.is_response() || (first && !matches(&bytes)) || (!first && header.qdcount() > 1) {
            return Err(format!("message {} of the transfer does not answer the query", messages.len() + 1));
        }
        if message.rcode() != Rcode::NOERROR {
            return if first { Ok(Transfer::Refused(bytes)) } else { Err(format!("the transfer failed with {}", message.rcode())) };
        }
        let mut records = message.records(Section::Answer).map(|record| record.rtype).peekable();
        if first && records.peek() != Some(&Rtype::SOA) {
            return Err("the transfer does not start with the zone's SOA".into());
        }
        soas += records.filter(|rtype| *rtype == Rtype::SOA).count();
        messages.push(bytes);
        if soas >= 2 {
            return Ok(Transfer::Zone { messages, elapsed: started.elapsed() });
        }
    }
    Err(format!("no closing SOA after {MAX_MESSAGES} messages"))
}

/// The dig-like text of a whole transfer: every record, then its size.
pub fn text(messages: &[Vec<u8>], server: &str, elapsed: Duration) -> String {
    let mut out = String::new();
    let mut records = 0;
    for bytes in messages {
        let Ok(message) = Message::parse(bytes) else { continue };
        for record in message.records(Section::Answer) {
            out.push_str(&render::record_line(&message, &record));
            out.push('\n');
            records += 1;
        }
    }
    let bytes: usize = messages.iter().map(Vec::len).sum();
    out.push_str(&format!(";; Query time: {} msec\n;; SERVER: {server} (TCP)\n", elapsed.as_millis()));
    out.push_str(&format!(";; XFR size: {records} records (messages {}, bytes {bytes})\n", messages.len()));
    out
}

/// The JSON form of a whole transfer.
pub fn json(messages: &[Vec<u8>], server: &str, elapsed: Duration) -> serde_json::Value {
    let mut records = Vec::new();
    for bytes in messages {
        let Ok(message) = Message::parse(bytes) else { continue };
        records.extend(message.records(Section::Answer).map(|record| render::record_json(&message, &record)));
    }
    json!({
        "server": server,
        "transport": "TCP",
        "time_ms": elapsed.as_millis() as u64,
        "rcode": "NOERROR",
        "messages": messages.len(),
        "bytes": messages.iter().map(Vec::len).sum::<usize>(),
        "records": records,
    })
}
