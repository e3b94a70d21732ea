//! The RFC 5011 trust anchor state on disk: `trust-anchors.state` in the key directory
//! (`[server] key-directory`). Read at start into the cache's trust points; written again
//! (atomically, durably) whenever the engine changed them. The engine decides what the state is,
//! this module only stores it. A key directory that does not exist yet is created (mode 0700,
//! as the key store does) the first time there is a state to write; when it cannot be, the
//! anchors' keys are followed for the life of the process only (a warning says so).

use portcullis_engine::cache::Cache;
use std::path::{Path, PathBuf};

/// The state file's name in the key directory.
pub const FILE: &str = "trust-anchors.state";

/// The state file of `key_directory`.
pub fn path(key_directory: &Path) -> PathBuf {
    key_directory.join(FILE)
}

/// Loads the state file of `key_directory` into `cache`, when there is one; a file that cannot
/// be read is reported and left alone (the next write replaces it).
pub fn load(cache: &Cache, key_directory: &Path) {
    let path = path(key_directory);
    match std::fs::read_to_string(&path) {
        Ok(text) => match cache.trust.load(&text, &path.display().to_string()) {
            Ok(()) => tracing::info!(path = %path.display(), "trust anchor state (RFC 5011) loaded"),
            Err(error) => tracing::warn!("trust anchor state not used: {error}"),
        },
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => tracing::warn!(path = %path.display(), %error, "trust anchor state not read"),
    }
}

/// Writes the state when the engine changed it, creating `key_directory` (mode 0700) when it
/// is missing.
pub fn save(cache: &Cache, key_directory: &Path) {
    let Some(text) = cache.trust.take_changed() else { return };
    if let Err(error) = crate::key_store::ensure_directory(key_directory) {
        tracing::warn!("{error}: trust anchor state (RFC 5011) not kept");
        return;
    }
    let path = path(key_directory);
    match crate::durable::write_file(&path, text.as_bytes()) {
        Ok(()) => tracing::info!(path = %path.display(), "trust anchor state (RFC 5011) saved"),
        Err(error) => tracing::warn!(path = %path.display(), %error, "trust anchor state not saved"),
    }
}
