//! A streaming WARC (1.0, 1.1) and ARC (v1/v2) record reader over plain or gzip input.
//!
//! Input is read in two layers. The *raw* layer is the file as stored; for gzip input it is
//! split into members by hand (header parsed here, raw deflate inflated with `flate2`, CRC-32
//! and size checked from the trailer), so the reader always knows the byte offset at which the
//! member holding a record starts: CommonCrawl writes one member per record, and that offset is
//! what a CDX index stores to re-read the record. The *data* layer is the decompressed bytes of
//! one segment (a gzip member, or the whole plain file), from which records are cut.
//!
//! Damage never stops the stream. Each fault becomes a [`WarcItem::Bad`] with a stable reason
//! and the reader resynchronises:
//! - inside the data layer (garbage between records, a `Content-Length` that lies, a header
//!   without an end) by scanning for the next line starting with `WARC/1.`, so records that a
//!   too-long `Content-Length` swallowed are still read;
//! - at the raw layer (a corrupt or truncated gzip member, garbage between members) by scanning
//!   from the damaged member's first byte + 1 for the gzip magic, accepting a candidate only when
//!   a trial inflate yields `WARC/`.
//!
//! Byte-range shards use the same scans: a reader opened at byte `start` skips to the first
//! member (gzip) or `WARC/1.` line (plain) at or after `start`, and stops at the first record
//! starting at or after `end`, so adjacent ranges partition the records.

use std::io::{self, Read};

use flate2::{Crc, Decompress, FlushDecompress, Status};
use memchr::memmem;

use crate::gzip_member::{MemberInflate, MemberInflater};

/// Gzip members and plain data are read in chunks of this size.
const READ_CHUNK: usize = 256 * 1024;
/// A WARC or ARC header block larger than this is rejected (real ones are a few KiB).
const MAX_HEADER_BYTES: usize = 256 * 1024;
/// A trial inflate that resynchronises reads at most this much compressed input.
const TRIAL_INPUT: usize = 64 * 1024;
/// Raw bytes of a member kept for resynchronisation from its start; past this, a resync starts
/// where the damage was found.
const MAX_RETAINED_RAW: usize = 64 << 20;
/// Raw bytes made available before a member is inflated whole: CommonCrawl's members (one
/// record each) are tens of KiB, so few straddle the end of this window.
const WHOLE_MEMBER_WINDOW: usize = 1 << 20;
/// A member is inflated whole only if it takes at most this much input...
const WHOLE_MEMBER_MAX_INPUT: usize = 16 << 20;
/// ...and inflates to at most this much; larger ones (a whole file in one member) stream.
const WHOLE_MEMBER_MAX_OUTPUT: usize = 32 << 20;
/// First output limit tried for a member when the data buffer is still small.
const WHOLE_MEMBER_FIRST_OUTPUT: usize = 1 << 20;

/// One thing read from the stream.
#[derive(Debug)]
pub enum WarcItem<'a> {
    Record(RecordView<'a>),
    /// A damaged stretch of input, already skipped.
    Bad(BadRecord),
}

/// A damaged record or stretch of input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    /// Offset of the record (its gzip member for gzip input) or of the bad bytes.
    pub offset: u64,
    /// Stable reason code, e.g. `truncated_gzip_member`.
    pub reason: &'static str,
    pub detail: String,
}

/// Input format, detected from the first record of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Warc,
    Arc,
}

/// A record borrowed from the reader's buffer until the next call.
#[derive(Debug)]
pub struct RecordView<'a> {
    /// Byte offset in the file of the record (plain) or of its gzip member.
    pub offset: u64,
    pub format: Format,
    /// The header block without the version line (WARC) or the header line (ARC).
    header: &'a [u8],
    fields: &'a [Field],
    /// The record block (`Content-Length` bytes).
    pub block: &'a [u8],
}

/// Ranges of a header field's name and value within the header block.
#[derive(Debug, Clone, Copy)]
struct Field {
    name: (usize, usize),
    value: (usize, usize),
}

impl<'a> RecordView<'a> {
    /// The first value of a header field, by case-insensitive name (ARC: `url`, `ip`, `date`,
    /// `content-type`, `length`).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        if self.format == Format::Arc {
            let i = ARC_FIELDS
                .iter()
                .position(|f| f.eq_ignore_ascii_case(name))?;
            let f = self.fields.get(i)?;
            return Some(&self.header[f.value.0..f.value.1]);
        }
        self.fields.iter().find_map(|f| {
            let n = &self.header[f.name.0..f.name.1];
            n.eq_ignore_ascii_case(name.as_bytes())
                .then(|| &self.header[f.value.0..f.value.1])
        })
    }

    /// `WARC-Type` (ARC records are `response`, or `warcinfo` for the `filedesc://` record).
    pub fn record_type(&self) -> &'a [u8] {
        match self.format {
            Format::Warc => self.header("WARC-Type").unwrap_or(b""),
            Format::Arc => {
                if self
                    .header("url")
                    .is_some_and(|u| u.starts_with(b"filedesc://"))
                {
                    b"warcinfo"
                } else {
                    b"response"
                }
            }
        }
    }
}

