//! [`EngineSettings`]: what shapes the engine's replies (payload sizes, NSID, CHAOS answers,
//! keepalive), validated by the server's config layer. Its own module so that the pipeline
//! ([`crate::engine`]) and the reply frame ([`crate::reply`]) both read it without a cycle.

/// Settings of the engine, validated by the server's config layer.
#[derive(Clone, Debug)]
pub struct EngineSettings {
    /// Largest UDP answer we send and advertise (default 1232).
    pub udp_payload: u16,
    /// Largest UDP answer to a client without a valid server cookie (amplification cap).
    pub nocookie_udp_payload: u16,
    /// Leave out additional addresses of answer targets.
    pub minimal_responses: bool,
    /// NSID to return when asked (RFC 5001); `None` hides it.
    pub nsid: Option<Vec<u8>>,
    /// Answer for `version.bind`/`version.server` CH TXT; `None` refuses.
    pub version: Option<String>,
    /// Answer for `id.server`/`hostname.bind` CH TXT; `None` refuses.
    pub identity: Option<String>,
    /// The TCP idle timeout announced in edns-tcp-keepalive (RFC 7828), in units of 100 ms.
    pub tcp_keepalive: u16,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self { udp_payload: 1232, nocookie_udp_payload: 1232, minimal_responses: false, nsid: None, version: None, identity: None, tcp_keepalive: 100 }
    }
}
