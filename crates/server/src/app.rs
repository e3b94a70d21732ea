//! The composition root: builds the engine from settings, binds listeners, runs until SIGTERM,
//! and reloads on SIGHUP (new snapshot swapped in whole; a zone that fails keeps its old version).

use crate::cli::ServeArgs;
use crate::config::{self, Settings, ZoneSettings, EMBEDDED_ZONE, EMBEDDED_ZONE_PATH};
use crate::entropy::{self, EntropyError};
use crate::secondary::SecondaryZones;
use crate::zone_files::load_zone_file;
use arc_swap::ArcSwap;
use portcullis_engine::auth::{Zone, ZoneSet};
use portcullis_engine::cache::{Cache, CacheSettings};
use portcullis_engine::engine::Policy;
use portcullis_engine::engine::Secondaries;
use portcullis_engine::load::{load_zone_text, LoadError};
use portcullis_engine::metrics::EngineCounters;
use portcullis_engine::policy::{Acl, Cookies, Keyring, QueryLimiter, ReplayCache, Rrl, RrlCounters, TsigKey};
use portcullis_engine::zonefile::NoIncludes;
use portcullis_engine::Engine;
use portcullis_net::metrics::{CloseReason, NetCounters};
use portcullis_net::resolver_pool::{PoolParts, ResolverPool};
use portcullis_net::{bind, tcp, udp, Clock, EngineHandle, Shutdown};
use portcullis_wire::NameBuf;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// State that outlives one engine: counters, secrets, keys.
#[derive(Clone)]
pub struct Shared {
    counters: Arc<EngineCounters>,
    rrl_counters: Arc<RrlCounters>,
    secrets: Arc<Mutex<Secrets>>,
    rrl_key: [u8; 16],
    /// The query limiter's hash key (its table is rebuilt on reload, like RRL's settings).
    limit_key: [u8; 16],
    /// Signed requests seen (TSIG replay cache): kept across reloads, so a reload opens no window.
    tsig_replays: Arc<ReplayCache>,
    /// The resolver's cache: kept across reloads (its size is fixed at startup).
    cache: Arc<Cache>,
    /// The resolver pool, once the runtime runs.
    pool: Arc<OnceLock<Arc<ResolverPool>>>,
    /// Secondary zones: their copies and tasks.
    secondaries: Arc<SecondaryZones>,
    /// UDP workers started again after a panic.
    worker_restarts: Arc<std::sync::atomic::AtomicU64>,
    /// The I/O layer's counters (TCP connections closed, by reason).
    net_counters: Arc<NetCounters>,
}

/// Cookie secrets: the current one and the one before it (still accepted, RFC 9018 §4.4).
#[derive(Clone, Copy)]
struct Secrets {
    current: [u8; 16],
    previous: Option<[u8; 16]>,
}

impl Shared {
    /// Fails when the OS random source does: no secret or key is made without it.
    fn new(settings: &Settings) -> Result<Self, EntropyError> {
        let current = match settings.cookies.secret {
            Some(secret) => secret,
            None => entropy::bytes16()?,
        };
        Ok(Self {
            counters: Arc::default(),
            rrl_counters: Arc::default(),
            secrets: Arc::new(Mutex::new(Secrets { current, previous: None })),
            rrl_key: entropy::bytes16()?,
            tsig_replays: Arc::default(),
            limit_key: entropy::bytes16()?,
            cache: Arc::new(Cache::new(CacheSettings { hash_key: entropy::bytes16()?, ..settings.resolver.cache })),
            pool: Arc::default(),
            secondaries: Arc::default(),
            worker_restarts: Arc::default(),
            net_counters: Arc::default(),
        })
    }

