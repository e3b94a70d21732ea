//! DNSSEC validation end to end (issue 14) on a signed hierarchy on loopback: a root zone, the
//! TLD `test.` and leaf zones, signed with `portcullis keygen` and `portcullis sign-zone`, served
//! by NSD on 127.B.C.x port 53 (the hierarchy harness), resolved by `portcullis serve` with a
//! trust-anchor file holding the test root's DS; one more leaf, `bind.test.`, is signed by BIND's
//! `dnssec-signzone` (RSASHA256, NSEC3) and served by Knot, and `own.test.` is signed by
//! portcullis and served by `portcullis serve`. Each case is asked with `dig`:
//! secure answers (NSEC and NSEC3 zones, a wildcard, a CNAME, NXDOMAIN and NODATA) get AD;
//! an unsigned delegation is insecure (NOERROR, no AD); a tampered record, an expired and a
//! not-yet-valid signature, a DS for a key the zone does not publish, a DS for a key that signs
//! nothing (the DNSKEY RRset signed by another key) and a KeyTrap zone each give SERVFAIL with
//! the right Extended DNS Error (6, 7, 8, 9); CD=1 gets the tampered data; a negative trust
//! anchor makes a bogus zone insecure. Unbound, when installed, validates the same hierarchy
//! with the same anchor and must agree on rcode and AD for every query. Also: a forward zone
//! validating (by default) what a non-validating upstream passes on, a SIGHUP changing the
//! anchor, `query --json`, and the KeyTrap zone's cost to other clients (`validation/keytrap.rs`).
//!
//! Needs root (port 53 on 127.x addresses), NSD, Knot, dig and BIND's dnssec-keygen and
//! dnssec-signzone; skipped otherwise (failed under CI=true).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[path = "validation/aggressive.rs"]
mod aggressive;
#[path = "it/client.rs"]
mod client;
#[path = "validation/handover.rs"]
mod handover;
mod hierarchy;
#[path = "validation/keytrap.rs"]
mod keytrap;
#[path = "validation/open_loop.rs"]
mod open_loop;
#[path = "validation/operator.rs"]
mod operator;
#[path = "it/peers.rs"]
mod peers;
#[path = "validation/rfc5011.rs"]
mod rfc5011;
#[path = "validation/stripping.rs"]
mod stripping;

use hierarchy::resolvers::{start_portcullis_with, Process};
use hierarchy::{pick_net, start_nsd, Net};
use peers::{find_binary, require, temp_dir};
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

const BINARY: &str = env!("CARGO_BIN_EXE_portcullis");

const ROOT: u8 = 1;
const TLD: u8 = 2;
const LEAVES: u8 = 3;
const BIND_LEAF: u8 = 4;
const RESOLVER: u8 = 10;
const UNBOUND: u8 = 11;
/// `portcullis serve` as the authoritative server of `own.test.` (signed by portcullis).
const OWN: u8 = 5;

/// Leaf zones: (label, signed, NSEC3).
const LEAF_ZONES: [(&str, bool, bool); 11] = [
    ("secure", true, false),
    ("nsec3", true, true),
    ("unsigned", false, false),
    ("bogus", true, false),
    ("expired", true, false),
    ("nokey", true, false),
    ("nta", true, false),
    ("stripped", true, true),
    ("future", true, false),
    ("wrongksk", true, false),
    ("trap", true, false),
];

