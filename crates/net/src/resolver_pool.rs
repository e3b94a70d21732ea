//! The resolver pool (DESIGN §4.4 "Recursion and forwarding", §5.10): tokio tasks that drive
//! sans-IO [`Resolution`]s with [`upstream`](crate::upstream) and answer the waiting clients.
//!
//! - **Coalescing**: clients asking the same question (lower-cased name, type, class, DO bit) while
//!   it is being resolved wait on the one resolution; its result answers every one of them, each
//!   with its own ID, flags, OPT and cookie ([`Engine::respond_resolved`]).
//! - **Bounds**: at most [`PoolLimits::max_resolutions`] questions in flight and
//!   [`PoolLimits::max_waiters`] clients per question; beyond that a query is dropped with
//!   [`DropReason::ResolverOverload`] (counted; the client retries).
//! - **Replies**: UDP clients are answered on the worker's socket (a clone of it), the replies
//!   of resolutions that end together sent in batches ([`crate::udp_replies`]); TCP clients
//!   through their connection's reply channel, in completion order (RFC 7766 §6.2.1.1).
//! - **Time**: the shared [`Clock`]; the cache, the workers and the pool read the same one.
//! - **Driving**: a [`Resolution`] and a [`Forwarding`] run in the one driver loop of
//!   [`crate::driver`] (several upstream queries in flight, polled by the resolution's task).
//! - **Forwarding** (issue 5): a question under a forward zone (longest suffix) is driven as a
//!   [`Forwarding`] against the zone's [`UpstreamGroup`] (several queries in flight when
//!   hedging); `forward-first` falls back to iterative resolution when the group fails. TCP to
//!   forwarding upstreams goes over shared, pipelined connections ([`crate::upstream_tcp`]). A
//!   task per zone sends probe queries to down upstreams; every health change is logged with
//!   its reason.
//!
//! [`Engine::respond_resolved`]: portcullis_engine::Engine::respond_resolved
//! [`UpstreamGroup`]: portcullis_engine::resolve::upstreams::UpstreamGroup

use crate::buffers::MessageBuffers;
use crate::driver::{drive, Grouped, Wire};
use crate::forwarders::{probe_loop, ForwardGroup, ForwardTable, ProbeOwner};
use crate::log_gate::LogGate;
use crate::random::BufferedRandom;
use crate::udp_replies::UdpReplies;
use crate::upstream_poll::UpstreamPoll;
use crate::upstream_tcp::TcpConnections;
use crate::{Clock, EngineHandle};
use arc_swap::ArcSwap;
use portcullis_engine::cache::Cache;
use portcullis_engine::resolve::forward::ForwardSettings;
use portcullis_engine::resolve::upstreams::UpstreamSnapshot;
use portcullis_engine::resolve::{ForwardMode, Forwarding, Random, Resolution, Resolved, ResolverSettings, ServerStats, Shared};
use portcullis_engine::{recursion_key, DropReason, Outcome, RecursionKey, Request, Transport};
use portcullis_wire::message::Question;
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{mpsc, OwnedSemaphorePermit};

/// Bounds of the pool.
#[derive(Clone, Copy, Debug)]
pub struct PoolLimits {
    /// Distinct questions being resolved at once.
    pub max_resolutions: usize,
    /// Clients waiting on one question.
    pub max_waiters: usize,
}

impl Default for PoolLimits {
    fn default() -> Self {
        Self { max_resolutions: 1000, max_waiters: 256 }
    }
}

/// How a question is resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Forwarded when under a forward zone, else from the root.
    Any,
    /// From the root, whatever the forward zones say (the fallback of a `forward-first` zone
    /// whose group failed).
    Iterate,
    /// As `Any`, asking upstream even though the cache still holds the answer (prefetch).
    Refresh,
}

/// Where a client's reply goes.
#[derive(Debug)]
pub enum ReplyTo {
    /// A UDP worker's socket (a clone of it).
    Udp(Arc<UdpSocket>),
    /// A TCP connection's reply channel, and one of the connection's permits to have a question
    /// resolving: given back when the waiter is dropped, after its reply is queued.
    Tcp(mpsc::Sender<Vec<u8>>, OwnedSemaphorePermit),
}

