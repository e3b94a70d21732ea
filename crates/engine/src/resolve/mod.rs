//! Iterative resolution from the root (RFC 1034 §5.3.3) as a sans-IO state machine (DESIGN
//! §5.10): [`Resolution`] says what to send and when it wants to be woken; the network driver
//! sends, receives and reads the clock.
//!
//! ```text
//! let mut resolution = Resolution::new(question, settings, now, random);
//! loop {
//!     match resolution.poll(now, &cache, &servers) {
//!         Step::Send(outbound) => send outbound.bytes to outbound.server over outbound.transport,
//!         Step::Wait(deadline) => wait for a reply (on_reply) or the deadline (on_timeout),
//!         Step::Done(resolved) => break resolved,   // write it with Resolved::write
//!     }
//! }
//! ```
//!
//! What the machine does (module by module):
//! - [`hints`]: the IANA root servers built in, and a parser for root-hints files.
//! - [`settings`]: the work limits of SECURITY-REFERENCE §7 (CNAME chain 11, 100 upstream queries
//!   never reset, 100 referrals, depth 7, 13 NS names per delegation, 5 failed NS-address lookups,
//!   10 s), QNAME minimisation (RFC 9156, relaxed by default), 0x20, do-not-query, rebinding.
//! - [`stats`]: per-server smoothed RTT, exponential back-off and hold-down (RFC 9520), unwanted
//!   reply counts that switch a server to TCP, remembered no-0x20 / no-EDNS servers.
//! - `query`: outgoing queries (random ID, 0x20 case, OPT) and the acceptance test of replies
//!   (RFC 5452 §9.1: address, port, ID, question with exact case).
//! - `scrub`: bailiwick scrubbing of every reply before caching (SECURITY-REFERENCE §3.7).
//! - `resolution`: the state machine: referrals and glue, NS names without glue resolved in
//!   nested sub-resolutions (loop detection, depth limit, NXNS limits), CNAME/DNAME chains across
//!   zones, TCP on TC (RFC 2181 §9, data of the truncated reply ignored), EDNS fallback on
//!   FORMERR/NOTIMP/timeouts (RFC 6891 §7), RFC 2308 negative caching, RFC 9520 failure caching;
//!   fallbacks for broken servers: a minimised query that times out is asked with type NS, then
//!   in full (RFC 9156 relaxed); parent-side glue as the last resort when the child's addresses
//!   fail; a cached delegation that needs glue, or whose servers failed an NS-name lookup, sends
//!   the question to the parent again.
//!
//! - [`upstreams`]: forwarding upstream groups (tiers, selection policies, passive health with
//!   fall/rise, probe scheduling, hedging delay, per-upstream counters; issue 5).
//! - [`forward`]: [`Forwarding`], a question sent with RD=1 to a group and the answer taken as
//!   given (matched and scrubbed to the question's chain), and the forward-zone table.
//! - [`validate`]: DNSSEC validation (trust anchors, RRSIG checks, NSEC/NSEC3 proofs, the chain
//!   of trust through the key cache); `validating` runs it at the end of a resolution, each DS
//!   or DNSKEY it needs resolved as one more frame, and `forward_validate` at the end of a
//!   forwarding, asking the same group.
//! - [`driver`]: [`Driven`], the one interface both machines offer a network driver (poll,
//!   on_reply, on_timeout, on_wake), each call borrowing a context ([`Shared`]: cache and server
//!   statistics; a forwarding's also its group's state, locked for the call).
//!
//! One query is in flight at a time per resolution (a forwarding may have two when hedging). Time ([`Instant`]) and randomness
//! ([`Random`]) are arguments; nothing here reads a clock, an RNG or a socket.

#![warn(missing_docs)]

pub mod driver;
pub mod forward;
mod forward_validate;
mod frame;
pub mod hints;
mod process;
mod query;
mod resolution;
mod scrub;
pub mod settings;
pub mod stats;
pub mod upstreams;
pub mod validate;
mod validating;
pub mod zone_rate;

