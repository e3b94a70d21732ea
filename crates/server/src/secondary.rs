//! Secondary zones (RFC 1034 §4.3.5, RFC 1995, RFC 1996, RFC 5936): one task per zone asks its
//! primaries for the SOA serial (over UDP, then over TCP when that fails: `soa_tcp`) and, when it
//! is newer than ours (or we have none), transfers the zone (IXFR from the copy held, AXFR as
//! fallback: [`crate::secondary_xfr`]), records the change in the zone's journal and swaps the new
//! version into the engine. It does so at start, every SOA refresh interval,
//! and at once on a NOTIFY the engine accepted for the zone; after a failure it tries again
//! after the SOA retry interval (5 s at first, doubling, until a first copy is loaded), and
//! stops serving a copy not refreshed for the SOA expire interval. With a `key`, the SOA queries
//! and transfer requests are TSIG-signed and every answer must verify (RFC 8945). With a `file`,
//! each copy is written there durably (`durable`), its modification time set by every successful
//! refresh; at start the copy found there is served until a refresh replaces it, or until the
//! SOA expire interval after that time (one already older is not served). A transfer past the
//! zone's record or byte cap, or not finished within its `transfer-timeout`, is given up like
//! any failed refresh: the copy served stays. At most [`TRANSFERS_IN`] transfers run at once.
//! Without a `file`, the copy is kept in the state
//! directory; at start the kept copy plus its journal is served before any primary is asked.

use portcullis_engine::auth::transfer::soa_timers;
use portcullis_engine::auth::zone_text::zone_text;
use portcullis_engine::auth::{Zone, ZoneSet};
use portcullis_engine::engine::NotifyHook;
use portcullis_engine::policy::tsig::TsigKey;
use portcullis_net::EngineHandle;
use portcullis_wire::NameBuf;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;

use crate::config::ZoneSettings;
use crate::durable;
use crate::journal::zones::Journals;
use crate::key_config::find_key;
use crate::secondary_xfr::{refresh, Fresh};
/// Shortest time between two refreshes a NOTIFY starts.
const MIN_REFRESH: Duration = Duration::from_secs(1);
/// Refresh, retry and expire before the first copy gives the SOA's.
const DEFAULT_TIMERS: (u32, u32, u32) = (3600, 900, 604_800);

/// The task keeping one zone, with what it was started with.
struct Task {
    settings: ZoneSettings,
    key: Option<TsigKey>,
    handle: JoinHandle<()>,
    /// Set when the zone is no longer configured: the task installs nothing more.
    stopped: Arc<AtomicBool>,
}

/// The transferred zones and the tasks that keep them.
#[derive(Default)]
pub struct SecondaryZones {
    zones: Mutex<HashMap<NameBuf, Arc<Zone>>>,
    wakers: Mutex<HashMap<NameBuf, Arc<Notify>>>,
    tasks: Mutex<HashMap<NameBuf, Task>>,
    /// Held while the engine's zone set is rebuilt, so that a transfer and a reload do not
    /// undo each other.
    pub install: Mutex<()>,
    /// Told each origin whose copy was installed or removed (catalog zones follow theirs).
    observer: Mutex<Option<Observer>>,
    /// Transfers in at once.
    transfers: TransfersIn,
    /// The zones' journals (the server's).
    journals: Arc<Journals>,
}

/// Transfers in at once, from all primaries (BIND's `transfers-in`): the many members of a
/// catalog zone, starting together, stay within a primary's connections per client.
const TRANSFERS_IN: usize = 10;

/// The permits of [`TRANSFERS_IN`].
struct TransfersIn(Semaphore);

impl Default for TransfersIn {
    fn default() -> Self {
        Self(Semaphore::new(TRANSFERS_IN))
    }
}

/// Called with a zone's origin after its copy changed in the engine.
pub type Observer = Arc<dyn Fn(&NameBuf) + Send + Sync>;

impl SecondaryZones {
    /// No zones yet; their changes go to `journals`.
    pub fn with_journals(journals: Arc<Journals>) -> Self {
        Self { journals, ..Self::default() }
    }

