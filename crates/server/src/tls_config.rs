//! The encrypted listeners' settings: `[server] listen-tls`, `listen-https`, `listen-quic`
//! (DoT, RFC 7858; DoH, RFC 8484; DoQ, RFC 9250) and `[tls] cert` and `key`, with the
//! `serve` flags that override them. `[tls]` is required only when an encrypted listener
//! exists; a relative path starts from the configuration file's directory.

use crate::cli::ServeArgs;
use crate::config::Limit;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// `[tls]`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct TlsFile {
    /// The PEM certificate chain, leaf first (all of it is sent to clients).
    pub cert: Option<String>,
    /// The PEM private key: PKCS#8, SEC1 (EC) or PKCS#1 (RSA).
    pub key: Option<String>,
    /// TLS and QUIC handshakes per client (IPv4 address, IPv6 /64) and second.
    pub handshakes_per_second: Option<u64>,
}

impl TlsFile {
    /// `handshakes-per-second` (0: no limit).
    pub const HANDSHAKES_PER_SECOND: Limit<u32> = Limit::new("handshakes-per-second", 20, 0, 1_000_000);
}

/// The encrypted listeners and their certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncryptedSettings {
    /// DNS over TLS addresses.
    pub tls: Vec<SocketAddr>,
    /// DNS over HTTPS addresses.
    pub https: Vec<SocketAddr>,
    /// DNS over QUIC addresses.
    pub quic: Vec<SocketAddr>,
    /// The certificate chain file.
    pub cert: Option<PathBuf>,
    /// The private key file.
    pub key: Option<PathBuf>,
    /// Handshakes per client and second on each encrypted listener (0: no limit).
    pub handshakes_per_second: u32,
}

impl EncryptedSettings {
    /// True when some encrypted listener is configured.
    pub fn any(&self) -> bool {
        !(self.tls.is_empty() && self.https.is_empty() && self.quic.is_empty())
    }

    /// The certificate and key files, when both are set.
    pub fn files(&self) -> Option<(&Path, &Path)> {
        Some((self.cert.as_deref()?, self.key.as_deref()?))
    }
}

/// Reads the file's keys (`listen-tls` etc. from `[server]`, and `[tls]`).
pub fn encrypted(lists: [(&str, Option<&Vec<String>>); 3], tls: Option<&TlsFile>, base: Option<&Path>, errors: &mut Vec<String>) -> EncryptedSettings {
    let [tls_list, https, quic] = lists.map(|(key, list)| addresses(key, list, errors));
    let path = |text: &Option<String>| text.as_ref().map(|text| base.map_or_else(|| PathBuf::from(text), |base| base.join(text)));
    let (cert, key) = tls.map_or((None, None), |file| (path(&file.cert), path(&file.key)));
    let handshakes_per_second = TlsFile::HANDSHAKES_PER_SECOND.get("tls", tls.and_then(|file| file.handshakes_per_second), errors);
    EncryptedSettings { tls: tls_list, https, quic, cert, key, handshakes_per_second }
}

fn addresses(key: &str, list: Option<&Vec<String>>, errors: &mut Vec<String>) -> Vec<SocketAddr> {
    let list = list.map_or(&[][..], Vec::as_slice);
    list.iter()
        .enumerate()
        .filter_map(|(i, text)| {
            text.parse().map_err(|_| errors.push(format!("server.{key}[{i}]: '{text}' is not ADDR:PORT (e.g. 127.0.0.1:853 or [::1]:853)"))).ok()
        })
        .collect()
}

/// Applies `--listen-tls`, `--listen-https`, `--listen-quic` (each replaces its list),
/// `--tls-cert` and `--tls-key`, then checks that a certificate exists when it is needed.
pub fn apply_flags(settings: &mut EncryptedSettings, args: &ServeArgs, errors: &mut Vec<String>) {
    for (flag, list) in [(&args.listen_tls, &mut settings.tls), (&args.listen_https, &mut settings.https), (&args.listen_quic, &mut settings.quic)] {
        if !flag.is_empty() {
            list.clone_from(flag);
        }
    }
    if let Some(cert) = &args.tls_cert {
        settings.cert = Some(cert.clone());
    }
    if let Some(key) = &args.tls_key {
        settings.key = Some(key.clone());
    }
    if settings.any() && settings.files().is_none() {
        errors.push(
            "tls: an encrypted listener (listen-tls, listen-https or listen-quic) needs [tls] cert and key (or --tls-cert FILE --tls-key FILE)".to_string(),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::ServeArgs;
    use crate::config::parse_file;

    #[test]
    fn encrypted_listeners_need_a_certificate_and_cleartext_ones_may_be_none() {
        let (raw, unknown) = parse_file("[server]\nlisten = []\nlisten-tls = [\"127.0.0.1:853\"]\nlisten-quic = [\"nope\"]\n").unwrap();
        assert!(unknown.is_empty(), "{unknown:?}");
        let errors = crate::config::validate(&raw, None).unwrap_err();
        assert_eq!(errors, ["server.listen-quic[0]: 'nope' is not ADDR:PORT (e.g. 127.0.0.1:853 or [::1]:853)"]);

        let (raw, _) = parse_file("[server]\nlisten = []\nlisten-https = [\"127.0.0.1:443\"]\n[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n").unwrap();
        let mut settings = crate::config::validate(&raw, Some(std::path::Path::new("/etc/p"))).unwrap();
        assert!(settings.listen.is_empty());
        assert_eq!(settings.encrypted.https, ["127.0.0.1:443".parse().unwrap()]);
        assert_eq!(settings.encrypted.cert.as_deref(), Some(std::path::Path::new("/etc/p/c.pem")));
        let mut errors = Vec::new();
        super::apply_flags(&mut settings.encrypted, &ServeArgs::default(), &mut errors);
        assert!(errors.is_empty(), "{errors:?}");

        // Listeners from flags without a certificate: a clear error.
        let (raw, _) = parse_file("[server]\nlisten = []\n").unwrap();
        let mut settings = crate::config::validate(&raw, None).unwrap();
        let args = ServeArgs { listen_quic: vec!["127.0.0.1:853".parse().unwrap()], ..ServeArgs::default() };
        super::apply_flags(&mut settings.encrypted, &args, &mut errors);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("tls: an encrypted listener"), "{errors:?}");
        let args = ServeArgs { tls_cert: Some("c".into()), tls_key: Some("k".into()), ..args };
        errors.clear();
        super::apply_flags(&mut settings.encrypted, &args, &mut errors);
        assert!(errors.is_empty() && settings.encrypted.quic.len() == 1, "{errors:?}");
    }
}
