use super::codec::{decode, encode, frame, read_entry, Entry};
use super::*;
use crate::auth::zone_text::zone_text;
use crate::load::load_zone_text;
use crate::zonefile::NoIncludes;
use proptest::prelude::*;

fn origin() -> NameBuf {
    NameBuf::from_text("example.", None).unwrap()
}

fn zone(serial: u32, body: &str) -> Zone {
    let text = format!("$ORIGIN example.\n$TTL 300\n@ SOA ns host {serial} 3600 900 604800 60\n@ NS ns\nns A 192.0.2.53\n{body}");
    load_zone_text(&origin(), &text, "test", &NoIncludes).unwrap()
}

#[test]
fn rfc1995_4_a_reload_s_difference_applies_back_to_the_new_version() {
    let old = zone(1, "www A 192.0.2.1\nmail A 192.0.2.2\nttl 300 TXT \"x\"\n");
    let new = zone(2, "www A 192.0.2.9\nnew AAAA 2001:db8::1\nttl 600 TXT \"x\"\n");
    let change = diff(&old, &new).unwrap();
    assert_eq!((change.old_serial(), change.new_serial()), (1, 2));
    assert_eq!(change.deleted.len(), 3, "www A, mail A, ttl TXT at 300: {change:?}");
    assert_eq!(change.added.len(), 3);
    let applied = apply(&old, &[change]).unwrap();
    assert_eq!(zone_text(&applied), zone_text(&new));
}

#[test]
fn rfc1995_4_deleting_an_absent_record_or_adding_a_present_one_is_refused() {
    let old = zone(1, "www A 192.0.2.1\n");
    let new = zone(2, "www A 192.0.2.2\n");
    let mut change = diff(&old, &new).unwrap();
    change.deleted[0].rdata = vec![198, 51, 100, 1];
    assert!(apply(&old, &[change]).unwrap_err().0.contains("does not have"));
    let mut change = diff(&old, &new).unwrap();
    change.added[0].rdata = vec![192, 0, 2, 53];
    change.added[0].owner = NameBuf::from_text("ns.example.", None).unwrap();
    assert!(apply(&old, &[change]).unwrap_err().0.contains("already has"));
}

#[test]
fn rfc1982_serials_out_of_sequence_are_refused() {
    let one = zone(1, "");
    let two = zone(2, "a A 192.0.2.1\n");
    let three = zone(3, "a A 192.0.2.2\n");
    let first = diff(&one, &two).unwrap();
    let second = diff(&two, &three).unwrap();
    assert!(apply(&two, std::slice::from_ref(&first)).unwrap_err().0.contains("start at serial 1"));
    assert!(apply(&one, &[second.clone(), first.clone()]).is_err());
    let backwards = diff(&two, &one).unwrap();
    assert!(check_sequence(&[backwards]).unwrap_err().0.contains("not up"));
    assert_eq!(zone_text(&apply(&one, &[first, second]).unwrap()), zone_text(&three));
}

#[test]
fn rfc1995_4_a_condensed_run_applies_like_the_run() {
    let versions =
        [zone(1, "a A 192.0.2.1\n"), zone(2, "a A 192.0.2.1\nb A 192.0.2.2\n"), zone(3, "a 60 A 192.0.2.1\n"), zone(4, "a A 192.0.2.1\nc A 192.0.2.3\n")];
    let diffs: Vec<ZoneDiff> = versions.windows(2).map(|pair| diff(&pair[0], &pair[1]).unwrap()).collect();
    let condensed = condense(&diffs).unwrap();
    assert_eq!(condensed.deleted.len(), 0, "{condensed:?}");
    assert_eq!(condensed.added.len(), 1);
    assert_eq!(zone_text(&apply(&versions[0], &[condensed]).unwrap()), zone_text(&versions[3]));
}

#[test]
fn a_history_answers_from_any_serial_it_reaches() {
    let versions = [zone(1, ""), zone(2, "a A 192.0.2.1\n"), zone(3, "a A 192.0.2.2\n")];
    let mut history = History::new();
    for pair in versions.windows(2) {
        history.push(&diff(&pair[0], &pair[1]).unwrap()).unwrap();
    }
    assert!(history.push(&diff(&versions[0], &versions[1]).unwrap()).is_err(), "out of sequence");
    assert_eq!(history.since(1).unwrap().unwrap().len(), 2);
    assert!(history.since(7).is_none());
    let served = versions[2].clone().with_history(history.clone());
    assert_eq!(served.history().len(), 2);
    assert!(versions[1].clone().with_history(history).history().is_empty(), "a history ending elsewhere is dropped");
}

#[test]
fn a_torn_or_damaged_entry_is_found() {
    let change = diff(&zone(1, "a A 192.0.2.1\n"), &zone(2, "")).unwrap();
    let framed = frame(&encode(&change));
    let Entry::Good(body, next) = read_entry(&framed, 0) else { panic!("a whole entry") };
    assert_eq!((decode(body).unwrap(), next), (change, framed.len()));
    for cut in 1..framed.len() {
        assert!(matches!(read_entry(&framed[..cut], 0), Entry::Torn(_)), "cut at {cut}");
    }
    let mut damaged = framed.clone();
    damaged[10] ^= 1;
    assert!(matches!(read_entry(&damaged, 0), Entry::Torn(_)));
    assert_eq!(read_entry(&framed, framed.len()), Entry::End);
}

/// The zone's records as sorted lines: the same records in any order compare equal.
fn lines(zone: &Zone) -> Vec<String> {
    let mut lines: Vec<String> = zone_text(zone).lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

fn arb_zone(serial: u32) -> impl Strategy<Value = Zone> {
    proptest::collection::vec((0u8..6, 0u8..4, prop_oneof![Just(60u32), Just(300u32)]), 0..12).prop_map(move |entries| {
        let body: String = entries.iter().map(|(name, addr, ttl)| format!("n{name} {ttl} A 192.0.2.{addr}\n")).collect();
        // Records of one RRset share a TTL in a zone: the lowest wins, as the build does.
        zone(serial, &body)
    })
}

proptest! {
    #[test]
    fn any_reload_difference_applies_and_round_trips(old in arb_zone(1), new in arb_zone(2)) {
        let change = diff(&old, &new).unwrap();
        prop_assert_eq!(decode(&encode(&change)).unwrap(), change.clone());
        prop_assert_eq!(lines(&apply(&old, &[change]).unwrap()), lines(&new));
    }

    #[test]
    fn any_run_condenses_to_the_same_result(a in arb_zone(1), b in arb_zone(2), c in arb_zone(3)) {
        let diffs = [diff(&a, &b).unwrap(), diff(&b, &c).unwrap()];
        prop_assert_eq!(lines(&apply(&a, &diffs).unwrap()), lines(&c));
    }

    #[test]
    fn decoding_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(change) = decode(&bytes) {
            prop_assert_eq!(&encode(&change), &bytes);
        }
        let _ = read_entry(&bytes, 0);
    }
}
