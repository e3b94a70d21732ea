//! Behaviour tests of the zone-file reader, one per syntax feature (RFC 1035 §5, RFC 2308 §4,
//! RFC 3597 §5, BIND's `$GENERATE`), with includes served from memory.

use super::*;
use std::collections::HashMap;

/// Included files served from memory; a missing one is `NotFound`.
#[derive(Default)]
struct MemoryIncludes(HashMap<PathBuf, String>);

impl MemoryIncludes {
    fn with(files: &[(&str, &str)]) -> Self {
        Self(files.iter().map(|(path, text)| (PathBuf::from(path), (*text).to_owned())).collect())
    }
}

impl IncludeResolver for MemoryIncludes {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        self.0.get(path).cloned().ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "not found"))
    }
}

const SOA: &str = "@ 3600 IN SOA ns1 hostmaster 2024010101 7200 900 1209600 300\n";

fn name(text: &str) -> NameBuf {
    NameBuf::from_text(text, None).unwrap()
}

fn origin() -> NameBuf {
    name("example.org.")
}

fn parse(text: &str) -> Vec<ZoneRecord> {
    parse_files(text, &[]).unwrap_or_else(|error| panic!("{error}"))
}

fn parse_files(text: &str, files: &[(&str, &str)]) -> Result<Vec<ZoneRecord>, ZoneFileError> {
    parse_zone_text(&origin(), text, "main.zone", &MemoryIncludes::with(files))
}

fn error(text: &str) -> String {
    parse_files(text, &[]).unwrap_err().to_string()
}

fn wire_name(text: &str) -> Vec<u8> {
    name(text).as_wire().to_vec()
}

/// (owner, type, ttl) of every record, for compact assertions.
fn summary(records: &[ZoneRecord]) -> Vec<(String, String, u32)> {
    records.iter().map(|r| (r.owner.to_string(), r.rtype.to_string(), r.ttl)).collect()
}

#[test]
fn rfc1035_5_1_a_small_zone() {
    let text = "$TTL 1h\n\
        @ IN SOA ns1.example.org. hostmaster.example.org. (\n\
        \t2024010101 ; serial\n\
        \t7200 900 1209600 300 )\n\
        \tIN NS ns1\n\
        \tIN MX 10 mail\n\
        ns1 IN A 192.0.2.1\n\
        mail 60 IN A 192.0.2.2\n\
        txt IN TXT \"a;b\" c\n\
        www IN CNAME ns1.example.org.\n";
    let records = parse(text);
    assert_eq!(
        summary(&records),
        [
            ("example.org.".into(), "SOA".into(), 3600),
            ("example.org.".into(), "NS".into(), 3600),
            ("example.org.".into(), "MX".into(), 3600),
            ("ns1.example.org.".into(), "A".into(), 3600),
            ("mail.example.org.".into(), "A".into(), 60),
            ("txt.example.org.".into(), "TXT".into(), 3600),
            ("www.example.org.".into(), "CNAME".into(), 3600),
        ]
    );
    let mut soa = wire_name("ns1.example.org.");
    soa.extend(wire_name("hostmaster.example.org."));
    for field in [2024010101u32, 7200, 900, 1209600, 300] {
        soa.extend(field.to_be_bytes());
    }
    assert_eq!(records[0].rdata, soa);
    assert_eq!(records[1].rdata, wire_name("ns1.example.org."));
    let mut mx = vec![0, 10];
    mx.extend(wire_name("mail.example.org."));
    assert_eq!(records[2].rdata, mx);
    assert_eq!(records[3].rdata, [192, 0, 2, 1]);
    assert_eq!(records[5].rdata, b"\x03a;b\x01c");
    assert_eq!(records[6].rdata, wire_name("ns1.example.org."));
    assert!(records.iter().all(|r| r.class == Class::IN));
}

#[test]
fn rfc1035_5_1_origin_directive_and_relative_names() {
    let records = parse("$TTL 60\n$ORIGIN sub\nwww A 192.0.2.1\n$ORIGIN other.net.\nx A 192.0.2.2\n@ A 192.0.2.3\n");
    let owners: Vec<String> = records.iter().map(|r| r.owner.to_string()).collect();
    assert_eq!(owners, ["www.sub.example.org.", "x.other.net.", "other.net."]);
}

