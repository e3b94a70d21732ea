//! The operating system's random source, the only one the server and the client use
//! (SECURITY-REFERENCE §3.8): query IDs, 0x20 case, cookie secrets, the hash keys of the RRL
//! table and the cache. There is no fallback: a clock-seeded or constant value would make IDs
//! and secrets guessable, so when the source fails the process stops with a clear error (at
//! start, `serve` refuses to run; later, the process exits under a log line).

use portcullis_engine::resolve::Random;

/// The OS random source failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntropyError(pub getrandom::Error);

impl std::fmt::Display for EntropyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the operating system's random source failed: {}", self.0)
    }
}

/// Where random bytes come from: the OS in production, a failing source in tests.
pub type Source = fn(&mut [u8]) -> Result<(), getrandom::Error>;

/// The operating system's CSPRNG.
pub const OS: Source = getrandom::getrandom;

/// `N` random bytes from `source`.
pub fn bytes_from<const N: usize>(source: Source) -> Result<[u8; N], EntropyError> {
    let mut bytes = [0u8; N];
    source(&mut bytes).map_err(EntropyError)?;
    Ok(bytes)
}

/// 16 random bytes (secrets and hash keys).
pub fn bytes16() -> Result<[u8; 16], EntropyError> {
    bytes_from(OS)
}

/// A random message ID.
pub fn random_u16() -> Result<u16, EntropyError> {
    bytes_from(OS).map(u16::from_be_bytes)
}

/// Stops the process: the random source failed after start, and nothing may go on without it.
pub fn fatal(error: EntropyError) -> ! {
    tracing::error!("{error}; stopping: no query ID or secret may be made without it");
    eprintln!("portcullis: {error}; stopping");
    std::process::exit(70)
}

/// The resolver's random source: the OS CSPRNG, or the end of the process.
pub struct OsRandom;

impl Random for OsRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        if let Err(error) = OS(buf) {
            fatal(EntropyError(error));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failing(_: &mut [u8]) -> Result<(), getrandom::Error> {
        Err(getrandom::Error::UNSUPPORTED)
    }

    #[test]
    fn a_failing_source_is_an_error_not_a_fallback() {
        assert_eq!(bytes_from::<16>(failing), Err(EntropyError(getrandom::Error::UNSUPPORTED)));
        assert!(bytes_from::<2>(failing).unwrap_err().to_string().contains("random source failed"));
    }

    #[test]
    fn the_os_source_gives_different_values() {
        let (a, b) = (bytes16().unwrap(), bytes16().unwrap());
        assert_ne!(a, b);
        assert_ne!(a, [0; 16]);
    }
}