    /// The copies transferred so far.
    pub fn loaded(&self) -> Vec<Arc<Zone>> {
        lock(&self.zones).values().cloned().collect()
    }

    /// The origins of the secondary zones configured (with a task, copy or not).
    pub fn origins(&self) -> Vec<NameBuf> {
        lock(&self.tasks).keys().copied().collect()
    }

    /// Wakes `origin`'s task to ask its primaries for a newer serial now, as a NOTIFY does
    /// (`portcullis ctl reload-zone`); false when it is not a secondary zone.
    pub fn refresh_now(&self, origin: &NameBuf) -> bool {
        let known = lock(&self.tasks).keys().any(|have| have.to_lowercase() == origin.to_lowercase());
        if known {
            self.waker(origin).notify_one();
        }
        known
    }

    /// Sets the one [`Observer`] of installed copies.
    pub fn observe(&self, observer: Observer) {
        *lock(&self.observer) = Some(observer);
    }

    /// The hook the engine calls for an accepted NOTIFY: wakes the zone's task.
    pub fn hook(self: &Arc<Self>) -> NotifyHook {
        let this = Arc::downgrade(self);
        NotifyHook(Arc::new(move |origin: &NameBuf| {
            if let Some(this) = this.upgrade() {
                this.waker(origin).notify_one();
            }
        }))
    }

    /// Starts a task for every secondary zone of `zones` that has none with these settings and
    /// key, and stops the others: their copies leave the engine.
    pub fn configure(self: &Arc<Self>, zones: &[ZoneSettings], keys: &[TsigKey], engine: &EngineHandle) {
        let key_of = |zone: &ZoneSettings| zone.key.and_then(|name| find_key(keys, &name).cloned());
        let wanted: Vec<(&ZoneSettings, Option<TsigKey>)> = zones.iter().filter(|zone| !zone.primaries.is_empty()).map(|zone| (zone, key_of(zone))).collect();
        let mut tasks = lock(&self.tasks);
        let mut stopped = Vec::new();
        tasks.retain(|origin, task| {
            let keep = wanted.iter().any(|(zone, key)| **zone == task.settings && *key == task.key);
            if !keep {
                task.stopped.store(true, Ordering::Relaxed);
                task.handle.abort();
                stopped.push(*origin);
            }
            keep
        });
        for origin in stopped {
            self.install(&origin, None, engine, None);
        }
        for (zone, key) in wanted {
            if tasks.contains_key(&zone.origin) {
                continue;
            }
            let stopped = Arc::new(AtomicBool::new(false));
            let (this, settings, task_key, engine, flag) = (self.clone(), zone.clone(), key.clone(), engine.clone(), stopped.clone());
            let handle = tokio::spawn(async move { this.keep(settings, task_key, engine, flag).await });
            tasks.insert(zone.origin, Task { settings: zone.clone(), key, handle, stopped });
        }
    }

    fn waker(&self, origin: &NameBuf) -> Arc<Notify> {
        lock(&self.wakers).entry(origin.to_lowercase()).or_default().clone()
    }

