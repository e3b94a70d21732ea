use super::*;

fn name(text: &str) -> NameBuf {
    NameBuf::from_text(text, None).unwrap()
}

#[test]
fn with_case_sets_the_case_of_letters_only_in_order() {
    // A 63-octet label (length octet 0x3F), digits and hyphens stay as they are.
    let long = "x".repeat(63);
    let original = name(&format!("a1-B.{long}.z."));
    let upper = original.with_case(|| true);
    assert_eq!(upper.to_string(), format!("A1-B.{}.Z.", long.to_uppercase()));
    let mut calls = 0;
    let alternating = name("abcd.ef.").with_case(|| {
        calls += 1;
        calls % 2 == 1
    });
    assert_eq!((alternating.to_string().as_str(), calls), ("AbCd.Ef.", 6));
    assert_eq!(upper.to_lowercase().as_wire(), original.to_lowercase().as_wire());
    assert_eq!(upper.label_count(), original.label_count());
}

#[test]
fn text_round_trip_with_escapes() {
    let n = name("a\\.b.c\\032d.\\\\.example.");
    assert_eq!(n.to_string(), "a\\.b.c\\032d.\\\\.example.");
    assert_eq!(n.label_count(), 4);
}

#[test]
fn relative_names_need_an_origin() {
    assert_eq!(NameBuf::from_text("www", None), Err(NameTextError::Relative));
    let origin = name("example.org.");
    assert_eq!(NameBuf::from_text("www", Some(&origin)).unwrap().to_string(), "www.example.org.");
}

#[test]
fn length_limits() {
    let label63 = "a".repeat(63);
    assert!(NameBuf::from_text(&format!("{label63}."), None).is_ok());
    assert_eq!(NameBuf::from_text(&format!("{label63}a."), None), Err(NameTextError::LabelTooLong));
    // 4 * 63 + 4 length octets + root = 257 > 255.
    let long = format!("{l}.{l}.{l}.{l}.", l = label63);
    assert_eq!(NameBuf::from_text(&long, None), Err(NameTextError::NameTooLong));
    // exactly 255: 3 * 63-labels (192) + one 61-label (62) + root (1).
    let exact = format!("{l}.{l}.{l}.{}.", "b".repeat(61), l = label63);
    assert_eq!(NameBuf::from_text(&exact, None).unwrap().len(), 255);
}

/// RFC 4034 §6.1's example ordering.
#[test]
fn rfc4034_6_1_canonical_order() {
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
    for pair in ordered.windows(2) {
        assert_eq!(name(pair[0]).canonical_cmp(&name(pair[1])), Ordering::Less, "{pair:?}");
    }
}

#[test]
fn compressed_pointer_rules() {
    // header (12) + "a" + root at 12, then a pointer back to 12 at 15.
    let mut msg = vec![0u8; 12];
    msg.extend_from_slice(&[1, b'a', 0, 0xC0, 12]);
    let (n, end) = NameBuf::parse_compressed(&msg, 15).unwrap();
    assert_eq!(n.to_string(), "a.");
    assert_eq!(end, 17);
    // pointer to itself
    let mut looped = vec![0u8; 12];
    looped.extend_from_slice(&[0xC0, 12]);
    assert_eq!(NameBuf::parse_compressed(&looped, 12).unwrap_err().kind, ParseErrorKind::BadPointer);
    // pointer into the header
    let mut header = vec![0u8; 12];
    header.extend_from_slice(&[0xC0, 3]);
    assert_eq!(NameBuf::parse_compressed(&header, 12).unwrap_err().kind, ParseErrorKind::BadPointer);
    // extended label type
    let mut ext = vec![0u8; 12];
    ext.extend_from_slice(&[0x41, 0]);
    assert_eq!(NameBuf::parse_compressed(&ext, 12).unwrap_err().kind, ParseErrorKind::BadLabel);
}

#[test]
fn subdomain_and_suffix() {
    let n = name("www.Example.org.");
    assert!(n.is_subdomain_of(&name("example.ORG.")));
    assert!(!n.is_subdomain_of(&name("ample.org.")));
    assert_eq!(n.parent().unwrap().to_string(), "Example.org.");
    let moved = n.replace_suffix(&name("example.org."), &name("example.net.")).unwrap();
    assert_eq!(moved.to_string(), "www.example.net.");
}
