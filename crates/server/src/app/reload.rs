//! SIGHUP (and a cookie secret's rotation): the configuration and zones read again and a new
//! engine swapped in whole; queries in flight keep the engine they started with, and a zone that
//! fails to load keeps its previous version.

use super::build::{load_zones, Shared};
use crate::cli::ServeArgs;
use crate::config::{self, ZoneSettings};
use portcullis_engine::auth::ZoneSet;
use portcullis_engine::policy::TsigKey;
use portcullis_net::EngineHandle;
use std::sync::Arc;
use std::time::Instant;

/// Re-reads the configuration and zones and swaps the engine; queries are never dropped. An
/// error (a bad configuration) keeps the running one and is logged and returned; on success, the
/// settings read (the control socket follows them: `control_place.rs`).
pub fn reload(engine: &EngineHandle, args: &ServeArgs, listen: &[std::net::SocketAddr], shared: &Shared) -> Result<config::Settings, String> {
    let started = Instant::now();
    let settings = match config::load(args) {
        Ok(settings) => settings,
        Err(errors) => {
            for error in &errors {
                tracing::error!("reload: {error}; keeping the running configuration");
            }
            return Err(errors.join("; "));
        }
    };
    let settings = shared.catalogs.set_base(settings);
    crate::catalog::create_member_dirs(&settings);
    if settings.listen != listen {
        tracing::warn!("reload: listen addresses changed; they take effect on restart");
    }
    // Zone files hold every dynamic update before they are read again, and no update comes in
    // until the zones read are swapped in.
    let updates = shared.updates.clone();
    let _updates = updates.hold();
    let current = engine.load_full();
    if let Some(watch) = shared.journals.watch() {
        watch.configure(&settings);
    }
    let mut zones = shared.catalogs.produce(&settings.zones, load_zones(&settings.zones, Some(current.zones()), &shared.signing, &shared.journals));
    shared.apply_configured_secret(settings.cookies.secret);
    {
        // Secondary copies stay (those of zones no longer configured go with their tasks).
        let _install = shared.secondaries.install.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let keep = shared.secondaries.loaded().into_iter().filter(|copy| settings.zones.iter().any(|z| z.origin == *copy.origin() && !z.primaries.is_empty()));
        zones = ZoneSet::new(zones.iter().cloned().chain(keep).collect());
        match shared.engine(zones, &settings) {
            Ok(new) => {
                let new = Arc::new(new);
                engine.store(new.clone());
                shared.signing.set_settings(&settings);
                notify_changed(&settings.zones, Some(current.zones()), new.zones(), &settings.keys);
            }
            Err(error) => {
                tracing::error!("reload: {error}; keeping the running configuration");
                return Err(error);
            }
        }
    }
    shared.secondaries.configure(&settings.zones, &settings.keys, engine);
    shared.catalogs.changed.notify_one();
    if let Some(pool) = shared.pool.get() {
        if pool.settings().dnssec != settings.resolver.settings.dnssec {
            // What the cache holds was validated from the old anchors: keys, denials and the
            // security of every entry (a key no longer trusted must not keep its answers secure).
            shared.cache.clear();
            tracing::info!("reload: DNSSEC validation settings changed (trust anchors, negative trust anchors or on/off); the cache is emptied");
        }
        pool.set_settings(Arc::new(settings.resolver.settings.clone()));
        pool.set_iterate(settings.resolver.enabled);
        if pool.forward_settings() != settings.forward {
            pool.set_forward(&settings.forward);
            tracing::info!(forward_zones = settings.forward.len(), "reload: forward zones replaced");
        }
    }
    if settings.resolver.cache.max_entries != shared.cache.settings().max_entries || settings.resolver.cache.max_bytes != shared.cache.settings().max_bytes {
        tracing::warn!("reload: the cache size changes on restart");
    }
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "reloaded");
    Ok(settings)
}

/// Sends NOTIFY for every zone with secondaries whose serial is not the one in `previous` (all
/// of them at start). Runs on (or in the context of) the I/O runtime.
pub(super) fn notify_changed(zones: &[ZoneSettings], previous: Option<&ZoneSet>, current: &ZoneSet, keys: &[TsigKey]) {
    for zone in zones.iter().filter(|zone| !zone.notify.is_empty()) {
        let Some(loaded) = current.get(&zone.origin) else { continue };
        let before = previous.and_then(|set| set.get(&zone.origin)).and_then(|old| old.serial());
        if before.is_some() && before == loaded.serial() {
            continue;
        }
        let key = zone.key.and_then(|name| crate::key_config::find_key(keys, &name));
        crate::notify::notify_all(loaded, &zone.notify, key);
    }
}
