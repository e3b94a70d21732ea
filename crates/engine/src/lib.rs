//! DNS behaviour of portcullis: zones, authoritative answers, policy. Deterministic: no I/O, no
//! clock, no global state.
//!
//! - [`engine`]: the query pipeline ([`Engine::handle`]).
//! - [`auth`]: zone snapshots and the authoritative answer.
//! - [`zonefile`]: the master-file parser and zone checks.

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

pub use engine::{Engine, EngineSettings};
pub use request::{DropReason, Outcome, Request, Transport};
