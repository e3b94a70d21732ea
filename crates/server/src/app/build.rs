//! What the server is built from: the state that outlives one engine ([`Shared`]), the engine
//! over the loaded zones, and the zones themselves (loaded at start and on every reload).

use super::signing::Signing;
use crate::config::{Settings, ZoneSettings, EMBEDDED_ZONE, EMBEDDED_ZONE_PATH};
use crate::entropy::{self, EntropyError};
use crate::journal::zones::Journals;
use crate::secondary::SecondaryZones;
use crate::zone_files::load_zone_file;
use portcullis_engine::auth::{Zone, ZoneSet};
use portcullis_engine::cache::{Cache, CacheSettings};
use portcullis_engine::engine::{Policy, Secondaries};
use portcullis_engine::load::{load_zone_text, LoadError};
use portcullis_engine::metrics::EngineCounters;
use portcullis_engine::policy::shadow::{ShadowDetector, ShadowSettings};
use portcullis_engine::policy::tunnel::{TunnelDetector, TunnelMode, TunnelSettings};
use portcullis_engine::policy::{Acl, Cookies, Keyring, QueryLimiter, ReplayCache, Rrl, RrlCounters};
use portcullis_engine::zonefile::NoIncludes;
use portcullis_engine::Engine;
use portcullis_net::metrics::NetCounters;
use portcullis_net::resolver_pool::ResolverPool;
use portcullis_wire::NameBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// State that outlives one engine: counters, secrets, keys.
#[derive(Clone)]
pub struct Shared {
    pub(super) counters: Arc<EngineCounters>,
    pub(super) rrl_counters: Arc<RrlCounters>,
    secrets: Arc<Mutex<Secrets>>,
    rrl_key: [u8; 16],
    /// The query limiter's hash key (its table is rebuilt on reload, like RRL's settings).
    limit_key: [u8; 16],
    /// Signed requests seen (TSIG replay cache): kept across reloads, so a reload opens no window.
    tsig_replays: Arc<ReplayCache>,
    /// The hash key of the resolver pool's per-server and per-zone tables.
    pub(super) resolver_key: [u8; 16],
    /// The resolver's cache: kept across reloads (its size is fixed at startup).
    pub(super) cache: Arc<Cache>,
    /// The resolver pool, once the runtime runs.
    pub(super) pool: Arc<OnceLock<Arc<ResolverPool>>>,
    /// Secondary zones: their copies and tasks.
    pub(super) secondaries: Arc<SecondaryZones>,
    /// Catalog zones: the configuration as read, members, produced serials.
    pub(super) catalogs: Arc<crate::catalog::Catalogs>,
    /// Dynamic updates of the primary zones (`crate::updates`).
    pub(super) updates: crate::updates::Updater,
    /// Every zone's journal (shared with the secondaries' tasks).
    pub(super) journals: Arc<Journals>,
    /// UDP workers started again after a panic.
    pub(super) worker_restarts: Arc<std::sync::atomic::AtomicU64>,
    /// The I/O layer's counters (TCP connections closed, by reason).
    pub(super) net_counters: Arc<NetCounters>,
    /// Signed zones: their last signed versions, the running settings, the clock.
    pub(super) signing: Signing,
    /// The RRL table and the settings it was built with: a reload with the same settings keeps
    /// it, and with it every account's credit and debt.
    rrl: Arc<Mutex<Option<KeptRrl>>>,
    /// Current alerts (`/api/alerts`, `ctl alerts`); the capacity is fixed at start.
    pub(super) alerts: Arc<portcullis_engine::policy::Alerts>,
    /// dnstap's queue, when `[dnstap]` is on (set at start; a reload does not change it).
    pub(super) tap: Option<Arc<portcullis_net::tap::Tap>>,
    /// The key directory at start: where the RFC 5011 trust anchor state is kept.
    pub(super) key_directory: std::path::PathBuf,
    /// The tunnelling detector and the settings it was built with: a reload with the same
    /// settings keeps it (its windows and holds); its events are drained once a second.
    tunnel: Arc<Mutex<Option<KeptTunnel>>>,
    /// The tunnelling detector's hash key.
    tunnel_key: [u8; 16],
    /// The shadowing detector and its settings (kept across reloads with the same settings).
    shadow: Arc<Mutex<Option<KeptShadow>>>,
    /// Blocklists, the policy counters and the blocklist watch (`rpz_lists.rs`).
    pub(super) rpz_lists: Arc<crate::rpz_lists::Lists>,
}

