//! [`ReplyFrame`]: what a reply takes from its query (ID, flags, question, EDNS) and what the
//! pipeline decided about its shape (size limit, RA, keepalive, cookie); starts the reply in a
//! [`MessageWriter`] and closes it with OPT (a TSIG record may follow). The engine builds one
//! frame per query ([`Shape`]) and finishes every reply through it.

use crate::policy::ReplyCookie;
use crate::settings::EngineSettings;
use portcullis_wire::edns::{code, Edns};
use portcullis_wire::header::{Flags, Header};
use portcullis_wire::message::Question;
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::Rcode;

/// Smallest UDP payload any client may be limited to (RFC 1035 §4.2.1, RFC 6891 §6.2.3).
pub const MIN_UDP_PAYLOAD: u16 = 512;

/// What the pipeline decided about a reply before writing it.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Largest reply, in octets.
    pub limit: usize,
    /// RA=1 (recursion is available to this client, as BIND says on every reply).
    pub ra: bool,
    /// Answer edns-tcp-keepalive with our idle timeout (RFC 7828 §3.3.2: TCP queries that ask).
    pub keepalive: bool,
    /// The COOKIE option to send back.
    pub cookie: Option<ReplyCookie>,
    /// Pad the reply to a multiple of [`PADDING_BLOCK`] octets (RFC 8467 §4.1: an encrypted
    /// transport, and the query carried the PADDING option).
    pub pad: bool,
}

/// The block size of padded replies (RFC 8467 §4.1: the recommended 468 octets).
pub const PADDING_BLOCK: usize = 468;

/// The zeros a PADDING option carries (RFC 7830 §3: the octets should be 0x00).
static PADDING_ZEROS: [u8; PADDING_BLOCK] = [0; PADDING_BLOCK];

/// The parts of a reply decided before the answer is written.
#[derive(Clone, Copy)]
pub struct ReplyFrame<'q> {
    header: Header<'q>,
    question: Option<&'q Question>,
    /// Borrowed from the parsed query: copying it costs more than reading through it.
    edns: Option<&'q Edns<'q>>,
    shape: Shape,
}

impl<'q> ReplyFrame<'q> {
    /// A frame answering `header` (with `question` echoed, and OPT when the query had `edns`).
    /// The question is borrowed, not copied: a name is the largest part of a frame.
    #[inline]
    pub fn new(header: Header<'q>, question: Option<&'q Question>, edns: Option<&'q Edns<'q>>, shape: Shape) -> Self {
        Self { header, question, edns, shape }
    }

    /// The query's header.
    #[inline]
    pub fn header(&self) -> Header<'q> {
        self.header
    }

    /// The question the reply echoes.
    #[inline]
    pub fn question(&self) -> Option<&'q Question> {
        self.question
    }

    /// The query's OPT record.
    #[inline]
    pub fn edns(&self) -> Option<&'q Edns<'q>> {
        self.edns
    }

    /// True when the reply says RA=1.
    #[inline]
    pub fn ra(&self) -> bool {
        self.shape.ra
    }

    /// Keeps `octets` free at the end of every reply (a TSIG record's room).
    #[inline]
    pub fn reserve(&mut self, octets: usize) {
        self.shape.limit = self.shape.limit.saturating_sub(octets);
    }

    /// The same frame without the question (a FORMERR for a query with a bad QDCOUNT).
    pub fn without_question(&self) -> Self {
        Self { question: None, ..*self }
    }

    /// An empty writer for the reply, within its size limit; [`ReplyFrame::begin`] starts it.
    /// Two steps, so that the started writer (its compression table is a few hundred bytes)
    /// is not moved out of a function.
    #[inline]
    pub fn writer<'o>(&self, out: &'o mut [u8]) -> Option<MessageWriter<'o>> {
        MessageWriter::new(out, self.shape.limit).ok()
    }

    /// Writes the header and question into `writer` (from [`ReplyFrame::writer`]), and keeps
    /// room for the OPT record.
    #[inline]
    pub fn begin(&self, writer: &mut MessageWriter<'_>, settings: &EngineSettings) {
        let query = Flags::from_header(self.header);
        let flags = Flags { qr: true, opcode: query.opcode, rd: query.rd, cd: query.cd, ra: self.shape.ra, ..Flags::default() };
        writer.set_header(self.header.id(), flags);
        if let Some(question) = self.question {
            if writer.push_question(&question.qname, question.qtype, question.qclass).is_err() {
                writer.set_tc(true);
            }
        }
        writer.set_limit(self.shape.limit.saturating_sub(self.opt_len(settings)));
    }

    /// Sets the rcode, appends OPT when the query had one, and returns the length (the writer
    /// is borrowed, not moved: moving it copies its compression table).
    #[inline]
    pub fn finish(&self, writer: &mut MessageWriter<'_>, rcode: Rcode, settings: &EngineSettings) -> usize {
        self.close(writer, rcode, settings);
        writer.write_counts()
    }

    /// Sets the rcode and appends OPT when the query had one: only a TSIG record may follow.
    #[inline]
    pub fn close(&self, writer: &mut MessageWriter<'_>, rcode: Rcode, settings: &EngineSettings) {
        self.close_with(writer, rcode, settings, None);
    }

    /// [`ReplyFrame::finish`] with an Extended DNS Error option (RFC 8914: its info-code
    /// and UTF-8 text), when the query had OPT.
    #[inline]
    pub fn finish_with_ede(&self, writer: &mut MessageWriter<'_>, rcode: Rcode, settings: &EngineSettings, ede: Option<&[u8]>) -> usize {
        self.close_with(writer, rcode, settings, ede);
        writer.write_counts()
    }

    /// [`ReplyFrame::close`], with `ede` (the option's payload) when given.
    #[inline]
    fn close_with(&self, writer: &mut MessageWriter<'_>, rcode: Rcode, settings: &EngineSettings, ede: Option<&[u8]>) {
        if rcode != Rcode::NOERROR {
            writer.set_rcode(rcode);
        }
        if let Some(edns) = self.edns {
            let nsid = settings.nsid.as_deref().filter(|_| edns.nsid);
            let mut options: [(u16, &[u8]); 4] = [(0, &[]); 4];
            let mut count = 0;
            let timeout = settings.tcp_keepalive.to_be_bytes();
            if self.shape.keepalive {
                options[count] = (code::TCP_KEEPALIVE, &timeout);
                count += 1;
            }
            if let Some(nsid) = nsid {
                options[count] = (code::NSID, nsid);
                count += 1;
            }
            if let Some(cookie) = &self.shape.cookie {
                options[count] = (code::COOKIE, cookie.as_bytes());
                count += 1;
            }
            if let Some(ede) = ede {
                options[count] = (code::EDE, ede);
                count += 1;
            }
            writer.set_limit(self.shape.limit);
            if self.shape.pad {
                let unpadded = writer.len() + 11 + options[..count].iter().map(|(_, data)| 4 + data.len()).sum::<usize>() + 4;
                options[count] = (code::PADDING, &PADDING_ZEROS[..padding_len(unpadded, self.shape.limit)]);
                count += 1;
            }
            if writer.push_opt(settings.udp_payload, rcode, edns.dnssec_ok, &options[..count]).is_err() {
                writer.set_tc(true);
            }
        }
    }

    /// The minimal TC=1 reply a rate-limited answer slips as (SECURITY-REFERENCE §3.1).
    pub fn truncated(&self, out: &mut [u8], settings: &EngineSettings) -> Option<usize> {
        let mut writer = self.writer(out)?;
        self.begin(&mut writer, settings);
        writer.set_tc(true);
        writer.set_aa(false);
        Some(self.finish(&mut writer, Rcode::NOERROR, settings))
    }

    fn opt_len(&self, settings: &EngineSettings) -> usize {
        let pad = if self.shape.pad { 4 } else { 0 };
        let Some(edns) = self.edns else { return 0 };
        let nsid = settings.nsid.as_ref().filter(|_| edns.nsid).map_or(0, |n| 4 + n.len());
        let cookie = self.shape.cookie.as_ref().map_or(0, |c| 4 + c.as_bytes().len());
        let keepalive = if self.shape.keepalive { 6 } else { 0 };
        11 + nsid + cookie + keepalive + pad
    }
}

