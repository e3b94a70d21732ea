//! The key directory of signed zones (`[server] key-directory`): per key, BIND's key files
//! `K<origin>+<alg>+<tag>.key` and `.private` (see [`crate::key_files`]) and a
//! `K<origin>+<alg>+<tag>.keystate` file with the key's role and timeline
//! ([`KeyState::to_text`]; not `.state`, which BIND's tools read as their own key-manager state
//! and refuse: `dnssec-signzone -K` must still work on this directory); per zone, `<origin>signed-serial` holds the last SOA serial served
//! (so that a restart never goes back). The directory is created mode 0700; private keys are
//! mode 0600; state files are replaced atomically ([`crate::durable::write_file`]).
//!
//! [`zone_keys`] runs the planner ([`rollover::plan`]) at `now`, makes the keys it asks for,
//! stores every changed state and returns the keys with their states. A key pair dropped into
//! the directory without a state file (BIND's `dnssec-keygen` output) is adopted: published and
//! signing from `now`, a KSK (or, with a single-key policy, a CSK) when its SEP flag is set.
//!
//! A key the planner reports [`KeyState::is_removed`] (out of the DNSKEY RRset, signing
//! nothing, for good) has its three files moved to the `removed/` subdirectory of the key
//! directory (kept for the record, never read again; the operator may delete them).

use crate::dnssec_config::DnssecPolicy;
use crate::key_files::{self, KeyPair};
use portcullis_dnssec::key::Dnskey;
use portcullis_dnssec::rollover::{self, Plan};
use portcullis_dnssec::{key_tag, Algorithm, KeyRole, KeyState};
use portcullis_wire::NameBuf;
use ring::rand::SystemRandom;
use std::os::unix::fs::DirBuilderExt;
#[cfg(test)]
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// One managed key: its files and its state.
#[derive(Debug)]
pub struct ManagedKey {
    /// The key.
    pub pair: KeyPair,
    /// Its role and timeline.
    pub state: KeyState,
    /// `<dir>/K<origin>+<alg>+<tag>`.
    pub base: PathBuf,
}

/// The zone's keys after planning at `now`, and when to plan again.
#[derive(Debug)]
pub struct ZoneKeys {
    /// Every key of the zone (removed ones included until their files go).
    pub keys: Vec<ManagedKey>,
    /// The planner's next event, if any.
    pub next_event: Option<u64>,
}

/// Creates `dir` (mode 0700) if it is missing and checks that a file can be created in it.
pub fn ensure_directory(dir: &Path) -> Result<(), String> {
    let shown = dir.display();
    if !dir.is_dir() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| format!("key directory {shown}: cannot create it: {e}"))?;
    }
    let probe = dir.join(format!(".portcullis-write-test.{}", std::process::id()));
    std::fs::OpenOptions::new().write(true).create_new(true).open(&probe).map_err(|e| format!("key directory {shown}: cannot write in it: {e}"))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// The keys of `origin` in `dir`, planned at `now` under `policy` (`zone_max_ttl`: the largest
/// TTL of the zone's records); new keys are made and every changed state is stored.
pub fn zone_keys(dir: &Path, origin: &NameBuf, policy: &DnssecPolicy, zone_max_ttl: u32, now: u64) -> Result<ZoneKeys, String> {
    ensure_directory(dir)?;
    let rng = SystemRandom::new();
    let mut keys = read_keys(dir, origin, policy.split, now, &rng)?;
    let roll = policy.roll_policy(zone_max_ttl);
    let mut plan = rollover::plan(&roll, &states(&keys), now);
    if !plan.new_keys.is_empty() {
        for &(role, algorithm) in &plan.new_keys {
            keys.push(make_key(dir, origin, role, algorithm, now, &rng)?);
        }
        plan = rollover::plan(&roll, &states(&keys), now);
    }
    apply(dir, &mut keys, &plan)?;
    retire_removed(dir, &mut keys, now)?;
    Ok(ZoneKeys { keys, next_event: plan.next_event })
}

/// Moves the files of the keys removed at `now` into `<dir>/removed/` and drops them from `keys`.
fn retire_removed(dir: &Path, keys: &mut Vec<ManagedKey>, now: u64) -> Result<(), String> {
    let removed_dir = dir.join("removed");
    for key in keys.iter().filter(|key| key.state.is_removed(now)) {
        if !removed_dir.is_dir() {
            std::fs::DirBuilder::new().mode(0o700).create(&removed_dir).map_err(|e| format!("key directory {}: {e}", removed_dir.display()))?;
        }
        for suffix in [".key", ".private", ".keystate"] {
            let mut from = key.base.as_os_str().to_owned();
            from.push(suffix);
            let from = PathBuf::from(from);
            let Some(name) = from.file_name() else { continue };
            match std::fs::rename(&from, removed_dir.join(name)) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(format!("key directory {}: moving {} to removed/: {error}", dir.display(), from.display())),
            }
        }
        tracing::info!(key = %key.pair.base_name(), "key directory: key removed from the zone, its files moved to removed/");
    }
    keys.retain(|key| !key.state.is_removed(now));
    Ok(())
}

fn states(keys: &[ManagedKey]) -> Vec<KeyState> {
    keys.iter().map(|key| key.state).collect()
}

