use super::{bulk_additions, BulkAdd};
use crate::auth::diff::{diff, ZoneDiff};
use crate::auth::Zone;
use crate::load::load_zone_text;
use crate::zonefile::NoIncludes;
use portcullis_wire::NameBuf;

const THRESHOLD: u32 = 50;

fn name(text: &str) -> NameBuf {
    NameBuf::from_text(text, None).unwrap()
}

fn zone(serial: u32, body: &str) -> Zone {
    let text = format!("$ORIGIN example.\n$TTL 300\n@ SOA ns host {serial} 3600 900 604800 60\n@ NS ns\nns A 192.0.2.53\nwww A 192.0.2.80\n{body}");
    load_zone_text(&name("example."), &text, "test", &NoIncludes).unwrap()
}

/// `count` names `{prefix}{i}.{parent}` (relative to `example.`) with an A record each.
fn names(prefix: &str, parent: &str, count: usize, network: &str) -> String {
    (0..count).map(|i| format!("{prefix}{i}{parent} A {network}.{}\n", i % 250 + 1)).collect()
}

/// The bulk additions of the change from `old` to `new`.
fn bulk(old: &Zone, new: &Zone) -> Vec<BulkAdd> {
    bulk_additions(&[diff(old, new).unwrap()], new, THRESHOLD)
}

fn summary(found: &[BulkAdd]) -> Vec<(String, u32)> {
    found.iter().map(|add| (add.parent.to_string(), add.names)).collect()
}

#[test]
fn names_added_under_one_parent_from_the_threshold_on_are_reported() {
    let old = zone(1, "");
    let sixty = zone(2, &names("login-", ".shop", 60, "203.0.113"));
    let found = bulk(&old, &sixty);
    assert_eq!(summary(&found), [("shop.example.".to_string(), 60)]);
    assert!(found[0].example.to_string().starts_with("login-") && found[0].example.to_string().ends_with(".shop.example."));
    assert_eq!(summary(&bulk(&old, &zone(2, &names("login-", ".shop", 50, "203.0.113")))), [("shop.example.".to_string(), 50)]);
    assert!(bulk(&old, &zone(2, &names("login-", ".shop", 49, "203.0.113"))).is_empty(), "one short of the threshold");
    // At the apex too, whatever the case of the owners.
    let upper = zone(2, &names("LOGIN-", "", 55, "203.0.113"));
    assert_eq!(summary(&bulk(&old, &upper)), [("example.".to_string(), 55)]);
}

#[test]
fn the_same_number_spread_over_parents_is_not() {
    let old = zone(1, "");
    let spread: String = (0..6).map(|p| names("n", &format!(".dept{p}"), 10, "198.51.100")).collect();
    assert!(bulk(&old, &zone(2, &spread)).is_empty(), "60 names over 6 parents");
    // Deeper names count under their own parent only; their empty non-terminals are not names.
    let deep: String = (0..60).map(|i| format!("x.n{i}.deep A 198.51.100.1\n")).collect();
    assert!(bulk(&old, &zone(2, &deep)).is_empty(), "one name under each of 60 parents");
}

#[test]
fn changed_or_grown_names_are_not_new() {
    let old = zone(1, &names("h", "", 60, "192.0.2"));
    // Every address changed (deleted and added): the names existed.
    assert!(bulk(&old, &zone(2, &names("h", "", 60, "203.0.113"))).is_empty());
    // A second record at each of them: not new either.
    let grown = names("h", "", 60, "192.0.2") + &(0..60).map(|i| format!("h{i} AAAA 2001:db8::{i:x}\n")).collect::<String>();
    assert!(bulk(&old, &zone(2, &grown)).is_empty());
    // TTL changes only.
    let ttl: String = (0..60).map(|i| format!("h{i} 600 A 192.0.2.{}\n", i % 250 + 1)).collect();
    assert!(bulk(&old, &zone(2, &ttl)).is_empty());
}

/// Signing records for `count` owners: an RRSIG at each data name, an NSEC3 per hashed owner.
fn signing(count: usize, tag: u16) -> String {
    let mut text = String::new();
    for i in 0..count {
        text.push_str(&format!("h{i} RRSIG A 13 2 300 20270101000000 20261201000000 {tag} example. AAAA\n"));
        text.push_str(&format!("{:0>32} NSEC3 1 0 0 - {:0>32} A RRSIG\n", i * 2, i * 2 + 1));
    }
    text
}

#[test]
fn signing_churn_creates_no_name() {
    let data = names("h", "", 60, "192.0.2");
    let unsigned = zone(1, &data);
    let signed = zone(2, &(data.clone() + &signing(60, 1)));
    assert!(bulk(&unsigned, &signed).is_empty(), "signing a zone: RRSIGs and an NSEC3 chain");
    let resigned = zone(3, &(data.clone() + &signing(60, 2)));
    assert!(bulk(&signed, &resigned).is_empty(), "signed again with another key");
    // Data added with its signatures is counted, signatures aside.
    let more = data + &signing(60, 2) + &names("p", ".pay", 60, "203.0.113");
    let more = more + &(0..60).map(|i| format!("p{i}.pay RRSIG A 13 3 300 20270101000000 20261201000000 2 example. AAAA\n")).collect::<String>();
    assert_eq!(summary(&bulk(&resigned, &zone(4, &more))), [("pay.example.".to_string(), 60)]);
}

#[test]
fn an_ixfr_of_several_differences_is_one_change_and_no_change_is_none() {
    let first = zone(1, "");
    let second = zone(2, &names("a", ".cdn", 30, "203.0.113"));
    let third = zone(3, &(names("a", ".cdn", 30, "203.0.113") + &names("b", ".cdn", 30, "203.0.113")));
    let diffs: Vec<ZoneDiff> = vec![diff(&first, &second).unwrap(), diff(&second, &third).unwrap()];
    assert_eq!(summary(&bulk_additions(&diffs, &third, THRESHOLD)), [("cdn.example.".to_string(), 60)]);
    assert!(bulk_additions(&diffs[1..], &third, THRESHOLD).is_empty(), "each difference alone adds 30");
    assert!(bulk_additions(&[], &third, THRESHOLD).is_empty());
    // Differences out of sequence report nothing rather than fail.
    assert!(bulk_additions(&[diffs[1].clone(), diffs[0].clone()], &third, THRESHOLD).is_empty());
}

#[test]
fn judging_a_large_change_costs_less_than_computing_it() {
    // 20 000 names added under one parent, and 20 000 changed: the worst case (every added
    // record looked at, sorted and looked up), against the difference itself (a quadratic
    // judge would take minutes; measured in a debug build: about 0.6 of the difference).
    let old = zone(1, &(0..20_000).map(|i| format!("c{i}.keep A 192.0.2.{}\n", i % 250 + 1)).collect::<String>());
    let body: String = (0..20_000).map(|i| format!("c{i}.keep A 198.51.100.{}\nn{i}.bulk A 203.0.113.{}\n", i % 250 + 1, i % 250 + 1)).collect();
    let new = zone(2, &body);
    let started = std::time::Instant::now();
    let change = diff(&old, &new).unwrap();
    let diffing = started.elapsed();
    let started = std::time::Instant::now();
    let found = bulk_additions(std::slice::from_ref(&change), &new, THRESHOLD);
    let judging = started.elapsed();
    println!("diff {diffing:?}, bulk additions {judging:?}");
    assert_eq!(summary(&found), [("bulk.example.".to_string(), 20_000)]);
    assert!(judging < diffing * 2, "judging took {judging:?}, the difference {diffing:?}");
}
