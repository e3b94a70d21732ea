//! A primary serving `dyn.test.` from a file of its own, open to updates signed with
//! [`KEY`] (anywhere in the zone) and [`OTHER_KEY`] (only below `other.dyn.test.`); our own
//! signed UPDATE messages; answers read back.

use crate::harness::Server;
use crate::peers::{free_port, temp_dir};
use portcullis_engine::policy::tsig::Algorithm;
use portcullis_engine::policy::tsig_client::sign_request;
use portcullis_engine::policy::TsigKey;
use portcullis_wire::header::Flags;
use portcullis_wire::message::{Message, Section};
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::{Class, NameBuf, Opcode, Rtype};
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const ORIGIN: &str = "dyn.test.";
pub const KEY: &str = "ddns.key.";
pub const OTHER_KEY: &str = "other.key.";
pub const SECRET: &str = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=";
pub const OTHER_SECRET: &str = "b3RoZXJvdGhlcm90aGVyb3RoZXJvdGhlcm90aGVyMTI=";
/// The zone's first serial.
pub const SERIAL: u32 = 100;

/// The zone's text.
pub fn zone_text() -> String {
    format!("$ORIGIN {ORIGIN}\n$TTL 300\n@ SOA ns1 hostmaster {SERIAL} 3600 600 86400 60\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.80\nold TXT \"old\"\n")
}

/// The server's directory, address and configuration file for a primary of `dyn.test.` with
/// `extra` appended to the zone's table (`notify = [...]`, say).
pub fn primary_config(dir: &Path, addr: SocketAddr, zone_extra: &str) -> PathBuf {
    let zone = dir.join("dyn.test.zone");
    if !zone.exists() {
        fs::write(&zone, zone_text()).unwrap_or_else(|e| panic!("{e}"));
    }
    let text = format!(
        "[server]\nlisten = [\"{addr}\"]\nthreads = 1\n\n[acl]\nupdate = [\"key {KEY}\", \"key {OTHER_KEY}\"]\ntransfer = [\"127.0.0.0/8\"]\n\n\
         [[key]]\nname = \"{KEY}\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n\n\
         [[key]]\nname = \"{OTHER_KEY}\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{OTHER_SECRET}\"\n\n\
         [[zone]]\norigin = \"{ORIGIN}\"\nfile = \"{}\"\nzonefile-sync = 1\nupdate-policy = [\n  {{ grant = \"{KEY}\", match = \"zonesub\" }},\n  \
         {{ grant = \"{OTHER_KEY}\", match = \"subdomain\", name = \"other.{ORIGIN}\", types = [\"A\", \"TXT\"] }},\n]\n{zone_extra}",
        zone.display()
    );
    let path = dir.join("portcullis.toml");
    fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    path
}

/// Starts (or restarts) the primary with its zone, journal and configuration in `state` (kept
/// across restarts) and its logs in a directory of its own (removed with the `Server`).
pub fn start_primary_in(state: &Path, addr: SocketAddr, zone_extra: &str) -> Server {
    let config = primary_config(state, addr, zone_extra);
    Server::start(temp_dir("update-run"), addr, &["serve".as_ref(), "--config".as_ref(), config.as_os_str()], ORIGIN).unwrap_or_else(|e| panic!("{e}"))
}

/// A new primary on a free port (its state directory is removed on drop).
pub fn start_primary(zone_extra: &str) -> (Server, crate::peers::RemoveOnDrop) {
    let state = temp_dir("update");
    let server = start_primary_in(&state, SocketAddr::from(([127, 0, 0, 1], free_port())), zone_extra);
    (server, crate::peers::RemoveOnDrop(state))
}

/// Sends `update` over TCP and returns the answer's rcode (`None`: no answer: the connection
/// failed or closed, or nothing came within 3 s).
pub fn send_tcp(addr: SocketAddr, update: &[u8]) -> Option<u16> {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(3))).ok()?;
    let mut framed = (update.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(update);
    stream.write_all(&framed).ok()?;
    let reply = crate::client::read_framed(&mut stream).ok()?;
    let message = Message::parse(&reply).ok()?;
    (message.header().id() == u16::from_be_bytes([update[0], update[1]])).then_some(message.rcode().0)
}

/// The test's TSIG key.
pub fn key() -> TsigKey {
    let mut secret = Vec::new();
    portcullis_wire::rdata::decode_base64(SECRET, &mut secret).unwrap_or_else(|e| panic!("{e}"));
    TsigKey::new(&name(KEY), Algorithm::HmacSha256, &secret)
}

pub fn name(text: &str) -> NameBuf {
    NameBuf::from_text(text, None).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// An UPDATE of `dyn.test.` adding `owner A 192.0.2.last`, signed with [`KEY`] now.
pub fn signed_add(id: u16, owner: &str, last: u8) -> Vec<u8> {
    let mut buf = vec![0u8; 512];
    let mut writer = MessageWriter::new(&mut buf, 512).unwrap_or_else(|e| panic!("{e:?}"));
    writer.set_header(id, Flags { opcode: Opcode::UPDATE.0, ..Flags::default() });
    writer.push_question(&name(ORIGIN), Rtype::SOA, Class::IN).unwrap_or_else(|e| panic!("{e:?}"));
    writer.push(Section::Authority, &name(owner), Rtype::A, Class::IN, 300, &[192, 0, 2, last]).unwrap_or_else(|e| panic!("{e:?}"));
    let len = writer.finish();
    buf.truncate(len);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    sign_request(&key(), &mut buf, now);
    buf
}

/// The rdatas of `name`'s `rtype` RRset as served (UDP), and the rcode.
pub fn lookup(addr: SocketAddr, owner: &str, rtype: Rtype) -> (u16, Vec<Vec<u8>>) {
    let reply = crate::client::udp(addr, &crate::client::Query::new(owner, rtype)).unwrap_or_else(|e| panic!("{owner}: {e}"));
    let message = Message::parse(&reply).unwrap_or_else(|e| panic!("{e:?}"));
    let rdatas = message.records(Section::Answer).filter(|r| r.rtype == rtype).map(|r| r.rdata.to_vec()).collect();
    (message.rcode().0, rdatas)
}

/// The zone's serial as served.
pub fn serial(addr: SocketAddr) -> u32 {
    let (_, soa) = lookup(addr, ORIGIN, Rtype::SOA);
    let rdata = soa.first().unwrap_or_else(|| panic!("no SOA served"));
    u32::from_be_bytes(rdata[rdata.len() - 20..rdata.len() - 16].try_into().unwrap_or_default())
}
