//! The server's life: built from the configuration, its workers and listeners started, then
//! signals handled (SIGHUP reloads, SIGUSR2 upgrades, SIGTERM and SIGINT stop it after draining)
//! until it stops. systemd hears of it all (`crate::sd_notify`).

use super::build::{load_zones, Shared};
use super::reload::{notify_changed, reload};
use super::summary::{log_summary, SUMMARY_PERIOD};
use crate::cli::ServeArgs;
use crate::config::{self, Settings};
use crate::entropy;
use arc_swap::ArcSwap;
use portcullis_net::resolver_pool::{PoolParts, ResolverPool};
use portcullis_net::{bind, tcp, udp, xdp, Clock, EngineHandle, Shutdown};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// The signals the server acts on.
struct Signals {
    hangup: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
    /// SIGUSR2: upgrade (`crate::upgrade`).
    upgrade: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers; must run inside the runtime's context.
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            hangup: signal(SignalKind::hangup())?,
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
            upgrade: signal(SignalKind::user_defined2())?,
        })
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
    /// The sockets kept for an upgrade, and whether one happened.
    handover: Arc<crate::upgrade::Handover>,
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
    shared.catalogs.load_kept(&settings);
    let settings = shared.catalogs.set_base(settings);
    crate::catalog::create_member_dirs(&settings);
    let dnstap = start_tap(&settings).map_err(fail)?.map(|(tap, writer)| {
        shared.tap = Some(tap);
        writer
    });
    let engine = shared
        .engine(shared.catalogs.produce(&settings.zones, load_zones(&settings.zones, None, &shared.signing, &shared.journals)), &settings)
        .map_err(|error| report_config_errors(&[error]))?;
    let engine: EngineHandle = Arc::new(ArcSwap::from_pointee(engine));
    let threads = if settings.threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { settings.threads };
    crate::rlimit::raise_for(&settings, threads);
    let mut inherited = crate::upgrade::Inherited::from_env().map_err(fail)?;
    let listeners = crate::upgrade::listeners(&settings.listen, threads, &mut inherited).map_err(|error| fail(error.to_string()))?;
    let handover = Arc::new(crate::upgrade::Handover::new());
    crate::upgrade::keep(&listeners, &mut handover.sockets());
    let encrypted = super::encrypted::bind(&settings, &mut inherited, &mut handover.sockets()).map_err(fail)?;
    // As many I/O threads (TCP, resolutions) as UDP workers: a resolution's hand-off from a UDP
    // worker then wakes one thread, not one of two that take turns on the same core (issue 19).
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().thread_name("portcullis-io").build();
    let runtime = runtime.map_err(|error| fail(format!("cannot start the I/O runtime: {error}")))?;
    // Signal handlers exist before the first answer, so an early SIGHUP or SIGTERM is never
    // taken by the default action (which would kill the process).
    let signals = runtime.block_on(async { Signals::install() }).map_err(|error| fail(format!("cannot install signal handlers: {error}")))?;
    let (shutdown, clock) = (Shutdown::default(), Clock::default());
    // The old process's cache, loaded before the workers answer (bounded: upgrade_cache.rs).
    if settings.resolves() {
        inherited.load_cache(&shared.cache, clock);
    }
    handover.offer_cache(crate::upgrade_cache::CacheSource { cache: shared.cache.clone(), clock });
    let pool = start_pool(&settings, &shared, &engine, &runtime, clock);
    if settings.resolver.enabled {
        let _runtime = runtime.enter();
        crate::trust_refresh::spawn(pool.clone(), shared.cache.clone());
    }
    let mut addresses: Vec<String> = listeners.tcp.iter().map(|(_, addr, _)| addr.to_string()).collect();
    addresses.extend(encrypted.as_ref().map(super::encrypted::Encrypted::addresses).unwrap_or_default());
    let xdp_listeners = xdp_listeners(&settings, &listeners.udp).map_err(|error| fail(format!("cannot share a UDP socket with the AF_XDP path: {error}")))?;
    let sockets = listeners.udp.into_iter().map(|(index, _, socket)| (index, socket)).collect();
    let udp_services = udp::UdpServices { tap: shared.tap.clone(), updates: Some(Arc::new(shared.updates.clone())), reply_cache: settings.reply_cache };
    let mut workers = udp::spawn_workers(sockets, &engine, &shutdown, clock, Some(pool.clone()), &shared.worker_restarts, udp_services)
        .map_err(|error| fail(format!("cannot start UDP workers: {error}")))?;
    if !settings.xdp.is_empty() {
        let services = xdp::Services { engine: engine.clone(), clock, pool: Some(pool.clone()), shutdown: shutdown.clone(), listeners: xdp_listeners.into() };
        let first_worker = u16::try_from(workers.len()).unwrap_or(u16::MAX);
        workers.extend(xdp::spawn(&settings.xdp, &services, first_worker));
    }
    log_ready(&settings, &engine, &addresses, threads);
    {
        let _runtime = runtime.enter();
        notify_changed(&settings.zones, None, engine.load().zones(), &settings.keys);
        super::catalog::start(&shared, &engine);
        shared.secondaries.configure(&settings.zones, &settings.keys, &engine);
        shared.updates.start(&engine, &shared.secondaries, &shared.journals, clock, resign(&shared.signing));
    }
    let updates: Option<portcullis_net::updates::Updates> = Some(Arc::new(shared.updates.clone()));
    let services = tcp::Services { clock, pool: Some(pool), counters: shared.net_counters.clone(), tap: shared.tap.clone(), updates };
    if let Some(encrypted) = encrypted {
        let _runtime = runtime.enter();
        encrypted.spawn(&engine, settings.tcp, &shutdown, &services).map_err(fail)?;
    }
    let ops = runtime.block_on(super::ops::start(&settings, &args, &shared, &engine, &mut inherited, &handover, clock)).map_err(fail)?;
    inherited.ready();
    crate::sd_notify::ready();
    Ok(Started { args, settings, shared, engine, runtime, signals, tcp_listeners: listeners.tcp, workers, services, shutdown, ops, dnstap, handover })
}

