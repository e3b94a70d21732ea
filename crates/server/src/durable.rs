//! Files that survive a crash or a power cut: written whole or not at all, and on disk before
//! they count. A secondary zone's kept copy is one; its modification time says when the copy was
//! last known good (the last successful refresh), so that a restart does not start its expiry
//! afresh.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Names tried for the temporary file before giving up.
const TEMPORARY_TRIES: u32 = 16;

/// Writes `bytes` to `path`: into a new temporary file beside it (created exclusively, `O_EXCL`,
/// under a name of its own, so that nothing already there is written through), fsynced,
/// renamed over `path`, and the directory fsynced so that the rename is on disk too. On an
/// error the temporary file is removed and `path` is as it was.
pub fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let (temporary, mut file) = create_temporary(path, seed)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    drop(file);
    let result = written.and_then(|()| fs::rename(&temporary, path)).and_then(|()| sync_directory(path));
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result
}

/// Sets `path`'s modification time to now (the copy is still good), and syncs it.
pub fn touch(path: &Path) -> io::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_modified(SystemTime::now())?;
    file.sync_all()
}

/// How long ago `path` was last modified (zero when its time is in the future).
pub fn age(path: &Path) -> io::Result<Duration> {
    let modified = fs::metadata(path)?.modified()?;
    Ok(SystemTime::now().duration_since(modified).unwrap_or_default())
}

/// A new file `.NAME.PID.N.tmp` in `path`'s directory (N from `seed` on), created exclusively.
fn create_temporary(path: &Path, seed: u32) -> io::Result<(PathBuf, File)> {
    let name = path.file_name().ok_or_else(|| io::Error::new(ErrorKind::InvalidInput, "no file name"))?.to_string_lossy().into_owned();
    for attempt in 0..TEMPORARY_TRIES {
        let candidate = path.with_file_name(format!(".{name}.{}.{}.tmp", std::process::id(), seed.wrapping_add(attempt)));
        match OpenOptions::new().write(true).create_new(true).open(&candidate) {
            Ok(file) => return Ok((candidate, file)),
            Err(error) if error.kind() == ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error),
        }
    }
    Err(io::Error::new(ErrorKind::AlreadyExists, format!("no free temporary name beside {}", path.display())))
}

/// Syncs the directory holding `path`, so that an entry renamed into it is on disk.
pub fn sync_directory(path: &Path) -> io::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(directory)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("portcullis-durable-{test}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn a_file_is_replaced_whole_and_no_temporary_file_is_left() {
        let dir = scratch("replace");
        let path = dir.join("copy.zone");
        write_file(&path, b"first\n").unwrap();
        write_file(&path, b"second\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second\n");
        assert_eq!(entries(&dir), ["copy.zone"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_leftover_at_the_temporary_name_is_never_written_through() {
        let dir = scratch("exclusive");
        let path = dir.join("copy.zone");
        // What a stale or hostile leftover would be: a symlink where the temporary file goes.
        let victim = dir.join("victim");
        fs::write(&victim, b"untouched").unwrap();
        let taken = dir.join(format!(".copy.zone.{}.7.tmp", std::process::id()));
        std::os::unix::fs::symlink(&victim, &taken).unwrap();
        let (temporary, mut file) = create_temporary(&path, 7).unwrap();
        assert_eq!(temporary, dir.join(format!(".copy.zone.{}.8.tmp", std::process::id())), "the next name");
        file.write_all(b"zone\n").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"untouched");
        assert_eq!(fs::read(&temporary).unwrap(), b"zone\n");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_write_that_fails_leaves_the_old_file_and_no_temporary() {
        let dir = scratch("fails");
        let path = dir.join("copy.zone");
        write_file(&path, b"old\n").unwrap();
        // Renaming over a directory fails.
        let blocked = dir.join("blocked");
        fs::create_dir(&blocked).unwrap();
        fs::write(blocked.join("inside"), b"").unwrap();
        assert!(write_file(&blocked, b"new\n").is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old\n");
        assert_eq!(entries(&dir), ["blocked", "copy.zone"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn touch_makes_an_old_file_new_without_changing_it() {
        let dir = scratch("touch");
        let path = dir.join("copy.zone");
        write_file(&path, b"zone\n").unwrap();
        let old = SystemTime::now() - Duration::from_secs(86_400);
        File::options().write(true).open(&path).unwrap().set_modified(old).unwrap();
        assert!(age(&path).unwrap() >= Duration::from_secs(86_399));
        touch(&path).unwrap();
        assert!(age(&path).unwrap() < Duration::from_secs(60));
        assert_eq!(fs::read(&path).unwrap(), b"zone\n");
        fs::remove_dir_all(&dir).unwrap();
    }
}
