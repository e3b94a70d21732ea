//! Runs one scenario against the sans-IO resolver with a fake clock.
//!
//! - `STEP n QUERY` starts a [`Resolution`] for the client question and drives it: every
//!   [`Outbound`] is parsed and matched against the ranges active at step `n` for the server's
//!   address; a match is answered at once (10 ms later on the fake clock). A query nobody scripted
//!   is *tolerated*: it is counted and, unless a later `STEP REPLY` may answer it, it times out
//!   (the clock jumps to its deadline and `on_timeout` is called).
//! - `STEP n REPLY` answers the waiting query when the entry's MATCH rules accept it (a REPLY
//!   for a query we never sent, such as a priming query, is skipped and counted).
//! - `STEP n CHECK_OUT_QUERY` is noted only (the waiting query is left waiting).
//! - `STEP n CHECK_ANSWER` finishes every open resolution (waiting queries time out) and compares
//!   the client-visible answer with the entry (MATCH rules below).
//! - `STEP n TIME_PASSES ELAPSE s` moves the clock.
//!
//! The client-visible answer is what the server would send: QR RA, RD and CD copied from the
//! query, never AA or AD (no validation), the resolver's rcode, the answer RRsets (CNAME/DNAME
//! chain and data), the SOA of a negative answer in the authority section, nothing additional.
//!
//! MATCH rules of CHECK_ANSWER: `opcode`, `qname`, `qtype`, `question`, `rcode`, `flags` (QR AA
//! TC RD RA AD CD), `answer`, `authority`, `additional` (as sets of records, names compared
//! case-insensitively, TTLs only with `ttl`), `all` (all of these), `subdomain`.

use super::rpl::{Entry, Rec, Scenario, StepKind};
use super::upstream::{build_reply, find, Answer, SeenQuery};
use portcullis_engine::cache::Security;
use portcullis_engine::cache::{Cache, CacheSettings};
use portcullis_engine::policy::Instant;
use portcullis_engine::resolve::validate::anchors::parse_anchors;
use portcullis_engine::resolve::validate::ValidationSettings;
use portcullis_engine::resolve::{Outbound, Resolution, Resolved, ResolverSettings, SeededRandom, ServerStats, Step};
use portcullis_wire::header::Flags;
use portcullis_wire::message::{Message, Question};
use portcullis_wire::rdata::rdata_to_text;
use portcullis_wire::{Class, NameBuf, Rcode};
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;

/// QNAME minimisation mode of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    On,
    Off,
}

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Mode::On => "on",
            Mode::Off => "off",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Outcome {
    pub pass: bool,
    /// Why it failed (empty when it passed).
    pub reason: String,
    /// Upstream queries sent.
    pub queries: u32,
    /// Upstream queries no range or REPLY step answered.
    pub unscripted: u32,
    /// REPLY steps that matched no waiting query.
    pub unused_replies: u32,
    /// The minimisation setting actually used (a CONFIG option may force it).
    pub qmin: bool,
}

/// What the client received.
#[derive(Clone, Debug)]
struct ClientAnswer {
    rcode: Rcode,
    flags: Flags,
    question: Option<Question>,
    sections: [Vec<Rec>; 3],
}

struct Active {
    resolution: Resolution,
    client: Flags,
    /// The query's DO bit.
    dnssec_ok: bool,
    question: Question,
    /// A query no range answered, left for a later `STEP REPLY`.
    waiting: Option<(Outbound, Option<SeenQuery>)>,
}

struct Run<'a> {
    scenario: &'a Scenario,
    /// Wall-clock seconds at the start (`val-override-date` or `-timestamp`, else the real time).
    unix_start: u64,
    start: Instant,
    settings: Arc<ResolverSettings>,
    cache: Cache,
    stats: ServerStats,
    now: Instant,
    step: u64,
    step_index: usize,
    active: Vec<Active>,
    answers: VecDeque<ClientAnswer>,
    seed: u64,
    queries: u32,
    unscripted: u32,
    unused_replies: u32,
}