/// How the update service signs an updated signed zone again: the reload's signing path, from
/// the zone file, reusing the served copy's signatures.
fn resign(signing: &super::signing::Signing) -> crate::updates::Resign {
    let signing = signing.clone();
    Arc::new(move |zone: &crate::config::ZoneSettings, served| {
        let Some(policy) = &zone.signing else { return Err(format!("zone {} is not signed by policy", zone.origin)) };
        signing.load(zone, policy, Some(served), signing.now()).map_err(|error| error.to_string())
    })
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
    let capture =
        portcullis_net::tap::Capture { events: settings.querylog.is_some(), dnstap: settings.dnstap.as_ref().map(crate::dnstap::DnstapSettings::kinds) };
    crate::tap_writer::start(sinks, queue, capture).map(Some)
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
    if let Some(tap) = &shared.tap {
        pool.set_tap(tap.clone());
    }
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
        let Self { args, settings, shared, engine, runtime, signals, tcp_listeners, workers, services, shutdown, ops, dnstap, handover } = self;
        let listeners = (tcp_listeners, services);
        let code = runtime.block_on(run(listeners, &engine, &settings, &args, &shutdown, &shared, signals, &handover, ops));
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
    (tcp_listeners, services): (Vec<(u16, std::net::SocketAddr, std::net::TcpListener)>, tcp::Services),
    engine: &EngineHandle,
    settings: &Settings,
    args: &ServeArgs,
    shutdown: &Shutdown,
    shared: &Shared,
    signals: Signals,
    handover: &Arc<crate::upgrade::Handover>,
    ops: super::ops::Ops,
) -> ExitCode {
    let Signals { mut hangup, mut terminate, mut interrupt, mut upgrade } = signals;
    let place = ops.place();
    let mut accepting = Vec::new();
    for (index, addr, listener) in tcp_listeners {
        let (engine, shutdown, limits, services) = (engine.clone(), shutdown.clone(), settings.tcp, services.clone());
        accepting.push(tokio::spawn(async move {
            if let Err(error) = tcp::serve(index, listener, engine, limits, shutdown, services).await {
                tracing::error!(%addr, %error, "tcp listener failed");
            }
        }));
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
                crate::sd_notify::reloading();
                let (engine, args, listen, shared, place) = (engine.clone(), args.clone(), settings.listen.clone(), shared.clone(), place.clone());
                let _ = tokio::task::spawn_blocking(move || reload(&engine, &args, &listen, &shared).map(|new| super::ops::follow_control(&place, &new, &args))).await;
                crate::sd_notify::ready();
            }
            _ = upgrade.recv() => {
                let handover = handover.clone();
                if let Ok(Err(error)) = tokio::task::spawn_blocking(move || handover.upgrade()).await {
                    tracing::error!("{error}");
                }
            }
            () = handover.done() => break,
            _ = rotate.tick(), if settings.cookies.secret.is_none() => {
                shared.rotate_secret();
                let (engine, args, listen, shared) = (engine.clone(), args.clone(), settings.listen.clone(), shared.clone());
                let _ = tokio::task::spawn_blocking(move || reload(&engine, &args, &listen, &shared)).await;
                tracing::info!("cookie secret rotated; the previous one is still accepted");
            }
            _ = summary.tick() => log_summary(shared, &mut last_summary),
            _ = holds.tick() => {
                let updates = shared.updates.clone();
                let _ = tokio::task::spawn_blocking(move || updates.sync_due()).await;
                if let Some(pool) = shared.pool.get() {
                    crate::resolver_log::log_events(pool, &shared.alerts);
                }
                crate::trust_state::save(&shared.cache, &shared.key_directory);
                if let Some(detector) = shared.tunnel_detector() {
                    crate::detection_log::log_events(&detector, &shared.alerts);
                }
                if let Some(detector) = shared.shadow_detector() {
                    crate::detection_log::log_shadowing(&detector, &shared.alerts);
                }
                shared.rpz_lists.log_events(&shared.alerts);
                if shared.rpz_lists.has_lists() {
                    let (engine, shared) = (engine.clone(), shared.clone());
                    tokio::task::spawn_blocking(move || shared.rpz_lists.poll(&engine, &shared.secondaries.install));
                }
            }
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }
    crate::trust_state::save(&shared.cache, &shared.key_directory);
    let updates = shared.updates.clone();
    let _ = tokio::task::spawn_blocking(move || updates.sync_all()).await;
    if handover.upgraded().is_none() {
        crate::sd_notify::stopping();
    }
    tracing::info!("stopping: draining connections");
    stop(ops, handover, shutdown, accepting, shared).await;
    ExitCode::SUCCESS
}

