use super::*;
use crate::auth::zone::RecordData;
use portcullis_wire::message::Message;
use portcullis_wire::Class;

pub(crate) fn name(text: &str) -> NameBuf {
    NameBuf::from_text(text, None).unwrap()
}

/// SOA rdata `ns.example. host.example. SERIAL 3600 900 604800 60`.
pub(crate) fn soa(serial: u32) -> Vec<u8> {
    let mut rdata = name("ns.example.").as_wire().to_vec();
    rdata.extend_from_slice(name("host.example.").as_wire());
    for value in [serial, 3600, 900, 604_800, 60] {
        rdata.extend_from_slice(&value.to_be_bytes());
    }
    rdata
}

/// A TXT rdata of `len` octets (strings of at most 255).
fn txt(len: usize, fill: u8) -> Vec<u8> {
    let mut rdata = Vec::new();
    let mut left = len;
    while left > 0 {
        let take = left.min(256) - 1;
        rdata.push(take as u8);
        rdata.extend(std::iter::repeat_n(fill, take));
        left -= take + 1;
    }
    rdata
}

/// (owner, type, rdata) of every record given to the zone, in any order.
type Records = Vec<(String, u16, Vec<u8>)>;

fn zone_of(records: &Records) -> Arc<Zone> {
    let owners: Vec<NameBuf> = records.iter().map(|(owner, ..)| name(owner)).collect();
    let data = records.iter().zip(&owners).map(|((_, rtype, rdata), owner)| RecordData { owner, rtype: Rtype(*rtype), ttl: 300, rdata });
    Arc::new(Zone::build(&name("example."), Class::IN, data))
}

fn small_zone() -> Records {
    let mut records: Records = vec![
        ("example.".into(), Rtype::SOA.0, soa(7)),
        ("example.".into(), Rtype::NS.0, name("ns.example.").as_wire().to_vec()),
        ("ns.example.".into(), Rtype::A.0, vec![192, 0, 2, 53]),
        ("www.example.".into(), Rtype::A.0, vec![192, 0, 2, 1]),
        ("www.example.".into(), Rtype::A.0, vec![192, 0, 2, 2]),
        ("sub.example.".into(), Rtype::NS.0, name("ns.sub.example.").as_wire().to_vec()),
        ("ns.sub.example.".into(), Rtype::A.0, vec![192, 0, 2, 99]),
        ("deep.below.sub.example.".into(), Rtype::A.0, vec![192, 0, 2, 98]),
    ];
    records.extend((0..3).map(|n| ("big.example.".to_string(), Rtype::TXT.0, txt(9000, b'a' + n))));
    records
}

/// Runs a transfer to the end: every message, parsed.
fn run(zone: Arc<Zone>, opt: Option<u16>) -> Vec<Vec<u8>> {
    let question = Question { qname: name("EXAMPLE."), qtype: Rtype::AXFR, qclass: Class::IN };
    let mut transfer = Transfer::new(zone, 0x1234, question, opt);
    let mut out = vec![0u8; MESSAGE_MAX];
    let mut messages = Vec::new();
    while let Some(len) = transfer.next_message(&mut out) {
        messages.push(out[..len].to_vec());
        assert!(messages.len() < 10_000, "the transfer never ends");
    }
    assert_eq!(transfer.messages() as usize, messages.len());
    messages
}

/// The answer records of every message, in order, as (owner, type, rdata).
fn answers(messages: &[Vec<u8>]) -> Records {
    let mut all = Vec::new();
    for bytes in messages {
        let message = Message::parse(bytes).unwrap();
        for record in message.records(Section::Answer) {
            let mut rdata = Vec::new();
            portcullis_wire::message::decompress_rdata(bytes, &record, &mut rdata).unwrap();
            all.push((record.owner.to_string(), record.rtype.0, rdata));
        }
    }
    all
}

#[test]
fn soa_first_and_last_every_other_record_once_between() {
    let records = small_zone();
    let messages = run(zone_of(&records), None);
    let got = answers(&messages);
    assert_eq!(got.first(), Some(&("example.".to_string(), Rtype::SOA.0, soa(7))));
    assert_eq!(got.last(), got.first());
    let mut between = got[1..got.len() - 1].to_vec();
    let mut expected: Records = records.into_iter().filter(|(_, rtype, _)| *rtype != Rtype::SOA.0).collect();
    between.sort();
    expected.sort();
    assert_eq!(between, expected, "glue and data below the delegation included, nothing twice");
}

#[test]
fn messages_are_filled_to_16_kib_and_only_the_first_has_the_question() {
    let messages = run(zone_of(&small_zone()), Some(1232));
    assert!(messages.len() >= 2, "three 9000-octet records cannot share one message");
    for (index, bytes) in messages.iter().enumerate() {
        let message = Message::parse(bytes).unwrap();
        let header = message.header();
        assert_eq!((header.id(), header.is_response(), header.aa(), message.rcode()), (0x1234, true, true, Rcode::NOERROR));
        assert_eq!(header.qdcount(), u16::from(index == 0), "message {index}");
        assert!(bytes.len() <= MESSAGE_TARGET, "message {index}: {} octets", bytes.len());
        assert_eq!(message.edns().map(|edns| edns.udp_size), Some(1232), "an OPT record in every message");
    }
    let first = Message::parse(&messages[0]).unwrap();
    assert_eq!(first.question().unwrap().qname.as_wire(), name("EXAMPLE.").as_wire(), "the question as asked");
}

#[test]
fn a_record_larger_than_the_target_gets_a_message_of_its_own() {
    let mut records = small_zone();
    records.push(("huge.example.".into(), Rtype::TXT.0, txt(40_000, b'z')));
    let messages = run(zone_of(&records), None);
    let got = answers(&messages);
    assert!(got.iter().any(|(owner, _, rdata)| owner == "huge.example." && rdata.len() == 40_000));
    let alone = messages.iter().find(|bytes| bytes.len() > MESSAGE_TARGET).expect("one large message");
    assert_eq!(Message::parse(alone).unwrap().header().ancount(), 1);
}

#[test]
fn a_large_zone_streams_in_many_messages() {
    let mut records = small_zone();
    records.extend((0..5000u32).map(|n| (format!("host{n}.example."), Rtype::A.0, n.to_be_bytes().to_vec())));
    let expected = records.len() - 1 + 2;
    let zone = zone_of(&records);
    let question = Question { qname: name("example."), qtype: Rtype::AXFR, qclass: Class::IN };
    let mut transfer = Transfer::new(zone.clone(), 1, question, None);
    let mut out = vec![0u8; MESSAGE_MAX];
    while transfer.next_message(&mut out).is_some() {}
    assert_eq!(transfer.records() as usize, expected);
    assert!(transfer.messages() > 5, "{} messages", transfer.messages());
    assert_eq!(answers(&run(zone, None)).len(), expected);
}

#[test]
fn a_zone_without_a_soa_transfers_nothing() {
    let records: Records = vec![("www.example.".into(), Rtype::A.0, vec![192, 0, 2, 1])];
    assert!(run(zone_of(&records), None).is_empty());
}

#[test]
fn serials_compare_in_serial_arithmetic() {
    assert_eq!(soa_serial(&soa(2_026_113_001)), Some(2_026_113_001));
    assert_eq!(soa_serial(&[0, 0]), None);
    assert!(serial_greater(2, 1));
    assert!(!serial_greater(1, 2) && !serial_greater(5, 5));
    // Wrapping: 1 is greater than u32::MAX - 10 (RFC 1982 §3.2).
    assert!(serial_greater(1, u32::MAX - 10));
    assert!(!serial_greater(u32::MAX - 10, 1));
}