fn run(args: &[&str]) -> String {
    let output = Command::new(BINARY).args(args).output().unwrap();
    assert!(output.status.success(), "portcullis {args:?}: {}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// A new key for `origin` in `dir`; its base name.
fn keygen(dir: &Path, origin: &str, ksk: bool) -> String {
    let mut args = vec!["keygen", "-K", dir.to_str().unwrap(), origin];
    if ksk {
        args.push("--ksk");
    }
    run(&args).trim().to_string()
}

/// Signs `text` for `origin` with `keys`; the signed zone's text.
fn sign(dir: &Path, origin: &str, text: &str, keys: &[&str], nsec3: bool) -> String {
    let file = dir.join(format!("{origin}zone"));
    let out = dir.join(format!("{origin}signed"));
    fs::write(&file, text).unwrap();
    let mut args = vec!["sign-zone", origin, file.to_str().unwrap(), "-o", out.to_str().unwrap()];
    for key in keys {
        args.extend(["--key", key]);
    }
    if nsec3 {
        args.push("--nsec3");
    }
    run(&args);
    fs::read_to_string(out).unwrap()
}

/// Signs the TLD with an NSEC3 chain that leaves unsigned delegations out (opt-out).
fn sign_opt_out(dir: &Path, origin: &str, text: &str, key: &str) -> String {
    let (file, out) = (dir.join(format!("{origin}zone")), dir.join(format!("{origin}signed")));
    fs::write(&file, text).unwrap();
    run(&["sign-zone", origin, file.to_str().unwrap(), "-o", out.to_str().unwrap(), "--key", key, "--nsec3", "--opt-out"]);
    fs::read_to_string(out).unwrap()
}

/// The DS records of `key` for `origin`.
fn ds(origin: &str, key: &str) -> String {
    run(&["dnssec", "ds", origin, "--key", key])
}

/// The leaf zone `label.test.` before signing.
fn leaf_text(label: &str, net: Net) -> String {
    format!(
        "$ORIGIN {label}.test.\n$TTL 300\n@ SOA ns hostmaster 1 7200 3600 1209600 300\n@ NS ns\nns A {ip}\n\
         www A 192.0.2.1\n*.wild A 192.0.2.9\nalias CNAME www\nout CNAME www.unsigned.test.\nttl A 192.0.2.7\n",
        ip = net.ip(LEAVES)
    )
}

/// Changes the A record of `www` (the RRSIG no longer matches).
fn tamper(signed: &str) -> String {
    signed
        .lines()
        .map(|line| if line.starts_with("www.") && line.contains(" A 192.0.2.1") { line.replace("192.0.2.1", "192.0.2.66") } else { line.to_string() })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Removes the RRSIG over `www`'s A record.
fn strip(signed: &str) -> String {
    let keep = |line: &&str| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        !(line.starts_with("www.") && fields.get(3) == Some(&"RRSIG") && fields.get(4) == Some(&"A"))
    };
    signed.lines().filter(keep).collect::<Vec<_>>().join("\n")
}

/// Moves the expiration of the RRSIG over `www`'s A record into the past.
fn expire(signed: &str) -> String {
    let lines = signed.lines().map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if line.starts_with("www.") && fields.get(3) == Some(&"RRSIG") && fields.get(4) == Some(&"A") {
            let mut changed: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
            changed[8] = "20200101000000".into();
            changed[9] = "20191201000000".into();
            changed.join(" ")
        } else {
            line.to_string()
        }
    });
    lines.collect::<Vec<_>>().join("\n")
}

/// Moves the validity window of the RRSIG over `www`'s A record into the future (EDE 8).
fn not_yet_valid(signed: &str) -> String {
    let lines = signed.lines().map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if line.starts_with("www.") && fields.get(3) == Some(&"RRSIG") && fields.get(4) == Some(&"A") {
            let mut changed: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
            changed[8] = "20410101000000".into();
            changed[9] = "20400101000000".into();
            changed.join(" ")
        } else {
            line.to_string()
        }
    });
    lines.collect::<Vec<_>>().join("\n")
}

/// The DNSKEY record of the key `base` (its `.key` file without comments).
fn dnskey_line(base: &str) -> String {
    let text = fs::read_to_string(format!("{base}.key")).unwrap();
    text.lines().filter(|line| !line.starts_with(';')).map(|line| format!("{line}\n")).collect()
}

/// Starts `portcullis serve` on `addr` as the authoritative server of `own.test.`.
fn start_own(addr: SocketAddr, text: &str) -> peers::ServerProcess {
    let dir = temp_dir("validation-own");
    let file = dir.join("own.test.zone");
    fs::write(&file, text).unwrap();
    let config = dir.join("portcullis.toml");
    fs::write(&config, format!("[server]\nlisten = [\"{addr}\"]\nthreads = 1\n\n[[zone]]\norigin = \"own.test.\"\nfile = \"{}\"\n", file.display())).unwrap();
    let mut command = Command::new(BINARY);
    command.arg("serve").arg("--config").arg(&config);
    peers::ServerProcess::start("portcullis-auth", command, dir, addr, "own.test.").unwrap_or_else(|e| panic!("{e}"))
}

/// The signed hierarchy: zone texts for the three servers, and the trust anchor file's text.
struct Signed {
    root: String,
    /// The root after its KSK rollover: the standby KSK signs, the first one is gone.
    root_rolled: String,
    tld: String,
    leaves: Vec<(String, String)>,
    /// `bind.test.`, signed by BIND's dnssec-signzone (RSASHA256, NSEC3), served by Knot.
    bind: String,
    /// `own.test.`, signed by portcullis, served by portcullis.
    own: String,
    anchor: String,
}

