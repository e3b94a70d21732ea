//! The command line: `serve`, `query`, `check-zone`, `check-config`, `keygen`, `sign-zone`,
//! `dnssec ds`, `dnssec status`, `dnssec ds-seen`, `dnssec ds-gone`, `ctl`, and the hidden `man`
//! (the manual page, see `crate::man`).

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// portcullis: a memory-safe DNS server and client.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the DNS server (foreground; SIGHUP reloads, SIGUSR2 upgrades, SIGTERM stops).
    Serve(Box<ServeArgs>),
    /// Ask a DNS server a question and print the answer, like dig.
    Query(QueryArgs),
    /// Check a zone file: syntax and consistency (exit 1 on an error).
    CheckZone(CheckZoneArgs),
    /// Check a configuration file and the zones it names (exit 1 on an error).
    CheckConfig(CheckConfigArgs),
    /// Generate a DNSSEC key (BIND-format key files) and print its base name.
    Keygen(KeygenArgs),
    /// Sign a zone file offline (DNSKEY, RRSIG, NSEC or NSEC3) with key files.
    SignZone(SignZoneArgs),
    /// DNSSEC helpers.
    #[command(subcommand)]
    Dnssec(DnssecCommand),
    /// Control a running server over its control socket (status, reload, flush, stats...).
    Ctl(crate::ctl::CtlArgs),
    /// Print the manual page (roff), generated from these definitions; `--dir` writes one page
    /// per command.
    #[command(hide = true)]
    Man(ManArgs),
}

