//! The composition root: builds the engine from settings, binds listeners, runs until SIGTERM,
//! and reloads on SIGHUP (new snapshot swapped in whole; a zone that fails keeps its old version).

use crate::cli::ServeArgs;
use crate::config::{self, Settings, ZoneSettings, EMBEDDED_ZONE, EMBEDDED_ZONE_PATH};
use arc_swap::ArcSwap;
use portcullis_engine::auth::{Zone, ZoneSet};
use portcullis_engine::load::{load_zone_file, load_zone_text, LoadError};
use portcullis_engine::metrics::EngineCounters;
use portcullis_engine::zonefile::FsIncludeResolver;
use portcullis_engine::Engine;
use portcullis_net::{bind, tcp, udp, EngineHandle, Shutdown};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs the server in the foreground.
pub fn serve(args: ServeArgs) -> ExitCode {
    let settings = match config::load(&args) {
        Ok(settings) => settings,
        Err(errors) => return report_config_errors(&errors),
    };
    init_logging(&settings.log_level);
    let counters = Arc::new(EngineCounters::default());
    let zones = load_zones(&settings.zones, None);
    let engine: EngineHandle = Arc::new(ArcSwap::from_pointee(Engine::new(zones, settings.engine.clone(), counters.clone())));
    let threads = if settings.threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { settings.threads };
    let listeners = match bind::bind(&settings.listen, threads) {
        Ok(listeners) => listeners,
        Err(error) => {
            tracing::error!("{error}");
            eprintln!("portcullis: {error}");
            return ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().thread_name("portcullis-io").build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("portcullis: cannot start the I/O runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let shutdown = Shutdown::default();
    let addresses: Vec<String> = listeners.tcp.iter().map(|(addr, _)| addr.to_string()).collect();
    let sockets = listeners.udp.into_iter().map(|(_, socket)| socket).collect();
    let workers = match udp::spawn_workers(sockets, &engine, &shutdown) {
        Ok(workers) => workers,
        Err(error) => {
            eprintln!("portcullis: cannot start UDP workers: {error}");
            return ExitCode::from(1);
        }
    };
    tracing::info!(listen = %addresses.join(" "), udp_workers = threads, zones = engine.load().zones().len(), "portcullis ready");
    let code = runtime.block_on(run(listeners.tcp, &engine, &settings, &args, &shutdown));
    shutdown.trigger();
    for worker in workers {
        let _ = worker.join();
    }
    runtime.shutdown_timeout(Duration::from_secs(5));
    tracing::info!("portcullis stopped");
    code
}

/// Serves TCP and handles signals until SIGTERM or SIGINT.
async fn run(tcp_listeners: Vec<(std::net::SocketAddr, std::net::TcpListener)>, engine: &EngineHandle, settings: &Settings, args: &ServeArgs, shutdown: &Shutdown) -> ExitCode {
    use tokio::signal::unix::{signal, SignalKind};
    for (addr, listener) in tcp_listeners {
        let (engine, shutdown, limits) = (engine.clone(), shutdown.clone(), settings.tcp);
        tokio::spawn(async move {
            if let Err(error) = tcp::serve(listener, engine, limits, shutdown).await {
                tracing::error!(%addr, %error, "tcp listener failed");
            }
        });
    }
    let (Ok(mut hangup), Ok(mut terminate), Ok(mut interrupt)) = (signal(SignalKind::hangup()), signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::error!("cannot install signal handlers");
        return ExitCode::from(1);
    };
    loop {
        tokio::select! {
            _ = hangup.recv() => {
                let (engine, args, listen) = (engine.clone(), args.clone(), settings.listen.clone());
                let _ = tokio::task::spawn_blocking(move || reload(&engine, &args, &listen)).await;
            }
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }
    tracing::info!("stopping: draining connections");
    shutdown.trigger();
    ExitCode::SUCCESS
}

/// Re-reads the configuration and zones and swaps the engine; queries are never dropped.
pub fn reload(engine: &EngineHandle, args: &ServeArgs, listen: &[std::net::SocketAddr]) {
    let started = Instant::now();
    let settings = match config::load(args) {
        Ok(settings) => settings,
        Err(errors) => {
            for error in errors {
                tracing::error!("reload: {error}; keeping the running configuration");
            }
            return;
        }
    };
    if settings.listen != listen {
        tracing::warn!("reload: listen addresses changed; they take effect on restart");
    }
    let current = engine.load_full();
    let zones = load_zones(&settings.zones, Some(current.zones()));
    let counters = current.counters().clone();
    engine.store(Arc::new(Engine::new(zones, settings.engine, counters)));
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "reloaded");
}

/// Loads every zone; one that fails keeps its version from `previous`, if any, and is logged.
fn load_zones(zones: &[ZoneSettings], previous: Option<&ZoneSet>) -> ZoneSet {
    let mut loaded = Vec::new();
    for zone in zones {
        let started = Instant::now();
        match load_one(zone) {
            Ok(new) => {
                tracing::info!(zone = %zone.origin, file = %zone.file.display(), names = new.node_count(), elapsed_ms = started.elapsed().as_millis() as u64, "zone loaded");
                loaded.push(Arc::new(new));
            }
            Err(error) => match previous.and_then(|set| set.get(&zone.origin)) {
                Some(old) => {
                    tracing::error!(zone = %zone.origin, file = %zone.file.display(), "zone failed to load, keeping the previous version: {error}");
                    loaded.push(old.clone());
                }
                None => tracing::error!(zone = %zone.origin, file = %zone.file.display(), "zone failed to load, not served: {error}"),
            },
        }
    }
    ZoneSet::new(loaded)
}

/// Loads one zone from its file (or the embedded example).
pub fn load_one(zone: &ZoneSettings) -> Result<Zone, LoadError> {
    if zone.file.as_os_str() == EMBEDDED_ZONE_PATH {
        return load_zone_text(&zone.origin, EMBEDDED_ZONE, EMBEDDED_ZONE_PATH, &FsIncludeResolver::default());
    }
    load_zone_file(&zone.origin, &zone.file)
}

fn report_config_errors(errors: &[String]) -> ExitCode {
    for error in errors {
        eprintln!("portcullis: config: {error}");
    }
    ExitCode::from(2)
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}
