//! SECURITY-REFERENCE §6.2: names and compression.

use crate::*;
/// A query whose question section is `name_bytes` + type A + class IN.
fn raw_qname(name_bytes: &[u8]) -> Vec<u8> {
    Query::empty().question(&question(name_bytes, 1, 1)).build()
}

#[test]
fn row19_qname_pointing_at_itself_is_formerr() {
    assert_error_without_question(&raw_qname(&[0xC0, 0x0C]), Transport::Udp, FORMERR);
    assert_error_without_question(&raw_qname(&[3, b'w', b'w', b'w', 0xC0, 0x0C]), Transport::Udp, FORMERR);
}

#[test]
fn row20_pointer_loops_and_long_chains_are_formerr() {
    // Two pointers pointing at each other: offset 12 -> 14 -> 12.
    let mut looped = Query::empty().counts(1, 0, 0, 0).build();
    looped.extend_from_slice(&[0xC0, 14, 0xC0, 12, 0, 1, 0, 1]);
    assert_error_without_question(&looped, Transport::Udp, FORMERR);
    // A strictly backwards chain of 200 pointers, reached from an additional record's owner.
    assert_error_with_question(&www().counts(1, 0, 0, 2).trailing(&chain_records(200)), Transport::Udp, FORMERR);
}

#[test]
fn row20_a_chain_within_the_hop_limit_is_accepted() {
    let engine = tricky();
    let bytes = www().counts(1, 0, 0, 2).trailing(&chain_records(100)).build();
    let reply = ask_raw(&engine, &bytes, Transport::Udp);
    assert_eq!(reply.rcode(), 0);
    assert_eq!(reply.answer(), ["www.tricky.test. 120 IN A 192.0.2.80"]);
}

/// Two additional records after `www()`'s question (which ends at offset 33): the first holds
/// `hops` pointers in opaque rdata, each pointing at the one before it (the first at the qname);
/// the second's owner points at the last, so its name takes `hops + 1` jumps.
fn chain_records(hops: usize) -> Vec<u8> {
    let rdata_start = 33 + 1 + 10;
    let mut rdata = vec![0xC0, 12];
    for i in 1..hops {
        let previous = rdata_start + 2 * (i - 1);
        rdata.extend_from_slice(&(0xC000 | previous as u16).to_be_bytes());
    }
    let mut out = rr(&[0], 65_280, 1, 0, &rdata);
    let last = rdata_start + 2 * (hops - 1);
    out.extend_from_slice(&rr(&(0xC000 | last as u16).to_be_bytes(), 65_280, 1, 0, &[]));
    out
}

#[test]
fn row21_forward_pointer_is_formerr() {
    // "www" then a pointer to offset 40, past the pointer itself.
    let mut bytes = raw_qname(&[3, b'w', b'w', b'w', 0xC0, 40]);
    bytes.extend_from_slice(&[0; 12]);
    assert_error_without_question(&bytes, Transport::Udp, FORMERR);
}

#[test]
fn row22_pointer_beyond_the_message_is_formerr() {
    assert_error_without_question(&raw_qname(&[0xFF, 0xFF]), Transport::Udp, FORMERR);
    assert_error_without_question(&raw_qname(&[3, b'w', b'w', b'w', 0xC1, 0x00]), Transport::Udp, FORMERR);
}

#[test]
fn row23_pointer_into_the_header_is_formerr() {
    for target in [0u8, 5, 11] {
        assert_error_without_question(&raw_qname(&[3, b'w', b'w', b'w', 0xC0, target]), Transport::Udp, FORMERR);
    }
}

#[test]
fn row24_extended_label_types_are_formerr() {
    for label in [0x40u8, 0x41, 0x7F, 0x80, 0xBF] {
        assert_error_without_question(&raw_qname(&[label, b'a', b'b', 0]), Transport::Udp, FORMERR);
        assert_error_without_question(&raw_qname(&[3, b'w', b'w', b'w', label, 0]), Transport::Udp, FORMERR);
    }
}

/// A wire name of exactly `len` octets (root included) ending in `tricky.test.`.
fn name_of_length(len: usize) -> Vec<u8> {
    let suffix = wire("tricky.test.");
    let mut out = Vec::new();
    let mut room = len - suffix.len();
    while room > 0 {
        let label = (room - 1).min(63);
        assert!(label > 0, "cannot make exactly {len} octets");
        out.push(label as u8);
        out.extend_from_slice(&vec![b'a'; label]);
        room -= label + 1;
    }
    out.extend_from_slice(&suffix);
    assert_eq!(out.len(), len);
    out
}

