use super::*;
use crate::message::{decompress_rdata, Message};
use proptest::prelude::*;

fn label() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9-]{1,12}").expect("valid regex")
}

fn name() -> impl Strategy<Value = NameBuf> {
    proptest::collection::vec(label(), 0..4).prop_map(|labels| {
        let text = if labels.is_empty() { ".".to_string() } else { format!("{}.example.", labels.join(".")) };
        NameBuf::from_text(&text, None).expect("generated names are valid")
    })
}

/// (type, rdata) pairs of a few layouts, names inside compressible ones.
fn record() -> impl Strategy<Value = (NameBuf, Rtype, u32, Vec<u8>)> {
    let rdata = prop_oneof![
        proptest::collection::vec(any::<u8>(), 4).prop_map(|b| (Rtype::A, b)),
        proptest::collection::vec(any::<u8>(), 16).prop_map(|b| (Rtype::AAAA, b)),
        name().prop_map(|n| (Rtype::NS, n.as_wire().to_vec())),
        name().prop_map(|n| (Rtype::CNAME, n.as_wire().to_vec())),
        (any::<u16>(), name()).prop_map(|(p, n)| {
            let mut b = p.to_be_bytes().to_vec();
            b.extend_from_slice(n.as_wire());
            (Rtype::MX, b)
        }),
        proptest::collection::vec(any::<u8>(), 1..200).prop_map(|mut b| {
            b[0] = (b.len() - 1) as u8;
            (Rtype::TXT, b)
        }),
    ];
    (name(), rdata, any::<u32>()).prop_map(|(owner, (rtype, rdata), ttl)| (owner, rtype, ttl, rdata))
}

proptest! {
    #[test]
    fn written_messages_parse_back_identically(question in name(), records in proptest::collection::vec(record(), 0..30)) {
        let mut buf = vec![0u8; 65_535];
        let mut writer = MessageWriter::new(&mut buf, 65_535).expect("buffer holds a header");
        writer.set_header(0x4242, Flags { qr: true, aa: true, ..Flags::default() });
        writer.push_question(&question, Rtype::A, Class::IN).expect("question fits");
        for (owner, rtype, ttl, rdata) in &records {
            writer.push(Section::Answer, owner, *rtype, Class::IN, *ttl, rdata).expect("fits in 64 KiB");
        }
        let len = writer.finish();
        let message = Message::parse(&buf[..len]).expect("what we write parses");
        let echoed = message.question().map(|q| q.qname.as_wire().to_vec());
        prop_assert_eq!(echoed.as_deref(), Some(question.as_wire()), "the question keeps its case");
        let parsed: Vec<_> = message.records(Section::Answer).collect();
        prop_assert_eq!(parsed.len(), records.len());
        for (record, (owner, rtype, ttl, rdata)) in parsed.iter().zip(&records) {
            let mut expanded = Vec::new();
            decompress_rdata(message.bytes(), record, &mut expanded).expect("rdata expands");
            // Compression matches names case-insensitively (as NSD and Knot do), so a name may
            // take the case of an earlier one it points to: compare ignoring ASCII case.
            prop_assert_eq!(&record.owner, owner);
            prop_assert_eq!((record.rtype, record.ttl), (*rtype, *ttl));
            if rtype.has_compressible_names() {
                prop_assert!(expanded.eq_ignore_ascii_case(rdata));
            } else {
                prop_assert_eq!(&expanded, rdata);
            }
        }
    }

    /// `push_rrset` writes the same bytes as one `push` per record, rollbacks included.
    #[test]
    fn push_rrset_matches_push_per_record(
        question in name(),
        rrsets in proptest::collection::vec((record(), 1..4usize), 0..40),
        limit in 60..2000usize,
    ) {
        let mut one = vec![0u8; 65_535];
        let mut each = vec![0u8; 65_535];
        let mut by_rrset = MessageWriter::new(&mut one, limit).expect("buffer holds a header");
        let mut by_record = MessageWriter::new(&mut each, limit).expect("buffer holds a header");
        let _ = by_rrset.push_question(&question, Rtype::A, Class::IN);
        let _ = by_record.push_question(&question, Rtype::A, Class::IN);
        for ((owner, rtype, ttl, rdata), copies) in &rrsets {
            let rdatas = vec![rdata.as_slice(); *copies];
            let whole = by_rrset.push_rrset(Section::Answer, owner, *rtype, Class::IN, *ttl, rdatas.iter().copied());
            let mark = by_record.mark();
            let mut single = Ok(());
            for rdata in &rdatas {
                single = single.and_then(|()| by_record.push(Section::Answer, owner, *rtype, Class::IN, *ttl, rdata));
            }
            if single.is_err() {
                by_record.rollback(mark);
            }
            prop_assert_eq!(whole, single);
        }
        let (len_one, len_each) = (by_rrset.finish(), by_record.finish());
        prop_assert_eq!(&one[..len_one], &each[..len_each]);
    }
}
