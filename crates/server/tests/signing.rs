//! Offline DNSSEC: `portcullis keygen`, `sign-zone` and `dnssec ds`, proven with the verifiers
//! of three other implementations: `ldns-verify-zone` (ldnsutils), `dnssec-verify` (BIND,
//! bind9-utils) and `kzonecheck -d on` (Knot, knot-dnssecutils). Every signed zone passes all
//! three, and the same zone with one A record changed fails all three. BIND's
//! `dnssec-dsfromkey` and `dnssec-signzone` read the key files to prove their format.
//!
//! Missing tools skip the tests, or fail them under `CI=true` (as in `it/peers.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BINARY: &str = env!("CARGO_BIN_EXE_portcullis");

/// A zone with a wildcard, an empty non-terminal (b.example.), a delegation with DS and glue,
/// one without DS with glue, a CNAME and a DNAME.
const ZONE: &str = include_str!("../../../testdata/zones/signing-example.zone");

/// The algorithms `keygen` offers.
const ALGORITHMS: [&str; 3] = ["ecdsap256sha256", "ed25519", "ecdsap384sha384"];

/// The denial modes of `sign-zone`.
const MODES: [&[&str]; 3] = [&[], &["--nsec3"], &["--nsec3", "--opt-out"]];

fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = ["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from);
    std::env::split_paths(&path).chain(extra).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
}