/// `bind.test.` signed with BIND's tools: a 2048-bit KSK and a 1024-bit ZSK (RSASHA256), NSEC3
/// without salt; returns the signed zone and its DS records.
fn bind_signed(tools: &BindTools, dir: &Path, net: Net) -> (String, String) {
    let dir = dir.join("bind");
    fs::create_dir_all(&dir).unwrap();
    let text = format!("{}www.bind.test. 300 IN A 192.0.2.8\n", leaf_text("bind", net).replace(&net.ip(LEAVES).to_string(), &net.ip(BIND_LEAF).to_string()));
    let (zone, signed) = (dir.join("bind.zone"), dir.join("bind.signed"));
    fs::write(&zone, text).unwrap();
    for args in [&["-a", "RSASHA256", "-b", "2048", "-f", "KSK"][..], &["-a", "RSASHA256", "-b", "1024"][..]] {
        let output = Command::new(&tools.keygen).arg("-q").arg("-K").arg(&dir).args(args).arg("bind.test.").output().unwrap();
        assert!(output.status.success(), "dnssec-keygen: {}", String::from_utf8_lossy(&output.stderr));
    }
    let output = Command::new(&tools.signzone)
        .arg("-q")
        .arg("-K")
        .arg(&dir)
        .arg("-d")
        .arg(&dir)
        .args(["-S", "-3", "-", "-o", "bind.test.", "-f"])
        .arg(&signed)
        .arg(&zone)
        .output()
        .unwrap();
    assert!(output.status.success(), "dnssec-signzone: {}", String::from_utf8_lossy(&output.stderr));
    let ds = run(&["dnssec", "ds", "bind.test.", "--zone", signed.to_str().unwrap()]).replace(" IN DS", " 300 IN DS");
    (fs::read_to_string(&signed).unwrap(), ds)
}

/// BIND's key generator and signer.
struct BindTools {
    keygen: PathBuf,
    signzone: PathBuf,
}

/// Starts Knot on `addr` serving `zones`.
fn start_knot(binary: &Path, addr: SocketAddr, zones: &[(&str, &str)]) -> peers::ServerProcess {
    let dir = temp_dir("validation-knot");
    let run = dir.display().to_string();
    let mut conf = format!(
        "server:\n    rundir: \"{run}\"\n    listen: {ip}@53\n    udp-workers: 1\n    tcp-workers: 1\n    \
         background-workers: 1\n    pidfile: \"{run}/knot.pid\"\ndatabase:\n    storage: \"{run}/knotdb\"\nlog:\n  - target: stderr\n    \
         any: warning\ncontrol:\n    listen: \"{run}/knot.sock\"\ntemplate:\n  - id: default\n    storage: \"{run}\"\n    \
         zonefile-sync: -1\n    journal-content: none\nzone:\n",
        ip = addr.ip()
    );
    for (index, (origin, text)) in zones.iter().enumerate() {
        let file = dir.join(format!("{index}.zone"));
        fs::write(&file, text).unwrap();
        conf.push_str(&format!("  - domain: \"{origin}\"\n    file: \"{}\"\n", file.display()));
    }
    fs::create_dir_all(dir.join("knotdb")).unwrap();
    let conf_path = dir.join("knot.conf");
    fs::write(&conf_path, conf).unwrap();
    let mut command = Command::new(binary);
    command.arg("-c").arg(&conf_path);
    peers::ServerProcess::start("knot", command, dir, addr, zones[0].0).unwrap()
}

