//! `check-zone` and `check-config`: what `named-checkzone` and `kzonecheck` report.

use crate::cli::{CheckConfigArgs, CheckZoneArgs, ServeArgs};
use crate::config;
use crate::zone_files::parse_zone_file;
use portcullis_engine::zonefile::{check_zone as run_checks, has_errors};
use portcullis_wire::NameBuf;
use std::process::ExitCode;

/// Checks one zone file; exit 1 when it has an error.
pub fn check_zone(args: CheckZoneArgs) -> ExitCode {
    let origin_text = if args.origin.ends_with('.') { args.origin.clone() } else { format!("{}.", args.origin) };
    let origin = match NameBuf::from_text(&origin_text, None) {
        Ok(origin) => origin,
        Err(error) => {
            eprintln!("portcullis: origin '{}': {error}", args.origin);
            return ExitCode::from(2);
        }
    };
    let records = match parse_zone_file(&origin, &args.file) {
        Ok(records) => records,
        Err(error) => {
            println!("error: {error}");
            return ExitCode::from(1);
        }
    };
    let problems = run_checks(&origin, &records);
    for problem in &problems {
        println!("{}: {problem}", args.file.display());
    }
    if has_errors(&problems) {
        println!("zone {origin}: {} records, {} problem(s): NOT OK", records.len(), problems.len());
        return ExitCode::from(1);
    }
    println!("zone {origin}: {} records: OK", records.len());
    ExitCode::SUCCESS
}

/// Checks a configuration file and loads every zone it names.
pub fn check_config(args: CheckConfigArgs) -> ExitCode {
    let serve = ServeArgs { config: Some(args.file.clone()), ..ServeArgs::default() };
    let settings = match config::load(&serve) {
        Ok(settings) => settings,
        Err(errors) => {
            for error in errors {
                println!("error: {error}");
            }
            return ExitCode::from(1);
        }
    };
    let mut failed = false;
    for zone in &settings.zones {
        if !zone.primaries.is_empty() {
            let primaries: Vec<String> = zone.primaries.iter().map(ToString::to_string).collect();
            println!("zone {}: secondary of {}: transferred when served", zone.origin, primaries.join(", "));
            continue;
        }
        match crate::app::load_one(zone) {
            Ok(loaded) => match &zone.signing {
                Some(signing) => println!(
                    "zone {}: {} names: OK; signed when served with policy {} (keys in {})",
                    zone.origin,
                    loaded.node_count(),
                    signing.policy.name,
                    signing.key_directory.display()
                ),
                None => println!("zone {}: {} names: OK", zone.origin, loaded.node_count()),
            },
            Err(error) => {
                failed = true;
                println!("error: zone {} ({}): {error}; serve would answer SERVFAIL for its names", zone.origin, zone.file.display());
            }
        }
    }
    if failed {
        return ExitCode::from(1);
    }
    println!("{}: OK", args.file.display());
    ExitCode::SUCCESS
}