/// The padding octets that bring a reply of `unpadded` octets (the empty PADDING option
/// included) to the next multiple of [`PADDING_BLOCK`], or as near as `limit` allows.
fn padding_len(unpadded: usize, limit: usize) -> usize {
    let wanted = (PADDING_BLOCK - unpadded % PADDING_BLOCK) % PADDING_BLOCK;
    wanted.min(limit.saturating_sub(unpadded))
}

#[cfg(test)]
mod tests {
    use super::{padding_len, PADDING_BLOCK};
    use crate::auth::ZoneSet;
    use crate::{Engine, EngineSettings, Outcome, Request, Transport};
    use portcullis_wire::header::Flags;
    use portcullis_wire::writer::MessageWriter;
    use portcullis_wire::{Class, NameBuf, Rcode, Rtype};

    #[test]
    fn padding_fills_the_block_within_the_limit() {
        assert_eq!(padding_len(100, 65_535), PADDING_BLOCK - 100);
        assert_eq!(padding_len(PADDING_BLOCK, 65_535), 0);
        assert_eq!(padding_len(PADDING_BLOCK + 1, 65_535), PADDING_BLOCK - 1);
        assert_eq!(padding_len(100, 300), 200, "never past the limit");
    }

    /// A query for `example. A` with EDNS, and a PADDING option when `pad`.
    fn query(pad: bool) -> Vec<u8> {
        let mut buf = vec![0u8; 512];
        let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
        writer.set_header(1, Flags::default());
        writer.push_question(&NameBuf::from_text("example.", None).unwrap(), Rtype::A, Class::IN).unwrap();
        let options: &[(u16, &[u8])] = if pad { &[(12, &[])] } else { &[] };
        writer.push_opt(1232, Rcode::NOERROR, false, options).unwrap();
        let len = writer.finish();
        buf.truncate(len);
        buf
    }

    #[test]
    fn encrypted_transports_pad_the_replies_of_queries_that_ask_and_no_other() {
        let engine = Engine::new(ZoneSet::default(), EngineSettings::default(), std::sync::Arc::default());
        let mut out = vec![0u8; 65_535];
        let peer = ([127, 0, 0, 1], 5300).into();
        for transport in [Transport::Udp, Transport::Tcp, Transport::Tls, Transport::Https, Transport::Quic] {
            for pad in [false, true] {
                let bytes = query(pad);
                let Outcome::Reply(len) = engine.handle(&Request::at_zero(&bytes, peer, transport), &mut out) else { panic!("{transport:?}: no reply") };
                let padded = len % PADDING_BLOCK == 0;
                assert_eq!(padded, pad && transport.is_encrypted(), "{transport:?} pad={pad}: {len} octets");
            }
        }
    }
}
