//! TSIG (RFC 8945) against real clients and a real secondary: `dig -y` and `kdig -y` verify
//! our signed answers and signed transfers (every message of a multi-message AXFR); a wrong
//! secret is BADSIG and an unknown key BADKEY, as Knot answers them; a transfer ACL that names
//! the key (`key NAME`) lets only signed requests transfer; Knot, as a secondary with the key,
//! transfers the zone. Hardening (issue 12): a signed request sent twice is refused the second
//! time (replay cache, BADTIME), `dig`'s truncated MACs get BADTRUNC unless the key's
//! `min-mac-length` allows them, and `check-config` rejects a secret shorter than the digest.

use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::Command;
use std::time::Duration;

use portcullis_engine::policy::tsig::Algorithm;
use portcullis_engine::policy::tsig_client::sign_request;
use portcullis_engine::policy::TsigKey;
use portcullis_wire::message::Message;
use portcullis_wire::rdata::decode_base64;
use portcullis_wire::tsig::{error, Tsig};
use portcullis_wire::{NameBuf, Rtype};

use crate::client::{read_framed, Query};
use crate::peers::{self, require, run_tool, temp_dir, ServerProcess};
use crate::portcullis::BINARY;
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
    signed_primary_with("")
}

/// [`signed_primary`] with more settings of the `[[key]]`.
fn signed_primary_with(key_settings: &str) -> ServerProcess {
    let extra = format!("[acl]\ntransfer = [\"key {KEY}\"]\n\n[[key]]\nname = \"{KEY}\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n{key_settings}");
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

/// `www.example.test. A` signed with the key at the current time, as a client signs it.
fn signed_query(id: u16) -> Vec<u8> {
    let mut secret = Vec::new();
    decode_base64(SECRET, &mut secret).unwrap_or_else(|e| panic!("{e}"));
    let key = TsigKey::new(&NameBuf::from_text(KEY, None).unwrap_or_else(|e| panic!("{e}")), Algorithm::HmacSha256, &secret);
    let mut bytes = Query::new("www.example.test.", Rtype::A).to_wire(id).unwrap_or_else(|e| panic!("{e}"));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    sign_request(&key, &mut bytes, now);
    bytes
}

/// (rcode, TSIG error) of a reply; the TSIG error is `None` when the reply is unsigned.
fn rcode_and_tsig_error(reply: &[u8]) -> (u8, Option<u16>) {
    let message = Message::parse(reply).unwrap_or_else(|e| panic!("reply does not parse: {e}"));
    let error = message.tsig_offset().map(|offset| Tsig::parse(reply, offset).unwrap_or_else(|e| panic!("{e}")).error);
    (reply[3] & 0x0F, error)
}

fn udp_exchange(server: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap_or_else(|e| panic!("{e}"));
    socket.send_to(bytes, server).unwrap_or_else(|e| panic!("{e}"));
    let mut buf = vec![0u8; 65_535];
    let len = socket.recv(&mut buf).unwrap_or_else(|e| panic!("no reply: {e}"));
    buf.truncate(len);
    buf
}

fn tcp_exchange(server: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut stream = TcpStream::connect(server).unwrap_or_else(|e| panic!("{e}"));
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap_or_else(|e| panic!("{e}"));
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(bytes);
    stream.write_all(&framed).unwrap_or_else(|e| panic!("{e}"));
    read_framed(&mut stream).unwrap_or_else(|e| panic!("{e}"))
}

/// SECURITY-REFERENCE row 49: the same signed request seen twice within its window is refused
/// the second time, from any address and over either transport (NOTAUTH, signed BADTIME); a
/// newly signed request is answered.
#[test]
fn a_replayed_signed_request_is_refused_with_badtime() {
    let server = signed_primary();
    let request = signed_query(0x5151);
    assert_eq!(rcode_and_tsig_error(&udp_exchange(server.addr, &request)), (0, Some(0)), "first sight: answered, signed");
    assert_eq!(rcode_and_tsig_error(&udp_exchange(server.addr, &request)), (9, Some(error::BADTIME)), "the same bytes again over UDP");
    assert_eq!(rcode_and_tsig_error(&tcp_exchange(server.addr, &request)), (9, Some(error::BADTIME)), "and over TCP");
    assert_eq!(rcode_and_tsig_error(&udp_exchange(server.addr, &signed_query(0x5252))), (0, Some(0)), "a new request is answered");
}

/// RFC 8945 §5.2.2.1: `dig -y hmac-sha256-128:...` sends a 16-octet MAC, which the RFC allows
/// but the key's local minimum (the whole digest by default) does not: NOTAUTH with BADTRUNC,
/// signed. With `min-mac-length = 16` the same request is answered.
#[test]
fn dig_with_a_truncated_mac_gets_badtrunc_unless_the_key_allows_it() {
    let Some(tools) = require("dig_with_a_truncated_mac_gets_badtrunc_unless_the_key_allows_it", &["dig"]) else { return };
    let truncated = format!("hmac-sha256-128:{KEY}:{SECRET}");
    let strict = signed_primary();
    let refused = ask(&tools[0], &strict, &truncated, &["+norec"]);
    assert!(refused.contains("status: NOTAUTH") && refused.contains("BADTRUNC"), "{refused}\n{}", strict.logs());
    let lenient = signed_primary_with("min-mac-length = 16\n");
    let answered = ask(&tools[0], &lenient, &truncated, &["+norec"]);
    assert!(answered.contains("status: NOERROR") && answered.contains("192.0.2.") && verified(&answered), "{answered}");
}

/// `check-config` rejects a secret shorter than the algorithm's digest, naming the key.
#[test]
fn check_config_rejects_a_secret_shorter_than_the_digest() {
    let dir = temp_dir("short-secret");
    let config = dir.join("portcullis.toml");
    let text = "[server]\nlisten = [\"127.0.0.1:5353\"]\n\n[[key]]\nname = \"weak.key.\"\nalgorithm = \"hmac-sha512\"\nsecret = \"c2VjcmV0c2VjcmV0\"\n";
    std::fs::write(&config, text).unwrap_or_else(|e| panic!("{e}"));
    let output = Command::new(BINARY).arg("check-config").arg(&config).env_remove("RUST_LOG").output().unwrap_or_else(|e| panic!("{e}"));
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{printed}");
    assert!(printed.contains("key weak.key. has 12 octets of secret; hmac-sha512 needs at least 64"), "{printed}");
}
