//! I/O of portcullis: binds sockets and drives the engine. No DNS decisions are made here.
//!
//! - [`bind`]: UDP sockets (one per worker, `SO_REUSEPORT`) and TCP listeners, with errors that
//!   say what to do.
//! - [`udp`]: one blocking worker thread per socket; fixed buffers, no allocation per query.
//! - [`tcp`]: RFC 7766 on tokio: framing, pipelining, connection limits and timeouts.

pub mod bind;
pub mod tcp;
pub mod udp;

use arc_swap::ArcSwap;
use portcullis_engine::Engine;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The current engine; reload stores a new one, in-flight queries finish on the old.
pub type EngineHandle = Arc<ArcSwap<Engine>>;

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
}
