//! Tests of the DNSSEC storage: RRSIG groups, the NSEC owner index, the NSEC3 table.

use super::*;
use portcullis_wire::Class;

fn name(text: &str) -> NameBuf {
    NameBuf::from_text(text, None).unwrap()
}

/// An RRSIG rdata covering `covered`, told apart by `tag`.
fn rrsig(covered: Rtype, tag: u8) -> Vec<u8> {
    let mut rdata = covered.0.to_be_bytes().to_vec();
    rdata.extend_from_slice(&[13, 2, 0, 0, 14, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, tag, 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0, tag]);
    rdata
}

#[test]
fn an_rrsig_rrset_of_mixed_covered_types_is_split_with_each_groups_ttl() {
    let origin = name("example.");
    let (a1, a2, mx, nsec) = (rrsig(Rtype::A, 1), rrsig(Rtype::A, 2), rrsig(Rtype::MX, 3), rrsig(Rtype::NSEC, 4));
    let records = [
        RecordData { owner: &origin, rtype: Rtype::A, ttl: 60, rdata: &[192, 0, 2, 1] },
        RecordData { owner: &origin, rtype: Rtype::RRSIG, ttl: 300, rdata: &nsec },
        RecordData { owner: &origin, rtype: Rtype::RRSIG, ttl: 60, rdata: &a1 },
        RecordData { owner: &origin, rtype: Rtype::RRSIG, ttl: 3600, rdata: &mx },
        RecordData { owner: &origin, rtype: Rtype::RRSIG, ttl: 60, rdata: &a2 },
        RecordData { owner: &origin, rtype: Rtype::MX, ttl: 3600, rdata: &[0, 10, 0] },
    ];
    let zone = Zone::build(&origin, Class::IN, records);
    let apex = zone.apex().unwrap();
    let a = zone.signatures(apex, Rtype::A).unwrap();
    assert_eq!((a.ttl, zone.rdatas(&a).collect::<Vec<_>>()), (60, vec![&a1[..], &a2[..]]));
    let mx_sigs = zone.signatures(apex, Rtype::MX).unwrap();
    assert_eq!((mx_sigs.ttl, zone.rdatas(&mx_sigs).collect::<Vec<_>>()), (3600, vec![&mx[..]]));
    assert_eq!(zone.signatures(apex, Rtype::NSEC).map(|set| set.ttl), Some(300));
    assert!(zone.signatures(apex, Rtype::AAAA).is_none());
    // The other RRsets are found as before, and every RRSIG is kept (transfers send them all).
    assert!(zone.rrset(apex, Rtype::MX).is_some() && zone.rrset(apex, Rtype::A).is_some());
    let rrsigs: usize = zone.rrsets(apex).filter(|set| set.rtype == Rtype::RRSIG).map(|set| set.len()).sum();
    assert_eq!(rrsigs, 4);
}

#[test]
fn the_covering_nsec_is_found_in_canonical_order_whatever_the_case_and_escapes() {
    let origin = name("example.");
    let owners = ["example.", "a.example.", "\\000.z.example.", "\\001.z.example.", "*.z.example.", "z.example.", "zabc.a.example."].map(name);
    let records = owners.iter().map(|owner| RecordData { owner, rtype: Rtype::NSEC, ttl: 300, rdata: &[0] });
    let zone = Zone::build(&origin, Class::IN, records);
    assert!(zone.has_nsec());
    let before = |query: &str| zone.node_name(zone.nsec_at_or_before(name(query).as_wire()).unwrap()).to_string();
    assert_eq!(before("A.EXAMPLE."), "a.example.", "a match, any case");
    assert_eq!(before("b.A.example."), "a.example.");
    assert_eq!(before("ZZ.A.example."), "zabc.a.example.");
    assert_eq!(before("B.example."), "zabc.a.example.");
    assert_eq!(before("\\000\\000.z.example."), "\\000.z.example.");
    assert_eq!(before("\\002.Z.example."), "\\001.z.example.");
    assert_eq!(before("+.z.example."), "*.z.example.");
    assert_eq!(before("y.example."), "zabc.a.example.");
    // z.example. sorts before its children, and zz.example. after them.
    assert_eq!(before("zz.example."), "*.z.example.");
}

#[test]
fn nsec3_records_live_in_their_own_table_sorted_by_hash() {
    let origin = name("example.");
    let param = [1u8, 0, 0, 0, 0];
    let hashes: Vec<[u8; NSEC3_HASH_LEN]> = [5u8, 200, 90].iter().map(|&b| [b; NSEC3_HASH_LEN]).collect();
    let owners: Vec<NameBuf> = hashes
        .iter()
        .map(|hash| {
            let mut label = String::new();
            portcullis_wire::rdata::write_base32hex(hash, &mut label).unwrap();
            name(&format!("{}.example.", label.to_lowercase()))
        })
        .collect();
    let rdatas: Vec<Vec<u8>> = [0u8, 1, 0].iter().map(|&flags| vec![1, flags, 0, 0, 0, 20]).collect();
    let sig = rrsig(Rtype::NSEC3, 9);
    let mut records = vec![RecordData { owner: &origin, rtype: Rtype::NSEC3PARAM, ttl: 0, rdata: &param }];
    for (owner, rdata) in owners.iter().zip(&rdatas) {
        records.push(RecordData { owner, rtype: Rtype::NSEC3, ttl: 300, rdata });
        records.push(RecordData { owner, rtype: Rtype::RRSIG, ttl: 300, rdata: &sig });
    }
    let zone = Zone::build(&origin, Class::IN, records);
    assert_eq!(zone.node_count(), 1, "no hashed owner in the name tree");
    assert!(owners.iter().all(|owner| zone.node(owner).is_none()));
    let table = zone.nsec3().unwrap();
    assert!(table.is_served());
    let owner_of = |node: &Node| table.owners().node_name(node).to_string();
    assert_eq!(table.find(&hashes[2]).map(|found| found.map(owner_of).ok()), Some(Some(owners[2].to_string())));
    assert_eq!(table.find(&[100; NSEC3_HASH_LEN]).map(|found| found.map_err(owner_of).err()), Some(Some(owners[2].to_string())));
    assert_eq!(table.find(&[1; NSEC3_HASH_LEN]).map(|found| found.map_err(owner_of).err()), Some(Some(owners[1].to_string())), "wraps to the last");
    assert!(table.opt_out(table.find(&hashes[1]).unwrap().unwrap()) && !table.opt_out(table.find(&hashes[0]).unwrap().unwrap()));
    let matching = table.find(&hashes[0]).unwrap().unwrap();
    assert_eq!(table.owners().signatures(matching, Rtype::NSEC3).map(|set| set.len()), Some(1), "the RRSIGs are beside their NSEC3");
    // Transfers walk the name tree, then the table (its apex is empty).
    let transferred: Vec<bool> = (0..5).map(|index| zone.transfer_node(index).is_some()).collect();
    assert_eq!(transferred, [true, true, true, true, true]);
    assert!(zone.transfer_node(5).is_none());
    assert_eq!(zone.all_nodes().filter(|(part, node)| part.rrset(node, Rtype::NSEC3).is_some()).count(), 3);
    assert!(table.hash(name("Example.").as_wire()).is_some());
}