/// Takes the planned states and stores those that changed.
fn apply(dir: &Path, keys: &mut [ManagedKey], plan: &Plan) -> Result<(), String> {
    for key in keys.iter_mut() {
        let Some(planned) = plan.keys.iter().find(|s| s.tag == key.state.tag && s.algorithm == key.state.algorithm && s.role == key.state.role) else {
            continue;
        };
        if *planned != key.state || !state_path(&key.base).exists() {
            key.state = *planned;
            write_state(&key.base, &key.state).map_err(|e| format!("key directory {}: {e}", dir.display()))?;
        }
    }
    Ok(())
}

/// `<base>.keystate`.
pub fn state_path(base: &Path) -> PathBuf {
    let mut text = base.as_os_str().to_owned();
    text.push(".keystate");
    PathBuf::from(text)
}

/// Stores a key's state atomically.
pub fn write_state(base: &Path, state: &KeyState) -> Result<(), String> {
    let path = state_path(base);
    crate::durable::write_file(&path, state.to_text().as_bytes()).map_err(|e| format!("{}: {e}", path.display()))
}

/// The `.key` files of `origin` in `dir`, read with their states (adopted at `now` when missing,
/// as KSK or CSK by `split`; nothing is written).
pub fn read_keys(dir: &Path, origin: &NameBuf, split: bool, now: u64, rng: &SystemRandom) -> Result<Vec<ManagedKey>, String> {
    let prefix = format!("k{}+", origin.to_lowercase()).to_ascii_lowercase();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("key directory {}: {e}", dir.display()))?;
    let mut bases: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".key")?;
            stem.to_ascii_lowercase().starts_with(&prefix).then(|| dir.join(stem))
        })
        .collect();
    bases.sort();
    let mut keys = Vec::new();
    for base in bases {
        let pair = key_files::read(&base, rng)?;
        if pair.owner != *origin {
            continue;
        }
        let tag = key_tag(&pair.dnskey_rdata());
        let state = match std::fs::read_to_string(state_path(&base)) {
            Ok(text) => KeyState::parse(&text).map_err(|e| format!("{}: {e}", state_path(&base).display()))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => adopted(&pair, tag, split, now),
            Err(error) => return Err(format!("{}: {error}", state_path(&base).display())),
        };
        if state.tag != tag || state.algorithm != pair.key.algorithm() {
            return Err(format!("{}: the state is for key {} algorithm {}, not this key's", state_path(&base).display(), state.tag, state.algorithm.0));
        }
        keys.push(ManagedKey { pair, state, base });
    }
    Ok(keys)
}

/// The state of a key found without one: in the zone and signing from `now`.
fn adopted(pair: &KeyPair, tag: u16, split: bool, now: u64) -> KeyState {
    let role = match (pair.flags & Dnskey::SEP != 0, split) {
        (true, true) => KeyRole::Ksk,
        (true, false) => KeyRole::Csk,
        (false, _) => KeyRole::Zsk,
    };
    let mut state = KeyState::new(pair.key.algorithm(), tag, role, now);
    state.publish = Some(now);
    state.active = Some(now);
    if role != KeyRole::Zsk {
        state.ds_publish = Some(now);
    }
    tracing::info!(key = %pair.base_name(), ?role, "key directory: adopted a key without a state file, published and signing from now");
    state
}

/// Makes a key of `role` and `algorithm`, writes its files (private key mode 0600).
fn make_key(dir: &Path, origin: &NameBuf, role: KeyRole, algorithm: Algorithm, now: u64, rng: &SystemRandom) -> Result<ManagedKey, String> {
    if !matches!(algorithm, Algorithm::ECDSAP256SHA256 | Algorithm::ECDSAP384SHA384 | Algorithm::ED25519) {
        return Err(format!(
            "zone {origin}: no key of algorithm {} in {} and ring cannot generate RSA keys: make the key elsewhere (dnssec-keygen -a RSASHA256) and put its K*.key and K*.private files in the key directory",
            algorithm.0,
            dir.display()
        ));
    }
    let (key, private) = crate::keygen::new_key(algorithm, rng)?;
    let pair = KeyPair { owner: *origin, flags: role.flags(), key };
    let base = key_files::write(dir, &pair, &private).map_err(|e| format!("key directory {}: {e}", dir.display()))?;
    let state = KeyState::new(algorithm, key_tag(&pair.dnskey_rdata()), role, now);
    tracing::info!(zone = %origin, key = %pair.base_name(), ?role, "key directory: new key");
    Ok(ManagedKey { pair, state, base })
}

/// The last serial served for `origin`, if stored.
pub fn stored_serial(dir: &Path, origin: &NameBuf) -> Option<u32> {
    std::fs::read_to_string(serial_path(dir, origin)).ok()?.trim().parse().ok()
}

/// Stores the serial served for `origin`.
pub fn store_serial(dir: &Path, origin: &NameBuf, serial: u32) -> Result<(), String> {
    let path = serial_path(dir, origin);
    crate::durable::write_file(&path, format!("{serial}\n").as_bytes()).map_err(|e| format!("{}: {e}", path.display()))
}

fn serial_path(dir: &Path, origin: &NameBuf) -> PathBuf {
    dir.join(format!("{}signed-serial", origin.to_lowercase()))
}

/// True when `path` is private to its owner (no group or other bits).
#[cfg(test)]
pub fn is_private(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 == 0)
}

#[cfg(test)]
#[path = "key_store_tests.rs"]
mod tests;