/// Why a fill stopped: the input failed (worth a retry) or the data is damaged.
enum Fault {
    Io(io::Error),
    Data {
        reason: &'static str,
        detail: String,
    },
}

impl From<io::Error> for Fault {
    fn from(e: io::Error) -> Self {
        Fault::Io(e)
    }
}

fn data_fault(reason: &'static str, detail: impl Into<String>) -> Fault {
    Fault::Data {
        reason,
        detail: detail.into(),
    }
}

/// The raw input with a buffer whose file offset is known.
struct RawInput<R> {
    inner: R,
    buf: Vec<u8>,
    /// Next unconsumed byte.
    lo: usize,
    /// File offset of `buf[0]`.
    base: u64,
    eof: bool,
    /// Bytes at or after this offset are kept when the buffer is compacted.
    keep_from: Option<u64>,
}

impl<R: Read> RawInput<R> {
    fn pos(&self) -> u64 {
        self.base + self.lo as u64
    }

    fn available(&self) -> &[u8] {
        &self.buf[self.lo..]
    }

    fn consume(&mut self, n: usize) {
        self.lo = (self.lo + n).min(self.buf.len());
    }

    /// Reads one more chunk; `Ok(false)` at end of input.
    fn read_more(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let keep = match self.keep_from {
            Some(k) if k >= self.base && self.pos() - k <= MAX_RETAINED_RAW as u64 => {
                (k - self.base) as usize
            }
            _ => self.lo,
        };
        if keep > 0 && keep >= self.buf.len() / 2 {
            self.buf.drain(..keep);
            self.base += keep as u64;
            self.lo -= keep;
        }
        let old = self.buf.len();
        self.buf.resize(old + READ_CHUNK, 0);
        let n = loop {
            match self.inner.read(&mut self.buf[old..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(e);
                }
            }
        };
        self.buf.truncate(old + n);
        if n == 0 {
            self.eof = true;
        }
        Ok(n > 0)
    }

