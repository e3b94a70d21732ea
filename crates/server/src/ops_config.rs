//! The operations settings: `[http]` (the metrics, stats and dashboard listener, off by default),
//! `[control]` (the `portcullis ctl` socket, on by default beside the configuration file) and
//! `[alerts]` (how many alerts are kept). File layer and validation, as in `config.rs`.

use crate::config::Limit;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// `[http]`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct HttpFile {
    /// `ADDR:PORT` to serve HTTP on; absent: no HTTP listener.
    pub listen: Option<String>,
    /// A file holding the bearer token every request but the dashboard page must carry.
    pub token_file: Option<String>,
}

/// `[control]`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ControlFile {
    /// The Unix socket's path; `""` turns the control socket off.
    pub socket: Option<String>,
}

/// `[alerts]`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct AlertsFile {
    /// Alerts kept (the newest).
    pub capacity: Option<u64>,
}

impl AlertsFile {
    /// `capacity`.
    pub const CAPACITY: Limit<usize> = Limit::new("capacity", 1000, 1, 100_000);
}

/// `[dnstap]`: present with a `file` = on.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DnstapFile {
    /// The Frame Streams file written.
    pub file: Option<String>,
    /// Or a collector's Unix socket (Frame Streams, bidirectional).
    pub socket: Option<String>,
    /// Write queries (default true).
    pub queries: Option<bool>,
    /// Write responses (default true).
    pub responses: Option<bool>,
    /// `"client"` (CLIENT_QUERY/CLIENT_RESPONSE, the default) or `"auth"` (AUTH_*).
    pub role: Option<String>,
    /// Events queued for the writer at most; more are dropped and counted.
    pub queue: Option<u64>,
    /// `Dnstap.version` in every message (default false).
    pub version: Option<bool>,
}

impl DnstapFile {
    /// `queue`.
    pub const QUEUE: Limit<usize> = Limit::new("queue", 8192, 16, 1_000_000);
}

/// `[querylog]`: present with a `file` = on.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct QueryLogFile {
    /// The file appended to.
    pub file: Option<String>,
    /// `"text"` (the default) or `"json"`.
    pub format: Option<String>,
}

/// Validates `[querylog]` (`None`: off).
pub fn querylog(raw: &QueryLogFile, base: Option<&Path>, errors: &mut Vec<String>) -> Option<crate::querylog::QueryLogSettings> {
    let json = match raw.format.as_deref() {
        None | Some("text") => false,
        Some("json") => true,
        Some(other) => {
            errors.push(format!("querylog.format: '{other}' is not \"text\" or \"json\""));
            false
        }
    };
    let file = raw.file.as_deref()?;
    let file = match base {
        Some(base) if Path::new(file).is_relative() => base.join(file),
        _ => PathBuf::from(file),
    };
    Some(crate::querylog::QueryLogSettings { file, json })
}

/// Validates `[dnstap]` (`None`: off).
pub fn dnstap(raw: &DnstapFile, base: Option<&Path>, errors: &mut Vec<String>) -> Option<crate::dnstap::DnstapSettings> {
    let queue = DnstapFile::QUEUE.get("dnstap", raw.queue, errors);
    let auth = match raw.role.as_deref() {
        None | Some("client") => false,
        Some("auth") => true,
        Some(other) => {
            errors.push(format!("dnstap.role: '{other}' is not \"client\" or \"auth\""));
            false
        }
    };
    let relative = |text: &str| match base {
        Some(base) if Path::new(text).is_relative() => base.join(text),
        _ => PathBuf::from(text),
    };
    let output = match (raw.file.as_deref(), raw.socket.as_deref()) {
        (None, None) => return None,
        (Some(file), None) => crate::dnstap::Output::File(relative(file)),
        (None, Some(socket)) => crate::dnstap::Output::Socket(relative(socket)),
        (Some(_), Some(_)) => {
            errors.push("dnstap: file and socket are both set; choose one".into());
            return None;
        }
    };
    let (queries, responses, version) = (raw.queries.unwrap_or(true), raw.responses.unwrap_or(true), raw.version.unwrap_or(false));
    Some(crate::dnstap::DnstapSettings { output, queries, responses, auth, version, queue })
}

/// Where the control socket is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlSocket {
    /// Not configured: beside the configuration file ([`default_socket`]); none without one.
    Default,
    /// `[control] socket = ""`: no control socket.
    Off,
    /// This path.
    Path(PathBuf),
}

