//! The TLS keys of an encrypted `[[forward]]` group (`transport = "tls" | "https" | "quic"`):
//! `tls-name` (required: the name the certificate must be valid for, sent as SNI; never the
//! address), `tls-ca` (a PEM file of trusted roots; default the system's,
//! [`SYSTEM_ROOTS`]) and `tls-pin` (base64 SHA-256 digests of the accepted
//! SubjectPublicKeyInfo, RFC 7858 §4.2). The CA file is read here, with the configuration.

use crate::forward_config::ForwardFile;
use portcullis_engine::resolve::forward::UpstreamTls;
use portcullis_engine::Transport;

/// Debian's bundle of the system's trusted roots (package ca-certificates).
pub const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The group's [`UpstreamTls`] for an encrypted transport (errors pushed under `path`); `None`
/// for UDP and TCP, where the TLS keys are an error.
pub fn upstream_tls(file: &ForwardFile, transport: Transport, path: &str, errors: &mut Vec<String>) -> Option<UpstreamTls> {
    if !transport.is_encrypted() {
        if file.tls_name.is_some() || file.tls_ca.is_some() || file.tls_pin.is_some() {
            errors.push(format!("{path}: tls-name, tls-ca and tls-pin need transport = \"tls\", \"https\" or \"quic\""));
        }
        return None;
    }
    let Some(name) = file.tls_name.clone() else {
        errors.push(format!(
            "{path}.tls-name: required with transport = \"tls\", \"https\" or \"quic\" (the name the upstream's certificate is checked against)"
        ));
        return None;
    };
    let ca = file.tls_ca.as_deref().unwrap_or(SYSTEM_ROOTS);
    let roots = match portcullis_net::tls::read_pem_certificates(std::path::Path::new(ca)) {
        Ok(roots) => roots,
        Err(error) => {
            errors.push(format!("{path}.tls-ca: {error}"));
            return None;
        }
    };
    let mut pins = Vec::new();
    for (i, text) in file.tls_pin.iter().flatten().enumerate() {
        match pin(text) {
            Some(pin) => pins.push(pin),
            None => errors.push(format!("{path}.tls-pin[{i}]: '{text}' is not the base64 of a SHA-256 digest (32 octets)")),
        }
    }
    let tls = UpstreamTls { name, roots, pins };
    portcullis_net::upstream_encrypted::check(&tls).map_err(|error| errors.push(format!("{path}: {error}"))).ok()?;
    Some(tls)
}

/// A pin: standard base64 (padding allowed) of 32 octets.
fn pin(text: &str) -> Option<[u8; 32]> {
    let url: String = text
        .trim()
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            other => other,
        })
        .collect();
    portcullis_net::doh_message::base64url_decode(&url)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::pin;

    #[test]
    fn pins_are_base64_sha256_digests() {
        // RFC 7858 §4.2's example pin.
        assert!(pin("pOXrpUt9kgPgbWxBFFcBTbRH2heo2wHwXp1fd4AEVXI=").is_some());
        assert!(pin("pOXrpUt9kgPgbWxBFFcBTbRH2heo2wHwXp1fd4AEVX").is_none(), "31 octets");
        assert!(pin("not base64!").is_none());
    }
}