fn build(dir: &Path, net: Net, bind_tools: &BindTools) -> Signed {
    let keys = dir.join("keys");
    let mut delegations = String::new();
    let mut leaves = Vec::new();
    for (label, signed, nsec3) in LEAF_ZONES {
        let origin = format!("{label}.test.");
        delegations.push_str(&format!("{label} NS ns.{label}\nns.{label} A {}\n", net.ip(LEAVES)));
        let text = leaf_text(label, net);
        if !signed {
            leaves.push((origin, text));
            continue;
        }
        let key = keygen(&keys, &origin, true);
        let (text, vouched) = match label {
            // nokey: the parent's DS names a key the zone does not publish.
            "nokey" => (text, keygen(&keys, &origin, true)),
            // wrongksk: the DS names a key the zone publishes but that signs nothing; the DNSKEY
            // RRset is signed by another key only.
            "wrongksk" => {
                let named = keygen(&keys, &origin, true);
                (format!("{text}{}", dnskey_line(&named)), named)
            }
            // trap: many more keys with the real key's tag (KeyTrap).
            "trap" => (format!("{text}{}", keytrap::colliding_keys(&origin, keytrap::key_tag(&key))), key.clone()),
            _ => (text, key.clone()),
        };
        let mut zone = sign(&keys, &origin, &text, &[&key], nsec3);
        match label {
            "bogus" | "nta" => zone = tamper(&zone),
            // A TTL above the RRSIG's original TTL: the signature still verifies (it covers the
            // original TTL), the answer's TTL must be capped (RFC 4035 §5.3.3).
            "secure" => zone = zone.replace("ttl.secure.test. 300 IN A", "ttl.secure.test. 86400 IN A"),
            "expired" => zone = expire(&zone),
            "future" => zone = not_yet_valid(&zone),
            "stripped" => zone = strip(&zone),
            "trap" => zone = keytrap::failing_signatures(&zone, &origin, keytrap::key_tag(&key)),
            _ => {}
        }
        delegations.push_str(&ds(&origin, &vouched).replace(" IN DS", " 300 IN DS"));
        leaves.push((origin, zone));
    }
    // oddalg.test.: unsigned, its DS of an algorithm nobody implements (253, private): insecure
    // with EDE 1 (RFC 4035 §5.2, RFC 8914).
    delegations.push_str(&format!("oddalg NS ns.oddalg\nns.oddalg A {}\noddalg 300 IN DS 12345 253 2 {}\n", net.ip(LEAVES), "AB".repeat(32)));
    leaves.push(("oddalg.test.".to_string(), leaf_text("oddalg", net)));
    // own.test.: signed by portcullis' signer (NSEC3), served by `portcullis serve`.
    let own_key = keygen(&keys, "own.test.", true);
    let own_text = leaf_text("own", net).replace(&net.ip(LEAVES).to_string(), &net.ip(OWN).to_string());
    let own = sign(&keys, "own.test.", &own_text, &[&own_key], true);
    delegations.push_str(&format!("own NS ns.own\nns.own A {}\n{}", net.ip(OWN), ds("own.test.", &own_key).replace(" IN DS", " 300 IN DS")));
    let (bind, bind_ds) = bind_signed(bind_tools, dir, net);
    delegations.push_str(&format!("bind NS ns.bind\nns.bind A {}\n{bind_ds}", net.ip(BIND_LEAF)));
    let tld_text = format!("$ORIGIN test.\n$TTL 300\n@ SOA ns hostmaster 1 7200 3600 1209600 300\n@ NS ns\nns A {}\n{delegations}", net.ip(TLD));
    let tld_key = keygen(&keys, "test.", true);
    let tld = sign_opt_out(&keys, "test.", &tld_text, &tld_key);
    let root_text = format!(
        "$ORIGIN .\n$TTL 300\n. SOA ns.root. hostmaster.root. 1 7200 3600 1209600 300\n. NS ns.root.\nns.root. A {}\n\
         test. NS ns.test.\nns.test. A {}\n{}",
        net.ip(ROOT),
        net.ip(TLD),
        ds("test.", &tld_key).replace(" IN DS", " 300 IN DS")
    );
    let (root_ksk, root_zsk, standby) = (keygen(&keys, ".", true), keygen(&keys, ".", false), keygen(&keys, ".", true));
    // The standby KSK is published (RFC 5011 sees it) and signs nothing; the rolled root has
    // only it as KSK.
    let root_rolled = sign(&keys, ".", &root_text, &[&standby, &root_zsk], false);
    let root = sign(&keys, ".", &format!("{root_text}{}", dnskey_line(&standby)), &[&root_ksk, &root_zsk], false);
    Signed { root, root_rolled, tld, leaves, bind, own, anchor: ds(".", &root_ksk) }
}

/// What `dig` said: rcode, flags, the EDE code, and the answer records.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Dug {
    status: String,
    ad: bool,
    ede: Option<u16>,
    answer: Vec<String>,
    text: String,
}

fn dig(dig: &Path, server: SocketAddr, name: &str, rtype: &str, flags: &[&str]) -> Dug {
    let output = Command::new(dig)
        .args([format!("@{}", server.ip()).as_str(), "-p", &server.port().to_string(), name, rtype, "+tries=1", "+time=5"])
        .args(flags)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let status = text.split("status: ").nth(1).and_then(|rest| rest.split(',').next()).unwrap_or("none").to_string();
    let header_flags = text.split("flags: ").nth(1).and_then(|rest| rest.split(';').next()).unwrap_or("");
    let ad = header_flags.split_whitespace().any(|flag| flag == "ad");
    let ede = text.split("EDE: ").nth(1).and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()).and_then(|code| code.parse().ok());
    let answer = text
        .split(";; ANSWER SECTION:\n")
        .nth(1)
        .map(|rest| rest.split("\n\n").next().unwrap_or("").lines().map(|line| line.split_whitespace().collect::<Vec<_>>().join(" ")).collect())
        .unwrap_or_default();
    Dug { status, ad, ede, answer, text }
}