/// Settings for `scenario` in `mode`.
fn settings_for(scenario: &Scenario, mode: Mode) -> Result<(ResolverSettings, CacheSettings, bool), String> {
    let config = &scenario.config;
    let mut settings = ResolverSettings::default();
    let stubs: Vec<IpAddr> =
        config.all("stub-addr").chain(config.all("forward-addr")).filter_map(|v| v.split('@').next().and_then(|a| a.trim().parse().ok())).collect();
    // A scenario whose root is on loopback (testbound allows it) needs localhost queries.
    if stubs.iter().any(IpAddr::is_loopback) {
        settings.do_not_query_localhost = false;
    }
    if !stubs.is_empty() {
        settings.root_servers = stubs;
    }
    let qmin = match config.get("query-minimization") {
        Some(v) if v.starts_with("on") || v.starts_with("yes") => true,
        Some(v) if v.starts_with("off") || v.starts_with("no") => false,
        _ => mode == Mode::On,
    };
    settings.qname_minimisation = qmin;
    // The scenarios are written for a resolver without 0x20 (Unbound's default): entries without
    // `copy_query` echo the question as written.
    settings.use_0x20 = false;
    if config.get("do-ip6").is_some_and(|v| v.starts_with("no")) {
        settings.use_ipv6 = false;
    }
    let anchors: Vec<String> = config.all("trust-anchor").map(|value| value.trim().trim_matches('"').to_string()).collect();
    let parsed = if anchors.is_empty() { Ok(Vec::new()) } else { parse_anchors(&anchors.join("\n"), "trust-anchor") };
    let anchors = parsed.map_err(|error| format!("trust-anchor: {error}"))?;
    settings.dnssec = ValidationSettings::default().with_anchors(anchors, false);
    let mut cache = CacheSettings::DEFAULT;
    for feature in config.all("features") {
        for part in feature.split(',') {
            if let Some((key, value)) = part.split_once('=') {
                let value: Option<u32> = value.trim().parse().ok();
                match (key.trim(), value) {
                    ("min_ttl", Some(v)) => cache.min_ttl = v,
                    ("max_ttl", Some(v)) => cache.max_ttl = v,
                    _ => {}
                }
            }
        }
    }
    Ok((settings, cache, qmin))
}

pub fn run(scenario: &Scenario, mode: Mode, seed: u64) -> Outcome {
    let (settings, cache_settings, qmin) = match settings_for(scenario, mode) {
        Ok(s) => s,
        Err(e) => return Outcome { pass: false, reason: e, queries: 0, unscripted: 0, unused_replies: 0, qmin: mode == Mode::On },
    };
    let config = &scenario.config;
    let override_date = config.get("val-override-date").and_then(|date| parse_date(date.trim().trim_matches('"')));
    let override_timestamp = config.get("val-override-timestamp").and_then(|stamp| stamp.trim().trim_matches('"').parse().ok());
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs());
    let unix_start = override_date.or(override_timestamp).unwrap_or_else(now);
    let mut run = Run {
        scenario,
        unix_start,
        start: Instant::from_secs(1_000_000),
        settings: Arc::new(settings),
        cache: Cache::new(cache_settings),
        stats: ServerStats::new(),
        now: Instant::from_secs(1_000_000),
        step: 0,
        step_index: 0,
        active: Vec::new(),
        answers: VecDeque::new(),
        seed,
        queries: 0,
        unscripted: 0,
        unused_replies: 0,
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run.all_steps()));
    let reason = match result {
        Ok(Ok(())) => String::new(),
        Ok(Err(reason)) => reason,
        Err(panic) => {
            let text = panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
            format!("panic: {text}")
        }
    };
    Outcome { pass: reason.is_empty(), reason, queries: run.queries, unscripted: run.unscripted, unused_replies: run.unused_replies, qmin }
}

