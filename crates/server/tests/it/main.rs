//! The loopback integration binary (DESIGN §5.13 levels 4 and 6): portcullis, NSD and Knot
//! started as child processes on 127.0.0.1, compared query by query, and real clients (`dig`,
//! `kdig`) run against portcullis.
//!
//! Peers missing: tests print `SKIPPED ...` and pass, except under `CI=true`, where they fail.

mod answer;
mod client;
mod ctl;
mod ctl_blocks;
mod ctl_place;
mod dashboard;
mod differential;
mod dnstap;
mod ds_reload;
mod harness;
mod ixfr;
mod ixfr_hostile;
mod ixfr_peers;
mod lifecycle;
mod ops;
mod ops_reload;
mod packaging;
mod peers;
mod portcullis;
mod queries;
mod query_cli;
mod reply_cache;
mod rules;
mod secondary;
mod signed;
mod tcp_hostile;
mod tools;
mod transfer_limits;
mod transfers;
mod tsig;
mod upgrade;
mod zones;
