//! A query name split at its registered domain, found with the Public Suffix List (the `psl`
//! crate: Mozilla's list compiled in, no I/O, no allocation): `data.t.example.co.uk` is the
//! subdomain `data.t` under the registered domain `example.co.uk`. The tunnelling detector keeps
//! its accounts per registered domain because that is what a tunnel's operator controls: every
//! name below it reaches the operator's server, whatever the labels hold.

use psl::{List, Psl};

/// Labels a name holds at most (255 octets of wire form, each label at least two).
const MAX_LABELS: usize = 128;

/// A lower-case wire name split at its registered domain, borrowed: the labels indexed on the
/// stack, no copy of the name (the detector's path; [`SplitName`] keeps a lower-cased copy).
pub struct Labels<'a> {
    wire: &'a [u8],
    /// Start offset (of the length octet) of each label, leftmost first.
    starts: [u8; MAX_LABELS],
    labels: usize,
    /// Labels that belong to the subdomain (left of the registered domain).
    sub_labels: usize,
}

impl<'a> Labels<'a> {
    /// Splits the uncompressed, lower-case wire name `wire` (root label included); `None` when
    /// it has no registered domain (the root, a public suffix itself such as `com.` or `co.uk.`).
    /// A name under a top-level domain the list does not know (`corp.internal.`, `lan.`) has
    /// that domain as its suffix (the list's default rule `*`).
    #[inline]
    pub fn split(wire: &'a [u8]) -> Option<Self> {
        let wire = &wire[..wire.len().min(255)];
        let mut name = Self { wire, starts: [0; MAX_LABELS], labels: 0, sub_labels: 0 };
        let mut at = 0usize;
        while at < wire.len() && wire[at] != 0 && name.labels < MAX_LABELS {
            name.starts[name.labels] = at as u8;
            name.labels += 1;
            at += 1 + usize::from(wire[at]);
        }
        let suffix = List.find((0..name.labels).rev().map(|index| name.label(index))).len;
        let suffix_labels = name.labels_in_suffix(suffix).filter(|&labels| labels < name.labels)?;
        name.sub_labels = name.labels - suffix_labels - 1;
        Some(name)
    }

    /// Label `index` (0 is the leftmost).
    pub fn label(&self, index: usize) -> &'a [u8] {
        let start = usize::from(self.starts[index]);
        let len = usize::from(self.wire[start]);
        self.wire.get(start + 1..start + 1 + len).unwrap_or_default()
    }

    /// Labels of the subdomain, leftmost first (none for the registered domain itself).
    pub fn subdomain_labels(&self) -> usize {
        self.sub_labels
    }

    /// The subdomain's labels in wire form (no root label; empty for none).
    pub fn subdomain_wire(&self) -> &'a [u8] {
        &self.wire[..usize::from(self.starts[self.sub_labels])]
    }

    /// The registered domain in wire form (root label included).
    pub fn registered_wire(&self) -> &'a [u8] {
        &self.wire[usize::from(self.starts[self.sub_labels])..]
    }

    /// The registered domain as text with its final dot (`example.co.uk.`), for alerts.
    pub fn registered_text(&self) -> String {
        let mut text = String::new();
        for index in self.sub_labels..self.labels {
            for &byte in self.label(index) {
                match byte {
                    b'.' | b'\\' => text.push_str(&format!("\\{}", byte as char)),
                    0x21..=0x7e => text.push(byte as char),
                    _ => text.push_str(&format!("\\{byte:03}")),
                }
            }
            text.push('.');
        }
        text
    }

    /// How many rightmost labels make up a suffix of `len` text octets (labels and dots).
    fn labels_in_suffix(&self, len: usize) -> Option<usize> {
        let mut covered = 0usize;
        for (count, index) in (0..self.labels).rev().enumerate() {
            covered += self.label(index).len() + usize::from(count > 0);
            if covered >= len {
                return Some(count + 1);
            }
        }
        None
    }
}

/// A query name, lower-cased into a copy, split at its registered domain ([`Labels`] over the
/// copy, computed once): for callers that keep the split apart from the query (the shadowing
/// detector).
pub struct SplitName {
    wire: [u8; 255],
    len: usize,
    starts: [u8; MAX_LABELS],
    labels: usize,
    sub_labels: usize,
}

impl SplitName {
    /// Splits the uncompressed wire name `wire` (root label included, any case); `None` when it
    /// has no registered domain.
    pub fn new(wire: &[u8]) -> Option<Self> {
        let len = wire.len().min(255);
        let mut name = Self { wire: [0; 255], len, starts: [0; MAX_LABELS], labels: 0, sub_labels: 0 };
        for (to, from) in name.wire.iter_mut().zip(&wire[..len]) {
            *to = from.to_ascii_lowercase();
        }
        let split = Labels::split(&name.wire[..len])?;
        (name.starts, name.labels, name.sub_labels) = (split.starts, split.labels, split.sub_labels);
        Some(name)
    }

    /// The split, borrowed.
    fn labels(&self) -> Labels<'_> {
        Labels { wire: &self.wire[..self.len], starts: self.starts, labels: self.labels, sub_labels: self.sub_labels }
    }

    /// Label `index` (0 is the leftmost), lower-cased.
    pub fn label(&self, index: usize) -> &[u8] {
        self.labels().label(index)
    }

    /// Labels of the subdomain, leftmost first (none for the registered domain itself).
    pub fn subdomain_labels(&self) -> usize {
        self.sub_labels
    }

    /// The subdomain's labels in wire form (lower-case, no root label; empty for none).
    pub fn subdomain_wire(&self) -> &[u8] {
        self.labels().subdomain_wire()
    }

    /// The registered domain in wire form (lower-case, root label included).
    pub fn registered_wire(&self) -> &[u8] {
        self.labels().registered_wire()
    }

    /// The registered domain as text with its final dot (`example.co.uk.`), for alerts.
    pub fn registered_text(&self) -> String {
        self.labels().registered_text()
    }
}

#[cfg(test)]
mod tests {
    use super::SplitName;
    use portcullis_wire::NameBuf;

    fn split(text: &str) -> Option<(String, usize)> {
        let name = NameBuf::from_text(text, None).expect("name");
        SplitName::new(name.as_wire()).map(|split| (split.registered_text(), split.subdomain_labels()))
    }

    #[test]
    fn the_registered_domain_follows_the_public_suffix_list() {
        assert_eq!(split("a.b.Example.COM."), Some(("example.com.".into(), 2)));
        assert_eq!(split("x.y.example.co.uk."), Some(("example.co.uk.".into(), 2)));
        assert_eq!(split("example.com."), Some(("example.com.".into(), 0)));
        assert_eq!(split("1.0.0.127.in-addr.arpa."), Some(("127.in-addr.arpa.".into(), 3)));
        assert_eq!(split("com."), None);
        assert_eq!(split("co.uk."), None);
        assert_eq!(split("."), None);
        // Top-level domains outside the list: the default rule `*` makes them the suffix.
        assert_eq!(split("a.b.tunnel.lan."), Some(("tunnel.lan.".into(), 2)));
        assert_eq!(split("x.corp.internal."), Some(("corp.internal.".into(), 1)));
        assert_eq!(split("lan."), None);
        let name = NameBuf::from_text("q.EXAMPLE.org.", None).expect("name");
        let split = SplitName::new(name.as_wire()).expect("split");
        assert_eq!(split.registered_wire(), b"\x07example\x03org\x00");
        assert_eq!(split.label(0), b"q");
    }
}