/// A client waiting for a resolution.
#[derive(Debug)]
pub struct Waiter {
    /// The query as received.
    pub query: Vec<u8>,
    /// The client.
    pub peer: SocketAddr,
    /// The transport it asked over.
    pub transport: Transport,
    /// The listener index (per-listener ACLs).
    pub listener: u16,
    /// Where the reply goes.
    pub reply: ReplyTo,
}

/// Makes the random source of each resolution (production: the operating system's CSPRNG).
pub type RandomSource = Arc<dyn Fn() -> Box<dyn Random + Send> + Send + Sync>;

/// Counters of the pool.
#[derive(Debug, Default)]
pub struct PoolCounters {
    /// Resolutions started.
    pub started: AtomicU64,
    /// Clients that joined a resolution already in flight.
    pub coalesced: AtomicU64,
    /// Queries dropped because the pool was full.
    pub overloaded: AtomicU64,
    /// Upstream queries sent.
    pub upstream_queries: AtomicU64,
    /// Resolutions that ended in SERVFAIL.
    pub failed: AtomicU64,
    /// Those by reason, indexed by [`portcullis_engine::resolve::Failure::index`].
    pub failed_by: [AtomicU64; portcullis_engine::resolve::Failure::ALL.len()],
    /// Questions sent to a forward zone's group.
    pub forwarded: AtomicU64,
    /// `forward-first` questions resolved iteratively after the group failed.
    pub forward_fallbacks: AtomicU64,
    /// Probe queries sent to down upstreams.
    pub probes: AtomicU64,
    /// Cached answers refreshed before they expire.
    pub prefetches: AtomicU64,
    /// Resolutions whose task panicked (their question released, their clients unanswered).
    pub panicked: AtomicU64,
    /// Answers DNSSEC validation found bogus (SERVFAIL with an EDE to clients without CD).
    pub bogus: AtomicU64,
    /// How long each resolution took, start to answer (cache misses resolved or forwarded by
    /// the pool; the UDP workers' own forwarding relay is not in it).
    pub durations: crate::metrics::LatencyHistogram,
}

/// "DNSSEC validation failed" lines written per second at most; the rest are counted and the
/// next line written says how many were suppressed.
const BOGUS_LINES_PER_SECOND: u64 = 10;

/// The pool; shared by the UDP workers and TCP connections.
pub struct ResolverPool {
    /// Bounds the "validation failed" log lines (a zone built to fail, asked under random
    /// names, would otherwise write one per question); `counters.bogus` counts them all.
    bogus_log: LogGate,
    pub(crate) engine: EngineHandle,
    pub(crate) settings: ArcSwap<ResolverSettings>,
    pub(crate) cache: Arc<Cache>,
    pub(crate) stats: Arc<ServerStats>,
    pub(crate) clock: Clock,
    pub(crate) random: RandomSource,
    /// The random bytes of the pool's resolutions and forwardings, read from `random`'s source
    /// 4 KiB at a time.
    buffered_random: BufferedRandom,
    pub(crate) limits: PoolLimits,
    runtime: tokio::runtime::Handle,
    in_flight: Mutex<HashMap<RecursionKey, Vec<Waiter>>>,
    forward: ArcSwap<ForwardTable>,
    iterate: std::sync::atomic::AtomicBool,
    tcp: Arc<TcpConnections>,
    /// Buffers for upstream datagrams and client replies, reused across resolutions.
    buffers: MessageBuffers,
    /// Replies to UDP clients, sent in batches by a flusher task ([`crate::udp_replies`]).
    udp_replies: Arc<UdpReplies>,
    /// The epoll set the upstream UDP sockets wait in, read by a task of its own
    /// ([`crate::upstream_poll`]); `None` (tokio's reactor) when it could not be made.
    upstream_poll: Option<Arc<UpstreamPoll>>,
    /// dnstap's queue, when dnstap is on: the answers the pool and the relay write are captured
    /// there as they are sent.
    tap: std::sync::OnceLock<Arc<crate::tap::Tap>>,
    /// Counters.
    pub counters: PoolCounters,
}

