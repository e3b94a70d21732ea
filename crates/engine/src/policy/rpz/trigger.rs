//! Response policy zone triggers (BIND 9.18 ARM "Response Policy Zones"): what an owner name of
//! a policy zone, relative to the zone's origin, says it matches. `name` and `*.name` are QNAME
//! triggers; names ending in `rpz-client-ip`, `rpz-ip` and `rpz-nsip` are address prefixes in
//! the reversed form `prefix-length.B4.B3.B2.B1` (IPv4) or `prefix-length.W8.....W1` (IPv6, 16-bit
//! words in hex, one run of zero words written `zz`); names ending in `rpz-nsdname` are name
//! server names (`*.` for the names below).

use crate::base::Prefix;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The kinds of trigger, in the order BIND checks them within one policy zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TriggerKind {
    /// `rpz-client-ip`: the client's address.
    ClientIp,
    /// The query name (or a name below a wildcard).
    Qname,
    /// `rpz-ip`: an address (A/AAAA) in the answer.
    Ip,
    /// `rpz-nsdname`: the name of an authoritative server of the query name's zone.
    NsDname,
    /// `rpz-nsip`: an address of such a server.
    NsIp,
}

impl TriggerKind {
    /// Every kind, in precedence order.
    pub const ALL: [Self; 5] = [Self::ClientIp, Self::Qname, Self::Ip, Self::NsDname, Self::NsIp];

    /// The label of the log line and the counters: `client-ip`, `qname`, `ip`, `nsdname`, `nsip`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ClientIp => "client-ip",
            Self::Qname => "qname",
            Self::Ip => "ip",
            Self::NsDname => "nsdname",
            Self::NsIp => "nsip",
        }
    }

    /// The label a policy zone's owner names end in for this kind (none for QNAME).
    pub const fn suffix(self) -> Option<&'static [u8]> {
        match self {
            Self::ClientIp => Some(b"rpz-client-ip"),
            Self::Qname => None,
            Self::Ip => Some(b"rpz-ip"),
            Self::NsDname => Some(b"rpz-nsdname"),
            Self::NsIp => Some(b"rpz-nsip"),
        }
    }
}

/// An owner name's trigger, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// A QNAME or NSDNAME trigger (the name itself is looked up in the zone).
    Name(TriggerKind),
    /// An address prefix trigger of `kind` (client IP, answer IP, NS IP).
    Address(TriggerKind, Prefix),
}

/// Why an owner name is not a valid trigger (the zone keeps loading; the name is ignored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TriggerError(pub String);

impl std::fmt::Display for TriggerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The trigger of an owner name given as its labels relative to the policy zone's origin, in
/// name order (`["32", "1", "2", "0", "192", "rpz-ip"]`).
pub fn parse(labels: &[&[u8]]) -> Result<Trigger, TriggerError> {
    let Some((last, rest)) = labels.split_last() else { return Err(TriggerError("the zone apex is no trigger".into())) };
    let kind = TriggerKind::ALL.into_iter().find(|kind| kind.suffix().is_some_and(|suffix| last.eq_ignore_ascii_case(suffix)));
    match kind {
        None => Ok(Trigger::Name(TriggerKind::Qname)),
        Some(TriggerKind::NsDname) if rest.is_empty() => Err(TriggerError("rpz-nsdname needs a name before it".into())),
        Some(TriggerKind::NsDname) => Ok(Trigger::Name(TriggerKind::NsDname)),
        Some(kind) => address(rest).map(|prefix| Trigger::Address(kind, prefix)),
    }
}

/// `prefix-length.reversed-address` as a prefix; the address must have no bits set beyond the
/// prefix length (BIND refuses those too).
pub fn address(labels: &[&[u8]]) -> Result<Prefix, TriggerError> {
    let Some((len_label, words)) = labels.split_first() else { return Err(TriggerError("an address trigger needs a prefix length and an address".into())) };
    let len = decimal(len_label).filter(|&len| len <= 128).ok_or_else(|| TriggerError(format!("'{}' is not a prefix length", text(len_label))))?;
    let is_v4 = words.len() == 4 && words.iter().all(|w| decimal(w).is_some());
    let addr = if is_v4 { v4(words)? } else { v6(words)? };
    let max = if is_v4 { 32 } else { 128 };
    if len == 0 || len > max {
        return Err(TriggerError(format!("prefix length {len} is outside 1..={max}")));
    }
    let len = u8::try_from(len).unwrap_or(u8::MAX);
    let prefix = Prefix::covering(addr, len);
    if prefix.addr() != addr {
        return Err(TriggerError(format!("{addr}/{len} has bits set beyond its prefix length (the network is {})", prefix.addr())));
    }
    Ok(prefix)
}

