//! The vocabulary every part of the engine shares, and nothing else: it depends on no other
//! module of the engine (ARCHITECTURE.md, "Engine modules").
//!
//! - [`Instant`]: monotonic milliseconds, read by the I/O layer and passed down.
//! - [`Transport`]: UDP or TCP.
//! - [`Random`]: a random source handed in by the I/O layer ([`SeededRandom`] for tests).
//! - [`Prefix`]: IPv4/IPv6 network prefixes ([`prefix`]).
//! - [`Limit`]: a setting's default and bounds.
//! - [`hash`]: the keyed hasher of client-filled tables and the FNV hasher of build-time maps.

pub mod hash;
pub mod prefix;

pub use prefix::{Prefix, PrefixError};

/// A point on the I/O layer's monotonic clock, in milliseconds since an arbitrary origin.
///
/// The engine never reads a clock: the network worker reads it once per request and passes it
/// down (DESIGN §4.4 step 2). Tests start at [`Instant::ZERO`] and add time by hand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    /// The clock's origin.
    pub const ZERO: Self = Self(0);

    /// The instant `millis` milliseconds after the origin.
    pub const fn from_millis(millis: u64) -> Self {
        Self(millis)
    }

    /// The instant `secs` seconds after the origin (saturating).
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs.saturating_mul(1000))
    }

    /// Milliseconds since the origin.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Whole seconds since the origin (rounded down).
    pub const fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// This instant plus `millis` milliseconds (saturating).
    pub const fn plus_millis(self, millis: u64) -> Self {
        Self(self.0.saturating_add(millis))
    }

    /// This instant plus `secs` seconds (saturating).
    pub const fn plus_secs(self, secs: u64) -> Self {
        Self(self.0.saturating_add(secs.saturating_mul(1000)))
    }
}

/// The transport a request arrived on, or a query goes out on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// UDP: answers are limited by the client's payload size.
    Udp,
    /// TCP (RFC 7766): answers up to 65535 bytes.
    Tcp,
    /// DNS over TLS (RFC 7858): the TCP framing inside TLS; as TCP in every respect.
    Tls,
    /// DNS over HTTPS (RFC 8484): one message per HTTP exchange, up to 65535 bytes.
    Https,
    /// DNS over QUIC (RFC 9250): one message per stream, up to 65535 bytes.
    Quic,
}

impl Transport {
    /// True for the connection-oriented transports (all but UDP): answers up to 65535 bytes,
    /// and the source address is proven by a handshake (not spoofable: no RRL, no cookie demand).
    pub const fn is_stream(self) -> bool {
        !matches!(self, Self::Udp)
    }

    /// True for the encrypted transports (DoT, DoH, DoQ): their answers are padded when the
    /// query asked for it (RFC 8467).
    pub const fn is_encrypted(self) -> bool {
        matches!(self, Self::Tls | Self::Https | Self::Quic)
    }

    /// True where a zone transfer of many messages can be sent (RFC 5936 §4.2: TCP; RFC 9103:
    /// TLS; RFC 9250 §4.2: QUIC, on the query's stream); over UDP and DoH an AXFR is FORMERR and
    /// an IXFR is answered with the SOA alone.
    pub const fn carries_transfers(self) -> bool {
        matches!(self, Self::Tcp | Self::Tls | Self::Quic)
    }

    /// True where edns-tcp-keepalive means something (RFC 7828: TCP; RFC 7858 §3.4: DoT). DoH
    /// and DoQ (RFC 9250 §5.5.2) must not use it.
    pub const fn has_keepalive(self) -> bool {
        matches!(self, Self::Tcp | Self::Tls)
    }
}

/// A numeric setting's default and accepted range (DESIGN §5.11), for the config layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit<T> {
    /// Used when the key is absent.
    pub default: T,
    /// Smallest accepted value.
    pub min: T,
    /// Largest accepted value.
    pub max: T,
}

impl<T: PartialOrd + Copy> Limit<T> {
    /// True when `value` lies within `min..=max`.
    pub fn accepts(&self, value: T) -> bool {
        self.min <= value && value <= self.max
    }
}

/// A source of randomness for query IDs, 0x20 bits and server exploration. Production passes a
/// CSPRNG (SECURITY-REFERENCE §3.8); tests pass [`SeededRandom`].
pub trait Random {
    /// Fills `buf` with random bytes.
    fn fill(&mut self, buf: &mut [u8]);
}

/// A deterministic generator (SplitMix64) for tests and replays. Predictable: never use it for
/// real queries.
#[derive(Clone, Debug)]
pub struct SeededRandom {
    state: u64,
}

impl SeededRandom {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Random for SeededRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instant_arithmetic_saturates() {
        assert_eq!(Instant::from_secs(2).as_millis(), 2000);
        assert_eq!(Instant::from_millis(2999).as_secs(), 2);
        assert_eq!(Instant::from_millis(u64::MAX).plus_secs(1).as_millis(), u64::MAX);
        assert_eq!(Instant::ZERO.plus_millis(5).plus_secs(1), Instant::from_millis(1005));
    }

    #[test]
    fn limit_accepts_its_range() {
        let limit = Limit { default: 15u32, min: 1, max: 3600 };
        assert!(limit.accepts(1) && limit.accepts(3600) && limit.accepts(limit.default));
        assert!(!limit.accepts(0) && !limit.accepts(3601));
    }

    #[test]
    fn a_seeded_generator_repeats_itself() {
        let (mut a, mut b) = (SeededRandom::new(9), SeededRandom::new(9));
        let (mut x, mut y) = ([0u8; 13], [0u8; 13]);
        a.fill(&mut x);
        b.fill(&mut y);
        assert_eq!(x, y);
        assert_ne!(x, [0; 13]);
    }
}
