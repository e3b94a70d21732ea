//! Loading a zone from its file: parse, check, build. Errors are strings for the operator's log.

use crate::auth::zone::{RecordData, Zone};
use crate::zonefile::{check_zone, parse_zone_file, parse_zone_text, IncludeResolver, Problem, Severity, ZoneRecord};
use portcullis_wire::{Class, NameBuf};
use std::fmt;
use std::path::Path;

/// Why a zone could not be loaded.
#[derive(Debug, Clone)]
pub enum LoadError {
    /// The file could not be read or parsed.
    Syntax(String),
    /// The zone's content fails a check that makes it unservable.
    Check(Vec<Problem>),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax(message) => f.write_str(message),
            Self::Check(problems) => {
                let errors: Vec<String> = problems.iter().filter(|p| p.severity == Severity::Error).map(|p| p.to_string()).collect();
                write!(f, "{}", errors.join("; "))
            }
        }
    }
}

/// Reads, checks and builds the zone `origin` from `path`.
pub fn load_zone_file(origin: &NameBuf, path: &Path) -> Result<Zone, LoadError> {
    let records = parse_zone_file(origin, path).map_err(|e| LoadError::Syntax(e.to_string()))?;
    build_checked(origin, &records)
}

/// Parses, checks and builds a zone from text (an embedded zone, tests).
pub fn load_zone_text(origin: &NameBuf, text: &str, label: &str, includes: &dyn IncludeResolver) -> Result<Zone, LoadError> {
    let records = parse_zone_text(origin, text, label, includes).map_err(|e| LoadError::Syntax(e.to_string()))?;
    build_checked(origin, &records)
}

/// Checks records and builds the zone when no check reports an error.
pub fn build_checked(origin: &NameBuf, records: &[ZoneRecord]) -> Result<Zone, LoadError> {
    let problems = check_zone(origin, records);
    if problems.iter().any(|p| p.severity == Severity::Error) {
        return Err(LoadError::Check(problems));
    }
    let class = records.first().map_or(Class::IN, |r| r.class);
    let data = records.iter().map(|r| RecordData { owner: &r.owner, rtype: r.rtype, ttl: r.ttl, rdata: &r.rdata });
    Ok(Zone::build(origin, class, data))
}
