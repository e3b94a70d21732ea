//! The server's side of response policy (issue 16 item 3): reading the `[[blocklist]]` files,
//! building the engine's `Rpz` at every engine build (so SIGHUP reads every list again), the
//! watch that reloads a list whose file changed (modification time or size, polled once a
//! second from the run loop, the parse on a blocking thread) and the log of matches
//! (`log = true`: one structured line each, and an alert of kind `blocklist`).

use crate::rpz_config::{ListConfig, RpzConfig};
use portcullis_engine::auth::ZoneSet;
use portcullis_engine::policy::rpz::{Blocklist, ListEntry, Rpz, RpzCounters};
use portcullis_engine::policy::{Alert, AlertAction, AlertKind, Alerts};
use portcullis_net::EngineHandle;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

/// What identifies a version of a list file: modification time and size.
type Stamp = Option<(SystemTime, u64)>;

/// One list as loaded.
#[derive(Clone)]
struct Loaded {
    config: ListConfig,
    stamp: Stamp,
    entry: ListEntry,
}

/// The lists in use, their counters and the key of their hashes; kept across reloads.
pub struct Lists {
    key: [u8; 16],
    loaded: Mutex<Vec<Loaded>>,
    /// The policy counters (shared by every `Rpz` built).
    pub counters: Arc<RpzCounters>,
    polling: AtomicBool,
}

impl Lists {
    /// No lists yet; `key` hashes the names (from the OS random source).
    pub fn new(key: [u8; 16]) -> Self {
        Self { key, loaded: Mutex::default(), counters: Arc::default(), polling: AtomicBool::new(false) }
    }

    /// The engine's policy for `config` over `zones` (every list file read again); `None` when
    /// nothing is configured.
    pub fn rpz(&self, config: &RpzConfig, zones: &ZoneSet) -> Option<Arc<Rpz>> {
        if config.is_empty() {
            self.lock().clear();
            return None;
        }
        let loaded: Vec<Loaded> = config.lists.iter().map(|list| self.load(list)).collect();
        let entries = loaded.iter().map(|list| list.entry.clone()).collect();
        *self.lock() = loaded;
        let rpz = Rpz::new(config.zones.clone(), entries, zones, self.counters.clone());
        log_zones(&rpz);
        Some(Arc::new(rpz))
    }

    /// True when blocklists are in use (the watch has files to look at).
    pub fn has_lists(&self) -> bool {
        !self.lock().is_empty()
    }

    /// Reads and parses one list; a file that cannot be read gives an empty list (logged).
    fn load(&self, config: &ListConfig) -> Loaded {
        let started = Instant::now();
        let stamp = stamp(&config.path);
        let name: Arc<str> = config.path.display().to_string().into();
        let list = match std::fs::read_to_string(&config.path) {
            Ok(text) => {
                let parsed = Blocklist::parse(&text, config.format, self.key);
                for warning in &parsed.warnings {
                    tracing::warn!(blocklist = %name, "{warning}; skipped");
                }
                if parsed.bad > parsed.warnings.len() {
                    tracing::warn!(blocklist = %name, "{} more bad lines skipped", parsed.bad - parsed.warnings.len());
                }
                let elapsed_ms = started.elapsed().as_millis() as u64;
                tracing::info!(blocklist = %name, names = parsed.list.len(), bytes = parsed.list.heap_bytes(), elapsed_ms, "blocklist loaded");
                parsed.list
            }
            Err(error) => {
                tracing::error!(blocklist = %name, "cannot read the blocklist ({error}); it blocks nothing until it can be read");
                Blocklist::default()
            }
        };
        let entry = ListEntry { name, list: Arc::new(list), action: config.action, log: config.log };
        Loaded { config: config.clone(), stamp, entry }
    }

    /// Checks every list file; those that changed are read again and a new engine with them is
    /// swapped in (under `install`, the lock of every engine swap but a reload's). Runs on a
    /// blocking thread, one at a time.
    pub fn poll(&self, engine: &EngineHandle, install: &Mutex<()>) {
        if self.polling.swap(true, Ordering::AcqRel) {
            return;
        }
        let changed: Vec<usize> = self.lock().iter().enumerate().filter(|(_, list)| stamp(&list.config.path) != list.stamp).map(|(i, _)| i).collect();
        if !changed.is_empty() {
            let configs: Vec<ListConfig> = self.lock().iter().map(|list| list.config.clone()).collect();
            let reloaded: Vec<(usize, Loaded)> = changed.iter().filter_map(|&i| configs.get(i).map(|config| (i, self.load(config)))).collect();
            let _install = install.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let entries = {
                let mut loaded = self.lock();
                for (i, list) in reloaded {
                    if let Some(slot) = loaded.get_mut(i).filter(|slot| slot.config == list.config) {
                        *slot = list;
                    }
                }
                loaded.iter().map(|list| list.entry.clone()).collect::<Vec<_>>()
            };
            let current = engine.load_full();
            if let Some(rpz) = current.recursion().and_then(|recursion| recursion.rpz.clone()) {
                let next = current.with_zones(current.zones().clone()).with_rpz(Arc::new(rpz.with_lists(entries)));
                engine.store(Arc::new(next));
                tracing::info!(lists = changed.len(), "blocklist file changed; reloaded");
            }
        }
        self.polling.store(false, Ordering::Release);
    }

    /// Logs the matches of sources with `log = true` and raises them as alerts, and logs the
    /// bad triggers of zones compiled since the last call.
    pub fn log_events(&self, alerts: &Alerts) {
        for warning in self.counters.drain_warnings() {
            tracing::warn!("{warning}");
        }
        let now = crate::outgoing::unix_now();
        for event in self.counters.drain_events() {
            let verb = if event.applied { "rewritten" } else { "would be rewritten (policy disabled)" };
            tracing::info!(
                detector = "rpz",
                client = %event.client,
                qname = %event.qname,
                source = %event.source,
                trigger = event.kind.as_str(),
                action = event.action,
                "query {verb} by {}: {} trigger, {}",
                event.source,
                event.kind.as_str(),
                event.action,
            );
            let detail = format!("{} ({} trigger, {}) by {}", event.qname, event.kind.as_str(), event.action, event.source);
            let action = if event.applied { AlertAction::Block } else { AlertAction::Log };
            alerts.raise(Alert::new(AlertKind::Blocklist, action, now, detail).domain(event.qname.to_string()).client(event.client.to_string()));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Loaded>> {
        self.loaded.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Logs each policy zone's triggers (or that it has no copy yet).
fn log_zones(rpz: &Rpz) {
    for (origin, counts) in rpz.zone_triggers() {
        match counts {
            Some([client_ip, qname, ip, nsdname, nsip]) => tracing::info!(zone = %origin, client_ip, qname, ip, nsdname, nsip, "response policy zone in use"),
            None => tracing::info!(zone = %origin, "response policy zone has no copy yet; it matches nothing until it loads"),
        }
    }
}

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}
