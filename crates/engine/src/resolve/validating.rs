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

/// Most referrals whose DS facts a resolution keeps.
const MAX_REFERRAL_DS: usize = 32;

impl Resolution {
    /// Takes the end of the bottom frame: the client's answer starts a validation, a lookup's
    /// answer feeds it. `None` when the frame's end is not the validation's business (a failed
    /// client frame).
    pub(super) fn validate_frame(&mut self, frame: Frame, end: &FrameEnd, cache: &Cache, now: Instant) -> Option<Next> {
        let settings = self.settings.clone();
        let context = Context { cache, settings: &settings.dnssec, anchors_apply: self.validating, now, unix: self.unix_at(now) };
        match (self.validation.as_mut(), end) {
            (None, FrameEnd::Answered(rcode, authority)) => {
                let answer = frame.chain.into_iter().map(lowercase_owner).collect();
                let validation = Validation::new(*rcode, answer, authority.clone(), frame.proofs, frame.qname, frame.qtype, frame.qclass);
                self.validation = Some(validation);
            }
            (None, FrameEnd::Failed(_)) => return None,
            (Some(_), FrameEnd::Failed(failure @ (Failure::QueryLimit | Failure::ReferralLimit | Failure::Deadline))) => {
                return Some(Next::Done(self.abort(*failure, cache, now)));
            }
            (Some(validation), end) => {
                let fetched = match end {
                    FrameEnd::Answered(rcode, authority) => {
                        Fetched { rcode: Some(*rcode), chain: frame.chain, authority: authority.clone(), proofs: frame.proofs }
                    }
                    FrameEnd::Failed(_) => Fetched::default(),
                };
                validation.learn(&fetched, &context);
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
            validation.learn(&fetched, context);
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
                    bogus,
                    ..Resolved::empty(validation.rcode, None, self.queries)
                };
                Next::Done(resolved)
            }
        }
    }
}
