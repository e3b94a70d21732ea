//! The validation phase of a [`Resolution`]: once the client's frame has its answer, the
//! resolution validates it ([`Validation`]), pushing a frame for each DS or DNSKEY RRset the
//! chain of trust lacks; each such frame is resolved like any other (cache, delegations,
//! referrals, the same budgets) and its end is handed to the validation instead of ending the
//! resolution.

use super::process::{lowercase_owner, Frame, FrameEnd};
use super::resolution::{Next, Resolution};
use super::validate::Lookup;
use super::validate::{Context, Fetched, Progress, Validation};
use super::{Failure, Resolved};
use crate::base::Instant;
use crate::cache::{Cache, Rrset, Security, Trust};
use portcullis_wire::{NameBuf, Rcode};

/// A copy of `frame` to ask again when its answer proves bogus: a frame answered by one server
/// without crossing zones.
fn retry_frame(frame: &Frame) -> Option<Frame> {
    (frame.links == 0 && frame.answered_by.is_some() && frame.delegation.is_some()).then(|| frame.clone())
}

/// `frame` ready to ask its zone's next server, the one whose answer was bogus marked as
/// failed; `None` when no server or NS name is left.
fn elsewhere(mut frame: Frame) -> Option<Frame> {
    let server = frame.answered_by?;
    let delegation = frame.delegation.as_mut()?;
    delegation.mark_failed(server, false);
    if delegation.exhausted() {
        return None;
    }
    frame.chain.clear();
    frame.proofs.clear();
    Some(frame)
}

/// Most times bogus data is asked again of another server.
const MAX_BOGUS_RETRIES: u32 = 4;

/// Most referrals whose DS facts a resolution keeps.
const MAX_REFERRAL_DS: usize = 32;

impl Resolution {
    /// Takes the end of the bottom frame: the client's answer starts a validation, a lookup's
    /// answer feeds it. `None` when the frame's end is not the validation's business (a failed
    /// client frame).
    pub(super) fn validate_frame(&mut self, frame: Frame, end: &FrameEnd, cache: &Cache, now: Instant) -> Option<Next> {
        let settings = self.settings.clone();
        let context = Context { cache, settings: &settings.dnssec, anchors_apply: self.validating, now, unix: self.unix_at(now), budget: self.budget.clone() };
        match (self.validation.as_mut(), end) {
            (None, FrameEnd::Answered(rcode, authority)) => {
                self.retry = retry_frame(&frame);
                let answer = frame.chain.into_iter().map(lowercase_owner).collect();
                let validation = Validation::new(*rcode, answer, authority.clone(), frame.proofs, frame.qname, frame.qtype, frame.qclass);
                self.validation = Some(validation);
            }
            // A retry after bogus data failed: the bogus answer stands.
            (None, FrameEnd::Failed(_)) => return self.bogus_result.take().map(Next::Done),
            (Some(_), FrameEnd::Failed(failure @ (Failure::QueryLimit | Failure::ReferralLimit | Failure::Deadline))) => {
                return Some(Next::Done(self.abort(*failure, cache, now)));
            }
            (Some(validation), end) => {
                let again = retry_frame(&frame);
                let fetched = match end {
                    FrameEnd::Answered(rcode, authority) => {
                        Fetched { rcode: Some(*rcode), chain: frame.chain, authority: authority.clone(), proofs: frame.proofs }
                    }
                    FrameEnd::Failed(_) => Fetched::default(),
                };
                // A bogus DS or DNSKEY RRset from one server: another server is asked.
                if let (Some(lookup), Some(frame)) = (validation.learn(&fetched, &context), again) {
                    if self.bogus_retries < MAX_BOGUS_RETRIES {
                        if let Some(frame) = elsewhere(frame) {
                            self.bogus_retries += 1;
                            validation.ask_again(lookup, &context);
                            self.frames.push(frame);
                            return Some(Next::Continue);
                        }
                    }
                }
            }
        }
        Some(self.continue_validation(&context))
    }