    /// The task of one zone.
    async fn keep(self: Arc<Self>, zone: ZoneSettings, key: Option<TsigKey>, engine: EngineHandle, stopped: Arc<AtomicBool>) {
        let waker = self.waker(&zone.origin);
        let mut timers = DEFAULT_TIMERS;
        // Until when the copy served may be: the SOA expire interval after the last refresh.
        let mut valid_until: Option<Instant> = None;
        // The kept copy and its journal are served at once, before any primary is asked.
        if let Some((copy, left)) = read_copy(&zone).await {
            let (journals, settings) = (self.journals.clone(), zone.clone());
            let copy = tokio::task::spawn_blocking(move || journals.replay(&settings, copy)).await;
            if let Ok(copy) = copy {
                timers = copy.soa_rdata().and_then(soa_timers).unwrap_or(DEFAULT_TIMERS);
                tracing::info!(zone = %zone.origin, serial = copy.serial().unwrap_or_default(), "secondary zone: serving the kept copy");
                self.install(&zone.origin, Some(Arc::new(copy)), &engine, Some(&stopped));
                valid_until = Some(Instant::now() + left);
            }
        }
        // Until a first copy is loaded: 5 s, doubling up to the retry interval.
        let mut backoff = 5u32;
        loop {
            let current = lock(&self.zones).get(&zone.origin).cloned();
            let wait = match refresh(&zone, current.clone(), key.as_ref(), &self.transfers.0).await {
                Ok(fresh) => {
                    if let Some(fresh) = fresh {
                        let copy = fresh.zone();
                        timers = copy.soa_rdata().and_then(soa_timers).unwrap_or(DEFAULT_TIMERS);
                        tracing::info!(zone = %zone.origin, method = fresh.method(), serial = copy.serial().unwrap_or_default(), names = copy.node_count(), "secondary zone transferred");
                        self.keep_fresh(&zone, current, fresh, &engine, &stopped).await;
                    } else {
                        touch_copy(&zone).await;
                    }
                    valid_until = Some(Instant::now() + secs(timers.2));
                    timers.0
                }
                Err(error) => {
                    let kept = lock(&self.zones).contains_key(&zone.origin);
                    tracing::warn!(zone = %zone.origin, %error, kept, "secondary zone: refresh failed; the copy served, if any, is kept");
                    if valid_until.is_some_and(|until| Instant::now() >= until) {
                        tracing::error!(zone = %zone.origin, "secondary zone expired: no longer served");
                        self.install(&zone.origin, None, &engine, Some(&stopped));
                        valid_until = None;
                    }
                    if lock(&self.zones).contains_key(&zone.origin) {
                        timers.1
                    } else {
                        let wait = backoff;
                        backoff = (backoff * 2).min(timers.1.max(5));
                        wait
                    }
                }
            };
            let refreshed = tokio::time::Instant::now();
            tokio::select! {
                () = tokio::time::sleep(secs(wait.max(1))) => {}
                // A NOTIFY that came during the refresh or the hold-off below left a permit in
                // `waker` (`notify_one`): it is taken here at once, so it is deferred, never lost.
                () = waker.notified() => {
                    tracing::info!(zone = %zone.origin, "secondary zone: NOTIFY received, refreshing");
                    // However many NOTIFY come, at most one refresh per MIN_REFRESH.
                    tokio::time::sleep_until(refreshed + MIN_REFRESH).await;
                }
            }
        }
    }

    /// Serves a newer version got from a primary, after its changes are in the journal
    /// (`fsync`ed): the differences of an IXFR, or what an AXFR changed from the copy served.
    /// The copy kept on disk is written after an AXFR, and after an IXFR only when the journal
    /// needs it (over its size with nothing it may drop); else it is marked refreshed.
    async fn keep_fresh(&self, zone: &ZoneSettings, current: Option<Arc<Zone>>, fresh: Fresh, engine: &EngineHandle, stopped: &AtomicBool) {
        let (journals, settings) = (self.journals.clone(), zone.clone());
        let incremental = matches!(fresh, Fresh::Incremental(..));
        let recorded = tokio::task::spawn_blocking(move || match (fresh, current) {
            (Fresh::Incremental(new, diffs), _) => journals.record_diffs(&settings, &diffs, new, false),
            (Fresh::Full(new), Some(old)) => journals.record(&settings, &old, new, false),
            (Fresh::Full(new), None) => Ok(new),
        })
        .await;
        let copy = match recorded {
            Ok(Ok(copy)) => copy,
            Ok(Err(unrecorded)) => {
                tracing::error!(zone = %zone.origin, journal = %zone.journal.display(), error = %unrecorded.error, "secondary zone: cannot journal the change; the copy is served and written whole");
                *unrecorded.zone
            }
            Err(_) => return,
        };
        let copy = Arc::new(copy);
        let serial = copy.serial().unwrap_or_default();
        self.install(&zone.origin, Some(copy.clone()), engine, Some(stopped));
        if incremental && !self.journals.wants_flush(zone) && zone.file.exists() {
            touch_copy(zone).await;
        } else if write_copy(zone, copy).await {
            self.journals.set_durable(zone, serial);
        }
    }