#[test]
fn rfc1035_5_1_omitted_owner_is_the_previous_one() {
    let records = parse("$TTL 60\nwww A 192.0.2.1\n  A 192.0.2.2\n\t TXT x\n");
    assert!(records.iter().all(|r| r.owner == name("www.example.org.")));
    assert_eq!(error(" A 192.0.2.1\n"), "main.zone:1: no owner name: the line starts with a blank, but no record comes before it in this file");
}

#[test]
fn rfc1035_5_1_ttl_and_class_in_either_order() {
    let records = parse("a 300 IN A 192.0.2.1\nb IN 301 A 192.0.2.1\nc IN A 192.0.2.1\nd 302 A 192.0.2.1\ne CLASS1 303 A 192.0.2.1\n");
    assert_eq!(records.iter().map(|r| r.ttl).collect::<Vec<_>>(), [300, 301, 301, 302, 303]);
    assert!(records.iter().all(|r| r.class == Class::IN));
}

#[test]
fn rfc2308_4_ttl_directive_and_bind_units() {
    let records = parse("$TTL 1h30m\na A 192.0.2.1\nb 1w2d A 192.0.2.1\nc A 192.0.2.1\n$TTL 10\nd A 192.0.2.1\n");
    assert_eq!(records.iter().map(|r| r.ttl).collect::<Vec<_>>(), [5400, 9 * 86_400, 5400, 10]);
    assert_eq!(error("$TTL abc\n"), "main.zone:1: bad TTL 'abc'");
    assert_eq!(error("$TTL 1 2\n"), "main.zone:1: $TTL needs exactly one TTL");
    assert_eq!(error("a 1x A 192.0.2.1\n"), "main.zone:1: bad TTL '1x'");
    assert!(error("a 4294967295 A 192.0.2.1\n").contains("above 2147483647"));
}

#[test]
fn default_ttl_without_ttl_directive_is_the_last_explicit_one_then_soa_minimum() {
    let records = parse(&format!("{SOA}a A 192.0.2.1\nb 20 A 192.0.2.1\nc A 192.0.2.1\n"));
    assert_eq!(records.iter().map(|r| r.ttl).collect::<Vec<_>>(), [3600, 3600, 20, 20]);
    let records = parse("@ IN SOA ns1 hostmaster 1 2 3 4 300\nns1 A 192.0.2.1\n");
    assert_eq!(records.iter().map(|r| r.ttl).collect::<Vec<_>>(), [300, 300]);
    assert_eq!(error("a A 192.0.2.1\n"), "main.zone:1: no TTL: give one on the record or a $TTL before it");
}

#[test]
fn class_defaults_to_in_and_must_match_the_zone() {
    let records = parse("a 1 CH TXT x\nb 1 TXT y\n");
    assert!(records.iter().all(|r| r.class == Class::CH));
    assert_eq!(error("a 1 A 192.0.2.1\nb 1 CH A 192.0.2.1\n"), "main.zone:2: class CH differs from the zone's class IN");
    assert_eq!(error("a 1 ANY A 192.0.2.1\n"), "main.zone:1: class ANY cannot be zone data");
    assert_eq!(error("a 1 CLASS99999 A 192.0.2.1\n"), "main.zone:1: bad class 'CLASS99999'");
    assert_eq!(error("a 1 IN IN A 192.0.2.1\n"), "main.zone:1: unknown record type 'IN'");
}

#[test]
fn unknown_and_meta_types_are_refused() {
    assert_eq!(error("$TTL 1\n\nwww AAA 192.0.2.1\n"), "main.zone:3: unknown record type 'AAA'");
    assert_eq!(error("$TTL 1\nwww IN ANY 192.0.2.1\n"), "main.zone:2: record type ANY cannot be zone data");
    assert_eq!(error("$TTL 1\nwww 300 IN\n"), "main.zone:2: missing record type");
}

