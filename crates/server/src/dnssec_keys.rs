//! `dnssec status`, `dnssec ds-seen` and `dnssec ds-gone`: a signed zone's keys as the rollover
//! planner sees them ([`rollover::describe`]), and the two observations of the parent that a
//! rollover waits for (RFC 7583 §3.3.1: the new DS is in the parent's DS RRset; the old one
//! left it), recorded in the key's `.keystate` file (replaced atomically). The server acts on
//! them when it plans again: at its next reload or key event. Here the server is told to reload
//! at once: with `--pid`, by SIGHUP; else over its control socket (`--socket`, else the one of
//! the configuration, as `portcullis ctl`) when one answers.
//!
//! The time is the system clock's, or the key clock test hook's (see `app::signing`). A server
//! planning at the very moment the state file is replaced may store the state it read before;
//! `dnssec status` shows whether the observation holds (run the command again if not).

use crate::cli::{KeyEventArgs, ZoneArgs};
use crate::config::ZoneSettings;
use crate::dnssec_config::ZoneSigning;
use crate::key_store::{self, ManagedKey};
use crate::keygen::parse_origin;
use crate::zone_files::parse_zone_file;
use portcullis_dnssec::rollover;
use portcullis_dnssec::KeyRole;
use portcullis_wire::NameBuf;
use ring::rand::SystemRandom;
use std::process::ExitCode;

/// Which observation of the parent to record.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Observed {
    /// The key's DS is in the parent's DS RRset.
    DsSeen,
    /// The key's DS is no longer in the parent's DS RRset.
    DsGone,
}

/// Prints the status; exit 1 on an error.
pub fn status(args: &ZoneArgs) -> ExitCode {
    report("status", status_lines(args))
}

/// Records an observation; exit 1 on an error.
pub fn record(args: &KeyEventArgs, observed: Observed) -> ExitCode {
    let command = if observed == Observed::DsSeen { "ds-seen" } else { "ds-gone" };
    report(command, record_event(args, observed))
}

fn report(command: &str, result: Result<Vec<String>, String>) -> ExitCode {
    match result {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("portcullis dnssec {command}: {error}");
            ExitCode::from(1)
        }
    }
}

/// The zone's settings (it must have a `dnssec-policy`) from the configuration.
fn signed_zone(origin: &NameBuf, config: Option<&std::path::Path>) -> Result<(ZoneSettings, ZoneSigning), String> {
    let serve = crate::cli::ServeArgs { config: config.map(std::path::Path::to_path_buf), ..crate::cli::ServeArgs::default() };
    let shown = config.map_or_else(|| "the default configuration".to_owned(), |c| c.display().to_string());
    let settings = crate::config::load(&serve).map_err(|errors| errors.join("; "))?;
    let zone = settings.zones.iter().find(|zone| zone.origin == *origin).ok_or_else(|| format!("{shown}: no [[zone]] {origin}"))?;
    let signing = zone.signing.clone().ok_or_else(|| format!("{shown}: zone {origin} has no dnssec-policy"))?;
    Ok((zone.clone(), signing))
}

/// The zone's keys in its key directory, as stored (nothing is planned or written).
fn stored_keys(origin: &NameBuf, signing: &ZoneSigning, now: u64) -> Result<Vec<ManagedKey>, String> {
    let keys = key_store::read_keys(&signing.key_directory, origin, signing.policy.split, now, &SystemRandom::new())?;
    if keys.is_empty() {
        return Err(format!("zone {origin}: no key in {} yet (serve makes them when it signs the zone)", signing.key_directory.display()));
    }
    Ok(keys)
}

fn status_lines(args: &ZoneArgs) -> Result<Vec<String>, String> {
    let origin = parse_origin(&args.origin)?;
    let (zone, signing) = signed_zone(&origin, args.config.as_deref())?;
    let now = crate::app::key_clock_now();
    let keys = stored_keys(&origin, &signing, now)?;
    let max_ttl = parse_zone_file(&origin, &zone.file).map_err(|e| e.to_string())?.iter().map(|r| r.ttl).max().unwrap_or(0);
    let states: Vec<_> = keys.iter().map(|key| key.state).collect();
    let mut lines = rollover::describe(&origin.to_string(), &signing.policy.roll_policy(max_ttl), &states, now);
    lines.push(match key_store::stored_serial(&signing.key_directory, &origin) {
        Some(serial) => format!("serial served last: {serial}"),
        None => "serial served last: unknown (not signed yet)".to_owned(),
    });
    Ok(lines)
}

