//! A zone written back as zone-file text (RFC 1035 §5): one record per line, absolute names,
//! the SOA first. What a secondary keeps on disk so that a restart serves its last copy.

use super::zone::Zone;
use portcullis_wire::rdata::rdata_to_text;
use portcullis_wire::Rtype;
use std::fmt::Write;

/// The text of `zone`: `OWNER TTL CLASS TYPE RDATA` lines, the apex SOA first.
pub fn zone_text(zone: &Zone) -> String {
    let mut out = String::new();
    let class = zone.class();
    let line = |owner: &str, ttl: u32, rtype: Rtype, rdata: &[u8], out: &mut String| {
        let _ = write!(out, "{owner}\t{ttl}\t{class}\t{rtype}\t");
        let _ = rdata_to_text(rtype, rdata, out);
        out.push('\n');
    };
    let origin = zone.origin().to_string();
    if let Some(soa) = zone.soa() {
        line(&origin, soa.ttl, Rtype::SOA, zone.first_rdata(&soa), &mut out);
    }
    // The name tree, then the NSEC3 table (a signed zone's NSEC3 records and their RRSIGs).
    for (index, (part, node)) in zone.all_nodes().enumerate() {
        let owner = part.node_name(node).to_string();
        for rrset in part.rrsets(node) {
            if index == 0 && rrset.rtype == Rtype::SOA {
                continue;
            }
            for rdata in part.rdatas(&rrset) {
                line(&owner, rrset.ttl, rrset.rtype, rdata, &mut out);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::load_zone_text;
    use crate::zonefile::NoIncludes;
    use portcullis_wire::NameBuf;

    #[test]
    fn a_zone_written_as_text_loads_back_the_same() {
        let origin = NameBuf::from_text("example.", None).unwrap();
        let text = "$ORIGIN example.\n$TTL 300\n@ SOA ns host 7 3600 900 604800 60\n@ NS ns\nns A 192.0.2.53\n\
                    www A 192.0.2.1\nwww A 192.0.2.2\nwww AAAA 2001:db8::1\ntxt TXT \"a b\" \"c\"\n*.wild MX 10 mail\n\
                    sub NS ns.sub\nns.sub A 192.0.2.9\nalias CNAME www\nweird TYPE65280 \\# 3 010203\n";
        let zone = load_zone_text(&origin, text, "example.zone", &NoIncludes).unwrap();
        let written = zone_text(&zone);
        assert!(written.starts_with("example.\t300\tIN\tSOA\t"), "{written}");
        let again = load_zone_text(&origin, &written, "written.zone", &NoIncludes).unwrap();
        assert_eq!(zone_text(&again), written, "a second round trip changes nothing");
        assert_eq!(again.node_count(), zone.node_count());
        assert_eq!(written.lines().count(), 12, "every record once");
    }
}