impl std::fmt::Debug for ResolverPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolverPool").field("limits", &self.limits).field("counters", &self.counters).finish_non_exhaustive()
    }
}

/// Everything [`ResolverPool::new`] needs.
pub struct PoolParts {
    /// The engine (answers are written by the current one).
    pub engine: EngineHandle,
    /// Resolver settings (replaced on reload with [`ResolverPool::set_settings`]).
    pub settings: Arc<ResolverSettings>,
    /// The cache (the same one the engine answers from).
    pub cache: Arc<Cache>,
    /// The shared clock.
    pub clock: Clock,
    /// Randomness for IDs, ports' companion 0x20 bits and server exploration.
    pub random: RandomSource,
    /// The secret key of the pool's hashed tables (per upstream server, per zone), from the OS
    /// random source.
    pub hash_key: [u8; 16],
    /// Bounds.
    pub limits: PoolLimits,
    /// The runtime the resolution tasks run on.
    pub runtime: tokio::runtime::Handle,
    /// Forward zones (replaced on reload with [`ResolverPool::set_forward`]).
    pub forward: Vec<ForwardSettings>,
    /// Resolve names outside every forward zone from the root; otherwise they get REFUSED.
    pub iterate: bool,
}

impl ResolverPool {
    /// A pool with nothing in flight.
    pub fn new(parts: PoolParts) -> Arc<Self> {
        let forward = ArcSwap::from_pointee(ForwardTable::new(&parts.forward));
        let udp_replies = Arc::new(UdpReplies::default());
        parts.runtime.spawn(udp_replies.clone().flush_loop(parts.engine.clone()));
        let upstream_poll = start_upstream_poll(&parts.runtime);
        let pool = Arc::new(Self {
            engine: parts.engine,
            settings: ArcSwap::new(parts.settings),
            cache: parts.cache,
            stats: Arc::new(ServerStats::with_key(parts.hash_key)),
            clock: parts.clock,
            buffered_random: BufferedRandom::new((parts.random)()),
            random: parts.random,
            limits: parts.limits,
            runtime: parts.runtime,
            in_flight: Mutex::new(HashMap::new()),
            forward,
            iterate: std::sync::atomic::AtomicBool::new(parts.iterate),
            tcp: Arc::default(),
            buffers: MessageBuffers::default(),
            udp_replies,
            upstream_poll,
            tap: std::sync::OnceLock::new(),
            counters: PoolCounters::default(),
            bogus_log: LogGate::new(BOGUS_LINES_PER_SECOND),
        });
        pool.start_probes(&ForwardTable::default());
        pool
    }

    /// Starts the probe task of every group of the current table that `previous` did not hold.
    fn start_probes(self: &Arc<Self>, previous: &ForwardTable) {
        for group in self.forward.load().groups().filter(|group| !previous.holds(group)) {
            let (weak, group) = (Arc::downgrade(self), group.clone());
            self.runtime.spawn(async move { probe_loop(weak, group).await });
        }
    }

    /// Replaces the forward zones (reload); a zone whose settings did not change keeps its
    /// group's health state and probe task.
    pub fn set_forward(self: &Arc<Self>, settings: &[ForwardSettings]) {
        let previous = self.forward.load_full();
        self.forward.store(Arc::new(ForwardTable::rebuilt(settings, &previous)));
        self.start_probes(&previous);
    }

    /// The forward zones in use.
    pub fn forward_table(&self) -> Arc<ForwardTable> {
        self.forward.load_full()
    }

    /// Turns resolution from the root (for names outside the forward zones) on or off.
    pub fn set_iterate(&self, iterate: bool) {
        self.iterate.store(iterate, Ordering::Relaxed);
    }

    /// The settings of the forward zones in use.
    pub fn forward_settings(&self) -> Vec<ForwardSettings> {
        self.forward.load().settings().to_vec()
    }

