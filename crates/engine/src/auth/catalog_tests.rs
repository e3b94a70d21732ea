//! Catalog zones: parsing hostile and well-formed catalogs, producing them, their serials.

use super::*;
use crate::load::load_zone_text;
use crate::zonefile::NoIncludes;

fn name(text: &str) -> NameBuf {
    NameBuf::from_text(text, None).unwrap()
}

const HEAD: &str = "$ORIGIN catalog.\n$TTL 0\n@ SOA invalid. invalid. 1 3600 600 2147483646 0\n@ NS invalid.\n";

fn catalog(body: &str) -> Zone {
    load_zone_text(&name("catalog."), &format!("{HEAD}{body}"), "catalog.zone", &NoIncludes).unwrap()
}

fn zones(parsed: &Catalog) -> Vec<String> {
    parsed.members.iter().map(|member| member.zone.to_string()).collect()
}

#[test]
fn members_are_read_with_their_entries() {
    let zone = catalog("version TXT \"2\"\nb.zones PTR Two.Example.\na.zones PTR one.example.\n");
    let parsed = parse(&zone, CatalogLimits::DEFAULT, &[]).unwrap();
    assert_eq!(zones(&parsed), ["one.example.", "two.example."]);
    assert_eq!(parsed.members[0].entry, name("a.zones.catalog."));
    assert!(parsed.notices.is_empty(), "{:?}", parsed.notices);
}

#[test]
fn a_catalog_without_version_2_is_not_processed() {
    let missing = catalog("a.zones PTR one.example.\n");
    assert_eq!(parse(&missing, CatalogLimits::DEFAULT, &[]), Err(CatalogError::NoVersion));
    for (body, shown) in [
        ("version TXT \"1\"\n", "\"1\""),
        ("version TXT \"3\"\n", "\"3\""),
        ("version TXT \"2\" \"2\"\n", "\"2\\u{1}2\""),
        ("version TXT \"2\"\nversion TXT \"1\"\n", "(2 records)"),
    ] {
        let zone = catalog(&format!("{body}a.zones PTR one.example.\n"));
        match parse(&zone, CatalogLimits::DEFAULT, &[]) {
            Err(CatalogError::UnsupportedVersion(found)) => assert_eq!(found, shown, "{body}"),
            other => panic!("{body}: {other:?}"),
        }
    }
    let error = parse(&catalog("version TXT \"7\"\n"), CatalogLimits::DEFAULT, &[]).unwrap_err();
    assert!(error.to_string().contains("version \"7\" is not supported"), "{error}");
}

#[test]
fn two_ptr_records_at_an_entry_or_its_coo_make_the_catalog_broken() {
    let zone = catalog("version TXT \"2\"\na.zones PTR one.example.\na.zones PTR two.example.\n");
    assert_eq!(parse(&zone, CatalogLimits::DEFAULT, &[]), Err(CatalogError::Broken(Box::new(name("a.zones.catalog.")))));
    let coo = catalog("version TXT \"2\"\na.zones PTR one.example.\ncoo.a.zones PTR x.\ncoo.a.zones PTR y.\n");
    assert_eq!(parse(&coo, CatalogLimits::DEFAULT, &[]), Err(CatalogError::Broken(Box::new(name("coo.a.zones.catalog.")))));
}

#[test]
fn unknown_records_and_properties_are_ignored_with_a_notice() {
    let body = "version TXT \"2\"\nversion A 192.0.2.1\na.zones PTR one.example.\na.zones TXT \"x\"\nb.zones A 192.0.2.2\n\
                group.a.zones TXT \"blue\"\ncoo.a.zones PTR other.\nfoo.ext.a.zones TXT \"y\"\nzz.a.zones TXT \"?\"\nx.y.zones TXT \"deep\"\n\
                stray A 192.0.2.3\nzones TXT \"at zones\"\n";
    let parsed = parse(&catalog(body), CatalogLimits::DEFAULT, &[]).unwrap();
    assert_eq!(zones(&parsed), ["one.example."]);
    let notices: Vec<String> = parsed.notices.iter().map(ToString::to_string).collect();
    let expect = [
        "a.zones.catalog.: not a PTR record",
        "b.zones.catalog.: not a PTR record",
        "group.a.zones.catalog.: group property",
        "coo.a.zones.catalog.: change-of-ownership",
        "foo.ext.a.zones.catalog.: custom property",
        "zz.a.zones.catalog.: unknown property",
        "stray.catalog.: outside version and zones",
        "zones.catalog.: outside version and zones",
    ];
    for start in expect {
        assert!(notices.iter().any(|notice| notice.starts_with(start)), "{start} not in {notices:?}");
    }
}

#[test]
fn a_member_inside_the_catalog_or_listed_twice_is_ignored() {
    let body = "version TXT \"2\"\na.zones PTR catalog.\nb.zones PTR x.catalog.\nc.zones PTR one.example.\nd.zones PTR ONE.example.\n";
    let parsed = parse(&catalog(body), CatalogLimits::DEFAULT, &[]).unwrap();
    assert_eq!(zones(&parsed), ["one.example."]);
    assert_eq!(parsed.members[0].entry, name("c.zones.catalog."), "the first entry wins");
    assert_eq!(parsed.notices.len(), 3, "{:?}", parsed.notices);
    assert!(parsed.notices[2].to_string().starts_with("d.zones.catalog.: member zone listed twice"));
    // The entry already in use wins over an earlier one.
    let previous = [Member { zone: name("one.example."), entry: name("d.zones.catalog.") }];
    let again = parse(&catalog(body), CatalogLimits::DEFAULT, &previous).unwrap();
    assert_eq!(again.members[0].entry, name("d.zones.catalog."));
    assert!(again.notices[2].to_string().starts_with("c.zones.catalog.: member zone listed twice"), "{:?}", again.notices);
}

