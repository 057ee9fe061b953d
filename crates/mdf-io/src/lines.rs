//! A line splitter over any byte stream that reports each line's offset in the (uncompressed)
//! stream. Lines are returned as slices of one reused buffer, so reading allocates nothing per
//! line; `memchr` finds the newlines.
//!
//! A caller that collects lines (a batch) calls [`LineReader::start_batch`] first: the lines
//! returned after it stay where they are in [`LineReader::buffer`] (the buffer grows instead of
//! moving them) until the next `start_batch`, so a batch is decoded in place, never copied.

use std::io::{self, Read};
use std::ops::Range;

/// Bytes asked of the stream per read. Each read is capped to it, so a batch leaves at most this
/// much read ahead, which the next batch moves to the front of the buffer.
const CHUNK: usize = 1 << 20;

pub(crate) struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Start of the unconsumed bytes in `buf`.
    pos: usize,
    /// End of the valid bytes in `buf`.
    len: usize,
    /// Bytes after `pos` already known to hold no newline.
    scanned: usize,
    /// Stream offset of `buf[pos]`.
    offset: u64,
    eof: bool,
    /// Set by `start_batch`: the lines returned since then are kept in place.
    in_batch: bool,
}

impl<R: Read> LineReader<R> {
    /// `offset` is the stream offset of the first byte `inner` yields.
    pub fn new(inner: R, offset: u64) -> Self {
        LineReader {
            inner,
            buf: vec![0; CHUNK],
            pos: 0,
            len: 0,
            scanned: 0,
            offset,
            eof: false,
            in_batch: false,
        }
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Stream offset of the next unread byte (the start of the next line).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Forgets the lines returned so far and keeps the ones returned from now on in place, at
    /// the ranges [`LineReader::next_line_range`] gives, until the next call.
    pub fn start_batch(&mut self) {
        self.compact();
        self.in_batch = true;
    }

    /// The buffer the ranges of [`LineReader::next_line_range`] point into.
    pub fn buffer(&self) -> &[u8] {
        &self.buf
    }

    /// The next line without its `\n` and the offset of its first byte; `None` at the end. The
    /// last line needs no trailing newline. After an error the reader must not be used again.
    pub fn next_line(&mut self) -> io::Result<Option<(u64, &[u8])>> {
        Ok(self
            .next_line_range()?
            .map(|(offset, range)| (offset, &self.buf[range.start..range.end - 1])))
    }

    /// Like [`LineReader::next_line`], but the line's place in [`LineReader::buffer`], its `\n`
    /// included (one is added after a last line that has none; it is not counted in offsets).
    pub fn next_line_range(&mut self) -> io::Result<Option<(u64, Range<usize>)>> {
        loop {
            let from = self.pos + self.scanned;
            if let Some(i) = memchr::memchr(b'\n', &self.buf[from..self.len]) {
                let start = self.pos;
                let end = from + i + 1;
                let offset = self.offset;
                self.pos = end;
                self.scanned = 0;
                self.offset += (end - start) as u64;
                return Ok(Some((offset, start..end)));
            }
            self.scanned = self.len - self.pos;
            if self.eof {
                if self.pos == self.len {
                    return Ok(None);
                }
                let (start, offset) = (self.pos, self.offset);
                self.offset += (self.len - start) as u64;
                if self.len == self.buf.len() {
                    self.buf.push(b'\n');
                } else {
                    self.buf[self.len] = b'\n';
                }
                self.len += 1;
                self.pos = self.len;
                self.scanned = 0;
                return Ok(Some((offset, start..self.len)));
            }
            self.fill()?;
        }
    }

    /// Moves the unconsumed bytes to the front of the buffer.
    fn compact(&mut self) {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.len, 0);
            self.len -= self.pos;
            self.pos = 0;
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        if !self.in_batch {
            self.compact();
        }
        if self.buf.len() - self.len < CHUNK / 4 {
            // A batch, or a line, longer than the buffer: grow geometrically.
            let grown = (self.buf.len() * 2).max(CHUNK);
            self.buf.resize(grown, 0);
        }
        let end = self.buf.len().min(self.len + CHUNK);
        loop {
            match self.inner.read(&mut self.buf[self.len..end]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.len += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(data: &[u8], start: u64) -> Vec<(u64, Vec<u8>)> {
        let mut r = LineReader::new(data, start);
        let mut out = Vec::new();
        while let Some((off, line)) = r.next_line().unwrap() {
            out.push((off, line.to_vec()));
        }
        out
    }

    #[test]
    fn splits_lines_with_offsets() {
        let got = collect(b"ab\n\ncde\nf", 10);
        assert_eq!(
            got,
            vec![
                (10, b"ab".to_vec()),
                (13, b"".to_vec()),
                (14, b"cde".to_vec()),
                (18, b"f".to_vec())
            ]
        );
        assert_eq!(collect(b"x\n", 0), vec![(0, b"x".to_vec())]);
        assert!(collect(b"", 0).is_empty());
    }

    /// A stream that yields at most `step` bytes per read, as a decompressor may.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_batch_stays_in_place_while_the_buffer_refills() {
        // 3 MiB of lines of varied length, the last without a newline, read 100 KB at a time:
        // a batch of all of them spans many refills and one growth of the buffer.
        let lines: Vec<Vec<u8>> = (0..30_000)
            .map(|i| format!("{i}:{}", "x".repeat(i % 200)).into_bytes())
            .collect();
        let mut data = lines.join(&b'\n');
        data.extend_from_slice(b"\nlast");
        let mut r = LineReader::new(
            Trickle {
                data: &data,
                step: 100_000,
            },
            5,
        );
        assert_eq!(r.next_line().unwrap().unwrap(), (5, &b"0:"[..]));
        r.start_batch();
        let mut batch = Vec::new();
        while let Some(line) = r.next_line_range().unwrap() {
            batch.push(line);
        }
        assert!(
            r.buffer().len() > CHUNK,
            "the batch outgrew the first buffer"
        );
        assert_eq!(batch.len(), lines.len());
        let mut offset = 5 + 3;
        for (i, (at, range)) in batch.iter().enumerate() {
            let want = match lines.get(i + 1) {
                Some(line) => [line.as_slice(), b"\n"].concat(),
                None => b"last\n".to_vec(), // a newline is added after the last line
            };
            assert_eq!(
                (*at, &r.buffer()[range.clone()]),
                (offset, &want[..]),
                "line {i}"
            );
            offset += want.len() as u64;
        }
        assert_eq!(
            r.offset(),
            data.len() as u64 + 5,
            "the added newline is not counted"
        );

        // The next batch starts after the last line; earlier ranges are released.
        r.start_batch();
        assert!(r.next_line_range().unwrap().is_none());
    }

    #[test]
    fn handles_lines_longer_than_the_buffer() {
        let long = vec![b'a'; CHUNK * 3 + 7];
        let mut data = long.clone();
        data.push(b'\n');
        data.extend_from_slice(b"tail");
        let got = collect(&data, 0);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1, long);
        assert_eq!(got[1], ((CHUNK * 3 + 8) as u64, b"tail".to_vec()));
    }
}
