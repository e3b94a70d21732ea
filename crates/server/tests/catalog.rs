//! Catalog zones (RFC 9432, version "2") between real servers on loopback:
//!
//! - portcullis producer -> portcullis consumer: the consumer serves the members; a member added
//!   on the primary (configuration rewritten, SIGHUP) is served after the NOTIFY; one removed is
//!   REFUSED and its kept copy deleted; a restart of the consumer, with the primary stopped,
//!   serves the remaining members at once from their kept copies and the removed one stays gone;
//! - Knot as producer (`catalog-role: generate`) -> portcullis consumer;
//! - portcullis producer -> Knot consumer (`catalog-role: interpret`);
//! - portcullis producer -> BIND 9.18 consumer (`catalog-zones`).
//!
//! Every wait is a bounded poll of an observable event. Missing tools skip the tests, or fail
//! them under `CI=true` (as in `it/peers.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

#[path = "it/client.rs"]
mod client;
#[path = "it/peers.rs"]
mod peers;
#[path = "it/portcullis.rs"]
mod portcullis;

use std::fmt::Write as _;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use portcullis_wire::message::{Message, Section};
use portcullis_wire::{Rcode, Rtype};

use client::Query;
use peers::{free_port, require, temp_dir, RemoveOnDrop, ServerProcess};
use portcullis::BINARY;

/// How long a change may take to reach a consumer (NOTIFY, SOA query, transfers).
const CONVERGE: Duration = Duration::from_secs(20);

/// A loopback address with a free port.
fn address() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// The catalog zone's file: SOA, NS and the version record only.
const CATALOG: &str = "$ORIGIN catalog.\n$TTL 0\n@ SOA invalid. invalid. 1 3600 600 2147483646 0\n@ NS invalid.\nversion TXT \"2\"\n";

/// A small member zone `origin`.
fn member_text(origin: &str) -> String {
    format!("$ORIGIN {origin}\n$TTL 300\n@ SOA ns hostmaster 1 3600 900 604800 60\n@ NS ns\nns A 192.0.2.53\nwww A 192.0.2.1\n")
}

/// Writes the catalog and the member zones `a.test.`, `b.test.`, `c.test.` into `dir`.
fn write_zones(dir: &Path) {
    fs::write(dir.join("catalog.zone"), CATALOG).unwrap();
    for origin in ["a.test.", "b.test.", "c.test."] {
        fs::write(dir.join(format!("{origin}zone")), member_text(origin)).unwrap();
    }
}

/// The producer's configuration: the catalog (NOTIFY to `notify`), and the three zones, those
/// of `members` marked as members.
fn producer_config(addr: SocketAddr, dir: &Path, notify: &[SocketAddr], members: &[&str]) -> String {
    let notify: Vec<String> = notify.iter().map(|addr| format!("\"{addr}\"")).collect();
    let mut text = format!(
        "[server]\nlisten = [\"{addr}\"]\nthreads = 1\n\n[acl]\ntransfer = [\"127.0.0.1\"]\n\n\
         [[zone]]\norigin = \"catalog.\"\nfile = \"{}\"\ncatalog = \"producer\"\nnotify = [{}]\n",
        dir.join("catalog.zone").display(),
        notify.join(", ")
    );
    for origin in ["a.test.", "b.test.", "c.test."] {
        let _ = write!(text, "\n[[zone]]\norigin = \"{origin}\"\nfile = \"{}\"\n", dir.join(format!("{origin}zone")).display());
        if members.contains(&origin) {
            text.push_str("catalog-member = \"catalog.\"\n");
        }
    }
    text
}

/// Runs `portcullis serve --config CONFIG`, logging into a fresh directory, ready once it serves
/// `probe`.
fn portcullis(config: &Path, addr: SocketAddr, probe: &str) -> ServerProcess {
    let mut command = Command::new(BINARY);
    command.arg("serve").arg("--config").arg(config);
    ServerProcess::start("portcullis", command, temp_dir("catalog-log"), addr, probe).unwrap_or_else(|e| panic!("{e}"))
}

/// A consumer of `catalog.` from `primary`, its configuration and state in `dir`.
fn consumer_config(dir: &Path, addr: SocketAddr, primary: SocketAddr) -> PathBuf {
    let text = format!(
        "[server]\nlisten = [\"{addr}\"]\nthreads = 1\n\n[acl]\nnotify = [\"127.0.0.1\"]\n\n\
         [[zone]]\norigin = \"catalog.\"\nprimaries = [\"{primary}\"]\ncatalog = \"consumer\"\n"
    );
    let path = dir.join("consumer.toml");
    fs::write(&path, text).unwrap();
    path
}

