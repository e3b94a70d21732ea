use super::*;
use proptest::prelude::*;

fn name(text: &str) -> NameBuf {
    NameBuf::from_text(text, None).unwrap()
}

#[test]
fn rfc4034_section_6_1_example_order_with_case_and_escapes() {
    let ordered = [
        "example.",
        "a.example.",
        "yljkjljk.a.example.",
        "Z.a.example.",
        "zABC.a.EXAMPLE.",
        "z.example.",
        "\\001.z.example.",
        "*.z.example.",
        "\\200.z.example.",
    ];
    let mut names: Vec<NameBuf> = ordered.iter().rev().map(|t| name(t)).collect();
    names.sort_by(name_cmp);
    let sorted: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let expected: Vec<String> = ordered.iter().map(|t| name(t).to_string()).collect();
    assert_eq!(sorted, expected);
}

#[test]
fn escaped_bytes_compare_as_octets_and_case_is_ignored() {
    assert_eq!(name_cmp(&name("a\\000.example."), &name("a.example.")), Ordering::Greater);
    assert_eq!(name_cmp(&name("\\065.example."), &name("a.example.")), Ordering::Equal);
    assert_eq!(name_cmp(&name("\\255.example."), &name("zzz.example.")), Ordering::Greater);
    assert_eq!(name_cmp(&name("a\\.b.example."), &name("a.example.")), Ordering::Greater);
    assert_eq!(name_cmp(&name("a\\.b.example."), &name("b.example.")), Ordering::Less);
}

#[test]
fn embedded_names_of_listed_types_are_lowercased_but_not_nsec() {
    let mx = [&[0u8, 10][..], name("Mail.EXAMPLE.").as_wire()].concat();
    let lower = [&[0u8, 10][..], name("mail.example.").as_wire()].concat();
    assert_eq!(canonical_rdata(Rtype::MX, &mx).unwrap(), lower);
    let nsec = [name("B.example.").as_wire(), &[0, 1, 0x40][..]].concat();
    assert_eq!(canonical_rdata(Rtype::NSEC, &nsec).unwrap(), nsec);
    let txt = b"\x05HeLLo".to_vec();
    assert_eq!(canonical_rdata(Rtype::TXT, &txt).unwrap(), txt);
    let soa = [name("NS.Example.").as_wire(), name("Host.Example.").as_wire(), &[0u8; 20][..]].concat();
    let soa_lower = [name("ns.example.").as_wire(), name("host.example.").as_wire(), &[0u8; 20][..]].concat();
    assert_eq!(canonical_rdata(Rtype::SOA, &soa).unwrap(), soa_lower);
    let naptr = [&[0u8, 1, 0, 2, 1, b'U', 0, 0][..], name("X.Example.").as_wire()].concat();
    let naptr_lower = [&[0u8, 1, 0, 2, 1, b'U', 0, 0][..], name("x.example.").as_wire()].concat();
    assert_eq!(canonical_rdata(Rtype(35), &naptr).unwrap(), naptr_lower);
}

#[test]
fn truncated_names_are_refused() {
    assert!(canonical_rdata(Rtype::MX, &[0, 10, 4, b'm']).is_err());
    assert!(canonical_rdata(Rtype::SRV, &[0, 0, 0, 0]).is_err());
}

#[test]
fn rrset_is_sorted_as_octet_strings_and_deduplicated() {
    let a: &[u8] = &[192, 0, 2, 2];
    let b: &[u8] = &[192, 0, 2, 10];
    let short: &[u8] = &[192, 0, 2];
    let set = canonical_rrset(Rtype::A, [b, a, b, short]).unwrap();
    assert_eq!(set, vec![short.to_vec(), a.to_vec(), b.to_vec()]);
    // Case-only duplicates of names collapse once lower-cased.
    let upper = name("NS.example.");
    let lower = name("ns.example.");
    assert_eq!(canonical_rrset(Rtype::NS, [upper.as_wire(), lower.as_wire()]).unwrap().len(), 1);
}

#[test]
fn nsec_coverage_wraps_at_the_end_of_the_chain() {
    let (apex, b, d) = (name("example."), name("b.example."), name("d.example."));
    assert!(nsec_covers(&b, &d, &name("c.example.")));
    assert!(!nsec_covers(&b, &d, &b) && !nsec_covers(&b, &d, &d));
    assert!(nsec_covers(&d, &apex, &name("e.example.")));
    assert!(!nsec_covers(&d, &apex, &name("c.example.")));
    assert!(nsec_covers(&apex, &apex, &name("x.example.")));
}

/// RFC 4034 §6.1 written out: the label sequences reversed, each label lower-cased, compared
/// lexicographically (a name that is a proper suffix sorts first).
fn reference_cmp(left: &NameBuf, right: &NameBuf) -> Ordering {
    let labels = |n: &NameBuf| -> Vec<Vec<u8>> {
        let mut labels: Vec<Vec<u8>> = n.labels().map(|l| l.to_ascii_lowercase()).collect();
        labels.reverse();
        labels
    };
    labels(left).cmp(&labels(right))
}

fn arbitrary_name() -> impl Strategy<Value = NameBuf> {
    let byte = prop_oneof![Just(b'a'), Just(b'A'), Just(b'b'), Just(b'Z'), Just(b'z'), Just(0u8), Just(b'.'), Just(0xFFu8), any::<u8>()];
    let label = proptest::collection::vec(byte, 1..4);
    proptest::collection::vec(label, 0..4).prop_map(|labels| {
        let mut wire = Vec::new();
        for label in labels {
            wire.push(label.len() as u8);
            wire.extend_from_slice(&label);
        }
        wire.push(0);
        NameBuf::from_wire(&wire).unwrap()
    })
}

proptest! {
    #[test]
    fn name_order_is_rfc4034s_and_total(a in arbitrary_name(), b in arbitrary_name(), c in arbitrary_name()) {
        prop_assert_eq!(name_cmp(&a, &b), reference_cmp(&a, &b));
        prop_assert_eq!(name_cmp(&a, &b), name_cmp(&b, &a).reverse());
        prop_assert_eq!(name_cmp(&a, &b) == Ordering::Equal, a == b);
        if name_cmp(&a, &b) != Ordering::Greater && name_cmp(&b, &c) != Ordering::Greater {
            prop_assert_ne!(name_cmp(&a, &c), Ordering::Greater);
        }
        // Presentation format round trip (escapes included) keeps the position.
        let reparsed = NameBuf::from_text(&a.to_string(), None).unwrap();
        prop_assert_eq!(name_cmp(&reparsed, &b), name_cmp(&a, &b));
    }

    #[test]
    fn canonical_rrset_is_sorted_unique_and_order_independent(mut set in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..6), 0..8)) {
        let sorted = canonical_rrset(Rtype::TXT, set.iter().map(Vec::as_slice)).unwrap();
        prop_assert!(sorted.windows(2).all(|w| rdata_cmp(&w[0], &w[1]) == Ordering::Less));
        set.reverse();
        prop_assert_eq!(canonical_rrset(Rtype::TXT, set.iter().map(Vec::as_slice)).unwrap(), sorted);
    }
}
