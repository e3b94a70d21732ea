//! Trust anchors (RFC 4033 §2, RFC 7958): the built-in IANA root anchors, KSK-2017 and KSK-2024
//! as DS records, and anchors read from zone-file text (DS or DNSKEY records with owner, TTL and
//! class, as Unbound's `trust-anchor-file`); and negative trust anchors (RFC 7646).

use crate::zonefile::{parse_zone_text, NoIncludes};
use portcullis_wire::{NameBuf, Rtype};

/// The DS of the root's KSK-2017 (key tag 20326, RSASHA256, SHA-256; IANA root-anchors.xml).
const ROOT_KSK_2017: &str = ". 86400 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D";

/// The DS of the root's KSK-2024 (key tag 38696, RSASHA256, SHA-256; IANA root-anchors.xml).
const ROOT_KSK_2024: &str = ". 86400 IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16";

/// The trust placed in one zone's keys: its DS rdatas and DNSKEY rdatas trusted as they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anchor {
    /// The zone.
    pub zone: NameBuf,
    /// DS rdatas (key tag, algorithm, digest type, digest).
    pub ds: Vec<Vec<u8>>,
    /// DNSKEY rdatas.
    pub dnskeys: Vec<Vec<u8>>,
}

/// The built-in root anchors.
pub fn builtin_root() -> Vec<Anchor> {
    let text = format!("{ROOT_KSK_2017}\n{ROOT_KSK_2024}\n");
    parse_anchors(&text, "built-in root anchor").unwrap_or_default()
}

/// Reads anchors from zone-file text (`$ORIGIN`, comments and the usual shorthands allowed, the
/// TTL optional):
/// every DS and DNSKEY record, grouped by owner. Other types are an error, and so is a file
/// with no anchor.
pub fn parse_anchors(text: &str, label: &str) -> Result<Vec<Anchor>, String> {
    // Records may come without a TTL (as `dnssec ds` prints them); a default is put before the
    // text on its own line, so that error messages count that line too.
    let text = format!("$TTL 3600\n{text}");
    let records = parse_zone_text(&NameBuf::ROOT, &text, label, &NoIncludes).map_err(|error| error.to_string())?;
    let mut anchors: Vec<Anchor> = Vec::new();
    for record in records {
        let zone = record.owner.to_lowercase();
        let index = match anchors.iter().position(|anchor| anchor.zone == zone) {
            Some(index) => index,
            None => {
                anchors.push(Anchor { zone, ds: Vec::new(), dnskeys: Vec::new() });
                anchors.len() - 1
            }
        };
        match record.rtype {
            Rtype::DS => anchors[index].ds.push(record.rdata),
            Rtype::DNSKEY => anchors[index].dnskeys.push(record.rdata),
            other => return Err(format!("{label}: {} {}: a trust anchor is a DS or DNSKEY record", record.owner, super::verify::type_text(other))),
        }
    }
    if anchors.is_empty() {
        return Err(format!("{label}: no DS or DNSKEY record"));
    }
    Ok(anchors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_root_anchors_are_the_two_iana_ksks() {
        let anchors = builtin_root();
        assert_eq!(anchors.len(), 1);
        assert!(anchors[0].zone.is_root());
        let tags: Vec<u16> = anchors[0].ds.iter().map(|ds| u16::from_be_bytes([ds[0], ds[1]])).collect();
        assert_eq!(tags, [20326, 38696]);
        assert!(anchors[0].ds.iter().all(|ds| ds[2] == 8 && ds[3] == 2 && ds.len() == 36));
    }

    #[test]
    fn anchors_are_read_from_zone_file_text_and_other_types_refused() {
        let text = "example. 3600 IN DS 6224 13 2 79120CA22E585593836A1F7F261ED6295627C77A79120CA22E585593836A1F7F\n\
                    test. IN DNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=\n";
        let anchors = parse_anchors(text, "t").unwrap();
        assert_eq!(anchors.len(), 2);
        assert_eq!((anchors[0].ds.len(), anchors[1].dnskeys.len()), (1, 1));
        assert!(parse_anchors("example. IN A 192.0.2.1\n", "t").unwrap_err().contains("DS or DNSKEY"));
        assert!(parse_anchors("; nothing\n", "t").is_err());
    }
}
