//! RFC 2136 behaviour of the pure parts: parsing (§3.1-§3.4.1), prerequisites (§3.2.5),
//! updates (§3.4.2) and the policy.

use super::prerequisite::check;
use super::*;
use crate::auth::Zone;
use crate::load::load_zone_text;
use crate::zonefile::NoIncludes;
use portcullis_wire::header::Flags;
use portcullis_wire::message::Section;
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::{Opcode, Rcode};
use proptest::prelude::*;

const ZONE: &str = "$ORIGIN example.\n$TTL 300\n@ SOA ns host 41 3600 900 604800 60\n@ NS ns\n@ NS ns2\nns A 192.0.2.53\nns2 A 192.0.2.54\n\
                    www A 192.0.2.1\nwww A 192.0.2.2\nalias CNAME www\na.b.c TXT \"deep\"\n";

fn name(text: &str) -> NameBuf {
    NameBuf::from_text(text, None).unwrap()
}

fn zone() -> Zone {
    load_zone_text(&name("example."), ZONE, "test", &NoIncludes).unwrap()
}

fn a(owner: &str, last: u8) -> ZoneRecord {
    ZoneRecord { owner: name(owner), rtype: Rtype::A, class: Class::IN, ttl: 300, rdata: vec![192, 0, 2, last] }
}

/// One record of a test message: section, owner, type, class, TTL, rdata.
type Spec<'a> = (Section, &'a str, Rtype, Class, u32, &'a [u8]);

