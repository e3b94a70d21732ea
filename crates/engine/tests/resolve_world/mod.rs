//! A scripted DNS world for resolver scenario tests: fake authoritative servers on 127.x
//! addresses answering from zone-file text (a minimal RFC 1034 §4.3.2 algorithm: referral,
//! DNAME, CNAME, answer, NODATA, NXDOMAIN), per-server misbehaviour, a fake clock, and a driver
//! that runs a `Resolution` to completion while logging every upstream query.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use portcullis_engine::cache::{Cache, CacheSettings};
use portcullis_engine::policy::Instant;
use portcullis_engine::resolve::{Outbound, Resolution, Resolved, ResolverSettings, SeededRandom, ServerStats, Step};
use portcullis_engine::zonefile::{parse_zone_text, NoIncludes, ZoneRecord};
use portcullis_engine::Transport;
use portcullis_wire::header::Flags;
use portcullis_wire::message::{Message, Question, Section};
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::{Class, NameBuf, Rcode, Rtype};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

pub fn name(text: &str) -> NameBuf {
    NameBuf::from_text(text, None).unwrap()
}

pub fn records(text: &str) -> Vec<ZoneRecord> {
    parse_zone_text(&NameBuf::ROOT, text, "test", &NoIncludes).unwrap()
}

/// A query as a fake server saw it.
#[derive(Clone, Debug)]
pub struct Query {
    pub server: SocketAddr,
    pub transport: Transport,
    pub id: u16,
    pub question: Question,
    pub edns: bool,
}

impl Query {
    /// The query `outbound` carries; panics unless it is a valid query.
    pub fn of(outbound: &Outbound) -> Self {
        let message = Message::parse(&outbound.bytes).expect("the resolver sends valid queries");
        Self {
            server: outbound.server,
            transport: outbound.transport,
            id: message.header().id(),
            question: message.question().unwrap(),
            edns: message.edns().is_some(),
        }
    }
}

/// A datagram handed to the resolution.
pub struct Delivery {
    pub from: SocketAddr,
    pub bytes: Vec<u8>,
}

pub type Script = Box<dyn FnMut(&Query, Vec<u8>) -> Vec<Delivery>>;

/// How a server behaves.
pub enum Behaviour {
    Normal,
    /// Never answers.
    Silent,
    /// FORMERR to any query with OPT.
    FormerrOnEdns,
    /// Silent to queries with OPT.
    SilentOnEdns,
    /// TC=1 (keeping the answer section: partial data) over UDP.
    TruncateUdp,
    /// Echoes the question lower-cased (no 0x20 support).
    LowercaseQuestion,
    /// The honest reply is passed in; the script decides what is delivered.
    Script(Script),
}

pub struct Server {
    pub zones: Vec<(NameBuf, Vec<ZoneRecord>)>,
    pub behaviour: Behaviour,
}

pub struct World {
    pub servers: HashMap<IpAddr, Server>,
    pub log: Vec<Query>,
    pub now: Instant,
    pub cache: Cache,
    pub stats: ServerStats,
    pub settings: ResolverSettings,
    pub seed: u64,
    pub rtt_ms: u64,
}

pub fn addr(text: &str) -> SocketAddr {
    SocketAddr::new(text.parse().unwrap(), 53)
}

impl World {
    /// An empty world with the root at 127.0.0.1; localhost may be queried.
    pub fn new() -> Self {
        let settings = ResolverSettings { root_servers: vec!["127.0.0.1".parse().unwrap()], do_not_query_localhost: false, ..ResolverSettings::default() };
        Self {
            servers: HashMap::new(),
            log: Vec::new(),
            now: Instant::from_secs(1000),
            cache: Cache::new(CacheSettings::DEFAULT),
            stats: ServerStats::new(),
            settings,
            seed: 42,
            rtt_ms: 10,
        }
    }

    /// The usual hierarchy: root 127.0.0.1, com. 127.0.0.2, example.com. 127.0.0.3 and .4.
    pub fn standard() -> Self {
        let mut world = Self::new();
        world.zone("127.0.0.1", ".", ROOT);
        world.zone("127.0.0.2", "com.", COM);
        world.zone("127.0.0.3", "example.com.", EXAMPLE);
        world.zone("127.0.0.4", "example.com.", EXAMPLE);
        world
    }

    /// Adds zone `apex` from `text` to the server at `ip`.
    pub fn zone(&mut self, ip: &str, apex: &str, text: &str) {
        let server = self.servers.entry(ip.parse().unwrap()).or_insert(Server { zones: Vec::new(), behaviour: Behaviour::Normal });
        server.zones.push((name(apex), records(text)));
    }

    pub fn behave(&mut self, ip: &str, behaviour: Behaviour) {
        let server = self.servers.entry(ip.parse().unwrap()).or_insert(Server { zones: Vec::new(), behaviour: Behaviour::Normal });
        server.behaviour = behaviour;
    }