/// The question, dig flags, and what portcullis must say: rcode, AD, EDE.
struct Case {
    name: &'static str,
    rtype: &'static str,
    flags: &'static [&'static str],
    status: &'static str,
    ad: bool,
    ede: Option<u16>,
}

const fn case(name: &'static str, rtype: &'static str, flags: &'static [&'static str], status: &'static str, ad: bool, ede: Option<u16>) -> Case {
    Case { name, rtype, flags, status, ad, ede }
}

const DO: &[&str] = &["+dnssec"];

fn cases() -> Vec<Case> {
    vec![
        case("www.secure.test.", "A", DO, "NOERROR", true, None),
        case("www.secure.test.", "A", &["+adflag"], "NOERROR", true, None),
        case("www.secure.test.", "A", &["+noadflag"], "NOERROR", false, None),
        case("alias.secure.test.", "A", DO, "NOERROR", true, None),
        case("x.wild.secure.test.", "A", DO, "NOERROR", true, None),
        case("nx.secure.test.", "A", DO, "NXDOMAIN", true, None),
        case("www.secure.test.", "TXT", DO, "NOERROR", true, None),
        case("www.nsec3.test.", "A", DO, "NOERROR", true, None),
        case("nx.nsec3.test.", "A", DO, "NXDOMAIN", true, None),
        case("www.nsec3.test.", "TXT", DO, "NOERROR", true, None),
        case("y.wild.nsec3.test.", "A", DO, "NOERROR", true, None),
        case("www.unsigned.test.", "A", DO, "NOERROR", false, None),
        case("nx.unsigned.test.", "A", DO, "NXDOMAIN", false, None),
        case("www.bogus.test.", "A", DO, "SERVFAIL", false, Some(6)),
        case("www.expired.test.", "A", DO, "SERVFAIL", false, Some(7)),
        case("www.nokey.test.", "A", DO, "SERVFAIL", false, Some(9)),
        case("www.nta.test.", "A", DO, "NOERROR", false, None),
        case("www.stripped.test.", "A", DO, "SERVFAIL", false, Some(10)),
        case("out.secure.test.", "A", DO, "NOERROR", false, None),
        case("alias.nsec3.test.", "A", DO, "NOERROR", true, None),
        case("nx.test.", "A", DO, "NXDOMAIN", false, None),
        case("www.bind.test.", "A", DO, "NOERROR", true, None),
        case("www.oddalg.test.", "A", DO, "NOERROR", false, Some(1)),
        case("nx.bind.test.", "A", DO, "NXDOMAIN", true, None),
        case("www.bind.test.", "MX", DO, "NOERROR", true, None),
        case("www.future.test.", "A", DO, "SERVFAIL", false, Some(8)),
        // The DS names a published key that signs nothing: no DNSKEY the DS names signs the set.
        case("www.wrongksk.test.", "A", DO, "SERVFAIL", false, Some(9)),
        case("www.trap.test.", "A", DO, "SERVFAIL", false, Some(6)),
        case("www.own.test.", "A", DO, "NOERROR", true, None),
        case("nx.own.test.", "A", DO, "NXDOMAIN", true, None),
        case("www.own.test.", "TXT", DO, "NOERROR", true, None),
        case("x.wild.own.test.", "A", DO, "NOERROR", true, None),
        case("alias.own.test.", "A", DO, "NOERROR", true, None),
    ]
}

/// Asks every case of `cases` of `server`; the differences from what each case expects.
fn check_cases(dig_path: &Path, server: SocketAddr, cases: &[Case]) -> Vec<String> {
    let mut failures = Vec::new();
    for case in cases {
        let got = dig(dig_path, server, case.name, case.rtype, case.flags);
        if got.status != case.status || got.ad != case.ad || got.ede != case.ede {
            failures.push(format!(
                "{} {} {:?}: got {} ad={} ede={:?}, expected {} ad={} ede={:?}\n{}",
                case.name, case.rtype, case.flags, got.status, got.ad, got.ede, case.status, case.ad, case.ede, got.text
            ));
        }
    }
    failures
}

