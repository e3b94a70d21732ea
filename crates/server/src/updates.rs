//! The update service (RFC 2136): the server's side of an UPDATE the engine let through
//! (TSIG, `[acl] update`, the zone's `update-policy`: `engine/update.rs`). Updates of one zone
//! are applied one at a time (a mutex per zone) on a blocking thread, against the newest copy
//! the engine serves: prerequisites (§3.2), then the update section (§3.4) as a zone difference.
//! The difference is applied to a copy with the journal's own `diff::apply` (the replay at
//! restart takes the same path) and made durable first (appended to the zone's journal and
//! fsynced, `Journals::record_diffs`), only then is the new copy swapped into the engine (under the secondaries' install
//! lock, like every zone swap) and NOERROR sent, signed with the request's key
//! ([`portcullis_engine::Engine::update_reply`]); NOTIFY then goes to the zone's secondaries.
//! An update that fails a prerequisite, or cannot be made durable (SERVFAIL), changes nothing.
//!
//! The zone file is rewritten from the served copy ([`Updater::sync_due`]) `zonefile-sync`
//! seconds after the first update it does not hold, on a reload and on a clean stop
//! ([`Updater::sync_all`]); the journal carries the changes in between.
//! A signed zone (`dnssec-policy`) is signed from its zone file: an update of one writes the
//! unsigned zone with the change to the file first (durable, so a restart signs it again from
//! there), then the reload's signing path ([`Resign`]) signs it again, reusing every signature of
//! an RRset that did not change, and the difference between the two signed versions goes to the
//! journal. Updates of the records the signer owns (RRSIG, NSEC, NSEC3, NSEC3PARAM, DNSKEY, CDS,
//! CDNSKEY) are REFUSED there.

use crate::config::{ZoneSettings, EMBEDDED_ZONE_PATH};
use crate::journal::zones::Journals;
use crate::key_config::find_key;
use crate::outgoing::unix_now;
use crate::secondary::SecondaryZones;
use portcullis_engine::auth::diff::ZoneDiff;
use portcullis_engine::auth::update::{apply, parse_bytes, prerequisite, Applied, UpdateMessage};
use portcullis_engine::auth::zone_text::zone_text;
use portcullis_engine::auth::{Zone, ZoneSet};
use portcullis_engine::engine::{UpdateZone, UpdateZones};
use portcullis_engine::policy::TsigKey;
use portcullis_engine::zonefile::ZoneRecord;
use portcullis_engine::{Outcome, Request};
use portcullis_net::resolver_pool::Waiter;
use portcullis_net::updates::{deliver, UpdateService};
use portcullis_net::{Clock, EngineHandle};
use portcullis_wire::{NameBuf, Rcode};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

/// The dynamic updates of the primary zones (clones share everything).
#[derive(Clone, Default)]
pub struct Updater {
    /// What applying needs, set once the runtime runs ([`Updater::start`]).
    parts: Arc<OnceLock<Parts>>,
    /// The primary zones, by lower-cased origin.
    zones: Arc<Mutex<BTreeMap<Vec<u8>, Arc<UpdatedZone>>>>,
    /// Read by every update applied, written by a reload ([`Updater::hold`]): a reload reads the
    /// zone files and swaps the zones with no update in between, which it would undo.
    gate: Arc<std::sync::RwLock<()>>,
}

impl std::fmt::Debug for Updater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Updater").field("zones", &lock(&self.zones).len()).finish()
    }
}

/// Signs a signed zone again from its file, reusing the served copy's signatures (the reload's
/// signing path, `app/signing.rs`).
pub type Resign = Arc<dyn Fn(&ZoneSettings, Arc<Zone>) -> Result<Arc<Zone>, String> + Send + Sync>;

/// The running server's pieces an update touches.
struct Parts {
    resign: Resign,
    engine: EngineHandle,
    runtime: tokio::runtime::Handle,
    secondaries: Arc<SecondaryZones>,
    journals: Arc<Journals>,
    clock: Clock,
}

