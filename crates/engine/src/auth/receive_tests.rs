use super::*;
use crate::auth::transfer::{Transfer, MESSAGE_MAX};
use crate::auth::zone::RecordData;
use portcullis_wire::message::Question;
use std::sync::Arc;

use crate::auth::transfer::tests::{name, soa};

/// `example.` with an SOA, NS, glue and `hosts` A records.
fn zone(hosts: u32) -> Arc<Zone> {
    let mut owned: Vec<(NameBuf, Rtype, Vec<u8>)> = vec![
        (name("example."), Rtype::SOA, soa(7)),
        (name("example."), Rtype::NS, name("ns.example.").as_wire().to_vec()),
        (name("ns.example."), Rtype::A, vec![192, 0, 2, 53]),
    ];
    owned.extend((0..hosts).map(|n| (name(&format!("h{n}.example.")), Rtype::A, n.to_be_bytes().to_vec())));
    let data = owned.iter().map(|(owner, rtype, rdata)| RecordData { owner, rtype: *rtype, ttl: 300, rdata });
    Arc::new(Zone::build(&name("example."), Class::IN, data))
}

/// The messages our own sender writes for `zone`, answering ID `id`.
fn messages(zone: Arc<Zone>, id: u16) -> Vec<Vec<u8>> {
    let question = Question { qname: name("example."), qtype: Rtype::AXFR, qclass: Class::IN };
    let mut transfer = Transfer::new(zone, id, question, None);
    let mut out = vec![0u8; MESSAGE_MAX];
    std::iter::from_fn(|| transfer.next_message(&mut out).map(|len| out[..len].to_vec())).collect()
}

fn receive(messages: &[Vec<u8>], id: u16) -> Result<Zone, TransferError> {
    let mut incoming = Incoming::new(name("example."), id);
    for message in messages {
        if incoming.add(message)? {
            break;
        }
    }
    incoming.finish()
}

#[test]
fn a_zone_sent_in_many_messages_is_received_whole() {
    let sent = zone(3000);
    let stream = messages(sent.clone(), 9);
    assert!(stream.len() > 2);
    let received = receive(&stream, 9).unwrap();
    assert_eq!(received.node_count(), sent.node_count());
    let host = received.node(&name("h2999.example.")).unwrap();
    let rrset = received.rrset(host, Rtype::A).unwrap();
    assert_eq!(received.first_rdata(&rrset), 2999u32.to_be_bytes());
}

#[test]
fn a_transfer_past_its_record_or_byte_limit_is_given_up() {
    let stream = messages(zone(3000), 9);
    // The result, and the limit the transfer went past (none for any other error).
    let run = |limits: TransferLimits| {
        let mut incoming = Incoming::with_limits(name("example."), 9, limits);
        for message in &stream {
            match incoming.add(message) {
                Ok(true) => break,
                Ok(false) => {}
                Err(error) => return (Err(error), incoming.exceeded()),
            }
        }
        (incoming.finish(), None)
    };
    let total: u64 = stream.iter().map(|message| message.len() as u64).sum();
    assert!(run(TransferLimits { max_records: 3003, max_bytes: total }).0.is_ok());
    let (records, exceeded) = run(TransferLimits { max_records: 3002, max_bytes: total });
    assert_eq!((records.unwrap_err().0, exceeded), ("more than 3002 records".to_string(), Some(TransferLimit::Records)));
    let (bytes, exceeded) = run(TransferLimits { max_records: 3003, max_bytes: total - 1 });
    assert_eq!((bytes.unwrap_err().0, exceeded), (format!("more than {} bytes", total - 1), Some(TransferLimit::Bytes)));
    // Another error is no limit's.
    let mut incoming = Incoming::new(name("example."), 9);
    assert!(incoming.add(&stream[1]).is_err());
    assert_eq!(incoming.exceeded(), None);
}

#[test]
fn messages_that_do_not_answer_the_query_are_errors() {
    let stream = messages(zone(10), 9);
    assert!(receive(&stream, 10).is_err(), "another ID");
    let mut refused = stream[0].clone();
    refused[3] = (refused[3] & 0xF0) | 5;
    assert_eq!(receive(&[refused], 9).unwrap_err().0, "the primary answered REFUSED");
    let mut query = stream[0].clone();
    query[2] &= 0x7F;
    assert!(receive(&[query], 9).is_err(), "QR clear");
}