    /// The shared TCP connections to forwarding upstreams.
    pub fn tcp_connections(&self) -> &TcpConnections {
        &self.tcp
    }

    /// The random-subdomain flood defence's counters and hold events.
    pub fn zone_rates(&self) -> &portcullis_engine::resolve::zone_rate::ZoneRates {
        &self.stats.zone_rates
    }

    /// Now, on the pool's clock.
    pub fn now(&self) -> portcullis_engine::policy::Instant {
        self.clock.now().0
    }

    /// Counters and state of every forward zone's upstreams.
    pub fn upstreams(&self) -> Vec<(String, Vec<UpstreamSnapshot>)> {
        self.forward.load().snapshot()
    }

    /// The resolver settings in use.
    pub fn settings(&self) -> Arc<ResolverSettings> {
        self.settings.load_full()
    }

    /// Replaces the resolver settings for resolutions started from now on.
    pub fn set_settings(&self, settings: Arc<ResolverSettings>) {
        self.settings.store(settings);
    }

    /// What is known about upstream servers.
    pub fn server_stats(&self) -> &ServerStats {
        &self.stats
    }

    /// Questions being resolved now.
    pub fn in_flight(&self) -> usize {
        self.lock().len()
    }

    /// Hands a query that [`portcullis_engine::Engine::handle`] answered with
    /// [`Outcome::Resolve`] to the pool: it joins the resolution of the same question in flight
    /// or starts one. `Err` when the pool is full (the query is dropped; the caller counts it).
    pub fn submit(self: &Arc<Self>, waiter: Waiter) -> Result<(), DropReason> {
        self.submit_routed(waiter, Route::Any)
    }

