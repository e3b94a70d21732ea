//! Validation of a [`Forwarding`]'s answer (issue 14): the same [`Validation`] as for iterative
//! resolution, its DS and DNSKEY lookups asked of the same upstream group (RD=1, DO=1), one
//! after the other, by the forwarding itself (its question changes for each lookup and comes
//! back to the client's at the end). A lookup the group cannot answer ends the forwarding in
//! SERVFAIL like any failed question.

use super::forward::Forwarding;
use super::upstreams::UpstreamGroup;
use super::validate::{Context, Fetched, Progress, Validation};
use super::Resolved;
use crate::base::Instant;
use crate::cache::{Cache, Rrset, Security};
use portcullis_wire::message::Question;

/// The validation state of a forwarding.
pub struct Check {
    /// Answers are validated (the zone's `dnssec-validation` and an anchor to start from).
    pub validating: bool,
    /// The answer being validated while its lookups are asked.
    validation: Option<Validation>,
    /// The client's question while a lookup is asked.
    client: Option<Question>,
    /// Wall-clock seconds at `started`.
    unix_at_start: u64,
    started: Instant,
    /// The signature checks this question may still spend (KeyTrap).
    budget: super::validate::verify::Budget,
}

impl Check {
    /// Not validating, started at `now`.
    pub fn new(now: Instant) -> Self {
        Self { validating: false, validation: None, client: None, unix_at_start: 0, started: now, budget: Default::default() }
    }

    /// The client's question while a lookup is asked.
    pub fn client(&self) -> Option<&Question> {
        self.client.as_ref()
    }

    /// Gives up the validation under way, if any ([`Validation::abandon`]).
    pub(super) fn abandon(&mut self, cache: &Cache, now: Instant) {
        if let Some(validation) = self.validation.take() {
            validation.abandon(cache, now);
        }
    }
}

impl Forwarding {
    /// Validates the answers when `validate` (the zone's setting) and validation is on with a
    /// trust anchor that applies; `unix` is the wall-clock time (seconds since the epoch) at the
    /// start. As for recursion, the built-in root anchors apply only while the root hints are
    /// IANA's: a resolver given a root of its own lives in a private tree, its upstreams
    /// included, where IANA's keys would make every answer bogus; configured anchors always
    /// apply, and names no anchor covers are insecure.
    pub fn with_validation(mut self, validate: bool, unix: u64) -> Self {
        self.check.validating = validate && self.settings().validates();
        self.check.unix_at_start = unix;
        self
    }

    /// Takes an answer of the group: the client's starts the validation, a lookup's feeds it;
    /// then the next lookup is asked, or the forwarding ends.
    pub(super) fn validate(&mut self, resolved: Resolved, proofs: Vec<Rrset>, cache: &Cache, now: Instant, group: &mut UpstreamGroup) {
        let unix = self.check.unix_at_start + now.as_millis().saturating_sub(self.check.started.as_millis()) / 1000;
        let settings = self.settings().dnssec.clone();
        let context = Context { cache, settings: &settings, anchors_apply: true, now, unix, budget: self.check.budget.clone() };
        let question = self.asking();
        let validation = match self.check.validation.take() {
            None => Validation::new(resolved.rcode, resolved.answer, resolved.authority, proofs, question.qname, question.qtype, question.qclass),
            Some(mut validation) => {
                let fetched = Fetched { rcode: Some(resolved.rcode), chain: resolved.answer, authority: resolved.authority, proofs };
                validation.learn(&fetched, &context);
                validation
            }
        };
        let validation = self.check.validation.insert(validation);
        match validation.step(&context) {
            Progress::Need(lookup) => {
                let (qname, qtype) = lookup.question();
                self.check.client.get_or_insert(question);
                self.restart(Question { qname, qtype, qclass: question.qclass }, group);
            }
            Progress::Done(security, bogus) => {
                let Some(validation) = self.check.validation.take() else { return };
                if let Some(client) = self.check.client.take() {
                    self.restart(client, group);
                }
                let queries = self.upstream_queries();
                let resolved = Resolved {
                    answer: validation.answer,
                    authority: validation.authority,
                    proofs: validation.proofs,
                    security,
                    notice: bogus.as_ref().filter(|_| security != Security::Bogus).map(|reason| reason.ede),
                    bogus: bogus.filter(|_| security == Security::Bogus),
                    ..Resolved::empty(validation.rcode, None, queries)
                };
                self.finish_later(resolved, group);
            }
        }
    }
}