    /// Builds an engine over `zones` with the policy of `settings`.
    fn engine(&self, zones: ZoneSet, settings: &Settings) -> Result<Engine, String> {
        let acl = Acl::new(&settings.acl, None).map_err(|e| format!("acl: {e}"))?;
        let mut listener_acls = Vec::new();
        if !settings.acl.listeners.is_empty() {
            for addr in &settings.listen {
                listener_acls.push(Acl::new(&settings.acl, Some(&addr.to_string())).map_err(|e| format!("acl: {e}"))?);
            }
        }
        let rrl = Rrl::new(&settings.rrl, self.rrl_key, self.rrl_counters.clone());
        let secrets = self.secrets.lock().map(|s| *s).map_err(|_| "cookie secrets poisoned".to_string())?;
        let cookies = settings.cookies.answer.then(|| Cookies::new(settings.cookies.settings, secrets.current, secrets.previous));
        let query_limit = QueryLimiter::new(&settings.query_limit, self.limit_key);
        let policy =
            Policy { acl, listener_acls, rrl, query_limit, cookies, keys: Keyring::new(settings.keys.clone()).with_replays(self.tsig_replays.clone()) };
        let origins: Vec<NameBuf> = settings.zones.iter().filter(|zone| !zone.primaries.is_empty()).map(|zone| zone.origin).collect();
        let secondaries = Secondaries { origins: origins.into(), hook: Some(self.secondaries.hook()) };
        let unloaded = unloaded_primaries(&settings.zones, &zones);
        let engine = Engine::with_policy(zones, settings.engine.clone(), self.counters.clone(), policy).with_secondaries(secondaries).with_unloaded(unloaded);
        Ok(if settings.resolves() { engine.with_recursion(self.cache.clone()) } else { engine })
    }

