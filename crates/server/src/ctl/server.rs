//! The control socket's server side: a Unix stream socket, mode 0600 (only the server's user, and
//! root, may connect), one JSON request per line and one JSON reply per line
//! (`{"ok":true,"result":...}` or `{"ok":false,"error":"..."}`), several requests per connection.
//!
//! The socket is bound under a temporary name, given mode 0600, then renamed into place, so
//! there is no moment when another user could connect. A socket file left by a server that
//! died is replaced; one a running server answers on is not (two servers need two sockets).
//! Commands that need the application (reload, reload-zone) go through [`Control`].

use crate::stats::{unix_millis, Sources};
use portcullis_wire::NameBuf;
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// Longest request line.
const MAX_LINE: usize = 64 * 1024;
/// A connection idle this long is closed.
const IDLE: Duration = Duration::from_secs(60);

/// What the application does for the commands that change it; blocking calls (run on the
/// blocking pool).
pub trait Control: Send + Sync + 'static {
    /// Reads the configuration and zones again; a message on success.
    fn reload(&self) -> Result<String, String>;
    /// Loads one zone again (a secondary: refreshes it); a message on success.
    fn reload_zone(&self, zone: &NameBuf) -> Result<String, String>;
    /// Forgets RRL's accounts: a reload with a fresh RRL table; a message on success.
    fn clear_rrl(&self) -> Result<String, String>;
    /// Starts the binary at this process's path and hands it the sockets (`crate::upgrade`);
    /// returns once it serves (this process then drains and exits) or failed (this one goes on).
    fn upgrade(&self) -> Result<String, String>;
    /// The detectors' holds in force (`app::blocks`).
    fn blocks(&self) -> Value;
    /// Lifts the tunnelling hold of `client` (prefix or address) on `domain`.
    fn unblock(&self, client: &str, domain: &str) -> Result<String, String>;
    /// Lifts every tunnelling hold; a message saying how many.
    fn clear_tunnelling(&self) -> String;
}

/// Binds `path` with mode 0600 (see the module's documentation).
pub fn bind(path: &Path) -> Result<UnixListener, String> {
    let shown = path.display();
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(format!("control socket {shown}: another server answers on it (give each server its own [control] socket)"));
        }
        std::fs::remove_file(path).map_err(|error| format!("control socket {shown}: cannot remove the stale file: {error}"))?;
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = PathBuf::from(temporary);
    let _ = std::fs::remove_file(&temporary);
    let listener = UnixListener::bind(&temporary).map_err(|error| format!("control socket {shown}: {error}"))?;
    let placed = std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600)).and_then(|()| std::fs::rename(&temporary, path));
    if let Err(error) = placed {
        let _ = std::fs::remove_file(&temporary);
        return Err(format!("control socket {shown}: {error}"));
    }
    Ok(listener)
}