/// Starts the three NSD servers and Knot; `None` when NSD or root is missing (skipped).
fn serve(test: &str, dir: &Path) -> Option<(Net, Vec<peers::ServerProcess>, PathBuf, Signed)> {
    let tools = require(test, &["nsd", "dig", "knotd", "dnssec-keygen", "dnssec-signzone"])?;
    let bind_tools = BindTools { keygen: tools[3].clone(), signzone: tools[4].clone() };
    let Some(net) = pick_net(UNBOUND) else {
        assert!(!peers::in_ci(), "{test}: no free 127.x network with port 53 (needs root)");
        println!("SKIPPED {test}: port 53 on loopback not available");
        return None;
    };
    let signed = build(dir, net, &bind_tools);
    let mut servers = vec![start_nsd(&tools[0], net.addr(ROOT), &[(".", &signed.root)]).unwrap()];
    servers.push(start_nsd(&tools[0], net.addr(TLD), &[("test.", &signed.tld)]).unwrap());
    let leaves: Vec<(&str, &str)> = signed.leaves.iter().map(|(origin, text)| (origin.as_str(), text.as_str())).collect();
    servers.push(start_nsd(&tools[0], net.addr(LEAVES), &leaves).unwrap());
    servers.push(start_knot(&tools[2], net.addr(BIND_LEAF), &[("bind.test.", &signed.bind)]));
    servers.push(start_own(net.addr(OWN), &signed.own));
    let hints = dir.join("root.hints");
    fs::write(&hints, format!(". 3600 NS ns.root.\nns.root. 3600 A {}\n", net.ip(ROOT))).unwrap();
    Some((net, servers, tools[1].clone(), signed))
}