    /// Puts `copy` (or, with `None`, no copy) of `origin` into the engine; from a task, only
    /// while it is not `stopped` (checked under the lock, so a stopped zone never comes back).
    fn install(&self, origin: &NameBuf, copy: Option<Arc<Zone>>, engine: &EngineHandle, stopped: Option<&AtomicBool>) {
        let install = lock(&self.install);
        if stopped.is_some_and(|flag| flag.load(Ordering::Relaxed)) {
            return;
        }
        match &copy {
            Some(copy) => lock(&self.zones).insert(*origin, copy.clone()),
            None => lock(&self.zones).remove(origin),
        };
        let current = engine.load_full();
        let mut zones: Vec<Arc<Zone>> = current.zones().iter().filter(|zone| zone.origin() != origin).cloned().collect();
        zones.extend(copy);
        engine.store(Arc::new(current.with_zones(ZoneSet::new(zones))));
        drop(install);
        if let Some(observer) = lock(&self.observer).clone() {
            observer(origin);
        }
    }
}

/// The copy kept in the zone's `file`, when there is one that loads and has not expired, with
/// how long it may still be served: its SOA expire interval counts from the file's modification
/// time (set by each successful refresh), not from the restart.
async fn read_copy(zone: &ZoneSettings) -> Option<(Zone, Duration)> {
    if zone.file.as_os_str().is_empty() || !zone.file.exists() {
        return None;
    }
    let settings = zone.clone();
    let (loaded, age) = tokio::task::spawn_blocking(move || (crate::app::load_one(&settings), durable::age(&settings.file))).await.ok()?;
    let (file, origin) = (zone.file.display(), zone.origin);
    let copy = match loaded {
        Ok(copy) => copy,
        Err(error) => {
            tracing::warn!(zone = %origin, %file, %error, "secondary zone: the kept copy does not load");
            return None;
        }
    };
    let age = age.unwrap_or(Duration::MAX);
    let expire = secs(copy.soa_rdata().and_then(soa_timers).unwrap_or(DEFAULT_TIMERS).2);
    let serial = copy.serial().unwrap_or_default();
    match expire.checked_sub(age).filter(|left| !left.is_zero()) {
        Some(left) => {
            tracing::info!(zone = %origin, %file, serial, age_secs = age.as_secs(), expires_in_secs = left.as_secs(), "secondary zone: kept copy loaded");
            Some((copy, left))
        }
        None => {
            tracing::error!(zone = %origin, %file, serial, age_secs = age.as_secs(), expire_secs = expire.as_secs(), "secondary zone: the kept copy has expired (last refreshed longer ago than the SOA expire), not served");
            None
        }
    }
}

/// Writes `copy` to the zone's `file`, when given, durably ([`durable::write_file`]): a crash
/// never leaves half a zone, and the file's modification time is the refresh's.
/// True once written.
async fn write_copy(zone: &ZoneSettings, copy: Arc<Zone>) -> bool {
    if zone.file.as_os_str().is_empty() {
        return false;
    }
    let path = zone.file.clone();
    let written = tokio::task::spawn_blocking(move || {
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        durable::write_file(&path, zone_text(&copy).as_bytes())
    })
    .await;
    match written {
        Ok(Ok(())) => {
            tracing::debug!(zone = %zone.origin, file = %zone.file.display(), "secondary zone: copy kept");
            true
        }
        Ok(Err(error)) => {
            tracing::warn!(zone = %zone.origin, file = %zone.file.display(), %error, "secondary zone: cannot keep the copy");
            false
        }
        Err(_) => false,
    }
}

/// Marks the kept copy as refreshed now (a refresh found the serial unchanged): its expiry
/// after a restart counts from here.
async fn touch_copy(zone: &ZoneSettings) {
    if zone.file.as_os_str().is_empty() {
        return;
    }
    let path = zone.file.clone();
    if let Ok(Err(error)) = tokio::task::spawn_blocking(move || durable::touch(&path)).await {
        tracing::warn!(zone = %zone.origin, file = %zone.file.display(), %error, "secondary zone: cannot mark the kept copy refreshed");
    }
}

fn secs(seconds: u32) -> Duration {
    Duration::from_secs(u64::from(seconds))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
