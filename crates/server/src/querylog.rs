//! The query log (`[querylog] file = PATH`, `format = "text" | "json"`): one line per query the
//! UDP workers and TCP connections answered or dropped, written by the tap writer
//! (`tap_writer.rs`) from the same queue as dnstap, so it never slows an answer.
//!
//! ```text
//! 2026-12-07T13:47:04.072983Z 127.0.0.1#57245 udp www.example.test. IN A NOERROR 89
//! {"time":"2026-12-07T13:47:04.072983Z","client":"127.0.0.1","port":57245,"transport":"udp","name":"www.example.test.","class":"IN","type":"A","rcode":"NOERROR","size":89}
//! ```
//!
//! A dropped query has the rcode `-` (JSON: null) and no size; a query whose question does not
//! read has the name `-` (JSON: null).

use crate::tap_writer::EventSink;
use portcullis_engine::Transport;
use portcullis_net::tap::{TapBatch, TapEvent};
use portcullis_wire::message::Message;
use portcullis_wire::Rcode;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

/// The query log's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryLogSettings {
    /// The file appended to.
    pub file: PathBuf,
    /// JSON lines instead of text.
    pub json: bool,
}

/// The open log.
pub struct QueryLog {
    out: BufWriter<std::fs::File>,
    json: bool,
}

impl QueryLog {
    /// Opens the file for appending.
    pub fn open(settings: &QueryLogSettings) -> Result<Self, String> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&settings.file);
        let file = file.map_err(|error| format!("querylog.file {}: {error}", settings.file.display()))?;
        Ok(Self { out: BufWriter::with_capacity(1 << 20, file), json: settings.json })
    }
}

impl EventSink for QueryLog {
    fn batch(&mut self, batch: &TapBatch) -> std::io::Result<()> {
        batch.events().try_for_each(|event| self.out.write_all(line(&event, self.json).as_bytes()))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    fn close(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// One line (with its newline).
pub fn line(event: &TapEvent<'_>, json: bool) -> String {
    let question = Message::parse(event.query).ok().and_then(|message| message.question());
    let rcode = event.response.and_then(|reply| reply.get(3)).map(|byte| Rcode(u16::from(byte & 0x0F)).to_string());
    let size = event.response.map(<[u8]>::len);
    let time = time(event.time);
    let transport = if event.transport == Transport::Udp { "udp" } else { "tcp" };
    let (ip, port) = (event.peer.ip(), event.peer.port());
    if json {
        let value = serde_json::json!({
            "time": time,
            "client": ip.to_string(),
            "port": port,
            "transport": transport,
            "name": question.as_ref().map(|q| q.qname.to_string()),
            "class": question.as_ref().map(|q| q.qclass.to_string()),
            "type": question.as_ref().map(|q| q.qtype.to_string()),
            "rcode": rcode,
            "size": size,
        });
        return format!("{value}\n");
    }
    let asked = question.map_or_else(|| "- - -".to_string(), |q| format!("{} {} {}", q.qname, q.qclass, q.qtype));
    let answered = match (rcode, size) {
        (Some(rcode), Some(size)) => format!("{rcode} {size}"),
        _ => "- dropped".to_string(),
    };
    format!("{time} {ip}#{port} {transport} {asked} {answered}\n")
}

/// RFC 3339 with microseconds, UTC.
fn time(since_epoch: std::time::Duration) -> String {
    let seconds = crate::stats::rfc3339(since_epoch.as_secs());
    format!("{}.{:06}Z", seconds.trim_end_matches('Z'), since_epoch.subsec_micros())
}

#[cfg(test)]
mod tests {
    use super::line;
    use portcullis_engine::Transport;
    use portcullis_net::tap::TapEvent;
    use std::time::Duration;

    /// www.example.test. IN A, id 1, RD.
    const QUERY: &[u8] = b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x04test\x00\x00\x01\x00\x01";

    fn event(response: Option<&[u8]>) -> TapEvent<'_> {
        TapEvent {
            transport: Transport::Udp,
            peer: "192.0.2.7:4053".parse().unwrap_or_else(|_| unreachable!()),
            local: None,
            query: QUERY,
            response,
            time: Duration::new(1_796_649_664, 72_983_000),
        }
    }

    #[test]
    fn text_and_json_lines_name_the_question_and_the_outcome() {
        let mut reply = vec![0, 1, 0x81, 0x83];
        reply.extend_from_slice(&[0; 8]);
        assert_eq!(line(&event(Some(&reply)), false), "2026-12-07T13:21:04.072983Z 192.0.2.7#4053 udp www.example.test. IN A NXDOMAIN 12\n");
        assert_eq!(line(&event(None), false), "2026-12-07T13:21:04.072983Z 192.0.2.7#4053 udp www.example.test. IN A - dropped\n");
        let json: serde_json::Value = serde_json::from_str(&line(&event(Some(&reply)), true)).unwrap_or_default();
        assert_eq!(json["name"], "www.example.test.");
        assert_eq!((json["type"].as_str(), json["rcode"].as_str(), json["size"].as_u64()), (Some("A"), Some("NXDOMAIN"), Some(12)));
        let dropped: serde_json::Value = serde_json::from_str(&line(&event(None), true)).unwrap_or_default();
        assert!(dropped["rcode"].is_null() && dropped["client"] == "192.0.2.7");
    }
}
