//! Golden vectors from the RFCs (text to wire bytes) and wire -> text -> wire round-trips.
//!
//! Vectors "from RFC x" take both the text and the bytes from the RFC; vectors "after RFC x"
//! take the RFC's presentation text, with the bytes worked out by hand (or with Python's base64
//! module for the long keys and signatures).

use super::*;

/// A small zone-file tokenizer for tests, like the zone-file lexer: whitespace-separated words,
/// `"quoted strings"` (a quote only opens one at the start of a token), `(` and `)` dropped,
/// `;` comments, escapes kept as they are.
pub(super) fn tokenize(text: &str) -> Vec<Token<'_>> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'(' | b')' => i += 1,
            b';' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                let start = i + 1;
                i = start;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                tokens.push(Token { text: &text[start..i.min(bytes.len())], quoted: true });
                i += 1;
            }
            _ => {
                let start = i;
                while i < bytes.len() && !matches!(bytes[i], b' ' | b'\t' | b'\n' | b'(' | b')' | b';') {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                tokens.push(Token { text: &text[start..i.min(bytes.len())], quoted: false });
            }
        }
    }
    tokens
}

pub(super) fn origin() -> NameBuf {
    NameBuf::from_text("example.com.", None).unwrap()
}

pub(super) fn parse_with(rtype: Rtype, text: &str, origin: &NameBuf) -> Result<Vec<u8>, RdataTextError> {
    let mut out = vec![0xEE];
    rdata_from_text(rtype, &tokenize(text), origin, &mut out).map(|()| out[1..].to_vec()).inspect_err(|_| assert_eq!(out, [0xEE]))
}

pub(super) fn parse(rtype: Rtype, text: &str) -> Result<Vec<u8>, RdataTextError> {
    parse_with(rtype, text, &origin())
}

pub(super) fn print(rtype: Rtype, rdata: &[u8]) -> String {
    let mut text = String::new();
    rdata_to_text(rtype, rdata, &mut text).unwrap();
    text
}

pub(super) fn unhex(hex: &str) -> Vec<u8> {
    let digits: String = hex.split_whitespace().collect();
    let mut out = Vec::new();
    encoding::decode_hex(&digits, &mut out).unwrap();
    out
}

/// Checks text -> wire against `hex`, then wire -> text -> wire, and that the text is `printed`.
#[track_caller]
pub(super) fn golden(rtype: Rtype, text: &str, hex: &str, printed: &str) {
    let wire = parse(rtype, text).unwrap_or_else(|e| panic!("{rtype} '{text}': {e}"));
    assert_eq!(wire, unhex(hex), "{rtype} '{text}'");
    assert!(rdata_check(rtype, &wire), "{rtype} '{text}' fails the check");
    let again = print(rtype, &wire);
    assert_eq!(again, printed, "{rtype} printed");
    assert_eq!(parse(rtype, &again).unwrap(), wire, "{rtype} '{again}' does not round-trip");
}

#[track_caller]
fn fails(rtype: Rtype, text: &str) -> String {
    match parse(rtype, text) {
        Ok(wire) => panic!("{rtype} '{text}' should fail, gave {wire:02x?}"),
        Err(error) => error.0,
    }
}

/// RFC 3597 §5: the generic form, for unknown and known types.
#[test]
fn rfc3597_5_generic_form() {
    assert_eq!(parse(Rtype(731), r"\# 6 abcd ( ef 01 23 45 )").unwrap(), unhex("abcdef012345"));
    assert_eq!(parse(Rtype::A, r"\# 4 0A000001").unwrap(), unhex("0a000001"));
    assert_eq!(parse(Rtype::A, "10.0.0.2").unwrap(), unhex("0a000002"));
    assert_eq!(parse(Rtype(731), r"\# 0").unwrap(), unhex(""));
    assert_eq!(parse(Rtype::NULL, r"\# 3 010203").unwrap(), unhex("010203"));
    assert_eq!(print(Rtype(731), &unhex("abcdef012345")), r"\# 6 ABCDEF012345");
    assert_eq!(print(Rtype(731), &[]), r"\# 0");
    assert_eq!(print(Rtype::NULL, &[1, 2]), r"\# 2 0102");
    assert_eq!(print(Rtype::A, &[10, 0, 0]), r"\# 3 0A0000");
    assert_eq!(print(Rtype::A, &[]), r"\# 0");
    assert!(fails(Rtype::A, r"\# 3 0A000001").contains("length 3 does not match 4"));
    assert!(fails(Rtype::A, r"\# 3 0A0000").contains("not valid A rdata"));
    assert!(fails(Rtype(731), "abcd").contains("only the generic form"));
    assert!(fails(Rtype::NULL, "abcd").contains("only the generic form"));
    fails(Rtype(731), r"\# 2 abc");
    fails(Rtype(731), r"\# x");
    fails(Rtype(731), r"\#");
    fails(Rtype(731), r"\# 70000 00");
}