/// An UPDATE message: zone section, then the records.
fn message(zone: &str, zone_type: Rtype, records: &[Spec<'_>]) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let mut writer = MessageWriter::new(&mut buf, 4096).unwrap();
    writer.set_header(7, Flags { opcode: Opcode::UPDATE.0, ..Flags::default() });
    writer.push_question(&name(zone), zone_type, Class::IN).unwrap();
    for (section, owner, rtype, class, ttl, rdata) in records {
        writer.push(*section, &name(owner), *rtype, *class, *ttl, rdata).unwrap();
    }
    let len = writer.finish();
    buf.truncate(len);
    buf
}

fn changed(applied: Applied) -> ZoneDiff {
    match applied {
        Applied::Changed(change) => *change,
        Applied::Unchanged => panic!("expected a change"),
    }
}

#[test]
fn rfc2136_2_sections_are_read_into_prerequisites_and_changes() {
    use Section::{Answer as Pre, Authority as Upd};
    let bytes = message(
        "example.",
        Rtype::SOA,
        &[
            (Pre, "www.example.", Rtype::ANY, Class::ANY, 0, &[]),
            (Pre, "new.example.", Rtype::ANY, Class::NONE, 0, &[]),
            (Pre, "www.example.", Rtype::A, Class::IN, 0, &[192, 0, 2, 1]),
            (Pre, "www.example.", Rtype::A, Class::IN, 0, &[192, 0, 2, 2]),
            (Upd, "new.example.", Rtype::A, Class::IN, 60, &[192, 0, 2, 9]),
            (Upd, "www.example.", Rtype::A, Class::NONE, 0, &[192, 0, 2, 2]),
            (Upd, "old.example.", Rtype::ANY, Class::ANY, 0, &[]),
            (Upd, "old.example.", Rtype::TXT, Class::ANY, 0, &[]),
        ],
    );
    let update = parse_bytes(&bytes).unwrap();
    assert_eq!(update.zone, name("example."));
    assert_eq!(update.prerequisites.len(), 3, "value-dependent records grouped: {:?}", update.prerequisites);
    assert_eq!(update.prerequisites[2], Prerequisite::RrsetEquals(name("www.example."), Rtype::A, vec![vec![192, 0, 2, 1], vec![192, 0, 2, 2]]));
    assert_eq!(
        update.changes,
        [
            Change::Add(ZoneRecord { ttl: 60, ..a("new.example.", 9) }),
            Change::DeleteRr(name("www.example."), Rtype::A, vec![192, 0, 2, 2]),
            Change::DeleteName(name("old.example.")),
            Change::DeleteRrset(name("old.example."), Rtype::TXT),
        ]
    );
}

#[test]
fn rfc2136_3_malformed_sections_are_formerr_and_outside_names_notzone() {
    use Section::{Answer as Pre, Authority as Upd};
    let cases: [(&str, Rtype, Vec<Spec<'_>>, Rcode); 8] = [
        ("example.", Rtype::A, vec![], Rcode::FORMERR),
        ("example.", Rtype::SOA, vec![(Pre, "www.example.", Rtype::A, Class::ANY, 5, &[])], Rcode::FORMERR),
        ("example.", Rtype::SOA, vec![(Pre, "www.example.", Rtype::A, Class::ANY, 0, &[1, 2, 3, 4])], Rcode::FORMERR),
        ("example.", Rtype::SOA, vec![(Pre, "www.other.", Rtype::A, Class::ANY, 0, &[])], Rcode::NOTZONE),
        ("example.", Rtype::SOA, vec![(Upd, "www.example.", Rtype::ANY, Class::IN, 0, &[])], Rcode::FORMERR),
        ("example.", Rtype::SOA, vec![(Upd, "www.example.", Rtype::A, Class::IN, 0, &[1, 2, 3])], Rcode::FORMERR),
        ("example.", Rtype::SOA, vec![(Upd, "www.example.", Rtype::A, Class::NONE, 9, &[1, 2, 3, 4])], Rcode::FORMERR),
        ("example.", Rtype::SOA, vec![(Upd, "x.other.", Rtype::A, Class::IN, 0, &[1, 2, 3, 4])], Rcode::NOTZONE),
    ];
    for (zone, zone_type, records, rcode) in cases {
        assert_eq!(parse_bytes(&message(zone, zone_type, &records)), Err(rcode), "{records:?}");
    }
}

#[test]
fn rfc2136_3_2_5_each_failing_prerequisite_has_its_rcode() {
    let zone = zone();
    let cases = [
        (Prerequisite::NameInUse(name("nope.example.")), Rcode::NXDOMAIN),
        (Prerequisite::NameInUse(name("b.c.example.")), Rcode::NXDOMAIN),
        (Prerequisite::NameNotInUse(name("www.example.")), Rcode::YXDOMAIN),
        (Prerequisite::RrsetExists(name("www.example."), Rtype::AAAA), Rcode::NXRRSET),
        (Prerequisite::RrsetDoesNotExist(name("www.example."), Rtype::A), Rcode::YXRRSET),
        (Prerequisite::RrsetEquals(name("www.example."), Rtype::A, vec![vec![192, 0, 2, 1]]), Rcode::NXRRSET),
    ];
    for (prerequisite, rcode) in cases {
        assert_eq!(check(&zone, std::slice::from_ref(&prerequisite)), rcode, "{prerequisite:?}");
    }
    let holding = [
        Prerequisite::NameInUse(name("WWW.example.")),
        Prerequisite::NameNotInUse(name("b.c.example.")),
        Prerequisite::RrsetExists(name("alias.example."), Rtype::CNAME),
        Prerequisite::RrsetDoesNotExist(name("www.example."), Rtype::AAAA),
        Prerequisite::RrsetEquals(name("www.example."), Rtype::A, vec![vec![192, 0, 2, 2], vec![192, 0, 2, 1]]),
        Prerequisite::RrsetEquals(name("alias.example."), Rtype::CNAME, vec![name("WWW.EXAMPLE.").as_wire().to_vec()]),
    ];
    assert_eq!(check(&zone, &holding), Rcode::NOERROR);
}

#[test]
fn rfc2136_3_4_2_add_and_delete_give_a_difference_and_a_new_serial() {
    let zone = zone();
    let change = changed(apply(&zone, &[Change::Add(a("new.example.", 9)), Change::DeleteRr(name("www.example."), Rtype::A, vec![192, 0, 2, 2])]));
    assert_eq!(apply::soa_serial(&change.old_soa.rdata), Some(41));
    assert_eq!(apply::soa_serial(&change.new_soa.rdata), Some(42));
    assert_eq!(change.added, [a("new.example.", 9)]);
    assert_eq!(change.deleted, [a("www.example.", 2)]);
    let next = rebuild(&zone, &change);
    assert_eq!(next.serial(), Some(42));
    assert_eq!(prerequisite::rdatas(&next, &name("new.example."), Rtype::A), Some(vec![vec![192, 0, 2, 9]]));
    assert_eq!(prerequisite::rdatas(&next, &name("www.example."), Rtype::A), Some(vec![vec![192, 0, 2, 1]]));
}

#[test]
fn rfc2136_3_4_2_7_an_update_that_changes_nothing_keeps_the_serial() {
    let zone = zone();
    let nothing = [
        Change::Add(a("www.example.", 1)),
        Change::DeleteRrset(name("nope.example."), Rtype::A),
        Change::DeleteName(name("nope.example.")),
        Change::DeleteRr(name("www.example."), Rtype::A, vec![192, 0, 2, 99]),
    ];
    assert_eq!(apply(&zone, &nothing), Applied::Unchanged);
}

#[test]
fn rfc2136_3_4_2_3_and_4_apex_soa_and_ns_survive_deletes() {
    let zone = zone();
    let ns2 = name("ns2.example.").as_wire().to_vec();
    let ns = name("ns.example.").as_wire().to_vec();
    let deletes = [
        Change::DeleteName(name("example.")),
        Change::DeleteRrset(name("example."), Rtype::NS),
        Change::DeleteRrset(name("example."), Rtype::SOA),
        Change::DeleteRr(name("example."), Rtype::NS, ns2),
        Change::DeleteRr(name("example."), Rtype::NS, ns),
    ];
    let change = changed(apply(&zone, &deletes));
    assert_eq!(change.deleted.len(), 1, "only one NS goes, the last stays: {:?}", change.deleted);
    let next = rebuild(&zone, &change);
    assert_eq!(prerequisite::rdatas(&next, &name("example."), Rtype::NS).map(|r| r.len()), Some(1));
    assert!(next.soa().is_some());
}

#[test]
fn rfc2136_3_4_2_2_cname_does_not_join_other_data() {
    let zone = zone();
    let cname = ZoneRecord { owner: name("www.example."), rtype: Rtype::CNAME, class: Class::IN, ttl: 60, rdata: name("ns.example.").as_wire().to_vec() };
    assert_eq!(apply(&zone, &[Change::Add(cname)]), Applied::Unchanged, "CNAME beside A is ignored");
    assert_eq!(apply(&zone, &[Change::Add(a("alias.example.", 7))]), Applied::Unchanged, "A beside CNAME is ignored");
    let replace = ZoneRecord { owner: name("alias.example."), rtype: Rtype::CNAME, class: Class::IN, ttl: 300, rdata: name("ns.example.").as_wire().to_vec() };
    let change = changed(apply(&zone, &[Change::Add(replace.clone())]));
    assert_eq!((change.deleted.len(), change.added.clone()), (1, vec![replace]), "a CNAME replaces the CNAME");
}

#[test]
fn rfc2136_3_4_2_2_an_explicit_soa_needs_a_greater_serial() {
    let zone = zone();
    let soa = apply::soa_of(&zone).unwrap();
    let lower = ZoneRecord { rdata: apply::with_serial(&soa.rdata, 40), ..soa.clone() };
    assert_eq!(apply(&zone, &[Change::Add(lower)]), Applied::Unchanged);
    let higher = ZoneRecord { rdata: apply::with_serial(&soa.rdata, 1000), ..soa };
    let change = changed(apply(&zone, &[Change::Add(higher), Change::Add(a("x.example.", 1))]));
    assert_eq!(apply::soa_serial(&change.new_soa.rdata), Some(1000));
}

#[test]
fn rfc1982_the_serial_wraps() {
    let text = ZONE.replace(" 41 ", " 4294967295 ");
    let zone = load_zone_text(&name("example."), &text, "test", &NoIncludes).unwrap();
    let change = changed(apply(&zone, &[Change::Add(a("x.example.", 1))]));
    assert_eq!(apply::soa_serial(&change.new_soa.rdata), Some(0));
}

#[test]
fn a_policy_grants_per_key_name_and_type() {
    let (zone, key, other) = (name("example."), name("k1."), name("k2."));
    let grant = |matching, owner: &str, types: Vec<Rtype>| Grant { allow: true, key, matching, name: name(owner), types };
    let policy = UpdatePolicy {
        grants: vec![
            Grant { allow: false, ..grant(GrantMatch::Name, "locked.example.", vec![]) },
            grant(GrantMatch::Subdomain, "dyn.example.", vec![Rtype::A, Rtype::AAAA]),
            grant(GrantMatch::Wildcard, "*.w.example.", vec![]),
            grant(GrantMatch::OwnKeyName, ".", vec![Rtype::TXT]),
        ],
    };
    let add = |owner: &str, rtype: Rtype| vec![Change::Add(ZoneRecord { owner: name(owner), rtype, class: Class::IN, ttl: 0, rdata: vec![] })];
    assert!(policy.allows(Some(&key), &zone, &add("h.dyn.example.", Rtype::A)));
    assert!(!policy.allows(Some(&key), &zone, &add("h.dyn.example.", Rtype::TXT)), "type not listed");
    assert!(!policy.allows(Some(&other), &zone, &add("h.dyn.example.", Rtype::A)), "other key");
    assert!(!policy.allows(None, &zone, &add("h.dyn.example.", Rtype::A)), "unsigned");
    assert!(policy.allows(Some(&key), &zone, &add("a.w.example.", Rtype::MX)));
    assert!(!policy.allows(Some(&key), &zone, &add("w.example.", Rtype::MX)), "a wildcard does not match its parent");
    assert!(!policy.allows(Some(&key), &zone, &add("a.w.example.", Rtype::NS)), "no types: NS excluded");
    assert!(policy.allows(Some(&key), &zone, &add("k1.", Rtype::TXT)));
    assert!(!policy.allows(Some(&key), &zone, &add("locked.example.", Rtype::A)), "deny first");
}

proptest! {
    /// Any bytes: the parser answers, never panics; what it accepts applies and rebuilds.
    #[test]
    fn any_bytes_parse_to_an_update_or_an_rcode(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        crate::fuzz::update(&bytes);
    }

    /// Random adds and deletes: the difference applied to the zone gives the same RRsets as
    /// the overlay, and applying the same update again changes nothing more than the serial.
    #[test]
    fn a_difference_rebuilds_what_the_update_asked(ops in proptest::collection::vec((0u8..4, 0u8..4, 0u8..4), 1..12)) {
        let zone = zone();
        let owners = ["www.example.", "new.example.", "alias.example.", "example."];
        let changes: Vec<Change> = ops.iter().map(|&(op, owner, last)| {
            let owner = owners[usize::from(owner)];
            match op {
                0 => Change::Add(a(owner, last)),
                1 => Change::DeleteRr(name(owner), Rtype::A, vec![192, 0, 2, last]),
                2 => Change::DeleteRrset(name(owner), Rtype::A),
                _ => Change::DeleteName(name(owner)),
            }
        }).collect();
        if let Applied::Changed(change) = apply(&zone, &changes) {
            let next = rebuild(&zone, &change);
            prop_assert!(crate::load::build_checked(&name("example."), &records_of(&next)).is_ok());
            for rr in &change.added {
                let found = prerequisite::rdatas(&next, &rr.owner, rr.rtype).unwrap_or_default();
                prop_assert!(found.contains(&rr.rdata), "{rr:?} added");
            }
            prop_assert_eq!(apply(&next, &changes), Applied::Unchanged);
        }
    }
}

/// Every record of `zone`, for the load checks.
fn records_of(zone: &Zone) -> Vec<crate::zonefile::ZoneRecord> {
    let mut out = Vec::new();
    for (part, node) in zone.all_nodes() {
        for rrset in part.rrsets(node) {
            for rdata in part.rdatas(&rrset) {
                out.push(crate::zonefile::ZoneRecord {
                    owner: part.node_name(node),
                    rtype: rrset.rtype,
                    class: Class::IN,
                    ttl: rrset.ttl,
                    rdata: rdata.to_vec(),
                });
            }
        }
    }
    out
}