    /// Makes at least `n` bytes available unless the input ends first.
    fn ensure(&mut self, n: usize) -> io::Result<bool> {
        while self.buf.len() - self.lo < n {
            if !self.read_more()? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Moves the read position to file offset `to`, which must be in the buffer (or past it).
    fn seek_within(&mut self, to: u64) -> io::Result<()> {
        if to >= self.base && to <= self.base + self.buf.len() as u64 {
            self.lo = (to - self.base) as usize;
            return Ok(());
        }
        // Past the buffer: read forward and drop.
        while self.base + (self.buf.len() as u64) < to {
            self.lo = self.buf.len();
            self.keep_from = None;
            if !self.read_more()? {
                return Ok(());
            }
        }
        self.lo = (to - self.base).min(self.buf.len() as u64) as usize;
        Ok(())
    }
}

/// The gzip member being inflated.
struct Member {
    inflate: Decompress,
    crc: Crc,
}

/// Result of parsing a gzip header at the start of a byte slice.
enum GzHeader {
    Incomplete,
    Invalid,
    Len(usize),
}

fn parse_gzip_header(b: &[u8]) -> GzHeader {
    if b.len() < 10 {
        return if b.iter().zip([0x1f, 0x8b, 8]).all(|(a, m)| *a == m) {
            GzHeader::Incomplete
        } else {
            GzHeader::Invalid
        };
    }
    if b[0] != 0x1f || b[1] != 0x8b || b[2] != 8 || b[3] & 0xe0 != 0 {
        return GzHeader::Invalid;
    }
    let flags = b[3];
    let mut i = 10;
    if flags & 4 != 0 {
        let Some(xlen) = b.get(10..12) else {
            return GzHeader::Incomplete;
        };
        i += 2 + usize::from(u16::from_le_bytes([xlen[0], xlen[1]]));
    }
    for bit in [8u8, 16] {
        if flags & bit != 0 {
            match b.get(i..).and_then(|rest| memchr::memchr(0, rest)) {
                Some(z) => i += z + 1,
                None if b.len() > 64 * 1024 => return GzHeader::Invalid,
                None => return GzHeader::Incomplete,
            }
        }
    }
    if flags & 2 != 0 {
        i += 2;
    }
    if b.len() < i {
        GzHeader::Incomplete
    } else {
        GzHeader::Len(i)
    }
}

fn trim_start_newlines(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| matches!(c, b'\r' | b'\n')).count();
    &b[n..]
}

/// How many leading bytes [`is_gzip`] wants.
pub const DETECT_BYTES: usize = 64 * 1024;

/// Whether a file starting with `head` is gzip: it starts with the gzip magic, or (a damaged
/// first member) it is not a WARC/ARC record and holds a gzip magic further on.
pub fn is_gzip(head: &[u8]) -> bool {
    if head.starts_with(&[0x1f, 0x8b]) {
        return true;
    }
    let text = trim_start_newlines(head);
    !(text.starts_with(b"WARC/") || text.starts_with(b"filedesc://"))
        && memmem::find(head, b"\x1f\x8b\x08").is_some()
}

/// Options of a [`WarcReader`].
#[derive(Debug, Clone, Copy)]
pub struct ReaderOptions {
    /// Records with a larger block are skipped as `record_too_large`.
    pub max_record_bytes: u64,
    /// Read only records starting at or after this file offset (the input must be positioned
    /// one byte before it, so that a record starting exactly there is recognised)...
    pub start: u64,
    /// ...and before this one.
    pub end: Option<u64>,
    /// Whether the input is gzip; `None`: detect it from the first bytes (only when `start`
    /// is 0).
    pub gzip: Option<bool>,
}

/// Streams records out of a WARC or ARC file; see the module docs.
pub struct WarcReader<R> {
    raw: RawInput<R>,
    opts: ReaderOptions,
    gzip: bool,
    /// The format of the file, once its first record is seen.
    format: Option<Format>,
    member: Option<Member>,
    spare_inflate: Option<Decompress>,
    /// Inflates members whole when they fit (`None`: libdeflate could not allocate).
    whole: Option<MemberInflater>,
    /// Members inflated by streaming instead (too big to inflate whole, or damaged).
    streamed_members: u64,
    /// Gzip: file offset of the current member.
    seg_start: u64,
    /// Gzip: a member has been started and its data is being cut into records.
    in_segment: bool,
    /// The current segment has no more data (member ended, or end of plain file).
    seg_ended: bool,
    /// Decompressed data of the current segment; `data[pos..]` is not yet cut.
    data: Vec<u8>,
    pos: usize,
    /// Plain: file offset of `data[0]`.
    data_base: u64,
    fields: Vec<Field>,
    /// Next raw resync starts here (after damage inside a gzip member).
    resync_from: Option<u64>,
    finished: bool,
    /// Set until the first record of the stream has been looked at (shard alignment).
    at_start: bool,
}

/// What the data layer found where a record should start.
enum Parsed {
    /// A whole record: header block range, fields, block range.
    Record {
        offset: u64,
        header: (usize, usize),
        block: (usize, usize),
        format: Format,
    },
    Bad(BadRecord),
    /// Nothing left in this segment.
    SegmentDone,
}

impl<R: Read> WarcReader<R> {
    /// `inner` must be positioned at `opts.start - 1` (at 0 when `start` is 0).
    pub fn new(inner: R, opts: ReaderOptions) -> io::Result<Self> {
        let mut raw = RawInput {
            inner,
            buf: Vec::with_capacity(READ_CHUNK),
            lo: 0,
            base: opts.start.saturating_sub(1),
            eof: false,
            keep_from: None,
        };
        let gzip = match opts.gzip {
            Some(g) => g,
            None => {
                raw.ensure(DETECT_BYTES)?;
                is_gzip(raw.available())
            }
        };
        Ok(WarcReader {
            raw,
            opts,
            gzip,
            format: None,
            member: None,
            spare_inflate: None,
            whole: MemberInflater::new(),
            streamed_members: 0,
            seg_start: opts.start,
            in_segment: false,
            seg_ended: false,
            data: Vec::with_capacity(READ_CHUNK),
            pos: 0,
            data_base: opts.start.saturating_sub(1),
            fields: Vec::new(),
            resync_from: None,
            finished: false,
            at_start: true,
        })
    }

    /// Whether the input is gzip-compressed.
    pub fn is_gzip(&self) -> bool {
        self.gzip
    }

    /// How many gzip members so far were inflated by streaming rather than whole: those too
    /// big to hold at once, and damaged ones.
    pub fn streamed_members(&self) -> u64 {
        self.streamed_members
    }

    /// The next record or damaged stretch; `Ok(None)` at the end of the shard. `Err` only when
    /// the input itself fails (I/O).
    pub fn next_item(&mut self) -> io::Result<Option<WarcItem<'_>>> {
        loop {
            if self.finished {
                return Ok(None);
            }
            if self.gzip && !self.in_segment {
                match self.start_member()? {
                    Some(bad) => return Ok(Some(WarcItem::Bad(bad))),
                    None => continue,
                }
            }
            match self.parse_record()? {
                Parsed::SegmentDone => {
                    if self.gzip {
                        self.in_segment = false;
                    } else {
                        self.finished = true;
                    }
                }
                Parsed::Bad(bad) => return Ok(Some(WarcItem::Bad(bad))),
                Parsed::Record {
                    offset,
                    header,
                    block,
                    format,
                } => {
                    return Ok(Some(WarcItem::Record(RecordView {
                        offset,
                        format,
                        header: &self.data[header.0..header.1],
                        fields: &self.fields,
                        block: &self.data[block.0..block.1],
                    })));
                }
            }
        }
    }

    // ---------------------------------------------------------------- raw layer (gzip members)

