//! [`ReplyFrame`]: what a reply takes from its query (ID, flags, question, EDNS, cookie) and
//! the size it may grow to; starts the reply in a [`MessageWriter`] and finishes it with OPT
//! (and, for a TSIG error, the TSIG record after it).

use crate::settings::EngineSettings;
use crate::policy::{CookieAction, CookieStatus, ReplyCookie};
use portcullis_wire::edns::{code, Edns};
use portcullis_wire::header::{Flags, Header};
use portcullis_wire::message::Question;
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::Rcode;

/// Smallest UDP payload any client may be limited to (RFC 1035 §4.2.1, RFC 6891 §6.2.3).
pub const MIN_UDP_PAYLOAD: u16 = 512;

/// The parts of a reply decided before the answer is written.
#[derive(Clone, Copy)]
pub struct ReplyFrame<'q> {
    /// The query's header.
    pub header: Header<'q>,
    /// The question to echo, when it parsed and belongs in the reply.
    pub question: Option<Question>,
    /// The query's OPT record.
    pub edns: Option<Edns<'q>>,
    /// Largest reply.
    pub limit: usize,
    /// What the cookie check decided.
    pub cookie_action: CookieAction,
    /// The COOKIE option to send back.
    pub cookie: Option<ReplyCookie>,
    /// The client presented a valid server cookie.
    pub cookie_valid: bool,
    /// The query's cookie verdict (None without a COOKIE option or with cookies off).
    pub cookie_status: Option<CookieStatus>,
    /// Answer edns-tcp-keepalive with our idle timeout (RFC 7828 §3.3.2: TCP queries that ask).
    pub keepalive: bool,
    /// Recursion is available to this client: RA=1 on every reply (as BIND does).
    pub ra: bool,
    /// The request is signed with this TSIG key (its index in the keyring), verified.
    pub key: Option<u16>,
    /// Response rate limiting accounts this reply: RRL is on and the client is outside the
    /// recursion ACL.
    pub rate_limited: bool,
}

impl<'q> ReplyFrame<'q> {
    /// A frame for `header`; the limit is set by the caller.
    #[inline]
    pub fn new(header: Header<'q>, question: Option<Question>, edns: Option<Edns<'q>>) -> Self {
        Self {
            header,
            question,
            edns,
            limit: usize::from(MIN_UDP_PAYLOAD),
            cookie_action: CookieAction::Ignore,
            cookie: None,
            cookie_valid: false,
            cookie_status: None,
            keepalive: false,
            ra: false,
            key: None,
            rate_limited: false,
        }
    }

    /// Header and question of the reply, with room kept for the OPT record.
    #[inline]
    pub fn start<'o>(&self, out: &'o mut [u8], settings: &EngineSettings) -> Option<MessageWriter<'o>> {
        let mut writer = MessageWriter::new(out, self.limit).ok()?;
        let query = Flags::from_header(self.header);
        let flags = Flags { qr: true, opcode: query.opcode, rd: query.rd, cd: query.cd, ra: self.ra, ..Flags::default() };
        writer.set_header(self.header.id(), flags);
        if let Some(question) = &self.question {
            if writer.push_question(&question.qname, question.qtype, question.qclass).is_err() {
                writer.set_tc(true);
            }
        }
        writer.set_limit(self.limit.saturating_sub(self.opt_len(settings)));
        Some(writer)
    }

    /// Sets the rcode, appends OPT when the query had one, and returns the length.
    #[inline]
    pub fn finish(&self, mut writer: MessageWriter<'_>, rcode: Rcode, settings: &EngineSettings) -> usize {
        self.close(&mut writer, rcode, settings);
        writer.finish()
    }

    /// Sets the rcode and appends OPT when the query had one: only a TSIG record may follow.
    #[inline]
    pub fn close(&self, writer: &mut MessageWriter<'_>, rcode: Rcode, settings: &EngineSettings) {
        if rcode != Rcode::NOERROR {
            writer.set_rcode(rcode);
        }
        if let Some(edns) = self.edns {
            let nsid = settings.nsid.as_deref().filter(|_| edns.nsid);
            let mut options: [(u16, &[u8]); 3] = [(0, &[]); 3];
            let mut count = 0;
            let timeout = settings.tcp_keepalive.to_be_bytes();
            if self.keepalive {
                options[count] = (code::TCP_KEEPALIVE, &timeout);
                count += 1;
            }
            if let Some(nsid) = nsid {
                options[count] = (code::NSID, nsid);
                count += 1;
            }
            if let Some(cookie) = &self.cookie {
                options[count] = (code::COOKIE, cookie.as_bytes());
                count += 1;
            }
            writer.set_limit(self.limit);
            if writer.push_opt(settings.udp_payload, rcode, edns.dnssec_ok, &options[..count]).is_err() {
                writer.set_tc(true);
            }
        }
    }

    /// The minimal TC=1 reply a rate-limited answer slips as (SECURITY-REFERENCE §3.1).
    pub fn truncated(&self, out: &mut [u8], settings: &EngineSettings) -> Option<usize> {
        let mut writer = self.start(out, settings)?;
        writer.set_tc(true);
        writer.set_aa(false);
        Some(self.finish(writer, Rcode::NOERROR, settings))
    }

    fn opt_len(&self, settings: &EngineSettings) -> usize {
        let Some(edns) = self.edns else { return 0 };
        let nsid = settings.nsid.as_ref().filter(|_| edns.nsid).map_or(0, |n| 4 + n.len());
        let cookie = self.cookie.as_ref().map_or(0, |c| 4 + c.as_bytes().len());
        let keepalive = if self.keepalive { 6 } else { 0 };
        11 + nsid + cookie + keepalive
    }
}
