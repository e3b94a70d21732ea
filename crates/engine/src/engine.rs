//! [`Engine`]: the query pipeline of DESIGN §4.4 as one plain function, over an immutable
//! snapshot of zones and settings. The I/O layer swaps whole engines on reload; counters live in
//! an `Arc` shared across versions.

use crate::auth::{write_answer, AnswerOptions, ZoneSet};
use crate::metrics::EngineCounters;
use crate::request::{DropReason, Outcome, Request, Transport};
use portcullis_wire::edns::{code, Edns};
use portcullis_wire::header::{Flags, Header};
use portcullis_wire::message::{read_question, Message, Question, Section};
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::{Class, NameBuf, Opcode, Rcode, Rtype};
use std::sync::Arc;

/// Smallest UDP payload any client may be limited to (RFC 1035 §4.2.1, RFC 6891 §6.2.3).
pub const MIN_UDP_PAYLOAD: u16 = 512;

/// Settings of the engine, validated by the server's config layer.
#[derive(Clone, Debug)]
pub struct EngineSettings {
    /// Largest UDP answer we send and advertise (default 1232).
    pub udp_payload: u16,
    /// Leave out additional addresses of answer targets.
    pub minimal_responses: bool,
    /// NSID to return when asked (RFC 5001); `None` hides it.
    pub nsid: Option<Vec<u8>>,
    /// Answer for `version.bind`/`version.server` CH TXT; `None` refuses.
    pub version: Option<String>,
    /// Answer for `id.server`/`hostname.bind` CH TXT; `None` refuses.
    pub identity: Option<String>,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self { udp_payload: 1232, minimal_responses: false, nsid: None, version: None, identity: None }
    }
}

/// Everything needed to answer queries; immutable once built.
#[derive(Debug)]
pub struct Engine {
    zones: ZoneSet,
    settings: EngineSettings,
    counters: Arc<EngineCounters>,
}

/// The parts of a reply decided before the answer is written.
struct ReplyFrame<'q> {
    header: Header<'q>,
    question: Option<Question>,
    edns: Option<Edns<'q>>,
    limit: usize,
}

impl Engine {
    /// An engine over `zones`.
    pub fn new(zones: ZoneSet, settings: EngineSettings, counters: Arc<EngineCounters>) -> Self {
        Self { zones, settings, counters }
    }

    /// The zones served.
    pub fn zones(&self) -> &ZoneSet {
        &self.zones
    }

    /// The counters (shared across reloads).
    pub fn counters(&self) -> &Arc<EngineCounters> {
        &self.counters
    }

    /// The settings.
    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// Answers one request into `out`. Never panics, never allocates for authoritative answers.
    pub fn handle(&self, request: &Request<'_>, out: &mut [u8]) -> Outcome {
        self.counters.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let outcome = self.process(request, out);
        match outcome {
            Outcome::Drop(reason) => self.counters.dropped(reason),
            Outcome::Reply(len) => self.count_rcode(&out[..len]),
        }
        outcome
    }

    fn process(&self, request: &Request<'_>, out: &mut [u8]) -> Outcome {
        let Ok((header, _)) = Header::split(request.bytes) else { return Outcome::Drop(DropReason::Malformed) };
        if header.is_response() {
            return Outcome::Drop(DropReason::IsResponse);
        }
        if request.transport == Transport::Udp && matches!(request.peer.port(), 7 | 13 | 19 | 37) {
            return Outcome::Drop(DropReason::ReflectionPort);
        }
        let message = match Message::parse(request.bytes) {
            Ok(message) => message,
            Err(_) => return self.form_error(request, header, out),
        };
        let question = message.question();
        let mut frame = ReplyFrame { header, question, edns: message.edns(), limit: 0 };
        frame.limit = self.reply_limit(request.transport, frame.edns);
        if header.opcode() != Opcode::QUERY {
            return self.error_reply(&frame, Rcode::NOTIMP, out);
        }
        if header.qdcount() != 1 {
            frame.question = None;
            return self.error_reply(&frame, Rcode::FORMERR, out);
        }
        let ixfr = question.is_some_and(|q| q.qtype == Rtype::IXFR);
        if header.tc() || header.ancount() != 0 || (header.nscount() != 0 && !ixfr) {
            return self.error_reply(&frame, Rcode::FORMERR, out);
        }
        if frame.edns.is_some_and(|edns| edns.version > 0) {
            return self.error_reply(&frame, Rcode::BADVERS, out);
        }
        // RFC 7828 §3.2.1: a query's edns-tcp-keepalive carries no timeout.
        if request.transport == Transport::Tcp && frame.edns.and_then(|e| e.tcp_keepalive).is_some_and(|data| !data.is_empty()) {
            return self.error_reply(&frame, Rcode::FORMERR, out);
        }
        let Some(question) = question else { return self.error_reply(&frame, Rcode::FORMERR, out) };
        self.route(&frame, &question, request.transport, out)
    }

    /// Picks the answer for a well-formed query.
    fn route(&self, frame: &ReplyFrame<'_>, question: &Question, transport: Transport, out: &mut [u8]) -> Outcome {
        if matches!(question.qtype, Rtype::OPT | Rtype::TSIG | Rtype::TKEY) || question.qtype.0 == 0 {
            return self.error_reply(frame, Rcode::FORMERR, out);
        }
        match question.qclass {
            Class::IN | Class::ANY => {}
            Class::CH => return self.chaos(frame, question, out),
            _ => return self.error_reply(frame, Rcode::REFUSED, out),
        }
        let Some(zone) = self.zones.closest(&question.qname) else { return self.error_reply(frame, Rcode::REFUSED, out) };
        if matches!(question.qtype, Rtype::AXFR | Rtype::IXFR) {
            return self.error_reply(frame, Rcode::REFUSED, out);
        }
        let Some(mut writer) = self.start_reply(frame, out) else { return Outcome::Drop(DropReason::NoBuffer) };
        let options = AnswerOptions { minimal_responses: self.settings.minimal_responses, minimal_any: transport == Transport::Udp };
        let kind = write_answer(zone, &question.qname, question.qtype, options, &mut writer);
        self.counters.answer(kind);
        Outcome::Reply(self.finish(frame, writer, Rcode::NOERROR))
    }