    /// Finds and starts the next gzip member. Returns a reject for skipped garbage; sets
    /// `finished` at the end of the input or the shard.
    fn start_member(&mut self) -> io::Result<Option<BadRecord>> {
        // After damage the bytes up to the next member belong to the damaged one (already
        // rejected): no second reject for them.
        let resyncing = self.resync_from.is_some();
        if let Some(from) = self.resync_from.take() {
            self.raw.seek_within(from)?;
        }
        self.raw.keep_from = None;
        let here = self.raw.pos();
        // A shard starting inside the file is opened one byte early: its first member is the
        // first valid one at or after its start, and bytes before it are the previous shard's.
        let aligning = std::mem::replace(&mut self.at_start, false) && self.opts.start > 0;
        let found = if aligning {
            self.scan_for_member(self.opts.start)?
        } else {
            let direct = loop {
                match parse_gzip_header(self.raw.available()) {
                    GzHeader::Len(_) => break true,
                    GzHeader::Invalid => break false,
                    GzHeader::Incomplete => {
                        if !self.raw.read_more()? {
                            break false;
                        }
                    }
                }
            };
            if direct && !resyncing {
                Some(here)
            } else if self.raw.available().is_empty() {
                self.finished = true;
                return Ok(None);
            } else {
                self.scan_for_member(if resyncing { here } else { here + 1 })?
            }
        };
        let skipped_to = found.unwrap_or_else(|| self.raw.pos());
        let bad = (skipped_to > here && !aligning && !resyncing).then(|| BadRecord {
            offset: here,
            reason: "garbage_between_records",
            detail: format!(
                "{} bytes that are not a gzip member holding a WARC record",
                skipped_to - here
            ),
        });
        let Some(start) = found else {
            self.finished = true;
            return Ok(bad);
        };
        if self.opts.end.is_some_and(|end| start >= end) {
            self.finished = true;
            return Ok(bad);
        }
        self.raw.seek_within(start)?;
        let GzHeader::Len(len) = parse_gzip_header(self.raw.available()) else {
            // scan_for_member validated this header.
            self.finished = true;
            return Ok(bad);
        };
        self.raw.keep_from = Some(start);
        self.seg_start = start;
        self.pos = 0;
        if self.inflate_whole_member()? {
            self.in_segment = true;
            self.seg_ended = true;
            return Ok(bad);
        }
        self.streamed_members += 1;
        self.raw.consume(len);
        // Reuse the inflate state of the previous member: CommonCrawl has one member per
        // record, and a fresh state costs an allocation of its window.
        let inflate = match self.spare_inflate.take() {
            Some(mut d) => {
                d.reset(false);
                d
            }
            None => Decompress::new(false),
        };
        self.member = Some(Member {
            inflate,
            crc: Crc::new(),
        });
        self.in_segment = true;
        self.seg_ended = false;
        self.data.clear();
        Ok(bad)
    }

    /// Inflates the member at the read position whole into `data`, consuming it, when it ends
    /// within [`WHOLE_MEMBER_MAX_INPUT`] bytes, is valid and inflates to at most
    /// [`WHOLE_MEMBER_MAX_OUTPUT`]. `Ok(false)`: it does not; nothing was consumed, and the
    /// streaming inflate takes over (and names the damage, if that was the reason).
    fn inflate_whole_member(&mut self) -> io::Result<bool> {
        let Some(inflater) = self.whole.as_mut() else {
            return Ok(false);
        };
        self.raw.ensure(WHOLE_MEMBER_WINDOW)?;
        let mut max_out = self
            .data
            .capacity()
            .clamp(WHOLE_MEMBER_FIRST_OUTPUT, WHOLE_MEMBER_MAX_OUTPUT);
        loop {
            match inflater.inflate(self.raw.available(), &mut self.data, max_out) {
                MemberInflate::Done { consumed } => {
                    self.raw.consume(consumed);
                    return Ok(true);
                }
                MemberInflate::OutputFull if max_out < WHOLE_MEMBER_MAX_OUTPUT => {
                    max_out = (max_out * 2).min(WHOLE_MEMBER_MAX_OUTPUT);
                }
                MemberInflate::NotWhole => {
                    // Either the member runs past the bytes at hand (read more and retry) or
                    // it is damaged (no more to read, or too long to inflate whole).
                    let have = self.raw.available().len();
                    if have >= WHOLE_MEMBER_MAX_INPUT {
                        return Ok(false);
                    }
                    self.raw.ensure(have * 2)?;
                    if self.raw.available().len() == have {
                        return Ok(false);
                    }
                }
                MemberInflate::OutputFull => return Ok(false),
            }
        }
    }

    /// Scans from file offset `from` for a gzip member whose data starts with `WARC/`.
    fn scan_for_member(&mut self, from: u64) -> io::Result<Option<u64>> {
        self.raw.seek_within(from)?;
        loop {
            let avail = self.raw.available();
            let Some(i) = memmem::find(avail, b"\x1f\x8b\x08") else {
                // Keep the last two bytes: a magic may straddle the chunk boundary.
                let keep = avail.len().min(2);
                self.raw.consume(avail.len() - keep);
                if !self.raw.read_more()? {
                    self.raw.consume(self.raw.available().len());
                    return Ok(None);
                }
                continue;
            };
            self.raw.consume(i);
            let cand = self.raw.pos();
            self.raw.keep_from = Some(cand);
            self.raw.ensure(TRIAL_INPUT)?;
            if trial_inflate_is_warc(self.raw.available()) {
                return Ok(Some(cand));
            }
            self.raw.consume(1);
        }
    }

