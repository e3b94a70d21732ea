//! The one-pass frames against a plain field-by-field protobuf encoding, and read back by a
//! small protobuf reader.

use super::*;
use std::time::Duration;

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn varint_field(out: &mut Vec<u8>, field: u64, value: u64) {
    varint(out, field << 3);
    varint(out, value);
}

fn bytes_field(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    varint(out, field << 3 | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn address(addr: SocketAddr) -> Vec<u8> {
    match addr {
        SocketAddr::V4(v4) => v4.ip().octets().to_vec(),
        SocketAddr::V6(v6) => v6.ip().octets().to_vec(),
    }
}

/// The `dnstap.Dnstap` message, field by field (the type first), the inner message encoded first.
fn reference(event: &TapEvent<'_>, response: bool, kinds: DnstapKinds) -> Vec<u8> {
    let auth = kinds.auth;
    let mut message = Vec::new();
    varint_field(&mut message, 1, [[5, 6], [1, 2]][usize::from(auth)][usize::from(response)]);
    varint_field(&mut message, 2, if event.peer.is_ipv4() { 1 } else { 2 });
    varint_field(&mut message, 3, if event.transport == Transport::Udp { 1 } else { 2 });
    bytes_field(&mut message, 4, &address(event.peer));
    if let Some(local) = event.local {
        bytes_field(&mut message, 5, &address(local));
        varint_field(&mut message, 7, u64::from(local.port()));
    }
    varint_field(&mut message, 6, u64::from(event.peer.port()));
    let (time, payload) = if response { (12, event.response.unwrap_or_default()) } else { (8, event.query) };
    varint_field(&mut message, time, event.time.as_secs());
    varint(&mut message, (time + 1) << 3 | 5);
    message.extend_from_slice(&event.time.subsec_nanos().to_le_bytes());
    bytes_field(&mut message, time + 2, payload);
    let mut top = Vec::new();
    varint_field(&mut top, 15, 1);
    if kinds.version {
        bytes_field(&mut top, 2, VERSION);
    }
    bytes_field(&mut top, 14, &message);
    let mut framed = (top.len() as u32).to_be_bytes().to_vec();
    framed.extend_from_slice(&top);
    framed
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap_or_else(|_| unreachable!("{text}"))
}

#[test]
fn one_pass_frames_are_the_length_and_the_field_by_field_message() {
    let (peer4, local6) = (addr("192.0.2.7:53000"), addr("[2001:db8::1]:53"));
    let long = vec![7u8; 70_000];
    for (peer, local) in [(peer4, None), (peer4, Some(local6)), (local6, Some(peer4))] {
        for (query, reply) in [(&b"q"[..], None), (&long[..300], Some(&long[..])), (&b"query"[..], Some(&b"r"[..]))] {
            for transport in [Transport::Udp, Transport::Tcp] {
                let event = TapEvent { transport, peer, local, query, response: reply, time: Duration::new(1_796_649_664, 72_983_000) };
                for (response, auth, version) in [(false, false, true), (true, false, false), (false, true, false), (true, true, true)] {
                    let kinds = DnstapKinds { queries: true, responses: true, auth, version };
                    let mut framed = b"before".to_vec();
                    frame(&event, response, kinds, &mut framed);
                    assert_eq!(framed[6..], reference(&event, response, kinds)[..], "{peer} {local:?} {response} {auth} {version}");
                }
            }
        }
    }
    assert_eq!([varint_len(0), varint_len(127), varint_len(128), varint_len(16_383), varint_len(16_384)], [1, 1, 2, 2, 3]);
}

#[test]
fn frames_writes_the_kinds_asked_for_query_first() {
    let event = TapEvent { transport: Transport::Udp, peer: addr("127.0.0.1:5300"), local: None, query: b"Q", response: Some(b"R"), time: Duration::ZERO };
    let both = DnstapKinds { queries: true, responses: true, auth: false, version: false };
    let mut out = Vec::new();
    assert_eq!(frames(&event, both, &mut out), 2);
    let mut wanted = reference(&event, false, both);
    wanted.extend(reference(&event, true, both));
    assert_eq!(out, wanted);
    let dropped = TapEvent { response: None, ..event };
    out.clear();
    assert_eq!(frames(&dropped, both, &mut out), 1, "no response, no response frame");
    out.clear();
    assert_eq!(frames(&event, DnstapKinds { queries: false, ..both }, &mut out), 1);
    assert_eq!(out, reference(&event, true, both));
}

#[test]
fn a_frame_reads_back_with_its_fields() {
    let event = TapEvent {
        transport: Transport::Tcp,
        peer: addr("[::1]:40000"),
        local: Some(addr("127.0.0.1:53")),
        query: b"question",
        response: None,
        time: Duration::new(5, 6),
    };
    let mut out = Vec::new();
    frame(&event, false, DnstapKinds { queries: true, responses: false, auth: false, version: true }, &mut out);
    let top = fields(&out[4..]);
    assert_eq!(u32::from_be_bytes([out[0], out[1], out[2], out[3]]) as usize, out.len() - 4);
    assert_eq!(top, [(15, Field::Int(1)), (2, Field::Bytes(VERSION.to_vec())), (14, top[2].1.clone())]);
    let Field::Bytes(message) = &top[2].1 else { unreachable!("field 14 is a message") };
    let message = fields(message);
    let wanted = [
        (1, Field::Int(5)),
        (2, Field::Int(2)),
        (3, Field::Int(2)),
        (4, Field::Bytes(std::net::Ipv6Addr::LOCALHOST.octets().to_vec())),
        (5, Field::Bytes(vec![127, 0, 0, 1])),
        (7, Field::Int(53)),
        (6, Field::Int(40000)),
        (8, Field::Int(5)),
        (9, Field::Int(6)),
        (10, Field::Bytes(b"question".to_vec())),
    ];
    assert_eq!(message, wanted);
}

#[derive(Clone, Debug, PartialEq)]
enum Field {
    Int(u64),
    Bytes(Vec<u8>),
}

/// The fields of one protobuf message (varints, fixed32 and length-delimited only).
fn fields(mut bytes: &[u8]) -> Vec<(u64, Field)> {
    fn read_varint(bytes: &mut &[u8]) -> u64 {
        let (mut value, mut shift) = (0, 0);
        while let Some((&byte, rest)) = bytes.split_first() {
            *bytes = rest;
            value |= u64::from(byte & 0x7F) << shift;
            shift += 7;
            if byte < 0x80 {
                break;
            }
        }
        value
    }
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let key = read_varint(&mut bytes);
        let field = match key & 7 {
            0 => Field::Int(read_varint(&mut bytes)),
            5 => {
                let (word, rest) = bytes.split_at(4);
                bytes = rest;
                Field::Int(u64::from(u32::from_le_bytes([word[0], word[1], word[2], word[3]])))
            }
            2 => {
                let len = read_varint(&mut bytes) as usize;
                let (value, rest) = bytes.split_at(len);
                bytes = rest;
                Field::Bytes(value.to_vec())
            }
            wire => unreachable!("wire type {wire}"),
        };
        out.push((key >> 3, field));
    }
    out
}
