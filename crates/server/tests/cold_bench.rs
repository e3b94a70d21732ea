//! Smoke test of the cold-cache resolver benchmark (`bench/cold`, issue 19): a tiny hierarchy
//! (40 zones on NSD and Knot, the slow proxy and the lame servers), a few hundred questions per
//! workload, this build's portcullis against Unbound, PowerDNS Recursor and Knot Resolver. It
//! checks that the script runs to the end, prints the side-by-side table with a row per
//! resolver and workload, and that the resolvers' answers to the sample questions agree. No
//! timing is asserted: the figures of a debug build on a shared machine mean nothing.
//!
//! Needs root (the benchmark runs in a private network namespace and serves on port 53 of
//! 127.10.x.y), python3, dnsperf, NSD, Knot and the three peers; skipped otherwise (failed under
//! CI=true).

use std::path::{Path, PathBuf};
use std::process::Command;

const TOOLS: [&str; 10] = ["python3", "dnsperf", "nsd", "nsd-control", "knotd", "knotc", "unbound", "pdns_recursor", "kresd", "timeout"];
const RESOLVERS: [&str; 4] = ["portcullis", "unbound", "pdns-recursor", "kresd"];

/// An executable on PATH, or in the sbin directories Debian installs daemons into.
fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = ["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from);
    std::env::split_paths(&path).chain(extra).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
}

/// `None` (after saying why) when the test cannot run here; panics under `CI=true`.
fn can_run() -> Option<()> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let missing: Vec<&str> = TOOLS.iter().copied().filter(|tool| find_binary(tool).is_none()).collect();
    let is_root = Command::new("id").arg("-u").output().is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
    let why = if !missing.is_empty() {
        format!("missing {} (apt-get install python3 dnsperf nsd knot unbound pdns-recursor knot-resolver)", missing.join(", "))
    } else if !is_root {
        "needs root (a private network namespace, port 53 on 127.10.x.y)".to_string()
    } else {
        return Some(());
    };
    assert!(!ci, "CI=true and cold_bench_smoke: {why}");
    println!("SKIPPED cold_bench_smoke: {why}");
    None
}

#[test]
fn cold_bench_smoke() {
    if can_run().is_none() {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/cold");
    let results = std::env::temp_dir().join(format!("portcullis-cold-smoke-{}", std::process::id()));
    let output = Command::new("timeout")
        .arg("600")
        .arg("python3")
        .arg(&script)
        .args(["-z", "40", "-m", "400", "-x", "1000", "-L", "1", "-Q", "200,500", "-d", "60", "--timeout", "3"])
        .arg("-o")
        .arg(&results)
        .env("PORTCULLIS_BIN", env!("CARGO_BIN_EXE_portcullis"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let context = format!("results (logs, dnsperf outputs) in {}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}", results.display());
    assert!(output.status.success(), "bench/cold failed ({})\n{context}", output.status);
    assert!(stdout.contains("| resolver | workload |"), "no table\n{context}");
    for resolver in RESOLVERS {
        for workload in ["miss", "mix"] {
            let row = format!("| {resolver} | {workload} | ");
            let line = stdout.lines().find(|line| line.starts_with(&row));
            assert!(line.is_some_and(|line| !line.contains("failed")), "no result row {row}\n{context}");
        }
    }
    assert!(stdout.contains("answers agree"), "the resolvers' sample answers differ\n{context}");
    let _ = std::fs::remove_dir_all(&results);
}
