//! TSIG (RFC 8945) against real clients and a real secondary: `dig -y` and `kdig -y` verify
//! our signed answers and signed transfers (every message of a multi-message AXFR); a wrong
//! secret is BADSIG and an unknown key BADKEY, as Knot answers them; a transfer ACL that names
//! the key (`key NAME`) lets only signed requests transfer; Knot, as a secondary with the key,
//! transfers the zone.

use std::time::Duration;

use crate::peers::{self, require, run_tool, ServerProcess};
use crate::transfers::{dig_axfr, primary_with, records};
use crate::zones;

const KEY: &str = "xfr.key.";
const SECRET: &str = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=";
const TOOL_TIMEOUT: Duration = Duration::from_secs(30);

/// The key as `dig -y` and `kdig -y` take it.
fn key_arg(secret: &str) -> String {
    format!("hmac-sha256:{KEY}:{secret}")
}

/// portcullis serving `gen.test.` and `example.test.`, with the key, transfers allowed to it.
fn signed_primary() -> ServerProcess {
    let extra = format!("[acl]\ntransfer = [\"key {KEY}\"]\n\n[[key]]\nname = \"{KEY}\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n");
    primary_with(&[zones::example_test(), zones::generated()], &extra)
}

/// Knot serving the same zones with the same key (transfers open to loopback).
fn knot(binary: &std::path::Path) -> ServerProcess {
    peers::knot_with_key(binary, &[zones::example_test(), zones::generated()], (KEY, "hmac-sha256", SECRET)).unwrap_or_else(|e| panic!("{e}"))
}

fn ask(tool: &std::path::Path, server: &ServerProcess, key: &str, extra: &[&str]) -> String {
    let mut args = vec![format!("@{}", server.addr.ip()), "-p".into(), server.addr.port().to_string(), "-y".into(), key.into()];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args.extend(["www.example.test.".to_owned(), "A".to_owned()]);
    run_tool(tool, &args, TOOL_TIMEOUT)
}

/// No client printed a verification failure.
fn verified(output: &str) -> bool {
    !["could not be validated", "Couldn't verify", "failed to verify", "WARNING: reply verification"].iter().any(|words| output.contains(words))
}

#[test]
fn dig_and_kdig_verify_signed_answers_and_errors_match_knot() {
    let test = "dig_and_kdig_verify_signed_answers_and_errors_match_knot";
    let Some(tools) = require(test, &["dig", "kdig", "knotd"]) else { return };
    let ours = signed_primary();
    let theirs = knot(&tools[2]);
    let good = key_arg(SECRET);
    let wrong = key_arg("d3JvbmcgZW50aXJlbHkgd3Jvbmcgc2VjcmV0Lg==");
    for (name, server) in [("portcullis", &ours), ("knot", &theirs)] {
        for transport in ["+notcp", "+tcp"] {
            let dig = ask(&tools[0], server, &good, &["+norec", transport]);
            assert!(dig.contains("status: NOERROR") && dig.contains("192.0.2.") && verified(&dig), "{name} dig {transport}:\n{dig}");
            assert!(dig.contains("TSIG PSEUDOSECTION") && dig.contains(" NOERROR 0"), "{name}: a signed answer\n{dig}");
            let kdig = ask(&tools[1], server, &good, &["+norec", transport]);
            assert!(kdig.contains("status: NOERROR") && verified(&kdig), "{name} kdig {transport}:\n{kdig}");
            // A wrong secret: NOTAUTH, BADSIG, unsigned (RFC 8945 §5.2.2).
            let bad = ask(&tools[0], server, &wrong, &["+norec", transport]);
            assert!(bad.contains("status: NOTAUTH") && bad.contains(" BADSIG "), "{name} BADSIG {transport}:\n{bad}");
        }
    }
}

#[test]
fn signed_transfers_verify_and_the_key_acl_refuses_unsigned_ones() {
    let test = "signed_transfers_verify_and_the_key_acl_refuses_unsigned_ones";
    let Some(tools) = require(test, &["dig", "kdig"]) else { return };
    let ours = signed_primary();
    let zone = zones::generated();
    let key = key_arg(SECRET);
    let signed = dig_axfr(&tools[0], ours.addr, &zone.origin, &["-y", &key]);
    assert!(verified(&signed), "every message of the transfer verifies:\n{}", &signed[signed.len().saturating_sub(2000)..]);
    let lines = records(&signed);
    assert!(lines.len() > 6000, "{} records", lines.len());
    let kdig = run_tool(
        &tools[1],
        &[format!("@{}", ours.addr.ip()), "-p".into(), ours.addr.port().to_string(), "-y".into(), key.clone(), zone.origin.clone(), "AXFR".into()],
        TOOL_TIMEOUT,
    );
    assert!(verified(&kdig) && kdig.contains("messages"), "kdig verifies the transfer:\n{}", &kdig[kdig.len().saturating_sub(2000)..]);
    // Without the key: refused.
    let unsigned = dig_axfr(&tools[0], ours.addr, &zone.origin, &[]);
    assert!(records(&unsigned).is_empty(), "an unsigned transfer must be refused:\n{unsigned}");
    println!("signed AXFR of {}: {} records, every message verified by dig and kdig", zone.origin, lines.len());
}

#[test]
fn knot_as_a_secondary_transfers_with_the_key() {
    let test = "knot_as_a_secondary_transfers_with_the_key";
    let Some(tools) = require(test, &["dig", "knotd"]) else { return };
    let ours = signed_primary();
    let zone = zones::generated();
    let secondary =
        peers::knot_secondary(&tools[1], &zone.origin, ours.addr, Some((KEY, "hmac-sha256", SECRET))).unwrap_or_else(|e| panic!("{e}\n{}", ours.logs()));
    let key = key_arg(SECRET);
    let mine = records(&dig_axfr(&tools[0], ours.addr, &zone.origin, &["-y", &key]));
    let theirs = records(&dig_axfr(&tools[0], secondary.addr, &zone.origin, &[]));
    assert_eq!(theirs, mine, "the secondary's zone differs from the primary's\n{}", secondary.logs());
}
