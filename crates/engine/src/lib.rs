//! DNS behaviour of portcullis: zones, authoritative answers, policy. Deterministic: no I/O, no
//! clock, no global state.
//!
//! - [`engine`]: the query pipeline ([`Engine::handle`]).
//! - [`auth`]: zone snapshots and the authoritative answer.
//! - [`zonefile`]: the master-file parser and zone checks.
//! - [`cache`], [`resolve`]: the resolver's cache and the sans-IO iterative resolver; the engine
//!   answers cache hits itself and hands misses to the I/O layer's pool ([`Outcome::Resolve`]).

pub mod auth;
pub mod cache;
pub mod engine;
#[doc(hidden)]
pub mod fuzz;
pub mod load;
pub mod metrics;
pub mod policy;
pub mod reply;
pub mod request;
pub mod resolve;
pub mod zonefile;

pub use engine::{Engine, EngineSettings, Recursion};
pub use request::{recursion_key, DropReason, Outcome, RecursionKey, Request, Transport};
