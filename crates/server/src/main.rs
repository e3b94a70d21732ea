//! The `portcullis` binary: a memory-safe DNS server and a dig-like client.
#![forbid(unsafe_code)]

mod app;
mod catalog;
mod catalog_config;
mod check;
mod cli;
mod config;
mod config_limit;
#[cfg(test)]
mod config_props;
mod ctl;
mod detection_config;
mod detection_log;
mod dnssec_config;
mod dnssec_ds;
mod dnssec_keys;
mod dnstap;
mod dnstap_file;
mod dnstap_sink;
mod durable;
mod entropy;
mod forward_config;
mod forward_tls;
mod http;
mod journal;
mod key_config;
mod key_files;
mod key_store;
mod keygen;
mod man;
mod notify;
mod ops_config;
mod outgoing;
mod policy_config;
mod query;
mod query_encrypted;
mod query_xfr;
mod querylog;
mod render;
mod resolv;
mod resolver_config;
mod resolver_log;
mod rlimit;
mod rpz_config;
mod rpz_lists;
mod sd_notify;
mod secondary;
mod secondary_xfr;
mod shadow_zones;
mod sign_zone;
mod soa_tcp;
mod stats;
mod tap_writer;
mod tls_config;
mod trust_refresh;
mod trust_state;
mod update_config;
mod updates;
mod upgrade;
mod upgrade_cache;
mod xdp_config;
mod zone_config;
mod zone_files;
mod zone_signer;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() { ExitCode::from(query::EXIT_USAGE) } else { ExitCode::SUCCESS };
        }
    };
    match cli.command {
        cli::Command::Serve(args) => app::serve(*args),
        cli::Command::Query(args) => query::run(args),
        cli::Command::CheckZone(args) => check::check_zone(args),
        cli::Command::CheckConfig(args) => check::check_config(args),
        cli::Command::Keygen(args) => keygen::run(args),
        cli::Command::SignZone(args) => sign_zone::run(args),
        cli::Command::Dnssec(cli::DnssecCommand::Ds(args)) => dnssec_ds::run(args),
        cli::Command::Ctl(args) => ctl::run(args),
        cli::Command::Dnssec(cli::DnssecCommand::Status(args)) => dnssec_keys::status(&args),
        cli::Command::Dnssec(cli::DnssecCommand::DsSeen(args)) => dnssec_keys::record(&args, dnssec_keys::Observed::DsSeen),
        cli::Command::Dnssec(cli::DnssecCommand::DsGone(args)) => dnssec_keys::record(&args, dnssec_keys::Observed::DsGone),
        cli::Command::Man(args) => man::run(args),
    }
}
