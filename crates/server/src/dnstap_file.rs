//! A dnstap Frame Streams file (START, data frames, STOP) written past the page cache: whole
//! 4 KiB blocks go to the file with direct I/O (`O_DIRECT`), from a 1 MiB buffer aligned for it,
//! in one `pwrite` each. A buffered write of the same bytes costs the writer thread a page-cache
//! page to allocate, charge and dirty for every 4 KiB (and the kernel's writeback later):
//! measured by `bench/tap_count.sh`, about twice the CPU of the direct write per byte.
//!
//! The tail (the bytes after the last whole block) stays in the buffer; a flush (the writer's,
//! every 50 ms, and the close) also writes it through the page cache at its place, so a reader
//! sees every frame within moments, and the next direct write covers it again with the same
//! bytes and more (the kernel writes back and drops the cached page first). Where the file
//! system refuses direct I/O (at open or at the first write), every write goes through the page
//! cache: the same bytes, the same places.

use crate::dnstap_sink::{control, Sink, START, STOP};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

/// The alignment of direct I/O's buffer, offsets and lengths (the largest logical block size).
const ALIGN: usize = 4096;
/// The buffer: what is written at once when the writer keeps up (about 3000 queries' frames).
const CAPACITY: usize = 1024 * 1024;

/// A Frame Streams file.
pub struct FileSink {
    /// The file opened for direct I/O, while the file system takes it.
    direct: Option<File>,
    /// The file opened as usual: the tails, and everything without direct I/O.
    plain: File,
    /// `CAPACITY + ALIGN` bytes; the pending ones are `buffer[start..start + len]`.
    buffer: Vec<u8>,
    /// Where the aligned part of `buffer` begins.
    start: usize,
    /// Bytes pending.
    len: usize,
    /// The file offset of the first pending byte (a multiple of `ALIGN`).
    offset: u64,
}

impl FileSink {
    /// Creates (truncates) `path` and writes the START frame.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let plain = File::create(path)?;
        let direct = OpenOptions::new().write(true).custom_flags(nix::fcntl::OFlag::O_DIRECT.bits()).open(path).ok();
        let buffer = vec![0u8; CAPACITY + ALIGN];
        let start = (ALIGN - buffer.as_ptr() as usize % ALIGN) % ALIGN;
        let mut sink = Self { direct, plain, buffer, start, len: 0, offset: 0 };
        sink.append(&control(START, true))?;
        Ok(sink)
    }

    /// Copies `bytes` into the buffer, writing its whole blocks whenever it fills.
    fn append(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        while !bytes.is_empty() {
            let taken = (CAPACITY - self.len).min(bytes.len());
            let at = self.start + self.len;
            self.buffer[at..at + taken].copy_from_slice(&bytes[..taken]);
            self.len += taken;
            bytes = &bytes[taken..];
            if self.len == CAPACITY {
                self.write_blocks()?;
            }
        }
        Ok(())
    }

    /// Writes the whole blocks pending (directly when it can) and moves the tail to the front.
    fn write_blocks(&mut self) -> std::io::Result<()> {
        let whole = self.len / ALIGN * ALIGN;
        if whole == 0 {
            return Ok(());
        }
        let blocks = &self.buffer[self.start..self.start + whole];
        let written = match &self.direct {
            Some(direct) => direct.write_all_at(blocks, self.offset),
            None => self.plain.write_all_at(blocks, self.offset),
        };
        if let Err(error) = written {
            if self.direct.take().is_none() {
                return Err(error);
            }
            tracing::debug!(%error, "dnstap file: no direct I/O here; writing through the page cache");
            self.plain.write_all_at(blocks, self.offset)?;
        }
        self.offset += whole as u64;
        self.buffer.copy_within(self.start + whole..self.start + self.len, self.start);
        self.len -= whole;
        Ok(())
    }

    /// Writes the tail through the page cache at its place (it stays pending).
    fn write_tail(&mut self) -> std::io::Result<()> {
        if self.len == 0 {
            return Ok(());
        }
        self.plain.write_all_at(&self.buffer[self.start..self.start + self.len], self.offset)
    }
}

impl Sink for FileSink {
    fn frames(&mut self, framed: &[u8], _count: u64) -> std::io::Result<()> {
        self.append(framed)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.write_blocks()?;
        self.write_tail()
    }

    fn close(&mut self) -> std::io::Result<()> {
        self.append(&control(STOP, false))?;
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(bytes: usize, fill: u8) -> Vec<u8> {
        let mut out = ((bytes - 4) as u32).to_be_bytes().to_vec();
        out.resize(bytes, fill);
        out
    }

    #[test]
    fn the_file_holds_every_frame_in_order_after_each_flush_and_at_close() {
        let dir = std::env::temp_dir().join(format!("portcullis-dnstap-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|error| panic!("{error}"));
        let path = dir.join("run.dnstap");
        let mut sink = FileSink::create(&path).unwrap_or_else(|error| panic!("{error}"));
        let mut wanted = control(START, true);
        // Small frames, a flush with a tail pending, then more than the buffer holds.
        for (count, size, fill) in [(3, 100, 1u8), (1, 5000, 2), (40, 70_000, 3), (2, 333, 4)] {
            for _ in 0..count {
                let frame = data(size, fill);
                assert!(sink.frames(&frame, 1).is_ok());
                wanted.extend_from_slice(&frame);
            }
            assert!(sink.flush().is_ok());
            assert_eq!(std::fs::read(&path).ok().as_deref(), Some(&wanted[..]), "after the frames of {size} bytes");
        }
        assert!(sink.close().is_ok());
        wanted.extend_from_slice(&control(STOP, false));
        assert_eq!(std::fs::read(&path).ok(), Some(wanted));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
