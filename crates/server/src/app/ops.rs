//! The operations side of a running server: the one-second sampler, the HTTP listener
//! (`crate::http`) and the control socket (`crate::ctl::server`), all on the I/O runtime, all
//! reading the state that outlives an engine ([`Shared`]) through [`Sources`]; and [`AppControl`],
//! what `ctl reload` and `ctl reload-zone` do to the application.

use super::build::{load_one, Shared};
use super::control_place::ControlPlace;
use super::reload::{notify_changed, reload};
use crate::cli::ServeArgs;
use crate::config::{self, Settings};
use crate::ctl::server::Control;
use crate::stats::{unix_millis, Sources};
use crate::upgrade::{Handover, Inherited};
use portcullis_engine::auth::ZoneSet;
use portcullis_net::EngineHandle;
use portcullis_wire::NameBuf;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

/// How often the sampler runs (queries per second, zone load times, RRL alerts).
const SAMPLE_PERIOD: Duration = Duration::from_secs(1);

/// The running operations services; the control socket's file is removed when it is dropped.
pub(super) struct Ops {
    place: Arc<ControlPlace>,
    keep_socket_file: bool,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The HTTP listener's stop signal and task (stopped gracefully, not aborted).
    http: Option<(tokio::sync::watch::Sender<bool>, tokio::task::JoinHandle<()>)>,
}

impl Ops {
    /// Leaves the control socket's file in place when this is dropped (an upgrade: the new
    /// process serves on it).
    pub(super) fn keep_socket_file(&mut self) {
        self.keep_socket_file = true;
    }

    /// Tells the HTTP listener to stop accepting and close its connections once their requests
    /// are answered; the task ends when they are closed (`http::serve`).
    pub(super) fn stop_http(&mut self) -> Option<tokio::task::JoinHandle<()>> {
        let (stop, task) = self.http.take()?;
        let _ = stop.send(true);
        Some(task)
    }

    /// Where the control socket is (a reload moves it).
    pub(super) fn place(&self) -> Arc<ControlPlace> {
        self.place.clone()
    }
}

impl Drop for Ops {
    fn drop(&mut self) {
        for task in self.tasks.iter().chain(self.http.as_ref().map(|(_, task)| task)) {
            task.abort();
        }
        self.place.close(!self.keep_socket_file);
    }
}

/// Moves the control socket to where `settings` (read by a reload) put it; logged on failure.
pub(super) fn follow_control(place: &ControlPlace, settings: &Settings, args: &ServeArgs) -> Result<(), String> {
    let wanted = crate::ops_config::control_socket(&settings.ops, args.config.as_deref());
    place.follow(wanted.as_deref()).inspect_err(|error| tracing::error!("reload: {error}; the control socket stays where it was"))
}

/// The numbers of `shared` and `engine`.
pub(super) fn sources(shared: &Shared, engine: &EngineHandle) -> Arc<Sources> {
    let secondaries = shared.secondaries.clone();
    Arc::new(
        Sources::new(
            engine.clone(),
            shared.counters.clone(),
            shared.rrl_counters.clone(),
            shared.net_counters.clone(),
            shared.cache.clone(),
            shared.pool.clone(),
            shared.alerts.clone(),
            shared.worker_restarts.clone(),
            Arc::new(move || secondaries.origins()),
            unix_millis() / 1000,
        )
        .with_tap(shared.tap.clone()),
    )
}

/// Starts the sampler, the HTTP listener (when configured) and the control socket (unless off);
/// must run inside the runtime. An HTTP address or a configured control socket that cannot be
/// bound is an error; the default control socket that cannot be is only a warning.
/// After an upgrade the listeners are those of `inherited`; copies of them are kept in
/// `handover` for the next one.
pub(super) async fn start(
    settings: &Settings,
    args: &ServeArgs,
    shared: &Shared,
    engine: &EngineHandle,
    inherited: &mut Inherited,
    handover: &Arc<Handover>,
    clock: portcullis_net::Clock,
) -> Result<Ops, String> {
    let sources = sources(shared, engine);
    let mut ops = Ops { place: ControlPlace::new(sources.clone(), handover.clone()), keep_socket_file: false, tasks: Vec::new(), http: None };
    let sampled = sources.clone();
    ops.tasks.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(SAMPLE_PERIOD);
        loop {
            tick.tick().await;
            sampled.tick(unix_millis());
        }
    }));
    if let Some(addr) = settings.ops.http {
        let token = settings.ops.token_file.as_deref().map(crate::ops_config::read_token).transpose()?;
        let listener = match inherited.take_http(addr) {
            Some(listener) => listener.set_nonblocking(true).and_then(|()| tokio::net::TcpListener::from_std(listener)),
            None => crate::http::bind(addr).await,
        };
        let listener = listener.map_err(|error| format!("http.listen {addr}: {error}"))?;
        handover.sockets().http = listener.as_fd().try_clone_to_owned().ok().map(|fd| (addr, fd));
        let state = Arc::new(crate::http::HttpState::new(sources.clone(), token.as_deref()));
        let (stop, stopping) = tokio::sync::watch::channel(false);
        ops.http = Some((stop, tokio::spawn(crate::http::serve(listener, state, stopping))));
        tracing::info!(%addr, token = token.is_some(), "http listener ready: /metrics, /api/stats, /api/alerts, /");
    }
    if let Some(path) = crate::ops_config::control_socket(&settings.ops, args.config.as_deref()) {
        let bound = match inherited.take_control() {
            Some(listener) => listener.set_nonblocking(true).and_then(|()| tokio::net::UnixListener::from_std(listener)).map_err(|error| error.to_string()),
            None => crate::ctl::server::bind(&path),
        };
        match bound {
            Ok(listener) => {
                let control: Arc<dyn Control> = Arc::new(AppControl {
                    engine: engine.clone(),
                    args: args.clone(),
                    listen: settings.listen.clone(),
                    shared: shared.clone(),
                    handover: handover.clone(),
                    place: ops.place.clone(),
                    clock,
                });
                tracing::info!(socket = %path.display(), "control socket ready");
                ops.place.serve(path, listener, control);
            }
            Err(error) if settings.ops.control == crate::ops_config::ControlSocket::Default => {
                tracing::warn!("{error}; portcullis ctl cannot reach this server")
            }
            Err(error) => return Err(error),
        }
    }
    Ok(ops)
}

