//! The template-built frames against a plain field-by-field protobuf encoding, both read back
//! by a small protobuf reader (any varint width, fields in any order).

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

/// A data frame's fields as a reader sees them: its length checked, the `Dnstap` fields and
/// the `Message`'s (field 14) each sorted by field number (protobuf leaves their order free),
/// every varint read as its value however many bytes it took.
fn decoded(frame: &[u8]) -> Vec<(u64, Field)> {
    assert_eq!(u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize, frame.len() - 4, "the frame's length");
    let mut top = fields(&frame[4..]);
    for (key, field) in &mut top {
        if let (14, Field::Bytes(message)) = (*key, &*field) {
            let mut inner = fields(message);
            inner.sort_by_key(|(key, _)| *key);
            *field = Field::Message(inner);
        }
    }
    top.sort_by_key(|(key, _)| *key);
    top
}

/// Splits `bytes` into its data frames.
fn split(mut bytes: &[u8]) -> Vec<&[u8]> {
    let mut frames = Vec::new();
    while bytes.len() >= 4 {
        let len = 4 + u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        frames.push(&bytes[..len]);
        bytes = &bytes[len..];
    }
    assert!(bytes.is_empty(), "a partial frame");
    frames
}

/// One frame of `event` from a fresh encoder.
fn frame(event: &TapEvent<'_>, response: bool, kinds: DnstapKinds, out: &mut Vec<u8>) {
    let kinds = DnstapKinds { queries: !response, responses: response, ..kinds };
    Encoder::new(kinds).frames(event, out);
}

#[test]
fn frames_carry_the_fields_of_the_field_by_field_message() {
    let (peer4, local6) = (addr("192.0.2.7:53000"), addr("[2001:db8::1]:53"));
    let long = vec![7u8; 65_535];
    for (peer, local) in [(peer4, None), (peer4, Some(local6)), (local6, Some(peer4)), (addr("10.0.0.1:1"), Some(addr("10.0.0.2:16384")))] {
        for (query, reply) in [(&b"q"[..], None), (&long[..300], Some(&long[..])), (&b"query"[..], Some(&b"r"[..])), (&long[..16_384], Some(&long[..127]))] {
            for transport in [Transport::Udp, Transport::Tcp] {
                let event = TapEvent { transport, peer, local, query, response: reply, time: Duration::new(1_796_649_664, 72_983_000) };
                for (response, auth, version) in [(false, false, true), (true, false, false), (false, true, false), (true, true, true)] {
                    let kinds = DnstapKinds { queries: true, responses: true, auth, version };
                    let mut framed = b"before".to_vec();
                    frame(&event, response, kinds, &mut framed);
                    if response && reply.is_none() {
                        assert_eq!(framed, b"before", "no response, no frame");
                        continue;
                    }
                    assert_eq!(decoded(&framed[6..]), decoded(&reference(&event, response, kinds)), "{peer} {local:?} {response} {auth} {version}");
                }
            }
        }
    }
}

#[test]
fn wide_varints_read_back_as_their_values() {
    assert_eq!(wide(5), [0x85, 0x80, 0x00]);
    for value in [0, 1, 127, 128, 16_383, 16_384, 65_535, 65_536 + 300, (1 << 21) - 1] {
        let bytes = wide(value);
        assert_eq!(fields(&[[6 << 3].as_slice(), &bytes].concat()), [(6, Field::Int(value as u64))], "{value}");
    }
}

#[test]
fn frames_writes_the_kinds_asked_for_query_first() {
    let event = TapEvent { transport: Transport::Udp, peer: addr("127.0.0.1:5300"), local: None, query: b"Q", response: Some(b"R"), time: Duration::ZERO };
    let both = DnstapKinds { queries: true, responses: true, auth: false, version: false };
    let mut out = Vec::new();
    assert_eq!(Encoder::new(both).frames(&event, &mut out), 2);
    let wanted = [decoded(&reference(&event, false, both)), decoded(&reference(&event, true, both))];
    assert_eq!(split(&out).into_iter().map(decoded).collect::<Vec<_>>(), wanted);
    let dropped = TapEvent { response: None, ..event };
    out.clear();
    assert_eq!(Encoder::new(both).frames(&dropped, &mut out), 1, "no response, no response frame");
    out.clear();
    assert_eq!(Encoder::new(DnstapKinds { queries: false, ..both }).frames(&event, &mut out), 1);
    assert_eq!(decoded(&out), wanted[1]);
    let oversized = vec![0u8; MAX_PAYLOAD + 1];
    out.clear();
    assert_eq!(Encoder::new(both).frames(&TapEvent { query: &oversized, ..event }, &mut out), 1, "not a DNS message: no frame");
}

#[test]
fn one_encoder_follows_each_change_of_time_address_family_transport_and_server() {
    let mut encoder = Encoder::new(DnstapKinds { queries: true, responses: true, auth: false, version: true });
    let base = TapEvent {
        transport: Transport::Udp,
        peer: addr("192.0.2.1:40000"),
        local: Some(addr("127.0.0.1:53")),
        query: b"query",
        response: Some(b"response"),
        time: Duration::new(1_700_000_000, 5),
    };
    let events = [
        base,
        TapEvent { peer: addr("192.0.2.2:40001"), ..base },
        TapEvent { time: Duration::new(1_700_000_000, 999_999_999), ..base },
        TapEvent { time: Duration::new(1_700_000_001, 0), ..base },
        TapEvent { time: Duration::new(1 << 35, 7), ..base },
        TapEvent { time: Duration::new(3, 7), ..base },
        TapEvent { peer: addr("[2001:db8::2]:1053"), ..base },
        TapEvent { transport: Transport::Tcp, ..base },
        TapEvent { local: Some(addr("[::1]:5353")), ..base },
        TapEvent { local: None, response: None, ..base },
        base,
    ];
    let mut out = Vec::new();
    let mut wanted = Vec::new();
    for event in &events {
        encoder.frames(event, &mut out);
        wanted.push(decoded(&reference(event, false, encoder.kinds)));
        if event.response.is_some() {
            wanted.push(decoded(&reference(event, true, encoder.kinds)));
        }
    }
    assert_eq!(split(&out).into_iter().map(decoded).collect::<Vec<_>>(), wanted);
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
    let wanted = [
        (1, Field::Int(5)),
        (2, Field::Int(2)),
        (3, Field::Int(2)),
        (4, Field::Bytes(std::net::Ipv6Addr::LOCALHOST.octets().to_vec())),
        (5, Field::Bytes(vec![127, 0, 0, 1])),
        (6, Field::Int(40000)),
        (7, Field::Int(53)),
        (8, Field::Int(5)),
        (9, Field::Int(6)),
        (10, Field::Bytes(b"question".to_vec())),
    ];
    assert_eq!(decoded(&out), [(2, Field::Bytes(VERSION.to_vec())), (14, Field::Message(wanted.to_vec())), (15, Field::Int(1))]);
    assert_eq!(&out[4..6], [15 << 3, 1], "the type first, as BIND and Unbound write it");
}

#[derive(Clone, Debug, PartialEq)]
enum Field {
    Int(u64),
    Bytes(Vec<u8>),
    /// A `Message`, decoded (its fields sorted).
    Message(Vec<(u64, Field)>),
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