#[test]
fn rfc3597_5_unknown_types_and_generic_rdata() {
    let records = parse("$TTL 1\na TYPE65280 \\# 3 ABCDEF\nb CLASS1 TYPE1 \\# 4 C0 00 02 01\nc A \\# 4 c0000201\n");
    assert_eq!(records[0].rtype, Rtype(65280));
    assert_eq!(records[0].rdata, [0xAB, 0xCD, 0xEF]);
    assert_eq!(records[1].rdata, [192, 0, 2, 1]);
    assert_eq!(records[2].rdata, [192, 0, 2, 1]);
    assert!(error("$TTL 1\na TYPE65280 \\# 4 ABCDEF\n").contains("generic rdata has 3 octets but its length says 4"));
}

#[test]
fn rfc1035_5_1_quoted_strings_and_escapes() {
    let records = parse("$TTL 1\nt TXT \"semi;colon\" \"quote\\\"d\" \"\\065\" ; comment\n");
    assert_eq!(records[0].rdata, b"\x0asemi;colon\x07quote\"d\x01A");
    let records = parse("$TTL 1\na\\.b A 192.0.2.1\n\\065bc A 192.0.2.1\nsp\\032ace A 192.0.2.1\n");
    assert_eq!(records[0].owner.labels().next(), Some(&b"a.b"[..]));
    assert_eq!(records[1].owner, name("Abc.example.org."));
    assert_eq!(records[2].owner.labels().next(), Some(&b"sp ace"[..]));
    assert_eq!(error("$TTL 1\nt TXT \"open\n"), "main.zone:2: unterminated quoted string");
    assert!(error("$TTL 1\na\\9 A 192.0.2.1\n").starts_with("main.zone:2: bad escape '\\9'"));
}

#[test]
fn name_length_limits_are_reported() {
    let long_label = "a".repeat(64);
    assert_eq!(error(&format!("$TTL 1\n{long_label} A 192.0.2.1\n")), format!("main.zone:2: bad owner name '{long_label}': label longer than 63 octets"));
    let long_name = format!("{l}.{l}.{l}.{l}", l = "b".repeat(60));
    assert!(error(&format!("$TTL 1\n{long_name} A 192.0.2.1\n")).ends_with("name longer than 255 octets"));
    assert!(error("$TTL 1\na..b A 192.0.2.1\n").ends_with("empty label in name"));
}

#[test]
fn parentheses_errors_name_the_right_line() {
    assert_eq!(error("$TTL 1\n@ SOA ns1 host ( 1 2\n3 4 5\n"), "main.zone:2: unbalanced parentheses: '(' is never closed");
    assert_eq!(error("$TTL 1\na A 192.0.2.1 )\n"), "main.zone:2: unbalanced parentheses: ')' without '('");
    let records = parse("$TTL 1\nt ( TXT\n a\n ) \n  TXT b\n");
    assert_eq!(records.len(), 2);
    assert_eq!(records[1].owner, name("t.example.org."));
}

#[test]
fn rdata_errors_name_the_type_and_first_line() {
    assert!(error("$TTL 1\nwww A 192.0.2\n").starts_with("main.zone:2: bad A record"));
    assert!(error("$TTL 1\n@ MX 10\n").starts_with("main.zone:2: bad MX record"));
    assert!(error("$TTL 1\n@ SOA ( ns1 host\n 1 2 3 4 )\n").starts_with("main.zone:2: bad SOA record"));
}

#[test]
fn crlf_line_ends_and_a_byte_order_mark_are_accepted() {
    let records = parse("\u{feff}$TTL 1\r\nwww A 192.0.2.1\r\n  TXT \"x\"\r\n");
    assert_eq!(records.len(), 2);
    assert_eq!(records[1].owner, name("www.example.org."));
}

#[test]
fn at_sign_and_relative_names_in_rdata_use_the_current_origin() {
    let records = parse("$TTL 1\n$ORIGIN sub\na CNAME @\nb MX 5 mail\n");
    assert_eq!(records[0].rdata, wire_name("sub.example.org."));
    assert_eq!(&records[1].rdata[2..], wire_name("mail.sub.example.org."));
}