#[test]
fn a_signed_hierarchy_validates_with_the_right_ad_bits_and_extended_errors() {
    let dir = temp_dir("validation");
    let _cleanup = peers::RemoveOnDrop(dir.clone());
    let Some((net, mut servers, dig_path, signed)) = serve("validation", &dir) else { return };
    let anchor = dir.join("anchor.ds");
    fs::write(&anchor, &signed.anchor).unwrap();
    let run_dir = temp_dir("validation-portcullis");
    let extra = format!("trust-anchor-file = \"{}\"\nnegative-trust-anchors = [\"nta.test.\"]\n", anchor.display());
    let listen = net.addr(RESOLVER);
    let portcullis = start_portcullis_with(&run_dir, &dir.join("root.hints"), listen, "secure.test.", &extra);
    let mut failures = check_cases(&dig_path, listen, &cases());
    // A wildcard answer asked again comes from the cache, with AD and the proof that no closer
    // name matched, as when it was resolved (RFC 4035 §3.1.3.3).
    for (name, proof) in [("x.wild.secure.test.", " NSEC "), ("y.wild.nsec3.test.", " NSEC3 ")] {
        let cached = dig(&dig_path, listen, name, "A", DO);
        let authority = cached.text.split(";; AUTHORITY SECTION:").nth(1).unwrap_or("").split("\n\n").next().unwrap_or("").replace('\t', " ");
        if !cached.ad || !authority.contains(proof) || !authority.contains("RRSIG") {
            failures.push(format!("{name} from the cache: expected AD and the{proof}proof with its RRSIG\n{}", cached.text));
        }
    }
    // DO=1 brings the RRSIGs; CD=1 gets the data of a bogus zone (RFC 4035 §3.2.2).
    let secure = dig(&dig_path, listen, "www.secure.test.", "A", DO);
    if !secure.answer.iter().any(|line| line.contains("RRSIG A")) {
        failures.push(format!("www.secure.test. +dnssec: no RRSIG in the answer\n{}", secure.text));
    }
    // Asked once (resolved, not from the cache): the TTL above the original TTL is capped.
    let raised = dig(&dig_path, listen, "ttl.secure.test.", "A", DO);
    let ttls: Vec<u32> = raised.answer.iter().filter(|line| line.contains(" A 192.0.2.7")).filter_map(|line| line.split(' ').nth(1)?.parse().ok()).collect();
    if !raised.ad || ttls.is_empty() || ttls.iter().any(|ttl| *ttl > 300) {
        failures.push(format!("ttl.secure.test.: not secure, or the TTL is not capped by the RRSIG's original TTL 300: {ttls:?}\n{}", raised.text));
    }
    let plain = dig(&dig_path, listen, "www.secure.test.", "A", &[]);
    if plain.answer.iter().any(|line| line.contains("RRSIG")) {
        failures.push(format!("www.secure.test. without DO: RRSIG in the answer\n{}", plain.text));
    }
    let cd = dig(&dig_path, listen, "www.bogus.test.", "A", &["+cd", "+dnssec"]);
    if cd.status != "NOERROR" || !cd.answer.iter().any(|line| line.ends_with("A 192.0.2.66")) || cd.ad {
        failures.push(format!("www.bogus.test. +cd: expected the tampered data without AD\n{}", cd.text));
    }
    // Asked again, the bogus answer comes from the cache: still SERVFAIL with its EDE.
    let again = dig(&dig_path, listen, "www.bogus.test.", "A", DO);
    if again.status != "SERVFAIL" || again.ede.is_none() {
        failures.push(format!("www.bogus.test. from the cache: expected SERVFAIL with an EDE\n{}", again.text));
    }
    // The client: `query --dnssec` shows AD and the RRSIGs, `--cd` gets bogus data, the EDE shows.
    let server = format!("@{}", listen.ip());
    let client = |args: &[&str]| Command::new(BINARY).arg("query").args(args).args([server.as_str(), "-p", "53"]).output().unwrap();
    let secure = client(&["www.secure.test.", "A", "--dnssec"]);
    let text = String::from_utf8_lossy(&secure.stdout).to_string();
    if !text.contains(" ad") || !text.contains("RRSIG") {
        failures.push(format!("query --dnssec www.secure.test.: no AD or RRSIG\n{text}"));
    }
    let bogus = client(&["www.bogus.test.", "A"]);
    let text = String::from_utf8_lossy(&bogus.stdout).to_string();
    if bogus.status.code() != Some(2) || !text.contains("EDE") {
        failures.push(format!("query www.bogus.test.: expected SERVFAIL (exit 2) with an EDE\n{text}"));
    }
    let checking_disabled = client(&["www.bogus.test.", "A", "--cd"]);
    if checking_disabled.status.code() != Some(0) || !String::from_utf8_lossy(&checking_disabled.stdout).contains("192.0.2.66") {
        failures.push(format!("query --cd www.bogus.test.: expected the data\n{}", String::from_utf8_lossy(&checking_disabled.stdout)));
    }
    failures.extend(operator::check_json(&client));
    if !portcullis.stderr().contains("DNSSEC validation failed") && !portcullis.logs().contains("DNSSEC validation failed") {
        failures.push(format!("no validation failure in the log\n{}", portcullis.logs()));
    }
    assert!(failures.is_empty(), "{} failures:\n{}\n{}", failures.len(), failures.join("\n"), portcullis.logs());
    compare_with_unbound(&dir, net, &anchor, &dig_path, listen);
    // RFC 8198: with the leaf zones' server gone, a name in a gap the NSEC records of an earlier
    // NXDOMAIN proved is still NXDOMAIN, secure, from the cache.
    drop(servers.remove(2));
    let aggressive = dig(&dig_path, listen, "nz.secure.test.", "A", DO);
    assert!(
        aggressive.status == "NXDOMAIN" && aggressive.ad,
        "nz.secure.test. with the leaves' server stopped: expected NXDOMAIN with AD\n{}",
        aggressive.text
    );
    // The same with NSEC3: a name whose hash lies in the span that denied nx.nsec3.test.
    let nsec3_zone = &signed.leaves.iter().find(|(origin, _)| origin == "nsec3.test.").unwrap().1;
    let hidden = aggressive::name_in_the_same_nsec3_span(nsec3_zone, "nsec3.test.", "nx.nsec3.test.");
    let from_nsec3 = dig(&dig_path, listen, &hidden, "A", DO);
    assert!(
        from_nsec3.status == "NXDOMAIN" && from_nsec3.ad && from_nsec3.text.contains("NSEC3"),
        "{hidden} with the leaves' server stopped: expected NXDOMAIN with AD and NSEC3 proofs\n{}",
        from_nsec3.text
    );
    operator::reload_with_another_anchor(&dir, &anchor, &portcullis, &dig_path, listen);
}

