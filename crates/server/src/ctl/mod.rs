//! `portcullis ctl [--socket PATH | --config FILE] COMMAND`: controls a running server over its
//! control socket ([`server`]), one request and one reply, each a JSON object on one line:
//!
//! ```text
//! -> {"command":"flush","name":"example.com.","below":true}
//! <- {"ok":true,"result":{"removed":12}}
//! <- {"ok":false,"error":"no zone example.org. is configured"}
//! ```
//!
//! The socket is the one of `--socket`, else the one the configuration file names
//! (`[control] socket`), else the default beside it (`FILE` with the extension `.ctl`). Exit
//! status 0 on success, 1 when the server refused or failed the command, 2 when the socket
//! cannot be reached or the configuration read.

pub mod server;

use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// How long the client waits for the server's reply (a reload of large zones takes a while).
const REPLY_TIMEOUT: Duration = Duration::from_secs(300);

/// Arguments of `ctl`.
#[derive(Debug, Args, Clone)]
pub struct CtlArgs {
    /// The control socket (default: the one of the configuration file).
    #[arg(long, short = 's', value_name = "PATH", conflicts_with = "config")]
    pub socket: Option<PathBuf>,
    /// The server's configuration file: its `[control] socket`, else FILE with the extension .ctl.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The command.
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// The control commands.
#[derive(Debug, Subcommand, Clone)]
pub enum CtlCommand {
    /// Version, uptime, queries, zones, alerts.
    Status,
    /// Read the configuration and zones again (as SIGHUP); fails when the configuration is bad.
    Reload,
    /// Load one zone's file again (a secondary zone: ask its primaries for a newer serial now).
    ReloadZone {
        /// The zone's origin.
        zone: String,
    },
    /// Empty the resolver's cache, or remove one name's entries (every type).
    Flush {
        /// The name to remove (default: everything).
        name: Option<String>,
        /// Remove the names below NAME too.
        #[arg(long, requires = "name")]
        below: bool,
    },
    /// Each zone's serial, when its copy was loaded, and for a secondary its last transfer.
    ZoneStatus {
        /// Only this zone.
        zone: Option<String>,
    },
    /// Each forward group member as ADDR:PORT with its health, RTT and queries in flight.
    Upstreams,
    /// The counters; `--json` prints the JSON object of GET /api/stats alone.
    Stats {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Response rate limiting: its settings and what it limited; `--clear` forgets every
    /// account (a reload with a fresh RRL table).
    Rrl {
        /// Forget the accounts.
        #[arg(long)]
        clear: bool,
    },
    /// The current alerts; `--json` prints the list of GET /api/alerts.
    Alerts {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Forget the alerts kept (their counts stay).
        #[arg(long)]
        clear: bool,
    },
    /// The detectors' blocks in force: each tunnelling hold (client prefix, domain, until) and
    /// what RRL limited; `--json` prints the JSON object alone.
    Blocks {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Lift the tunnelling hold of one client prefix (or address) on one registered domain,
    /// as `ctl blocks` lists them; the account is forgotten, so the client starts afresh.
    Unblock {
        /// The client prefix (e.g. 192.0.2.7/32) or address.
        client: String,
        /// The registered domain (e.g. tunnel.example.).
        domain: String,
    },
    /// Lift every block: the tunnelling holds and RRL's accounts, or one detector's only.
    ClearBlocks {
        /// Only this detector's blocks.
        #[arg(long, value_parser = ["tunnelling", "rrl"])]
        detector: Option<String>,
    },
    /// Start the binary now at the server's path (an installed update) and hand it the
    /// sockets; returns once the new process serves (the old one drains its TCP connections
    /// and exits), or fails with the old one still serving (as SIGUSR2).
    Upgrade,
}

impl CtlCommand {
    /// The request line's object.
    pub fn request(&self) -> Value {
        match self {
            Self::Status => json!({"command": "status"}),
            Self::Reload => json!({"command": "reload"}),
            Self::ReloadZone { zone } => json!({"command": "reload-zone", "zone": zone}),
            Self::Flush { name, below } => json!({"command": "flush", "name": name, "below": below}),
            Self::ZoneStatus { zone } => json!({"command": "zone-status", "zone": zone}),
            Self::Upstreams => json!({"command": "upstreams"}),
            Self::Rrl { clear } => json!({"command": "rrl", "clear": clear}),
            Self::Stats { .. } => json!({"command": "stats"}),
            Self::Alerts { clear, .. } => json!({"command": "alerts", "clear": clear}),
            Self::Upgrade => json!({"command": "upgrade"}),
            Self::Blocks { .. } => json!({"command": "blocks"}),
            Self::Unblock { client, domain } => json!({"command": "unblock", "client": client, "domain": domain}),
            Self::ClearBlocks { detector } => json!({"command": "clear-blocks", "detector": detector}),
        }
    }
}

/// Runs `ctl`.
pub fn run(args: CtlArgs) -> ExitCode {
    let socket = match socket_path(&args) {
        Ok(path) => path,
        Err(message) => return failure(&message, 2),
    };
    let reply = match exchange(&socket, &args.command.request()) {
        Ok(reply) => reply,
        Err(message) => return failure(&format!("{}: {message}", socket.display()), 2),
    };
    if reply["ok"] != json!(true) {
        return failure(reply["error"].as_str().unwrap_or("the server failed the command"), 1);
    }
    println!("{}", render(&args.command, &reply["result"]));
    ExitCode::SUCCESS
}

fn failure(message: &str, code: u8) -> ExitCode {
    eprintln!("portcullis ctl: {message}");
    ExitCode::from(code)
}

/// The socket of `--socket`, or of the configuration file.
fn socket_path(args: &CtlArgs) -> Result<PathBuf, String> {
    if let Some(path) = &args.socket {
        return Ok(path.clone());
    }
    let Some(config) = &args.config else {
        return Err("say which server: --socket PATH or --config FILE".into());
    };
    let serve = crate::cli::ServeArgs { config: Some(config.clone()), ..crate::cli::ServeArgs::default() };
    let settings = crate::config::load(&serve).map_err(|errors| errors.join("; "))?;
    crate::ops_config::control_socket(&settings.ops, Some(config))
        .ok_or_else(|| format!("{}: the control socket is off ([control] socket = \"\")", config.display()))
}

/// Sends one request and reads its reply.
pub fn exchange(socket: &std::path::Path, request: &Value) -> Result<Value, String> {
    let mut stream = UnixStream::connect(socket).map_err(|error| format!("cannot connect: {error} (is the server running?)"))?;
    stream.set_read_timeout(Some(REPLY_TIMEOUT)).map_err(|e| e.to_string())?;
    writeln!(stream, "{request}").map_err(|error| format!("cannot send: {error}"))?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).map_err(|error| format!("no reply: {error}"))?;
    serde_json::from_str(&line).map_err(|error| format!("a reply that is not JSON ({error}): {line}"))
}

/// The reply as printed: JSON alone for `--json`, else lines of text.
fn render(command: &CtlCommand, result: &Value) -> String {
    let field = |value: &Value, key: &str| match &value[key] {
        Value::Null => "-".to_string(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    match command {
        CtlCommand::Stats { json: true } | CtlCommand::Alerts { json: true, .. } | CtlCommand::Blocks { json: true } => result.to_string(),
        CtlCommand::Blocks { json: false } => blocks_lines(result),
        CtlCommand::Stats { json: false } => stats_lines(result),
        CtlCommand::Status => format!(
            "portcullis {} up {} s: {} queries ({:.1}/s), {} zones, {} alerts",
            field(result, "version"),
            field(result, "uptime_seconds"),
            field(result, "queries_total"),
            result["queries_per_second"].as_f64().unwrap_or(0.0),
            result["zones"].as_array().map_or(0, Vec::len),
            field(result, "alerts")
        ),
        CtlCommand::ZoneStatus { .. } => lines(result, |z| {
            let transfer = if z["secondary"] == json!(true) { format!(" secondary last-transfer {}", field(z, "last_transfer")) } else { String::new() };
            format!(
                "{} serial {} loaded {}{transfer}",
                field(z, "zone"),
                field(z, "serial"),
                if z["loaded"] == json!(true) { field(z, "loaded_at") } else { "no".into() }
            )
        }),
        CtlCommand::Upstreams => lines(result, |u| {
            let health = if u["up"] == json!(true) { "up" } else { "down" };
            format!(
                "{} {} {health} srtt-ms {} in-flight {} queries {} failures {}",
                field(u, "zone"),
                field(u, "address"),
                field(u, "srtt_ms"),
                field(u, "in_flight"),
                field(u, "queries"),
                field(u, "failures")
            )
        }),
        CtlCommand::Alerts { json: false, .. } => lines(result, |a| {
            format!(
                "{} {} domain {} client {} score {} count {} last {}: {}",
                field(a, "kind"),
                field(a, "action"),
                field(a, "domain"),
                field(a, "client"),
                field(a, "score"),
                field(a, "count"),
                field(a, "last_seen"),
                field(a, "detail")
            )
        }),
        CtlCommand::Reload
        | CtlCommand::ReloadZone { .. }
        | CtlCommand::Flush { .. }
        | CtlCommand::Upgrade
        | CtlCommand::Unblock { .. }
        | CtlCommand::ClearBlocks { .. } => field(result, "message"),
        CtlCommand::Rrl { .. } => stats_lines(result),
    }
}

/// `tunnelling CLIENT DOMAIN until TIME (N s left)` per hold, the count of held accounts, and
/// RRL's limits as `rrl.KIND.EVENT N` lines.
fn blocks_lines(blocks: &Value) -> String {
    let text = |value: &Value| value.as_str().map_or_else(|| value.to_string(), str::to_owned);
    let holds = blocks["tunnelling"].as_array().cloned().unwrap_or_default();
    let mut out: Vec<String> = holds
        .iter()
        .map(|hold| format!("tunnelling {} {} until {} ({} s left)", text(&hold["client"]), text(&hold["domain"]), text(&hold["until"]), hold["seconds_left"]))
        .collect();
    out.push(format!("tunnelling held accounts {}", blocks["held"]));
    if let Some(limited) = blocks["rrl"]["limited"].as_object() {
        for (kind, events) in limited {
            out.extend(events.as_object().into_iter().flatten().map(|(event, count)| format!("rrl.{kind}.{event} {count}")));
        }
    }
    out.join("\n")
}

fn lines(list: &Value, line: impl Fn(&Value) -> String) -> String {
    let list = list.as_array().map(|items| items.iter().map(&line).collect::<Vec<_>>()).unwrap_or_default();
    if list.is_empty() {
        "(none)".into()
    } else {
        list.join("\n")
    }
}

/// `key value` lines for the scalar fields, `key.sub value` for the objects' fields.
fn stats_lines(stats: &Value) -> String {
    let mut out = Vec::new();
    if let Some(object) = stats.as_object() {
        for (key, value) in object {
            match value {
                Value::Object(inner) => out.extend(inner.iter().map(|(sub, v)| format!("{key}.{sub} {v}"))),
                Value::Array(_) => {}
                other => out.push(format!("{key} {other}")),
            }
        }
    }
    out.join("\n")
}
