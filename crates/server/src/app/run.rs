//! The server's life: built from the configuration, its workers and listeners started, then
//! signals handled (SIGHUP reloads, SIGTERM and SIGINT stop it after draining) until it stops.

use super::build::{load_zones, Shared};
use super::reload::{notify_changed, reload};
use super::summary::{log_summary, SUMMARY_PERIOD};
use crate::cli::ServeArgs;
use crate::config::{self, Settings};
use crate::entropy;
use arc_swap::ArcSwap;
use portcullis_net::resolver_pool::{PoolParts, ResolverPool};
use portcullis_net::{bind, tcp, udp, Clock, EngineHandle, Shutdown};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// The signals the server acts on.
struct Signals {
    hangup: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers; must run inside the runtime's context.
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self { hangup: signal(SignalKind::hangup())?, terminate: signal(SignalKind::terminate())?, interrupt: signal(SignalKind::interrupt())? })
    }
}

/// Runs the server in the foreground.
pub fn serve(args: ServeArgs) -> ExitCode {
    match start(args) {
        Ok(started) => started.run(),
        Err(code) => code,
    }
}

/// A server ready to answer: everything built and bound, the UDP workers running.
struct Started {
    args: ServeArgs,
    settings: Settings,
    shared: Shared,
    engine: EngineHandle,
    runtime: tokio::runtime::Runtime,
    signals: Signals,
    tcp_listeners: Vec<(u16, std::net::SocketAddr, std::net::TcpListener)>,
    workers: Vec<std::thread::JoinHandle<()>>,
    services: tcp::Services,
    shutdown: Shutdown,
    /// The sampler, HTTP listener and control socket (`ops.rs`).
    ops: super::ops::Ops,
    /// The dnstap and query log writer, finished after the workers stop.
    dnstap: Option<crate::tap_writer::Writer>,
}

/// Fails with an error printed on stderr (and logged once logging is up).
fn fail(message: String) -> ExitCode {
    tracing::error!("{message}");
    eprintln!("portcullis: {message}");
    ExitCode::from(1)
}