    /// Applies a configured secret that changed: it becomes current, the old one stays valid.
    fn apply_configured_secret(&self, configured: Option<[u8; 16]>) {
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
    fn rotate_secret(&self) {
        if let Ok(mut secrets) = self.secrets.lock() {
            secrets.previous = Some(secrets.current);
            secrets.current = entropy::bytes16().unwrap_or_else(|error| entropy::fatal(error));
        }
    }
}

/// Runs the server in the foreground.
pub fn serve(args: ServeArgs) -> ExitCode {
    let mut settings = match config::load(&args) {
        Ok(settings) => settings,
        Err(errors) => return report_config_errors(&errors),
    };
    init_logging(&settings.log_level);
    if settings.listen_defaulted {
        for addr in bind::drop_unusable_ipv6(&mut settings.listen) {
            tracing::warn!(%addr, "no IPv6 on this host: the default address is left out");
        }
    }
    let shared = match Shared::new(&settings) {
        Ok(shared) => shared,
        Err(error) => {
            tracing::error!("{error}: not starting");
            eprintln!("portcullis: {error}: not starting");
            return ExitCode::from(1);
        }
    };
    let zones = load_zones(&settings.zones, None);
    let engine = match shared.engine(zones, &settings) {
        Ok(engine) => engine,
        Err(error) => return report_config_errors(&[error]),
    };
    let engine: EngineHandle = Arc::new(ArcSwap::from_pointee(engine));
    let threads = if settings.threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { settings.threads };
    crate::rlimit::raise_for(&settings, threads);
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
    // Signal handlers exist before the first answer, so an early SIGHUP or SIGTERM is never
    // taken by the default action (which would kill the process).
    let signals = {
        let _context = runtime.enter();
        match Signals::install() {
            Ok(signals) => signals,
            Err(error) => {
                eprintln!("portcullis: cannot install signal handlers: {error}");
                return ExitCode::from(1);
            }
        }
    };
    let shutdown = Shutdown::default();
    let clock = Clock::default();
    let pool = ResolverPool::new(PoolParts {
        engine: engine.clone(),
        settings: Arc::new(settings.resolver.settings.clone()),
        cache: shared.cache.clone(),
        clock,
        random: Arc::new(|| Box::new(entropy::OsRandom)),
        limits: settings.resolver.pool,
        runtime: runtime.handle().clone(),
        forward: settings.forward.clone(),
        iterate: settings.resolver.enabled,
    });
    let _ = shared.pool.set(pool.clone());
    let addresses: Vec<String> = listeners.tcp.iter().map(|(_, addr, _)| addr.to_string()).collect();
    let sockets = listeners.udp.into_iter().map(|(index, _, socket)| (index, socket)).collect();
    let workers = match udp::spawn_workers(sockets, &engine, &shutdown, clock, Some(pool.clone()), &shared.worker_restarts) {
        Ok(workers) => workers,
        Err(error) => {
            eprintln!("portcullis: cannot start UDP workers: {error}");
            return ExitCode::from(1);
        }
    };
    let (recursion, forward_zones) = (settings.resolver.enabled, settings.forward.len());
    let (zones, unloaded) = (engine.load().zones().len(), engine.load().unloaded().len());
    tracing::info!(listen = %addresses.join(" "), udp_workers = threads, zones, recursion, forward_zones, "portcullis ready");
    if unloaded > 0 {
        tracing::error!(zones_not_loaded = unloaded, "portcullis ready, but zones failed to load (see above): their names get SERVFAIL");
    }
    {
        let _runtime = runtime.enter();
        notify_changed(&settings.zones, None, engine.load().zones(), &settings.keys);
        shared.secondaries.configure(&settings.zones, &settings.keys, &engine);
    }
    let services = tcp::Services { clock, pool: Some(pool), counters: shared.net_counters.clone() };
    let code = runtime.block_on(run(listeners.tcp, &engine, &settings, &args, &shutdown, &shared, signals, services));
    shutdown.trigger();
    for worker in workers {
        let _ = worker.join();
    }
    runtime.shutdown_timeout(Duration::from_secs(5));
    tracing::info!("portcullis stopped");
    code
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
        tokio::select! {
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
                    crate::resolver_log::log_events(pool);
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

/// Re-reads the configuration and zones and swaps the engine; queries are never dropped.
pub fn reload(engine: &EngineHandle, args: &ServeArgs, listen: &[std::net::SocketAddr], shared: &Shared) {
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
    let mut zones = load_zones(&settings.zones, Some(current.zones()));
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
                notify_changed(&settings.zones, Some(current.zones()), new.zones(), &settings.keys);
            }
            Err(error) => return tracing::error!("reload: {error}; keeping the running configuration"),
        }
    }
    shared.secondaries.configure(&settings.zones, &settings.keys, engine);
    if let Some(pool) = shared.pool.get() {
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
}

/// Sends NOTIFY for every zone with secondaries whose serial is not the one in `previous` (all
/// of them at start). Runs on (or in the context of) the I/O runtime.
fn notify_changed(zones: &[ZoneSettings], previous: Option<&ZoneSet>, current: &ZoneSet, keys: &[TsigKey]) {
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

/// Loads every zone; one that fails keeps its version from `previous`, if any, and is logged.
fn load_zones(zones: &[ZoneSettings], previous: Option<&ZoneSet>) -> ZoneSet {
    let mut loaded = Vec::new();
    for zone in zones.iter().filter(|zone| zone.primaries.is_empty()) {
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
                None => {
                    tracing::error!(zone = %zone.origin, file = %zone.file.display(), "zone failed to load; its names get SERVFAIL until it loads: {error}")
                }
            },
        }
    }
    ZoneSet::new(loaded)
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

/// How often the zone query limit's holds that started or ended are logged.
const HOLD_EVENTS_PERIOD: Duration = Duration::from_secs(1);

/// How often drop and refusal counters are summarised in the log.
const SUMMARY_PERIOD: Duration = Duration::from_secs(60);

/// Logs every non-zero drop reason, TCP close reason and rcode counter, when they changed since
/// the last summary.
fn log_summary(shared: &Shared, last: &mut String) {
    use std::sync::atomic::Ordering::Relaxed;
    let counters = &shared.counters;
    let mut parts = vec![format!("requests={}", counters.requests())];
    for reason in portcullis_engine::DropReason::ALL {
        let count = counters.drops_of(reason);
        if count > 0 {
            parts.push(format!("drop_{}={count}", reason.as_str()));
        }
    }
    parts.extend(close_counts(&shared.net_counters));
    for rcode in 1..portcullis_engine::metrics::RCODE_SLOTS {
        let count = counters.rcodes(rcode);
        if count > 0 {
            parts.push(format!("{}={count}", portcullis_wire::Rcode(rcode as u16).to_string().to_lowercase()));
        }
    }
    if counters.cache_answers() > 0 {
        parts.push(format!("cache_answers={}", counters.cache_answers()));
    }
    for (label, counter) in [
        ("resolutions", &counters.resolutions),
        ("resolved_answers", &counters.resolved_answers),
        ("recursion_refused", &counters.recursion_refused),
        ("stale_answers", &counters.stale_answers),
        ("worker_restarts", &shared.worker_restarts),
    ] {
        let count = counter.load(Relaxed);
        if count > 0 {
            parts.push(format!("{label}={count}"));
        }
    }
    if let Some(pool) = shared.pool.get() {
        let upstream = pool.counters.upstream_queries.load(Relaxed);
        if upstream > 0 {
            parts.push(format!(
                "upstream_queries={upstream} coalesced={} resolver_failures={} prefetches={}",
                pool.counters.coalesced.load(Relaxed),
                pool.counters.failed.load(Relaxed),
                pool.counters.prefetches.load(Relaxed)
            ));
        }
        parts.extend(crate::resolver_log::summary_parts(pool));
        let forwarded = pool.counters.forwarded.load(Relaxed);
        if forwarded > 0 {
            parts.push(format!(
                "forwarded={forwarded} forward_fallbacks={} probes={}",
                pool.counters.forward_fallbacks.load(Relaxed),
                pool.counters.probes.load(Relaxed)
            ));
            for (zone, upstreams) in pool.upstreams() {
                for upstream in upstreams {
                    let srtt = upstream.srtt_ms.map_or_else(|| "-".to_string(), |ms| format!("{ms:.1}"));
                    let state = if upstream.up { "up" } else { "down" };
                    parts.push(format!("forward[{zone} {}]={state}/q{}/f{}/srtt{srtt}", upstream.addr, upstream.queries, upstream.failures));
                }
            }
        }
    }
    for (kind, event, label) in rrl_events() {
        let count = shared.rrl_counters.get(kind, event);
        if count > 0 {
            parts.push(format!("rrl_{label}={count}"));
        }
    }
    let line = parts.join(" ");
    if line != *last {
        tracing::info!("counters: {line}");
        *last = line;
    }
}

/// `tcp_close_REASON=N` for every TCP close reason counted at least once.
fn close_counts(counters: &NetCounters) -> impl Iterator<Item = String> + '_ {
    CloseReason::ALL.into_iter().filter_map(|reason| {
        let count = counters.closes_of(reason);
        (count > 0).then(|| format!("tcp_close_{}={count}", reason.as_str()))
    })
}