/// Unbound, validating with the same anchor, agrees on rcode and AD for every case.
fn compare_with_unbound(dir: &Path, net: Net, anchor: &Path, dig_path: &Path, ours: SocketAddr) {
    let Some(unbound) = find_binary("unbound") else {
        println!("unbound not installed: comparison skipped");
        return;
    };
    let run_dir = temp_dir("validation-unbound");
    let listen = net.addr(UNBOUND);
    let config = run_dir.join("unbound.conf");
    let text = format!(
        "server:\n    interface: {ip}@53\n    port: 53\n    do-ip6: no\n    do-daemonize: no\n    chroot: \"\"\n    username: \"\"\n    \
         directory: \"{dir}\"\n    pidfile: \"{dir}/unbound.pid\"\n    use-syslog: no\n    logfile: \"\"\n    verbosity: 0\n    \
         root-hints: \"{hints}\"\n    do-not-query-localhost: no\n    access-control: 127.0.0.0/8 allow\n    num-threads: 1\n    \
         trust-anchor-file: \"{anchor}\"\n    local-zone: \"test.\" nodefault\n    domain-insecure: \"nta.test.\"\n    ede: yes\n    val-log-level: 2\n\
         remote-control:\n    control-enable: no\n",
        ip = listen.ip(),
        dir = run_dir.display(),
        hints = dir.join("root.hints").display(),
        anchor = anchor.display()
    );
    fs::write(&config, text).unwrap();
    let mut command = Command::new(unbound);
    command.arg("-d").arg("-c").arg(&config);
    let mut process = Process::spawn("unbound", command, run_dir);
    process.wait_ready(listen, "secure.test.");
    let mut differences = Vec::new();
    for case in cases() {
        let theirs = dig(dig_path, listen, case.name, case.rtype, case.flags);
        let mine = dig(dig_path, ours, case.name, case.rtype, case.flags);
        if (theirs.status.as_str(), theirs.ad) != (mine.status.as_str(), mine.ad) {
            differences.push(format!("{} {}: unbound {} ad={}, portcullis {} ad={}", case.name, case.rtype, theirs.status, theirs.ad, mine.status, mine.ad));
        }
    }
    assert!(differences.is_empty(), "portcullis and Unbound disagree:\n{}\n{}", differences.join("\n"), process.logs());
}

/// Starts Unbound on `listen` as a plain iterator (no validation) for the hierarchy: it passes
/// RRSIGs and denials on to a DO=1 client, tampered data included.
fn start_unbound_iterator(unbound: &Path, dir: &Path, listen: SocketAddr) -> Process {
    let run_dir = temp_dir("validation-upstream");
    let config = run_dir.join("unbound.conf");
    let text = format!(
        "server:\n    interface: {ip}@53\n    port: 53\n    do-ip6: no\n    do-daemonize: no\n    chroot: \"\"\n    username: \"\"\n    \
         directory: \"{run}\"\n    pidfile: \"{run}/unbound.pid\"\n    use-syslog: no\n    logfile: \"\"\n    verbosity: 0\n    \
         root-hints: \"{hints}\"\n    do-not-query-localhost: no\n    access-control: 127.0.0.0/8 allow\n    num-threads: 1\n    \
         module-config: \"iterator\"\n    local-zone: \"test.\" nodefault\n    minimal-responses: no\n\
         remote-control:\n    control-enable: no\n",
        ip = listen.ip(),
        run = run_dir.display(),
        hints = dir.join("root.hints").display()
    );
    fs::write(&config, text).unwrap();
    let mut command = Command::new(unbound);
    command.arg("-d").arg("-c").arg(&config);
    let mut process = Process::spawn("unbound", command, run_dir);
    process.wait_ready(listen, "secure.test.");
    process
}

#[test]
fn a_forward_zone_validates_what_its_upstream_returns() {
    let dir = temp_dir("validation-forward");
    let _cleanup = peers::RemoveOnDrop(dir.clone());
    let Some((net, _servers, dig_path, signed)) = serve("validation-forward", &dir) else { return };
    let Some(tools) = require("validation-forward", &["unbound"]) else { return };
    let upstream = net.addr(UNBOUND);
    let _unbound = start_unbound_iterator(&tools[0], &dir, upstream);
    let anchor = dir.join("anchor.ds");
    fs::write(&anchor, &signed.anchor).unwrap();
    let run_dir = temp_dir("validation-forwarder");
    // No `dnssec-validation` key: a forward zone validates by default.
    let extra = format!("trust-anchor-file = \"{}\"\n\n[[forward]]\nzone = \"test.\"\nprimaries = [\"{upstream}\"]\n", anchor.display());
    let listen = net.addr(RESOLVER);
    let portcullis = start_portcullis_with(&run_dir, &dir.join("root.hints"), listen, "secure.test.", &extra);
    let cases: Vec<Case> = cases().into_iter().filter(|case| !case.name.contains("nta.")).collect();
    let mut failures = check_cases(&dig_path, listen, &cases);
    if !portcullis.stderr().contains("DNSSEC validation failed") {
        failures.push(format!("no validation failure in the log\n{}", portcullis.logs()));
    }
    assert!(failures.is_empty(), "{} failures:\n{}\n{}", failures.len(), failures.join("\n"), portcullis.logs());
}