#[test]
fn unknown_directive() {
    assert_eq!(error("$FOO bar\n"), "main.zone:1: unknown directive '$FOO'");
    assert_eq!(error("$ORIGIN\n"), "main.zone:1: $ORIGIN needs exactly one domain name");
}

#[test]
fn include_reads_relative_to_the_including_file_with_its_own_origin() {
    let main = "$TTL 1\nwww A 192.0.2.1\n$INCLUDE sub/part.zone other\n  A 192.0.2.2\nlast A 192.0.2.3\n";
    let part = "x A 192.0.2.9\n$ORIGIN deeper\n@ A 192.0.2.8\n$INCLUDE ../more.zone\n";
    let more = "m A 192.0.2.7\n";
    let records =
        parse_zone_text(&origin(), main, "zones/main.zone", &MemoryIncludes::with(&[("zones/sub/part.zone", part), ("zones/more.zone", more)])).unwrap();
    let owners: Vec<String> = records.iter().map(|r| r.owner.to_string()).collect();
    assert_eq!(
        owners,
        ["www.example.org.", "x.other.example.org.", "deeper.other.example.org.", "m.deeper.other.example.org.", "www.example.org.", "last.example.org.",]
    );
}

#[test]
fn include_errors_name_the_included_file() {
    let files = [("part.zone", "ok A 192.0.2.1\nbad 1x A 192.0.2.1\n")];
    assert_eq!(parse_files("$TTL 1\n$INCLUDE part.zone\n", &files).unwrap_err().to_string(), "part.zone:2: bad TTL '1x'");
    assert_eq!(error("$INCLUDE missing.zone\n"), "main.zone:1: cannot read $INCLUDE file 'missing.zone': not found");
    assert_eq!(error("$INCLUDE\n"), "main.zone:1: $INCLUDE needs a file name and optionally an origin");
    assert_eq!(error("$INCLUDE \"spaced name.zone\"\n"), "main.zone:1: cannot read $INCLUDE file 'spaced name.zone': not found");
    assert_eq!(error("$INCLUDE odd\\032name\\;.zone\n"), "main.zone:1: cannot read $INCLUDE file 'odd name;.zone': not found");
    assert_eq!(error("$INCLUDE a.zone b.zone c\n"), "main.zone:1: $INCLUDE needs a file name and optionally an origin");
}

#[test]
fn include_loops_and_depth_are_bounded() {
    let loop_files = [("a.zone", "$INCLUDE b.zone\n"), ("b.zone", "$INCLUDE ./a.zone\n")];
    assert_eq!(parse_files("$INCLUDE a.zone\n", &loop_files).unwrap_err().to_string(), "b.zone:1: $INCLUDE loop: 'a.zone' is already being read");
    assert_eq!(error("$INCLUDE main.zone\n"), "main.zone:1: $INCLUDE loop: 'main.zone' is already being read");
    let chain: Vec<(String, String)> = (0..12).map(|i| (format!("f{i}.zone"), format!("$INCLUDE f{}.zone\n", i + 1))).collect();
    let chain: Vec<(&str, &str)> = chain.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    assert_eq!(parse_files("$INCLUDE f0.zone\n", &chain).unwrap_err().to_string(), "f9.zone:1: $INCLUDE nested more than 10 deep");
    let fan_out = "$INCLUDE e.zone\n".repeat(5);
    let limits = Limits { max_includes: 4, ..Limits::DEFAULT };
    let result = parse_zone_text_with(&origin(), &fan_out, "main.zone", &MemoryIncludes::with(&[("e.zone", "")]), &limits);
    assert_eq!(result.unwrap_err().to_string(), "main.zone:5: more than 4 $INCLUDE directives");
}