#[test]
fn row25_names_of_256_octets_are_formerr_and_255_parse() {
    let engine = tricky();
    let longest = Query::empty().question(&question(&name_of_length(255), 1, 1));
    let reply = udp(&engine, &longest);
    assert_eq!((reply.rcode(), reply.aa()), (3, true), "255 octets parse and get NXDOMAIN");
    assert_eq!(reply.question_bytes(), longest.questions);
    let too_long = Query::empty().question(&question(&name_of_length(256), 1, 1)).build();
    assert_error_without_question(&too_long, Transport::Udp, FORMERR);
    // An owner reaching 256 octets only through a pointer to the 255-octet qname.
    let mut owner = vec![1, b'x'];
    owner.extend_from_slice(&[0xC0, 12]);
    let via_pointer = longest.clone().record(Section::Additional, &rr(&owner, 65_280, 1, 0, &[]));
    assert_error_with_question(&via_pointer, Transport::Udp, FORMERR);
}

#[test]
fn row26_name_without_root_label_is_formerr() {
    let mut bytes = Query::empty().counts(1, 0, 0, 0).build();
    bytes.extend_from_slice(&[3, b'w', b'w', b'w', 6, b't', b'r', b'i', b'c', b'k', b'y']);
    assert_error_without_question(&bytes, Transport::Udp, FORMERR);
    // A label length running past the end.
    let mut bytes = Query::empty().counts(1, 0, 0, 0).build();
    bytes.extend_from_slice(&[3, b'w', b'w', b'w', 40, b'x']);
    assert_error_without_question(&bytes, Transport::Udp, FORMERR);
}

#[test]
fn row27_rdlength_beyond_the_message_is_formerr() {
    let mut record = rr(&[0], 65_280, 1, 0, &[1, 2, 3]);
    let len = record.len();
    record[len - 5..len - 3].copy_from_slice(&40u16.to_be_bytes());
    assert_error_with_question(&www().record(Section::Additional, &record), Transport::Udp, FORMERR);
}

#[test]
fn row27_a_record_with_wrong_rdlength_is_formerr() {
    for rdata in [&[192u8, 0, 2, 1, 9][..], &[192, 0, 2][..]] {
        let record = rr(&wire("www.tricky.test."), 1, 1, 0, rdata);
        assert_error_with_question(&www().record(Section::Additional, &record), Transport::Udp, FORMERR);
    }
}

/// A TCP message of about 60 000 bytes: `www()`'s question, then 12-byte records whose owners are
/// all pointers; `target(i, offset_of_record)` picks where record `i`'s owner points.
fn pointer_web(target: impl Fn(usize, &[usize]) -> usize) -> Vec<u8> {
    let count = (60_000 - 33) / 12;
    let mut records = Vec::new();
    let mut offsets = Vec::with_capacity(count);
    for i in 0..count {
        let pointer = target(i, &offsets);
        assert!(pointer < 0x4000, "a pointer reaches 14 bits only");
        let pointer = pointer as u16;
        offsets.push(33 + records.len());
        records.extend_from_slice(&rr(&(0xC000 | pointer).to_be_bytes(), 65_280, 1, 0, &[]));
    }
    www().counts(1, 0, 0, count as u16).trailing(&records).build()
}

#[test]
fn row28_sixty_thousand_bytes_of_interlinked_pointers_take_bounded_time() {
    let engine = tricky();
    let variants: [(&str, Vec<u8>, u16); 3] = [
        // Every owner points at the previous owner: an unbounded chain, refused at the hop limit.
        // (Only the first 16 KiB can be pointed at; the chain is refused long before that.)
        ("chain", pointer_web(|i, offsets| if i == 0 { 12 } else { offsets[(i - 1).min(1_300)] }), FORMERR),
        // Chains of 100 links restarting at the qname; past the 16 KiB a pointer can reach, every
        // owner points at the end of the first chain (101 hops): valid, and close to the limit.
        (
            "saw",
            pointer_web(|i, offsets| match i {
                _ if i % 100 == 0 && i < 1_300 => 12,
                _ if i < 1_300 => offsets[i - 1],
                _ => offsets[99],
            }),
            0,
        ),
        // Every owner points at the qname.
        ("star", pointer_web(|_, _| 12), 0),
    ];
    for (label, bytes, rcode) in variants {
        assert!(bytes.len() > 59_000 && bytes.len() <= 60_000, "{label}: {} bytes", bytes.len());
        let started = Instant::now();
        let reply = ask_raw(&engine, &bytes, Transport::Tcp);
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_secs(2), "{label}: {elapsed:?}");
        assert_eq!(reply.rcode(), rcode, "{label}");
        assert_eq!(reply.id(), ID);
        assert_eq!(reply.question_bytes(), www_question(), "{label}");
    }
    assert_still_serves(&engine);
}