#[test]
fn more_members_than_the_limit_refuses_the_whole_catalog() {
    let mut body = String::from("version TXT \"2\"\n");
    for n in 0..50 {
        body.push_str(&format!("m{n}.zones PTR zone{n}.example.\n"));
    }
    let zone = catalog(&body);
    assert_eq!(parse(&zone, CatalogLimits { max_members: 49 }, &[]), Err(CatalogError::TooManyMembers(49)));
    assert_eq!(parse(&zone, CatalogLimits { max_members: 50 }, &[]).unwrap().members.len(), 50);
    // Duplicates do not count.
    body.push_str("dup.zones PTR zone1.example.\n");
    assert_eq!(parse(&catalog(&body), CatalogLimits { max_members: 50 }, &[]).unwrap().members.len(), 50);
}

#[test]
fn unique_ids_are_a_stable_hash_of_the_lower_cased_name() {
    let id = unique_id(&name("Example.COM."));
    assert_eq!(id, unique_id(&name("example.com.")));
    assert_eq!(id.len(), 16);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert_ne!(id, unique_id(&name("example.net.")));
    // Pinned: the id must never change between versions (consumers would reset the zone).
    assert_eq!(unique_id(&name("example.com.")), PINNED_EXAMPLE_COM);
    assert_eq!(entry(&name("example.com."), &name("catalog.")).unwrap().to_string(), format!("{PINNED_EXAMPLE_COM}.zones.catalog."));
}

/// SipHash-2-4, zero key, of `\x07example\x03com\x00`, little-endian hex.
const PINNED_EXAMPLE_COM: &str = "836308fa0f19db68";

#[test]
fn a_produced_catalog_parses_back_to_its_members() {
    let base = catalog("version TXT \"2\"\nold.zones PTR stale.example.\n");
    let members = [name("b.example."), name("A.example.")];
    let produced = produce(&base, &members, 42).unwrap();
    assert_eq!(produced.serial(), Some(42));
    let parsed = parse(&produced, CatalogLimits::DEFAULT, &[]).unwrap();
    let mut got = zones(&parsed);
    got.sort();
    assert_eq!(got, ["a.example.", "b.example."], "the file's own entries are replaced");
    assert!(parsed.notices.is_empty(), "{:?}", parsed.notices);
    // Producing again from the produced zone gives the same content.
    assert_eq!(digest(&produce(&produced, &members, 42).unwrap()), digest(&produced));
    // A file without the version record is an error.
    let error = produce(&catalog(""), &members, 1).unwrap_err();
    assert!(error.to_string().contains("version.CATALOG. TXT \"2\""), "{error}");
}

#[test]
fn the_serial_moves_only_when_the_content_does() {
    let base = catalog("version TXT \"2\"\n");
    let one = digest(&produce(&base, &[name("a.example.")], 1).unwrap());
    let one_again = digest(&produce(&base, &[name("a.example.")], 99).unwrap());
    let two = digest(&produce(&base, &[name("a.example."), name("b.example.")], 1).unwrap());
    assert_eq!(one, one_again, "the serial is not part of the digest");
    assert_ne!(one, two);
    assert_eq!(next_serial(1, one, None), 1, "first time: the file's serial");
    let last = Produced { serial: 7, digest: one };
    assert_eq!(next_serial(1, one, Some(last)), 7, "same content: same serial");
    assert_eq!(next_serial(1, two, Some(last)), 8, "new content: one more");
    assert_eq!(next_serial(100, one, Some(last)), 100, "the operator raised the file's serial");
    assert_eq!(next_serial(1, two, Some(Produced { serial: u32::MAX, digest: one })), 1, "wraps (RFC 1982)");
}

#[test]
fn the_default_limit_refuses_a_catalog_of_ten_thousand_and_one_members() {
    let mut body = String::from("version TXT \"2\"\n");
    for n in 0..=CatalogLimits::DEFAULT.max_members {
        body.push_str(&format!("m{n}.zones PTR zone{n}.example.\n"));
    }
    assert_eq!(parse(&catalog(&body), CatalogLimits::DEFAULT, &[]), Err(CatalogError::TooManyMembers(10_000)));
    // Every one listed twice, under other entries: still 10 001 zones, still refused; at the
    // limit raised, each zone once, the duplicates noticed.
    for n in 0..=CatalogLimits::DEFAULT.max_members {
        body.push_str(&format!("d{n}.zones PTR ZONE{n}.example.\n"));
    }
    let zone = catalog(&body);
    assert_eq!(parse(&zone, CatalogLimits::DEFAULT, &[]), Err(CatalogError::TooManyMembers(10_000)));
    let parsed = parse(&zone, CatalogLimits { max_members: 20_000 }, &[]).unwrap();
    assert_eq!((parsed.members.len(), parsed.notices.len()), (10_001, 10_001));
}