/// Serves the socket until the task is aborted.
pub async fn serve(listener: UnixListener, sources: Arc<Sources>, control: Arc<dyn Control>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let (sources, control) = (sources.clone(), control.clone());
                tokio::spawn(async move { connection(stream, sources, control).await });
            }
            Err(error) => {
                tracing::warn!(%error, "control socket accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(stream: UnixStream, sources: Arc<Sources>, control: Arc<dyn Control>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    loop {
        let mut line = String::new();
        let read = tokio::time::timeout(IDLE, AsyncReadExt::take(&mut lines, MAX_LINE as u64 + 1).read_line(&mut line)).await;
        let reply = match read {
            Ok(Ok(0)) | Err(_) => return,
            Ok(Err(_)) => json!({"ok": false, "error": "the request is not UTF-8 text"}),
            Ok(Ok(_)) if line.len() > MAX_LINE => json!({"ok": false, "error": "the request line is too long"}),
            Ok(Ok(_)) => match serde_json::from_str::<Value>(&line) {
                Ok(request) => answer(&request, &sources, &control).await,
                Err(error) => json!({"ok": false, "error": format!("the request is not a JSON object: {error}")}),
            },
        };
        if write.write_all(format!("{reply}\n").as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The reply to one request.
pub async fn answer(request: &Value, sources: &Arc<Sources>, control: &Arc<dyn Control>) -> Value {
    let result = match request["command"].as_str() {
        Some(command) => run(command, request, sources, control).await,
        None => Err("the request has no \"command\"".into()),
    };
    match result {
        Ok(result) => json!({"ok": true, "result": result}),
        Err(error) => json!({"ok": false, "error": error}),
    }
}

async fn run(command: &str, request: &Value, sources: &Arc<Sources>, control: &Arc<dyn Control>) -> Result<Value, String> {
    let now = unix_millis() / 1000;
    match command {
        "status" | "stats" => Ok(sources.stats(now)),
        "reload" => {
            let control = control.clone();
            let message = tokio::task::spawn_blocking(move || control.reload()).await.map_err(|_| "the reload failed".to_string())??;
            Ok(json!({"message": message}))
        }
        "reload-zone" => {
            let zone = name(&request["zone"])?.ok_or("reload-zone needs a zone")?;
            let control = control.clone();
            let message = tokio::task::spawn_blocking(move || control.reload_zone(&zone)).await.map_err(|_| "the reload failed".to_string())??;
            Ok(json!({"message": message}))
        }
        "upgrade" => {
            let control = control.clone();
            let message = tokio::task::spawn_blocking(move || control.upgrade()).await.map_err(|_| "the upgrade failed".to_string())??;
            Ok(json!({"message": message}))
        }
        "flush" => Ok(flush(sources, name(&request["name"])?, request["below"] == json!(true))),
        "zone-status" => {
            let zone = name(&request["zone"])?;
            let zones = sources.zones(zone.as_ref());
            match zone {
                Some(zone) if zones.is_empty() => Err(format!("no zone {zone} is configured")),
                _ => Ok(Value::Array(zones)),
            }
        }
        "upstreams" => Ok(Value::Array(sources.upstreams())),
        "rrl" => {
            if request["clear"] == json!(true) {
                let control = control.clone();
                tokio::task::spawn_blocking(move || control.clear_rrl()).await.map_err(|_| "the reload failed".to_string())??;
            }
            Ok(sources.rrl())
        }
        "blocks" => {
            let mut blocks = control.blocks();
            blocks["rrl"] = sources.rrl();
            Ok(blocks)
        }
        "unblock" => {
            let (client, domain) = (request["client"].as_str().ok_or("unblock needs a client")?, request["domain"].as_str().ok_or("unblock needs a domain")?);
            Ok(json!({"message": control.unblock(client, domain)?}))
        }
        "clear-blocks" => clear_blocks(request["detector"].as_str(), control).await,
        "alerts" => {
            let list = sources.alerts_json();
            if request["clear"] == json!(true) {
                sources.alerts.clear();
            }
            Ok(list)
        }
        other => Err(format!("unknown command '{other}' (status, reload, reload-zone, flush, zone-status, upstreams, stats, alerts, rrl, blocks, unblock, clear-blocks, upgrade)")),
    }
}

/// `clear-blocks`: the tunnelling holds, RRL's accounts, or both (no detector named).
async fn clear_blocks(detector: Option<&str>, control: &Arc<dyn Control>) -> Result<Value, String> {
    let (tunnelling, rrl) = match detector {
        None => (true, true),
        Some("tunnelling") => (true, false),
        Some("rrl") => (false, true),
        Some(other) => return Err(format!("unknown detector '{other}' (tunnelling, rrl)")),
    };
    let mut said = Vec::new();
    if tunnelling {
        said.push(control.clear_tunnelling());
    }
    if rrl {
        let control = control.clone();
        said.push(tokio::task::spawn_blocking(move || control.clear_rrl()).await.map_err(|_| "the reload failed".to_string())??);
    }
    Ok(json!({"message": said.join("; ")}))
}

/// A name argument: absent, or a domain name (made absolute).
fn name(value: &Value) -> Result<Option<NameBuf>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => NameBuf::from_text(text, Some(&NameBuf::ROOT)).map(Some).map_err(|error| format!("'{text}' is not a domain name: {error}")),
        other => Err(format!("{other} is not a domain name")),
    }
}

fn flush(sources: &Sources, name: Option<NameBuf>, below: bool) -> Value {
    match name {
        None => {
            let entries = sources.cache.len();
            sources.cache.clear();
            json!({"removed": entries, "message": format!("cache flushed ({entries} entries)")})
        }
        Some(name) => {
            let removed = sources.cache.remove_name(&name, below);
            let scope = if below { " and below" } else { "" };
            json!({"removed": removed, "message": format!("{removed} entries removed at {name}{scope}")})
        }
    }
}