    /// [`ResolverPool::submit`] along `route`.
    pub fn submit_routed(self: &Arc<Self>, waiter: Waiter, route: Route) -> Result<(), DropReason> {
        let Some(key) = recursion_key(&waiter.query) else { return Err(DropReason::Malformed) };
        {
            let mut table = self.lock();
            if let Some(waiting) = table.get_mut(&key) {
                if waiting.len() >= self.limits.max_waiters {
                    self.counters.overloaded.fetch_add(1, Ordering::Relaxed);
                    return Err(DropReason::ResolverOverload);
                }
                waiting.push(waiter);
                self.counters.coalesced.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            if table.len() >= self.limits.max_resolutions {
                self.counters.overloaded.fetch_add(1, Ordering::Relaxed);
                return Err(DropReason::ResolverOverload);
            }
            table.insert(key, vec![waiter]);
        }
        self.start(key, route);
        Ok(())
    }

    /// Refreshes the cached answer to `query` (a hit about to expire, [`Outcome::ReplyAndPrefetch`]):
    /// resolved again unless the same question is in flight or the pool is full; no client waits.
    pub fn prefetch(self: &Arc<Self>, query: &[u8]) {
        let Some(key) = recursion_key(query) else { return };
        {
            let mut table = self.lock();
            if table.contains_key(&key) || table.len() >= self.limits.max_resolutions {
                return;
            }
            table.insert(key, Vec::new());
        }
        self.counters.prefetches.fetch_add(1, Ordering::Relaxed);
        self.start(key, Route::Refresh);
    }

    /// Resolves `key` in a task of its own and answers whoever waits on it then.
    fn start(self: &Arc<Self>, key: RecursionKey, route: Route) {
        self.counters.started.fetch_add(1, Ordering::Relaxed);
        let guard = InFlight { pool: self.clone(), key, armed: true };
        // Boxed: the resolution's future is kilobytes (the `Resolution` and its driver's state);
        // a task holding it inline copied all of it when spawned and again when it finished
        // (about a quarter of the `memmove` time of a miss, issue 19); the box is written once.
        self.runtime.spawn(Box::pin(async move {
            let pool = guard.pool.clone();
            let begun = std::time::Instant::now();
            let resolved = pool.resolve_routed(key.question, route).await;
            pool.counters.durations.record(begun.elapsed());
            if let Some(failure) = resolved.failure {
                pool.counters.failed.fetch_add(1, Ordering::Relaxed);
                pool.counters.failed_by[failure.index()].fetch_add(1, Ordering::Relaxed);
            }
            if let Some(bogus) = &resolved.bogus {
                pool.counters.bogus.fetch_add(1, Ordering::Relaxed);
                let (qname, qtype) = (key.question.qname, key.question.qtype);
                if let Some(suppressed) = pool.bogus_log.admit() {
                    tracing::warn!(%qname, qtype = qtype.0, ede = bogus.ede, reason = %bogus.why, suppressed, "DNSSEC validation failed: {}", bogus.why);
                }
            }
            let waiters = guard.take();
            pool.answer(&resolved, waiters).await;
        }));
    }

    /// Answers one question: forwarded when it is under a forward zone (with the iterative
    /// fallback of `forward-first`), else resolved iteratively.
    pub async fn resolve(&self, question: Question) -> Resolved {
        self.resolve_routed(question, Route::Any).await
    }

    async fn resolve_routed(&self, question: Question, route: Route) -> Resolved {
        let table = self.forward.load_full();
        let forward = if route == Route::Iterate { None } else { table.lookup(&question.qname) };
        if let Some((mode, group)) = forward {
            self.counters.forwarded.fetch_add(1, Ordering::Relaxed);
            let resolved = self.forward(group, question, mode == ForwardMode::Only).await;
            if resolved.failure.is_none() || mode == ForwardMode::Only {
                return resolved;
            }
            self.counters.forward_fallbacks.fetch_add(1, Ordering::Relaxed);
        } else if !self.iterate.load(Ordering::Relaxed) {
            // Forwarding only: a name outside every forward zone is not resolved (RFC 5358).
            return Resolved::empty(portcullis_wire::Rcode::REFUSED, None, 0);
        }
        self.iterate_routed(question, route == Route::Refresh).await
    }

    /// Drives one forwarding to its end ([`drive`]: several queries may be in flight when
    /// hedging; the group is locked around each call of the forwarding only).
    pub async fn forward(&self, group: &ForwardGroup, question: Question, fail_open: bool) -> Resolved {
        let settings = self.settings.load_full();
        let (start, unix) = self.clock.now();
        let mut forwarding = Forwarding::new(question, settings, start, Box::new(self.buffered_random.clone()))
            .with_fail_open(fail_open)
            .with_cache(group.caches())
            .with_validation(group.validates(), unix);
        let wire = Wire { encrypted: group.encrypted.as_ref(), ..self.wire(Some(&self.tcp)) };
        drive(&mut forwarding, &self.grouped(group), &wire).await
    }

    /// Drives one iterative resolution to its end (DESIGN §5.10).
    pub async fn iterate(&self, question: Question) -> Resolved {
        self.iterate_routed(question, false).await
    }

    async fn iterate_routed(&self, question: Question, refresh: bool) -> Resolved {
        let settings = self.settings.load_full();
        let (start, unix) = self.clock.now();
        let mut resolution = Resolution::new(question, settings, start, Box::new(self.buffered_random.clone())).with_unix_secs(unix);
        if refresh {
            resolution = resolution.with_refresh();
        }
        // TCP to authoritative servers: a fresh connection per query.
        drive(&mut resolution, &self.shared(), &self.wire(None)).await
    }

    /// What every resolution and forwarding shares: the cache and the server statistics.
    fn shared(&self) -> Shared<'_> {
        Shared { cache: &self.cache, servers: &self.stats }
    }

    /// The context of a forwarding to `group` (locked for each call).
    pub(crate) fn grouped<'a>(&'a self, group: &'a ForwardGroup) -> Grouped<'a> {
        Grouped { group, shared: self.shared() }
    }

    /// How the pool's queries go out; `tcp`: the shared TCP connections, if used.
    fn wire<'a>(&'a self, tcp: Option<&'a Arc<TcpConnections>>) -> Wire<'a> {
        Wire { clock: self.clock, tcp, sent: &self.counters.upstream_queries, encrypted: None, buffers: &self.buffers, poll: self.upstream_poll.as_deref() }
    }

