//! The writer's compression table (RFC 1035 §4.1.4): the offsets of the labels already written.
//! Finding the longest known suffix of a name first checks the length and first and last octets
//! (ASCII case folded) of the label at each entry, which rejects nearly every entry in a few
//! instructions, and compares whole names only when those agree; the choice (the longest suffix,
//! the earliest entry holding it) is the one a full comparison with every entry makes.
//!
//! An inline array (the writer is moved by value: it stays small); nothing here allocates.

/// Label offsets remembered for compression.
pub(crate) const ENTRIES: usize = 96;

/// Offsets of names in the message.
#[derive(Clone)]
pub(crate) struct Table {
    offsets: [u16; ENTRIES],
    len: usize,
}

impl Table {
    /// An empty table.
    pub(crate) const fn new() -> Self {
        Self { offsets: [0; ENTRIES], len: 0 }
    }

    /// Entries so far (a rollback point).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Forgets the entries after the first `len`.
    pub(crate) fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// The length of `wire`'s literal prefix and the pointer target of its longest suffix already
    /// in `message` (the earliest entry holding it); `(wire.len(), None)` when there is none.
    /// `wire` is a checked uncompressed name.
    pub(crate) fn find(&self, message: &[u8], wire: &[u8]) -> (usize, Option<u16>) {
        let offsets = &self.offsets[..self.len];
        let mut start = 0;
        while start + 1 < wire.len() {
            let suffix = &wire[start..];
            let label_len = usize::from(suffix[0]);
            let (first, last) = (suffix.get(1).map_or(0, |b| b | 0x20), suffix.get(label_len).map_or(0, |b| b | 0x20));
            for &offset in offsets {
                let at = usize::from(offset);
                // Entries are label starts, never pointers: the length octet, then the label.
                let same_head = message
                    .get(at..at + 1 + label_len)
                    .is_some_and(|label| label[0] == suffix[0] && label.get(1).map_or(0, |b| b | 0x20) == first && label[label_len] | 0x20 == last);
                if same_head && name_at_equals(message, at, suffix) {
                    return (start, Some(offset));
                }
            }
            start += 1 + usize::from(wire[start]);
        }
        (wire.len(), None)
    }

    /// Remembers the labels of a name written at `at` whose first `literal_len` octets (`wire`'s
    /// labels) were written out (the rest, if any, is a pointer); stops when the table is full or
    /// the offsets leave pointer range.
    pub(crate) fn remember(&mut self, at: usize, wire: &[u8], literal_len: usize) {
        let mut offset = 0;
        while offset < literal_len && self.len < ENTRIES {
            let Ok(position) = u16::try_from(at + offset) else { return };
            if position >= 0x4000 {
                return;
            }
            self.offsets[self.len] = position;
            self.len += 1;
            offset += 1 + usize::from(wire[offset]);
        }
    }
}

/// The length of the uncompressed name at `start` of `data`, when it is one (labels of up to 63
/// octets inside `data`, at most 255 octets in all, ending in the root label).
pub(crate) fn uncompressed_len(data: &[u8], start: usize) -> Option<usize> {
    let mut pos = start;
    loop {
        let len = usize::from(*data.get(pos)?);
        if len & 0xC0 != 0 || pos + 1 + len > data.len() || pos + 1 + len - start > crate::name::MAX_NAME_LEN {
            return None;
        }
        pos += 1 + len;
        if len == 0 {
            return Some(pos - start);
        }
    }
}

/// Case-insensitive comparison of the (possibly compressed) name at `at` of `message` with the
/// uncompressed `suffix`: each run of labels up to a pointer is compared in one piece (length
/// octets included: they are below 0x40, so they only match themselves, and the label
/// boundaries of the two agree).
fn name_at_equals(message: &[u8], mut at: usize, suffix: &[u8]) -> bool {
    let mut index = 0;
    for _ in 0..255 {
        let run_start = at;
        let mut ended = false;
        while let Some(&len) = message.get(at) {
            if len & 0xC0 == 0xC0 {
                break;
            }
            at += 1 + usize::from(len);
            if len == 0 {
                ended = true;
                break;
            }
        }
        let (Some(mine), Some(theirs)) = (message.get(run_start..at), suffix.get(index..index + (at - run_start))) else { return false };
        // Most names are written in one case: an exact comparison settles them.
        if mine != theirs && !mine.eq_ignore_ascii_case(theirs) {
            return false;
        }
        index += mine.len();
        if ended {
            return true;
        }
        let (Some(&high), Some(&low)) = (message.get(at), message.get(at + 1)) else { return false };
        at = (usize::from(high & 0x3F) << 8) | usize::from(low);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_earliest_entry_of_the_longest_suffix_and_forgets_on_truncate() {
        let mut message = vec![0u8; 12];
        let first = b"\x03WWW\x07Example\x03ORG\x00";
        message.extend_from_slice(first);
        let mut table = Table::new();
        table.remember(12, first, first.len() - 1);
        assert_eq!(table.len(), 3);
        assert_eq!(table.find(&message, b"\x04mail\x07example\x03org\x00"), (5, Some(16)));
        assert_eq!(table.find(&message, b"\x03www\x07example\x03org\x00"), (0, Some(12)));
        assert_eq!(table.find(&message, b"\x03net\x00"), (5, None));
        table.truncate(1);
        assert_eq!(table.find(&message, b"\x04mail\x07example\x03org\x00"), (18, None));
        assert_eq!(table.find(&message, b"\x03www\x07example\x03org\x00"), (0, Some(12)));
    }

    #[test]
    fn uncompressed_len_checks_layout() {
        assert_eq!(uncompressed_len(b"\x00\x0a\x01a\x00", 2), Some(3));
        assert_eq!(uncompressed_len(b"\x01a", 0), None);
        assert_eq!(uncompressed_len(b"\xc0\x0c", 0), None);
    }

    /// The plain search the table must agree with: every suffix, longest first, against every
    /// entry in order, by full comparison.
    fn reference(table: &Table, message: &[u8], wire: &[u8]) -> (usize, Option<u16>) {
        let mut start = 0;
        while start + 1 < wire.len() {
            if let Some(&entry) = table.offsets[..table.len].iter().find(|&&at| name_at_equals(message, usize::from(at), &wire[start..])) {
                return (start, Some(entry));
            }
            start += 1 + usize::from(wire[start]);
        }
        (wire.len(), None)
    }

    proptest::proptest! {
        #[test]
        fn find_agrees_with_a_plain_search(names in proptest::collection::vec(proptest::collection::vec("[a-cA-C]{1,3}", 0..4), 1..40)) {
            let mut message = vec![0u8; 12];
            let mut table = Table::new();
            for labels in names {
                let mut wire = Vec::new();
                for label in &labels {
                    wire.push(label.len() as u8);
                    wire.extend_from_slice(label.as_bytes());
                }
                wire.push(0);
                let found = table.find(&message, &wire);
                proptest::prop_assert_eq!(found, reference(&table, &message, &wire));
                let at = message.len();
                message.extend_from_slice(&wire[..found.0]);
                if let Some(target) = found.1 {
                    message.extend_from_slice(&(0xC000 | target).to_be_bytes());
                }
                table.remember(at, &wire, found.0.min(wire.len() - 1));
            }
        }
    }
}