/// `ctl reload` and `ctl reload-zone`, done to the running application.
pub(super) struct AppControl {
    engine: EngineHandle,
    args: ServeArgs,
    listen: Vec<std::net::SocketAddr>,
    shared: Shared,
    handover: Arc<Handover>,
    place: Arc<ControlPlace>,
    clock: portcullis_net::Clock,
}

impl Control for AppControl {
    fn blocks(&self) -> serde_json::Value {
        super::blocks::list(&self.shared, self.clock)
    }

    fn unblock(&self, client: &str, domain: &str) -> Result<String, String> {
        super::blocks::unblock(&self.shared, self.clock, client, domain)
    }

    fn clear_tunnelling(&self) -> String {
        super::blocks::clear_tunnelling(&self.shared, self.clock)
    }

    fn reload(&self) -> Result<String, String> {
        crate::sd_notify::reloading();
        let result = reload(&self.engine, &self.args, &self.listen, &self.shared);
        crate::sd_notify::ready();
        follow_control(&self.place, &result?, &self.args)?;
        Ok("reloaded".into())
    }

    fn upgrade(&self) -> Result<String, String> {
        let pid = self.handover.upgrade()?;
        Ok(format!("upgraded: process {pid} serves; this one drains and exits"))
    }

    fn clear_rrl(&self) -> Result<String, String> {
        self.shared.forget_rrl();
        reload(&self.engine, &self.args, &self.listen, &self.shared)?;
        Ok("RRL accounts cleared".into())
    }

    /// A primary zone's file is read again (its settings from the configuration as it is now)
    /// and swapped in alone; a secondary zone's task asks its primaries at once.
    fn reload_zone(&self, origin: &NameBuf) -> Result<String, String> {
        let settings = self.shared.catalogs.effective(&config::load(&self.args).map_err(|errors| errors.join("; "))?);
        let zone = settings.zones.iter().find(|z| z.origin.to_lowercase() == origin.to_lowercase()).ok_or_else(|| format!("no zone {origin} is configured"))?;
        if !zone.primaries.is_empty() {
            return match self.shared.secondaries.refresh_now(&zone.origin) {
                true => Ok(format!("zone {origin}: asking its primaries for a newer serial")),
                false => Err(format!("zone {origin}: its secondary task is not running (reload first)")),
            };
        }
        // The file holds every dynamic update first, and none comes in until the zone is swapped.
        let updates = self.shared.updates.clone();
        let _updates = updates.hold();
        let mut loaded = load_one(zone).map_err(|error| format!("zone {origin}: {error}; the copy served is kept"))?;
        if zone.catalog.role == Some(crate::catalog_config::CatalogRole::Producer) {
            loaded =
                self.shared.catalogs.produce_one(&settings.zones, zone, &loaded).map_err(|error| format!("zone {origin}: {error}; the copy served is kept"))?;
        }
        let loaded = Arc::new(loaded);
        let _install = self.shared.secondaries.install.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = self.engine.load_full();
        // What changed goes to the journal before the new version is served.
        let loaded = super::build::journaled(zone, current.zones().get(&zone.origin), loaded, &self.shared.journals);
        let zones =
            ZoneSet::new(current.zones().iter().filter(|z| z.origin().to_lowercase() != zone.origin.to_lowercase()).cloned().chain([loaded.clone()]).collect());
        let unloaded: Vec<NameBuf> = current.unloaded().iter().filter(|o| o.to_lowercase() != zone.origin.to_lowercase()).copied().collect();
        let new = Arc::new(current.with_zones(zones).with_unloaded(unloaded));
        self.engine.store(new.clone());
        notify_changed(std::slice::from_ref(zone), Some(current.zones()), new.zones(), &settings.keys);
        let serial = loaded.serial().map_or_else(|| "-".to_string(), |s| s.to_string());
        tracing::info!(zone = %zone.origin, serial, "zone reloaded (ctl reload-zone)");
        Ok(format!("zone {} reloaded, serial {serial}", zone.origin))
    }
}
