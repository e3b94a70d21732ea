//! The HTTP side of a DoH exchange (RFC 8484 §4, §5): the DNS query out of a GET or POST
//! request, checked, and the HTTP response of a DNS reply or an error status.
//!
//! Statuses: 404 for any path but `/dns-query`, 405 for a method other than GET and POST, 415
//! for a POST whose content type is not `application/dns-message`, 413 for a body over 65 535
//! octets, 400 for a bad or missing `dns` parameter (base64url without padding, RFC 4648 §5)
//! or a message that does not parse.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Response, StatusCode};
use portcullis_wire::message::{Message, Section};
use portcullis_wire::Rtype;

/// The one path served (RFC 8484 §4.1's example, what every client uses by default).
pub const PATH: &str = "/dns-query";

/// The DNS media type (RFC 8484 §6).
pub const MEDIA_TYPE: &str = "application/dns-message";

/// Largest DNS message (and so POST body) accepted.
pub const MAX_MESSAGE: usize = 65_535;

/// A checked DNS query taken out of a request.
pub type Body = Vec<u8>;

/// What the server sends back.
#[derive(Debug)]
pub enum Reply {
    /// 200 with a DNS message and its freshness lifetime (RFC 8484 §5.1).
    Dns(Vec<u8>, Option<u32>),
    /// An error status, no body.
    Status(StatusCode),
    /// The client abandoned the request (its body ended in an error: the stream was reset).
    Abandoned,
}

impl Reply {
    /// The reply carrying the DNS message `bytes`, with `max-age` its smallest TTL.
    pub fn dns(bytes: &[u8]) -> Self {
        Self::Dns(bytes.to_vec(), smallest_ttl(bytes))
    }

    /// The HTTP response.
    pub fn into_response(self) -> Response<Full<Bytes>> {
        let mut response = match self {
            Self::Dns(bytes, ttl) => {
                let mut response = Response::new(Full::new(Bytes::from(bytes)));
                let headers = response.headers_mut();
                headers.insert(CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
                if let Some(ttl) = ttl {
                    if let Ok(value) = HeaderValue::from_str(&format!("max-age={ttl}")) {
                        headers.insert(CACHE_CONTROL, value);
                    }
                }
                response
            }
            Self::Abandoned => Self::Status(StatusCode::BAD_REQUEST).into_response(),
            Self::Status(status) => {
                let mut response = Response::new(Full::new(Bytes::new()));
                *response.status_mut() = status;
                if status == StatusCode::METHOD_NOT_ALLOWED {
                    response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, POST"));
                }
                response
            }
        };
        let length = response_length(&response);
        response.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(length));
        response
    }
}

fn response_length(response: &Response<Full<Bytes>>) -> u64 {
    use hyper::body::Body as _;
    response.body().size_hint().exact().unwrap_or(0)
}

/// The DNS query of `request`, or the error status to send.
pub async fn query_of(request: hyper::Request<Incoming>) -> Result<Body, Reply> {
    if let Some(status) = refusal(&request) {
        // The body is read (up to a message's size) before the refusal: an HTTP/2 stream
        // reset under a request still being sent makes clients report an error, not the status.
        drain(request.into_body(), 0).await;
        return Err(Reply::Status(status));
    }
    let bytes = match *request.method() {
        Method::GET => query_parameter(request.uri().query().unwrap_or(""))?,
        Method::POST => post_body(request).await?,
        _ => return Err(Reply::Status(StatusCode::METHOD_NOT_ALLOWED)),
    };
    if Message::parse(&bytes).is_err() {
        return Err(Reply::Status(StatusCode::BAD_REQUEST));
    }
    Ok(bytes)
}