/// A tunnelling detector and the settings it was built with.
type KeptTunnel = (TunnelSettings, Arc<TunnelDetector>);
/// A shadowing detector and the settings it was built with.
type KeptShadow = (ShadowSettings, Arc<ShadowDetector>);

/// An RRL table and the settings it was built with.
type KeptRrl = (portcullis_engine::policy::RrlSettings, Arc<Rrl>);

/// Cookie secrets: the current one and the one before it (still accepted, RFC 9018 §4.4).
#[derive(Clone, Copy)]
struct Secrets {
    current: [u8; 16],
    previous: Option<[u8; 16]>,
}

impl Shared {
    /// Fails when the OS random source does: no secret or key is made without it.
    pub(super) fn new(settings: &Settings) -> Result<Self, EntropyError> {
        let cache = Arc::new(Cache::new(CacheSettings { hash_key: entropy::bytes16()?, ..settings.resolver.cache }));
        crate::trust_state::load(&cache, &settings.key_directory);
        let current = match settings.cookies.secret {
            Some(secret) => secret,
            None => entropy::bytes16()?,
        };
        let alerts = Arc::new(portcullis_engine::policy::Alerts::new(settings.ops.alerts_capacity));
        let watch = crate::shadow_zones::ZoneWatch::new(alerts.clone(), settings);
        let journals = Arc::new(Journals::watched(Arc::new(watch)));
        Ok(Self {
            secondaries: Arc::new(SecondaryZones::with_journals(journals.clone())),
            journals,
            counters: Arc::default(),
            rrl_counters: Arc::default(),
            secrets: Arc::new(Mutex::new(Secrets { current, previous: None })),
            rrl_key: entropy::bytes16()?,
            tsig_replays: Arc::default(),
            limit_key: entropy::bytes16()?,
            resolver_key: entropy::bytes16()?,
            cache,
            pool: Arc::default(),
            catalogs: Arc::default(),
            updates: crate::updates::Updater::default(),
            worker_restarts: Arc::default(),
            net_counters: Arc::default(),
            signing: Signing::new(settings),
            alerts,
            rrl: Arc::default(),
            tap: None,
            key_directory: settings.key_directory.clone(),
            tunnel: Arc::default(),
            tunnel_key: entropy::bytes16()?,
            shadow: Arc::default(),
            rpz_lists: Arc::new(crate::rpz_lists::Lists::new(entropy::bytes16()?)),
        })
    }

    /// Builds an engine over `zones` with the policy of `settings`.
    pub(super) fn engine(&self, zones: ZoneSet, settings: &Settings) -> Result<Engine, String> {
        let acl = Acl::new(&settings.acl, None).map_err(|e| format!("acl: {e}"))?;
        let mut listener_acls = Vec::new();
        if !settings.acl.listeners.is_empty() {
            for addr in &settings.listen {
                listener_acls.push(Acl::new(&settings.acl, Some(&addr.to_string())).map_err(|e| format!("acl: {e}"))?);
            }
        }
        let rrl = self.rrl_for(&settings.rrl);
        let secrets = self.secrets.lock().map(|s| *s).map_err(|_| "cookie secrets poisoned".to_string())?;
        let cookies = settings.cookies.answer.then(|| Cookies::new(settings.cookies.settings, secrets.current, secrets.previous));
        let query_limit = QueryLimiter::new(&settings.query_limit, self.limit_key);
        let policy =
            Policy { acl, listener_acls, rrl, query_limit, cookies, keys: Keyring::new(settings.keys.clone()).with_replays(self.tsig_replays.clone()) };
        let origins: Vec<NameBuf> = settings.zones.iter().filter(|zone| !zone.primaries.is_empty()).map(|zone| zone.origin).collect();
        let secondaries = Secondaries { origins: origins.into(), hook: Some(self.secondaries.hook()) };
        let unloaded = unloaded_primaries(&settings.zones, &zones);
        let engine = Engine::with_policy(zones, settings.engine.clone(), self.counters.clone(), policy)
            .with_secondaries(secondaries)
            .with_unloaded(unloaded)
            .with_updates(crate::updates::Updater::engine_zones(&settings.zones));
        self.updates.configure(&settings.zones, &settings.keys);
        if !settings.resolves() {
            if !settings.rpz.is_empty() {
                tracing::warn!("[[rpz]] and [[blocklist]] apply to recursion and forwarding, and neither is on: they have no effect");
            }
            return Ok(engine);
        }
        let mut engine = engine.with_recursion(self.cache.clone());
        if let Some(detector) = self.tunnel_for(&settings.tunnelling) {
            engine = engine.with_tunnel_detector(detector);
        }
        if let Some(detector) = self.shadow_for(&settings.shadowing) {
            engine = engine.with_shadow_detector(detector);
        }
        if let Some(rpz) = self.rpz_lists.rpz(&settings.rpz, engine.zones()) {
            engine = engine.with_rpz(rpz);
        }
        Ok(engine)
    }