fn rrl_events() -> Vec<(portcullis_engine::policy::ResponseKind, portcullis_engine::policy::RrlEvent, String)> {
    use portcullis_engine::policy::{ResponseKind as K, RrlEvent as E};
    let kinds = [(K::Answer, "answer"), (K::NxDomain, "nxdomain"), (K::NoData, "nodata"), (K::Referral, "referral"), (K::Error, "error")];
    let events = [(E::Slipped, "slipped"), (E::Dropped, "dropped"), (E::WouldLimit, "would_limit")];
    kinds.iter().flat_map(|(k, kl)| events.iter().map(move |(e, el)| (*k, *e, format!("{kl}_{el}")))).collect()
}

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

#[cfg(test)]
mod tests {
    use super::close_counts;
    use portcullis_net::metrics::{CloseReason, NetCounters};

    #[test]
    fn the_counters_line_names_every_tcp_close_reason_counted() {
        let counters = NetCounters::default();
        assert_eq!(close_counts(&counters).count(), 0);
        counters.closed(CloseReason::IdleTimeout);
        counters.closed(CloseReason::IdleTimeout);
        counters.closed(CloseReason::PerClientLimit);
        assert_eq!(close_counts(&counters).collect::<Vec<_>>(), ["tcp_close_idle_timeout=2", "tcp_close_per_client_limit=1"]);
    }
}