    /// Answers the top frame from validated NSEC records (RFC 8198) when they prove its name
    /// absent or without the type: the denial is cached as secure, its proofs kept for DO=1.
    /// Not for NS-address frames or names under a negative trust anchor.
    pub(super) fn synthesise(&mut self, cache: &Cache, now: Instant) -> Option<FrameEnd> {
        let negative = |name: &NameBuf| self.settings.dnssec.negative(name);
        let frame = self.frames.last()?;
        if !self.validating || frame.for_address || negative(&frame.qname) {
            return None;
        }
        let synthesised = cache.nsec.synthesise(&frame.qname, frame.qtype, now)?;
        let frame = self.frames.last_mut()?;
        let rtype = (synthesised.rcode == Rcode::NOERROR).then_some(frame.qtype);
        let denial = (Some(&synthesised.soa), &synthesised.proofs[..]);
        cache.insert_denial(&frame.qname, rtype, frame.qclass, denial, Trust::AuthAuthority, (Security::Secure, 0), now);
        frame.proofs = synthesised.proofs;
        Some(FrameEnd::Answered(synthesised.rcode, vec![synthesised.soa]))
    }

    /// Bogus data: the client's frame is asked again of another server of its zone, at most
    /// [`MAX_BOGUS_RETRIES`] times (RFC 4035 §5.5; Unbound's blacklisting of the server). False
    /// when no other server is left.
    fn retry_elsewhere(&mut self, bogus: &Resolved) -> bool {
        if self.bogus_retries >= MAX_BOGUS_RETRIES {
            return false;
        }
        let Some(frame) = self.retry.take().and_then(elsewhere) else { return false };
        self.bogus_retries += 1;
        self.frames.push(frame);
        self.bogus_result = Some(bogus.clone());
        true
    }

    /// Keeps what a referral to `zone` said about its DS (at most [`MAX_REFERRAL_DS`]).
    pub(super) fn note_referral(&mut self, zone: &NameBuf, ds: Option<Rrset>, proofs: Vec<Rrset>) {
        if self.referral_ds.len() >= MAX_REFERRAL_DS || (ds.is_none() && proofs.is_empty()) {
            return;
        }
        let fetched = Fetched { rcode: Some(Rcode::NOERROR), chain: ds.into_iter().collect(), authority: Vec::new(), proofs };
        self.referral_ds.retain(|(name, _)| name != zone);
        self.referral_ds.push((zone.to_lowercase(), fetched));
    }

    /// Steps the validation: one more lookup frame, or the end of the resolution. A DS that a
    /// referral already gave (or denied) is taken from there.
    fn continue_validation(&mut self, context: &Context<'_>) -> Next {
        let Some(validation) = self.validation.as_mut() else { return Next::Continue };
        let mut progress = validation.step(context);
        for _ in 0..MAX_REFERRAL_DS {
            let Progress::Need(Lookup::Ds(name)) = &progress else { break };
            let Some(index) = self.referral_ds.iter().position(|(zone, _)| zone == name) else { break };
            let (_, fetched) = self.referral_ds.swap_remove(index);
            if let Some(lookup) = validation.learn(&fetched, context) {
                // A bogus DS in a referral: asked of the parent's servers instead.
                validation.ask_again(lookup, context);
                progress = Progress::Need(lookup);
                break;
            }
            progress = validation.step(context);
        }
        match progress {
            Progress::Need(lookup) => {
                let (name, rtype) = lookup.question();
                self.frames.push(Frame::new(name, rtype, self.question.qclass, false));
                Next::Continue
            }
            Progress::Done(security, bogus) => {
                let Some(validation) = self.validation.take() else { return Next::Continue };
                let resolved = Resolved {
                    answer: validation.answer,
                    authority: validation.authority,
                    proofs: validation.proofs,
                    security,
                    notice: bogus.as_ref().filter(|_| security != Security::Bogus).map(|reason| reason.ede),
                    bogus: bogus.filter(|_| security == Security::Bogus),
                    ..Resolved::empty(validation.rcode, None, self.queries)
                };
                if security == Security::Bogus && self.retry_elsewhere(&resolved) {
                    return Next::Continue;
                }
                self.retry = None;
                Next::Done(resolved)
            }
        }
    }
}