    /// The shadowing detector for `settings` (kept when they did not change); `None` when off.
    fn shadow_for(&self, settings: &ShadowSettings) -> Option<Arc<ShadowDetector>> {
        let mut kept = self.shadow.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !settings.enabled {
            *kept = None;
            return None;
        }
        match &*kept {
            Some((built_with, detector)) if built_with.same_detector(settings) => Some(detector.clone()),
            _ => {
                let detector = Arc::new(ShadowDetector::new(settings.clone(), self.tunnel_key));
                *kept = Some((settings.clone(), detector.clone()));
                Some(detector)
            }
        }
    }

    /// The shadowing detector in use, if any.
    pub(super) fn shadow_detector(&self) -> Option<Arc<ShadowDetector>> {
        self.shadow.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref().map(|(_, detector)| detector.clone())
    }

    /// The tunnelling detector for `settings`: the one in use when built with the same
    /// settings, else a new one; `None` when the detector is off.
    fn tunnel_for(&self, settings: &TunnelSettings) -> Option<Arc<TunnelDetector>> {
        let mut kept = self.tunnel.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if settings.mode == TunnelMode::Off {
            *kept = None;
            return None;
        }
        match &*kept {
            Some((built_with, detector)) if built_with == settings => Some(detector.clone()),
            _ => {
                let detector = Arc::new(TunnelDetector::new(settings.clone(), self.tunnel_key));
                *kept = Some((settings.clone(), detector.clone()));
                Some(detector)
            }
        }
    }

    /// The tunnelling detector in use, if any.
    pub(super) fn tunnel_detector(&self) -> Option<Arc<TunnelDetector>> {
        self.tunnel.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref().map(|(_, detector)| detector.clone())
    }

    /// The RRL table for `settings`: the one in use when it was built with the same settings
    /// (a reload keeps RRL's state), else a new one.
    fn rrl_for(&self, settings: &portcullis_engine::policy::RrlSettings) -> Arc<Rrl> {
        let mut kept = self.rrl.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match &*kept {
            Some((built_with, rrl)) if built_with == settings => rrl.clone(),
            _ => {
                let rrl = Arc::new(Rrl::new(settings, self.rrl_key, self.rrl_counters.clone()));
                *kept = Some((settings.clone(), rrl.clone()));
                rrl
            }
        }
    }

