//! Catalog zones in the running server (`crate::catalog`): each copy of a consumer catalog zone
//! installed wakes one task, which reads its members and, when they changed, swaps in an engine
//! built for the effective zone list (configured zones plus members: NOTIFY is taken for the
//! members, names of removed ones are REFUSED like any name not served) and starts and stops the
//! members' secondary tasks, as a reload does, without reading the configuration again. A reload
//! wakes it too when done: the last list applied is then always the newest.

use super::build::Shared;
use crate::catalog::create_member_dirs;
use portcullis_engine::auth::{Zone, ZoneSet};
use portcullis_net::EngineHandle;
use portcullis_wire::NameBuf;
use std::collections::HashSet;
use std::sync::Arc;

/// Starts following the consumer catalog zones; runs on the I/O runtime.
pub(super) fn start(shared: &Shared, engine: &EngineHandle) {
    let catalogs = Arc::downgrade(&shared.catalogs);
    shared.secondaries.observe(Arc::new(move |origin| {
        if let Some(catalogs) = catalogs.upgrade() {
            if catalogs.is_consumer(origin) {
                catalogs.changed.notify_one();
            }
        }
    }));
    let (shared, engine) = (shared.clone(), engine.clone());
    tokio::spawn(async move {
        loop {
            shared.catalogs.changed.notified().await;
            let (shared, engine) = (shared.clone(), engine.clone());
            let _ = tokio::task::spawn_blocking(move || apply(&shared, &engine)).await;
        }
    });
}

/// Reads the members of every consumer catalog zone served and applies a change.
fn apply(shared: &Shared, engine: &EngineHandle) {
    let Some(base) = shared.catalogs.base() else { return };
    let served = engine.load_full();
    let (mut changed, mut reset) = (shared.catalogs.take_reloaded(), Vec::new());
    for zone in base.zones.iter().filter(|zone| shared.catalogs.is_consumer(&zone.origin)) {
        if let Some(copy) = served.zones().get(&zone.origin) {
            let update = shared.catalogs.update(zone, copy);
            changed |= update.changed;
            reset.extend(update.reset);
        }
    }
    if !changed {
        return;
    }
    let settings = shared.catalogs.effective(&base);
    create_member_dirs(&settings);
    if !reset.is_empty() {
        // Their tasks and copies go first, so that the ones started below begin afresh.
        let reset: HashSet<NameBuf> = reset.into_iter().collect();
        let kept: Vec<_> = settings.zones.iter().filter(|zone| !reset.contains(&zone.origin)).cloned().collect();
        shared.secondaries.configure(&kept, &settings.keys, engine);
    }
    {
        let _install = shared.secondaries.install.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = engine.load_full();
        let configured: HashSet<NameBuf> = settings.zones.iter().map(|zone| zone.origin).collect();
        let kept: Vec<Arc<Zone>> = current.zones().iter().filter(|zone| configured.contains(zone.origin())).cloned().collect();
        match shared.engine(ZoneSet::new(kept), &settings) {
            Ok(new) => engine.store(Arc::new(new)),
            Err(error) => {
                tracing::error!("catalog zone: {error}; members not applied");
                return;
            }
        }
    }
    shared.secondaries.configure(&settings.zones, &settings.keys, engine);
    shared.catalogs.remove_strays(&settings);
}
