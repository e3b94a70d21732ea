//! The composition root: builds the engine from settings, binds listeners, runs until SIGTERM,
//! and reloads on SIGHUP (new snapshot swapped in whole; a zone that fails keeps its old version).
//!
//! - [`build`]: the state that outlives one engine ([`Shared`]), the engine, the zones;
//! - [`run`]: start-up, the workers and listeners, the signal loop, shutdown;
//! - [`reload`]: a new configuration and zones swapped in without dropping a query;
//! - [`encrypted`]: the DoT, DoH and DoQ listeners and their certificate's reload;
//! - [`summary`]: the counters line in the log.

mod build;
mod encrypted;
mod reload;
mod run;
mod summary;

pub use build::load_one;
pub use run::serve;
