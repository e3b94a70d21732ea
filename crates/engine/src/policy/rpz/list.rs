//! Blocklists (issue 16 item 3): a hosts file (`0.0.0.0 name` / `127.0.0.1 name` lines: each
//! name blocks itself) or a domain list (one name per line: it blocks itself and every name
//! below it). A list of a million names is kept as two sorted vectors of 64-bit keyed hashes of
//! the lower-cased wire names (8 octets a name, binary search: one probe a label of the query
//! name), so loading is one pass, a sort and no per-name allocation. Two names whose SipHash
//! collide under the list's secret key would block each other: with 2^20 names the chance per
//! lookup is about 2^-44.
//!
//! Parsing never fails: a bad line is skipped with a warning naming its line number.

use crate::base::hash::keyed_hash;
use portcullis_wire::NameBuf;

/// The format of a list file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListFormat {
    /// `ADDRESS NAME [NAME...]` lines (`/etc/hosts` form); each name blocks only itself.
    Hosts,
    /// One name per line; it blocks itself and its subdomains (a leading `*.` is allowed).
    Domains,
}

/// A bad line of a list: its number (from 1) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListWarning {
    /// The line number, from 1.
    pub line: usize,
    /// Why the line (or one name on it) was skipped.
    pub why: String,
}

impl std::fmt::Display for ListWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.why)
    }
}

/// At most this many warnings are kept per list (the rest are only counted).
pub const MAX_WARNINGS: usize = 20;

/// A parsed list: the hashes of its names.
#[derive(Clone, Debug, Default)]
pub struct Blocklist {
    key: [u8; 16],
    /// Names blocked alone (hosts format), sorted.
    exact: Vec<u64>,
    /// Names blocked with their subdomains (domains format), sorted.
    subtree: Vec<u64>,
}

/// What parsing a list gave: the list, its first warnings and how many lines were bad.
#[derive(Debug)]
pub struct Parsed {
    /// The names, ready for lookups.
    pub list: Blocklist,
    /// The first [`MAX_WARNINGS`] bad lines.
    pub warnings: Vec<ListWarning>,
    /// Every bad line or name, counted.
    pub bad: usize,
}

/// Host names a hosts file maps to itself; never blocked.
const LOCAL_NAMES: [&str; 8] =
    ["localhost", "localhost.localdomain", "local", "broadcasthost", "ip6-localhost", "ip6-loopback", "ip6-localnet", "ip6-allnodes"];

impl Blocklist {
    /// Parses `text` in `format`; `key` is the secret hash key (from the server's random source).
    pub fn parse(text: &str, format: ListFormat, key: [u8; 16]) -> Parsed {
        let mut parsed = Parsed { list: Self { key, ..Self::default() }, warnings: Vec::new(), bad: 0 };
        for (index, line) in text.lines().enumerate() {
            let content = line.split('#').next().unwrap_or_default().trim();
            if content.is_empty() || content.starts_with('!') {
                continue;
            }
            match format {
                ListFormat::Hosts => parsed.hosts_line(index + 1, content),
                ListFormat::Domains => parsed.domains_line(index + 1, content),
            }
        }
        for set in [&mut parsed.list.exact, &mut parsed.list.subtree] {
            set.sort_unstable();
            set.dedup();
            set.shrink_to_fit();
        }
        parsed
    }

    /// Names in the list.
    pub fn len(&self) -> usize {
        self.exact.len() + self.subtree.len()
    }

    /// True when the list blocks nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap octets held.
    pub fn heap_bytes(&self) -> usize {
        (self.exact.capacity() + self.subtree.capacity()) * 8
    }

