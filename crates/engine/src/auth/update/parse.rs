//! Reading an UPDATE message (RFC 2136 §2, §3.1.1, §3.2, §3.4.1): exactly one zone of type SOA,
//! then each prerequisite and update record checked for its class, TTL and rdata length. A
//! record that breaks a rule makes the whole message FORMERR, an owner outside the zone NOTZONE;
//! nothing is evaluated against zone data here. Rdata is decompressed and must be well formed
//! for its type. The additional section is ignored (OPT and TSIG were read by the pipeline).

use super::{Change, Prerequisite, UpdateMessage, ZoneRecord};
use portcullis_wire::message::{decompress_rdata, Message, Record, Section};
use portcullis_wire::rdata::rdata_check;
use portcullis_wire::{Class, NameBuf, Opcode, Rcode, Rtype};

/// Reads `bytes` as an UPDATE message ([`parse`]); FORMERR when it is no message at all.
pub fn parse_bytes(bytes: &[u8]) -> Result<UpdateMessage, Rcode> {
    let message = Message::parse(bytes).map_err(|_| Rcode::FORMERR)?;
    parse(&message)
}

/// Reads a checked message as an UPDATE: FORMERR for a malformed section, NOTZONE for a record
/// outside the zone (§3.2, §3.4.1.3).
pub fn parse(message: &Message<'_>) -> Result<UpdateMessage, Rcode> {
    let header = message.header();
    if header.opcode() != Opcode::UPDATE || header.qdcount() != 1 {
        return Err(Rcode::FORMERR);
    }
    let zone_section = message.question().ok_or(Rcode::FORMERR)?;
    if zone_section.qtype != Rtype::SOA {
        return Err(Rcode::FORMERR);
    }
    let (zone, class) = (zone_section.qname, zone_section.qclass);
    let mut prerequisites = Vec::new();
    for record in message.records(Section::Answer) {
        prerequisite(message, &record, &zone, class, &mut prerequisites)?;
    }
    let mut changes = Vec::new();
    for record in message.records(Section::Authority) {
        changes.push(change(message, &record, &zone, class)?);
    }
    Ok(UpdateMessage { zone, class, prerequisites, changes })
}

/// One prerequisite record (§3.2.1-§3.2.3); value-dependent ones are grouped by name and type.
fn prerequisite(message: &Message<'_>, record: &Record<'_>, zone: &NameBuf, class: Class, out: &mut Vec<Prerequisite>) -> Result<(), Rcode> {
    if record.ttl != 0 {
        return Err(Rcode::FORMERR);
    }
    if !record.owner.is_subdomain_of(zone) {
        return Err(Rcode::NOTZONE);
    }
    let (owner, rtype) = (record.owner, record.rtype);
    let empty = record.rdata.is_empty();
    let item = match (record.class, rtype) {
        (Class::ANY, Rtype::ANY) if empty => Prerequisite::NameInUse(owner),
        (Class::ANY, _) if empty && !rtype.is_meta() => Prerequisite::RrsetExists(owner, rtype),
        (Class::NONE, Rtype::ANY) if empty => Prerequisite::NameNotInUse(owner),
        (Class::NONE, _) if empty && !rtype.is_meta() => Prerequisite::RrsetDoesNotExist(owner, rtype),
        (c, _) if c == class && !rtype.is_meta() => {
            let rdata = rdata_of(message, record)?;
            let same = out.iter_mut().find_map(|p| match p {
                Prerequisite::RrsetEquals(name, t, rdatas) if *name == owner && *t == rtype => Some(rdatas),
                _ => None,
            });
            match same {
                Some(rdatas) => rdatas.push(rdata),
                None => out.push(Prerequisite::RrsetEquals(owner, rtype, vec![rdata])),
            }
            return Ok(());
        }
        _ => return Err(Rcode::FORMERR),
    };
    out.push(item);
    Ok(())
}

/// One update record (§3.4.1.3).
fn change(message: &Message<'_>, record: &Record<'_>, zone: &NameBuf, class: Class) -> Result<Change, Rcode> {
    if !record.owner.is_subdomain_of(zone) {
        return Err(Rcode::NOTZONE);
    }
    let (owner, rtype) = (record.owner, record.rtype);
    let empty = record.rdata.is_empty();
    match record.class {
        c if c == class => {
            if rtype.is_meta() || record.ttl > i32::MAX as u32 {
                return Err(Rcode::FORMERR);
            }
            Ok(Change::Add(ZoneRecord { owner, rtype, class, ttl: record.ttl, rdata: rdata_of(message, record)? }))
        }
        Class::ANY if record.ttl == 0 && empty => match rtype {
            Rtype::ANY => Ok(Change::DeleteName(owner)),
            _ if rtype.is_meta() => Err(Rcode::FORMERR),
            _ => Ok(Change::DeleteRrset(owner, rtype)),
        },
        Class::NONE if record.ttl == 0 && !rtype.is_meta() => Ok(Change::DeleteRr(owner, rtype, rdata_of(message, record)?)),
        _ => Err(Rcode::FORMERR),
    }
}

/// The record's rdata uncompressed, checked for its type.
fn rdata_of(message: &Message<'_>, record: &Record<'_>) -> Result<Vec<u8>, Rcode> {
    let mut rdata = Vec::with_capacity(record.rdata.len());
    decompress_rdata(message.bytes(), record, &mut rdata).map_err(|_| Rcode::FORMERR)?;
    if !rdata_check(record.rtype, &rdata) {
        return Err(Rcode::FORMERR);
    }
    Ok(rdata)
}