/// The rcode and AA bit of an SOA query for `origin`, or `None` when nothing answered.
fn soa(addr: SocketAddr, origin: &str) -> Option<(Rcode, bool)> {
    let reply = client::udp(addr, &Query::new(origin, Rtype::SOA)).ok()?;
    let message = Message::parse(&reply).ok()?;
    Some((message.rcode(), message.header().aa()))
}

/// The SOA serial `addr` answers for `origin`.
fn serial(addr: SocketAddr, origin: &str) -> Option<u32> {
    let reply = client::udp(addr, &Query::new(origin, Rtype::SOA)).ok()?;
    let message = Message::parse(&reply).ok()?;
    let rdata = message.records(Section::Answer).find(|record| record.rtype == Rtype::SOA)?.rdata;
    let at = rdata.len().checked_sub(20)?;
    Some(u32::from_be_bytes([rdata[at], rdata[at + 1], rdata[at + 2], rdata[at + 3]]))
}

/// How many times `server` logged `text` (its whole stderr).
fn logged(server: &ServerProcess, text: &str) -> usize {
    fs::read_to_string(server.dir().join("stderr.log")).unwrap_or_default().matches(text).count()
}

/// True when `addr` serves `origin` (NOERROR with AA).
fn serves(addr: SocketAddr, origin: &str) -> bool {
    soa(addr, origin) == Some((Rcode::NOERROR, true))
}

