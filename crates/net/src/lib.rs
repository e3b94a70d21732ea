//! I/O of portcullis: binds sockets and drives the engine. No DNS decisions are made here.
//!
//! - [`bind`]: UDP sockets (one per worker, `SO_REUSEPORT`) and TCP listeners, with errors that
//!   say what to do.
//! - [`udp`]: one blocking worker thread per socket; fixed buffers, no allocation per query.
//! - [`tcp`]: RFC 7766 on tokio: framing, pipelining, connection limits and timeouts.
//! - [`tls`]: the certificate (reloadable) and the rustls configurations of the encrypted
//!   listeners; DoT is [`tcp`] over TLS, [`doh`] is DNS over HTTPS (hyper, RFC 8484) and
//!   [`doq`] DNS over QUIC (quinn, RFC 9250).
//! - [`tcp_admit`]: which TCP connections are admitted (per /32 and /64, never above the limit).
//! - [`resolver_pool`]: tokio tasks driving the sans-IO resolver, coalescing identical questions.
//! - [`driver`]: the pool's one driver loop, for resolutions and forwardings alike.
//! - [`upstream`]: the resolver's queries on the wire (a fresh UDP socket per query, TCP).
//! - [`xdp`]: the AF_XDP path for UDP on chosen interfaces (`portcullis_xdp`), falling back to
//!   the sockets where it cannot attach.
//! - [`log_gate`]: bounds log lines of one kind per second (hostile sources cannot flood the log).
//! - [`metrics`]: the I/O layer's counters (TCP connections closed, by [`metrics::CloseReason`]).

pub mod bind;
pub mod buffers;
pub mod client;
pub mod doh;
pub mod doh_message;
pub mod doh_resets;
pub mod doq;
mod dot;
pub mod driver;
mod exchange;
pub mod forwarders;
pub mod handshake_rate;
pub mod log_gate;
pub mod metrics;
pub mod random;
pub mod relay;
pub mod resolver_pool;
pub mod supervise;
pub mod tap;
mod tap_batch;
pub mod tap_frame;
pub mod tcp;
pub mod tcp_admit;
pub mod tls;
pub mod udp;
mod udp_replies;
pub mod updates;
pub mod upstream;
pub mod upstream_encrypted;
pub mod upstream_poll;
pub mod upstream_tcp;
pub mod xdp;

use arc_swap::ArcSwap;
use portcullis_engine::Engine;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// [`portcullis_engine::Request::worker`] of requests handled outside the UDP workers (TCP
/// connections, the resolver pool): their own counter shard.
pub const OTHER_THREADS: u16 = u16::MAX;

/// The current engine; reload stores a new one, in-flight queries finish on the old.
pub type EngineHandle = Arc<ArcSwap<Engine>>;

/// The I/O layer's clock: the only place time is read on the query path (DESIGN §4.4). One clock
/// is made at startup and copied to every worker, connection and resolution, so that the
/// instants they hand the engine (cache expiry, rate limits) share one origin.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: std::time::Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Self { start: std::time::Instant::now() }
    }
}

impl Clock {
    /// Monotonic milliseconds since the clock was made, and wall-clock Unix seconds.
    pub fn now(&self) -> (portcullis_engine::policy::Instant, u64) {
        let monotonic = portcullis_engine::policy::Instant::from_millis(self.start.elapsed().as_millis() as u64);
        let unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        (monotonic, unix)
    }

    /// The tokio instant of an engine instant of this clock.
    pub fn tokio_instant(&self, at: portcullis_engine::policy::Instant) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.start + std::time::Duration::from_millis(at.as_millis()))
    }
}

/// A stop signal shared by every listener.
#[derive(Clone, Debug, Default)]
pub struct Shutdown(Arc<AtomicBool>);

impl Shutdown {
    /// Asks every listener to stop.
    pub fn trigger(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// True once stopping.
    pub fn is_triggered(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// The flag itself, for loops that read it directly (the AF_XDP queues).
    pub fn flag(&self) -> &AtomicBool {
        &self.0
    }
}
