//! Signed zones in the running server: loaded and signed on the zone-load thread (off the query
//! path), their last signed versions kept (for incremental signing and the serial), and the
//! refresh that signs them again when a signature nears its expiration or the key planner has
//! an event, swapped into the engine like a reload.
//!
//! The clock is read in one place, [`Signing::now`] (a plain `fn` kept in [`Signing`], so a test
//! build can put a fake clock there); everything below it takes `now` as an argument. It gives
//! two times ([`Now`]): the signatures' (inception, expiration, refresh: always the clock above,
//! as validators check them against real time) and the key planner's. The key planner's is the
//! same, except under a test hook: when the environment variable `PORTCULLIS_KEY_CLOCK_FILE`
//! names a file when the server starts, the key clock is the unix time written in that file,
//! read again at every signing; key events are then acted on at reloads (SIGHUP), not timed.
//! That is how the rollover tests drive rollovers end to end against a real validator.

use crate::config::{Settings, ZoneSettings};
use crate::dnssec_config::ZoneSigning;
use crate::zone_files::parse_zone_file;
use crate::zone_signer::{self, Now, Previous, SignedZone};
use portcullis_engine::auth::{Zone, ZoneSet};
use portcullis_engine::load::{build_checked, LoadError};
use portcullis_engine::zonefile::ZoneRecord;
use portcullis_net::EngineHandle;
use portcullis_wire::NameBuf;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest the refresh task sleeps before it looks at the clock again (a suspended host or
/// a clock step is noticed within this).
const MAX_SLEEP: Duration = Duration::from_secs(3600);

/// How long after a failed signing it is tried again.
const RETRY: Duration = Duration::from_secs(300);

/// The environment variable of the key clock test hook (see the module documentation).
pub const KEY_CLOCK_FILE: &str = "PORTCULLIS_KEY_CLOCK_FILE";

/// Seconds since the epoch, from the system clock.
pub fn system_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The key clock test hook's time: the unix seconds in `file` (a warning is logged when it
/// cannot be read).
fn read_key_clock(file: &std::path::Path) -> Result<u64, String> {
    let read = std::fs::read_to_string(file).map_err(|e| e.to_string()).and_then(|text| text.trim().parse::<u64>().map_err(|e| e.to_string()));
    if let Err(error) = &read {
        tracing::warn!(file = %file.display(), "test hook {KEY_CLOCK_FILE}: unreadable ({error}), the key clock is the system clock");
    }
    read
}

/// The key planner's time for the `dnssec` commands: the system clock, or the key clock test
/// hook's file when [`KEY_CLOCK_FILE`] is set (as in the server).
pub fn key_clock_now() -> u64 {
    std::env::var_os(KEY_CLOCK_FILE)
        .filter(|value| !value.is_empty())
        .and_then(|file| read_key_clock(std::path::Path::new(&file)).ok())
        .unwrap_or_else(system_now)
}

/// What the server keeps for its signed zones.
#[derive(Clone)]
pub struct Signing {
    /// What is kept of the last signed version of each signed zone, by origin (its records are
    /// the engine's zone).
    versions: Arc<Mutex<HashMap<NameBuf, SignedZone>>>,
    /// The running settings (the refresh signs with the zones' current policies).
    settings: Arc<Mutex<Arc<Settings>>>,
    /// The clock: seconds since the epoch.
    clock: fn() -> u64,
    /// The key clock test hook's file, if set ([`KEY_CLOCK_FILE`]).
    key_clock_file: Option<PathBuf>,
}

impl Signing {
    /// Nothing signed yet; `settings` are the running ones.
    pub fn new(settings: &Settings) -> Self {
        let key_clock_file = std::env::var_os(KEY_CLOCK_FILE).filter(|value| !value.is_empty()).map(PathBuf::from);
        if let Some(file) = &key_clock_file {
            tracing::warn!(file = %file.display(), "test hook {KEY_CLOCK_FILE}: the key planner's clock is read from this file, not the system clock");
        }
        Self { versions: Arc::default(), settings: Arc::new(Mutex::new(Arc::new(settings.clone()))), clock: system_now, key_clock_file }
    }

    /// The same, reading `clock` instead of the system clock: the seam for a fake clock (tests,
    /// rollovers driven end to end).
    #[allow(dead_code)]
    pub fn with_clock(self, clock: fn() -> u64) -> Self {
        Self { clock, ..self }
    }

    /// The times of a signing: the clock's, and the key clock's (the clock's, or the test hook
    /// file's when set and readable; an unreadable file is logged and the clock used).
    pub fn now(&self) -> Now {
        let now = (self.clock)();
        match self.key_clock_file.as_deref().map(read_key_clock) {
            Some(Ok(keys)) => Now { keys, signatures: now, timed_key_events: false },
            None | Some(Err(_)) => Now::at(now),
        }
    }

    /// Records the settings now running (after a reload).
    pub fn set_settings(&self, settings: &Settings) {
        *self.settings.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(settings.clone());
    }

    fn previous(&self, origin: &NameBuf) -> Option<SignedZone> {
        self.versions.lock().unwrap_or_else(PoisonError::into_inner).get(origin).copied()
    }

    /// Forgets the versions of zones that are no longer signed.
    pub fn retain(&self, zones: &[ZoneSettings]) {
        let signed = |origin: &NameBuf| zones.iter().any(|z| z.origin == *origin && z.signing.is_some());
        self.versions.lock().unwrap_or_else(PoisonError::into_inner).retain(|origin, _| signed(origin));
    }

    /// Loads and signs `zone` at `now` (on a thread of its own, like [`super::load_one`]), and
    /// keeps the signed version; `served` is the zone's copy in the running engine, whose
    /// signatures are reused where they may be.
    pub fn load(&self, zone: &ZoneSettings, signing: &ZoneSigning, served: Option<Arc<Zone>>, now: Now) -> Result<Arc<Zone>, LoadError> {
        let previous = self.previous(&zone.origin).zip(served);
        let (origin, file, signing) = (zone.origin, zone.file.clone(), signing.clone());
        let thread = std::thread::Builder::new().name("zone-sign".into()).spawn(move || sign_file(&origin, &file, &signing, previous, now));
        let (built, signed) = match thread.map(std::thread::JoinHandle::join) {
            Ok(Ok(result)) => result?,
            _ => return Err(LoadError::Syntax("the zone signing thread failed".into())),
        };
        self.versions.lock().unwrap_or_else(PoisonError::into_inner).insert(zone.origin, signed);
        // A zone built by the signing thread is copied out here, so that thread's allocator arena
        // ends up empty and goes back to the system (as `load_one` does); one served on is kept.
        Ok(match Arc::try_unwrap(built) {
            Ok(built) => {
                let copy = built.clone();
                drop(built);
                Arc::new(copy)
            }
            Err(served) => served,
        })
    }

    /// Moves the next signing of `origin` to `until` (after a failed signing).
    fn postpone(&self, origin: &NameBuf, until: u64) {
        if let Some(version) = self.versions.lock().unwrap_or_else(PoisonError::into_inner).get_mut(origin) {
            version.next_signing = until;
        }
    }

    /// How long until the next signing is due, if any zone is signed (at most [`MAX_SLEEP`]).
    pub fn next_due(&self) -> Option<Duration> {
        let next = self.versions.lock().unwrap_or_else(PoisonError::into_inner).values().map(|v| v.next_signing).min()?;
        Some(Duration::from_secs(next.saturating_sub((self.clock)())).min(MAX_SLEEP))
    }

    /// Signs again every zone whose signing is due and swaps the engine's copy; a zone that
    /// fails keeps its previous version (logged). Secondaries are notified of new serials.
    pub fn refresh(&self, engine: &EngineHandle, install: &Mutex<()>) {
        let now = self.now();
        let settings = self.settings.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let served = engine.load_full();
        let due: Vec<&ZoneSettings> = settings
            .zones
            .iter()
            .filter(|zone| zone.signing.is_some() && self.previous(&zone.origin).is_some_and(|v| v.next_signing <= now.signatures))
            .collect();
        if due.is_empty() {
            return;
        }
        let mut fresh = Vec::new();
        for zone in due {
            let Some(signing) = &zone.signing else { continue };
            match self.load(zone, signing, served.zones().get(&zone.origin).cloned(), now) {
                Ok(built) => {
                    tracing::info!(zone = %zone.origin, serial = built.serial(), "zone signed again (signatures refreshed or keys changed)");
                    fresh.push(built);
                }
                Err(error) => {
                    tracing::error!(zone = %zone.origin, "zone signing failed, keeping the previous version; trying again in {} s: {error}", RETRY.as_secs());
                    self.postpone(&zone.origin, now.signatures + RETRY.as_secs());
                }
            }
        }
        let _install = install.lock().unwrap_or_else(PoisonError::into_inner);
        let current = engine.load_full();
        let replaced = |zone: &Arc<Zone>| fresh.iter().any(|new| new.origin() == zone.origin());
        let zones: Vec<Arc<Zone>> = current.zones().iter().filter(|zone| !replaced(zone)).cloned().chain(fresh.iter().cloned()).collect();
        let new = Arc::new(current.with_zones(ZoneSet::new(zones)));
        engine.store(new.clone());
        super::reload::notify_changed(&settings.zones, Some(current.zones()), new.zones(), &settings.keys);
    }
}

/// Reads, signs and builds one zone; `previous` is what was kept of the version served and
/// that version, served on when nothing changed and nothing is due.
fn sign_file(
    origin: &NameBuf,
    file: &std::path::Path,
    signing: &ZoneSigning,
    previous: Option<(SignedZone, Arc<Zone>)>,
    now: Now,
) -> Result<(Arc<Zone>, SignedZone), LoadError> {
    let records = parse_zone_file(origin, file).map_err(|e| LoadError::Syntax(e.to_string()))?;
    if let Some((kept, served)) = &previous {
        if zone_signer::is_unchanged(origin, &records, signing, kept, now).map_err(LoadError::Syntax)? {
            return Ok((served.clone(), *kept));
        }
    }
    let served = previous.as_ref().map(|(_, zone)| zone_signer::zone_records(zone));
    let previous = previous.as_ref().zip(served.as_deref()).map(|((kept, _), records)| Previous { kept: *kept, records });
    let (signed, kept) = zone_signer::sign(origin, &records, signing, previous.as_ref(), now).map_err(LoadError::Syntax)?;
    drop((records, served));
    let as_zone: Vec<ZoneRecord> =
        signed.into_iter().map(|r| ZoneRecord { owner: r.owner, rtype: r.rtype, class: r.class, ttl: r.ttl, rdata: r.rdata }).collect();
    let built = build_checked(origin, &as_zone)?;
    Ok((Arc::new(built), kept))
}

#[cfg(test)]
#[path = "signing_tests.rs"]
mod tests;