impl Run<'_> {
    fn all_steps(&mut self) -> Result<(), String> {
        let mut checks = 0;
        for (index, step) in self.scenario.steps.iter().enumerate() {
            self.step = step.number;
            self.step_index = index;
            match &step.kind {
                StepKind::Query(entry) => self.client_query(entry)?,
                StepKind::Reply(entry) => self.reply_step(entry),
                StepKind::CheckOutQuery(_) => {}
                StepKind::CheckAnswer(entry) => {
                    checks += 1;
                    self.check_answer(entry).map_err(|e| format!("step {}: {e}", step.number))?;
                }
                StepKind::TimePasses(secs) => self.now = self.now.plus_secs(*secs),
                StepKind::Other(kind) => return Err(format!("step {}: {kind} not supported", step.number)),
            }
        }
        if checks == 0 {
            return Err("no CHECK_ANSWER".into());
        }
        Ok(())
    }

    /// True when a REPLY step follows before the next CHECK_ANSWER.
    fn reply_step_ahead(&self) -> bool {
        for step in &self.scenario.steps[self.step_index + 1..] {
            match step.kind {
                StepKind::Reply(_) => return true,
                StepKind::CheckAnswer(_) => return false,
                _ => {}
            }
        }
        false
    }

    fn client_query(&mut self, entry: &Entry) -> Result<(), String> {
        let (flags, question) = if let Some(raw) = &entry.raw {
            let Ok(message) = Message::parse(raw) else {
                self.answers.push_back(ClientAnswer {
                    rcode: Rcode::FORMERR,
                    flags: Flags { qr: true, ..Flags::default() },
                    question: None,
                    sections: Default::default(),
                });
                return Ok(());
            };
            let flags = Flags::from_header(message.header());
            if flags.qr {
                return Ok(());
            }
            let Some(question) = message.question() else {
                self.answers.push_back(ClientAnswer {
                    rcode: Rcode::FORMERR,
                    flags: Flags { qr: true, rd: flags.rd, ..Flags::default() },
                    question: None,
                    sections: Default::default(),
                });
                return Ok(());
            };
            if flags.opcode != 0 {
                self.answers.push_back(ClientAnswer {
                    rcode: Rcode::NOTIMP,
                    flags: Flags { qr: true, rd: flags.rd, ..Flags::default() },
                    question: Some(question),
                    sections: Default::default(),
                });
                return Ok(());
            }
            (flags, question)
        } else {
            let q = entry.question.first().ok_or("client query without question")?;
            let flags = Flags { rd: entry.has_flag("RD"), cd: entry.has_flag("CD"), ad: entry.has_flag("AD"), ..Flags::default() };
            (flags, Question { qname: q.qname, qtype: q.qtype, qclass: q.qclass })
        };
        let dnssec_ok =
            entry.has_flag("DO") || entry.raw.as_ref().and_then(|raw| Message::parse(raw).ok()).and_then(|m| m.edns().map(|e| e.dnssec_ok)).unwrap_or(false);
        self.seed = self.seed.wrapping_add(1);
        let unix = self.unix_start + (self.now.as_millis() - self.start.as_millis()) / 1000;
        let resolution = Resolution::new(question, self.settings.clone(), self.now, Box::new(SeededRandom::new(self.seed))).with_unix_secs(unix);
        self.active.push(Active { resolution, client: flags, dnssec_ok, question, waiting: None });
        let index = self.active.len() - 1;
        self.drive(index, self.reply_step_ahead());
        Ok(())
    }

    /// Polls resolution `index` until it finishes or waits for a REPLY step.
    fn drive(&mut self, index: usize, may_wait: bool) {
        for _ in 0..100_000 {
            let active = &mut self.active[index];
            if active.waiting.is_some() {
                return;
            }
            match active.resolution.poll(self.now, &self.cache, &self.stats) {
                Step::Send(outbound) => {
                    self.queries += 1;
                    let seen = SeenQuery::parse(&outbound.bytes, outbound.transport);
                    let answer = seen.as_ref().and_then(|q| find(&self.scenario.ranges, self.step, outbound.server.ip(), q));
                    if trace() {
                        let what = match &answer {
                            Some(Answer::Reply(e)) => format!("entry line {}", e.line + 1),
                            Some(Answer::Silent(_)) => "do_not_answer".into(),
                            None => "UNSCRIPTED".into(),
                        };
                        if let Some(q) = &seen {
                            eprintln!(
                                "  step {} -> {} {:?} {} {} edns={} : {what}",
                                self.step,
                                outbound.server,
                                outbound.transport,
                                q.qname,
                                q.qtype.mnemonic().unwrap_or("?"),
                                q.edns
                            );
                        }
                    }
                    match (answer, seen) {
                        (Some(Answer::Reply(entry)), Some(query)) => {
                            let reply = build_reply(entry, &query);
                            self.now = self.now.plus_millis(10);
                            let active = &mut self.active[index];
                            active.resolution.on_reply(outbound.id, outbound.server, &reply, self.now, &self.cache, &self.stats);
                        }
                        (Some(Answer::Silent(_)), _) => self.time_out(index, &outbound),
                        (_, seen) => {
                            if may_wait {
                                self.active[index].waiting = Some((outbound, seen));
                                return;
                            }
                            self.unscripted += 1;
                            self.time_out(index, &outbound);
                        }
                    }
                }
                Step::Wait(deadline) => {
                    if deadline > self.now {
                        self.now = deadline;
                    }
                    let active = &mut self.active[index];
                    match active.resolution.in_flight() {
                        Some(id) => active.resolution.on_timeout(id, self.now, &self.stats),
                        None => self.now = self.now.plus_millis(1),
                    }
                }
                Step::Done(resolved) => {
                    if trace() {
                        eprintln!(
                            "  done: {:?} failure={:?} security={:?} {:?} answer={:?}",
                            resolved.rcode,
                            resolved.failure,
                            resolved.security,
                            resolved.bogus,
                            resolved.answer.iter().map(|s| (s.owner.to_string(), s.rtype.mnemonic())).collect::<Vec<_>>()
                        );
                    }
                    let active = self.active.remove(index);
                    self.answers.push_back(client_answer(&active, &resolved));
                    return;
                }
            }
        }
        panic!("resolution did not finish");
    }

    fn time_out(&mut self, index: usize, outbound: &Outbound) {
        if outbound.deadline > self.now {
            self.now = outbound.deadline;
        }
        self.active[index].resolution.on_timeout(outbound.id, self.now, &self.stats);
    }

    fn reply_step(&mut self, entry: &Entry) {
        let may_wait = self.reply_step_ahead();
        let found = self
            .active
            .iter()
            .position(|a| a.waiting.as_ref().is_some_and(|(_, seen)| seen.as_ref().is_some_and(|q| super::upstream::entry_matches(entry, q))));
        let Some(index) = found else {
            self.unused_replies += 1;
            return;
        };
        let Some((outbound, Some(query))) = self.active[index].waiting.take() else { return };
        let reply = build_reply(entry, &query);
        self.now = self.now.plus_millis(10);
        self.active[index].resolution.on_reply(outbound.id, outbound.server, &reply, self.now, &self.cache, &self.stats);
        self.drive(index, may_wait);
    }

    fn finish_all(&mut self) {
        while !self.active.is_empty() {
            let index = 0;
            if let Some((outbound, _)) = self.active[index].waiting.take() {
                self.unscripted += 1;
                self.time_out(index, &outbound);
            }
            self.drive(index, false);
        }
    }

    fn check_answer(&mut self, expected: &Entry) -> Result<(), String> {
        self.finish_all();
        if self.answers.is_empty() {
            return Err("no answer to check".into());
        }
        let mut first_error = None;
        for i in 0..self.answers.len() {
            match compare(expected, &self.answers[i]) {
                Ok(()) => {
                    self.answers.remove(i);
                    return Ok(());
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        self.answers.pop_front();
        Err(first_error.unwrap_or_default())
    }
}

/// What the server would send (as `Engine::respond_resolved` does): bogus is SERVFAIL unless
/// CD=1; AD for secure data when the query had DO=1 or AD=1; RRSIGs and proofs with DO=1.
fn client_answer(active: &Active, resolved: &Resolved) -> ClientAnswer {
    let bogus = resolved.security == Security::Bogus && !active.client.cd;
    let rcode = if bogus { Rcode::SERVFAIL } else { resolved.rcode };
    let ad = !bogus && resolved.security == Security::Secure && (active.dnssec_ok || active.client.ad);
    let flags = Flags { qr: true, rd: active.client.rd, cd: active.client.cd, ra: true, ad, rcode: rcode.header_bits(), ..Flags::default() };
    let dnssec_ok = active.dnssec_ok;
    let flatten = |sets: &mut dyn Iterator<Item = &portcullis_engine::cache::Rrset>| {
        let mut out = Vec::new();
        for set in sets {
            for rdata in &set.rdatas {
                out.push(Rec { owner: set.owner, rtype: set.rtype, class: set.class, ttl: set.ttl, rdata: rdata.clone() });
            }
            for rdata in set.sigs.iter().filter(|_| dnssec_ok) {
                out.push(Rec { owner: set.owner, rtype: portcullis_wire::Rtype::RRSIG, class: set.class, ttl: set.ttl, rdata: rdata.clone() });
            }
        }
        out
    };
    let proofs: &[portcullis_engine::cache::Rrset] = if dnssec_ok { &resolved.proofs } else { &[] };
    let sections =
        if bogus { Default::default() } else { [flatten(&mut resolved.answer.iter()), flatten(&mut resolved.authority.iter().chain(proofs)), Vec::new()] };
    ClientAnswer { rcode, flags, question: Some(active.question), sections }
}

/// `YYYYMMDDHHMMSS` (UTC) as seconds since the epoch.
fn parse_date(text: &str) -> Option<u64> {
    if text.len() != 14 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let field = |range: std::ops::Range<usize>| text[range].parse::<u64>().ok();
    let (year, month, day) = (field(0..4)?, field(4..6)?, field(6..8)?);
    let (hour, minute, second) = (field(8..10)?, field(10..12)?, field(12..14)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m) = if month <= 2 { (year - 1, month + 9) } else { (year, month - 3) };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// A record as text for comparison: lower-cased owner, class, type, rdata (TTL when asked).
pub fn rec_key(rec: &Rec, ttl: bool) -> String {
    let mut rdata = String::new();
    if rdata_to_text(rec.rtype, &rec.rdata, &mut rdata).is_err() {
        rdata = format!("{:?}", rec.rdata);
    }
    let owner = rec.owner.to_string().to_ascii_lowercase();
    let class = if rec.class == Class::IN { "IN".to_string() } else { format!("CLASS{}", rec.class.0) };
    let rtype = rec.rtype.mnemonic().map(str::to_string).unwrap_or_else(|| format!("TYPE{}", rec.rtype.0));
    let rdata = rdata.to_ascii_lowercase();
    if ttl {
        format!("{owner} {} {class} {rtype} {rdata}", rec.ttl)
    } else {
        format!("{owner} {class} {rtype} {rdata}")
    }
}

fn flag_text(flags: &Flags) -> String {
    let mut out = Vec::new();
    for (set, name) in [(flags.qr, "QR"), (flags.aa, "AA"), (flags.tc, "TC"), (flags.rd, "RD"), (flags.ra, "RA"), (flags.ad, "AD"), (flags.cd, "CD")] {
        if set {
            out.push(name);
        }
    }
    out.join(" ")
}

fn compare(expected: &Entry, got: &ClientAnswer) -> Result<(), String> {
    let all = expected.has_match("all");
    let want = |word: &str| all || expected.has_match(word);
    let ttl = expected.has_match("ttl");
    let q = expected.question.first();
    let name_eq = |a: &NameBuf, b: &NameBuf| a.to_lowercase() == b.to_lowercase();
    if want("rcode") && got.rcode != expected.rcode() {
        return Err(format!("rcode {} expected {}", got.rcode.mnemonic(), expected.rcode().mnemonic()));
    }
    if want("qname") || want("question") {
        if let (Some(q), Some(gq)) = (q, got.question) {
            if !name_eq(&q.qname, &gq.qname) {
                return Err(format!("qname {} expected {}", gq.qname, q.qname));
            }
        }
    }
    if want("qtype") || want("question") {
        if let (Some(q), Some(gq)) = (q, got.question) {
            if q.qtype != gq.qtype {
                return Err("qtype differs".into());
            }
        }
    }
    if want("flags") {
        let wanted = Flags {
            qr: expected.has_flag("QR"),
            aa: expected.has_flag("AA"),
            tc: expected.has_flag("TC"),
            rd: expected.has_flag("RD"),
            ra: expected.has_flag("RA"),
            ad: expected.has_flag("AD"),
            cd: expected.has_flag("CD"),
            ..Flags::default()
        };
        let have = Flags { rcode: 0, opcode: 0, ..got.flags };
        if have != wanted {
            return Err(format!("flags [{}] expected [{}]", flag_text(&have), flag_text(&wanted)));
        }
    }
    for (i, name) in ["answer", "authority", "additional"].iter().enumerate() {
        if !want(name) {
            continue;
        }
        let mut have: Vec<String> = got.sections[i].iter().map(|r| rec_key(r, ttl)).collect();
        let mut wanted: Vec<String> = expected.sections[i].iter().map(|r| rec_key(r, ttl)).collect();
        have.sort();
        have.dedup();
        wanted.sort();
        wanted.dedup();
        if have != wanted {
            let missing: Vec<&String> = wanted.iter().filter(|w| !have.contains(w)).collect();
            let extra: Vec<&String> = have.iter().filter(|h| !wanted.contains(h)).collect();
            return Err(format!("{name} section (rcode {}): missing {missing:?} extra {extra:?}", got.rcode.mnemonic()));
        }
    }
    Ok(())
}

fn trace() -> bool {
    std::env::var("DECKARD_TRACE").is_ok()
}