#[test]
fn generate_makes_records_from_templates() {
    let records = parse("$TTL 1\n$GENERATE 1-3 host-$ A 192.0.2.$\n$GENERATE 0-4/2 ${10,3} 60 IN CNAME x-${0,2,x}.example.org.\n");
    assert_eq!(
        summary(&records)[..3],
        [("host-1.example.org.".into(), "A".into(), 1), ("host-2.example.org.".into(), "A".into(), 1), ("host-3.example.org.".into(), "A".into(), 1),]
    );
    assert_eq!(records[2].rdata, [192, 0, 2, 3]);
    assert_eq!(records[3].owner, name("010.example.org."));
    assert_eq!(records[5].owner, name("014.example.org."));
    assert_eq!(records[5].ttl, 60);
    assert_eq!(records[5].rdata, wire_name("x-04.example.org."));
    let records = parse("$TTL 1\n$GENERATE 26-26 ${0,0,n}.$$\\$ TXT \"v=$\"\n");
    assert_eq!(records[0].owner.to_string(), "a.1.\\$\\$.example.org.");
    assert_eq!(records[0].rdata, b"\x04v=26");
}

#[test]
fn generate_errors_and_caps() {
    assert_eq!(error("$TTL 1\n$GENERATE 10-1 h$ A 192.0.2.1\n"), "main.zone:2: bad $GENERATE range '10-1': expected start-stop[/step] with start <= stop");
    assert_eq!(error("$TTL 1\n$GENERATE 0-100000 h$ A 192.0.2.1\n"), "main.zone:2: $GENERATE range '0-100000' makes 100001 records, more than 100000");
    assert_eq!(error("$TTL 1\n$GENERATE 1-2 h$\n"), "main.zone:2: missing record type");
    assert_eq!(error("$TTL 1\n$GENERATE 1-2 h$ A\n"), "main.zone:2: $GENERATE needs rdata after the type");
    assert!(error("$TTL 1\n$GENERATE 250-260 h$ A 192.0.2.$\n").starts_with("main.zone:2: $GENERATE at 256: bad A record"));
    assert!(error("$TTL 1\n$GENERATE 1-2 h${0,3,q} A 192.0.2.1\n").contains("bad $GENERATE modifier"));
    let limits = Limits { max_generate_bytes: 100, ..Limits::DEFAULT };
    let result = parse_zone_text_with(&origin(), "$TTL 1\n$GENERATE 1-100 host$ A 192.0.2.1\n", "z", &MemoryIncludes::default(), &limits);
    assert_eq!(result.unwrap_err().to_string(), "z:2: $GENERATE expands to more than 100 bytes");
}

#[test]
fn record_count_is_bounded() {
    let limits = Limits { max_records: 2, ..Limits::DEFAULT };
    let text = "$TTL 1\na A 192.0.2.1\nb A 192.0.2.1\nc A 192.0.2.1\n";
    let result = parse_zone_text_with(&origin(), text, "z", &MemoryIncludes::default(), &limits);
    assert_eq!(result.unwrap_err().to_string(), "z:4: more than 2 records");
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    /// Text made mostly of zone-file syntax, so the parser gets past the first token.
    fn zone_like() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("$TTL 1h\n".to_owned()),
            Just("$ORIGIN sub\n".to_owned()),
            Just("$INCLUDE x.zone\n".to_owned()),
            Just("$GENERATE 1-3 h$ A 192.0.2.$\n".to_owned()),
            Just("@ SOA ns1 host ( 1 2 3 4 5 )\n".to_owned()),
            Just("www 300 IN A 192.0.2.1\n".to_owned()),
            Just(" TXT \"a;b\" \\065\n".to_owned()),
            Just("x TYPE65280 \\# 2 abcd\n".to_owned()),
            "[ -~\t\n\\\\\"();$@]{0,40}",
            any::<String>().prop_map(|s| s.chars().take(20).collect()),
        ];
        proptest::collection::vec(piece, 0..16).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #[test]
        fn parse_zone_text_never_panics(text in zone_like()) {
            let includes = MemoryIncludes::with(&[("x.zone", "$INCLUDE x.zone\n")]);
            if let Ok(records) = parse_zone_text(&origin(), &text, "main.zone", &includes) {
                let _ = check::check_zone(&origin(), &records);
            }
        }

        #[test]
        fn arbitrary_strings_never_panic(text in "\\PC{0,200}") {
            let _ = parse_zone_text(&origin(), &text, "main.zone", &MemoryIncludes::default());
        }
    }
}