/// One primary zone taking updates.
struct UpdatedZone {
    settings: ZoneSettings,
    /// Signs the NOTIFY sent after an update.
    key: Option<TsigKey>,
    /// Held while an update of the zone is applied, and while its file is rewritten: when the
    /// served copy got its first change the file does not hold yet.
    unsynced: Mutex<Option<Instant>>,
}

impl Updater {
    /// The zones of `zones` that take updates, for the engine: primaries served from a file of
    /// their own.
    pub fn engine_zones(zones: &[ZoneSettings]) -> UpdateZones {
        let open = zones.iter().filter(|zone| takes_updates(zone));
        UpdateZones { zones: open.map(|zone| UpdateZone { origin: zone.origin, policy: zone.update.policy.clone() }).collect() }
    }

    /// Starts applying updates (once; at start, inside the runtime).
    pub fn start(&self, engine: &EngineHandle, secondaries: &Arc<SecondaryZones>, journals: &Arc<Journals>, clock: Clock, resign: Resign) {
        let runtime = tokio::runtime::Handle::current();
        let parts = Parts { resign, engine: engine.clone(), runtime, secondaries: secondaries.clone(), journals: journals.clone(), clock };
        let _ = self.parts.set(parts);
    }

    /// Takes the configured zones (at start and on every reload); a zone whose settings did not
    /// change keeps its state.
    pub fn configure(&self, zones: &[ZoneSettings], keys: &[TsigKey]) {
        let mut held = lock(&self.zones);
        let mut next = BTreeMap::new();
        for zone in zones.iter().filter(|zone| takes_updates(zone)) {
            let origin = zone.origin.to_lowercase().as_wire().to_vec();
            let key = zone.key.and_then(|name| find_key(keys, &name).cloned());
            let kept = held.remove(&origin).filter(|kept| kept.settings == *zone && kept.key == key);
            let state = kept.unwrap_or_else(|| Arc::new(UpdatedZone { settings: zone.clone(), key, unsynced: Mutex::new(None) }));
            next.insert(origin, state);
        }
        *held = next;
    }

    /// Rewrites the file of every zone whose first unsynced update is `zonefile-sync` old, or
    /// whose journal is full of changes the file does not hold.
    pub fn sync_due(&self) {
        let now = Instant::now();
        let full = |zone: &UpdatedZone| self.parts.get().is_some_and(|parts| parts.journals.wants_flush(&zone.settings));
        for zone in self.all() {
            let due = lock(&zone.unsynced).is_some_and(|since| now.duration_since(since) >= zone.settings.update.zonefile_sync || full(&zone));
            if due {
                self.sync(&zone);
            }
        }
    }

