//! TSIG on the requesting side (RFC 8945 §5.1, §5.3.1): a secondary signs its SOA queries and
//! transfer requests with a key ([`sign_request`]) and checks every answer with the
//! [`Verifier`] that signing returns.
//!
//! - The first answer message must be signed; its MAC covers our request's MAC, the message and
//!   the TSIG variables.
//! - In a transfer, up to 99 messages may come unsigned between signed ones; a signed message's
//!   MAC covers the previous MAC, every message since it and the timers (§5.3.1). The transfer
//!   must end on a signed message ([`Verifier::ended_signed`]).
//! - A TSIG error in an answer, another key, or a time off by more than the fudge fails it.

use super::tsig::{mac_matches, tsig_record, update_message, update_timers, update_variables, TsigKey, FUDGE};
use portcullis_wire::message::Message;
use portcullis_wire::tsig::Tsig;
use ring::hmac;

/// Unsigned messages allowed in a row (RFC 8945 §5.3.1).
pub const MAX_UNSIGNED: u32 = 99;

/// Appends a TSIG record for `key` to the finished request `message`, signed at `now`, and
/// returns the verifier of its answers.
pub fn sign_request(key: &TsigKey, message: &mut Vec<u8>, now: u64) -> Verifier {
    let id = message.get(..2).map_or(0, |id| u16::from_be_bytes([id[0], id[1]]));
    let mut context = hmac::Context::with_key(key.hmac());
    update_message(&mut context, message, id, false);
    update_variables(&mut context, key, now, FUDGE, 0, &[]);
    let mac = context.sign();
    message.extend_from_slice(&tsig_record(key, now, mac.as_ref(), id, 0, &[]));
    if message.len() >= 12 {
        let arcount = u16::from_be_bytes([message[10], message[11]]).saturating_add(1);
        message[10..12].copy_from_slice(&arcount.to_be_bytes());
    }
    Verifier { key: key.clone(), running: None, prior: mac.as_ref().to_vec(), first: true, unsigned: 0 }
}

/// Checks the answers to one signed request, message by message.
pub struct Verifier {
    key: TsigKey,
    /// The digest of the unsigned messages since the last signed one.
    running: Option<hmac::Context>,
    prior: Vec<u8>,
    first: bool,
    unsigned: u32,
}

impl Verifier {
    /// Checks the next answer message at `now`; an error says why it fails.
    pub fn verify(&mut self, message: &[u8], now: u64) -> Result<(), String> {
        let parsed = Message::parse(message).map_err(|e| format!("malformed answer: {e}"))?;
        let Some(offset) = parsed.tsig_offset() else {
            if self.first {
                return Err("the answer is not signed".into());
            }
            self.unsigned += 1;
            if self.unsigned > MAX_UNSIGNED {
                return Err(format!("more than {MAX_UNSIGNED} unsigned messages in a row"));
            }
            self.context().update(message);
            return Ok(());
        };
        let record = Tsig::parse(message, offset).map_err(|e| format!("unreadable TSIG: {e}"))?;
        if !record.key.as_wire().eq_ignore_ascii_case(self.key.name().as_wire()) || record.algorithm != self.key.algorithm().name() {
            return Err(format!("signed with key {} {}, not ours", record.key, record.algorithm));
        }
        if record.error != 0 {
            return Err(format!("TSIG error {} from the server", record.error));
        }
        if !self.key.algorithm().accepts_mac_len(record.mac.len()) {
            return Err(format!("a MAC of {} octets", record.mac.len()));
        }
        let mut context = self.context().clone();
        update_message(&mut context, &message[..offset], record.original_id, true);
        if self.first {
            update_variables(&mut context, &self.key, record.time_signed, record.fudge, record.error, record.other);
        } else {
            update_timers(&mut context, record.time_signed, record.fudge);
        }
        if !mac_matches(context.sign().as_ref(), record.mac) {
            return Err("the answer's MAC does not verify".into());
        }
        if now.abs_diff(record.time_signed) > u64::from(record.fudge) {
            return Err("the answer was signed outside its time window".into());
        }
        self.prior = record.mac.to_vec();
        self.running = None;
        self.first = false;
        self.unsigned = 0;
        Ok(())
    }

    /// True when the last message checked was signed (a transfer must end so).
    pub fn ended_signed(&self) -> bool {
        !self.first && self.unsigned == 0
    }

