//! Hostile incremental transfers: a fake primary (a small UDP and TCP server in this test)
//! whose IXFR answers do not apply, have serials out of sequence, or bring a zone whose ZONEMD
//! (RFC 8976) does not verify. The secondary keeps answering from its good copy, logs why, and
//! falls back to AXFR, which replaces the copy when the zone it brings is good.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_wire::header::Flags;
use portcullis_wire::message::{Message, Section};
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::{Class, NameBuf, Rtype};

use crate::peers::{free_port, ServerProcess};
use crate::secondary::portcullis_at;

type Record = (NameBuf, Rtype, Vec<u8>);

fn name(text: &str) -> NameBuf {
    NameBuf::from_text(text, None).unwrap_or_else(|e| panic!("{text}: {e:?}"))
}

/// The SOA of `hostile.test.` at `serial`: refresh and retry 1 s, so that the secondary asks
/// again at once.
fn soa(serial: u32) -> Record {
    let mut rdata = name("ns.hostile.test.").as_wire().to_vec();
    rdata.extend_from_slice(name("hostmaster.hostile.test.").as_wire());
    for number in [serial, 1, 1, 604_800, 60] {
        rdata.extend_from_slice(&number.to_be_bytes());
    }
    (name("hostile.test."), Rtype::SOA, rdata)
}

fn www(last: u8) -> Record {
    (name("www.hostile.test."), Rtype::A, vec![192, 0, 2, last])
}

/// The zone at `serial` (without its SOA): NS, glue and `www` at 192.0.2.`serial`.
fn body(serial: u32) -> Vec<Record> {
    vec![
        (name("hostile.test."), Rtype::NS, name("ns.hostile.test.").as_wire().to_vec()),
        (name("ns.hostile.test."), Rtype::A, vec![192, 0, 2, 53]),
        www(serial as u8),
    ]
}

/// A ZONEMD (SIMPLE, SHA-384) at `serial` whose digest is wrong.
fn bad_zonemd(serial: u32) -> Record {
    let mut rdata = serial.to_be_bytes().to_vec();
    rdata.extend_from_slice(&[1, 1]);
    rdata.extend_from_slice(&[0xab; 48]);
    (name("hostile.test."), Rtype::ZONEMD, rdata)
}

/// What the fake primary sends, by serial: (IXFR answer records, AXFR answer records).
fn script(serial: u32) -> (Vec<Record>, Vec<Record>) {
    let axfr = |serial: u32, extra: Vec<Record>| {
        let mut records = vec![soa(serial)];
        records.extend(body(serial));
        records.extend(extra);
        records.push(soa(serial));
        records
    };
    match serial {
        // Serial 2: the IXFR deletes a record the secondary does not have, and the AXFR brings
        // a zone whose ZONEMD does not verify: nothing replaces serial 1.
        2 => (vec![soa(2), soa(1), (name("nothere.hostile.test."), Rtype::A, vec![192, 0, 2, 77]), soa(2), www(9), soa(2)], axfr(2, vec![bad_zonemd(2)])),
        // Serial 3: the IXFR's differences start at serial 2 (the secondary has 1); the AXFR is
        // good.
        3 => (vec![soa(3), soa(2), www(2), soa(3), www(3), soa(3)], axfr(3, Vec::new())),
        serial => (axfr(serial, Vec::new()), axfr(serial, Vec::new())),
    }
}

fn message(id: u16, qtype: Rtype, records: &[Record]) -> Vec<u8> {
    let mut buf = vec![0u8; 65_535];
    let mut writer = MessageWriter::new(&mut buf, 65_535).unwrap_or_else(|e| panic!("{e:?}"));
    writer.set_header(id, Flags { qr: true, aa: true, ..Flags::default() });
    writer.push_question(&name("hostile.test."), qtype, Class::IN).unwrap_or_else(|e| panic!("{e:?}"));
    for (owner, rtype, rdata) in records {
        writer.push(Section::Answer, owner, *rtype, Class::IN, 300, rdata).unwrap_or_else(|e| panic!("{e:?}"));
    }
    let len = writer.finish();
    buf.truncate(len);
    buf
}