    /// Appends decompressed bytes of the current segment to `data`. `Ok(false)`: the segment
    /// has no more data.
    fn fill(&mut self) -> Result<bool, Fault> {
        if self.seg_ended {
            return Ok(false);
        }
        // Drop what has been cut already.
        if self.pos > 0 && self.pos >= self.data.len() / 2 {
            self.data.drain(..self.pos);
            self.data_base += self.pos as u64;
            self.pos = 0;
        }
        if !self.gzip {
            if self.raw.available().is_empty() && !self.raw.read_more()? {
                self.seg_ended = true;
                return Ok(false);
            }
            let avail = self.raw.available();
            self.data.extend_from_slice(avail);
            let n = avail.len();
            self.raw.consume(n);
            return Ok(true);
        }
        let Some(member) = self.member.as_mut() else {
            self.seg_ended = true;
            return Ok(false);
        };
        loop {
            if self.raw.available().is_empty() && !self.raw.read_more()? {
                return Err(data_fault(
                    "truncated_gzip_member",
                    "the input ends inside a gzip member",
                ));
            }
            self.data.reserve(READ_CHUNK);
            let out_before = self.data.len();
            let in_before = member.inflate.total_in();
            let status = member
                .inflate
                .decompress_vec(self.raw.available(), &mut self.data, FlushDecompress::None)
                .map_err(|e| data_fault("corrupt_gzip", format!("inflate failed: {e}")))?;
            let consumed = (member.inflate.total_in() - in_before) as usize;
            self.raw.consume(consumed);
            member.crc.update(&self.data[out_before..]);
            let produced = self.data.len() - out_before;
            if status == Status::StreamEnd {
                if !self.raw.ensure(8)? {
                    return Err(data_fault(
                        "truncated_gzip_member",
                        "the input ends inside a gzip member trailer",
                    ));
                }
                let t = self.raw.available();
                let crc = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
                let size = u32::from_le_bytes([t[4], t[5], t[6], t[7]]);
                self.raw.consume(8);
                if crc != member.crc.sum() || size != member.crc.amount() {
                    return Err(data_fault(
                        "corrupt_gzip",
                        "the gzip member's CRC-32 or size does not match its data",
                    ));
                }
                if let Some(done) = self.member.take() {
                    self.spare_inflate = Some(done.inflate);
                }
                self.seg_ended = true;
                return Ok(produced > 0);
            }
            if produced > 0 {
                return Ok(true);
            }
            if consumed == 0 && !self.raw.read_more()? {
                return Err(data_fault(
                    "truncated_gzip_member",
                    "the input ends inside a gzip member",
                ));
            }
        }
    }

    /// Handles a fill fault: I/O goes up; damaged data ends the segment with a reject at
    /// `offset`, and a gzip reader resynchronises from the member's start + 1.
    fn on_fault(&mut self, fault: Fault, offset: u64) -> io::Result<Parsed> {
        match fault {
            Fault::Io(e) => Err(e),
            Fault::Data { reason, detail } => {
                self.end_segment_after_damage();
                Ok(Parsed::Bad(BadRecord {
                    offset,
                    reason,
                    detail,
                }))
            }
        }
    }

    fn end_segment_after_damage(&mut self) {
        self.data.clear();
        self.pos = 0;
        self.seg_ended = true;
        if self.gzip {
            self.member = None;
            self.in_segment = false;
            let retained =
                self.raw.keep_from == Some(self.seg_start) && self.seg_start >= self.raw.base;
            self.resync_from = Some(if retained {
                self.seg_start + 1
            } else {
                self.raw.pos()
            });
        } else {
            self.finished = true;
        }
    }

    // ---------------------------------------------------------------- data layer (records)

