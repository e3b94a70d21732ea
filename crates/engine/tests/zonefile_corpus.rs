//! The broken-zone corpus: every `testdata/zones/broken/*.zone` must fail, either to parse or the
//! zone checks, with the message its sibling `*.expected` holds (a substring of the error, or of
//! the problems one per line). All are read with origin `example.org.`; `*.inc` files are includes.

use portcullis_engine::zonefile::{check_zone, has_errors, parse_zone_text, IncludeResolver, ZoneFileError, ZoneRecord};
use portcullis_wire::NameBuf;
use std::path::{Path, PathBuf};

/// `$INCLUDE`s read from the file system, as the server reads them.
struct FsIncludes;

impl IncludeResolver for FsIncludes {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
}

fn parse_zone_file(origin: &NameBuf, path: &Path) -> Result<Vec<ZoneRecord>, ZoneFileError> {
    let label = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|error| ZoneFileError { file: label.clone(), line: 0, message: format!("cannot read zone file: {error}") })?;
    parse_zone_text(origin, &text, &label, &FsIncludes)
}

fn corpus_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/zones/broken");
    std::fs::canonicalize(&dir).unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
}

/// What reading the zone gave: the parse error, or the checks' problems, as text.
fn outcome(origin: &NameBuf, path: &Path) -> Result<String, String> {
    match parse_zone_file(origin, path) {
        Err(error) => Err(error.to_string()),
        Ok(records) => {
            let problems = check_zone(origin, &records);
            let text = problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
            if has_errors(&problems) {
                Err(text)
            } else {
                Ok(text)
            }
        }
    }
}

#[test]
fn every_broken_zone_fails_with_its_expected_message() {
    let origin = NameBuf::from_text("example.org.", None).unwrap();
    let mut zones: Vec<PathBuf> =
        std::fs::read_dir(corpus_dir()).unwrap().map(|entry| entry.unwrap().path()).filter(|path| path.extension().is_some_and(|ext| ext == "zone")).collect();
    zones.sort();
    assert!(zones.len() >= 20, "only {} broken zones", zones.len());
    let mut failures = Vec::new();
    for zone in &zones {
        let expected_path = zone.with_extension("expected");
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|error| panic!("{}: {error}", expected_path.display()));
        let expected = expected.trim_end_matches(['\n', '\r']);
        match outcome(&origin, zone) {
            Err(message) if message.contains(expected) => {}
            Err(message) => failures.push(format!("{}:\n  expected: {expected}\n  got:      {message}", zone.display())),
            Ok(warnings) => failures.push(format!("{}: accepted (warnings: {warnings:?}), expected: {expected}", zone.display())),
        }
    }
    assert!(failures.is_empty(), "{} of {} broken zones failed:\n{}", failures.len(), zones.len(), failures.join("\n"));
}