/// The validated operations settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpsSettings {
    /// The HTTP listener's address (`[http] listen`, `serve --http`).
    pub http: Option<SocketAddr>,
    /// The bearer token's file.
    pub token_file: Option<PathBuf>,
    /// The control socket.
    pub control: ControlSocket,
    /// Alerts kept.
    pub alerts_capacity: usize,
}

impl Default for OpsSettings {
    fn default() -> Self {
        Self { http: None, token_file: None, control: ControlSocket::Default, alerts_capacity: AlertsFile::CAPACITY.default }
    }
}

/// Validates the three tables; relative paths start from `base` (the configuration's directory).
pub fn ops(http: &HttpFile, control: &ControlFile, alerts: &AlertsFile, base: Option<&Path>, errors: &mut Vec<String>) -> OpsSettings {
    let relative = |text: &str| match base {
        Some(base) if Path::new(text).is_relative() => base.join(text),
        _ => PathBuf::from(text),
    };
    let listen = http
        .listen
        .as_deref()
        .and_then(|text| text.parse().map_err(|_| errors.push(format!("http.listen: '{text}' is not ADDR:PORT (e.g. 127.0.0.1:8053)"))).ok());
    let control = match control.socket.as_deref() {
        None => ControlSocket::Default,
        Some("") => ControlSocket::Off,
        Some(text) => ControlSocket::Path(relative(text)),
    };
    OpsSettings {
        http: listen,
        token_file: http.token_file.as_deref().map(relative),
        control,
        alerts_capacity: AlertsFile::CAPACITY.get("alerts", alerts.capacity, errors),
    }
}

/// The control socket of the server started with configuration file `config`: the file's path
/// with the extension `.ctl` (`/etc/portcullis/portcullis.toml` -> `/etc/portcullis/portcullis.ctl`),
/// so that servers with their own configuration files have their own sockets.
pub fn default_socket(config: &Path) -> PathBuf {
    config.with_extension("ctl")
}

/// The control socket to use: the configured one, else the default beside `config`, else none.
pub fn control_socket(settings: &OpsSettings, config: Option<&Path>) -> Option<PathBuf> {
    match &settings.control {
        ControlSocket::Path(path) => Some(path.clone()),
        ControlSocket::Off => None,
        ControlSocket::Default => config.map(default_socket),
    }
}

/// Reads the bearer token: the file's first line, trimmed; an empty one is an error.
pub fn read_token(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|error| format!("http.token-file {}: {error}", path.display()))?;
    let token = text.lines().next().unwrap_or_default().trim().to_string();
    if token.is_empty() {
        return Err(format!("http.token-file {}: the file is empty", path.display()));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<OpsSettings, Vec<String>> {
        let raw: crate::config::file::Config = toml::from_str(text).map_err(|e| vec![e.to_string()])?;
        let mut errors = Vec::new();
        let settings = ops(&raw.http, &raw.control, &raw.alerts, Some(Path::new("/etc/pc")), &mut errors);
        if errors.is_empty() {
            Ok(settings)
        } else {
            Err(errors)
        }
    }

    #[test]
    fn http_is_off_and_the_control_socket_beside_the_config_by_default() {
        let settings = parse("").unwrap();
        assert_eq!(settings, OpsSettings::default());
        assert_eq!(control_socket(&settings, Some(Path::new("/etc/pc/a.toml"))), Some(PathBuf::from("/etc/pc/a.ctl")));
        assert_eq!(control_socket(&settings, None), None);
    }

    #[test]
    fn every_key_is_read_and_checked() {
        let settings =
            parse("[http]\nlisten = \"127.0.0.1:8053\"\ntoken-file = \"token\"\n[control]\nsocket = \"run/x.sock\"\n[alerts]\ncapacity = 5\n").unwrap();
        assert_eq!(settings.http, Some("127.0.0.1:8053".parse().unwrap()));
        assert_eq!(settings.token_file, Some(PathBuf::from("/etc/pc/token")));
        assert_eq!(settings.control, ControlSocket::Path(PathBuf::from("/etc/pc/run/x.sock")));
        assert_eq!(settings.alerts_capacity, 5);
        assert_eq!(parse("[control]\nsocket = \"\"\n").unwrap().control, ControlSocket::Off);
        let errors = parse("[http]\nlisten = \"nope\"\n[alerts]\ncapacity = 0\n").unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("http.listen: 'nope'"));
        assert!(errors[1].starts_with("alerts.capacity"));
    }
}
