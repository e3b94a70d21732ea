//! Tests of the zone snapshot's storage and lookups.

use super::*;

fn name(text: &str) -> NameBuf {
    NameBuf::from_text(text, None).unwrap()
}

#[test]
fn empty_non_terminals_exist_and_lookup_ignores_case() {
    let owner = name("a.B.c.example.");
    let origin = name("example.");
    let zone = Zone::build(&origin, Class::IN, [RecordData { owner: &owner, rtype: Rtype::A, ttl: 60, rdata: &[1, 2, 3, 4] }]);
    assert_eq!(zone.node_count(), 4);
    let ent = zone.node(&name("b.c.EXAMPLE.")).unwrap();
    assert!(zone.rrsets(ent).is_empty());
    let leaf = zone.node(&name("A.b.C.example.")).unwrap();
    let rrset = zone.rrset(leaf, Rtype::A).unwrap();
    assert_eq!(zone.rdatas(&rrset).collect::<Vec<_>>(), vec![&[1u8, 2, 3, 4][..]]);
    assert!(zone.node(&name("x.example.")).is_none());
    assert_eq!(zone.node_name(zone.nodes().next().unwrap()).to_string(), "example.");
    let canonical: Vec<String> = zone.canonical_order().into_iter().map(|node| zone.node_name(node).to_string()).collect();
    assert_eq!(canonical, ["example.", "c.example.", "b.c.example.", "a.b.c.example."]);
}

#[test]
fn duplicate_rdata_is_merged_and_lowest_ttl_wins() {
    let owner = name("example.");
    let records = [
        RecordData { owner: &owner, rtype: Rtype::A, ttl: 60, rdata: &[1, 2, 3, 4] },
        RecordData { owner: &owner, rtype: Rtype::A, ttl: 30, rdata: &[1, 2, 3, 4] },
    ];
    let zone = Zone::build(&owner, Class::IN, records);
    let rrset = zone.rrset(zone.apex().unwrap(), Rtype::A).unwrap();
    assert_eq!((rrset.len(), rrset.ttl), (1, 30));
}

#[test]
fn a_large_rrset_merges_its_duplicates_in_order() {
    let owner = name("example.");
    let rdatas: Vec<[u8; 4]> = (0..40_000u32).map(|n| (n % 20_000).to_be_bytes()).collect();
    let records = rdatas.iter().map(|rdata| RecordData { owner: &owner, rtype: Rtype::A, ttl: 60, rdata });
    let zone = Zone::build(&owner, Class::IN, records);
    let rrset = zone.rrset(zone.apex().unwrap(), Rtype::A).unwrap();
    assert_eq!(rrset.len(), 20_000);
    let kept: Vec<&[u8]> = zone.rdatas(&rrset).collect();
    assert!(kept.iter().enumerate().all(|(n, rdata)| *rdata == (n as u32).to_be_bytes()));
}

#[test]
fn each_rrset_of_a_node_is_found_with_its_own_rdatas() {
    let owner = name("www.example.");
    let origin = name("example.");
    let long = vec![7u8; 300];
    let records = [
        RecordData { owner: &owner, rtype: Rtype::TXT, ttl: 5, rdata: &long },
        RecordData { owner: &owner, rtype: Rtype::A, ttl: 60, rdata: &[1, 2, 3, 4] },
        RecordData { owner: &owner, rtype: Rtype::A, ttl: 60, rdata: &[5, 6, 7, 8] },
        RecordData { owner: &owner, rtype: Rtype::MX, ttl: 9, rdata: &[0, 10, 0] },
    ];
    let zone = Zone::build(&origin, Class::IN, records);
    let node = zone.node(&owner).unwrap();
    let types: Vec<Rtype> = zone.rrsets(node).map(|rrset| rrset.rtype).collect();
    assert_eq!(types, [Rtype::A, Rtype::MX, Rtype::TXT]);
    let a = zone.rrset(node, Rtype::A).unwrap();
    assert_eq!((a.len(), zone.rdatas(&a).collect::<Vec<_>>()), (2, vec![&[1u8, 2, 3, 4][..], &[5, 6, 7, 8][..]]));
    assert_eq!(zone.first_rdata(&zone.rrset(node, Rtype::MX).unwrap()), [0, 10, 0]);
    let txt = zone.rrset(node, Rtype::TXT).unwrap();
    assert_eq!((txt.ttl, zone.first_rdata(&txt)), (5, &long[..]));
    for missing in [Rtype::NS, Rtype::AAAA, Rtype::CNAME, Rtype(65_000)] {
        assert!(zone.rrset(node, missing).is_none(), "{missing:?}");
    }
    assert!(zone.rrsets(zone.apex().unwrap()).is_empty());
}

#[test]
fn a_lookup_starts_at_the_home_slot_and_reads_the_node_at_slot_start() {
    let origin = name("example.");
    let owners: Vec<NameBuf> = (0..500).map(|i| name(&format!("Host-{i}.example."))).collect();
    let records = owners.iter().map(|owner| RecordData { owner, rtype: Rtype::A, ttl: 60, rdata: &[192, 0, 2, 1] });
    let zone = Zone::build(&origin, Class::IN, records);
    let mask = zone.slots.len() - 1;
    let mut read_at_home = 0;
    for owner in &owners {
        let wire = owner.as_wire();
        let home = zone.home_slot(wire);
        let found = zone.probe(wire, |stored| stored.eq_ignore_ascii_case(wire)).unwrap();
        // Linear probing from the home slot reaches the node without crossing an empty slot.
        let steps = found.wrapping_sub(home) & mask;
        assert!((0..steps).all(|step| zone.slots[(home + step) & mask].node.name_len != 0));
        if steps == 0 {
            let start = zone.slot_start(home);
            assert_eq!(start, zone.slots[found].node.start);
            assert_eq!(zone.arena_byte(start), wire[0]);
            read_at_home += 1;
        }
    }
    assert!(read_at_home > owners.len() / 2, "most names sit in their home slot: {read_at_home}");
    assert_eq!((zone.slot_start(usize::MAX), zone.arena_byte(u32::MAX)), (0, 0));
}