/// One answer message with ID 9 and the question `example. AXFR`, holding `records`.
fn message_of(records: &[(&str, Rtype, Vec<u8>)]) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let mut writer = MessageWriter::new(&mut buf, 4096).unwrap();
    writer.set_header(9, Flags { qr: true, aa: true, ..Flags::default() });
    writer.push_question(&name("example."), Rtype::AXFR, Class::IN).unwrap();
    for (owner, rtype, rdata) in records {
        writer.push(Section::Answer, &name(owner), *rtype, Class::IN, 300, rdata).unwrap();
    }
    let len = writer.finish();
    buf.truncate(len);
    buf
}

#[test]
fn a_transfer_must_open_and_close_with_the_same_soa() {
    let ns = ("example.", Rtype::NS, name("ns.example.").as_wire().to_vec());
    let glue = ("ns.example.", Rtype::A, vec![192, 0, 2, 53]);
    let whole = message_of(&[("example.", Rtype::SOA, soa(7)), ns.clone(), glue.clone(), ("example.", Rtype::SOA, soa(7))]);
    assert!(receive(std::slice::from_ref(&whole), 9).is_ok());
    let mut incoming = Incoming::new(name("example."), 9);
    assert_eq!(incoming.add(&whole), Ok(true));
    assert!(incoming.add(&whole).is_err(), "a message after the end");
    let differs = message_of(&[("example.", Rtype::SOA, soa(7)), ns.clone(), ("example.", Rtype::SOA, soa(8))]);
    assert!(receive(&[differs], 9).unwrap_err().0.contains("differs"));
    let trailing = message_of(&[("example.", Rtype::SOA, soa(7)), ns.clone(), ("example.", Rtype::SOA, soa(7)), glue.clone()]);
    assert!(receive(&[trailing], 9).unwrap_err().0.contains("after the closing SOA"));
    let no_soa = message_of(&[ns.clone(), ("example.", Rtype::SOA, soa(7))]);
    assert!(receive(&[no_soa], 9).unwrap_err().0.contains("not the zone's SOA"));
    let unfinished = message_of(&[("example.", Rtype::SOA, soa(7)), ns.clone()]);
    assert!(receive(&[unfinished], 9).unwrap_err().0.contains("before its closing SOA"));
    // Data outside the zone: the checks of a zone file refuse it.
    let outside = message_of(&[("example.", Rtype::SOA, soa(7)), ns, ("www.other.", Rtype::A, vec![1, 2, 3, 4]), ("example.", Rtype::SOA, soa(7))]);
    assert!(receive(&[outside], 9).unwrap_err().0.contains("not servable"));
}

#[test]
fn the_soa_answer_gives_the_primary_serial() {
    let zone = zone(0);
    let mut out = vec![0u8; MESSAGE_MAX];
    let question = Question { qname: name("example."), qtype: Rtype::SOA, qclass: Class::IN };
    let len = Transfer::new(zone, 4, question, None).next_message(&mut out).unwrap();
    assert_eq!(soa_answer_serial(&out[..len], &name("example."), 4), Ok(7));
    assert!(soa_answer_serial(&out[..len], &name("example."), 5).is_err());
    assert!(soa_answer_serial(&out[..len], &name("other."), 4).is_err());
    assert_eq!(soa_query(&name("example."), 3)[..2], [0, 3]);
    assert_eq!(Message::parse(&axfr_query(&name("example."), 3)).unwrap().question().unwrap().qtype, Rtype::AXFR);
}

proptest::proptest! {
    /// Hostile primaries: any bytes as messages of a transfer give an error or a zone, never a
    /// panic; so do valid streams with one byte changed.
    #[test]
    fn any_messages_are_an_error_or_a_zone(messages in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..300), 0..4)) {
        let _ = receive(&messages, 9);
    }

    #[test]
    fn a_stream_with_one_byte_changed_is_an_error_or_a_zone(at in 0usize..4000, value in proptest::num::u8::ANY) {
        let mut stream = messages(zone(40), 9);
        let message = at % stream.len();
        let index = at % stream[message].len();
        stream[message][index] = value;
        let _ = receive(&stream, 9);
    }
}
