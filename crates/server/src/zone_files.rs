//! Zone files on disk: the server's [`IncludeResolver`] over the file system, and the zone
//! file read, parsed, checked and built. The engine never opens a file itself (sans-IO).

use portcullis_engine::auth::zone::Zone;
use portcullis_engine::load::{build_checked, LoadError};
use portcullis_engine::zonefile::{parse_zone_text_with, IncludeResolver, Limits, ZoneFileError, ZoneRecord};
use portcullis_wire::NameBuf;
use std::io::Read;
use std::path::Path;

/// An [`IncludeResolver`] over the file system, refusing files over `max_file_bytes`.
#[derive(Clone, Copy, Debug)]
pub struct FsIncludeResolver {
    /// Largest file read, in bytes.
    pub max_file_bytes: u64,
}

impl Default for FsIncludeResolver {
    fn default() -> Self {
        Self { max_file_bytes: Limits::DEFAULT.max_input_bytes as u64 }
    }
}

impl IncludeResolver for FsIncludeResolver {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        let file = std::fs::File::open(path)?;
        let mut text = String::new();
        file.take(self.max_file_bytes.saturating_add(1)).read_to_string(&mut text)?;
        if text.len() as u64 > self.max_file_bytes {
            let message = format!("file larger than {} bytes", self.max_file_bytes);
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, message));
        }
        Ok(text)
    }
}

/// Reads the zone file at `path` and the files it `$INCLUDE`s, with the default [`Limits`].
/// Errors name the file as `path` shows it.
pub fn parse_zone_file(origin: &NameBuf, path: &Path) -> Result<Vec<ZoneRecord>, ZoneFileError> {
    let resolver = FsIncludeResolver::default();
    let label = path.display().to_string();
    let text = resolver.read(path).map_err(|error| ZoneFileError { file: label.clone(), line: 0, message: format!("cannot read zone file: {error}") })?;
    parse_zone_text_with(origin, &text, &label, &resolver, &Limits::DEFAULT)
}

/// Reads, checks and builds the zone `origin` from `path`.
pub fn load_zone_file(origin: &NameBuf, path: &Path) -> Result<Zone, LoadError> {
    let records = parse_zone_file(origin, path).map_err(|e| LoadError::Syntax(e.to_string()))?;
    build_checked(origin, &records)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOA: &str = "$TTL 300\n@ SOA ns1 hostmaster 1 2 3 4 5\n";

    fn origin() -> NameBuf {
        NameBuf::from_text("example.", None).unwrap()
    }

    #[test]
    fn file_system_resolver_reads_includes_relative_to_the_file() {
        let dir = std::env::temp_dir().join(format!("portcullis-zonefile-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("inc")).unwrap();
        std::fs::write(dir.join("main.zone"), format!("{SOA}@ NS ns1\n$INCLUDE inc/hosts.zone\n")).unwrap();
        std::fs::write(dir.join("inc/hosts.zone"), "ns1 A 192.0.2.1\n").unwrap();
        let records = parse_zone_file(&origin(), &dir.join("main.zone")).unwrap();
        assert_eq!(records.len(), 3);
        let missing = parse_zone_file(&origin(), &dir.join("nope.zone")).unwrap_err();
        assert!(missing.to_string().contains("nope.zone:0: cannot read zone file"), "{missing}");
        let small = FsIncludeResolver { max_file_bytes: 4 };
        assert!(small.read(&dir.join("main.zone")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
