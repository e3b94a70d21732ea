//! TSIG-signed requests in the query pipeline (RFC 8945; the checks and MACs are
//! [`crate::policy::tsig`]). A signed request is checked before anything else is decided, so that
//! an unverified one learns nothing but the TSIG error; a verified one gets every answer signed
//! with the same key, the room for the TSIG record kept free while the answer is written. The
//! signer is boxed: an unsigned request (nearly all of them) then moves a null pointer, not the
//! key and its MAC state. A request that arrives is checked against the replay cache
//! ([`crate::policy::Keyring::first_use`]); the same request answered again later (a finished
//! resolution) is not.

use super::{dropped, Answered, Engine, Query};
use crate::policy::tsig::{Checked, Signer};
use crate::policy::ResponseKind;
use crate::reply::ReplyFrame;
use crate::request::{DropReason, Outcome, Request};
use portcullis_wire::message::Message;
use portcullis_wire::tsig::{self, Tsig};
use portcullis_wire::Rcode;

/// Whether the request has just arrived (its TSIG is checked against the replay cache and
/// recorded) or is answered again after [`Engine::handle`] checked it (a finished resolution,
/// answered with RA=1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TsigUse {
    Arrived,
    Reanswered,
}

/// What the check of a request's TSIG decided.
pub(super) enum TsigVerdict {
    /// No TSIG record: answer as usual, unsigned.
    Unsigned,
    /// Verified: answer as usual and sign the answer (the frame keeps room for the record).
    Verified(Box<Signer>),
    /// This is the whole answer (FORMERR, or NOTAUTH with a TSIG error), signed by the signer
    /// when there is one (BADTRUNC, BADTIME), unsigned otherwise (BADKEY, BADSIG).
    Reply(Answered, Option<Box<Signer>>),
}

impl Engine {
    /// The request's TSIG, checked (a verified one takes the room for its signature off the
    /// frame and names its key in `query`; [`Engine::sign_reply`] signs the answer): FORMERR
    /// for a TSIG record that cannot be read or a MAC of a bad length, NOTAUTH with an unsigned
    /// BADKEY or BADSIG record, NOTAUTH signed with BADTRUNC or BADTIME (a replay of a request
    /// that `usage` says has just arrived is BADTIME too).
    #[inline]
    pub(super) fn check_tsig(&self, message: &Message<'_>, query: &mut Query<'_>, request: &Request<'_>, usage: TsigUse, out: &mut [u8]) -> TsigVerdict {
        match message.tsig_offset() {
            None => TsigVerdict::Unsigned,
            Some(offset) => self.check_signed(message, offset, query, (request, usage), out),
        }
    }

    /// [`Engine::check_tsig`] for a request with a TSIG record at `offset`.
    #[cold]
    #[inline(never)]
    fn check_signed(
        &self,
        message: &Message<'_>,
        offset: usize,
        query: &mut Query<'_>,
        (request, usage): (&Request<'_>, TsigUse),
        out: &mut [u8],
    ) -> TsigVerdict {
        let Ok(record) = Tsig::parse(message.bytes(), offset) else { return TsigVerdict::Reply(self.error_reply(&query.frame, Rcode::FORMERR, out), None) };
        match self.policy.keys.check(message.bytes(), offset, &record, request.unix_secs) {
            Checked::FormErr => TsigVerdict::Reply(self.error_reply(&query.frame, Rcode::FORMERR, out), None),
            Checked::Unsigned(error) => TsigVerdict::Reply(self.unsigned_error(&query.frame, &record, error, out), None),
            Checked::Signed(mut signer) => {
                if signer.error == 0 && usage == TsigUse::Arrived && !self.policy.keys.first_use(&record, request.unix_secs) {
                    // Seen before within its window (row 49): refused as out of its time.
                    signer.error = tsig::error::BADTIME;
                }
                query.frame.reserve(signer.record_len());
                query.key = u16::try_from(signer.key_index()).ok();
                if signer.error != 0 {
                    return TsigVerdict::Reply(self.error_reply(&query.frame, Rcode::NOTAUTH, out), Some(signer));
                }
                TsigVerdict::Verified(signer)
            }
        }
    }

    /// Signs the answer to a verified request; an answer that cannot take the signature (never,
    /// with the room kept) is dropped rather than sent unsigned.
    #[inline]
    pub(super) fn sign_reply(&self, signer: Option<Box<Signer>>, outcome: Outcome, request: &Request<'_>, out: &mut [u8]) -> Outcome {
        match signer {
            None => outcome,
            Some(signer) => self.sign_outcome(signer, outcome, request, out),
        }
    }

    #[cold]
    #[inline(never)]
    fn sign_outcome(&self, mut signer: Box<Signer>, outcome: Outcome, request: &Request<'_>, out: &mut [u8]) -> Outcome {
        match outcome {
            Outcome::Reply(len) => signer.sign(out, len, request.unix_secs).map_or(Outcome::Drop(DropReason::NoBuffer), Outcome::Reply),
            Outcome::ReplyAndPrefetch(len) => signer.sign(out, len, request.unix_secs).map_or(Outcome::Drop(DropReason::NoBuffer), Outcome::ReplyAndPrefetch),
            other => other,
        }
    }

    /// The verified TSIG key of `query`, for the ACL's `key` elements.
    pub(super) fn request_key(&self, query: &Query<'_>) -> Option<&portcullis_wire::NameBuf> {
        query.key.and_then(|index| self.policy.keys.name_at(usize::from(index)))
    }

    /// NOTAUTH with an unsigned TSIG record carrying `error` (RFC 8945 §5.3.2): the request's
    /// algorithm, time, fudge and ID, no MAC.
    fn unsigned_error(&self, frame: &ReplyFrame<'_>, record: &Tsig<'_>, error: u16, out: &mut [u8]) -> Answered {
        let Some(mut writer) = frame.writer(out) else { return dropped(DropReason::NoBuffer) };
        frame.begin(&mut writer, &self.settings);
        frame.close(&mut writer, Rcode::NOTAUTH, &self.settings);
        let mut rdata = [0u8; tsig::ERROR_RDATA_MAX];
        let len = record.error_rdata(error, &mut rdata);
        if writer.push_tsig(&record.key, &rdata[..len]).is_err() {
            writer.set_tc(true);
        }
        Answered { outcome: Outcome::Reply(writer.finish()), kind: ResponseKind::Error, name_hash: 0 }
    }
}