/// Stops accepting (the HTTP and control listeners, then the TCP listeners, which close their
/// connections cleanly; the HTTP connections finish their requests and close gracefully), then
/// waits, at most [`DRAIN`], for the questions still resolving, whose
/// answers go out on the UDP sockets this process holds. After an upgrade the control socket's
/// file is the new process's and stays.
async fn stop(
    mut ops: super::ops::Ops,
    handover: &crate::upgrade::Handover,
    shutdown: &Shutdown,
    accepting: Vec<tokio::task::JoinHandle<()>>,
    shared: &Shared,
) {
    if handover.upgraded().is_some() {
        ops.keep_socket_file();
    }
    let http = ops.stop_http();
    drop(ops);
    shutdown.trigger();
    for task in accepting {
        let _ = task.await;
    }
    let deadline = tokio::time::Instant::now() + DRAIN;
    while shared.pool.get().is_some_and(|pool| pool.in_flight() > 0) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if let Some(http) = http {
        // Its requests in flight answered, its connections closed (bounded: `http::DRAIN`).
        let _ = http.await;
    }
}

/// How long a stopping server waits for the questions it is resolving.
const DRAIN: Duration = Duration::from_secs(5);

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

/// One socket of each UDP listen address, shared with the AF_XDP path (which sends the answers
/// of resolved queries through it); none when `[server] xdp` is empty.
fn xdp_listeners(settings: &Settings, udp: &[(u16, std::net::SocketAddr, std::net::UdpSocket)]) -> std::io::Result<Vec<xdp::Listener>> {
    let mut shared: Vec<xdp::Listener> = Vec::new();
    for (index, address, socket) in udp.iter().filter(|_| !settings.xdp.is_empty()) {
        if !shared.iter().any(|(known, _, _)| known == index) {
            shared.push((*index, *address, Arc::new(socket.try_clone()?)));
        }
    }
    Ok(shared)
}