/// Resolves the named tools, or returns `None` after printing why the test is skipped; panics
/// under `CI=true`.
fn require(test: &str, tools: &[&str]) -> Option<Vec<PathBuf>> {
    let found: Vec<Option<PathBuf>> = tools.iter().map(|t| find_binary(t)).collect();
    let missing: Vec<&str> = tools.iter().zip(&found).filter(|(_, f)| f.is_none()).map(|(t, _)| *t).collect();
    if missing.is_empty() {
        return Some(found.into_iter().flatten().collect());
    }
    let message = format!("{test}: missing {} (install: apt-get install ldnsutils bind9-utils knot-dnssecutils)", missing.join(", "));
    assert!(!std::env::var("CI").is_ok_and(|v| v == "true"), "CI=true and {message}");
    println!("SKIPPED {message}");
    None
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("portcullis-signing-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// Runs portcullis with `args`; panics unless it succeeds; returns its standard output.
fn portcullis(args: &[&str]) -> String {
    let output = Command::new(BINARY).args(args).output().unwrap();
    assert!(output.status.success(), "portcullis {args:?}: {}", text(&output));
    String::from_utf8(output.stdout).unwrap()
}

/// Generates a key in `dir`; returns its base path.
fn keygen(dir: &Path, algorithm: &str, ksk: bool) -> String {
    let dir = dir.to_str().unwrap();
    let mut args = vec!["keygen", "--algorithm", algorithm, "example.", "--directory", dir];
    if ksk {
        args.push("--ksk");
    }
    let base = portcullis(&args).trim().to_string();
    assert!(Path::new(&format!("{base}.key")).is_file() && Path::new(&format!("{base}.private")).is_file(), "{base}");
    base
}

/// Signs `zone` with `keys` and `mode` into `out`.
fn sign(zone: &Path, out: &Path, keys: &[&str], mode: &[&str]) {
    let mut args = vec!["sign-zone", "example.", zone.to_str().unwrap(), "--output", out.to_str().unwrap()];
    for key in keys {
        args.extend(["--key", key]);
    }
    args.extend(mode);
    portcullis(&args);
}

/// The three verifiers; `csk` adds BIND's `-z` (one key signs everything).
struct Verifiers {
    ldns: PathBuf,
    bind: PathBuf,
    knot: PathBuf,
}

impl Verifiers {
    fn require(test: &str) -> Option<Self> {
        let found = require(test, &["ldns-verify-zone", "dnssec-verify", "kzonecheck"])?;
        Some(Self { ldns: found[0].clone(), bind: found[1].clone(), knot: found[2].clone() })
    }

    /// Each verifier's name, whether it accepted `file`, and what it printed.
    fn run(&self, file: &Path, csk: bool) -> Vec<(&'static str, bool, String)> {
        let mut bind = Command::new(&self.bind);
        if csk {
            bind.arg("-z");
        }
        let runs = [
            ("ldns-verify-zone", Command::new(&self.ldns).arg(file).output()),
            ("dnssec-verify", bind.args(["-o", "example."]).arg(file).output()),
            ("kzonecheck", Command::new(&self.knot).args(["-o", "example.", "-d", "on"]).arg(file).output()),
        ];
        runs.into_iter().map(|(name, output)| (name, output.as_ref().is_ok_and(|o| o.status.success()), output.map(|o| text(&o)).unwrap_or_default())).collect()
    }

    /// Asserts that all three accept `file`, and all three reject it with one A rdata changed.
    fn check(&self, file: &Path, csk: bool, what: &str) {
        for (name, ok, output) in self.run(file, csk) {
            assert!(ok, "{what}: {name} rejects the signed zone:\n{output}");
        }
        let signed = std::fs::read_to_string(file).unwrap();
        assert_eq!(signed.matches(" IN A 192.0.2.2\n").count(), 1, "{what}: {signed}");
        let tampered = file.with_extension("tampered");
        std::fs::write(&tampered, signed.replace(" IN A 192.0.2.2\n", " IN A 192.0.2.99\n")).unwrap();
        for (name, ok, output) in self.run(&tampered, csk) {
            assert!(!ok, "{what}: {name} accepts a tampered zone:\n{output}");
        }
    }
}

#[test]
fn signed_zones_pass_three_verifiers_and_a_tampered_record_fails_them() {
    let Some(verifiers) = Verifiers::require("signed_zones_pass_three_verifiers") else { return };
    let dir = temp_dir("verifiers");
    let zone = dir.join("example.zone");
    std::fs::write(&zone, ZONE).unwrap();
    for algorithm in ALGORITHMS {
        let (ksk, zsk) = (keygen(&dir, algorithm, true), keygen(&dir, algorithm, false));
        for mode in MODES {
            let out = dir.join(format!("{algorithm}{}.signed", mode.concat()));
            sign(&zone, &out, &[&ksk, &zsk], mode);
            verifiers.check(&out, false, &format!("{algorithm} {mode:?}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_single_key_and_mixed_algorithms_sign_everything() {
    let Some(verifiers) = Verifiers::require("a_single_key_and_mixed_algorithms") else { return };
    let dir = temp_dir("csk");
    let zone = dir.join("example.zone");
    std::fs::write(&zone, ZONE).unwrap();
    let csk = keygen(&dir, "ecdsap256sha256", true);
    let out = dir.join("csk.signed");
    sign(&zone, &out, &[&csk], &["--nsec3"]);
    verifiers.check(&out, true, "CSK");
    // Two algorithms, each a KSK and a ZSK: each algorithm signs every RRset (RFC 4035 §2.2).
    let keys = ["ed25519", "ecdsap256sha256"].map(|alg| [keygen(&dir, alg, true), keygen(&dir, alg, false)]).concat();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let out = dir.join("mixed.signed");
    sign(&zone, &out, &keys, &[]);
    verifiers.check(&out, false, "two algorithms");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ds_records_and_key_files_match_bind() {
    let Some(found) = require("ds_records_and_key_files_match_bind", &["dnssec-dsfromkey", "dnssec-signzone", "dnssec-verify"]) else { return };
    let dir = temp_dir("bind");
    for algorithm in ALGORITHMS {
        let (ksk, zsk) = (keygen(&dir, algorithm, true), keygen(&dir, algorithm, false));
        let ours = portcullis(&["dnssec", "ds", "example.", "--key", &ksk]);
        let bind = Command::new(&found[0]).args(["-2", &format!("{ksk}.key")]).output().unwrap();
        assert!(bind.status.success(), "{}", text(&bind));
        assert_eq!(ours, String::from_utf8(bind.stdout).unwrap(), "{algorithm}");
        // The DS of a signed zone file is that of its KSK.
        let zone = dir.join(format!("{algorithm}.zone"));
        std::fs::write(&zone, ZONE).unwrap();
        let out = dir.join(format!("{algorithm}.signed"));
        sign(&zone, &out, &[&ksk, &zsk], &[]);
        assert_eq!(portcullis(&["dnssec", "ds", "example.", "--zone", out.to_str().unwrap()]), ours);
        // BIND signs with our key files (the DNSKEYs included at the apex).
        let keys = [&ksk, &zsk].map(|base| std::fs::read_to_string(format!("{base}.key")).unwrap()).concat();
        std::fs::write(&zone, format!("{ZONE}{keys}")).unwrap();
        let bind_out = dir.join(format!("{algorithm}.bind"));
        let signed = Command::new(&found[1])
            .arg("-K")
            .arg(&dir)
            .arg("-d")
            .arg(&dir)
            .args(["-o", "example.", "-f"])
            .arg(&bind_out)
            .arg(&zone)
            .args([&ksk, &zsk])
            .output()
            .unwrap();
        assert!(signed.status.success(), "dnssec-signzone with our {algorithm} keys: {}", text(&signed));
        let verified = Command::new(&found[2]).args(["-o", "example."]).arg(&bind_out).output().unwrap();
        assert!(verified.status.success(), "{}", text(&verified));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_requests_are_refused_with_a_reason() {
    let dir = temp_dir("refusals");
    let zone = dir.join("example.zone");
    std::fs::write(&zone, ZONE).unwrap();
    let refused = |args: &[&str], reason: &str| {
        let output = Command::new(BINARY).args(args).output().unwrap();
        assert!(!output.status.success(), "{args:?}");
        assert!(text(&output).contains(reason), "{args:?}: {}", text(&output));
    };
    let d = dir.to_str().unwrap();
    refused(&["keygen", "--algorithm", "rsasha256", "example.", "--directory", d], "ring has no RSA key generation");
    refused(&["sign-zone", "example.", zone.to_str().unwrap()], "--key");
    let other = portcullis(&["keygen", "other.", "--directory", d]);
    refused(&["sign-zone", "example.", zone.to_str().unwrap(), "--key", other.trim()], "belongs to other.");
    let key = keygen(&dir.join("new/keys"), "ed25519", true);
    refused(&["sign-zone", "example.", zone.to_str().unwrap(), "--key", &key, "--opt-out"], "--opt-out needs --nsec3");
    std::fs::write(&zone, "@ A 192.0.2.1\n").unwrap();
    refused(&["sign-zone", "example.", zone.to_str().unwrap(), "--key", &key], "example.zone");
    let _ = std::fs::remove_dir_all(&dir);
}
