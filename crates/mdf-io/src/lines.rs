//! A line splitter over any byte stream that reports each line's offset in the (uncompressed)
//! stream. Lines are returned as slices of one reused buffer, so reading allocates nothing per
//! line; `memchr` finds the newlines.

use std::io::{self, Read};

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
        }
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Stream offset of the next unread byte (the start of the next line).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next line without its `\n` and the offset of its first byte; `None` at the end. The
    /// last line needs no trailing newline. After an error the reader must not be used again.
    pub fn next_line(&mut self) -> io::Result<Option<(u64, &[u8])>> {
        loop {
            let from = self.pos + self.scanned;
            if let Some(i) = memchr::memchr(b'\n', &self.buf[from..self.len]) {
                let start = self.pos;
                let end = from + i;
                let offset = self.offset;
                self.pos = end + 1;
                self.scanned = 0;
                self.offset += (end + 1 - start) as u64;
                return Ok(Some((offset, &self.buf[start..end])));
            }
            self.scanned = self.len - self.pos;
            if self.eof {
                if self.pos == self.len {
                    return Ok(None);
                }
                let (start, end, offset) = (self.pos, self.len, self.offset);
                self.pos = self.len;
                self.scanned = 0;
                self.offset += (end - start) as u64;
                return Ok(Some((offset, &self.buf[start..end])));
            }
            self.fill()?;
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.len, 0);
            self.len -= self.pos;
            self.pos = 0;
        }
        if self.buf.len() - self.len < CHUNK / 4 {
            // A line longer than the buffer: grow geometrically.
            let grown = (self.buf.len() * 2).max(CHUNK);
            self.buf.resize(grown, 0);
        }
        loop {
            match self.inner.read(&mut self.buf[self.len..]) {
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