/// Reads the configuration, builds the engine, binds the listeners and starts the UDP workers.
fn start(args: ServeArgs) -> Result<Started, ExitCode> {
    let mut settings = config::load(&args).map_err(|errors| report_config_errors(&errors))?;
    init_logging(&settings.log_level);
    if settings.listen_defaulted {
        for addr in bind::drop_unusable_ipv6(&mut settings.listen) {
            tracing::warn!(%addr, "no IPv6 on this host: the default address is left out");
        }
    }
    let mut shared = Shared::new(&settings).map_err(|error| fail(format!("{error}: not starting")))?;
    check_key_directories(&settings)?;
    let dnstap = start_tap(&settings).map_err(fail)?.map(|(tap, writer)| {
        shared.tap = Some(tap);
        writer
    });
    let engine = shared.engine(load_zones(&settings.zones, None, &shared.signing), &settings).map_err(|error| report_config_errors(&[error]))?;
    let engine: EngineHandle = Arc::new(ArcSwap::from_pointee(engine));
    let threads = if settings.threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { settings.threads };
    crate::rlimit::raise_for(&settings, threads);
    let listeners = bind::bind(&settings.listen, threads).map_err(|error| fail(error.to_string()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().thread_name("portcullis-io").build();
    let runtime = runtime.map_err(|error| fail(format!("cannot start the I/O runtime: {error}")))?;
    // Signal handlers exist before the first answer, so an early SIGHUP or SIGTERM is never
    // taken by the default action (which would kill the process).
    let signals = runtime.block_on(async { Signals::install() }).map_err(|error| fail(format!("cannot install signal handlers: {error}")))?;
    let (shutdown, clock) = (Shutdown::default(), Clock::default());
    let pool = start_pool(&settings, &shared, &engine, &runtime, clock);
    let addresses: Vec<String> = listeners.tcp.iter().map(|(_, addr, _)| addr.to_string()).collect();
    let sockets = listeners.udp.into_iter().map(|(index, _, socket)| (index, socket)).collect();
    let workers = udp::spawn_workers(sockets, &engine, &shutdown, clock, Some(pool.clone()), &shared.worker_restarts, shared.tap.clone())
        .map_err(|error| fail(format!("cannot start UDP workers: {error}")))?;
    log_ready(&settings, &engine, &addresses, threads);
    {
        let _runtime = runtime.enter();
        notify_changed(&settings.zones, None, engine.load().zones(), &settings.keys);
        shared.secondaries.configure(&settings.zones, &settings.keys, &engine);
    }
    let services = tcp::Services { clock, pool: Some(pool), counters: shared.net_counters.clone(), tap: shared.tap.clone() };
    let ops = runtime.block_on(super::ops::start(&settings, &args, &shared, &engine)).map_err(fail)?;
    Ok(Started { args, settings, shared, engine, runtime, signals, tcp_listeners: listeners.tcp, workers, services, shutdown, ops, dnstap })
}

/// The dnstap and query log outputs and their writer, when either is configured.
fn start_tap(settings: &Settings) -> Result<Option<(Arc<portcullis_net::tap::Tap>, crate::tap_writer::Writer)>, String> {
    let mut sinks: Vec<Box<dyn crate::tap_writer::EventSink>> = Vec::new();
    if let Some(dnstap) = &settings.dnstap {
        sinks.push(Box::new(crate::dnstap::DnstapOut::open(dnstap)?));
    }
    if let Some(log) = &settings.querylog {
        sinks.push(Box::new(crate::querylog::QueryLog::open(log)?));
    }
    if sinks.is_empty() {
        return Ok(None);
    }
    let queue = settings.dnstap.as_ref().map_or(crate::tap_writer::DEFAULT_QUEUE, |dnstap| dnstap.queue);
    crate::tap_writer::start(sinks, queue).map(Some)
}

/// Every signed zone's key directory exists (created, mode 0700) and can be written, or the
/// server does not start: the error names the directory.
fn check_key_directories(settings: &Settings) -> Result<(), ExitCode> {
    for zone in &settings.zones {
        if let Some(signing) = &zone.signing {
            crate::key_store::ensure_directory(&signing.key_directory).map_err(|error| fail(format!("zone {}: {error}: not starting", zone.origin)))?;
        }
    }
    Ok(())
}

/// The resolver pool (recursion and forwarding), kept in `shared` for reloads and the log.
fn start_pool(settings: &Settings, shared: &Shared, engine: &EngineHandle, runtime: &tokio::runtime::Runtime, clock: Clock) -> Arc<ResolverPool> {
    let pool = ResolverPool::new(PoolParts {
        engine: engine.clone(),
        settings: Arc::new(settings.resolver.settings.clone()),
        cache: shared.cache.clone(),
        clock,
        random: Arc::new(|| Box::new(entropy::OsRandom)),
        hash_key: shared.resolver_key,
        limits: settings.resolver.pool,
        runtime: runtime.handle().clone(),
        forward: settings.forward.clone(),
        iterate: settings.resolver.enabled,
    });
    let _ = shared.pool.set(pool.clone());
    pool
}

/// The "ready" line, and an error line when configured zones have no copy.
fn log_ready(settings: &Settings, engine: &EngineHandle, addresses: &[String], threads: usize) {
    let (recursion, forward_zones) = (settings.resolver.enabled, settings.forward.len());
    let (zones, unloaded) = (engine.load().zones().len(), engine.load().unloaded().len());
    tracing::info!(listen = %addresses.join(" "), udp_workers = threads, zones, recursion, forward_zones, "portcullis ready");
    if unloaded > 0 {
        tracing::error!(zones_not_loaded = unloaded, "portcullis ready, but zones failed to load (see above): their names get SERVFAIL");
    }
}

impl Started {
    /// Serves until SIGTERM or SIGINT, then drains and stops.
    fn run(self) -> ExitCode {
        let Self { args, settings, shared, engine, runtime, signals, tcp_listeners, workers, services, shutdown, ops, dnstap } = self;
        let code = runtime.block_on(run(tcp_listeners, &engine, &settings, &args, &shutdown, &shared, signals, services));
        {
            let _runtime = runtime.enter();
            drop(ops);
        }
        shutdown.trigger();
        for worker in workers {
            let _ = worker.join();
        }
        runtime.shutdown_timeout(Duration::from_secs(5));
        if let Some(writer) = dnstap {
            writer.finish();
        }
        tracing::info!("portcullis stopped");
        code
    }
}

/// Serves TCP and handles signals until SIGTERM or SIGINT.
#[allow(clippy::too_many_arguments)]
async fn run(
    tcp_listeners: Vec<(u16, std::net::SocketAddr, std::net::TcpListener)>,
    engine: &EngineHandle,
    settings: &Settings,
    args: &ServeArgs,
    shutdown: &Shutdown,
    shared: &Shared,
    signals: Signals,
    services: tcp::Services,
) -> ExitCode {
    let Signals { mut hangup, mut terminate, mut interrupt } = signals;
    for (index, addr, listener) in tcp_listeners {
        let (engine, shutdown, limits, services) = (engine.clone(), shutdown.clone(), settings.tcp, services.clone());
        tokio::spawn(async move {
            if let Err(error) = tcp::serve(index, listener, engine, limits, shutdown, services).await {
                tracing::error!(%addr, %error, "tcp listener failed");
            }
        });
    }
    let rotation = Duration::from_secs(settings.cookies.lifetime_hours * 3600);
    let mut rotate = tokio::time::interval_at(tokio::time::Instant::now() + rotation, rotation);
    let mut summary = tokio::time::interval_at(tokio::time::Instant::now() + SUMMARY_PERIOD, SUMMARY_PERIOD);
    let mut last_summary = String::new();
    let mut holds = tokio::time::interval(HOLD_EVENTS_PERIOD);
    loop {
        let signing_due = shared.signing.next_due();
        tokio::select! {
            () = sleep_for(signing_due) => {
                let (engine, shared) = (engine.clone(), shared.clone());
                let _ = tokio::task::spawn_blocking(move || shared.signing.refresh(&engine, &shared.secondaries.install)).await;
            }
            _ = hangup.recv() => {
                let (engine, args, listen, shared) = (engine.clone(), args.clone(), settings.listen.clone(), shared.clone());
                let _ = tokio::task::spawn_blocking(move || reload(&engine, &args, &listen, &shared)).await;
            }
            _ = rotate.tick(), if settings.cookies.secret.is_none() => {
                shared.rotate_secret();
                let (engine, args, listen, shared) = (engine.clone(), args.clone(), settings.listen.clone(), shared.clone());
                let _ = tokio::task::spawn_blocking(move || reload(&engine, &args, &listen, &shared)).await;
                tracing::info!("cookie secret rotated; the previous one is still accepted");
            }
            _ = summary.tick() => log_summary(shared, &mut last_summary),
            _ = holds.tick() => {
                if let Some(pool) = shared.pool.get() {
                    crate::resolver_log::log_events(pool, &shared.alerts);
                }
                if let Some(detector) = shared.tunnel_detector() {
                    crate::detection_log::log_events(&detector, &shared.alerts);
                }
                if let Some(detector) = shared.shadow_detector() {
                    crate::detection_log::log_shadowing(&detector, &shared.alerts);
                }
            }
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }
    tracing::info!("stopping: draining connections");
    shutdown.trigger();
    ExitCode::SUCCESS
}

/// Sleeps for `duration`, or for ever without one.
async fn sleep_for(duration: Option<Duration>) {
    match duration {
        Some(duration) => tokio::time::sleep(duration).await,
        None => std::future::pending().await,
    }
}

/// How often the zone query limit's holds that started or ended are logged.
const HOLD_EVENTS_PERIOD: Duration = Duration::from_secs(1);

fn report_config_errors(errors: &[String]) -> ExitCode {
    for error in errors {
        eprintln!("portcullis: config: {error}");
    }
    ExitCode::from(2)
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    use std::io::IsTerminal;
    let colour = std::io::stderr().is_terminal();
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour).with_target(false).try_init();
}
