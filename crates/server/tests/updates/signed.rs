//! A zone signed by policy takes updates: the new record is served with its RRSIG, only the
//! changed RRsets (and the SOA, and the denial chain around the new name) are signed again, and
//! the zone as transferred passes `ldns-verify-zone`.

use crate::peers::{require, run_tool};
use crate::support::{lookup, send_tcp, serial, signed_add, start_primary};
use portcullis_wire::Rtype;
use std::time::Duration;

#[test]
fn an_update_of_a_signed_zone_is_signed_again() {
    let Some(tools) = require("an_update_of_a_signed_zone_is_signed_again", &["dig", "ldns-verify-zone"]) else { return };
    let (server, state) = start_primary("dnssec-policy = \"default\"\n");
    let addr = server.addr;
    let before = serial(addr);
    assert!(
        !lookup(addr, "www.dyn.test.", Rtype::RRSIG).1.is_empty() || dnssec_answer(&tools[0], addr, "www.dyn.test.").contains("RRSIG"),
        "the zone is signed"
    );
    assert_eq!(send_tcp(addr, &signed_add(7, "signed-new.dyn.test.", 77)), Some(0), "{}", server.stderr());
    assert_eq!(lookup(addr, "signed-new.dyn.test.", Rtype::A).1, [vec![192, 0, 2, 77]]);
    assert!(serial(addr) > before, "the serial went up");
    let answer = dnssec_answer(&tools[0], addr, "signed-new.dyn.test.");
    assert!(answer.lines().any(|line| line.contains("RRSIG\tA ")), "the new record is signed:\n{answer}");
    // The whole zone, transferred, verifies.
    let axfr = run_tool(
        &tools[0],
        &[format!("@{}", addr.ip()), "-p".into(), addr.port().to_string(), "dyn.test.".into(), "AXFR".into(), "+nocmd".into(), "+nostats".into()],
        Duration::from_secs(30),
    );
    let file = state.0.join("axfr.zone");
    let soa_once: Vec<&str> = {
        let mut seen = false;
        axfr.lines()
            .filter(|line| !line.starts_with(';') && !line.trim().is_empty())
            .filter(|line| !(line.contains("\tSOA\t") && std::mem::replace(&mut seen, true)))
            .collect()
    };
    std::fs::write(&file, soa_once.join("\n") + "\n").unwrap_or_else(|e| panic!("{e}"));
    let verified = std::process::Command::new(&tools[1]).arg(&file).output().unwrap_or_else(|e| panic!("{e}"));
    assert!(verified.status.success(), "ldns-verify-zone: {}{}\n{axfr}", String::from_utf8_lossy(&verified.stdout), String::from_utf8_lossy(&verified.stderr));
    // The zone file holds the change, unsigned (a restart signs it again from there).
    let text = std::fs::read_to_string(state.0.join("dyn.test.zone")).unwrap_or_default();
    assert!(text.contains("signed-new.dyn.test.") && !text.contains("RRSIG"), "{text}");
}

fn dnssec_answer(dig: &std::path::Path, addr: std::net::SocketAddr, name: &str) -> String {
    run_tool(
        dig,
        &[format!("@{}", addr.ip()), "-p".into(), addr.port().to_string(), "+dnssec".into(), "+norec".into(), name.into(), "A".into()],
        Duration::from_secs(30),
    )
}