    /// Makes `data[pos..]` at least `n` bytes long unless the segment ends first.
    fn want(&mut self, n: usize) -> Result<bool, Fault> {
        while self.data.len() - self.pos < n {
            if !self.fill()? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn record_offset(&self) -> u64 {
        if self.gzip {
            self.seg_start
        } else {
            self.data_base + self.pos as u64
        }
    }

    /// A plain-file shard starting inside the file: skip to the first `WARC/1.` line at or
    /// after the shard start (the reader was opened one byte before it, so a record starting
    /// exactly there is found by its preceding newline).
    fn align_plain_shard(&mut self) -> io::Result<()> {
        if self.opts.start == 0 {
            self.at_start = false;
            return Ok(());
        }
        let found = self.scan_data_for_warc();
        self.at_start = false;
        match found {
            Ok(true) => Ok(()),
            Ok(false) | Err(Fault::Data { .. }) => {
                self.finished = true;
                Ok(())
            }
            Err(Fault::Io(e)) => Err(e),
        }
    }

    fn parse_record(&mut self) -> io::Result<Parsed> {
        if !self.gzip && self.at_start {
            self.align_plain_shard()?;
            if self.finished {
                return Ok(Parsed::SegmentDone);
            }
        }
        // Skip blank lines between records.
        loop {
            let blank = self.data[self.pos..]
                .iter()
                .take_while(|c| matches!(c, b'\r' | b'\n'))
                .count();
            self.pos += blank;
            if self.pos < self.data.len() {
                break;
            }
            match self.fill() {
                Ok(true) => {}
                Ok(false) => return Ok(Parsed::SegmentDone),
                Err(f) => {
                    let off = self.record_offset();
                    return self.on_fault(f, off);
                }
            }
        }
        let offset = self.record_offset();
        if !self.gzip && self.opts.end.is_some_and(|end| offset >= end) {
            self.finished = true;
            return Ok(Parsed::SegmentDone);
        }
        if let Err(f) = self.want(12) {
            return self.on_fault(f, offset);
        }
        let head = &self.data[self.pos..];
        let format = if head.starts_with(b"WARC/") {
            Format::Warc
        } else if self.format == Some(Format::Arc) || head.starts_with(b"filedesc://") {
            Format::Arc
        } else {
            return self.skip_garbage(offset);
        };
        self.format.get_or_insert(format);
        // Positions below are relative to `pos` (the record start): `fill` may compact `data`.
        let (fields_end, block_start) = match self.find_header_end(format) {
            Ok(Some(end)) => end,
            Ok(None) => {
                let bad = BadRecord {
                    offset,
                    reason: "bad_warc_header",
                    detail: format!(
                        "no end of the header block within {MAX_HEADER_BYTES} bytes or before \
                         the end of the data"
                    ),
                };
                return self.skip_after_bad_header(bad);
            }
            Err(f) => return self.on_fault(f, offset),
        };
        let (fields_start, length) = match self.parse_fields(format, fields_end) {
            Ok(v) => v,
            Err(detail) => {
                return self.skip_after_bad_header(BadRecord {
                    offset,
                    reason: match format {
                        Format::Warc => "bad_warc_header",
                        Format::Arc => "bad_arc_header",
                    },
                    detail,
                })
            }
        };
        if length > self.opts.max_record_bytes {
            return self.skip_large(offset, block_start, length);
        }
        let length = length as usize;
        let block_end = block_start + length;
        match self.want(block_end) {
            Ok(true) => {}
            Ok(false) => {
                let have = self.data.len() - self.pos - block_start;
                let what = if self.gzip { "gzip member" } else { "file" };
                let bad = BadRecord {
                    offset,
                    reason: "truncated_record",
                    detail: format!(
                        "the {what} ends {} bytes before the end of the declared {length}-byte block",
                        length - have
                    ),
                };
                return self.resync_after(block_start, bad);
            }
            Err(f) => return self.on_fault(f, offset),
        }
        // The block must be followed by blank lines, then another record or the end.
        match self.check_record_end(block_end, format) {
            Ok(true) => {}
            Ok(false) => {
                let bad = BadRecord {
                    offset,
                    reason: "content_length_mismatch",
                    detail: format!(
                        "the declared {length}-byte block is not followed by the end of the record"
                    ),
                };
                return self.resync_after(block_start, bad);
            }
            Err(f) => return self.on_fault(f, offset),
        }
        let start = self.pos;
        self.pos += block_end;
        Ok(Parsed::Record {
            offset,
            header: (start + fields_start, start + fields_end),
            block: (start + block_start, start + block_end),
            format,
        })
    }

    /// Finds the end of the header block at `pos`, relative to `pos`: `(end of the header
    /// fields, start of the block)`. WARC: the block starts after the first blank line. ARC: the
    /// header is one line, and the block follows it.
    fn find_header_end(&mut self, format: Format) -> Result<Option<(usize, usize)>, Fault> {
        loop {
            let head = &self.data[self.pos..];
            let scan = &head[..head.len().min(MAX_HEADER_BYTES)];
            match format {
                Format::Arc => {
                    if let Some(i) = memchr::memchr(b'\n', scan) {
                        return Ok(Some((i + 1, i + 1)));
                    }
                }
                Format::Warc => {
                    let mut line_start = 0;
                    for nl in memchr::memchr_iter(b'\n', scan) {
                        if line_start > 0 && scan[line_start..nl].iter().all(|&c| c == b'\r') {
                            return Ok(Some((line_start, nl + 1)));
                        }
                        line_start = nl + 1;
                    }
                }
            }
            if head.len() >= MAX_HEADER_BYTES || !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// Parses the header at `data[pos..pos + fields_end]` into `fields` (ranges relative to the
    /// returned start of the fields, which follows the WARC version line); returns that start
    /// and the block length.
    fn parse_fields(&mut self, format: Format, fields_end: usize) -> Result<(usize, u64), String> {
        self.fields.clear();
        let block = &self.data[self.pos..self.pos + fields_end];
        match format {
            Format::Arc => {
                let line = trim_end_cr_lf(block);
                let parts: Vec<(usize, usize)> = split_spaces(line).collect();
                if parts.len() != 5 && parts.len() != 10 {
                    return Err(format!(
                        "an ARC header line has 5 (v1) or 10 (v2) fields, not {}",
                        parts.len()
                    ));
                }
                let (a, b) = parts[parts.len() - 1];
                let length = parse_length(&line[a..b])
                    .ok_or_else(|| "invalid ARC record length".to_owned())?;
                // ARC fields have no names: they are looked up by position (`ARC_FIELDS`).
                for &value in parts.iter().take(ARC_FIELDS.len()) {
                    self.fields.push(Field {
                        name: (0, 0),
                        value,
                    });
                }
                Ok((0, length))
            }
            Format::Warc => {
                let Some(nl) = memchr::memchr(b'\n', block) else {
                    return Err("the header block has no version line".into());
                };
                let fields_start = nl + 1;
                let header = &block[fields_start..];
                let mut line_start = 0;
                for nl in memchr::memchr_iter(b'\n', header) {
                    let line_end = nl - count_trailing_cr(&header[line_start..nl]);
                    let line = &header[line_start..line_end];
                    if memmem::find(line, b"WARC/1.").is_some() {
                        // The header ran into the next record: this one is cut short.
                        return Err("the header block runs into another record".into());
                    }
                    if matches!(line.first(), Some(b' ' | b'\t')) {
                        // A continuation line extends the previous value.
                        if let Some(last) = self.fields.last_mut() {
                            last.value.1 = line_end;
                        }
                    } else if let Some(colon) = memchr::memchr(b':', line) {
                        let name = trim_spaces_range(line, 0, colon);
                        let value = trim_spaces_range(line, colon + 1, line.len());
                        self.fields.push(Field {
                            name: (line_start + name.0, line_start + name.1),
                            value: (line_start + value.0, line_start + value.1),
                        });
                    }
                    line_start = nl + 1;
                }
                let length = self
                    .fields
                    .iter()
                    .find(|f| header[f.name.0..f.name.1].eq_ignore_ascii_case(b"Content-Length"))
                    .map(|f| &header[f.value.0..f.value.1])
                    .ok_or_else(|| "no Content-Length".to_owned())?;
                let length = parse_length(length).ok_or_else(|| {
                    format!(
                        "invalid Content-Length `{}`",
                        String::from_utf8_lossy(&length[..length.len().min(40)])
                    )
                })?;
                Ok((fields_start, length))
            }
        }
    }

    /// After the block (ending at `block_end`, relative to `pos`) only `\r`/`\n` may come
    /// before the next record or the end of the segment.
    fn check_record_end(&mut self, block_end: usize, format: Format) -> Result<bool, Fault> {
        loop {
            let after = &self.data[self.pos + block_end..];
            let rest = trim_start_newlines(after);
            let blank = after.len() - rest.len();
            match format {
                Format::Warc => {
                    // The standard record end: the length is right even if garbage follows
                    // (which is then reported on its own).
                    if after.starts_with(b"\r\n\r\n") {
                        return Ok(true);
                    }
                    if rest.len() >= 5 {
                        return Ok(rest.starts_with(b"WARC/"));
                    }
                    if !b"WARC/".starts_with(rest) {
                        return Ok(false);
                    }
                }
                // ARC records are separated by one newline; the next starts with its URL.
                Format::Arc => {
                    if !after.is_empty() {
                        return Ok(blank > 0);
                    }
                }
            }
            if !self.want(block_end + after.len() + 1)? {
                let after = &self.data[self.pos + block_end..];
                return Ok(trim_start_newlines(after).is_empty());
            }
        }
    }

    /// Rejects `bad` and scans for the next `WARC/1.` line starting at or after `from`
    /// (relative to `pos`, past the record's version line).
    fn resync_after(&mut self, from: usize, bad: BadRecord) -> io::Result<Parsed> {
        // Include the byte before `from`: a record may start right at `from` (e.g. when a
        // damaged header end made the real next record look like this one's block). But never
        // the rejected record's own start, or the same record is found, and rejected, forever
        // (a header with no line end in its gzip member; found by `cargo fuzz`).
        self.pos += from.saturating_sub(1).max(1);
        match self.scan_data_for_warc() {
            Ok(_) => Ok(Parsed::Bad(bad)),
            Err(Fault::Io(e)) => Err(e),
            Err(Fault::Data { .. }) => {
                self.end_segment_after_damage();
                Ok(Parsed::Bad(bad))
            }
        }
    }

    /// Rejects a record whose header is bad and resynchronises after its first line.
    fn skip_after_bad_header(&mut self, bad: BadRecord) -> io::Result<Parsed> {
        let first_line = memchr::memchr(b'\n', &self.data[self.pos..]).map_or(1, |i| i + 1);
        self.resync_after(first_line, bad)
    }

    /// Garbage where a record should start: skip to the next `WARC/1.` line.
    fn skip_garbage(&mut self, offset: u64) -> io::Result<Parsed> {
        let start = self.data_base + self.pos as u64;
        let found = match self.scan_data_for_warc() {
            Ok(found) => found,
            Err(Fault::Io(e)) => return Err(e),
            Err(Fault::Data { reason, detail }) => {
                self.end_segment_after_damage();
                return Ok(Parsed::Bad(BadRecord {
                    offset,
                    reason,
                    detail,
                }));
            }
        };
        let skipped = self.data_base + self.pos as u64 - start;
        let detail = match (self.gzip, found) {
            (true, _) => format!("{skipped} bytes of the gzip member are not a WARC record"),
            (false, true) => {
                format!("{skipped} bytes before the next record are not a WARC record")
            }
            (false, false) => {
                format!("{skipped} bytes at the end of the file are not a WARC record")
            }
        };
        Ok(Parsed::Bad(BadRecord {
            offset,
            reason: "garbage_between_records",
            detail,
        }))
    }

    /// Moves `pos` to the next `WARC/1.` (searching from `pos`, which must not itself be a
    /// record start), or to the end of the segment. `Ok(found)`. Aligning a shard requires the
    /// version to start a line; resynchronising after damage does not, since the damage may
    /// have hit the line end before the next record.
    fn scan_data_for_warc(&mut self) -> Result<bool, Fault> {
        let needle: &[u8] = if self.at_start {
            b"\nWARC/1."
        } else {
            b"WARC/1."
        };
        let skip = usize::from(self.at_start);
        loop {
            if let Some(i) = memmem::find(&self.data[self.pos..], needle) {
                self.pos += i + skip;
                return Ok(true);
            }
            // Keep a tail that may hold the start of the needle.
            let keep = (self.data.len() - self.pos).min(needle.len() - 1);
            self.pos = self.data.len() - keep;
            if !self.fill()? {
                self.pos = self.data.len();
                return Ok(false);
            }
        }
    }

    /// Skips a record too large to buffer, streaming past its block (which starts at
    /// `block_start`, relative to `pos`).
    fn skip_large(&mut self, offset: u64, block_start: usize, length: u64) -> io::Result<Parsed> {
        self.pos += block_start;
        let mut left = length;
        while left > 0 {
            let have = (self.data.len() - self.pos) as u64;
            if have >= left {
                self.pos += left as usize;
                break;
            }
            left -= have;
            self.pos = self.data.len();
            match self.fill() {
                Ok(true) => {}
                Ok(false) => break,
                Err(f) => return self.on_fault(f, offset),
            }
        }
        Ok(Parsed::Bad(BadRecord {
            offset,
            reason: "record_too_large",
            detail: format!(
                "a {length}-byte block is over the limit of {} bytes (`max_record_mb`)",
                self.opts.max_record_bytes
            ),
        }))
    }
}

/// Names of the ARC header fields, by position.
const ARC_FIELDS: [&str; 4] = ["url", "ip", "date", "content-type"];

/// Whether an inflate of the member at the start of `b` yields `WARC/` (after blank lines).
fn trial_inflate_is_warc(b: &[u8]) -> bool {
    let GzHeader::Len(len) = parse_gzip_header(b) else {
        return false;
    };
    let mut inflate = Decompress::new(false);
    let mut out = Vec::with_capacity(64);
    let mut input = &b[len..];
    while out.len() < 64 {
        let before = inflate.total_in();
        match inflate.decompress_vec(input, &mut out, FlushDecompress::None) {
            Ok(Status::StreamEnd) => break,
            Ok(_) => {}
            Err(_) => return false,
        }
        let used = (inflate.total_in() - before) as usize;
        input = &input[used..];
        if used == 0 {
            break;
        }
    }
    let rest = trim_start_newlines(&out);
    rest.len() >= 5 && rest.starts_with(b"WARC/")
        || (!rest.is_empty() && b"WARC/".starts_with(rest))
}

fn trim_end_cr_lf(b: &[u8]) -> &[u8] {
    let n = b
        .iter()
        .rev()
        .take_while(|c| matches!(c, b'\r' | b'\n'))
        .count();
    &b[..b.len() - n]
}

fn count_trailing_cr(b: &[u8]) -> usize {
    b.iter().rev().take_while(|&&c| c == b'\r').count()
}

fn trim_spaces_range(line: &[u8], mut a: usize, mut b: usize) -> (usize, usize) {
    while a < b && matches!(line[a], b' ' | b'\t') {
        a += 1;
    }
    while b > a && matches!(line[b - 1], b' ' | b'\t') {
        b -= 1;
    }
    (a, b)
}

fn split_spaces(line: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < line.len() && line[i] == b' ' {
            i += 1;
        }
        if i >= line.len() {
            return None;
        }
        let start = i;
        while i < line.len() && line[i] != b' ' {
            i += 1;
        }
        Some((start, i))
    })
}

/// A non-negative decimal length (surrounding spaces allowed).
fn parse_length(b: &[u8]) -> Option<u64> {
    let (a, e) = trim_spaces_range(b, 0, b.len());
    let digits = &b[a..e];
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}
