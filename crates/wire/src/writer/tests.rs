use super::*;
use crate::message::{decompress_rdata, Message};

fn name(text: &str) -> NameBuf {
    NameBuf::from_text(text, None).unwrap()
}

#[test]
fn rfc1035_4_1_4_compression_example() {
    // F.ISI.ARPA, FOO.F.ISI.ARPA, ARPA and the root, as in the RFC's figure.
    let mut buf = [0u8; 512];
    let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
    writer.push_question(&name("F.ISI.ARPA."), Rtype::A, Class::IN).unwrap();
    writer.push(Section::Answer, &name("FOO.F.ISI.ARPA."), Rtype::A, Class::IN, 0, &[1, 2, 3, 4]).unwrap();
    writer.push(Section::Answer, &name("ARPA."), Rtype::A, Class::IN, 0, &[1, 2, 3, 4]).unwrap();
    writer.push(Section::Answer, &name("."), Rtype::A, Class::IN, 0, &[1, 2, 3, 4]).unwrap();
    let len = writer.finish();
    // FOO + pointer to offset 12
    assert_eq!(&buf[28..34], &[3, b'F', b'O', b'O', 0xC0, 12]);
    // ARPA: pointer to offset 12 + 6 (the ARPA label of the question)
    assert_eq!(&buf[48..50], &[0xC0, 18]);
    let message = Message::parse(&buf[..len]).unwrap();
    let owners: Vec<String> = message.records(Section::Answer).map(|r| r.owner.to_string()).collect();
    assert_eq!(owners, ["FOO.F.ISI.ARPA.", "ARPA.", "."]);
}

#[test]
fn raw_records_copied_behind_the_same_question_decode_alike() {
    // The source: compressed records pointing into the question, then OPT last.
    let mut source = [0u8; 512];
    let mut writer = MessageWriter::new(&mut source, 512).unwrap();
    writer.push_question(&name("www.example."), Rtype::MX, Class::IN).unwrap();
    writer.push(Section::Answer, &name("www.example."), Rtype::MX, Class::IN, 60, &[0, 10, 4, b'm', b'a', b'i', b'l', 0xC0, 16]).unwrap();
    writer.push(Section::Authority, &name("example."), Rtype::NS, Class::IN, 60, &[2, b'n', b's', 0xC0, 16]).unwrap();
    writer.push(Section::Additional, &name("ns.example."), Rtype::A, Class::IN, 60, &[192, 0, 2, 1]).unwrap();
    writer.push_opt(1232, Rcode::NOERROR, false, &[]).unwrap();
    let len = writer.finish();
    let message = Message::parse(&source[..len]).unwrap();
    let records = message.records_before_opt().unwrap();
    assert_eq!(records.counts, [1, 1, 1], "OPT left out");
    // The copy: the same question in another case, then our own OPT.
    let mut copy = [0u8; 512];
    let mut writer = MessageWriter::new(&mut copy, 512).unwrap();
    writer.push_question(&name("WwW.ExAmple."), Rtype::MX, Class::IN).unwrap();
    writer.push_raw_records(&records).unwrap();
    writer.push_opt(512, Rcode::NOERROR, false, &[]).unwrap();
    let copy_len = writer.finish();
    let copied = Message::parse(&copy[..copy_len]).unwrap();
    for section in [Section::Answer, Section::Authority, Section::Additional] {
        let rdata = |m: &Message<'_>| -> Vec<(String, Rtype, Vec<u8>)> {
            m.records(section)
                .filter(|r| r.rtype != Rtype::OPT)
                .map(|r| {
                    let mut out = Vec::new();
                    decompress_rdata(m.bytes(), &r, &mut out).unwrap();
                    // Names pointing into the question take its case: equal names all the same.
                    (r.owner.to_string().to_lowercase(), r.rtype, out.to_ascii_lowercase())
                })
                .collect()
        };
        assert_eq!(rdata(&copied), rdata(&message), "{section:?}");
    }
    assert_eq!(copied.edns().map(|edns| edns.udp_size), Some(512), "our OPT, not theirs");
    // Anywhere but right behind a question at the same offset, or beyond the limit: refused.
    let mut other = [0u8; 512];
    let mut writer = MessageWriter::new(&mut other, 512).unwrap();
    writer.push_question(&name("example."), Rtype::MX, Class::IN).unwrap();
    assert!(writer.push_raw_records(&records).is_err(), "shorter question");
    let mut writer = MessageWriter::new(&mut other, records.start + records.bytes.len() - 1).unwrap();
    writer.push_question(&name("www.example."), Rtype::MX, Class::IN).unwrap();
    assert!(writer.push_raw_records(&records).is_err(), "over the limit");
    assert_eq!(writer.finish(), records.start, "left as it was");
}