    /// Resolves to the end; every upstream query is logged.
    pub fn resolve(&mut self, qname: &str, qtype: Rtype) -> Resolved {
        self.resolve_with(qname, qtype, false)
    }

    /// [`World::resolve`]; with `refresh`, as a prefetch ([`Resolution::with_refresh`]).
    pub fn resolve_with(&mut self, qname: &str, qtype: Rtype, refresh: bool) -> Resolved {
        let question = Question { qname: name(qname), qtype, qclass: Class::IN };
        self.seed += 1;
        let mut resolution = Resolution::new(question, Arc::new(self.settings.clone()), self.now, Box::new(SeededRandom::new(self.seed)));
        if refresh {
            resolution = resolution.with_refresh();
        }
        for _ in 0..10_000 {
            match resolution.poll(self.now, &self.cache, &self.stats) {
                Step::Send(outbound) => {
                    let deliveries = self.deliver(&outbound);
                    self.now = self.now.plus_millis(self.rtt_ms);
                    for delivery in deliveries {
                        resolution.on_reply(outbound.id, delivery.from, &delivery.bytes, self.now, &self.cache, &self.stats);
                    }
                }
                Step::Wait(deadline) => {
                    assert!(deadline >= self.now, "deadline in the past");
                    self.now = deadline;
                    if let Some(id) = resolution.in_flight() {
                        resolution.on_timeout(id, self.now, &self.stats);
                    }
                }
                Step::Done(resolved) => {
                    assert_eq!(resolved.upstream_queries as usize, resolution.upstream_queries() as usize);
                    return resolved;
                }
            }
        }
        panic!("resolution did not finish");
    }

    /// Queries sent since the log was last cleared.
    pub fn queries(&self) -> usize {
        self.log.len()
    }

    /// Queries sent to `ip`.
    pub fn queries_to(&self, ip: &str) -> usize {
        let ip: IpAddr = ip.parse().unwrap();
        self.log.iter().filter(|query| query.server.ip() == ip).count()
    }

    fn deliver(&mut self, outbound: &Outbound) -> Vec<Delivery> {
        let query = Query::of(outbound);
        assert_eq!(outbound.server.port(), 53);
        self.log.push(query.clone());
        let Some(server) = self.servers.get_mut(&outbound.server.ip()) else { return Vec::new() };
        let honest = respond(&server.zones, &query, false);
        let from = outbound.server;
        match &mut server.behaviour {
            Behaviour::Normal => vec![Delivery { from, bytes: honest }],
            Behaviour::Silent => Vec::new(),
            Behaviour::FormerrOnEdns if query.edns => vec![Delivery { from, bytes: error_reply(&query, Rcode::FORMERR) }],
            Behaviour::SilentOnEdns if query.edns => Vec::new(),
            Behaviour::FormerrOnEdns | Behaviour::SilentOnEdns => vec![Delivery { from, bytes: honest }],
            Behaviour::TruncateUdp if query.transport == Transport::Udp => vec![Delivery { from, bytes: respond(&server.zones, &query, true) }],
            Behaviour::TruncateUdp => vec![Delivery { from, bytes: honest }],
            Behaviour::LowercaseQuestion => {
                let lower = Query { question: Question { qname: query.question.qname.to_lowercase(), ..query.question }, ..query.clone() };
                vec![Delivery { from, bytes: respond(&server.zones, &lower, false) }]
            }
            Behaviour::Script(script) => script(&query, honest),
        }
    }
}

/// An error reply echoing the question.
pub fn error_reply(query: &Query, rcode: Rcode) -> Vec<u8> {
    build(query, rcode, false, false, &[], &[], &[])
}

/// A reply to `query` built from zone-file text per section.
pub fn forge(query: &Query, rcode: Rcode, aa: bool, answer: &str, authority: &str, additional: &str) -> Vec<u8> {
    build(query, rcode, aa, false, &records(answer), &records(authority), &records(additional))
}

/// Writes a reply: header, the question exactly as asked, three sections, OPT when asked.
pub fn build(query: &Query, rcode: Rcode, aa: bool, tc: bool, answer: &[ZoneRecord], authority: &[ZoneRecord], additional: &[ZoneRecord]) -> Vec<u8> {
    let mut buf = vec![0u8; 65_535];
    let mut writer = MessageWriter::new(&mut buf, 65_535).unwrap();
    writer.set_header(query.id, Flags { qr: true, aa, tc, rcode: rcode.header_bits(), ..Flags::default() });
    writer.push_question(&query.question.qname, query.question.qtype, query.question.qclass).unwrap();
    for (section, records) in [(Section::Answer, answer), (Section::Authority, authority), (Section::Additional, additional)] {
        for record in records {
            writer.push(section, &record.owner, record.rtype, record.class, record.ttl, &record.rdata).unwrap();
        }
    }
    if query.edns {
        writer.push_opt(1232, Rcode::NOERROR, false, &[]).unwrap();
    }
    let len = writer.finish();
    buf.truncate(len);
    buf
}

