//! A reply reduced to what the differential tests compare: rcode, AA, TC, whether OPT came
//! back, and each section as a set of RRsets (owner lowercased, type, class, TTL, set of
//! decompressed rdata with names lowercased; RFC 4343). Order inside a section and the
//! OPT record are ignored (RFC 2181 §5: an RRset is a set).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};

use portcullis_wire::message::{decompress_rdata, Message, Section};
use portcullis_wire::{NameBuf, Rcode, Rtype};

/// The parts of a reply the differential tests compare one by one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Aspect {
    Rcode,
    Aa,
    Tc,
    Opt,
    Answer,
    Authority,
    Additional,
}

impl Aspect {
    pub const ALL: [Aspect; 7] = [Aspect::Rcode, Aspect::Aa, Aspect::Tc, Aspect::Opt, Aspect::Answer, Aspect::Authority, Aspect::Additional];

    pub fn section(self) -> Option<Section> {
        match self {
            Aspect::Answer => Some(Section::Answer),
            Aspect::Authority => Some(Section::Authority),
            Aspect::Additional => Some(Section::Additional),
            _ => None,
        }
    }
}

/// Key of an RRset: lowercased owner in presentation form, type, class.
pub type RrsetKey = (String, u16, u16);

/// The records of one RRset as found in one section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rrset {
    pub ttls: BTreeSet<u32>,
    pub rdata: BTreeSet<Vec<u8>>,
}

/// One section: RRsets by key.
pub type SectionSet = BTreeMap<RrsetKey, Rrset>;

/// A normalised reply, or why there is none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Reply(Reply),
    Failed(String),
}

/// The compared contents of a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub rcode: Rcode,
    pub aa: bool,
    pub tc: bool,
    pub opt: bool,
    pub sections: [SectionSet; 3],
}

impl Answer {
    /// Normalises reply bytes, or keeps the client's error.
    pub fn from_result(result: Result<Vec<u8>, String>) -> Self {
        match result.and_then(|bytes| Reply::parse(&bytes)) {
            Ok(reply) => Answer::Reply(reply),
            Err(e) => Answer::Failed(e),
        }
    }

    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Answer::Reply(reply) => Some(reply),
            Answer::Failed(_) => None,
        }
    }

    /// The canonical text of one aspect; two answers agree on an aspect when these are equal.
    pub fn aspect(&self, aspect: Aspect) -> String {
        let reply = match self {
            Answer::Reply(reply) => reply,
            Answer::Failed(e) => return format!("<no reply: {e}>"),
        };
        match aspect {
            Aspect::Rcode => reply.rcode.to_string(),
            Aspect::Aa => reply.aa.to_string(),
            Aspect::Tc => reply.tc.to_string(),
            Aspect::Opt => reply.opt.to_string(),
            _ => render_section(&reply.sections[aspect.section().map_or(0, |s| s as usize)]),
        }
    }

    pub fn tc(&self) -> bool {
        self.reply().is_some_and(|r| r.tc)
    }
}

impl Reply {
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let message = Message::parse(bytes).map_err(|e| format!("unparsable reply: {e:?}"))?;
        let header = message.header();
        let mut sections: [SectionSet; 3] = Default::default();
        for section in [Section::Answer, Section::Authority, Section::Additional] {
            for record in message.records(section) {
                if record.rtype == Rtype::OPT {
                    continue;
                }
                let mut rdata = Vec::new();
                decompress_rdata(bytes, &record, &mut rdata).map_err(|e| format!("bad rdata: {e:?}"))?;
                let key = (record.owner.to_lowercase().to_string(), record.rtype.0, record.class.0);
                let rrset = sections[section as usize].entry(key).or_default();
                rrset.ttls.insert(record.ttl);
                rrset.rdata.insert(lowercase_names(record.rtype, &rdata));
            }
        }
        Ok(Self { rcode: message.rcode(), aa: header.aa(), tc: header.tc(), opt: message.edns().is_some(), sections })
    }

    pub fn section(&self, section: Section) -> &SectionSet {
        &self.sections[section as usize]
    }
}

/// One line per RRset, sorted: `owner TTL CLASS TYPE rdata | rdata ...`.
pub fn render_section(section: &SectionSet) -> String {
    if section.is_empty() {
        return "(empty)".to_owned();
    }
    let mut out = String::new();
    for (key, rrset) in section {
        let _ = writeln!(out, "{}", render_rrset(key, rrset));
    }
    out.trim_end().to_owned()
}