/// Starts the fake primary at a free port; `serial` is what it serves now.
fn fake_primary(serial: Arc<AtomicU32>) -> SocketAddr {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let udp = UdpSocket::bind(addr).unwrap_or_else(|e| panic!("{e}"));
    let tcp = TcpListener::bind(addr).unwrap_or_else(|e| panic!("{e}"));
    let current = serial.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        for _ in 0..10_000 {
            let Ok((len, peer)) = udp.recv_from(&mut buf) else { return };
            let Ok(query) = Message::parse(&buf[..len]) else { continue };
            let reply = message(query.header().id(), Rtype::SOA, &[soa(current.load(Ordering::SeqCst))]);
            let _ = udp.send_to(&reply, peer);
        }
    });
    std::thread::spawn(move || {
        for stream in tcp.incoming().take(1000) {
            let Ok(mut stream) = stream else { continue };
            let mut prefix = [0u8; 2];
            let mut query = vec![0u8; 4096];
            if stream.read_exact(&mut prefix).is_err() {
                continue;
            }
            let len = usize::from(u16::from_be_bytes(prefix)).min(query.len());
            if stream.read_exact(&mut query[..len]).is_err() {
                continue;
            }
            let Ok(parsed) = Message::parse(&query[..len]) else { continue };
            let Some(question) = parsed.question() else { continue };
            let (ixfr, axfr) = script(serial.load(Ordering::SeqCst));
            let records = if question.qtype == Rtype::IXFR { ixfr } else { axfr };
            let reply = message(parsed.header().id(), question.qtype, &records);
            let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&reply);
            let _ = stream.write_all(&framed);
        }
    });
    addr
}

/// The last octet of `www.hostile.test. A` as the secondary answers it.
fn www_answer(server: &ServerProcess) -> Option<u8> {
    let reply = crate::client::udp(server.addr, &crate::client::Query::new("www.hostile.test.", Rtype::A)).ok()?;
    let message = Message::parse(&reply).ok()?;
    let record = message.records(Section::Answer).find(|record| record.rtype == Rtype::A)?;
    record.rdata.get(3).copied()
}

/// Waits (bounded) until `server`'s log holds `text`.
fn wait_for_log(server: &ServerProcess, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let logs = server.logs();
        if logs.contains(text) {
            return logs;
        }
        assert!(Instant::now() < deadline, "no '{text}' in the log\n{logs}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn rfc1995_hostile_ixfr_never_replaces_the_good_copy_and_axfr_takes_over_when_it_is_good() {
    let serial = Arc::new(AtomicU32::new(1));
    let primary = fake_primary(serial.clone());
    let body = format!("[[zone]]\norigin = \"hostile.test.\"\nprimaries = [\"{primary}\"]\n");
    let secondary = portcullis_at(SocketAddr::from(([127, 0, 0, 1], free_port())), &body, "hostile.test.");
    assert_eq!(www_answer(&secondary), Some(1), "serial 1 by AXFR\n{}", secondary.logs());
    // Serial 2: differences that do not apply, then an AXFR whose ZONEMD does not verify.
    serial.store(2, Ordering::SeqCst);
    let logs = wait_for_log(&secondary, "ZONEMD does not verify");
    assert!(logs.contains("the differences do not apply to our copy: deletes nothere.hostile.test."), "{logs}");
    assert_eq!(www_answer(&secondary), Some(1), "the good copy stays\n{logs}");
    // Serial 3: serials out of sequence, then a good AXFR, which replaces the copy.
    serial.store(3, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(20);
    while www_answer(&secondary) != Some(3) {
        assert!(Instant::now() < deadline, "the AXFR fallback did not bring serial 3\n{}", secondary.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
    let logs = secondary.logs();
    assert!(logs.contains("the differences start at serial 2, ours is 1"), "{logs}");
    assert!(logs.lines().any(|line| line.contains("method=\"AXFR\"") && line.contains("serial=3")), "{logs}");
}