    /// The digest so far: the prior MAC (with its length), then any unsigned messages.
    fn context(&mut self) -> &mut hmac::Context {
        let (key, prior) = (&self.key, &self.prior);
        self.running.get_or_insert_with(|| {
            let mut context = hmac::Context::with_key(key.hmac());
            context.update(&(prior.len() as u16).to_be_bytes());
            context.update(prior);
            context
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::tsig::{Algorithm, Checked, Keyring};
    use portcullis_wire::NameBuf;

    const NOW: u64 = 1_796_000_000;

    fn key(secret: &[u8]) -> TsigKey {
        TsigKey::new(&NameBuf::from_text("xfr.", None).unwrap(), Algorithm::HmacSha256, secret)
    }

    fn query() -> Vec<u8> {
        let mut bytes = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        bytes.extend_from_slice(NameBuf::from_text("example.", None).unwrap().as_wire());
        bytes.extend_from_slice(&[0, 252, 0, 1]);
        bytes
    }

    /// The server side signs `count` answers: every one, or (`every` > 1) every `every`-th and
    /// the last, each signed MAC then covering the unsigned messages before it (§5.3.1).
    fn answers(request: &[u8], count: usize, every: usize) -> Vec<Vec<u8>> {
        let keyring = Keyring::new(vec![key(b"secret")]);
        let message = Message::parse(request).unwrap();
        let offset = message.tsig_offset().unwrap();
        let Checked::Signed(mut signer) = keyring.check(request, offset, &Tsig::parse(request, offset).unwrap(), NOW) else { panic!("verified") };
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut prior: Vec<u8> = Vec::new();
        let mut skipped: Vec<Vec<u8>> = Vec::new();
        for n in 0..count {
            let mut answer = request[..offset].to_vec();
            answer[2] |= 0x84;
            answer[11] = 0;
            if n == 0 {
                let len = answer.len();
                answer.resize(len + signer.record_len(), 0);
                signer.sign(&mut answer, len, NOW).unwrap();
                prior = Tsig::parse(&answer, len).unwrap().mac.to_vec();
            } else if n % every == 0 || n + 1 == count {
                let mut context = hmac::Context::with_key(key(b"secret").hmac());
                context.update(&(prior.len() as u16).to_be_bytes());
                context.update(&prior);
                for message in skipped.drain(..) {
                    context.update(&message);
                }
                update_message(&mut context, &answer, 0x1234, false);
                update_timers(&mut context, NOW, FUDGE);
                let mac = context.sign();
                prior = mac.as_ref().to_vec();
                answer.extend_from_slice(&tsig_record(&key(b"secret"), NOW, mac.as_ref(), 0x1234, 0, &[]));
                answer[11] = 1;
            } else {
                skipped.push(answer.clone());
            }
            out.push(answer);
        }
        out
    }

    #[test]
    fn our_server_side_answers_verify_signed_every_time_or_every_few_messages() {
        for every in [1, 3] {
            let mut request = query();
            let mut verifier = sign_request(&key(b"secret"), &mut request, NOW);
            let stream = answers(&request, 7, every);
            for answer in &stream {
                verifier.verify(answer, NOW).unwrap_or_else(|e| panic!("every {every}: {e}"));
            }
            assert!(verifier.ended_signed(), "every {every}");
            // Without the last message, a transfer signed every 3rd ends unsigned.
            let mut request = query();
            let mut verifier = sign_request(&key(b"secret"), &mut request, NOW);
            let cut = answers(&request, 7, every);
            for answer in &cut[..5] {
                verifier.verify(answer, NOW).unwrap_or_else(|e| panic!("every {every}: {e}"));
            }
            assert_eq!(verifier.ended_signed(), every == 1, "every {every}");
        }
    }

    #[test]
    fn a_wrong_key_a_changed_message_or_no_signature_fails() {
        let mut request = query();
        let mut verifier = sign_request(&key(b"other secret"), &mut request, NOW);
        // The server (with "secret") cannot verify our request: its check says BADSIG.
        let keyring = Keyring::new(vec![key(b"secret")]);
        let offset = Message::parse(&request).unwrap().tsig_offset().unwrap();
        assert!(matches!(keyring.check(&request, offset, &Tsig::parse(&request, offset).unwrap(), NOW), Checked::Unsigned(16)));
        let mut request = query();
        let mut good = sign_request(&key(b"secret"), &mut request, NOW);
        let mut stream = answers(&request, 2, 1);
        stream[1][3] ^= 1;
        good.verify(&stream[0], NOW).unwrap();
        assert!(good.verify(&stream[1], NOW).is_err(), "a changed message");
        assert!(verifier.verify(&answers(&request, 1, 1)[0], NOW).is_err(), "another secret");
        let mut request = query();
        let mut unsigned_first = sign_request(&key(b"secret"), &mut request, NOW);
        assert_eq!(unsigned_first.verify(&query(), NOW).unwrap_err(), "the answer is not signed");
    }

    proptest::proptest! {
        /// Any bytes as answers: an error or a verification, never a panic.
        #[test]
        fn any_answers_are_checked_without_panic(answers in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..200), 1..5)) {
            let mut request = query();
            let mut verifier = sign_request(&key(b"secret"), &mut request, NOW);
            for answer in &answers {
                let _ = verifier.verify(answer, NOW);
            }
            let _ = crate::auth::receive::soa_answer_serial(&answers[0], &NameBuf::ROOT, 0x1234);
            let _ = crate::auth::notify::notify_reply(&answers[0], &request);
        }
    }

    #[test]
    fn a_late_answer_fails() {
        let mut request = query();
        let mut verifier = sign_request(&key(b"secret"), &mut request, NOW);
        let answer = &answers(&request, 1, 1)[0];
        assert_eq!(verifier.verify(answer, NOW + 301).unwrap_err(), "the answer was signed outside its time window");
    }
}
