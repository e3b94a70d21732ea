//! Zone files: the RFC 1035 §5 master-file format, read into a flat list of records, and the
//! consistency checks of `check-zone` ([`check`]).
//!
//! Syntax accepted (RFC 1035 §5.1, RFC 2308 §4, RFC 3597 §5, BIND extensions):
//! - `$ORIGIN name`, `$TTL ttl`, `$INCLUDE file [origin]`, and BIND's
//!   `$GENERATE start-stop[/step] lhs [ttl] [class] type rhs…` (see [`generate`]);
//! - parentheses joining lines (not nested), `;` comments, quoted strings (not spanning lines), `\X` and `\DDD` escapes (kept raw by
//!   the tokenizer and decoded by the name and rdata parsers), `@` for the origin, relative names;
//! - an omitted owner (the line starts with a blank: the previous owner of the same file), omitted
//!   TTL and class in either order, TTLs in seconds or BIND units (`1h30m`, `1w2d`); CRLF line
//!   ends and a leading byte-order mark;
//! - `TYPEnnn`, `CLASSnnn` and the generic rdata form `\# length hex…`.
//!
//! Defaults, chosen as BIND does them:
//! - **TTL**: the `$TTL` value; without `$TTL`, the last TTL written explicitly in the file; for an
//!   SOA record with neither, its MINIMUM field (which then counts as the last TTL). Any other
//!   record with no TTL determinable is an error.
//! - **Class**: the class of the first record, IN when it names none. A record of another class is
//!   an error; `NONE` and `ANY` are never zone data.
//! - **`$INCLUDE`**: a relative file name is relative to the directory of the including file. The
//!   included file starts at the given origin (else the includer's) with no previous owner; when it
//!   ends, the includer's origin and previous owner are back in force. `$TTL` and the last TTL carry
//!   across in both directions.
//!
//! Hostile input is bounded by [`Limits`]: entry length, record count, include depth and count,
//! total bytes read, and records and bytes per `$GENERATE`. Nothing here panics on any input.
//!
//! Nothing here reads the file system: the text comes as an argument, and `$INCLUDE`d files
//! through an [`IncludeResolver`] (the server's reads files; [`NoIncludes`] refuses them).

pub mod check;
mod generate;
mod lexer;
mod parser;
mod rdata;
mod ttl;

#[cfg(test)]
mod tests;

use portcullis_wire::{Class, NameBuf, Rtype};
use std::fmt;
use std::path::{Path, PathBuf};

pub use check::{check_zone, has_errors, Problem, Severity};

/// One record read from a zone file: uncompressed wire rdata, owner as written (case kept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneRecord {
    /// The absolute owner name.
    pub owner: NameBuf,
    /// The record type.
    pub rtype: Rtype,
    /// The class (the zone's class).
    pub class: Class,
    /// The TTL in seconds, at most 2^31 - 1 (RFC 2181 §8).
    pub ttl: u32,
    /// The rdata in uncompressed wire form, at most 65535 octets.
    pub rdata: Vec<u8>,
}

/// Why a zone file could not be read: the file (as named by the includer), the line, the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneFileError {
    /// The file the problem is in (an `$INCLUDE`d file names itself).
    pub file: String,
    /// The 1-based line of the problem: the token's line for syntax, name, TTL, class and type
    /// errors, the entry's first line for rdata errors, 0 for problems with the whole file.
    pub line: usize,
    /// What was wrong, for the operator.
    pub message: String,
}

impl fmt::Display for ZoneFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for ZoneFileError {}

/// Reads the text of `$INCLUDE`d files. The parser has already made `path` relative to the
/// including file's directory.
pub trait IncludeResolver {
    /// The whole text of the file at `path`.
    fn read(&self, path: &Path) -> std::io::Result<String>;
}

/// An [`IncludeResolver`] that refuses every `$INCLUDE` (embedded zones, root hints, zones
/// written back by a secondary, tests and fuzzing).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoIncludes;

impl IncludeResolver for NoIncludes {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        let message = format!("$INCLUDE {} is not allowed here", path.display());
        Err(std::io::Error::new(std::io::ErrorKind::PermissionDenied, message))
    }
}

/// Bounds that keep a hostile or mistaken zone file from exhausting memory or time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Records in the zone, `$INCLUDE`d and `$GENERATE`d ones counted.
    pub max_records: usize,
    /// Bytes of one entry (one line, or the lines joined by parentheses).
    pub max_entry_bytes: usize,
    /// Nesting depth of `$INCLUDE` (the top file is depth 0).
    pub max_include_depth: usize,
    /// `$INCLUDE` directives followed in all.
    pub max_includes: usize,
    /// Bytes of text read in all, the top file and every included file counted.
    pub max_input_bytes: usize,
    /// Records made by one `$GENERATE`.
    pub max_generate_records: u32,
    /// Bytes of text expanded by one `$GENERATE` (owner and rdata templates).
    pub max_generate_bytes: usize,
}

impl Limits {
    /// The defaults: 10 million records, 1 MiB entries, includes 10 deep and 1000 in all, 2 GiB of
    /// text, 100 000 records and 64 MiB per `$GENERATE`.
    pub const DEFAULT: Self = Self {
        max_records: 10_000_000,
        max_entry_bytes: 1 << 20,
        max_include_depth: 10,
        max_includes: 1000,
        max_input_bytes: 2 << 30,
        max_generate_records: 100_000,
        max_generate_bytes: 64 << 20,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Parses zone-file `text` with the default [`Limits`]; `file_label` names it in errors and is the
/// base for relative `$INCLUDE` paths, which `includes` reads.
pub fn parse_zone_text(origin: &NameBuf, text: &str, file_label: &str, includes: &dyn IncludeResolver) -> Result<Vec<ZoneRecord>, ZoneFileError> {
    parse_zone_text_with(origin, text, file_label, includes, &Limits::DEFAULT)
}

/// [`parse_zone_text`] with explicit limits.
pub fn parse_zone_text_with(
    origin: &NameBuf,
    text: &str,
    file_label: &str,
    includes: &dyn IncludeResolver,
    limits: &Limits,
) -> Result<Vec<ZoneRecord>, ZoneFileError> {
    parser::Parser::new(includes, limits).run(origin, text, file_label)
}

/// Lexical clean-up of a path (`.` dropped, `dir/..` folded) so include loops are recognised.
fn normalize_path(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                let folds = matches!(out.components().next_back(), Some(Component::Normal(_)));
                if folds {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}