#[test]
fn an_owner_equal_to_the_question_points_at_it_in_any_case() {
    let mut buf = [0u8; 512];
    let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
    writer.push_question(&name("WwW.Example."), Rtype::A, Class::IN).unwrap();
    let start = writer.len();
    writer.push(Section::Answer, &name("WwW.Example."), Rtype::A, Class::IN, 0, &[1, 2, 3, 4]).unwrap();
    writer.push(Section::Answer, &name("www.example."), Rtype::A, Class::IN, 0, &[1, 2, 3, 4]).unwrap();
    let len = writer.finish();
    assert_eq!(&buf[start..start + 2], &[0xC0, 12]);
    assert_eq!(&buf[start + 16..start + 18], &[0xC0, 12]);
    assert_eq!(len, start + 32);
}

#[test]
fn a_rollback_before_the_question_forgets_it() {
    let mut buf = [0u8; 512];
    let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
    let mark = writer.mark();
    writer.push_question(&name("example."), Rtype::A, Class::IN).unwrap();
    writer.rollback(mark);
    writer.push(Section::Answer, &name("example."), Rtype::A, Class::IN, 0, &[1, 2, 3, 4]).unwrap();
    let len = writer.finish();
    assert_eq!(&buf[12..21], b"\x07example\x00");
    assert_eq!(len, 12 + 9 + 14);
}

#[test]
fn records_are_all_or_nothing() {
    let mut buf = [0u8; 512];
    let mut writer = MessageWriter::new(&mut buf, 40).unwrap();
    writer.push_question(&name("example."), Rtype::TXT, Class::IN).unwrap();
    let before = writer.len();
    assert_eq!(writer.push(Section::Answer, &name("example."), Rtype::TXT, Class::IN, 0, &[30; 31]), Err(WriteError::NoSpace));
    assert_eq!(writer.len(), before);
    assert_eq!(writer.count(Section::Answer), 0);
}

#[test]
fn rdata_names_are_compressed_for_rfc1035_types() {
    let mut buf = [0u8; 512];
    let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
    writer.push_question(&name("example."), Rtype::MX, Class::IN).unwrap();
    let mut rdata = vec![0, 10];
    rdata.extend_from_slice(name("mail.example.").as_wire());
    writer.push(Section::Answer, &name("example."), Rtype::MX, Class::IN, 300, &rdata).unwrap();
    let len = writer.finish();
    assert_eq!(&buf[len - 11..len], &[0, 9, 0, 10, 4, b'm', b'a', b'i', b'l', 0xC0, 12][..]);
}

/// A question, one answer and OPT, not finished.
fn answered(buf: &mut [u8; 512]) -> MessageWriter<'_> {
    let mut writer = MessageWriter::new(buf, 512).unwrap();
    writer.push_question(&name("www.example."), Rtype::A, Class::IN).unwrap();
    writer.push(Section::Answer, &name("www.example."), Rtype::A, Class::IN, 60, &[192, 0, 2, 1]).unwrap();
    writer.push_opt(1232, Rcode::NOERROR, false, &[]).unwrap();
    writer
}

#[test]
fn counts_written_in_place_are_those_finish_writes() {
    let (mut moved, mut in_place) = ([0u8; 512], [0u8; 512]);
    let moved_len = answered(&mut moved).finish();
    let len = {
        let mut writer = answered(&mut in_place);
        let len = writer.write_counts();
        assert_eq!(len, writer.len(), "the writer is still there, at the same length");
        len
    };
    assert_eq!(in_place[..len], moved[..moved_len]);
    assert_eq!(Message::parse(&in_place[..len]).unwrap().records(Section::Answer).count(), 1);
}

#[test]
fn a_first_question_that_does_not_fit_changes_nothing_and_a_second_takes_the_general_path() {
    let question = name("www.example.");
    let mut buf = [0u8; 64];
    // 12 + 13 + 4 = 29 octets: one short of the limit fails and leaves the header alone.
    let mut writer = MessageWriter::new(&mut buf, 28).unwrap();
    assert!(writer.push_question(&question, Rtype::A, Class::IN).is_err());
    assert_eq!((writer.len(), writer.counts[0], writer.table.len()), (12, 0, 0));
    writer.set_limit(64);
    writer.push_question(&question, Rtype::A, Class::IN).unwrap();
    writer.push_question(&name("mail.EXAMPLE."), Rtype::MX, Class::IN).unwrap();
    assert_eq!(writer.counts[0], 2);
    let len = writer.finish();
    // Questions are written as given (uncompressed), the second right after the first.
    assert_eq!(&buf[12..29], b"\x03www\x07example\x00\x00\x01\x00\x01");
    assert_eq!(&buf[29..47], b"\x04mail\x07EXAMPLE\x00\x00\x0f\x00\x01");
    assert_eq!((len, buf[5]), (47, 2));
}