/// The minimal authoritative algorithm over the server's zones.
pub fn respond(zones: &[(NameBuf, Vec<ZoneRecord>)], query: &Query, truncate: bool) -> Vec<u8> {
    let qname = query.question.qname;
    let Some((apex, zone)) = zones.iter().filter(|(apex, _)| qname.is_subdomain_of(apex)).max_by_key(|(apex, _)| apex.label_count()) else {
        return error_reply(query, Rcode::REFUSED);
    };
    let at = |owner: &NameBuf, rtype: Rtype| zone.iter().filter(|r| r.owner == *owner && r.rtype == rtype).cloned().collect::<Vec<_>>();
    let soa = at(apex, Rtype::SOA);
    // Referral: the highest cut strictly below the apex, at or above the name.
    let mut cuts: Vec<&ZoneRecord> = zone.iter().filter(|r| r.rtype == Rtype::NS && r.owner != *apex && qname.is_subdomain_of(&r.owner)).collect();
    cuts.sort_by_key(|r| r.owner.label_count());
    if let Some(cut) = cuts.first().map(|r| r.owner) {
        let ns = at(&cut, Rtype::NS);
        let glue: Vec<ZoneRecord> = ns
            .iter()
            .filter_map(|r| NameBuf::from_wire(&r.rdata).ok())
            .flat_map(|target| zone.iter().filter(move |r| r.owner == target && (r.rtype == Rtype::A || r.rtype == Rtype::AAAA)).cloned())
            .collect();
        return build(query, Rcode::NOERROR, false, false, &[], &ns, &glue);
    }
    let mut answer = Vec::new();
    let mut current = qname;
    for _ in 0..16 {
        let dname = zone.iter().find(|r| r.rtype == Rtype::DNAME && r.owner != current && current.is_subdomain_of(&r.owner)).cloned();
        if let Some(dname) = dname {
            let target = current.replace_suffix(&dname.owner, &NameBuf::from_wire(&dname.rdata).unwrap()).unwrap();
            answer.push(dname.clone());
            answer.push(ZoneRecord { owner: current, rtype: Rtype::CNAME, class: Class::IN, ttl: dname.ttl, rdata: target.as_wire().to_vec() });
            current = target;
            if !current.is_subdomain_of(apex) {
                break;
            }
            continue;
        }
        let data = at(&current, query.question.qtype);
        if !data.is_empty() {
            answer.extend(data);
            break;
        }
        let cname = at(&current, Rtype::CNAME);
        let Some(first) = cname.first().filter(|_| query.question.qtype != Rtype::CNAME) else {
            let exists = zone.iter().any(|r| r.owner.is_subdomain_of(&current));
            let rcode = if exists || !answer.is_empty() { Rcode::NOERROR } else { Rcode::NXDOMAIN };
            return build(query, rcode, true, false, &answer, &soa, &[]);
        };
        current = NameBuf::from_wire(&first.rdata).unwrap();
        answer.push(first.clone());
        if !current.is_subdomain_of(apex) {
            break;
        }
    }
    let limit = if query.edns { 1232 } else { 512 };
    let full = build(query, Rcode::NOERROR, true, false, &answer, &[], &[]);
    if query.transport == Transport::Udp && (truncate || full.len() > limit) {
        let keep = if truncate { &answer[..answer.len().min(2)] } else { &[][..] };
        return build(query, Rcode::NOERROR, true, true, keep, &[], &[]);
    }
    full
}

pub const ROOT: &str = "
. 86400 SOA a.root. hostmaster.root. 1 1800 900 604800 86400
. 518400 NS a.root-servers.test.
a.root-servers.test. 518400 A 127.0.0.1
com. 172800 NS a.gtld.test.
net. 172800 NS a.gtld.test.
org. 172800 NS a.org-servers.test.
a.gtld.test. 172800 A 127.0.0.2
a.org-servers.test. 172800 A 127.0.0.5
";

pub const COM: &str = "
com. 900 SOA a.gtld.test. nstld.test. 1 1800 900 604800 86400
com. 172800 NS a.gtld.test.
example.com. 172800 NS ns1.example.com.
example.com. 172800 NS ns2.example.com.
ns1.example.com. 172800 A 127.0.0.3
ns2.example.com. 172800 A 127.0.0.4
";

pub const EXAMPLE: &str = "
example.com. 3600 SOA ns1.example.com. admin.example.com. 1 7200 3600 1209600 300
example.com. 3600 NS ns1.example.com.
example.com. 3600 NS ns2.example.com.
ns1.example.com. 3600 A 127.0.0.3
ns2.example.com. 3600 A 127.0.0.4
www.example.com. 300 A 192.0.2.80
www.example.com. 300 A 192.0.2.81
alias.example.com. 300 CNAME www.example.com.
mail.example.com. 300 MX 10 www.example.com.
";
