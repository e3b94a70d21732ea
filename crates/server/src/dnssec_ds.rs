//! `dnssec ds`: the DS records (SHA-256, RFC 4509) a parent zone publishes for a zone's keys,
//! from key files, from the DNSKEY records of a (signed) zone file, or from the key directory of
//! a zone the server signs (`--config`: the keys whose CDS/CDNSKEY the zone publishes now, the
//! DS set the parent should have (RFC 7344); before any is published, as for a zone's first key
//! during its wait, its published KSK or CSK).

use crate::cli::DsArgs;
use crate::key_files;
use crate::keygen::parse_origin;
use crate::zone_files::parse_zone_file;
use portcullis_dnssec::key::{ds_rdata, Dnskey};
use portcullis_dnssec::DigestType;
use portcullis_wire::rdata::rdata_to_text;
use portcullis_wire::{NameBuf, Rtype};
use ring::rand::SystemRandom;
use std::process::ExitCode;

/// Prints one DS record per key; exit 1 on an error.
pub fn run(args: DsArgs) -> ExitCode {
    match ds_lines(&args) {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("portcullis dnssec ds: {error}");
            ExitCode::from(1)
        }
    }
}

fn ds_lines(args: &DsArgs) -> Result<Vec<String>, String> {
    let origin = parse_origin(&args.origin)?;
    let mut dnskeys = Vec::new();
    let rng = SystemRandom::new();
    for base in &args.key {
        let pair = key_files::read(base, &rng)?;
        if pair.owner != origin {
            return Err(format!("key {} belongs to {}, not {origin}", pair.base_name(), pair.owner));
        }
        dnskeys.push(pair.dnskey_rdata());
    }
    if let Some(file) = &args.zone {
        dnskeys.extend(zone_ksks(&origin, file)?);
    }
    if let Some(config) = &args.config {
        dnskeys.extend(managed_ksks(&origin, config, &rng)?);
    }
    if dnskeys.is_empty() {
        return Err("no key: give --key BASE, --zone FILE with DNSKEY records, or --config FILE of a server signing the zone".to_string());
    }
    dnskeys.iter().map(|rdata| ds_line(&origin, rdata)).collect()
}

/// The DNSKEYs at the origin of a zone file with the SEP flag (all of them when none has it).
fn zone_ksks(origin: &NameBuf, file: &std::path::Path) -> Result<Vec<Vec<u8>>, String> {
    let records = parse_zone_file(origin, file).map_err(|e| e.to_string())?;
    let keys: Vec<Vec<u8>> = records.into_iter().filter(|r| r.rtype == Rtype::DNSKEY && r.owner == *origin).map(|r| r.rdata).collect();
    let is_sep = |rdata: &Vec<u8>| Dnskey::parse(rdata).is_ok_and(|k| k.flags & Dnskey::SEP != 0);
    if keys.iter().any(is_sep) {
        Ok(keys.into_iter().filter(is_sep).collect())
    } else {
        Ok(keys)
    }
}

/// The DNSKEYs of the zone's managed keys with CDS/CDNSKEY now, else of its published KSK or CSK.
fn managed_ksks(origin: &NameBuf, config: &std::path::Path, rng: &SystemRandom) -> Result<Vec<Vec<u8>>, String> {
    let serve = crate::cli::ServeArgs { config: Some(config.to_path_buf()), ..crate::cli::ServeArgs::default() };
    let settings = crate::config::load(&serve).map_err(|errors| errors.join("; "))?;
    let zone = settings.zones.iter().find(|zone| zone.origin == *origin).ok_or_else(|| format!("{}: no [[zone]] {origin}", config.display()))?;
    let signing = zone.signing.as_ref().ok_or_else(|| format!("{}: zone {origin} has no dnssec-policy", config.display()))?;
    let now = crate::app::key_clock_now();
    let keys = crate::key_store::read_keys(&signing.key_directory, origin, signing.policy.split, now, rng)?;
    let with_cds = keys.iter().any(|key| key.state.has_cds(now));
    let ksks: Vec<Vec<u8>> = keys
        .iter()
        .filter(|key| if with_cds { key.state.has_cds(now) } else { key.state.role != portcullis_dnssec::KeyRole::Zsk && key.state.is_published(now) })
        .map(|key| {
            Dnskey { flags: key.state.role.flags(), protocol: 3, algorithm: key.pair.key.algorithm(), public_key: &key.pair.key.public_key() }.to_rdata()
        })
        .collect();
    if ksks.is_empty() {
        return Err(format!("zone {origin}: no key in {} yet (serve makes them when it signs the zone)", signing.key_directory.display()));
    }
    Ok(ksks)
}

/// `origin IN DS <tag> <alg> 2 <digest>`.
fn ds_line(origin: &NameBuf, dnskey: &[u8]) -> Result<String, String> {
    let rdata = ds_rdata(origin, dnskey, DigestType::SHA256).map_err(|e| e.to_string())?;
    let mut line = format!("{origin} IN DS ");
    rdata_to_text(Rtype::DS, &rdata, &mut line).map_err(|_| "cannot write DS".to_string())?;
    Ok(line)
}