/// RFC 1035 §5.3 example master file (origin ISI.EDU.).
#[test]
fn rfc1035_5_3_master_file_example() {
    let isi = NameBuf::from_text("ISI.EDU.", None).unwrap();
    let soa = parse_with(Rtype::SOA, r"VENERA Action\.domains ( 20 7200 600 3600000 60)", &isi).unwrap();
    let expected = unhex(
        "06 56454e455241 03 495349 03 454455 00 0e 416374696f6e2e646f6d61696e73 03 495349 03 454455 00
         00000014 00001c20 00000258 0036ee80 0000003c",
    );
    assert_eq!(soa, expected);
    assert_eq!(print(Rtype::SOA, &soa), r"VENERA.ISI.EDU. Action\.domains.ISI.EDU. 20 7200 600 3600000 60");
    assert_eq!(parse_with(Rtype::MX, "10 VENERA", &isi).unwrap(), unhex("000a 06 56454e455241 03 495349 03 454455 00"));
    assert_eq!(parse_with(Rtype::NS, "@", &isi).unwrap(), unhex("03 495349 03 454455 00"));
    assert_eq!(parse_with(Rtype::A, "10.2.0.52", &isi).unwrap(), unhex("0a020034"));
    assert_eq!(parse_with(Rtype::HINFO, "DEC-2060 TOPS20", &isi).unwrap(), unhex("08 4445432d32303630 06 544f50533230"));
    assert_eq!(print(Rtype::HINFO, &unhex("08 4445432d32303630 06 544f50533230")), r#""DEC-2060" "TOPS20""#);
}

#[test]
fn rfc1035_single_name_types() {
    for rtype in [Rtype::NS, Rtype::MD, Rtype::MF, Rtype::CNAME, Rtype::MB, Rtype::MG, Rtype::MR, Rtype::PTR, Rtype::DNAME] {
        golden(rtype, "www", "03777777 076578616d706c65 03636f6d 00", "www.example.com.");
        golden(rtype, ".", "00", ".");
    }
    golden(Rtype::MINFO, "rm.example.net. @", "02726d 076578616d706c65 036e6574 00 076578616d706c65 03636f6d 00", "rm.example.net. example.com.");
    let error = fails(Rtype::CNAME, "a..b");
    assert!(error.starts_with("CNAME target: empty label"), "{error}");
    fails(Rtype::NS, "");
    fails(Rtype::NS, "a b");
}

#[test]
fn mx_errors_name_the_field() {
    assert_eq!(fails(Rtype::MX, "x mail"), "MX preference: expected a number 0-65535, got 'x'");
    assert_eq!(fails(Rtype::MX, "65536 mail"), "MX preference: expected a number 0-65535, got '65536'");
    assert_eq!(fails(Rtype::MX, "10"), "MX exchange: missing");
    assert_eq!(fails(Rtype::MX, "10 a b"), "MX: unexpected extra field 'b'");
    assert_eq!(fails(Rtype::A, "1.2.3"), "A address: expected an IPv4 address, got '1.2.3'");
    fails(Rtype::SOA, "a b 1 2 3 4 4294967296");
}

#[test]
fn rfc1035_txt_strings() {
    golden(Rtype::TXT, r#""v=spf1 -all""#, "0b763d73706631202d616c6c", r#""v=spf1 -all""#);
    golden(Rtype::SPF, r#""v=spf1 -all""#, "0b763d73706631202d616c6c", r#""v=spf1 -all""#);
    golden(Rtype::TXT, r#"word "two words" """#, "04776f7264 0974776f20776f726473 00", r#""word" "two words" """#);
    golden(Rtype::TXT, r#""a\"b\\c\010\255" x\;y"#, "07 61 22 62 5c 63 0a ff 03 783b79", r#""a\"b\\c\010\255" "x;y""#);
    let long = "x".repeat(256);
    assert!(fails(Rtype::TXT, &long).contains("longer than 255"));
    assert!(fails(Rtype::A, &"x".repeat(1000)).len() < 210);
    assert_eq!(parse(Rtype::TXT, &"x".repeat(255)).unwrap().len(), 256);
    assert_eq!(fails(Rtype::TXT, ""), "TXT text: missing");
    fails(Rtype::TXT, r"bad\");
    fails(Rtype::TXT, r"bad\25");
    assert!(!rdata_check(Rtype::TXT, &[]));
    assert!(!rdata_check(Rtype::TXT, &[3, b'a', b'b']));
    assert_eq!(print(Rtype::TXT, &[3, b'a', b'b']), r"\# 3 036162");
}

/// RFC 1183 §1-§3.2 examples (AFSDB, RP, X25, ISDN, RT).
#[test]
fn rfc1183_examples() {
    golden(Rtype::AFSDB, "1 bigbird.toaster.com.", "0001 07626967626972 64 07746f6173746572 03636f6d 00", "1 bigbird.toaster.com.");
    golden(Rtype::RP, "louie.trantor.umd.edu. .", "056c6f756965 077472616e746f72 03756d64 03656475 00 00", "louie.trantor.umd.edu. .");
    golden(Rtype::X25, "311061700956", "0c 333131303631373030393536", r#""311061700956""#);
    golden(Rtype::ISDN, "150862028003217 004", "0f 313530383632303238303033323137 03 303034", r#""150862028003217" "004""#);
    golden(Rtype::RT, "2 Relay.Prime.COM.", "0002 0552656c6179 055072696d65 03434f4d 00", "2 Relay.Prime.COM.");
}

/// RFC 1706 §6 NSAP example; RFC 1712 §5 GPOS example; RFC 2163 style PX.
#[test]
fn nsap_gpos_px() {
    golden(
        Rtype::NSAP,
        "0x47.0005.80.005a00.0000.0001.e133.ffffff000161.00",
        "47000580005a0000000001e133ffffff00016100",
        "0x47000580005A0000000001E133FFFFFF00016100",
    );
    golden(Rtype::GPOS, "-32.6882 116.8652 10.0", "082d33322e36383832 083131362e38363532 0431302e30", r#""-32.6882" "116.8652" "10.0""#);
    golden(
        Rtype::PX,
        "10 net2.it. PRMD-net2.ADMD-p400.C-it.",
        "000a 046e657432 026974 00 0950524d442d6e657432 0941444d442d70343030 04432d6974 00",
        "10 net2.it. PRMD-net2.ADMD-p400.C-it.",
    );
    fails(Rtype::NSAP, "47.0005");
}

/// RFC 3596 §2.5 style addresses, RFC 4291 §2.2 forms.
#[test]
fn rfc3596_aaaa() {
    golden(Rtype::AAAA, "4321:0:1:2:3:4:567:89ab", "4321 0000 0001 0002 0003 0004 0567 89ab", "4321:0:1:2:3:4:567:89ab");
    golden(Rtype::AAAA, "2001:DB8::1", "20010db8000000000000000000000001", "2001:db8::1");
    golden(Rtype::AAAA, "::ffff:192.0.2.1", "00000000000000000000ffffc0000201", "::ffff:192.0.2.1");
    golden(Rtype::AAAA, "::", "00000000000000000000000000000000", "::");
    fails(Rtype::AAAA, "1::2::3");
    fails(Rtype::AAAA, "10.0.0.1");
}

/// RFC 2782 SRV example; RFC 2230 KX.
#[test]
fn rfc2782_srv_and_kx() {
    golden(
        Rtype::SRV,
        "0 1 389 old-slow-box.example.com.",
        "0000 0001 0185 0c6f6c642d736c6f772d626f78 076578616d706c65 03636f6d 00",
        "0 1 389 old-slow-box.example.com.",
    );
    golden(Rtype::KX, "10 kx1", "000a 03 6b7831 076578616d706c65 03636f6d 00", "10 kx1.example.com.");
    fails(Rtype::SRV, "0 1 65536 a.");
}

/// RFC 3403 §6.2 NAPTR example with a regexp full of escapes.
#[test]
fn rfc3403_6_2_naptr() {
    golden(
        Rtype::NAPTR,
        r#"100 10 "" "" "!^urn:cid:.+@([^\\.]+\\.)(.*)$!\\2!i" ."#,
        "0064 000a 00 00 21 215e75726e3a6369643a2e2b40285b5e5c2e5d2b5c2e29282e2a2924215c322169 00",
        r#"100 10 "" "" "!^urn:cid:.+@([^\\.]+\\.)(.*)$!\\2!i" ."#,
    );
    golden(
        Rtype::NAPTR,
        r#"10 100 "s" "SIP+D2U" "" _sip._udp"#,
        "000a 0064 0173 075349502b443255 00 045f736970 045f756470 076578616d706c65 03636f6d 00",
        r#"10 100 "s" "SIP+D2U" "" _sip._udp.example.com."#,
    );
}

/// RFC 7043 §3.2 and §4.2 examples.
#[test]
fn rfc7043_eui() {
    golden(Rtype::EUI48, "00-00-5e-00-53-2a", "00005e00532a", "00-00-5e-00-53-2a");
    golden(Rtype::EUI64, "00-00-5E-EF-10-00-00-2A", "00005eef1000002a", "00-00-5e-ef-10-00-00-2a");
    fails(Rtype::EUI48, "00-00-5e-00-53");
    fails(Rtype::EUI48, "00-00-5e-00-53-2a-00");
    fails(Rtype::EUI48, "0-00-5e-00-53-2a");
    fails(Rtype::EUI64, "00:00:5e:ef:10:00:00:2a");
}

/// RFC 6742 §2 examples (NID, L32, L64, LP).
#[test]
fn rfc6742_ilnp() {
    golden(Rtype::NID, "10 0014:4fff:ff20:ee64", "000a 00144fffff20ee64", "10 0014:4fff:ff20:ee64");
    golden(Rtype::L32, "10 10.1.2.0", "000a 0a010200", "10 10.1.2.0");
    golden(Rtype::L64, "10 2001:0DB8:1140:1000", "000a 20010db811401000", "10 2001:0db8:1140:1000");
    golden(Rtype::LP, "10 l64-subnet1.example.com.", "000a 0b6c36342d7375626e657431 076578616d706c65 03636f6d 00", "10 l64-subnet1.example.com.");
}

/// RFC 8659 §4.5 CAA examples; RFC 7553 §4.4 URI example.
#[test]
fn rfc8659_caa_and_rfc7553_uri() {
    golden(Rtype::CAA, r#"0 issue "ca.example.net""#, "00 05 6973737565 63612e6578616d706c652e6e6574", r#"0 issue "ca.example.net""#);
    golden(Rtype::CAA, r#"128 tbs "Unknown""#, "80 03 746273 556e6b6e6f776e", r#"128 tbs "Unknown""#);
    golden(Rtype::CAA, r#"0 issue """#, "00 05 6973737565", r#"0 issue """#);
    golden(
        Rtype::CAA,
        r#"0 iodef "mailto:security@example.com""#,
        "00 05 696f646566 6d61696c746f3a7365637572697479406578616d706c652e636f6d",
        r#"0 iodef "mailto:security@example.com""#,
    );
    fails(Rtype::CAA, r#"0 is-sue "x""#);
    fails(Rtype::CAA, r#"256 issue "x""#);
    golden(
        Rtype::URI,
        r#"10 1 "ftp://ftp1.example.com/public""#,
        "000a 0001 6674703a2f2f667470312e6578616d706c652e636f6d2f7075626c6963",
        r#"10 1 "ftp://ftp1.example.com/public""#,
    );
}

/// RFC 4701 §3.6 DHCID example 1; an OPENPGPKEY and a CERT built by hand.
#[test]
fn base64_types() {
    golden(
        Rtype::DHCID,
        "( AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA= )",
        "000201636fc0b8271c82825bb1ac5c41cf5351aa69b4febd94e8f17cdb95000da48c40",
        "AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA=",
    );
    golden(Rtype::OPENPGPKEY, "Zm9v YmFy", "666f6f626172", "Zm9vYmFy");
    golden(Rtype::CERT, "PGP 0 0 Zm9vYg==", "0003 0000 00 666f6f62", "3 0 0 Zm9vYg==");
    golden(Rtype::CERT, "1 12345 RSASHA256 Zm9vYg==", "0001 3039 08 666f6f62", "1 12345 8 Zm9vYg==");
    fails(Rtype::OPENPGPKEY, "Zm9vY");
    fails(Rtype::CERT, "BOGUS 0 0 Zm9v");
    assert_eq!(print(Rtype::OPENPGPKEY, &[]), r"\# 0");
}