    /// Captures the answers the pool and the UDP workers' relays write (dnstap, the query log);
    /// set once, at start.
    pub fn set_tap(&self, tap: Arc<crate::tap::Tap>) {
        let _ = self.tap.set(tap);
    }

    /// dnstap's queue, when set.
    pub(crate) fn tap(&self) -> Option<&Arc<crate::tap::Tap>> {
        self.tap.get()
    }

    /// Writes and sends each waiting client's reply.
    async fn answer(&self, resolved: &Resolved, waiters: Vec<Waiter>) {
        let engine = self.engine.load_full();
        let mut buf = self.buffers.lease();
        for waiter in waiters {
            let (now, unix_secs) = self.clock.now();
            let request = Request {
                bytes: &waiter.query,
                peer: waiter.peer,
                transport: waiter.transport,
                now,
                unix_secs,
                listener: waiter.listener,
                worker: crate::OTHER_THREADS,
            };
            let Outcome::Reply(len) = engine.respond_resolved(resolved, &request, &mut buf) else { continue };
            if let Some(tap) = self.tap() {
                let local = match &waiter.reply {
                    ReplyTo::Udp(socket) => socket.local_addr().ok(),
                    ReplyTo::Tcp(..) => None,
                };
                tap.record(waiter.transport, waiter.peer, local, &waiter.query, Some(&buf[..len]));
            }
            match &waiter.reply {
                ReplyTo::Udp(socket) => self.udp_replies.queue(socket, waiter.peer, &buf[..len]),
                ReplyTo::Tcp(sender, _permit) => {
                    let _ = sender.send(buf[..len].to_vec()).await;
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RecursionKey, Vec<Waiter>>> {
        self.in_flight.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The pool's epoll set of upstream UDP sockets, its task started on `runtime`; `None` (logged)
/// when the system refuses one: the sockets then wait in tokio's reactor, as before.
fn start_upstream_poll(runtime: &tokio::runtime::Handle) -> Option<Arc<UpstreamPoll>> {
    let _entered = runtime.enter();
    match UpstreamPoll::new() {
        Ok(poll) => {
            runtime.spawn(poll.clone().dispatch_loop());
            Some(poll)
        }
        Err(error) => {
            tracing::warn!(%error, "cannot make the upstream epoll set; upstream sockets use the runtime's reactor");
            None
        }
    }
}

/// A question's place in the pool, given up however its task ends: by [`InFlight::take`] when
/// the resolution finishes, or on drop when the task panicked or was cancelled (the question is
/// then asked afresh by the next client instead of joining a resolution that will never end).
struct InFlight {
    pool: Arc<ResolverPool>,
    key: RecursionKey,
    /// Still in the pool: taken neither by `take` nor by the drop.
    armed: bool,
}

impl InFlight {
    /// Removes the question from the pool and returns its waiters.
    fn take(mut self) -> Vec<Waiter> {
        self.armed = false;
        self.pool.lock().remove(&self.key).unwrap_or_default()
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut table = self.pool.lock();
        let Some(waiters) = table.remove(&self.key) else { return };
        // Counted before the question leaves the table's lock, so whoever sees it gone sees
        // it counted too.
        let panicked = std::thread::panicking();
        if panicked {
            self.pool.counters.panicked.fetch_add(1, Ordering::Relaxed);
        }
        drop(table);
        if panicked {
            tracing::error!(qname = %self.key.question.qname, qtype = %self.key.question.qtype, waiters = waiters.len(), "a resolution panicked; its question is released");
        }
    }
}

#[cfg(test)]
#[path = "resolver_pool_tests.rs"]
mod tests;

impl ProbeOwner for ResolverPool {
    fn current(&self) -> Arc<ForwardTable> {
        self.forward.load_full()
    }

    fn clock(&self) -> Clock {
        self.clock
    }

    fn random(&self) -> Box<dyn Random + Send> {
        Box::new(self.buffered_random.clone())
    }

    fn probes(&self) -> &AtomicU64 {
        &self.counters.probes
    }
}
