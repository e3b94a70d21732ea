//! Rdata of one zone-file record: the RFC 3597 generic form `\# length hex…` here (checked with
//! `rdata_check` for known types), every other form through `portcullis_wire::rdata::rdata_from_text`.

use super::lexer::Tok;
use portcullis_wire::rdata::{rdata_check, rdata_from_text, Token};
use portcullis_wire::{NameBuf, Rtype};

/// The largest rdata (RDLENGTH is 16 bits).
const MAX_RDATA: usize = 0xFFFF;

/// Converts the rdata tokens of a record of type `rtype` to uncompressed wire form.
pub(super) fn rdata(rtype: Rtype, tokens: &[Tok<'_>], origin: &NameBuf) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    match tokens.split_first() {
        Some((first, rest)) if first.text == "\\#" && !first.quoted => {
            generic(rest, &mut out).map_err(|reason| format!("bad {rtype} record: {reason}"))?;
            check_known_generic(rtype, &out).map_err(|reason| format!("bad {rtype} record: {reason}"))?;
        }
        _ => {
            let wire: Vec<Token<'_>> = tokens.iter().map(|t| Token { text: t.text, quoted: t.quoted }).collect();
            rdata_from_text(rtype, &wire, origin, &mut out).map_err(|error| format!("bad {rtype} record: {}", without_type(rtype, &error.to_string())))?;
        }
    }
    if out.len() > MAX_RDATA {
        return Err(format!("bad {rtype} record: rdata longer than {MAX_RDATA} octets"));
    }
    Ok(out)
}

/// The rdata parser's message without its leading type name, which ours already gives.
fn without_type(rtype: Rtype, message: &str) -> String {
    let name = rtype.to_string();
    let rest = message.strip_prefix(name.as_str()).and_then(|rest| rest.strip_prefix(": ").or_else(|| rest.strip_prefix(' ')));
    rest.unwrap_or(message).to_owned()
}

/// The SOA MINIMUM field (RFC 1035 §3.3.13) of wire rdata, if the rdata is a whole SOA.
pub(super) fn soa_minimum(rdata: &[u8]) -> Option<u32> {
    let (_, after_mname) = NameBuf::parse_uncompressed(rdata, 0).ok()?;
    let (_, after_rname) = NameBuf::parse_uncompressed(rdata, after_mname).ok()?;
    let fixed: &[u8; 20] = rdata.get(after_rname..)?.try_into().ok()?;
    Some(u32::from_be_bytes([fixed[16], fixed[17], fixed[18], fixed[19]]))
}

/// `length hex…` after `\#` (RFC 3597 §5); the hex may be split over several tokens.
fn generic(tokens: &[Tok<'_>], out: &mut Vec<u8>) -> Result<(), String> {
    let Some((length, hex)) = tokens.split_first() else {
        return Err("'\\#' without a length".into());
    };
    let declared: usize = length
        .text
        .parse()
        .ok()
        .filter(|&n| n <= MAX_RDATA && !length.quoted && length.text.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| format!("bad generic rdata length '{}'", shown(length.text)))?;
    for token in hex {
        let bytes = token.text.as_bytes();
        if token.quoted || bytes.len() % 2 != 0 {
            return Err(format!("bad hex '{}' in generic rdata", shown(token.text)));
        }
        for pair in bytes.chunks_exact(2) {
            let (Some(high), Some(low)) = (hex_value(pair[0]), hex_value(pair[1])) else {
                return Err(format!("bad hex '{}' in generic rdata", shown(token.text)));
            };
            out.push((high << 4) | low);
        }
        if out.len() > declared {
            break;
        }
    }
    if out.len() != declared {
        return Err(format!("generic rdata has {} octets but its length says {declared}", out.len()));
    }
    Ok(())
}

/// RFC 3597 §5: generic rdata of a known type must still be valid for that type.
fn check_known_generic(rtype: Rtype, rdata: &[u8]) -> Result<(), String> {
    if rdata_check(rtype, rdata) {
        return Ok(());
    }
    Err(format!("generic rdata of {} octets is not valid for the type", rdata.len()))
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).and_then(|v| u8::try_from(v).ok())
}

/// A token cut to a length fit for an error message.
pub(super) fn shown(text: &str) -> String {
    const MAX_SHOWN: usize = 80;
    match text.char_indices().nth(MAX_SHOWN) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks<'t>(texts: &[&'t str]) -> Vec<Tok<'t>> {
        texts.iter().map(|text| Tok { text, quoted: false, line: 1 }).collect()
    }

    #[test]
    fn rfc3597_5_generic_form() {
        let origin = NameBuf::ROOT;
        assert_eq!(rdata(Rtype(65280), &toks(&["\\#", "4", "0A00", "0001"]), &origin).unwrap(), [10, 0, 0, 1]);
        assert_eq!(rdata(Rtype::A, &toks(&["\\#", "4", "0a000001"]), &origin).unwrap(), [10, 0, 0, 1]);
        assert_eq!(rdata(Rtype(65280), &toks(&["\\#", "0"]), &origin).unwrap(), Vec::<u8>::new());
        assert!(rdata(Rtype(65280), &toks(&["\\#", "3", "0a0000"]), &origin).is_ok());
        assert!(rdata(Rtype::A, &toks(&["\\#", "3", "0a0000"]), &origin).unwrap_err().contains("not valid for the type"));
        assert!(rdata(Rtype(65280), &toks(&["\\#", "4", "0a00"]), &origin).unwrap_err().contains("2 octets but its length says 4"));
        assert!(rdata(Rtype(65280), &toks(&["\\#", "x"]), &origin).unwrap_err().contains("bad generic rdata length 'x'"));
        assert!(rdata(Rtype(65280), &toks(&["\\#", "1", "0g"]), &origin).unwrap_err().contains("bad hex '0g'"));
        assert!(rdata(Rtype(65280), &toks(&["\\#"]), &origin).unwrap_err().contains("without a length"));
        assert!(rdata(Rtype::NS, &toks(&["\\#", "2", "0100"]), &origin).unwrap_err().contains("not valid for the type"));
        assert_eq!(rdata(Rtype::NS, &toks(&["\\#", "3", "016100"]), &origin).unwrap(), [1, b'a', 0]);
    }

    #[test]
    fn soa_minimum_is_the_last_field() {
        let mut soa = vec![0u8, 0];
        soa.extend_from_slice(&[0; 16]);
        soa.extend_from_slice(&300u32.to_be_bytes());
        assert_eq!(soa_minimum(&soa), Some(300));
        assert_eq!(soa_minimum(&soa[..soa.len() - 1]), None);
    }

    #[test]
    fn long_tokens_are_cut_in_messages() {
        assert_eq!(shown(&"é".repeat(100)).chars().count(), 83);
    }
}
