//! Printing a reply the way dig does, or as JSON.

use portcullis_wire::message::{decompress_rdata, Message, Record, Section};
use portcullis_wire::rdata::rdata_to_text;
use portcullis_wire::{Class, Rtype};
use serde_json::{json, Value};
use std::fmt::Write;

/// Where and how a reply was obtained.
pub struct Exchange<'a> {
    /// The reply.
    pub message: &'a Message<'a>,
    /// The server, as `addr#port`.
    pub server: String,
    /// "UDP", "TCP", "TLS", "HTTPS" or "QUIC".
    pub transport: &'static str,
    /// The TLS version of an encrypted exchange ("TLSv1.3").
    pub tls: Option<String>,
    /// Round-trip time.
    pub elapsed_ms: u128,
}

/// The dig-like text form.
pub fn text(exchange: &Exchange<'_>) -> String {
    let message = exchange.message;
    let header = message.header();
    let mut out = String::new();
    let _ = writeln!(out, ";; ->>HEADER<<- opcode: {}, status: {}, id: {}", header.opcode().mnemonic(), message.rcode(), header.id());
    let _ = writeln!(
        out,
        ";; flags: {}; QUERY: {}, ANSWER: {}, AUTHORITY: {}, ADDITIONAL: {}",
        flags(message).join(" "),
        header.qdcount(),
        header.ancount(),
        header.nscount(),
        header.arcount()
    );
    if let Some(edns) = message.edns() {
        let _ = writeln!(
            out,
            "\n;; OPT PSEUDOSECTION:\n; EDNS: version: {}, flags:{}; udp: {}",
            edns.version,
            if edns.dnssec_ok { " do" } else { "" },
            edns.udp_size
        );
        for (code, data) in edns.iter_options() {
            let _ = writeln!(out, "; {}: {}", option_name(code), option_text(code, data));
        }
    }
    let _ = writeln!(out, "\n;; QUESTION SECTION:");
    for question in message.questions() {
        let _ = writeln!(out, ";{}\t\t{}\t{}", question.qname, question.qclass, question.qtype);
    }
    for (section, title) in [(Section::Answer, "ANSWER"), (Section::Authority, "AUTHORITY"), (Section::Additional, "ADDITIONAL")] {
        let records: Vec<Record<'_>> = message.records(section).filter(|r| r.rtype != Rtype::OPT).collect();
        if records.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n;; {title} SECTION:");
        for record in records {
            let _ = writeln!(out, "{}", record_line(message, &record));
        }
    }
    let _ = writeln!(out, "\n;; Query time: {} msec", exchange.elapsed_ms);
    match &exchange.tls {
        Some(version) => drop(writeln!(out, ";; SERVER: {} ({}, {version})", exchange.server, exchange.transport)),
        None => drop(writeln!(out, ";; SERVER: {} ({})", exchange.server, exchange.transport)),
    }
    let _ = writeln!(out, ";; MSG SIZE  rcvd: {}", message.bytes().len());
    out
}

/// The JSON form.
pub fn json(exchange: &Exchange<'_>) -> Value {
    let message = exchange.message;
    let header = message.header();
    let section = |section| -> Vec<Value> { message.records(section).filter(|r| r.rtype != Rtype::OPT).map(|r| record_json(message, &r)).collect() };
    let edns = message.edns().map(|e| {
        let options: Vec<Value> = e.iter_options().map(|(code, data)| json!({"option": option_name(code), "data": option_text(code, data)})).collect();
        json!({"version": e.version, "udp": e.udp_size, "do": e.dnssec_ok, "options": options})
    });
    json!({
        "server": exchange.server,
        "transport": exchange.transport,
        "tls": exchange.tls,
        "time_ms": exchange.elapsed_ms as u64,
        "size": message.bytes().len(),
        "id": header.id(),
        "opcode": header.opcode().mnemonic(),
        "rcode": message.rcode().to_string(),
        "flags": flags(message),
        "question": message.questions().map(|q| json!({"name": q.qname.to_string(), "type": q.qtype.to_string(), "class": q.qclass.to_string()})).collect::<Vec<_>>(),
        "answer": section(Section::Answer),
        "authority": section(Section::Authority),
        "additional": section(Section::Additional),
        "edns": edns,
        "ede": extended_errors(message),
    })
}

/// The Extended DNS Errors of the reply's OPT record (RFC 8914), as `{"code", "text"}` objects:
/// a validating resolver's reason for a SERVFAIL, without parsing the option's text.
fn extended_errors(message: &Message<'_>) -> Vec<Value> {
    let Some(edns) = message.edns() else { return Vec::new() };
    let errors = edns.iter_options().filter(|(code, data)| *code == 15 && data.len() >= 2);
    errors.map(|(_, data)| json!({"code": u16::from_be_bytes([data[0], data[1]]), "text": String::from_utf8_lossy(&data[2..])})).collect()
}

