//! The composition root: builds the engine from settings, binds listeners, runs until SIGTERM,
//! and reloads on SIGHUP (new snapshot swapped in whole; a zone that fails keeps its old version).
//!
//! - [`build`]: the state that outlives one engine ([`Shared`]), the engine, the zones;
//! - [`run`]: start-up, the workers and listeners, the signal loop, shutdown;
//! - [`reload`]: a new configuration and zones swapped in without dropping a query;
//! - [`signing`]: signed zones: signed on load, their versions kept, refreshed when due;
//! - [`encrypted`]: the DoT, DoH and DoQ listeners and their certificate's reload;
//! - [`summary`]: the counters line in the log;
//! - [`catalog`]: catalog zones' members added and removed at run time;
//! - [`ops`]: the sampler, the HTTP listener and the control socket (`portcullis ctl`).

mod blocks;
mod build;
mod catalog;
mod control_place;
mod encrypted;
mod ops;
mod reload;
mod run;
mod signing;
mod summary;

pub use build::load_one;
pub use run::serve;
pub use signing::key_clock_now;
