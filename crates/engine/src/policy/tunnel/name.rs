//! A query name split at its registered domain, found with the Public Suffix List (the `psl`
//! crate: Mozilla's list compiled in, no I/O, no allocation): `data.t.example.co.uk` is the
//! subdomain `data.t` under the registered domain `example.co.uk`. The tunnelling detector keeps
//! its accounts per registered domain because that is what a tunnel's operator controls: every
//! name below it reaches the operator's server, whatever the labels hold.

use psl::{List, Psl};

/// Labels a name holds at most (255 octets of wire form, each label at least two).
const MAX_LABELS: usize = 128;

/// How every name one label below a parent splits, when the Public Suffix List's walk for one of
/// them ended before its leftmost label ([`Labels::split_with_parent`]): a rule of the list that
/// takes in the leftmost label (`s3.amazonaws.com`, a wildcard's exception `!www.ck`) makes the
/// walk look at it, and then no parent split is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParentSplit {
    /// Offset of the registered domain in the parent (the name without its leftmost label).
    pub registered: u8,
    /// Subdomain labels of the names below the parent (the leftmost included).
    pub sub_labels: u8,
}

/// A lower-case wire name split at its registered domain, borrowed: two offsets, no copy of
/// the name (the detector's path; [`SplitName`] keeps a lower-cased copy).
#[derive(Clone, Copy)]
pub struct Labels<'a> {
    wire: &'a [u8],
    /// Offset of the registered domain's first length octet.
    registered: usize,
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
        Self::split_with_parent(wire).map(|(name, _)| name)
    }

    /// [`split`](Self::split), with the split every name one label below `wire`'s parent has
    /// (the same labels but the leftmost) when it is sure to be this one's ([`ParentSplit`]).
    #[inline]
    pub fn split_with_parent(wire: &'a [u8]) -> Option<(Self, Option<ParentSplit>)> {
        let wire = &wire[..wire.len().min(255)];
        // Label starts, leftmost first: only for the list's right-to-left walk.
        let mut starts = [0u8; MAX_LABELS];
        let mut labels = 0usize;
        let mut at = 0usize;
        while at < wire.len() && wire[at] != 0 && labels < MAX_LABELS {
            starts[labels] = at as u8;
            labels += 1;
            at += 1 + usize::from(wire[at]);
        }
        let label = |index: usize| label_at(wire, usize::from(starts[index]));
        // The list sees the labels through `from_fn` (no size hint), one at a time: what it
        // answers depends on the labels it pulled and on nothing else.
        let mut pulled = 0usize;
        let mut next = labels;
        let suffix = List
            .find(std::iter::from_fn(|| {
                next = next.checked_sub(1)?;
                pulled += 1;
                Some(label(next))
            }))
            .len;
        // How many rightmost labels make up a suffix of `suffix` text octets (labels and dots).
        let mut covered = 0usize;
        let suffix_labels = (0..labels).rev().enumerate().find_map(|(count, index)| {
            covered += label(index).len() + usize::from(count > 0);
            (covered >= suffix).then_some(count + 1)
        });
        let suffix_labels = suffix_labels.filter(|&suffix_labels| suffix_labels < labels)?;
        let sub_labels = labels - suffix_labels - 1;
        let name = Self { wire, registered: usize::from(starts[sub_labels]), sub_labels };
        // The list never looked at the leftmost label, and the registered domain lies below it:
        // any other leftmost label gives the same answer, so the same registered domain.
        let parent =
            (sub_labels > 0 && pulled < labels).then(|| ParentSplit { registered: (name.registered - starts[1] as usize) as u8, sub_labels: sub_labels as u8 });
        Some((name, parent))
    }

    /// The split of `wire` from its parent's ([`split_with_parent`](Self::split_with_parent)
    /// of a name with the same parent); `None` when `wire` is too short for it.
    #[inline]
    pub fn from_parent(wire: &'a [u8], parent: ParentSplit) -> Option<Self> {
        let wire = &wire[..wire.len().min(255)];
        let registered = 1 + usize::from(*wire.first()?) + usize::from(parent.registered);
        (registered < wire.len()).then_some(Self { wire, registered, sub_labels: usize::from(parent.sub_labels) })
    }

    /// Label `index` (0 is the leftmost).
    pub fn label(&self, index: usize) -> &'a [u8] {
        self.labels_from(0).nth(index).unwrap_or_default()
    }

    /// The subdomain's labels, leftmost first.
    pub fn subdomain(&self) -> impl Iterator<Item = &'a [u8]> {
        self.labels_from(0).take(self.sub_labels)
    }

    /// Labels of the subdomain, leftmost first (none for the registered domain itself).
    pub fn subdomain_labels(&self) -> usize {
        self.sub_labels
    }

    /// The subdomain's labels in wire form (no root label; empty for none).
    pub fn subdomain_wire(&self) -> &'a [u8] {
        &self.wire[..self.registered]
    }

    /// The registered domain in wire form (root label included).
    pub fn registered_wire(&self) -> &'a [u8] {
        &self.wire[self.registered..]
    }

    /// The registered domain as text with its final dot (`example.co.uk.`), for alerts.
    pub fn registered_text(&self) -> String {
        let mut text = String::new();
        for label in self.labels_from(self.registered) {
            for &byte in label {
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

    /// The labels from offset `at` to the root (excluded), leftmost first.
    fn labels_from(&self, mut at: usize) -> impl Iterator<Item = &'a [u8]> {
        let wire = self.wire;
        std::iter::from_fn(move || {
            let len = usize::from(*wire.get(at).filter(|&&len| len != 0)?);
            let label = label_at(wire, at);
            at += 1 + len;
            Some(label)
        })
    }
}

/// The label whose length octet is at `at` (empty when the name is cut short).
#[inline]
fn label_at(wire: &[u8], at: usize) -> &[u8] {
    let len = wire.get(at).map_or(0, |&len| usize::from(len));
    wire.get(at + 1..at + 1 + len).unwrap_or_default()
}

/// A query name, lower-cased into a copy, split at its registered domain ([`Labels`] over the
/// copy, computed once): for callers that keep the split apart from the query (the shadowing
/// detector).
pub struct SplitName {
    wire: [u8; 255],
    len: usize,
    registered: usize,
    sub_labels: usize,
}

impl SplitName {
    /// Splits the uncompressed wire name `wire` (root label included, any case); `None` when it
    /// has no registered domain.
    pub fn new(wire: &[u8]) -> Option<Self> {
        let len = wire.len().min(255);
        let mut name = Self { wire: [0; 255], len, registered: 0, sub_labels: 0 };
        for (to, from) in name.wire.iter_mut().zip(&wire[..len]) {
            *to = from.to_ascii_lowercase();
        }
        let split = Labels::split(&name.wire[..len])?;
        (name.registered, name.sub_labels) = (split.registered, split.sub_labels);
        Some(name)
    }

    /// The split, borrowed.
    fn labels(&self) -> Labels<'_> {
        Labels { wire: &self.wire[..self.len], registered: self.registered, sub_labels: self.sub_labels }
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
    use super::{Labels, SplitName};
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

    fn wire(text: &str) -> Vec<u8> {
        NameBuf::from_text(text, None).expect("name").as_wire().to_vec()
    }

    /// The split a memo would give `name` from its parent's, as `(registered text, subdomain labels)`.
    fn from_parent_of(memo_from: &str, name: &str) -> Option<(String, usize)> {
        let from = wire(memo_from);
        let (_, split) = Labels::split_with_parent(&from)?;
        let name = wire(name);
        Labels::from_parent(&name, split?).map(|labels| (labels.registered_text(), labels.subdomain_labels()))
    }

    fn direct(name: &str) -> Option<(String, usize)> {
        let name = wire(name);
        Labels::split(&name).map(|labels| (labels.registered_text(), labels.subdomain_labels()))
    }

    /// Parents whose children the list treats alike, and parents below which it has rules of
    /// its own (private and wildcard entries): a parent split is given for the first only, and
    /// where given it is what splitting the child gives.
    #[test]
    fn a_parent_split_is_given_only_where_every_child_splits_alike() {
        // `s3.amazonaws.com` is a public suffix (a private entry) while `www.amazonaws.com` is a
        // registered domain's host: the list looks at the leftmost label, no parent split.
        assert_eq!(direct("www.amazonaws.com."), Some(("amazonaws.com.".into(), 1)));
        assert_eq!(direct("s3.amazonaws.com."), None);
        assert_eq!(from_parent_of("www.amazonaws.com.", "s3.amazonaws.com."), None);
        // `*.ck` with the exception `!www.ck`: `www.ck` is registered, any other `x.ck` a suffix.
        assert_eq!(direct("www.ck."), Some(("www.ck.".into(), 0)));
        assert_eq!(direct("foo.ck."), None);
        assert_eq!(from_parent_of("x.www.ck.", "y.www.ck."), Some(("www.ck.".into(), 1)));
        assert_eq!(from_parent_of("a.foo.ck.", "www.foo.ck."), None, "a name that is its registered domain gives none");
        assert_eq!(from_parent_of("b.a.foo.ck.", "www.a.foo.ck."), Some(("a.foo.ck.".into(), 1)));
        // `github.io` and `blogspot.com` are private suffixes: their children are registered.
        assert_eq!(from_parent_of("a.x.github.io.", "www.x.github.io."), Some(("x.github.io.".into(), 1)));
        assert_eq!(from_parent_of("a.b.x.blogspot.com.", "c.b.x.blogspot.com."), Some(("x.blogspot.com.".into(), 2)));
        assert_eq!(from_parent_of("www.example.co.uk.", "mail.example.co.uk."), Some(("example.co.uk.".into(), 1)));
        assert_eq!(from_parent_of("www.printer.lan.", "nas.printer.lan."), Some(("printer.lan.".into(), 1)));
        // Exhaustively over parents with entries below them and labels those entries use.
        let parents = [
            "amazonaws.com.",
            "s3.amazonaws.com.",
            "us-east-1.amazonaws.com.",
            "compute.amazonaws.com.",
            "elasticbeanstalk.com.",
            "github.io.",
            "x.github.io.",
            "blogspot.com.",
            "x.blogspot.com.",
            "ck.",
            "www.ck.",
            "foo.ck.",
            "a.foo.ck.",
            "kawasaki.jp.",
            "city.kawasaki.jp.",
            "x.kawasaki.jp.",
            "co.uk.",
            "example.co.uk.",
            "example.com.",
            "com.",
            "appspot.com.",
            "herokuapp.com.",
            "lan.",
            "printer.lan.",
            "corp.internal.",
            "in-addr.arpa.",
            "127.in-addr.arpa.",
        ];
        let labels = ["www", "a", "s3", "github", "blogspot", "city", "foo", "compute", "us-east-1", "eu-west-1", "dualstack", "x", "co", "ck", "web", "1"];
        let mut given = 0;
        for parent in parents {
            for first in labels {
                let from = format!("{first}.{parent}");
                for other in labels {
                    let name = format!("{other}.{parent}");
                    if let Some(split) = from_parent_of(&from, &name) {
                        given += 1;
                        assert_eq!(Some(split), direct(&name), "{name} from {from}");
                    }
                }
            }
        }
        assert!(given > 1000, "{given} parent splits checked");
    }
}