/// Arguments of `man`.
#[derive(Debug, Args, Clone)]
pub struct ManArgs {
    /// Write portcullis.1 and portcullis-COMMAND.1 into this directory instead.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The `dnssec` subcommands.
#[derive(Debug, Subcommand)]
pub enum DnssecCommand {
    /// Print the DS records (SHA-256) for a zone's key-signing keys, for the parent zone.
    Ds(DsArgs),
    /// Show a signed zone's keys, their rollover state and next step, and the serial served.
    Status(ZoneArgs),
    /// Record that the parent's DS RRset now holds the DS of key TAG (a rollover waits for it).
    DsSeen(KeyEventArgs),
    /// Record that the parent's DS RRset no longer holds the DS of key TAG (after its CDS left).
    DsGone(KeyEventArgs),
}

/// Arguments of `dnssec status`.
#[derive(Debug, Args, Clone)]
pub struct ZoneArgs {
    /// The zone's origin, e.g. example.com.
    pub origin: String,
    /// The server's configuration (the zone's policy and key directory; without it, the
    /// embedded default, as `serve`).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Arguments of `dnssec ds-seen` and `dnssec ds-gone`.
#[derive(Debug, Args, Clone)]
pub struct KeyEventArgs {
    /// The zone's origin, e.g. example.com.
    pub origin: String,
    /// The key tag of the KSK or CSK (as `dnssec status` shows it).
    pub tag: u16,
    /// The server's configuration (the zone's policy and key directory; without it, the
    /// embedded default, as `serve`).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The running server's process id: it is sent SIGHUP to plan again at once (without it,
    /// the server is told over its control socket when one answers).
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
    /// The running server's control socket (default: the configuration's `[control] socket`):
    /// a reload is asked for over it, so the server plans again at once.
    #[arg(long, short = 's', value_name = "PATH", conflicts_with = "pid")]
    pub socket: Option<std::path::PathBuf>,
}

/// Arguments of `keygen`.
#[derive(Debug, Args, Clone)]
pub struct KeygenArgs {
    /// ecdsap256sha256, ecdsap384sha384 or ed25519 (RSA cannot be generated: ring has no RSA
    /// key generation).
    #[arg(long, short = 'a', value_name = "ALGORITHM", default_value = "ecdsap256sha256")]
    pub algorithm: String,
    /// Make a key-signing key (DNSKEY flags 257; a zone-signing key, 256, without it).
    #[arg(long)]
    pub ksk: bool,
    /// The zone's origin, e.g. example.com.
    pub origin: String,
    /// Where to write the key files (created when missing).
    #[arg(long, short = 'K', value_name = "DIR", default_value = ".")]
    pub directory: PathBuf,
}

/// Arguments of `sign-zone`.
#[derive(Debug, Args, Clone)]
pub struct SignZoneArgs {
    /// The zone's origin, e.g. example.com.
    pub origin: String,
    /// The zone file.
    pub file: PathBuf,
    /// Key files' base name (`Kexample.com.+013+12345`, with or without .key), repeatable; at
    /// least one. SEP keys (257) sign the DNSKEY RRset, the others the rest.
    #[arg(long, value_name = "BASE", required = true)]
    pub key: Vec<PathBuf>,
    /// Build an NSEC3 chain (RFC 9276: SHA-1, 0 iterations, no salt) instead of NSEC.
    #[arg(long)]
    pub nsec3: bool,
    /// With --nsec3: leave delegations without DS out of the chain (opt-out).
    #[arg(long)]
    pub opt_out: bool,
    /// The signed zone file (default: FILE.signed).
    #[arg(long, short = 'o', value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Signatures are valid from an hour ago until this many days from now.
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub validity_days: u32,
}

/// Arguments of `dnssec ds`.
#[derive(Debug, Args, Clone)]
pub struct DsArgs {
    /// The zone's origin, e.g. example.com.
    pub origin: String,
    /// Key files' base name (repeatable).
    #[arg(long, value_name = "BASE")]
    pub key: Vec<PathBuf>,
    /// A zone file whose DNSKEY records with the SEP flag (else all of them) get a DS.
    #[arg(long, value_name = "FILE")]
    pub zone: Option<PathBuf>,
    /// The server's configuration: the DS of the zone's managed KSK or CSK in its key directory.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Flags of `serve`; they override the configuration file.
#[derive(Debug, Args, Clone, Default)]
pub struct ServeArgs {
    /// The TOML configuration file (without it: the embedded default, see README).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to serve on, UDP and TCP (repeatable; replaces the configured list).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Vec<SocketAddr>,
    /// A zone to serve (repeatable; adds to or replaces the configured zone of that origin).
    #[arg(long, value_name = "ORIGIN=FILE")]
    pub zone: Vec<String>,
    /// UDP worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Log level: error, warn, info, debug, trace.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Resolve names outside the served zones for the clients allowed to recurse.
    #[arg(long)]
    pub recursive: bool,
    /// Root servers from this file (named.root format) instead of the built-in IANA ones.
    #[arg(long, value_name = "FILE")]
    pub root_hints: Option<PathBuf>,
    /// DNSSEC trust anchors from this file (DS or DNSKEY records in zone-file format); an
    /// anchor for `.` replaces the built-in root anchors.
    #[arg(long, value_name = "FILE")]
    pub trust_anchor: Option<PathBuf>,
    /// Who may recurse: an address, CIDR prefix or ACL element (repeatable; replaces the
    /// configured list and the default, localhost).
    #[arg(long, value_name = "CIDR")]
    pub allow_recursion: Vec<String>,
    /// Forward every name outside the served zones to these upstreams (one group, the default
    /// policy lowest-latency, forward-only), for the clients that may recurse.
    #[arg(long, value_name = "ADDR[:PORT],ADDR[:PORT]...")]
    pub forward: Option<String>,
    /// Serve metrics, the stats API and the dashboard over HTTP here (replaces `[http] listen`).
    #[arg(long, value_name = "ADDR:PORT")]
    pub http: Option<SocketAddr>,
    /// The control socket's path (replaces `[control] socket`).
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
    /// Address to serve DNS over TLS on (RFC 7858; repeatable; replaces `listen-tls`).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen_tls: Vec<SocketAddr>,
    /// Address to serve DNS over HTTPS on (RFC 8484; repeatable; replaces `listen-https`).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen_https: Vec<SocketAddr>,
    /// Address to serve DNS over QUIC on (RFC 9250; repeatable; replaces `listen-quic`).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen_quic: Vec<SocketAddr>,
    /// The encrypted listeners' PEM certificate chain (replaces `[tls] cert`).
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The encrypted listeners' PEM private key (replaces `[tls] key`).
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
}

/// Arguments of `query`.
#[derive(Debug, Args, Clone)]
pub struct QueryArgs {
    /// The name to ask about, then optionally a type, a class and @SERVER[:PORT] (repeatable).
    #[arg(value_name = "NAME [TYPE] [CLASS] [@SERVER[:PORT]]...", required = true, num_args = 1..)]
    pub words: Vec<String>,
    /// Use TCP only.
    #[arg(long)]
    pub tcp: bool,
    /// Use DNS over TLS (RFC 7858; port 853 unless given).
    #[arg(long, conflicts_with_all = ["tcp", "https", "quic"])]
    pub tls: bool,
    /// Use DNS over HTTPS (RFC 8484: POST to https://TLS-NAME:443/dns-query).
    #[arg(long, conflicts_with_all = ["tcp", "quic"])]
    pub https: bool,
    /// Use DNS over QUIC (RFC 9250; port 853 unless given).
    #[arg(long, conflicts_with = "tcp")]
    pub quic: bool,
    /// The name the server's certificate must be valid for (default: its address).
    #[arg(long, value_name = "NAME")]
    pub tls_name: Option<String>,
    /// PEM roots the certificate must chain to (default: the system's).
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Check no certificate (encrypted, not authenticated).
    #[arg(long)]
    pub insecure: bool,
    /// EDNS UDP payload size to advertise (0 sends no OPT record).
    #[arg(long, value_name = "BYTES", default_value_t = 1232)]
    pub edns_size: u16,
    /// Set the DO bit (ask for DNSSEC records).
    #[arg(long)]
    pub dnssec: bool,
    /// Clear the RD bit (no recursion wanted).
    #[arg(long)]
    pub norecurse: bool,
    /// Set the CD bit: the data even when DNSSEC validation finds it bogus (RFC 4035 §3.2.2).
    #[arg(long)]
    pub cd: bool,
    /// Ask for the server's NSID.
    #[arg(long)]
    pub nsid: bool,
    /// Send a DNS cookie (RFC 7873): a fresh client cookie, or CLIENT[SERVER] in hex to resend.
    #[arg(long, value_name = "HEX", num_args = 0..=1, default_missing_value = "")]
    pub cookie: Option<String>,
    /// Seconds to wait for each server (default: resolv.conf's timeout, else 5).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Rounds over the server list (default: resolv.conf's attempts, else 2).
    #[arg(long, value_name = "N")]
    pub attempts: Option<u32>,
    /// Port used for servers given without one.
    #[arg(long, short = 'p', default_value_t = 53)]
    pub port: u16,
    /// Print the answer as JSON.
    #[arg(long)]
    pub json: bool,
    /// The resolv.conf to read default servers and options from.
    #[arg(long, value_name = "FILE", default_value = "/etc/resolv.conf")]
    pub resolv_conf: PathBuf,
}

/// Arguments of `check-zone`.
#[derive(Debug, Args, Clone)]
pub struct CheckZoneArgs {
    /// The zone's origin, e.g. example.com.
    pub origin: String,
    /// The zone file.
    pub file: PathBuf,
}

/// Arguments of `check-config`.
#[derive(Debug, Args, Clone)]
pub struct CheckConfigArgs {
    /// The TOML configuration file.
    pub file: PathBuf,
}