pub use driver::{Driven, ForwardContext, Shared};
pub use forward::{ForwardMode, ForwardZones, Forwarding};
pub use resolution::Resolution;
pub use settings::ResolverSettings;
pub use stats::{ServerState, ServerStats};

use crate::base::Instant;
use crate::cache::{Rrset, Security};
use crate::Transport;
use portcullis_wire::header::HEADER_LEN;
use portcullis_wire::message::{Message, RawRecords, Section};
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::Rcode;
use std::net::SocketAddr;

pub use crate::base::{Random, SeededRandom};

/// Names one upstream query of a resolution; the driver hands it back with the reply or timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QueryId(pub u32);

/// A query to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outbound {
    /// Hand back to [`Resolution::on_reply`] / [`Resolution::on_timeout`].
    pub id: QueryId,
    /// Where to send it; replies are accepted only from exactly this address and port.
    pub server: SocketAddr,
    /// UDP, or TCP (with the RFC 1035 §4.2.2 length prefix added by the driver).
    pub transport: Transport,
    /// The DNS message.
    pub bytes: Vec<u8>,
    /// When the query times out.
    pub deadline: Instant,
}

/// What the driver should do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this query, then poll again.
    Send(Outbound),
    /// Wait for a reply or until this instant (then call `on_timeout` or poll).
    Wait(Instant),
    /// Finished.
    Done(Resolved),
}

/// Why a resolution answered SERVFAIL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// More CNAME/DNAME links than `max_cname_chain`, or a loop.
    ChainTooLong,
    /// `max_upstream_queries` spent.
    QueryLimit,
    /// `max_referrals` followed.
    ReferralLimit,
    /// `total_time_ms` passed.
    Deadline,
    /// Every server of the zone failed, timed out, was lame or could not be reached.
    NoServers,
    /// A recent failure of the same question is cached (RFC 9520).
    FailureCached,
    /// The zone is held as under a random-subdomain flood and past its `zone_query_rate` this
    /// second (`zone_rate`); says nothing about the name, so it is not cached.
    ZoneRateLimited,
}

impl Failure {
    /// Every reason, in the order of [`Failure::index`].
    pub const ALL: [Failure; 7] = [
        Failure::ChainTooLong,
        Failure::QueryLimit,
        Failure::ReferralLimit,
        Failure::Deadline,
        Failure::NoServers,
        Failure::FailureCached,
        Failure::ZoneRateLimited,
    ];

    /// The reason's place in [`Failure::ALL`], for counters.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The reason as a counter label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Failure::ChainTooLong => "chain_too_long",
            Failure::QueryLimit => "query_limit",
            Failure::ReferralLimit => "referral_limit",
            Failure::Deadline => "deadline",
            Failure::NoServers => "no_servers",
            Failure::FailureCached => "failure_cached",
            Failure::ZoneRateLimited => "zone_rate_limited",
        }
    }
}

/// The outcome for the client: rcode, answer RRsets, and the SOA for negative answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// NOERROR, NXDOMAIN or SERVFAIL.
    pub rcode: Rcode,
    /// The answer section: the CNAME/DNAME chain followed by the data.
    pub answer: Vec<Rrset>,
    /// The authority section: the SOA of a negative answer (RFC 2308 §3), and the zone's NS RRset
    /// when the upstream reply carried it (not when answered from the cache).
    pub authority: Vec<Rrset>,
    /// The additional section: the glue of a referral passed on by a forwarder.
    pub additional: Vec<Rrset>,
    /// Why, for SERVFAIL.
    pub failure: Option<Failure>,
    /// Upstream queries sent.
    pub upstream_queries: u32,
    /// An upstream reply passed on as it is, in place of the three sections above (a forward
    /// zone that does not cache).
    pub verbatim: Option<Verbatim>,
    /// The NSEC/NSEC3 RRsets proving a denial or a wildcard expansion (authority section, only
    /// to DO=1 queries).
    pub proofs: Vec<Rrset>,
    /// What DNSSEC validation said about the answer.
    pub security: Security,
    /// Why the answer is bogus (the EDE code and reason), when it is.
    pub bogus: Option<validate::Bogus>,
    /// The EDE code reported with an answer that is not bogus (RFC 8914: 1 or 2 for an
    /// unsupported algorithm or digest, 27 for NSEC3 iterations above the limit).
    pub notice: Option<u16>,
}

