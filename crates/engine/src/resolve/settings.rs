//! [`ResolverSettings`]: the work limits of SECURITY-REFERENCE §2.1 and §7 (CNAME chain 11,
//! upstream queries 100 never reset, referrals 100, depth 7, 13 NS names per delegation, 5 failed
//! NS-address lookups (NXNSAttack), 10 s per client query), QNAME minimisation (RFC 9156), 0x20
//! (draft-vixie-dnsext-dns0x20), the do-not-query list (Unbound `do-not-query-address`, CVE-2026-50251)
//! DNS-rebinding protection (Unbound `private-address`) and the per-zone query rate (Unbound
//! `ratelimit`).

use crate::base::Prefix;
use portcullis_wire::NameBuf;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Resolver settings. [`ResolverSettings::default`] gives the defaults of SECURITY-REFERENCE §7.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolverSettings {
    /// Addresses of the root servers (the built-in IANA hints unless a hints file replaces them).
    pub root_servers: Vec<IpAddr>,
    /// Port of every upstream server (53; tests may move it).
    pub upstream_port: u16,
    /// CNAME/DNAME links followed for one client question (Unbound `max-query-restarts` 11).
    pub max_cname_chain: usize,
    /// Upstream queries per client question, never reset (SECURITY-REFERENCE §7: 100).
    pub max_upstream_queries: u32,
    /// Referrals followed per client question.
    pub max_referrals: u32,
    /// Nesting of NS-address sub-resolutions (BIND `max-recursion-depth` 7).
    pub max_depth: usize,
    /// NS names considered per delegation (BIND `max-delegation-servers` 13).
    pub max_ns_per_delegation: usize,
    /// NS-address lookups that may fail per client question (Unbound `MAX_TARGET_NX` 5).
    pub max_nx_target_lookups: u32,
    /// Wall-clock budget per client question, in milliseconds (Knot 10 s).
    pub total_time_ms: u64,
    /// QNAME minimisation (RFC 9156).
    pub qname_minimisation: bool,
    /// Strict minimisation: an NXDOMAIN for an intermediate name is final (RFC 8020); relaxed
    /// (the default) asks again with the full name.
    pub qname_minimisation_strict: bool,
    /// Minimisation steps before the full name is sent (Unbound `MAX_MINIMISE_COUNT` 10).
    pub max_minimise_steps: usize,
    /// 0x20 case randomisation of outgoing QNAMEs (Unbound `use-caps-for-id`).
    pub use_0x20: bool,
    /// Send EDNS (OPT with this payload size, RFC 6891); 0 turns EDNS off.
    pub edns_payload: u16,
    /// Near-miss replies (right server, wrong ID or question) after which a server is only asked
    /// over TCP (PowerDNS `spoof-nearmiss-max` 1).
    pub unwanted_to_tcp: u32,
    /// Addresses never queried (default: 0.0.0.0/8 and ::/128).
    pub do_not_query: Vec<Prefix>,
    /// Also refuse 127.0.0.0/8 and ::1 (Unbound `do-not-query-localhost`, default on).
    pub do_not_query_localhost: bool,
    /// Drop private addresses from answers for public names (DNS-rebinding protection; off).
    pub rebinding_protection: bool,
    /// Names whose answers may hold private addresses even with rebinding protection.
    pub private_domains: Vec<NameBuf>,
    /// Query servers over IPv6 too.
    pub use_ipv6: bool,
    /// Failing queries (NXDOMAIN, SERVFAIL, REFUSED, timeout) a second to one zone's servers
    /// that hold the zone as under a random-subdomain flood (`zone_rate`); 0 = never held.
    pub zone_failure_rate: u32,
    /// Queries a second still sent to a held zone's servers (Unbound `ratelimit`, 1000 suggested
    /// by SECURITY-REFERENCE §3.10); 0 = no limit.
    pub zone_query_rate: u32,
    /// Past the rate, one query in this many still goes (Unbound `ratelimit-factor` 10), at most
    /// `zone_query_rate` more a second; 0 = none.
    pub zone_query_rate_factor: u32,
    /// DNSSEC validation: on/off, trust anchors, negative trust anchors (`validate`).
    pub dnssec: super::validate::ValidationSettings,
}

impl Default for ResolverSettings {
    fn default() -> Self {
        Self {
            root_servers: super::hints::iana_root_addresses(),
            upstream_port: 53,
            max_cname_chain: 11,
            max_upstream_queries: 100,
            max_referrals: 100,
            max_depth: 7,
            max_ns_per_delegation: 13,
            max_nx_target_lookups: 5,
            total_time_ms: 10_000,
            qname_minimisation: true,
            qname_minimisation_strict: false,
            max_minimise_steps: 10,
            use_0x20: true,
            edns_payload: 1232,
            unwanted_to_tcp: 1,
            do_not_query: default_do_not_query(),
            do_not_query_localhost: true,
            rebinding_protection: false,
            private_domains: Vec::new(),
            use_ipv6: true,
            zone_failure_rate: 200,
            zone_query_rate: 1000,
            zone_query_rate_factor: 10,
            dnssec: super::validate::ValidationSettings::default(),
        }
    }
}

impl ResolverSettings {
    /// The limits of the random-subdomain flood defence.
    pub fn zone_limits(&self) -> super::zone_rate::ZoneLimits {
        super::zone_rate::ZoneLimits { failure_rate: self.zone_failure_rate, query_rate: self.zone_query_rate, factor: self.zone_query_rate_factor }
    }

    /// True when answers are validated: validation is on and there is an anchor that applies
    /// (the built-in root anchors only while the root servers are the IANA root's).
    pub fn validates(&self) -> bool {
        self.dnssec.enabled && !self.dnssec.anchors.is_empty() && (!self.dnssec.builtin || self.root_servers == super::hints::iana_root_addresses())
    }

    /// True when `addr` may be sent a query.
    pub fn may_query(&self, addr: IpAddr) -> bool {
        let addr = crate::base::prefix::canonical(addr);
        if self.do_not_query_localhost && addr.is_loopback() {
            return false;
        }
        if addr.is_ipv6() && !self.use_ipv6 {
            return false;
        }
        !self.do_not_query.iter().any(|prefix| prefix.contains(addr))
    }

    /// True when an address record for `owner` must be dropped by rebinding protection.
    pub fn blocks_rebinding(&self, owner: &NameBuf, addr: IpAddr) -> bool {
        self.rebinding_protection && is_private(addr) && !self.private_domains.iter().any(|domain| owner.is_subdomain_of(domain))
    }
}

/// The default do-not-query list: 0.0.0.0/8 and ::/128.
pub fn default_do_not_query() -> Vec<Prefix> {
    [(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8), (IpAddr::V6(Ipv6Addr::UNSPECIFIED), 128)]
        .into_iter()
        .filter_map(|(addr, len)| Prefix::new(addr, len).ok())
        .collect()
}

/// Private, loopback, link-local and unique-local space (Unbound's `private-address` set).
pub fn is_private(addr: IpAddr) -> bool {
    match crate::base::prefix::canonical(addr) {
        IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local() || v4.is_unspecified() || v4.octets()[0] == 0,
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback() || v6.is_unspecified() || first & 0xFE00 == 0xFC00 || first & 0xFFC0 == 0xFE80
        }
    }
}