/// Polls until `pred` holds, at most `within`; panics with `what` and the logs otherwise.
fn wait_until(within: Duration, what: &str, logs: &dyn Fn() -> String, pred: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !pred() {
        assert!(Instant::now() < deadline, "{what} (not within {within:?})\n{}", logs());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The status dig prints for a NOTIFY of `origin` sent to `addr` (from 127.0.0.1).
fn notify_status(dig: &Path, addr: SocketAddr, origin: &str) -> String {
    let args = [format!("@{}", addr.ip()), "-p".into(), addr.port().to_string(), "+opcode=notify".into(), "+norec".into(), origin.into(), "SOA".into()];
    let out = peers::run_tool(dig, &args, Duration::from_secs(30));
    out.lines().find_map(|line| line.split("status: ").nth(1)).map(|rest| rest.split(',').next().unwrap_or_default().to_owned()).unwrap_or(out)
}

fn sighup(server: &ServerProcess) {
    let pid = server.pid().unwrap_or_else(|| panic!("no pid")).to_string();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().is_ok_and(|s| s.success()));
}

#[test]
fn portcullis_consumer_follows_a_portcullis_producer_across_changes_and_restarts() {
    let test = "portcullis_consumer_follows_a_portcullis_producer_across_changes_and_restarts";
    let Some(tools) = require(test, &["dig"]) else { return };
    let zones = RemoveOnDrop(temp_dir("catalog-zones"));
    let state = RemoveOnDrop(temp_dir("catalog-consumer"));
    write_zones(&zones.0);
    let (primary_addr, consumer_addr) = (address(), address());
    let primary_config = zones.0.join("primary.toml");
    fs::write(&primary_config, producer_config(primary_addr, &zones.0, &[consumer_addr], &["a.test.", "b.test."])).unwrap();
    let primary = portcullis(&primary_config, primary_addr, "catalog.");
    let config = consumer_config(&state.0, consumer_addr, primary_addr);
    let consumer = portcullis(&config, consumer_addr, "catalog.");
    let logs = || format!("{}\n{}", primary.logs(), consumer.logs());
    wait_until(CONVERGE, "the consumer serves a.test. and b.test.", &logs, || serves(consumer_addr, "a.test.") && serves(consumer_addr, "b.test."));
    assert_eq!(soa(consumer_addr, "c.test."), Some((Rcode::REFUSED, false)), "c.test. is not a member yet");
    // The catalog transfers to the clients the transfer ACL allows only (127.0.0.1 here).
    let axfr = |source: &str| {
        let args =
            [format!("@{}", primary_addr.ip()), "-p".into(), primary_addr.port().to_string(), "-b".into(), source.into(), "catalog.".into(), "AXFR".into()];
        peers::run_tool(&tools[0], &args, Duration::from_secs(30))
    };
    let allowed = axfr("127.0.0.1");
    assert!(allowed.contains("zones.catalog.") && allowed.contains("PTR\ta.test."), "{allowed}");
    assert!(axfr("127.0.0.2").contains("Transfer failed"), "127.0.0.2 may not transfer the catalog");
    // Members take NOTIFY under the server-wide notify ACL, like any secondary zone.
    assert_eq!(notify_status(&tools[0], consumer_addr, "a.test."), "NOERROR");
    assert_eq!(notify_status(&tools[0], consumer_addr, "c.test."), "NOTIMP");
    // c.test. becomes a member on the primary: new serial, NOTIFY, served by the consumer.
    fs::write(&primary_config, producer_config(primary_addr, &zones.0, &[consumer_addr], &["a.test.", "b.test.", "c.test."])).unwrap();
    sighup(&primary);
    wait_until(CONVERGE, "the member added on the primary is served", &logs, || serves(consumer_addr, "c.test."));
    assert!(primary.logs().contains("catalog zone produced") && primary.logs().contains("serial=2"), "{}", primary.logs());
    assert!(consumer.logs().contains("NOTIFY received"), "the consumer followed the NOTIFY\n{}", consumer.logs());
    // A reload of the consumer keeps the members (they are not in its configuration file).
    let reloads = logged(&consumer, "reloaded");
    sighup(&consumer);
    wait_until(CONVERGE, "the consumer reloads", &logs, || logged(&consumer, "reloaded") > reloads);
    for origin in ["a.test.", "b.test.", "c.test."] {
        assert!(serves(consumer_addr, origin), "{origin} lost by a reload\n{}", consumer.logs());
    }
    // b.test. leaves the catalog: REFUSED at the consumer, its kept copy deleted.
    // Its copy and the members' are kept in the state directory (`state` beside the config).
    let kept = state.0.join("state/catalog.zone.members");
    assert!(kept.join("b.test.zone").is_file(), "the member's copy is kept");
    fs::write(&primary_config, producer_config(primary_addr, &zones.0, &[consumer_addr], &["a.test.", "c.test."])).unwrap();
    sighup(&primary);
    wait_until(CONVERGE, "the member removed on the primary is REFUSED", &logs, || soa(consumer_addr, "b.test.") == Some((Rcode::REFUSED, false)));
    assert!(!kept.join("b.test.zone").exists(), "the removed member's copy is deleted");
    assert_eq!(notify_status(&tools[0], consumer_addr, "b.test."), "NOTIMP", "a removed member takes no NOTIFY");
    wait_until(CONVERGE, "the remaining members' copies are kept", &logs, || kept.join("a.test.zone").is_file() && kept.join("c.test.zone").is_file());
    let kept_catalog = state.0.join("state/catalog.zone");
    wait_until(CONVERGE, "the catalog's kept copy no longer lists b.test.", &logs, || {
        fs::read_to_string(&kept_catalog).is_ok_and(|text| text.contains("c.test.") && !text.contains("b.test."))
    });
    // A reload that changes nothing keeps the serial (3: two changes since the file's 1).
    assert_eq!(serial(primary_addr, "catalog."), Some(3));
    let reloads = logged(&primary, "reloaded");
    sighup(&primary);
    wait_until(CONVERGE, "the primary reloads", &logs, || logged(&primary, "reloaded") > reloads);
    assert_eq!(serial(primary_addr, "catalog."), Some(3), "a reload without a member change keeps the serial");
    // Restart the consumer without its primary: the members are served at once, b.test. is not.
    drop(consumer);
    drop(primary);
    let consumer = portcullis(&config, consumer_addr, "catalog.");
    let logs = || consumer.logs();
    // The primary is down: only the kept copies can answer (the bound allows for a loaded host).
    wait_until(Duration::from_secs(5), "the members are served at once after a restart", &logs, || {
        serves(consumer_addr, "a.test.") && serves(consumer_addr, "c.test.")
    });
    assert_eq!(soa(consumer_addr, "b.test."), Some((Rcode::REFUSED, false)), "the removed member stays gone\n{}", consumer.logs());
    // The producer restarted serves the same serial for the same members (kept in FILE.serial).
    let primary = portcullis(&primary_config, primary_addr, "catalog.");
    assert_eq!(serial(primary_addr, "catalog."), Some(3), "{}", primary.logs());
}

/// A Knot configuration file's text, listening on `port` in `dir`, with `extra` before its ACLs
/// and `templates` after its default template, up to its `zone:` list.
fn knot_conf(dir: &Path, port: u16, extra: &str, templates: &str) -> String {
    let conf = peers::knot_conf(dir, port, extra);
    let head = conf.strip_suffix("zone:\n").unwrap_or_else(|| panic!("Knot's configuration no longer ends with its zone list:\n{conf}"));
    format!("{head}{templates}zone:\n")
}

#[test]
fn portcullis_consumer_serves_the_members_of_a_knot_producer() {
    let test = "portcullis_consumer_serves_the_members_of_a_knot_producer";
    let Some(tools) = require(test, &["knotd"]) else { return };
    let zones = RemoveOnDrop(temp_dir("catalog-zones"));
    let state = RemoveOnDrop(temp_dir("catalog-consumer"));
    write_zones(&zones.0);
    let consumer_addr = address();
    let (knot_dir, knot_port) = (temp_dir("knot-catalog"), free_port());
    let remote = format!("remote:\n  - id: consumer\n    address: {}@{}\n", consumer_addr.ip(), consumer_addr.port());
    let mut conf = knot_conf(&knot_dir, knot_port, &remote, "");
    conf.push_str("  - domain: catalog.\n    catalog-role: generate\n    acl: transfer\n    notify: consumer\n");
    for origin in ["a.test.", "b.test."] {
        let file = zones.0.join(format!("{origin}zone"));
        let _ =
            write!(conf, "  - domain: {origin}\n    file: \"{}\"\n    acl: transfer\n    catalog-role: member\n    catalog-zone: catalog.\n", file.display());
    }
    // Knot answers queries for a catalog zone REFUSED (it only transfers it): probe a member.
    let knot = peers::start_knot(&tools[0], knot_dir, knot_port, &conf, "a.test.").unwrap_or_else(|e| panic!("{e}"));
    let config = consumer_config(&state.0, consumer_addr, knot.addr);
    let consumer = portcullis(&config, consumer_addr, "catalog.");
    let logs = || format!("{}\n{}", knot.logs(), consumer.logs());
    wait_until(CONVERGE, "the consumer serves Knot's members", &logs, || serves(consumer_addr, "a.test.") && serves(consumer_addr, "b.test."));
    assert!(consumer.logs().contains("catalog zone processed"), "{}", consumer.logs());
    assert_eq!(soa(consumer_addr, "c.test."), Some((Rcode::REFUSED, false)));
    // On Knot, c.test. becomes a member and b.test. goes: Knot's NOTIFY brings both here.
    let conf_path = knot.dir().join("knot.conf");
    let conf = fs::read_to_string(&conf_path).unwrap();
    let b_file = zones.0.join("b.test.zone");
    let b_entry = format!("  - domain: b.test.\n    file: \"{}\"\n    acl: transfer\n    catalog-role: member\n    catalog-zone: catalog.\n", b_file.display());
    assert!(conf.contains(&b_entry), "{conf}");
    fs::write(&conf_path, conf.replace(&b_entry, &b_entry.replace("b.test.", "c.test."))).unwrap();
    sighup(&knot);
    wait_until(CONVERGE, "the consumer follows Knot's catalog change", &logs, || {
        serves(consumer_addr, "c.test.") && soa(consumer_addr, "b.test.") == Some((Rcode::REFUSED, false))
    });
}

#[test]
fn knot_consumer_serves_the_members_of_a_portcullis_producer() {
    let test = "knot_consumer_serves_the_members_of_a_portcullis_producer";
    let Some(tools) = require(test, &["knotd"]) else { return };
    let zones = RemoveOnDrop(temp_dir("catalog-zones"));
    write_zones(&zones.0);
    let primary_addr = address();
    let (knot_dir, knot_port) = (temp_dir("knot-catalog"), free_port());
    let knot_addr = SocketAddr::from(([127, 0, 0, 1], knot_port));
    let primary_config = zones.0.join("primary.toml");
    fs::write(&primary_config, producer_config(primary_addr, &zones.0, &[knot_addr], &["a.test.", "b.test."])).unwrap();
    let primary = portcullis(&primary_config, primary_addr, "catalog.");
    let remote = format!("remote:\n  - id: primary\n    address: {}@{}\n", primary_addr.ip(), primary_addr.port());
    let member = format!(
        "  - id: member\n    storage: \"{}\"\n    master: primary\n    acl: [transfer, notify]\n    zonefile-sync: -1\n    journal-content: none\n",
        knot_dir.display()
    );
    let mut conf = knot_conf(&knot_dir, knot_port, &remote, &member);
    conf.push_str("  - domain: catalog.\n    master: primary\n    acl: [transfer, notify]\n    catalog-role: interpret\n    catalog-template: member\n");
    // Ready once it serves a member (it answers queries for the catalog itself REFUSED).
    let knot = peers::start_knot(&tools[0], knot_dir, knot_port, &conf, "a.test.").unwrap_or_else(|e| panic!("{e}"));
    let logs = || format!("{}\n{}", primary.logs(), knot.logs());
    wait_until(CONVERGE, "Knot serves our members", &logs, || serves(knot_addr, "a.test.") && serves(knot_addr, "b.test."));
    // A member added and one removed on our side reach Knot through our NOTIFY.
    fs::write(&primary_config, producer_config(primary_addr, &zones.0, &[knot_addr], &["a.test.", "c.test."])).unwrap();
    sighup(&primary);
    wait_until(CONVERGE, "Knot serves the member added and drops the one removed", &logs, || {
        serves(knot_addr, "c.test.") && soa(knot_addr, "b.test.").is_some_and(|(rcode, _)| rcode == Rcode::REFUSED)
    });
}

#[test]
fn bind_consumer_serves_the_members_of_a_portcullis_producer() {
    let test = "bind_consumer_serves_the_members_of_a_portcullis_producer";
    let Some(tools) = require(test, &["named"]) else { return };
    let zones = RemoveOnDrop(temp_dir("catalog-zones"));
    write_zones(&zones.0);
    let (primary_addr, bind_addr) = (address(), address());
    let primary_config = zones.0.join("primary.toml");
    fs::write(&primary_config, producer_config(primary_addr, &zones.0, &[bind_addr], &["a.test.", "b.test."])).unwrap();
    let primary = portcullis(&primary_config, primary_addr, "catalog.");
    let dir = temp_dir("bind-catalog");
    let primaries = format!("{} port {}", primary_addr.ip(), primary_addr.port());
    let run = dir.display();
    let conf = format!(
        "options {{\n  directory \"{run}\";\n  pid-file \"{run}/named.pid\";\n  session-keyfile \"{run}/session.key\";\n  \
         managed-keys-directory \"{run}\";\n  listen-on port {port} {{ 127.0.0.1; }};\n  listen-on-v6 {{ none; }};\n  recursion no;\n  \
         dnssec-validation no;\n  notify no;\n  allow-new-zones yes;\n  allow-notify {{ 127.0.0.1; }};\n  \
         catalog-zones {{ zone \"catalog.\" default-primaries {{ {primaries}; }} in-memory yes; }};\n}};\ncontrols {{ }};\n\
         zone \"catalog.\" {{ type secondary; file \"{run}/catalog.db\"; primaries {{ {primaries}; }}; }};\n",
        port = bind_addr.port()
    );
    let conf_path = dir.join("named.conf");
    fs::write(&conf_path, conf).unwrap();
    let mut command = Command::new(&tools[0]);
    command.arg("-g").arg("-n").arg("1").arg("-c").arg(&conf_path);
    let bind = ServerProcess::start("named", command, dir, bind_addr, "catalog.").unwrap_or_else(|e| panic!("{e}"));
    let logs = || format!("{}\n{}", primary.logs(), bind.logs());
    wait_until(CONVERGE, "BIND serves our members", &logs, || serves(bind_addr, "a.test.") && serves(bind_addr, "b.test."));
    fs::write(&primary_config, producer_config(primary_addr, &zones.0, &[bind_addr], &["a.test.", "c.test."])).unwrap();
    sighup(&primary);
    wait_until(CONVERGE, "BIND serves the member added and drops the one removed", &logs, || {
        serves(bind_addr, "c.test.") && soa(bind_addr, "b.test.").is_some_and(|(rcode, _)| rcode == Rcode::REFUSED)
    });
}

/// A catalog zone's file, written by hand (served by a plain primary zone): SOA with `serial`,
/// then `body`.
fn handmade_catalog(serial: u32, body: &str) -> String {
    format!("$ORIGIN catalog.\n$TTL 0\n@ SOA invalid. invalid. {serial} 3600 600 2147483646 0\n@ NS invalid.\n{body}")
}

#[test]
fn a_consumer_keeps_its_members_when_the_catalog_turns_hostile() {
    let zones = RemoveOnDrop(temp_dir("catalog-zones"));
    let state = RemoveOnDrop(temp_dir("catalog-consumer"));
    write_zones(&zones.0);
    let catalog = zones.0.join("catalog.zone");
    let members = "version TXT \"2\"\na.zones PTR a.test.\nb.zones PTR b.test.\n";
    fs::write(&catalog, handmade_catalog(1, members)).unwrap();
    let (primary_addr, consumer_addr) = (address(), address());
    let mut text = format!(
        "[server]\nlisten = [\"{primary_addr}\"]\nthreads = 1\n\n[acl]\ntransfer = [\"127.0.0.1\"]\n\n\
         [[zone]]\norigin = \"catalog.\"\nfile = \"{}\"\nnotify = [\"{consumer_addr}\"]\n",
        catalog.display()
    );
    for origin in ["a.test.", "b.test.", "c.test."] {
        let _ = write!(text, "\n[[zone]]\norigin = \"{origin}\"\nfile = \"{}\"\n", zones.0.join(format!("{origin}zone")).display());
    }
    let primary_config = zones.0.join("primary.toml");
    fs::write(&primary_config, text).unwrap();
    let primary = portcullis(&primary_config, primary_addr, "catalog.");
    let consumer = portcullis(&consumer_config(&state.0, consumer_addr, primary_addr), consumer_addr, "catalog.");
    let logs = || format!("{}\n{}", primary.logs(), consumer.logs());
    wait_until(CONVERGE, "the consumer serves a.test. and b.test.", &logs, || serves(consumer_addr, "a.test.") && serves(consumer_addr, "b.test."));
    // Each hostile version is transferred, refused as a whole, and changes nothing.
    let hostile = [
        (2, "version TXT \"3\"\na.zones PTR a.test.\n", "catalog schema version \"3\" is not supported"),
        (3, "a.zones PTR a.test.\n", "no version TXT record"),
        (4, "version TXT \"2\"\na.zones PTR a.test.\na.zones PTR c.test.\n", "broken catalog: more than one PTR record at a.zones.catalog."),
    ];
    for (serial, body, error) in hostile {
        fs::write(&catalog, handmade_catalog(serial, body)).unwrap();
        sighup(&primary);
        wait_until(CONVERGE, &format!("serial {serial} is refused: {error}"), &logs, || consumer.logs().contains(error));
        assert!(serves(consumer_addr, "a.test.") && serves(consumer_addr, "b.test."), "serial {serial} changed the members\n{}", consumer.logs());
        assert_eq!(soa(consumer_addr, "c.test."), Some((Rcode::REFUSED, false)));
    }
    // Ignored records do not stop a catalog: b.test. goes, c.test. comes, the rest is logged;
    // a.test. is listed under new entries only (twice): the first is taken, and its state reset.
    let odd = "version TXT \"2\"\nrenamed.zones PTR a.test.\ndup.zones PTR a.test.\nc.zones PTR c.test.\ngroup.c.zones TXT \"blue\"\n\
               coo.c.zones PTR other.\nself.zones PTR catalog.\nnot-ptr.zones A 192.0.2.1\n";
    fs::write(&catalog, handmade_catalog(5, odd)).unwrap();
    sighup(&primary);
    wait_until(CONVERGE, "the odd but valid catalog is processed", &logs, || {
        serves(consumer_addr, "c.test.") && soa(consumer_addr, "b.test.") == Some((Rcode::REFUSED, false))
    });
    let log = consumer.logs();
    for notice in [
        "new unique id",
        "member zone listed twice",
        "group property: ignored",
        "change-of-ownership property: ignored",
        "at or below the catalog zone itself",
        "not a PTR record",
    ] {
        assert!(log.contains(notice), "no '{notice}' in the log\n{log}");
    }
    let transfers = || consumer.logs().lines().filter(|line| line.contains("secondary zone transferred") && line.contains("zone=a.test.")).count();
    wait_until(CONVERGE, "a.test., reset, is transferred again", &logs, || transfers() == 2 && serves(consumer_addr, "a.test."));
}

#[test]
fn members_are_transferred_with_the_catalogs_key() {
    let zones = RemoveOnDrop(temp_dir("catalog-zones"));
    let state = RemoveOnDrop(temp_dir("catalog-consumer"));
    write_zones(&zones.0);
    let (primary_addr, consumer_addr) = (address(), address());
    let key = "\n[[key]]\nname = \"xfr.key.\"\nsecret = \"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=\"\n";
    // Only the key may transfer from the producer.
    let producer = producer_config(primary_addr, &zones.0, &[], &["a.test.", "b.test."]).replace("transfer = [\"127.0.0.1\"]", "transfer = [\"key xfr.key.\"]");
    let primary_config = zones.0.join("primary.toml");
    fs::write(&primary_config, format!("{producer}{key}")).unwrap();
    let primary = portcullis(&primary_config, primary_addr, "catalog.");
    let config = consumer_config(&state.0, consumer_addr, primary_addr);
    let text = fs::read_to_string(&config).unwrap();
    fs::write(&config, format!("{text}key = \"xfr.key.\"\n{key}")).unwrap();
    let consumer = portcullis(&config, consumer_addr, "catalog.");
    let logs = || format!("{}\n{}", primary.logs(), consumer.logs());
    wait_until(CONVERGE, "the members are transferred with the key", &logs, || serves(consumer_addr, "a.test.") && serves(consumer_addr, "b.test."));
}

#[test]
fn a_consumer_takes_two_hundred_members_at_once_and_a_catalog_past_its_limit_changes_nothing() {
    let zones = RemoveOnDrop(temp_dir("catalog-zones"));
    let state = RemoveOnDrop(temp_dir("catalog-consumer"));
    fs::write(zones.0.join("catalog.zone"), CATALOG).unwrap();
    let (primary_addr, consumer_addr) = (address(), address());
    let origins: Vec<String> = (0..200).map(|n| format!("m{n}.test.")).collect();
    let mut text = producer_config(primary_addr, &zones.0, &[consumer_addr], &[]);
    text = text.split("\n[[zone]]\norigin = \"a.test.\"").next().unwrap_or_default().to_owned();
    for origin in &origins {
        let file = zones.0.join(format!("{origin}zone"));
        fs::write(&file, member_text(origin)).unwrap();
        let _ = write!(text, "\n[[zone]]\norigin = \"{origin}\"\nfile = \"{}\"\ncatalog-member = \"catalog.\"\n", file.display());
    }
    let primary_config = zones.0.join("primary.toml");
    fs::write(&primary_config, &text).unwrap();
    let primary = portcullis(&primary_config, primary_addr, "catalog.");
    // The consumer takes at most 200: all of them are served.
    let config = consumer_config(&state.0, consumer_addr, primary_addr);
    fs::write(&config, format!("{}catalog-max-members = 200\n", fs::read_to_string(&config).unwrap())).unwrap();
    let started = Instant::now();
    let consumer = portcullis(&config, consumer_addr, "catalog.");
    let logs = || format!("{}\n{}", primary.logs(), consumer.logs());
    wait_until(CONVERGE, "all 200 members are served", &logs, || origins.iter().all(|origin| serves(consumer_addr, origin)));
    println!("200 catalog members served {} ms after the consumer started", started.elapsed().as_millis());
    // Ten transfers at a time: none is cut by the primary's limit of connections per client.
    let all = fs::read_to_string(consumer.dir().join("stderr.log")).unwrap_or_default();
    assert!(!all.contains("refresh failed"), "{all}");
    // A 201st member: the catalog is past the consumer's limit, refused whole; nothing changes.
    let extra = zones.0.join("extra.test.zone");
    fs::write(&extra, member_text("extra.test.")).unwrap();
    let _ = write!(text, "\n[[zone]]\norigin = \"extra.test.\"\nfile = \"{}\"\ncatalog-member = \"catalog.\"\n", extra.display());
    fs::write(&primary_config, &text).unwrap();
    sighup(&primary);
    wait_until(CONVERGE, "the catalog past the limit is refused", &logs, || consumer.logs().contains("more than 200 member zones (catalog-max-members)"));
    assert_eq!(soa(consumer_addr, "extra.test."), Some((Rcode::REFUSED, false)));
    assert!(origins.iter().all(|origin| serves(consumer_addr, origin)), "the members stay");
}