/// The status refusing `request` for its path, method or content type, if any.
fn refusal(request: &hyper::Request<Incoming>) -> Option<StatusCode> {
    if request.uri().path() != PATH {
        return Some(StatusCode::NOT_FOUND);
    }
    match *request.method() {
        Method::GET => None,
        Method::POST => {
            let content_type = request.headers().get(CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("");
            let media = content_type.split(';').next().unwrap_or("").trim();
            (!media.eq_ignore_ascii_case(MEDIA_TYPE)).then_some(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        }
        _ => Some(StatusCode::METHOD_NOT_ALLOWED),
    }
}

/// The `dns` parameter of a GET query string, decoded.
fn query_parameter(query: &str) -> Result<Body, Reply> {
    let bad = Reply::Status(StatusCode::BAD_REQUEST);
    let Some(value) = query.split('&').find_map(|pair| pair.strip_prefix("dns=")) else { return Err(bad) };
    if value.len() > MAX_MESSAGE.div_ceil(3) * 4 {
        return Err(Reply::Status(StatusCode::URI_TOO_LONG));
    }
    base64url_decode(value).ok_or(bad)
}

/// A POST body (of the DNS media type), at most [`MAX_MESSAGE`] octets.
async fn post_body(request: hyper::Request<Incoming>) -> Result<Body, Reply> {
    let declared = request.headers().get(CONTENT_LENGTH).and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > DRAIN_LIMIT as u64) {
        return Err(Reply::Status(StatusCode::PAYLOAD_TOO_LARGE));
    }
    let mut body = request.into_body();
    let mut bytes = Vec::new();
    for _ in 0..MAX_FRAMES {
        match body.frame().await {
            None => return Ok(bytes),
            Some(Err(_)) => return Err(Reply::Abandoned),
            Some(Ok(frame)) => {
                let data = frame.data_ref().map_or(&[][..], |data| &data[..]);
                if bytes.len() + data.len() > MAX_MESSAGE {
                    drain(body, bytes.len() + data.len()).await;
                    return Err(Reply::Status(StatusCode::PAYLOAD_TOO_LARGE));
                }
                bytes.extend_from_slice(data);
            }
        }
    }
    Err(Reply::Status(StatusCode::BAD_REQUEST))
}

/// Most octets of a refused body read (and thrown away) before the refusal is sent, so that
/// the client, still sending, sees the status rather than a reset stream; a larger body is
/// refused at once.
const DRAIN_LIMIT: usize = 4 * MAX_MESSAGE;

/// Most body frames read for one request.
const MAX_FRAMES: usize = 4096;

/// Reads and drops the rest of a body, `seen` octets of it already read, up to [`DRAIN_LIMIT`].
async fn drain(mut body: Incoming, mut seen: usize) {
    for _ in 0..MAX_FRAMES {
        match body.frame().await {
            Some(Ok(frame)) => seen += frame.data_ref().map_or(0, bytes::Bytes::len),
            _ => return,
        }
        if seen > DRAIN_LIMIT {
            return;
        }
    }
}

/// Decodes base64url without padding (RFC 4648 §5, RFC 8484 §4.1); `None` for any other
/// character (padding included) or a length no encoding has.
pub fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut bits, mut count) = (0u32, 0u32);
    for byte in text.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(value);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    // 2 or 4 bits left over are the zero padding of the last character; 6 is a lone character.
    (count < 6 && bits == 0).then_some(out)
}

/// Encodes base64url without padding (the clients' side of [`base64url_decode`]).
pub fn base64url_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let word = chunk.iter().enumerate().fold(0u32, |word, (i, &b)| word | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(word >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// The smallest TTL of the records of a reply's answer and authority sections (RFC 8484 §5.1:
/// the response's freshness lifetime must not exceed it); `None` without records.
pub fn smallest_ttl(reply: &[u8]) -> Option<u32> {
    let message = Message::parse(reply).ok()?;
    [Section::Answer, Section::Authority]
        .into_iter()
        .flat_map(|section| message.records(section))
        .filter(|record| record.rtype != Rtype::OPT)
        .map(|record| record.ttl)
        .min()
}

#[cfg(test)]
mod tests {
    use super::{base64url_decode, base64url_encode};

    #[test]
    fn base64url_round_trips_and_rejects_padding_and_foreign_characters() {
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let text = base64url_encode(&bytes);
            assert!(!text.contains('='), "{text}");
            assert_eq!(base64url_decode(&text), Some(bytes), "{text}");
        }
        // RFC 8484 §4.1's example query.
        let example = base64url_decode("AAABAAABAAAAAAAAA3d3dwdleGFtcGxlA2NvbQAAAQAB").unwrap();
        assert_eq!(&example[12..16], b"\x03www");
        for bad in ["AAA=", "AA+A", "AA/A", "A", "AAAAA", "AB", "A B"] {
            assert_eq!(base64url_decode(bad), None, "{bad}");
        }
    }
}