fn v4(words: &[&[u8]]) -> Result<IpAddr, TriggerError> {
    let mut octets = [0u8; 4];
    for (slot, word) in octets.iter_mut().rev().zip(words) {
        *slot = decimal(word).and_then(|v| u8::try_from(v).ok()).ok_or_else(|| TriggerError(format!("'{}' is not an IPv4 octet", text(word))))?;
    }
    Ok(IpAddr::V4(Ipv4Addr::from(octets)))
}

/// Up to eight 16-bit hex words, last word first, with at most one `zz` for a run of zeros.
fn v6(words: &[&[u8]]) -> Result<IpAddr, TriggerError> {
    let runs = words.iter().filter(|w| w.eq_ignore_ascii_case(b"zz")).count();
    let expected = if runs == 0 { 8 } else { 7 };
    if runs > 1 || words.len() > expected || (runs == 0 && words.len() != 8) {
        return Err(TriggerError(format!("'{}' is not a reversed IPv4 address (4 octets) or IPv6 address (8 words, or fewer with one zz)", join(words))));
    }
    let mut value = [0u16; 8];
    let mut at = 0usize; // Position from the end (word 7 is written first).
    for word in words {
        if word.eq_ignore_ascii_case(b"zz") {
            at += 8 - (words.len() - 1);
            continue;
        }
        let parsed = std::str::from_utf8(word).ok().filter(|w| !w.is_empty() && w.len() <= 4).and_then(|w| u16::from_str_radix(w, 16).ok());
        let parsed = parsed.ok_or_else(|| TriggerError(format!("'{}' is not a 16-bit hex word", text(word))))?;
        let slot = value.get_mut(7usize.wrapping_sub(at)).ok_or_else(|| TriggerError("too many IPv6 words".into()))?;
        *slot = parsed;
        at += 1;
    }
    Ok(IpAddr::V6(Ipv6Addr::from(value)))
}

/// A decimal label of at most 3 digits, no leading `+`.
fn decimal(label: &[u8]) -> Option<u32> {
    if label.is_empty() || label.len() > 3 || !label.iter().all(u8::is_ascii_digit) {
        return None;
    }
    label.iter().try_fold(0u32, |acc, &d| acc.checked_mul(10)?.checked_add(u32::from(d - b'0')))
}

fn text(label: &[u8]) -> String {
    String::from_utf8_lossy(label).into_owned()
}