    /// Drops the RRL table kept: the next engine built gets a fresh one (`ctl rrl --clear`).
    pub(super) fn forget_rrl(&self) {
        *self.rrl.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// Applies a configured secret that changed: it becomes current, the old one stays valid.
    pub(super) fn apply_configured_secret(&self, configured: Option<[u8; 16]>) {
        let Some(secret) = configured else { return };
        if let Ok(mut secrets) = self.secrets.lock() {
            if secrets.current != secret {
                secrets.previous = Some(secrets.current);
                secrets.current = secret;
                tracing::info!("cookie secret changed; the previous one is still accepted");
            }
        }
    }

    /// Makes a new cookie secret current, keeping the old one acceptable.
    pub(super) fn rotate_secret(&self) {
        if let Ok(mut secrets) = self.secrets.lock() {
            secrets.previous = Some(secrets.current);
            secrets.current = entropy::bytes16().unwrap_or_else(|error| entropy::fatal(error));
        }
    }
}

/// Loads every zone, signing those with a `dnssec-policy` (at one `now` for all); one that
/// fails keeps its version from `previous`, if any, and is logged. Each zone's journal is
/// replayed over it at start, and gets what a reload changed before the new version is served
/// ([`journaled`]).
pub(super) fn load_zones(zones: &[ZoneSettings], previous: Option<&ZoneSet>, signing: &Signing, journals: &Journals) -> ZoneSet {
    let mut loaded = Vec::new();
    let now = signing.now();
    signing.retain(zones);
    journals.retain(zones);
    for zone in zones.iter().filter(|zone| zone.primaries.is_empty()) {
        let started = Instant::now();
        let result = match &zone.signing {
            Some(policy) => signing.load(zone, policy, previous.and_then(|set| set.get(&zone.origin)).cloned(), now),
            None => load_one(zone).map(Arc::new),
        };
        match result {
            Ok(new) => {
                let new = journaled(zone, previous.and_then(|set| set.get(&zone.origin)), new, journals);
                tracing::info!(zone = %zone.origin, file = %zone.file.display(), serial = new.serial().unwrap_or_default(), names = new.node_count(), history = new.history().len(), elapsed_ms = started.elapsed().as_millis() as u64, "zone loaded");
                loaded.push(new);
            }
            Err(error) => match previous.and_then(|set| set.get(&zone.origin)) {
                Some(old) => {
                    tracing::error!(zone = %zone.origin, file = %zone.file.display(), "zone failed to load, keeping the previous version: {error}");
                    loaded.push(old.clone());
                }
                None => {
                    tracing::error!(zone = %zone.origin, file = %zone.file.display(), "zone failed to load; its names get SERVFAIL until it loads: {error}")
                }
            },
        }
    }
    ZoneSet::new(loaded)
}

/// A primary zone just loaded from its file, with its history: at start, the journal replayed
/// over it; on a reload, the difference from the version served appended to the journal
/// (`fsync`ed) before the new version is returned to be served. A journal that cannot be
/// written leaves the zone without history (IXFR clients get the whole zone), logged.
pub(super) fn journaled(zone: &ZoneSettings, old: Option<&Arc<Zone>>, new: Arc<Zone>, journals: &Journals) -> Arc<Zone> {
    let new = Arc::unwrap_or_clone(new);
    let Some(old) = old else { return Arc::new(journals.replay(zone, new)) };
    match journals.record(zone, old, new, true) {
        Ok(recorded) => Arc::new(recorded),
        Err(unrecorded) => {
            tracing::error!(zone = %zone.origin, journal = %zone.journal.display(), error = %unrecorded.error, "journal: cannot record the reload's changes; the zone is served without history (secondaries get the whole zone)");
            Arc::new(*unrecorded.zone)
        }
    }
}

/// Origins of the primary zones in `zones` with no copy in `loaded`: their names get SERVFAIL
/// (`Engine::with_unloaded`), not recursion.
fn unloaded_primaries(zones: &[ZoneSettings], loaded: &ZoneSet) -> Vec<NameBuf> {
    zones.iter().filter(|zone| zone.primaries.is_empty() && loaded.get(&zone.origin).is_none()).map(|zone| zone.origin).collect()
}

/// Loads one zone from its file (or the embedded example), on a thread of its own: the
/// allocator's arena of that thread holds the parse's temporary data and is given back to the
/// system when the thread ends, so a large zone leaves no freed-but-held memory behind.
pub fn load_one(zone: &ZoneSettings) -> Result<Zone, LoadError> {
    let zone = zone.clone();
    match std::thread::Builder::new().name("zone-load".into()).spawn(move || load_here(&zone)).map(|t| t.join()) {
        // The copy is made by this thread, so the loader's arena ends up empty and is trimmed.
        Ok(Ok(Ok(loaded))) => {
            let copy = loaded.clone();
            drop(loaded);
            Ok(copy)
        }
        Ok(Ok(Err(error))) => Err(error),
        _ => Err(LoadError::Syntax("the zone loader thread failed".into())),
    }
}

fn load_here(zone: &ZoneSettings) -> Result<Zone, LoadError> {
    if zone.file.as_os_str() == EMBEDDED_ZONE_PATH {
        return load_zone_text(&zone.origin, EMBEDDED_ZONE, EMBEDDED_ZONE_PATH, &NoIncludes);
    }
    load_zone_file(&zone.origin, &zone.file)
}