fn record_event(args: &KeyEventArgs, observed: Observed) -> Result<Vec<String>, String> {
    let origin = parse_origin(&args.origin)?;
    let (_, signing) = signed_zone(&origin, args.config.as_deref())?;
    let now = crate::app::key_clock_now();
    let keys = stored_keys(&origin, &signing, now)?;
    let matching: Vec<&ManagedKey> = keys.iter().filter(|key| key.state.tag == args.tag).collect();
    let key = match matching.as_slice() {
        [key] => *key,
        [] => return Err(format!("zone {origin}: no key with tag {} (see `portcullis dnssec status {origin}`)", args.tag)),
        _ => return Err(format!("zone {origin}: several keys have tag {}; remove the ambiguity by hand in their .keystate files", args.tag)),
    };
    if key.state.role == KeyRole::Zsk {
        return Err(format!("zone {origin}: key {} is a ZSK: the parent has no DS for it", args.tag));
    }
    let mut state = key.state;
    let message = match observed {
        Observed::DsSeen if state.ds_seen.is_some() => format!("key {}: the DS was already recorded as seen", args.tag),
        Observed::DsSeen => {
            state.ds_seen = Some(now);
            format!("key {}: DS recorded as seen in the parent", args.tag)
        }
        Observed::DsGone if state.ds_gone.is_some() => format!("key {}: the DS was already recorded as gone", args.tag),
        Observed::DsGone if state.has_cds(now) => {
            return Err(format!("zone {origin}: key {} still has CDS/CDNSKEY published (the parent is asked to keep its DS): not recorded", args.tag))
        }
        Observed::DsGone => {
            state.ds_gone = Some(now);
            format!("key {}: DS recorded as gone from the parent", args.tag)
        }
    };
    if state != key.state {
        key_store::write_state(&key.base, &state)?;
    }
    Ok(vec![message, tell_server(args)])
}

/// Tells the server to plan again: SIGHUP to `--pid`, else a reload over the control socket
/// when one answers; else says that a reload is needed.
fn tell_server(args: &KeyEventArgs) -> String {
    const LATER: &str = "reload the server (SIGHUP or `portcullis ctl reload`) to act on it now, else it is acted on at its next reload or key event";
    let Some(pid) = args.pid else {
        let Some(socket) = control_socket(args) else { return LATER.to_owned() };
        return match crate::ctl::exchange(&socket, &serde_json::json!({"command": "reload"})) {
            Ok(reply) if reply["ok"] == serde_json::json!(true) => format!("server told to plan again (reload over {})", socket.display()),
            Ok(reply) => format!("the server's reload over {} failed ({}): {LATER}", socket.display(), reply["error"].as_str().unwrap_or("no reason given")),
            Err(error) if args.socket.is_some() => format!("control socket {}: {error}: {LATER}", socket.display()),
            Err(_) => LATER.to_owned(),
        };
    };
    let target = i32::try_from(pid).map(nix::unistd::Pid::from_raw);
    match target.map(|target| nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGHUP)) {
        Ok(Ok(())) => format!("server {pid} told to plan again (SIGHUP)"),
        Ok(Err(error)) => format!("could not signal server {pid} ({error}): reload it (SIGHUP) to act on it now"),
        Err(_) => format!("{pid} is not a process id: reload the server (SIGHUP) to act on it now"),
    }
}

/// The control socket of `--socket`, else of the configuration (`[control] socket`, else beside
/// the file), when there is one.
fn control_socket(args: &KeyEventArgs) -> Option<std::path::PathBuf> {
    if let Some(socket) = &args.socket {
        return Some(socket.clone());
    }
    let config = args.config.as_deref()?;
    let serve = crate::cli::ServeArgs { config: Some(config.to_path_buf()), ..crate::cli::ServeArgs::default() };
    let settings = crate::config::load(&serve).ok()?;
    crate::ops_config::control_socket(&settings.ops, Some(config))
}
