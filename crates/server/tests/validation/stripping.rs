//! An upstream that strips DNSSEC records (as a resolver with DNSSEC off, or a middlebox,
//! does): a UDP proxy in front of the non-validating Unbound of the hierarchy drops every RRSIG,
//! NSEC and NSEC3 from the replies it passes on. A forward zone validating (the default) must
//! answer SERVFAIL for the names of signed zones, and still answer those of unsigned ones.

use super::hierarchy::resolvers::start_portcullis_with;
use super::peers::{free_port, require, temp_dir};
use super::{dig, serve, start_unbound_iterator, DO, RESOLVER, UNBOUND};
use portcullis_wire::header::Flags;
use portcullis_wire::message::{decompress_rdata, Message, Section};
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::{Rcode, Rtype};
use std::fs;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// `reply` without its RRSIG, NSEC and NSEC3 records (the OPT record kept, DO clear).
fn stripped(reply: &[u8]) -> Option<Vec<u8>> {
    let message = Message::parse(reply).ok()?;
    let mut buf = vec![0u8; 65_535];
    let mut writer = MessageWriter::new(&mut buf, 65_535).ok()?;
    writer.set_header(message.header().id(), Flags::from_header(message.header()));
    for question in message.questions() {
        writer.push_question(&question.qname, question.qtype, question.qclass).ok()?;
    }
    for section in [Section::Answer, Section::Authority, Section::Additional] {
        for record in message.records(section).filter(|r| !matches!(r.rtype, Rtype::RRSIG | Rtype::NSEC | Rtype::NSEC3 | Rtype::OPT)) {
            let mut rdata = Vec::new();
            decompress_rdata(message.bytes(), &record, &mut rdata).ok()?;
            writer.push(section, &record.owner, record.rtype, record.class, record.ttl, &rdata).ok()?;
        }
    }
    if let Some(edns) = message.edns() {
        writer.push_opt(edns.udp_size, Rcode::NOERROR, false, &[]).ok()?;
    }
    let len = writer.finish();
    buf.truncate(len);
    Some(buf)
}

/// A UDP proxy to `upstream` passing every reply on [`stripped`]; stops when dropped.
struct StrippingProxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StrippingProxy {
    fn start(upstream: SocketAddr) -> Self {
        let socket = UdpSocket::bind(("127.0.0.1", free_port())).unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let addr = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_535];
            while !flag.load(Ordering::Relaxed) {
                let Ok((len, client)) = socket.recv_from(&mut buf) else { continue };
                let out = UdpSocket::bind("127.0.0.1:0").unwrap();
                out.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                if out.connect(upstream).and_then(|()| out.send(&buf[..len])).is_err() {
                    continue;
                }
                let mut reply = vec![0u8; 65_535];
                let Ok(len) = out.recv(&mut reply) else { continue };
                if let Some(reply) = stripped(&reply[..len]) {
                    let _ = socket.send_to(&reply, client);
                }
            }
        });
        Self { addr, stop, thread: Some(thread) }
    }
}

impl Drop for StrippingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn a_forward_zone_whose_upstream_strips_signatures_fails_for_signed_names() {
    let dir = temp_dir("validation-stripping");
    let _cleanup = super::peers::RemoveOnDrop(dir.clone());
    let Some((net, _servers, dig_path, signed)) = serve("validation-stripping", &dir) else { return };
    let Some(tools) = require("validation-stripping", &["unbound"]) else { return };
    let _unbound = start_unbound_iterator(&tools[0], &dir, net.addr(UNBOUND));
    let proxy = StrippingProxy::start(net.addr(UNBOUND));
    let anchor = dir.join("anchor.ds");
    fs::write(&anchor, &signed.anchor).unwrap();
    let run_dir = temp_dir("validation-stripping-portcullis");
    let extra = format!("trust-anchor-file = \"{}\"\n\n[[forward]]\nzone = \".\"\nprimaries = [\"{}\"]\n", anchor.display(), proxy.addr);
    let listen = net.addr(RESOLVER);
    let portcullis = start_portcullis_with(&run_dir, &dir.join("root.hints"), listen, "secure.test.", &extra);
    // Stripped: the root's DNSKEY RRset has no RRSIG, so nothing below it can be proven, not
    // even the unsigned delegation (RFC 4035 §5: bogus, never insecure).
    let mut failures = Vec::new();
    for name in ["www.secure.test.", "www.nsec3.test.", "nx.secure.test.", "www.unsigned.test.", "www.bind.test."] {
        let got = dig(&dig_path, listen, name, "A", DO);
        if got.status != "SERVFAIL" || got.ad || got.ede.is_none() {
            failures.push(format!("{name}: expected SERVFAIL with an EDE through a stripping upstream\n{}", got.text));
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}\n{}", failures.len(), failures.join("\n"), portcullis.logs());
}
