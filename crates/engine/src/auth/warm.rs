//! Fetching a batch's zone data ahead of answering it.
//!
//! Answering a name costs two reads that usually miss every CPU cache: the table slot, then the
//! node's line in the arena (`zone.rs`). One query at a time, each miss is waited for in turn.
//! [`warm`] takes a whole batch of received queries and does those reads in three passes (hash
//! every name, read every slot, read every arena line), so that the misses of one pass are in
//! flight together. It only reads: a query it cannot read (compressed or malformed name, no
//! zone) is skipped, and answering it later is unchanged.

use super::zone::Zone;
use super::zones::ZoneSet;

/// Most queries warmed together.
pub const WARM_BATCH: usize = 64;

/// Reads ahead the zone data the answers to `queries` (raw DNS messages; the first
/// [`WARM_BATCH`]) will read. Returns how many queries it read ahead for.
pub fn warm<'q>(zones: &ZoneSet, queries: impl Iterator<Item = &'q [u8]>) -> usize {
    let mut picked: [(Option<&Zone>, usize); WARM_BATCH] = [(None, 0); WARM_BATCH];
    let mut count = 0;
    for bytes in queries.take(WARM_BATCH) {
        let Some(name) = question_name(bytes) else { continue };
        let Some(zone) = zones.closest_wire(name) else { continue };
        picked[count] = (Some(zone), zone.home_slot(name));
        count += 1;
    }
    let mut starts = [0u32; WARM_BATCH];
    for (start, (zone, slot)) in starts.iter_mut().zip(&picked[..count]) {
        *start = zone.map_or(0, |zone| zone.slot_start(*slot));
    }
    let mut sum = 0u8;
    for (start, (zone, _)) in starts.iter().zip(&picked[..count]) {
        sum ^= zone.map_or(0, |zone| zone.arena_byte(*start));
    }
    // The reads are the point: keep them.
    std::hint::black_box(sum);
    count
}

/// The uncompressed question name of a query, if it has one.
fn question_name(bytes: &[u8]) -> Option<&[u8]> {
    portcullis_wire::name::uncompressed_at(bytes, portcullis_wire::header::HEADER_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::zone::RecordData;
    use portcullis_wire::{Class, NameBuf, Rtype};
    use proptest::prelude::*;
    use std::sync::Arc;

    fn query(name: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        bytes.extend_from_slice(name);
        bytes.extend_from_slice(&[0, 1, 0, 1]);
        bytes
    }

    fn zones() -> ZoneSet {
        let origin = NameBuf::from_text("example.", None).unwrap();
        let owner = NameBuf::from_text("www.example.", None).unwrap();
        let zone = Zone::build(&origin, Class::IN, [RecordData { owner: &owner, rtype: Rtype::A, ttl: 60, rdata: &[192, 0, 2, 1] }]);
        ZoneSet::new(vec![Arc::new(zone)])
    }

    #[test]
    fn the_question_name_is_read_only_when_plain_and_whole() {
        let name = b"\x03WWW\x07example\x00";
        assert_eq!(question_name(&query(name)), Some(&name[..]));
        assert_eq!(question_name(&query(b"\x00")), Some(&b"\x00"[..]));
        assert_eq!(question_name(&query(b"\xc0\x0c")), None, "compressed");
        assert_eq!(question_name(&query(b"\x03WWW\x07exa")), None, "cut short");
        assert_eq!(question_name(&[0; 12]), None, "no question");
        let long: Vec<u8> = std::iter::repeat_n([63].into_iter().chain([b'a'; 63]), 5).flatten().chain([0]).collect();
        assert_eq!(question_name(&query(&long)), None, "longer than 255 bytes");
    }

    #[test]
    fn warming_reads_the_zone_of_a_question_and_skips_the_rest() {
        let set = zones();
        let queries = [query(b"\x03www\x07example\x00"), query(b"\x03WWW\x07EXAMPLE\x00"), query(b"\x03www\x05other\x00"), vec![1, 2, 3]];
        let www = set.closest_wire(b"\x03WwW\x07ExAmple\x00").unwrap();
        assert_eq!(www.origin().to_string(), "example.");
        assert!(set.closest_wire(b"\x03www\x05other\x00").is_none());
        assert!(set.closest_wire(b"\x07example").is_none(), "shorter than the origin");
        assert!(set.closest_wire(b"\x09a\x07example\x00").is_none(), "the origin's bytes inside one label");
        assert_eq!(warm(&set, queries.iter().map(Vec::as_slice)), 2, "both cases of www; neither other. nor the stub");
        assert_eq!(warm(&set, std::iter::repeat_n(&queries[0][..], 3 * WARM_BATCH)), WARM_BATCH);
    }

    proptest! {
        #[test]
        fn warming_any_bytes_never_panics(batch in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..80)) {
            prop_assert!(warm(&zones(), batch.iter().map(Vec::as_slice)) <= batch.len());
        }
    }
}