    /// True when the list blocks `qname` (lower-cased wire form): the name itself, or one of its
    /// ancestors listed in domains format.
    pub fn blocks(&self, lower_wire: &[u8]) -> bool {
        if self.exact.binary_search(&keyed_hash(&self.key, lower_wire)).is_ok() {
            return true;
        }
        if self.subtree.is_empty() {
            return false;
        }
        let mut at = 0usize;
        while let Some(&len) = lower_wire.get(at) {
            if len == 0 {
                break;
            }
            let suffix = lower_wire.get(at..).unwrap_or_default();
            if self.subtree.binary_search(&keyed_hash(&self.key, suffix)).is_ok() {
                return true;
            }
            at += 1 + usize::from(len);
        }
        false
    }
}

impl Parsed {
    fn warn(&mut self, line: usize, why: String) {
        self.bad += 1;
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(ListWarning { line, why });
        }
    }

    fn hosts_line(&mut self, line: usize, content: &str) {
        let mut fields = content.split_whitespace();
        let address = fields.next().unwrap_or_default();
        if address.parse::<std::net::IpAddr>().is_err() {
            self.warn(line, format!("'{}' is not an address (hosts format: ADDRESS NAME...)", shorten(address)));
            return;
        }
        let mut any = false;
        for name in fields {
            any = true;
            if LOCAL_NAMES.iter().any(|local| local.eq_ignore_ascii_case(name.trim_end_matches('.'))) {
                continue;
            }
            if let Some(hash) = self.hash(line, name) {
                self.list.exact.push(hash);
            }
        }
        if !any {
            self.warn(line, format!("'{}' names no host", shorten(content)));
        }
    }

    fn domains_line(&mut self, line: usize, content: &str) {
        let mut fields = content.split_whitespace();
        let name = fields.next().unwrap_or_default();
        if fields.next().is_some() {
            self.warn(line, format!("'{}' has more than one name (domains format: one name a line)", shorten(content)));
            return;
        }
        let name = name.strip_prefix("*.").unwrap_or(name);
        if let Some(hash) = self.hash(line, name) {
            self.list.subtree.push(hash);
        }
    }

    /// The keyed hash of `name` (text, relative names taken as absolute), lower-cased.
    fn hash(&mut self, line: usize, name: &str) -> Option<u64> {
        let mut wire = [0u8; 256];
        if let Some(len) = plain_wire(name, &mut wire) {
            return wire.get(..len).map(|wire| keyed_hash(&self.list.key, wire));
        }
        let absolute = if name.ends_with('.') { std::borrow::Cow::Borrowed(name) } else { std::borrow::Cow::Owned(format!("{name}.")) };
        match NameBuf::from_text(&absolute, None) {
            Ok(parsed) if parsed.is_root() => {
                self.warn(line, "the root name would block everything; skipped".into());
                None
            }
            Ok(parsed) if parsed.as_wire().contains(&b'*') && parsed.labels().any(|l| l == b"*") => {
                self.warn(line, format!("'{}': a wildcard label is only allowed first, as '*.'", shorten(name)));
                None
            }
            Ok(parsed) => Some(keyed_hash(&self.list.key, parsed.to_lowercase().as_wire())),
            Err(error) => {
                self.warn(line, format!("'{}' is not a domain name: {error}", shorten(name)));
                None
            }
        }
    }
}

/// The lower-cased wire form of a name of plain labels (letters, digits, `-`, `_`), written
/// into `out`: its length. `None` for anything else (escapes, `*`, empty labels, too long),
/// which the full parser then reads or reports. A list of a million names is mostly these.
fn plain_wire(name: &str, out: &mut [u8; 256]) -> Option<usize> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return None;
    }
    let mut len = 0usize;
    for label in name.split('.') {
        let plain = label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if label.is_empty() || label.len() > 63 || !plain {
            return None;
        }
        *out.get_mut(len)? = label.len() as u8;
        for (slot, byte) in out.get_mut(len + 1..len + 1 + label.len())?.iter_mut().zip(label.bytes()) {
            *slot = byte.to_ascii_lowercase();
        }
        len += 1 + label.len();
    }
    *out.get_mut(len)? = 0;
    Some(len + 1)
}

