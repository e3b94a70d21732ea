//! What an operator sees of validation: `portcullis query --json` (flags and Extended DNS
//! Errors) and a SIGHUP that changes the trust anchor.

use super::hierarchy::resolvers::Process;
use super::{dig, ds, keygen, DO};
use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

/// `query --json`: the flags show AD (secure, DO=1) and CD (`--cd`), and a bogus answer's EDE
/// is in `ede` with its code and text.
pub fn check_json(client: &dyn Fn(&[&str]) -> std::process::Output) -> Vec<String> {
    let parse = |args: &[&str]| -> serde_json::Value {
        let output = client(args);
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("query {args:?}: no JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)))
    };
    let has_flag = |value: &serde_json::Value, flag: &str| value["flags"].as_array().is_some_and(|flags| flags.iter().any(|f| f == flag));
    let mut failures = Vec::new();
    let secure = parse(&["www.secure.test.", "A", "--dnssec", "--json"]);
    if !has_flag(&secure, "ad") || secure["ede"].as_array().is_none_or(|ede| !ede.is_empty()) {
        failures.push(format!("query --json --dnssec www.secure.test.: expected the ad flag and no EDE: {secure}"));
    }
    let bogus = parse(&["www.bogus.test.", "A", "--json"]);
    if bogus["rcode"] != "SERVFAIL" || bogus["ede"][0]["code"] != 6 || bogus["ede"][0]["text"].as_str().is_none_or(|text| !text.contains("www.bogus.test")) {
        failures.push(format!("query --json www.bogus.test.: expected SERVFAIL with EDE 6 naming the RRset: {bogus}"));
    }
    let cd = parse(&["www.bogus.test.", "A", "--cd", "--json"]);
    if cd["rcode"] != "NOERROR" || !has_flag(&cd, "cd") || has_flag(&cd, "ad") {
        failures.push(format!("query --json --cd www.bogus.test.: expected NOERROR with cd and without ad: {cd}"));
    }
    failures
}

/// SIGHUP with the anchor file naming another root key: the cache is emptied (keys and the
/// security of cached answers), so answers validated from the old anchor are not served as
/// secure; the root's DNSKEY RRset no longer matches the anchor, every signed answer is bogus.
pub fn reload_with_another_anchor(dir: &Path, anchor: &Path, portcullis: &Process, dig_path: &Path, listen: SocketAddr) {
    let before = dig(dig_path, listen, "test.", "SOA", DO);
    assert!(before.status == "NOERROR" && before.ad, "test. SOA before the reload: expected NOERROR with AD\n{}", before.text);
    let other = keygen(&dir.join("keys"), ".", true);
    fs::write(anchor, ds(".", &other)).unwrap();
    let status = Command::new("kill").args(["-HUP", &portcullis.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !portcullis.stderr().contains("the cache is emptied") {
        assert!(std::time::Instant::now() < deadline, "no reload with changed anchors in the log\n{}", portcullis.logs());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let after = dig(dig_path, listen, "test.", "SOA", DO);
    assert!(
        after.status == "SERVFAIL" && !after.ad && after.ede.is_some(),
        "test. SOA after the anchor changed: expected SERVFAIL with an EDE, not the cached secure answer\n{}",
        after.text
    );
}
