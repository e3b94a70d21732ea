//! NOTIFY from a primary (RFC 1996): the message that tells a secondary a zone changed, and the
//! test of what comes back. Sending, waiting and retrying are the I/O layer's.
//!
//! The message is opcode NOTIFY with AA set, the question `ORIGIN SOA` (§3.3) and the zone's SOA
//! in the answer section (§3.7: a hint of the new serial).

use super::zone::Zone;
use portcullis_wire::header::Flags;
use portcullis_wire::message::{Message, Section};
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::{Opcode, Rcode, Rtype};

/// The NOTIFY for `zone` with message ID `id`; `None` for a zone without an SOA.
pub fn notify_message(zone: &Zone, id: u16) -> Option<Vec<u8>> {
    let soa = zone.soa()?;
    let mut buf = vec![0u8; 1024];
    let mut writer = MessageWriter::new(&mut buf, 1024).ok()?;
    writer.set_header(id, Flags { opcode: Opcode::NOTIFY.0, aa: true, ..Flags::default() });
    writer.push_question(zone.origin(), Rtype::SOA, zone.class()).ok()?;
    writer.push_rrset(Section::Answer, zone.origin(), Rtype::SOA, zone.class(), soa.ttl, zone.rdatas(&soa)).ok()?;
    let len = writer.finish();
    buf.truncate(len);
    Some(buf)
}

/// The rcode of `reply` when it answers the NOTIFY `query` (same ID, QR, opcode NOTIFY, and
/// the same question, or none with an error); `None` for anything else, which the sender
/// ignores while it waits.
pub fn notify_reply(reply: &[u8], query: &[u8]) -> Option<Rcode> {
    let message = Message::parse(reply).ok()?;
    let sent = Message::parse(query).ok()?;
    (message.header().opcode() == Opcode::NOTIFY && message.answers(&sent)).then(|| message.rcode())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::zone::RecordData;
    use portcullis_wire::{Class, NameBuf};

    fn zone() -> Zone {
        let origin = NameBuf::from_text("example.", None).unwrap();
        let mut soa = NameBuf::from_text("ns.example.", None).unwrap().as_wire().to_vec();
        soa.extend_from_slice(NameBuf::from_text("host.example.", None).unwrap().as_wire());
        for value in [2026u32, 3600, 900, 604_800, 60] {
            soa.extend_from_slice(&value.to_be_bytes());
        }
        Zone::build(&origin, Class::IN, [RecordData { owner: &origin, rtype: Rtype::SOA, ttl: 300, rdata: &soa }])
    }

    #[test]
    fn the_notify_asks_origin_soa_with_aa_and_carries_the_soa() {
        let zone = zone();
        let bytes = notify_message(&zone, 0x7777).unwrap();
        let message = Message::parse(&bytes).unwrap();
        let header = message.header();
        assert_eq!((header.id(), header.opcode(), header.aa(), header.is_response()), (0x7777, Opcode::NOTIFY, true, false));
        let question = message.question().unwrap();
        assert_eq!((question.qname, question.qtype), (*zone.origin(), Rtype::SOA));
        assert_eq!(message.records(Section::Answer).map(|r| r.rtype).collect::<Vec<_>>(), [Rtype::SOA]);
        assert_eq!(zone.serial(), Some(2026));
    }

    #[test]
    fn only_a_reply_to_this_notify_counts() {
        let zone = zone();
        let query = notify_message(&zone, 0x7777).unwrap();
        let reply = |edit: &dyn Fn(&mut Vec<u8>)| {
            let mut bytes = query.clone();
            bytes[2] |= 0x80;
            edit(&mut bytes);
            notify_reply(&bytes, &query)
        };
        assert_eq!(reply(&|_| {}), Some(Rcode::NOERROR));
        assert_eq!(reply(&|b| b[3] = (b[3] & 0xF0) | 5), Some(Rcode::REFUSED));
        assert_eq!(reply(&|b| b[1] ^= 1), None, "another ID");
        assert_eq!(reply(&|b| b[2] &= !0x78), None, "another opcode");
        assert_eq!(notify_reply(&query, &query), None, "not a response");
        assert_eq!(notify_reply(&[1, 2, 3], &query), None);
    }
}