    /// Holds every update back until the guard is dropped, once the zone files hold every update
    /// applied so far (a reload: it reads the files again).
    pub fn hold(&self) -> std::sync::RwLockWriteGuard<'_, ()> {
        let guard = self.gate.write().unwrap_or_else(PoisonError::into_inner);
        self.sync_all();
        guard
    }

    /// Rewrites the file of every zone with updates the file does not hold (reload, stop).
    pub fn sync_all(&self) {
        for zone in self.all() {
            self.sync(&zone);
        }
    }

    fn all(&self) -> Vec<Arc<UpdatedZone>> {
        lock(&self.zones).values().cloned().collect()
    }

    fn zone(&self, origin: &NameBuf) -> Option<Arc<UpdatedZone>> {
        lock(&self.zones).get(origin.to_lowercase().as_wire()).cloned()
    }

    /// Writes the served copy of `zone` to its file when it has changes the file lacks.
    fn sync(&self, zone: &UpdatedZone) {
        let mut unsynced = lock(&zone.unsynced);
        if unsynced.is_none() {
            return;
        }
        let Some(parts) = self.parts.get() else { return };
        let Some(copy) = parts.engine.load().zones().get(&zone.settings.origin).cloned() else { return };
        match crate::durable::write_file(&zone.settings.file, zone_text(&copy).as_bytes()) {
            Ok(()) => {
                *unsynced = None;
                parts.journals.set_durable(&zone.settings, copy.serial().unwrap_or_default());
                tracing::info!(zone = %zone.settings.origin, serial = copy.serial(), file = %zone.settings.file.display(), "zone file rewritten with the updates");
            }
            Err(error) => {
                tracing::error!(zone = %zone.settings.origin, file = %zone.settings.file.display(), %error, "zone file not rewritten; the journal keeps the updates")
            }
        }
    }

    /// Applies one update (on a blocking thread): the rcode of the answer.
    fn apply_one(&self, parts: &Parts, query: &[u8], peer: std::net::SocketAddr) -> Rcode {
        let update = match parse_bytes(query) {
            Ok(update) => update,
            Err(rcode) => return rcode,
        };
        let Some(zone) = self.zone(&update.zone) else { return Rcode::REFUSED };
        let _gate = self.gate.read().unwrap_or_else(PoisonError::into_inner);
        let mut unsynced = lock(&zone.unsynced);
        let _install = parts.secondaries.install.lock().unwrap_or_else(PoisonError::into_inner);
        let engine = parts.engine.load_full();
        let Some(current) = engine.zones().get(&update.zone).cloned() else { return Rcode::SERVFAIL };
        if zone.settings.signing.is_some() && update.changes.iter().any(|change| signer_made(change.rtype())) {
            return Rcode::REFUSED;
        }
        let (rcode, change) = evaluate(&current, &update);
        let Some(change) = change else { return rcode };
        let next = if zone.settings.signing.is_some() {
            signed_next(parts, &zone.settings, &current, &change)
        } else {
            unsigned_next(parts, &zone.settings, &current, &change)
        };
        let Some(next) = next else { return Rcode::SERVFAIL };
        let zones: Vec<Arc<Zone>> = engine.zones().iter().filter(|z| z.origin() != current.origin()).cloned().chain([next.clone()]).collect();
        parts.engine.store(Arc::new(engine.with_zones(ZoneSet::new(zones))));
        if zone.settings.signing.is_none() {
            unsynced.get_or_insert_with(Instant::now);
        }
        let serial = next.serial().unwrap_or_default();
        tracing::info!(zone = %update.zone, %peer, serial, deleted = change.deleted.len(), added = change.added.len(), "dynamic update applied");
        crate::notify::notify_all(&next, &zone.settings.notify, zone.key.as_ref());
        Rcode::NOERROR
    }
}

/// The next copy of an unsigned zone: `change` applied (as the journal's replay applies it) and
/// appended to the journal (fsynced); `None` (logged) when either fails.
fn unsigned_next(parts: &Parts, zone: &ZoneSettings, current: &Zone, change: &ZoneDiff) -> Option<Arc<Zone>> {
    let origin = zone.origin;
    {
        let next = match portcullis_engine::auth::diff::apply(current, std::slice::from_ref(change)) {
            Ok(next) => next,
            Err(error) => {
                tracing::error!(zone = %origin, %error, "update not applied: the zone after it would not be servable");
                return None;
            }
        };
        // Durable before served: appended to the journal and fsynced.
        match parts.journals.record_diffs(zone, std::slice::from_ref(change), next, false) {
            Ok(next) => Some(Arc::new(next)),
            Err(unrecorded) => {
                let error = unrecorded.error;
                tracing::error!(zone = %origin, %error, "update not applied: it could not be written to the journal");
                None
            }
        }
    }
}

