//! The body of the `rpz` fuzz target (`fuzz/fuzz_targets/rpz.rs`), here so that `cargo test`
//! replays its seed corpus (`crates/engine/tests/fuzz_corpus.rs`). The input is text: parsed as
//! a hosts list, as a domains list, and loaded as a policy zone `rpz.fuzz.` (its trigger parser
//! and action decoder), which then settles queries for names taken from the input's words. It
//! must never panic.

use super::{Blocklist, Facts, ListFormat, PolicyOverride, Rpz, RpzCounters, ZoneSettings};
use crate::auth::ZoneSet;
use crate::load::load_zone_text;
use crate::zonefile::NoIncludes;
use portcullis_wire::NameBuf;
use std::sync::Arc;

/// The zone head put before the input, so that it loads as a zone.
const HEAD: &str = "$TTL 60\n@ SOA localhost. root.localhost. 1 3600 600 86400 60\n@ NS localhost.\n";

/// Runs one input.
pub fn policy(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for format in [ListFormat::Hosts, ListFormat::Domains] {
        let parsed = Blocklist::parse(text, format, [9; 16]);
        for word in text.split_whitespace().take(16) {
            if let Ok(name) = NameBuf::from_text(&format!("{}.", word.trim_end_matches('.')), None) {
                let _ = parsed.list.blocks(name.to_lowercase().as_wire());
            }
        }
    }
    let Ok(origin) = NameBuf::from_text("rpz.fuzz.", None) else { return };
    let Ok(zone) = load_zone_text(&origin, &format!("{HEAD}{text}"), "fuzz.rpz", &NoIncludes) else { return };
    let served = ZoneSet::new(vec![Arc::new(zone)]);
    let settings = ZoneSettings { origin, policy: PolicyOverride::Given, log: true };
    let rpz = Rpz::new(vec![settings], Vec::new(), &served, Arc::new(RpzCounters::default()));
    let addresses = ["192.0.2.1".parse(), "2001:db8::1".parse(), "127.0.0.1".parse()].into_iter().flatten().collect::<Vec<std::net::IpAddr>>();
    for word in text.split_whitespace().take(16) {
        let Ok(name) = NameBuf::from_text(&format!("{}.", word.trim_end_matches('.')), None) else { continue };
        for &client in &addresses {
            let _ = rpz.check_query(client, &name);
            let facts = Facts { addresses: addresses.clone(), ns_names: vec![name], ns_addresses: addresses.clone() };
            let _ = rpz.check_answer(client, &name, &facts);
        }
    }
    let _ = rpz.counters.drain_events();
    let _ = rpz.counters.drain_warnings();
}