pub fn render_rrset((owner, rtype, class): &RrsetKey, rrset: &Rrset) -> String {
    let ttls: Vec<String> = rrset.ttls.iter().map(u32::to_string).collect();
    let rdata: Vec<String> = rrset.rdata.iter().map(|r| render_rdata(Rtype(*rtype), r)).collect();
    let class = if *class == 1 { "IN".to_owned() } else { format!("CLASS{class}") };
    format!("{owner} {} {class} {} {}", ttls.join("/"), Rtype(*rtype), rdata.join(" | "))
}

/// Where the names are inside the rdata of the types our zones use: (fixed prefix, names).
fn name_layout(rtype: Rtype) -> Option<(usize, usize)> {
    match rtype {
        Rtype::NS | Rtype::CNAME | Rtype::DNAME | Rtype::PTR => Some((0, 1)),
        Rtype::SOA => Some((0, 2)),
        Rtype::MX => Some((2, 1)),
        Rtype::SRV => Some((6, 1)),
        _ => None,
    }
}

/// Lowercases the embedded names (RFC 4343: comparisons ignore case); other bytes are kept.
fn lowercase_names(rtype: Rtype, rdata: &[u8]) -> Vec<u8> {
    let Some((prefix, names)) = name_layout(rtype) else { return rdata.to_vec() };
    let mut out = rdata.to_vec();
    let mut pos = prefix;
    for _ in 0..names {
        let Ok((_, next)) = NameBuf::parse_uncompressed(rdata, pos) else { return rdata.to_vec() };
        out[pos..next].make_ascii_lowercase();
        pos = next;
    }
    out
}

/// Presentation form of the rdata our zones use; hex for the rest.
pub fn render_rdata(rtype: Rtype, rdata: &[u8]) -> String {
    match (rtype, rdata.len()) {
        (Rtype::A, 4) => std::net::Ipv4Addr::from([rdata[0], rdata[1], rdata[2], rdata[3]]).to_string(),
        (Rtype::AAAA, 16) => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(rdata);
            std::net::Ipv6Addr::from(octets).to_string()
        }
        (Rtype::TXT, _) => render_txt(rdata),
        _ => render_with_names(rtype, rdata).unwrap_or_else(|| format!("\\# {} {}", rdata.len(), hex(rdata))),
    }
}

fn render_with_names(rtype: Rtype, rdata: &[u8]) -> Option<String> {
    let (prefix, names) = name_layout(rtype)?;
    let mut out = String::new();
    for chunk in rdata.get(..prefix)?.chunks(2) {
        let _ = write!(out, "{} ", u16::from_be_bytes([chunk[0], *chunk.get(1)?]));
    }
    let mut pos = prefix;
    for _ in 0..names {
        let (name, next) = NameBuf::parse_uncompressed(rdata, pos).ok()?;
        let _ = write!(out, "{name} ");
        pos = next;
    }
    for chunk in rdata.get(pos..)?.chunks(4) {
        if chunk.len() == 4 {
            let _ = write!(out, "{} ", u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]));
        }
    }
    Some(out.trim_end().to_owned())
}

fn render_txt(rdata: &[u8]) -> String {
    let mut out = String::new();
    let mut pos = 0;
    while let Some(&len) = rdata.get(pos) {
        let text = rdata.get(pos + 1..pos + 1 + usize::from(len)).unwrap_or_default();
        let _ = write!(out, "\"{}\" ", String::from_utf8_lossy(text));
        pos += 1 + usize::from(len);
    }
    out.trim_end().to_owned()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::Failed(e) => write!(f, "<no reply: {e}>"),
            Answer::Reply(reply) => {
                write!(f, "rcode={} aa={} tc={} opt={}", reply.rcode, reply.aa, reply.tc, reply.opt)?;
                for (name, section) in ["answer", "authority", "additional"].iter().zip(&reply.sections) {
                    write!(f, "\n    {name}:")?;
                    for (key, rrset) in section {
                        write!(f, "\n      {}", render_rrset(key, rrset))?;
                    }
                }
                Ok(())
            }
        }
    }
}
