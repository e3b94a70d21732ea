//! Canonical form and order (RFC 4034 §6).
//!
//! - Names (§6.1): `NameBuf::canonical_cmp` of the wire crate orders names by labels from the
//!   right, each label as a lower-cased octet string; names are in wire form, so an escaped label
//!   byte (`\000`, `\.`, `\255`) compares as the octet it stands for.
//! - Rdata (§6.2 as amended by RFC 6840 §5.1): the domain names embedded in the rdata of the
//!   RFC 1035-era types, SRV, NAPTR, DNAME, A6, RRSIG and the rest of the §6.2 list are
//!   lower-cased; NSEC's Next Domain Name is left as it is (RFC 6840 §5.1).
//! - RRsets (§6.3): rdata sorted as unsigned octet strings (left-justified, shorter first on a
//!   common prefix), duplicates removed.

use crate::Error;
use core::cmp::Ordering;
use portcullis_wire::name::uncompressed_at;
use portcullis_wire::{NameBuf, Rtype};

/// Where the domain names sit in the rdata of a type of RFC 4034 §6.2's list.
enum Names {
    /// Names at these steps: `Skip(n)` skips `n` octets, `Name` lower-cases one name,
    /// `Strings(n)` skips `n` character-strings.
    Steps(&'static [Step]),
    /// A6 (RFC 2874): the prefix name follows a prefix length and a partial address.
    A6,
}

#[derive(Clone, Copy)]
enum Step {
    Skip(usize),
    Name,
    Strings(usize),
}

fn names_of(rtype: Rtype) -> Option<Names> {
    use Step::{Name, Skip, Strings};
    let steps: &'static [Step] = match rtype.0 {
        // NS MD MF CNAME MB MG MR PTR DNAME
        2..=5 | 7..=9 | 12 | 39 => &[Name],
        // SOA, MINFO, RP
        6 | 14 | 17 => &[Name, Name],
        // MX, AFSDB, RT, KX
        15 | 18 | 21 | 36 => &[Skip(2), Name],
        // PX
        26 => &[Skip(2), Name, Name],
        // SRV
        33 => &[Skip(6), Name],
        // NAPTR
        35 => &[Skip(4), Strings(3), Name],
        // SIG, RRSIG: the signer's name after 18 octets of fields
        24 | 46 => &[Skip(18), Name],
        // NXT
        30 => &[Name],
        38 => return Some(Names::A6),
        _ => return None,
    };
    Some(Names::Steps(steps))
}

/// The canonical form of `rdata` of type `rtype` (RFC 4034 §6.2 item 3, RFC 6840 §5.1): embedded
/// names lower-cased. Rdata whose names cannot be found is refused.
pub fn canonical_rdata(rtype: Rtype, rdata: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = rdata.to_vec();
    match names_of(rtype) {
        None => {}
        Some(Names::Steps(steps)) => lowercase_steps(&mut out, steps)?,
        Some(Names::A6) => lowercase_a6(&mut out)?,
    }
    Ok(out)
}

fn lowercase_steps(rdata: &mut [u8], steps: &[Step]) -> Result<(), Error> {
    let bad = Error::Malformed("rdata names");
    let mut pos = 0;
    for step in steps {
        match step {
            Step::Skip(n) => pos += n,
            Step::Strings(n) => {
                for _ in 0..*n {
                    pos += 1 + usize::from(*rdata.get(pos).ok_or(bad)?);
                }
            }
            Step::Name => pos += lowercase_name_at(rdata, pos)?,
        }
        if pos > rdata.len() {
            return Err(bad);
        }
    }
    Ok(())
}

fn lowercase_a6(rdata: &mut [u8]) -> Result<(), Error> {
    let bad = Error::Malformed("A6 rdata");
    let prefix = usize::from(*rdata.first().ok_or(bad)?);
    if prefix > 128 {
        return Err(bad);
    }
    let start = 1 + (128 - prefix).div_ceil(8);
    if prefix > 0 {
        lowercase_name_at(rdata, start)?;
    }
    Ok(())
}

/// Lower-cases the uncompressed name at `pos`; returns its length.
fn lowercase_name_at(rdata: &mut [u8], pos: usize) -> Result<usize, Error> {
    let len = uncompressed_at(rdata, pos).ok_or(Error::Malformed("rdata name"))?.len();
    // Label lengths are at most 63, below `A`: lower-casing the whole span touches letters only.
    rdata[pos..pos + len].make_ascii_lowercase();
    Ok(len)
}

/// Canonical RRset order (RFC 4034 §6.3) of rdata already in canonical form: as unsigned octet
/// strings, a prefix before the longer string.
pub fn rdata_cmp(left: &[u8], right: &[u8]) -> Ordering {
    left.cmp(right)
}

/// The rdata of an RRset in canonical form and order, duplicates removed (RFC 4034 §6.3).
pub fn canonical_rrset<'a>(rtype: Rtype, rdatas: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<Vec<u8>>, Error> {
    let mut out = rdatas.into_iter().map(|rdata| canonical_rdata(rtype, rdata)).collect::<Result<Vec<_>, _>>()?;
    out.sort_unstable_by(|a, b| rdata_cmp(a, b));
    out.dedup();
    Ok(out)
}

/// Canonical name order (RFC 4034 §6.1); the same as `NameBuf::canonical_cmp`.
pub fn name_cmp(left: &NameBuf, right: &NameBuf) -> Ordering {
    left.canonical_cmp(right)
}

/// True when an NSEC record from `owner` to `next` covers `name`: `owner < name < next` in
/// canonical order, or, for the last NSEC of the chain (`next` at or before `owner`), `name`
/// after `owner` or before `next`.
pub fn nsec_covers(owner: &NameBuf, next: &NameBuf, name: &NameBuf) -> bool {
    let after_owner = name_cmp(owner, name) == Ordering::Less;
    let before_next = name_cmp(name, next) == Ordering::Less;
    if name_cmp(owner, next) == Ordering::Less {
        after_owner && before_next
    } else {
        after_owner || before_next
    }
}

#[cfg(test)]
#[path = "canonical_tests.rs"]
mod tests;