/// The next copy of a signed zone: the unsigned zone with `change` written to the zone file
/// (durable), signed again from there by the reload's path, the difference of the signed
/// versions appended to the journal; `None` (logged) when a step fails (the file then holds
/// the change, which the next signing serves).
fn signed_next(parts: &Parts, zone: &ZoneSettings, current: &Arc<Zone>, change: &ZoneDiff) -> Option<Arc<Zone>> {
    let origin = zone.origin;
    let unsigned = portcullis_engine::auth::update::rebuild(current, change);
    let records = unsigned_records(&unsigned);
    let data = records.iter().map(|r| portcullis_engine::auth::zone::RecordData { owner: &r.owner, rtype: r.rtype, ttl: r.ttl, rdata: &r.rdata });
    let text = zone_text(&Zone::build(&origin, unsigned.class(), data));
    if let Err(error) = crate::durable::write_file(&zone.file, text.as_bytes()) {
        tracing::error!(zone = %origin, %error, "update not applied: the zone file could not be written");
        return None;
    }
    let signed = match (parts.resign)(zone, current.clone()) {
        Ok(signed) => signed,
        Err(error) => {
            tracing::error!(zone = %origin, %error, "update written to the zone file but not signed; the next signing serves it");
            return None;
        }
    };
    match parts.journals.record(zone, current, Arc::unwrap_or_clone(signed), true) {
        Ok(next) => Some(Arc::new(next)),
        Err(unrecorded) => {
            tracing::warn!(zone = %origin, error = %unrecorded.error, "journal: cannot record the update; served without history (the zone file holds it)");
            Some(Arc::new(*unrecorded.zone))
        }
    }
}

/// Every record of `zone` but those the signer makes.
fn unsigned_records(zone: &Zone) -> Vec<ZoneRecord> {
    let mut out = Vec::new();
    for (part, node) in zone.all_nodes() {
        for rrset in part.rrsets(node).filter(|rrset| !signer_made(rrset.rtype)) {
            for rdata in part.rdatas(&rrset) {
                out.push(ZoneRecord { owner: part.node_name(node), rtype: rrset.rtype, class: zone.class(), ttl: rrset.ttl, rdata: rdata.to_vec() });
            }
        }
    }
    out
}

/// Types the signer of a `dnssec-policy` zone writes.
fn signer_made(rtype: portcullis_wire::Rtype) -> bool {
    use portcullis_wire::Rtype;
    matches!(rtype, Rtype::RRSIG | Rtype::NSEC | Rtype::NSEC3 | Rtype::NSEC3PARAM | Rtype::DNSKEY | Rtype::CDS | Rtype::CDNSKEY)
}

impl Updater {
    /// Answers `waiter` with `rcode`, signed as the request was.
    async fn answer(parts: &Parts, waiter: &Waiter, rcode: Rcode) {
        let (now, _) = parts.clock.now();
        let request =
            Request { bytes: &waiter.query, peer: waiter.peer, transport: waiter.transport, now, unix_secs: unix_now(), listener: waiter.listener, worker: 0 };
        let mut out = vec![0u8; 65_535];
        let engine = parts.engine.load_full();
        if let Outcome::Reply(len) = engine.update_reply(&request, rcode, &mut out) {
            if !deliver(waiter, &out[..len]).await {
                tracing::debug!(peer = %waiter.peer, "update answer not sent");
            }
        }
    }
}

impl UpdateService for Updater {
    fn submit(&self, waiter: Waiter) {
        let Some(parts) = self.parts.get() else { return };
        let this = self.clone();
        parts.runtime.spawn(async move {
            let (worker, query, peer) = (this.clone(), waiter.query.clone(), waiter.peer);
            let applied = tokio::task::spawn_blocking(move || worker.parts.get().map_or(Rcode::SERVFAIL, |parts| worker.apply_one(parts, &query, peer)));
            let rcode = applied.await.unwrap_or(Rcode::SERVFAIL);
            if let Some(parts) = this.parts.get() {
                Self::answer(parts, &waiter, rcode).await;
            }
        });
    }
}

/// The prerequisites, then the update: the rcode, and the difference when there is one.
fn evaluate(current: &Zone, update: &UpdateMessage) -> (Rcode, Option<ZoneDiff>) {
    let rcode = prerequisite::check(current, &update.prerequisites);
    if rcode != Rcode::NOERROR {
        return (rcode, None);
    }
    match apply(current, &update.changes) {
        Applied::Unchanged => (Rcode::NOERROR, None),
        Applied::Changed(change) => (Rcode::NOERROR, Some(*change)),
    }
}

/// A primary zone with a file of its own.
fn takes_updates(zone: &ZoneSettings) -> bool {
    zone.primaries.is_empty() && zone.file.as_os_str() != EMBEDDED_ZONE_PATH && !zone.file.as_os_str().is_empty()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