    /// CHAOS-class identity queries: answered only when configured.
    fn chaos(&self, frame: &ReplyFrame<'_>, question: &Question, out: &mut [u8]) -> Outcome {
        let lower = question.qname.to_lowercase();
        let text = match lower.as_wire() {
            b"\x07version\x04bind\x00" | b"\x07version\x06server\x00" => self.settings.version.as_deref(),
            b"\x02id\x06server\x00" | b"\x08hostname\x04bind\x00" => self.settings.identity.as_deref(),
            _ => None,
        };
        let Some(text) = text else { return self.error_reply(frame, Rcode::REFUSED, out) };
        let Some(mut writer) = self.start_reply(frame, out) else { return Outcome::Drop(DropReason::NoBuffer) };
        writer.set_aa(true);
        if matches!(question.qtype, Rtype::TXT | Rtype::ANY) {
            let bytes = text.as_bytes();
            let mut rdata = [0u8; 256];
            let len = bytes.len().min(255);
            rdata[0] = len as u8;
            rdata[1..=len].copy_from_slice(&bytes[..len]);
            if writer.push(Section::Answer, &question.qname, Rtype::TXT, Class::CH, 0, &rdata[..=len]).is_err() {
                writer.set_tc(true);
            }
        }
        Outcome::Reply(self.finish(frame, writer, Rcode::NOERROR))
    }

    /// FORMERR for a message that did not parse: the question only if it parsed cleanly.
    fn form_error(&self, request: &Request<'_>, header: Header<'_>, out: &mut [u8]) -> Outcome {
        let question = if header.qdcount() == 1 { read_question(request.bytes, 12).ok().map(|(q, _)| q) } else { None };
        let limit = self.reply_limit(request.transport, None);
        let frame = ReplyFrame { header, question, edns: None, limit };
        self.error_reply(&frame, Rcode::FORMERR, out)
    }

    fn error_reply(&self, frame: &ReplyFrame<'_>, rcode: Rcode, out: &mut [u8]) -> Outcome {
        let Some(writer) = self.start_reply(frame, out) else { return Outcome::Drop(DropReason::NoBuffer) };
        Outcome::Reply(self.finish(frame, writer, rcode))
    }

    /// Header and question of the reply, with room kept for the OPT record.
    fn start_reply<'o>(&self, frame: &ReplyFrame<'_>, out: &'o mut [u8]) -> Option<MessageWriter<'o>> {
        let mut writer = MessageWriter::new(out, frame.limit).ok()?;
        let query = Flags::from_header(frame.header);
        let flags = Flags { qr: true, opcode: query.opcode, rd: query.rd, cd: query.cd, ..Flags::default() };
        writer.set_header(frame.header.id(), flags);
        if let Some(question) = &frame.question {
            if writer.push_question(&question.qname, question.qtype, question.qclass).is_err() {
                writer.set_tc(true);
            }
        }
        writer.set_limit(frame.limit.saturating_sub(self.opt_len(frame.edns)));
        Some(writer)
    }

    /// Sets the rcode, appends OPT when the query had one, and returns the length.
    fn finish(&self, frame: &ReplyFrame<'_>, mut writer: MessageWriter<'_>, rcode: Rcode) -> usize {
        if rcode != Rcode::NOERROR {
            writer.set_rcode(rcode);
        }
        if let Some(edns) = frame.edns {
            let rcode = if rcode == Rcode::BADVERS { rcode } else { Rcode::NOERROR };
            let nsid = self.settings.nsid.as_deref().filter(|_| edns.nsid);
            let options: &[(u16, &[u8])] = match nsid {
                Some(nsid) => &[(code::NSID, nsid)],
                None => &[],
            };
            writer.set_limit(frame.limit);
            if writer.push_opt(self.settings.udp_payload, rcode, edns.dnssec_ok, options).is_err() {
                writer.set_tc(true);
            }
        }
        writer.finish()
    }

    /// Largest reply for this transport and client (RFC 6891 §6.2.3-6.2.5).
    fn reply_limit(&self, transport: Transport, edns: Option<Edns<'_>>) -> usize {
        match (transport, edns) {
            (Transport::Tcp, _) => 65_535,
            (Transport::Udp, None) => usize::from(MIN_UDP_PAYLOAD),
            (Transport::Udp, Some(edns)) => usize::from(edns.udp_size.clamp(MIN_UDP_PAYLOAD, self.settings.udp_payload.max(MIN_UDP_PAYLOAD))),
        }
    }

    fn opt_len(&self, edns: Option<Edns<'_>>) -> usize {
        match edns {
            None => 0,
            Some(edns) => 11 + self.settings.nsid.as_ref().filter(|_| edns.nsid).map_or(0, |n| 4 + n.len()),
        }
    }

    fn count_rcode(&self, reply: &[u8]) {
        if let Some(byte) = reply.get(3) {
            self.counters.rcode(u16::from(byte & 0x0F));
        }
    }
}

/// The lower-cased qname is a valid key; used by tests and callers that build questions.
pub fn question(qname: &str, qtype: Rtype) -> Option<Question> {
    let qname = NameBuf::from_text(qname, None).ok()?;
    Some(Question { qname, qtype, qclass: Class::IN })
}
