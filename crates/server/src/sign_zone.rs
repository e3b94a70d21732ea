//! `sign-zone`: signs a zone file offline with key files made by `keygen` (or BIND's
//! `dnssec-keygen`), writing the signed zone as text, one record per line.

use crate::cli::SignZoneArgs;
use crate::key_files::{self, KeyPair};
use crate::keygen::parse_origin;
use crate::zone_files::parse_zone_file;
use portcullis_dnssec::zone::{sign_zone, Denial, KeyUse, Record, SignOptions, ZoneKey};
use portcullis_engine::zonefile::{check_zone, has_errors};
use portcullis_wire::rdata::rdata_to_text;
use portcullis_wire::NameBuf;
use ring::rand::SystemRandom;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Signatures start this many seconds before now, for validators whose clocks run late.
const INCEPTION_SKEW: u64 = 3600;

/// Signs the zone and writes it; exit 1 on any error.
pub fn run(args: SignZoneArgs) -> ExitCode {
    match sign(&args) {
        Ok((output, count)) => {
            println!("{}: {count} records", output.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("portcullis sign-zone: {error}");
            ExitCode::from(1)
        }
    }
}

fn sign(args: &SignZoneArgs) -> Result<(PathBuf, usize), String> {
    let origin = parse_origin(&args.origin)?;
    if args.opt_out && !args.nsec3 {
        return Err("--opt-out needs --nsec3".to_string());
    }
    let parsed = parse_zone_file(&origin, &args.file).map_err(|e| e.to_string())?;
    let problems = check_zone(&origin, &parsed);
    if has_errors(&problems) {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(format!("{}: the zone has errors:\n{}", args.file.display(), list.join("\n")));
    }
    let rng = SystemRandom::new();
    let pairs = args.key.iter().map(|base| key_files::read(base, &rng)).collect::<Result<Vec<KeyPair>, String>>()?;
    if let Some(other) = pairs.iter().find(|pair| pair.owner != origin) {
        return Err(format!("key {} belongs to {}, not {origin}", other.base_name(), other.owner));
    }
    let keys: Vec<ZoneKey<'_>> = pairs.iter().map(KeyPair::zone_key).collect();
    let records: Vec<Record> = parsed.into_iter().map(|r| Record { owner: r.owner, rtype: r.rtype, class: r.class, ttl: r.ttl, rdata: r.rdata }).collect();
    let options = options(args, now())?;
    let signed = sign_zone(&origin, &records, &keys, &options, &rng).map_err(|e| e.to_string())?;
    let output = args.output.clone().unwrap_or_else(|| {
        let mut path = args.file.clone().into_os_string();
        path.push(".signed");
        PathBuf::from(path)
    });
    std::fs::write(&output, zone_text(&origin, &signed)).map_err(|e| format!("{}: {e}", output.display()))?;
    Ok((output, signed.len()))
}

/// Seconds since the epoch.
fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The signing options: validity from an hour before `now` to `--validity-days` after it
/// (times modulo 2^32, RFC 4034 §3.1.5).
fn options(args: &SignZoneArgs, now: u64) -> Result<SignOptions, String> {
    if args.validity_days == 0 || args.validity_days > 3650 {
        return Err("--validity-days must be between 1 and 3650".to_string());
    }
    let inception = now.saturating_sub(INCEPTION_SKEW) as u32;
    let expiration = now.saturating_add(u64::from(args.validity_days) * 86_400) as u32;
    let denial = if args.nsec3 { Denial::Nsec3 { opt_out: args.opt_out } } else { Denial::Nsec };
    Ok(SignOptions { inception, expiration, denial, keys: KeyUse::PublishAll })
}

/// The zone as text: `$ORIGIN`, then one record per line with absolute names.
pub fn zone_text(origin: &NameBuf, records: &[Record]) -> String {
    let mut text = format!("; signed by portcullis sign-zone\n$ORIGIN {origin}\n");
    for record in records {
        let _ = write!(text, "{} {} {} {} ", record.owner, record.ttl, record.class, record.rtype);
        let _ = rdata_to_text(record.rtype, &record.rdata, &mut text);
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(days: u32, nsec3: bool, opt_out: bool) -> SignZoneArgs {
        SignZoneArgs { origin: "example.".into(), file: "z".into(), key: Vec::new(), nsec3, opt_out, output: None, validity_days: days }
    }

    #[test]
    fn options_follow_the_flags_and_bound_the_validity() {
        let options = options(&args(2, true, true), 100_000).unwrap();
        assert_eq!((options.inception, options.expiration), (96_400, 272_800));
        assert_eq!(options.denial, Denial::Nsec3 { opt_out: true });
        assert!(super::options(&args(0, false, false), 0).is_err());
        assert!(sign(&args(1, false, true)).unwrap_err().contains("--opt-out needs --nsec3"));
    }
}