/// One record as dig prints it: owner, TTL, class, type and data, tab-separated.
pub fn record_line(message: &Message<'_>, record: &Record<'_>) -> String {
    format!("{}\t{}\t{}\t{}\t{}", record.owner, record.ttl, record.class, record.rtype, rdata(message, record))
}

/// One record as a JSON object.
pub fn record_json(message: &Message<'_>, record: &Record<'_>) -> Value {
    json!({"name": record.owner.to_string(), "ttl": record.ttl, "class": record.class.to_string(), "type": record.rtype.to_string(), "data": rdata(message, record)})
}

fn flags(message: &Message<'_>) -> Vec<&'static str> {
    let header = message.header();
    let bits = [
        (header.is_response(), "qr"),
        (header.aa(), "aa"),
        (header.tc(), "tc"),
        (header.rd(), "rd"),
        (header.ra(), "ra"),
        (header.ad(), "ad"),
        (header.cd(), "cd"),
    ];
    bits.iter().filter(|(set, _)| *set).map(|(_, name)| *name).collect()
}

fn rdata(message: &Message<'_>, record: &Record<'_>) -> String {
    let mut wire = Vec::new();
    if decompress_rdata(message.bytes(), record, &mut wire).is_err() {
        wire = record.rdata.to_vec();
    }
    let mut text = String::new();
    let rtype = if record.class == Class::CH && record.rtype == Rtype::TXT { Rtype::TXT } else { record.rtype };
    let _ = rdata_to_text(rtype, &wire, &mut text);
    text
}

fn option_name(code: u16) -> String {
    match code {
        3 => "NSID".into(),
        8 => "CLIENT-SUBNET".into(),
        10 => "COOKIE".into(),
        11 => "TCP-KEEPALIVE".into(),
        12 => "PADDING".into(),
        15 => "EDE".into(),
        other => format!("OPT{other}"),
    }
}

fn option_text(code: u16, data: &[u8]) -> String {
    let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
    match code {
        3 => format!("{hex} (\"{}\")", String::from_utf8_lossy(data)),
        15 if data.len() >= 2 => format!("{} \"{}\"", u16::from_be_bytes([data[0], data[1]]), String::from_utf8_lossy(&data[2..])),
        _ => hex,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_wire::writer::MessageWriter;
    use portcullis_wire::NameBuf;
    use proptest::prelude::*;

    /// Types whose rdata has structure to render, OPT among them, plus any type at all.
    fn rtype() -> impl Strategy<Value = u16> {
        prop_oneof![
            3 => proptest::sample::select(vec![1u16, 2, 5, 6, 12, 13, 15, 16, 28, 33, 35, 39, 41, 43, 46, 47, 48, 50, 51, 52, 64, 65, 99, 257]),
            1 => any::<u16>(),
        ]
    }

    /// IN mostly (a reply's records must share the question's class), else any class.
    fn class() -> impl Strategy<Value = u16> {
        prop_oneof![4 => Just(1u16), 1 => any::<u16>()]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]
        /// A hostile server's reply (any type with any rdata, in any section) is printed in both
        /// forms without a panic, whatever its records hold.
        #[test]
        fn any_record_of_a_reply_is_printed(mut records in proptest::collection::vec((0..3usize, rtype(), class(), proptest::collection::vec(any::<u8>(), 0..48)), 0..6)) {
            records.sort_by_key(|record| record.0);
            let owner = NameBuf::from_text("www.example.", None).unwrap();
            let mut buf = vec![0u8; 4096];
            let Ok(mut writer) = MessageWriter::new(&mut buf, 4096) else { return Ok(()) };
            prop_assert!(writer.push_question(&owner, Rtype::A, Class::IN).is_ok());
            let sections = [Section::Answer, Section::Authority, Section::Additional];
            for (section, rtype, class, rdata) in &records {
                let _ = writer.push(sections[*section], &owner, Rtype(*rtype), Class(*class), 300, rdata);
            }
            let len = writer.finish();
            if let Ok(message) = Message::parse(&buf[..len]) {
                let exchange = Exchange { message: &message, server: "192.0.2.1#53".into(), transport: "UDP", tls: None, elapsed_ms: 1 };
                prop_assert!(text(&exchange).contains("QUESTION SECTION"));
                prop_assert!(json(&exchange).is_object());
            }
        }
    }
}