fn join(labels: &[&[u8]]) -> String {
    labels.iter().map(|l| text(l)).collect::<Vec<_>>().join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(text: &str) -> Vec<&[u8]> {
        text.split('.').map(str::as_bytes).collect()
    }

    fn prefix(text: &str) -> Prefix {
        let (addr, len) = text.split_once('/').unwrap();
        Prefix::new(addr.parse().unwrap(), len.parse().unwrap()).unwrap()
    }

    #[test]
    fn address_triggers_parse_as_bind_writes_them() {
        assert_eq!(parse(&labels("32.1.2.0.192.rpz-ip")), Ok(Trigger::Address(TriggerKind::Ip, prefix("192.0.2.1/32"))));
        assert_eq!(parse(&labels("24.0.2.0.192.rpz-client-ip")), Ok(Trigger::Address(TriggerKind::ClientIp, prefix("192.0.2.0/24"))));
        assert_eq!(parse(&labels("128.1.zz.2.db8.2001.rpz-nsip")), Ok(Trigger::Address(TriggerKind::NsIp, prefix("2001:db8:2::1/128"))));
        assert_eq!(parse(&labels("48.zz.2.db8.2001.rpz-ip")), Ok(Trigger::Address(TriggerKind::Ip, prefix("2001:db8:2::/48"))));
        assert_eq!(parse(&labels("128.1.0.0.0.0.0.db8.2001.RPZ-IP")), Ok(Trigger::Address(TriggerKind::Ip, prefix("2001:db8::1/128"))));
        assert_eq!(parse(&labels("ns.evil.example.rpz-nsdname")), Ok(Trigger::Name(TriggerKind::NsDname)));
        assert_eq!(parse(&labels("*.bad.example")), Ok(Trigger::Name(TriggerKind::Qname)));
    }

    #[test]
    fn bad_address_triggers_say_why() {
        for (owner, start) in [
            ("33.1.2.0.192.rpz-ip", "prefix length 33"),
            ("24.1.2.0.192.rpz-ip", "192.0.2.1/24 has bits set"),
            ("x.1.2.0.192.rpz-ip", "'x' is not a prefix length"),
            ("32.1.2.0.999.rpz-ip", "'999' is not an IPv4 octet"),
            ("128.zz.zz.1.rpz-ip", "'zz.zz.1' is not"),
            ("128.1.2.3.4.5.6.7.8.9.rpz-ip", "'1.2.3.4.5.6.7.8.9' is not"),
            ("128.12345.zz.rpz-ip", "'12345' is not a 16-bit"),
            ("rpz-ip", "an address trigger needs"),
            ("rpz-nsdname", "rpz-nsdname needs"),
            ("0.0.0.0.0.rpz-client-ip", "prefix length 0"),
        ] {
            let error = parse(&labels(owner)).unwrap_err();
            assert!(error.0.starts_with(start), "{owner}: {error}");
        }
    }

    /// The owner labels of `prefix` as BIND writes them (IPv6: the longest run of two or more
    /// zero words as `zz`).
    fn owner(prefix: Prefix) -> String {
        match prefix.addr() {
            IpAddr::V4(v4) => {
                let [a, b, c, d] = v4.octets();
                format!("{}.{d}.{c}.{b}.{a}", prefix.len())
            }
            IpAddr::V6(v6) => {
                let words = v6.segments();
                let mut best = (0, 0); // (start, length)
                let mut at = 0;
                while at < 8 {
                    let run = words[at..].iter().take_while(|&&w| w == 0).count();
                    if run > best.1 {
                        best = (at, run);
                    }
                    at += run.max(1);
                }
                let mut labels: Vec<String> = Vec::new();
                let mut index = 0;
                while index < 8 {
                    if best.1 >= 2 && index == best.0 {
                        labels.push("zz".into());
                        index += best.1;
                    } else {
                        labels.push(format!("{:x}", words[index]));
                        index += 1;
                    }
                }
                labels.reverse();
                format!("{}.{}", prefix.len(), labels.join("."))
            }
        }
    }

    #[test]
    fn random_prefixes_round_trip_through_the_owner_form() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..5000 {
            let v6 = next() % 2 == 0;
            let (addr, max) = if v6 {
                // Sparse words, so that runs of zeros (and zz) are common.
                let words: [u16; 8] = std::array::from_fn(|_| if next() % 3 == 0 { next() as u16 } else { 0 });
                (IpAddr::V6(Ipv6Addr::from(words)), 128)
            } else {
                (IpAddr::V4(Ipv4Addr::from(next() as u32)), 32)
            };
            let len = 1 + (next() % max) as u8;
            let prefix = Prefix::covering(addr, len);
            let text = owner(prefix);
            if prefix.addr().is_ipv6() && text.split('.').count() == 5 && !text.contains("zz") {
                continue; // Four decimal-looking words read as IPv4 (BIND's rule); never written so.
            }
            let labels: Vec<&[u8]> = text.split('.').map(str::as_bytes).chain([&b"rpz-ip"[..]]).collect();
            assert_eq!(parse(&labels), Ok(Trigger::Address(TriggerKind::Ip, prefix)), "{text}");
        }
    }

    #[test]
    fn no_label_sequence_panics() {
        // A bounded exhaustive walk over short label sequences from a hostile alphabet.
        let alphabet: [&[u8]; 8] = [b"zz", b"0", b"128", b"ffff", b"rpz-ip", b"32", b"", b"\xff"];
        for a in alphabet {
            for b in alphabet {
                for c in alphabet {
                    for d in alphabet {
                        let _ = parse(&[a, b, c, d]);
                        let _ = parse(&[a, b, c, d, b"rpz-nsip"]);
                    }
                }
            }
        }
    }
}