impl Resolved {
    /// A SERVFAIL for `failure`.
    pub fn servfail(failure: Failure, upstream_queries: u32) -> Self {
        Self::empty(Rcode::SERVFAIL, Some(failure), upstream_queries)
    }

    /// `rcode` with empty sections.
    pub fn empty(rcode: Rcode, failure: Option<Failure>, upstream_queries: u32) -> Self {
        Self {
            rcode,
            answer: Vec::new(),
            authority: Vec::new(),
            additional: Vec::new(),
            failure,
            upstream_queries,
            verbatim: None,
            proofs: Vec::new(),
            security: Security::Indeterminate,
            bogus: None,
            notice: None,
        }
    }

    /// True when the answer section has records.
    pub fn has_answer(&self) -> bool {
        !self.answer.is_empty() || self.verbatim.as_ref().is_some_and(|verbatim| verbatim.counts[0] > 0)
    }

    /// Writes the answer and authority RRsets, or the verbatim records (rcode and header are the
    /// caller's, e.g. `ReplyFrame`). Returns false when they did not fit: the caller sets TC.
    pub fn write(&self, writer: &mut MessageWriter<'_>) -> bool {
        self.write_dnssec(false, writer)
    }

    /// [`Resolved::write`]; with `dnssec_ok` (the query's DO bit) each RRset is followed by its
    /// RRSIGs and the proofs of a denial or wildcard follow in the authority section (RFC 4035
    /// §3.2).
    pub fn write_dnssec(&self, dnssec_ok: bool, writer: &mut MessageWriter<'_>) -> bool {
        if let Some(verbatim) = &self.verbatim {
            return verbatim.write(writer);
        }
        let proofs: &[Rrset] = if dnssec_ok { &self.proofs } else { &[] };
        let authority = self.authority.iter().chain(proofs);
        let sections: [(Section, &mut dyn Iterator<Item = &Rrset>); 3] =
            [(Section::Answer, &mut self.answer.iter()), (Section::Authority, &mut authority.into_iter()), (Section::Additional, &mut self.additional.iter())];
        for (section, rrsets) in sections {
            for rrset in rrsets {
                if rrset.write(section, rrset.ttl, writer).is_err() {
                    return false;
                }
                if dnssec_ok && rrset.write_sigs(section, rrset.ttl, writer).is_err() {
                    return false;
                }
            }
        }
        true
    }
}

/// An upstream reply passed on as it is: its records, after a question that is the client's
/// but for case (0x20), so that copied right after the client's question their compression
/// pointers land on the same bytes. Its OPT record is dropped (the reply gets ours).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verbatim {
    /// The upstream message up to the end of the records kept.
    bytes: Vec<u8>,
    /// Where the answer section starts in `bytes`.
    start: usize,
    /// Answer, authority and additional counts.
    counts: [u16; 3],
}

impl Verbatim {
    /// The records of `message` (a reply already matched to its query) when they can be passed
    /// on as they are: no TSIG, OPT (if any) last.
    pub fn of(message: &Message<'_>) -> Option<Self> {
        let records = message.records_before_opt()?;
        let end = records.start + records.bytes.len();
        Some(Self { bytes: message.bytes().get(..end)?.to_vec(), start: records.start, counts: records.counts })
    }

    /// Appends the records after the question `writer` holds; false when they do not fit or the
    /// question is not the same (the reply is then truncated, records left out).
    fn write(&self, writer: &mut MessageWriter<'_>) -> bool {
        let same_question =
            writer.as_bytes().get(HEADER_LEN..).zip(self.bytes.get(HEADER_LEN..self.start)).is_some_and(|(ours, theirs)| ours.eq_ignore_ascii_case(theirs));
        let records = RawRecords { start: self.start, bytes: self.bytes.get(self.start..).unwrap_or(&[]), counts: self.counts };
        same_question && writer.push_raw_records(&records).is_ok()
    }
}
