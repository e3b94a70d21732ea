//! The HTTP/2 rapid-reset bound (CVE-2023-44487) below hyper: [`ResetBound`] wraps a DoH
//! connection's stream and follows the client's HTTP/2 frames (RFC 9113 §4.1: a 9-octet header
//! with a 24-bit length and a type; the connection preface first, §3.4) as they are read,
//! counting RST_STREAM frames (type 3). Past [`MAX_RESETS`] the read fails and the connection
//! ends: a client that opens and resets streams costs at most that many streams, whether h2
//! saw them reset before or after hyper took them. HTTP/1.1 (no preface) is passed through.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// RST_STREAM frames a client may send on one connection.
pub const MAX_RESETS: usize = 200;

/// The HTTP/2 client connection preface (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The RST_STREAM frame type (RFC 9113 §6.4).
const RST_STREAM: u8 = 3;

/// Where the reader is in the client's byte stream.
#[derive(Debug)]
enum Position {
    /// Matching the preface: octets of it seen.
    Preface(usize),
    /// Filling a frame header: its octets so far.
    Header([u8; 9], usize),
    /// Skipping a frame's payload: octets left.
    Payload(usize),
    /// Not HTTP/2 (HTTP/1.1): nothing to follow.
    Off,
}

/// A stream whose HTTP/2 RST_STREAM frames are counted as they are read.
#[derive(Debug)]
pub struct ResetBound<S> {
    inner: S,
    position: Position,
    resets: usize,
}

impl<S> ResetBound<S> {
    /// Follows the frames read from `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner, position: Position::Preface(0), resets: 0 }
    }

    /// Follows `bytes`, just read; false once the client sent more than [`MAX_RESETS`] resets.
    fn follow(&mut self, mut bytes: &[u8]) -> bool {
        while let Some((&first, rest)) = bytes.split_first() {
            match &mut self.position {
                Position::Off => return true,
                Position::Preface(seen) => {
                    if first != PREFACE[*seen] {
                        self.position = Position::Off;
                        return true;
                    }
                    *seen += 1;
                    if *seen == PREFACE.len() {
                        self.position = Position::Header([0; 9], 0);
                    }
                    bytes = rest;
                }
                Position::Header(header, filled) => {
                    header[*filled] = first;
                    *filled += 1;
                    bytes = rest;
                    if *filled == header.len() {
                        let length = usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
                        if header[3] == RST_STREAM {
                            self.resets += 1;
                        }
                        self.position = if length == 0 { Position::Header([0; 9], 0) } else { Position::Payload(length) };
                    }
                }
                Position::Payload(left) => {
                    let skip = (*left).min(bytes.len());
                    *left -= skip;
                    bytes = &bytes[skip..];
                    if *left == 0 {
                        self.position = Position::Header([0; 9], 0);
                    }
                }
            }
        }
        self.resets <= MAX_RESETS
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ResetBound<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let this = &mut *self;
            if !this.follow(&buf.filled()[before..]) {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionAborted, "too many HTTP/2 stream resets")));
            }
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ResetBound<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::{ResetBound, MAX_RESETS, PREFACE};

    fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut bytes = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, 0, 0, 0, 0, 1];
        bytes.extend_from_slice(payload);
        bytes
    }

    #[test]
    fn resets_are_counted_across_any_split_of_the_stream_and_http1_passes() {
        let mut stream = PREFACE.to_vec();
        stream.extend(frame(4, &[0; 6])); // SETTINGS
        for _ in 0..MAX_RESETS {
            stream.extend(frame(1, &[0x82; 20])); // HEADERS
            stream.extend(frame(3, &[0, 0, 0, 8])); // RST_STREAM
        }
        for chunk in [1, 7, 9, 64, stream.len()] {
            let mut bound = ResetBound::new(());
            assert!(stream.chunks(chunk).all(|part| bound.follow(part)), "chunks of {chunk}");
            assert_eq!(bound.resets, MAX_RESETS);
            assert!(!bound.follow(&frame(3, &[0, 0, 0, 8])), "one more");
        }
        let mut http1 = ResetBound::new(());
        assert!(http1.follow(b"POST /dns-query HTTP/1.1\r\n") && http1.follow(&frame(3, &[0; 4]).repeat(MAX_RESETS + 1)));
    }
}
