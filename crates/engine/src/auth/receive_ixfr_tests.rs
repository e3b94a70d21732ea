use super::*;
use crate::auth::diff::{apply, diff, History};
use crate::auth::transfer::{ixfr_records, Transfer, MESSAGE_MAX};
use crate::auth::zone_text::zone_text;
use crate::load::load_zone_text;
use crate::zonefile::NoIncludes;
use portcullis_wire::message::Question;
use std::sync::Arc;

fn origin() -> NameBuf {
    NameBuf::from_text("example.", None).unwrap()
}

fn zone(serial: u32, body: &str) -> Zone {
    let text = format!("$ORIGIN example.\n$TTL 300\n@ SOA ns host {serial} 3600 900 604800 60\n@ NS ns\nns A 192.0.2.53\n{body}");
    load_zone_text(&origin(), &text, "test", &NoIncludes).unwrap()
}

fn question() -> Question {
    Question { qname: origin(), qtype: Rtype::IXFR, qclass: Class::IN }
}

/// The messages of our own sender for `records` (an incremental transfer) or the whole zone.
fn messages(zone: Zone, records: Option<Vec<ZoneRecord>>, id: u16) -> Vec<Vec<u8>> {
    let zone = Arc::new(zone);
    let mut transfer = match records {
        Some(records) => Transfer::incremental(zone, id, question(), None, records),
        None => Transfer::new(zone, id, question(), None),
    };
    let mut out = vec![0u8; MESSAGE_MAX];
    std::iter::from_fn(|| transfer.next_message(&mut out).map(|len| out[..len].to_vec())).collect()
}

fn receive(messages: &[Vec<u8>], id: u16, ours: u32) -> Result<Received, TransferError> {
    let mut incoming = IncomingIxfr::new(origin(), id, ours, TransferLimits::DEFAULT);
    for message in messages {
        if incoming.add(message)? {
            break;
        }
    }
    incoming.finish()
}

#[test]
fn rfc1995_4_incremental_answers_are_received_and_apply() {
    let versions = [zone(1, "a A 192.0.2.1\n"), zone(2, "a A 192.0.2.2\n"), zone(3, "a A 192.0.2.2\nb TXT \"b\"\n")];
    let diffs: Vec<_> = versions.windows(2).map(|pair| diff(&pair[0], &pair[1]).unwrap()).collect();
    // Each difference on its own (not condensed), as BIND and Knot may send them.
    let mut records = vec![diffs[1].new_soa.clone()];
    for change in &diffs {
        records.extend(ixfr_records(change)[1..ixfr_records(change).len() - 1].iter().cloned());
    }
    records.push(diffs[1].new_soa.clone());
    let Received::Incremental(received) = receive(&messages(versions[2].clone(), Some(records), 7), 7, 1).unwrap() else { panic!("incremental") };
    assert_eq!(received, diffs);
    assert_eq!(zone_text(&apply(&versions[0], &received).unwrap()), zone_text(&versions[2]));
}

#[test]
fn rfc1995_4_the_soa_alone_says_up_to_date_and_axfr_form_is_a_whole_zone() {
    let current = zone(5, "");
    let alone = messages(current.clone(), Some(vec![crate::auth::diff::apex_soa(&current).unwrap()]), 9);
    assert!(matches!(receive(&alone, 9, 5), Ok(Received::UpToDate)));
    let whole = messages(zone(6, "x A 192.0.2.7\n"), None, 9);
    let Ok(Received::Full(received)) = receive(&whole, 9, 5) else { panic!("AXFR form") };
    assert_eq!(received.serial(), Some(6));
}

#[test]
fn rfc1995_4_differences_out_of_sequence_are_refused() {
    let (one, two, three) = (zone(1, ""), zone(2, "a A 192.0.2.1\n"), zone(3, "a A 192.0.2.2\n"));
    let change = diff(&two, &three).unwrap();
    // The primary answers from 2 while we are at 1.
    let records = ixfr_records(&change);
    let error = receive(&messages(three.clone(), Some(records), 3), 3, 1).unwrap_err();
    assert!(error.0.contains("start at serial 2, ours is 1"), "{error}");
    // A difference that goes back.
    let back = diff(&two, &one).unwrap();
    let mut records = ixfr_records(&back);
    let last = records.len() - 1;
    records[0] = back.new_soa.clone();
    records[last] = back.new_soa.clone();
    assert!(receive(&messages(one, Some(records), 4), 4, 2).unwrap_err().0.contains("not up"));
    let _ = History::new();
}

#[test]
fn rfc1995_3_the_query_carries_our_soa() {
    let ours = zone(42, "");
    let query = ixfr_query(&origin(), 0x1234, &crate::auth::diff::apex_soa(&ours).unwrap());
    let message = Message::parse(&query).unwrap();
    assert_eq!(message.question().unwrap().qtype, Rtype::IXFR);
    assert_eq!(crate::auth::transfer::soa_serial_in(&message, Section::Authority, &origin()), Some(42));
}

/// A zone digested by ldns-signzone 1.8 (`ldns-signzone -Z -z 1:1 -z 1:2`): owner and rdata
/// names in mixed case, a delegation with glue.
const ZONEMD_ZONE: &str = "example.\t300\tIN\tSOA\tns.example. host.example. 2024010101 3600 900 604800 60
example.\t300\tIN\tNS\tns.example.
example.\t300\tIN\tZONEMD\t2024010101 1 1 68a8ce14945042b88d4f8a32cf02b4c3c986da49b2c3fc7b9031c4a18d85ad07077b67c39557e29c1a150e9339616723
example.\t300\tIN\tZONEMD\t2024010101 1 2 c5e6bf58ebd88a5f3d4b375622ceaede2f6a3fab1b1c7bd54cc10cf74ca94886f4d515f1347b58617b488dddbbb21361c533dc2ef22ab322da0e00ec51b6b349
mail.example.\t300\tIN\tMX\t10 Mail.Example.
ns.example.\t300\tIN\tA\t192.0.2.53
sub.example.\t300\tIN\tNS\tns.sub.example.
ns.sub.example.\t300\tIN\tA\t192.0.2.9
www.example.\t300\tIN\tA\t192.0.2.1
WWW.example.\t300\tIN\tAAAA\t2001:db8::1
";

#[test]
fn rfc8976_4_a_zone_digest_made_by_ldns_verifies_and_a_changed_zone_does_not() {
    use crate::auth::zonemd::{check, ZonemdCheck};
    let good = load_zone_text(&origin(), ZONEMD_ZONE, "zonemd", &NoIncludes).unwrap();
    assert_eq!(check(&good), ZonemdCheck::Verified);
    let sha512_only = ZONEMD_ZONE.lines().filter(|line| !line.contains(" 1 1 ")).collect::<Vec<_>>().join("\n");
    assert_eq!(check(&load_zone_text(&origin(), &sha512_only, "zonemd", &NoIncludes).unwrap()), ZonemdCheck::Verified);
    let changed = ZONEMD_ZONE.replace("192.0.2.1", "192.0.2.99");
    assert!(matches!(check(&load_zone_text(&origin(), &changed, "zonemd", &NoIncludes).unwrap()), ZonemdCheck::Mismatch(_)));
    assert_eq!(check(&zone(1, "")), ZonemdCheck::Absent);
}