/// At most 60 characters of a line, for a warning.
fn shorten(text: &str) -> String {
    text.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(text: &str) -> Vec<u8> {
        NameBuf::from_text(text, None).unwrap().to_lowercase().as_wire().to_vec()
    }

    #[test]
    fn hosts_names_block_only_themselves() {
        let text = "# comment\n127.0.0.1 localhost\n0.0.0.0 ads.example  tracker.example. # trailing\n::1 ip6-localhost\n\n0.0.0.0 Mixed.Example\n";
        let parsed = Blocklist::parse(text, ListFormat::Hosts, [7; 16]);
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        assert_eq!(parsed.list.len(), 3);
        let list = parsed.list;
        assert!(list.blocks(&wire("ads.example.")));
        assert!(list.blocks(&wire("tracker.example.")));
        assert!(list.blocks(&wire("mixed.example.")));
        assert!(!list.blocks(&wire("sub.ads.example.")));
        assert!(!list.blocks(&wire("example.")));
        assert!(!list.blocks(&wire("localhost.")));
    }

    #[test]
    fn domains_block_their_subtree() {
        let parsed = Blocklist::parse("bad.example\n*.worse.example.\n! adblock comment\n", ListFormat::Domains, [1; 16]);
        assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
        let list = parsed.list;
        for blocked in ["bad.example.", "a.b.bad.example.", "worse.example.", "x.worse.example."] {
            assert!(list.blocks(&wire(blocked)), "{blocked}");
        }
        for passed in ["example.", "notbad.example.", "bad.example.com.", "."] {
            assert!(!list.blocks(&wire(passed)), "{passed}");
        }
    }

    #[test]
    fn bad_lines_are_warned_with_their_number() {
        let long = "a".repeat(64);
        let text = format!("0.0.0.0 ok.example\nnot-an-address bad.example\n0.0.0.0\n0.0.0.0 {long}.example\n0.0.0.0 a..b\n0.0.0.0 .\n");
        let parsed = Blocklist::parse(&text, ListFormat::Hosts, [0; 16]);
        let lines: Vec<usize> = parsed.warnings.iter().map(|w| w.line).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6], "{:?}", parsed.warnings);
        assert_eq!(parsed.list.len(), 1);
        let domains = Blocklist::parse("two names\nx.*.example\n", ListFormat::Domains, [0; 16]);
        assert_eq!(domains.warnings.iter().map(|w| w.line).collect::<Vec<_>>(), [1, 2], "{:?}", domains.warnings);
    }

    #[test]
    fn the_plain_fast_path_hashes_as_the_full_parser() {
        for name in ["Ads.Example", "a-b_c.example.", "x", &format!("{}.example", "a".repeat(63))] {
            let mut wire = [0u8; 256];
            let len = plain_wire(name, &mut wire).unwrap();
            let full = NameBuf::from_text(&format!("{}.", name.trim_end_matches('.')), None).unwrap().to_lowercase();
            assert_eq!(&wire[..len], full.as_wire(), "{name}");
        }
        for name in ["", ".", "a..b", "*.x", "a\\.b", &"a".repeat(64), &"a.".repeat(128)] {
            assert_eq!(plain_wire(name, &mut [0u8; 256]), None, "{name}");
        }
    }

    #[test]
    fn warnings_are_bounded_and_counted() {
        let text = "bad line here\n".repeat(100);
        let parsed = Blocklist::parse(&text, ListFormat::Domains, [0; 16]);
        assert_eq!((parsed.warnings.len(), parsed.bad), (MAX_WARNINGS, 100));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A deterministic walk over hostile text: control bytes, escapes, huge labels, NULs.
        let pieces = ["\\", "\\0", "\\999", "\u{0}", "*", ".", " ", "\t", "#", "0.0.0.0", "::", "é", "a", "\r\n", "\n"];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let mut text = String::new();
            for _ in 0..20 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push_str(pieces[(state % pieces.len() as u64) as usize]);
            }
            let _ = Blocklist::parse(&text, ListFormat::Hosts, [0; 16]);
            let _ = Blocklist::parse(&text, ListFormat::Domains, [0; 16]);
        }
    }
}
