//! Compression codecs, chosen by file extension, for both directions. Readers decompress on the
//! fly; a failing read is classified as either corrupt data (the decoder rejected the bytes: the
//! file is bad, retrying will not help) or an I/O failure of the file underneath (worth a retry),
//! which is why the raw file is wrapped in a reader that remembers whether *it* failed.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use flate2::bufread::MultiGzDecoder;
use flate2::write::GzEncoder;
use mdf_core::{MdfError, Result};

use crate::storage::InputFile;

/// Compression of a file, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    None,
    Gzip,
    Zstd,
}

impl Codec {
    /// `.gz` → gzip, `.zst`/`.zstd` → zstd, anything else → none (case-insensitive).
    pub fn from_path(path: &str) -> Codec {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".gz") {
            Codec::Gzip
        } else if lower.ends_with(".zst") || lower.ends_with(".zstd") {
            Codec::Zstd
        } else {
            Codec::None
        }
    }

    /// The suffix a file written with this codec gets (`""`, `".gz"`, `".zst"`).
    pub fn suffix(self) -> &'static str {
        match self {
            Codec::None => "",
            Codec::Gzip => ".gz",
            Codec::Zstd => ".zst",
        }
    }
}

/// Opens `path` and decompresses it on the fly according to its extension.
pub fn open_decompressed(path: &str) -> Result<Box<dyn Read + Send>> {
    let file = InputFile::open(path)?;
    Ok(decompress(file, Codec::from_path(path), path)?.reader)
}

/// A decompressing reader that knows whether a read error came from the file underneath.
pub(crate) struct TrackedReader {
    pub reader: Box<dyn Read + Send>,
    raw_failed: Arc<AtomicBool>,
}

impl Read for TrackedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf)
    }
}

impl TrackedReader {
    /// True once a read of the underlying file (not the decoder) has failed.
    pub fn raw_failed(&self) -> bool {
        self.raw_failed.load(Ordering::Relaxed)
    }
}

/// Wraps `file` in the decoder for `codec`.
pub(crate) fn decompress<R: Read + Send + 'static>(
    file: R,
    codec: Codec,
    path: &str,
) -> Result<TrackedReader> {
    let raw_failed = Arc::new(AtomicBool::new(false));
    let raw = FlaggedRead {
        inner: file,
        failed: Arc::clone(&raw_failed),
    };
    let reader: Box<dyn Read + Send> = match codec {
        Codec::None => Box::new(raw),
        // The buffered decoder reads our buffer in place (`read::MultiGzDecoder` would put a
        // second buffer of its own behind it: one more copy of every compressed byte).
        Codec::Gzip => Box::new(MultiGzDecoder::new(BufReader::with_capacity(1 << 16, raw))),
        Codec::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(raw).map_err(|e| MdfError::io(path, e))?)
        }
    };
    Ok(TrackedReader { reader, raw_failed })
}

struct FlaggedRead<R> {
    inner: R,
    failed: Arc<AtomicBool>,
}

impl<R: Read> Read for FlaggedRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = self.inner.read(buf);
        if let Err(e) = &r {
            if e.kind() != io::ErrorKind::Interrupted {
                self.failed.store(true, Ordering::Relaxed);
            }
        }
        r
    }
}

/// A compressing writer; [`Encoder::finish`] writes the codec's trailer and returns the inner
/// writer. Output is deterministic: the gzip header carries no mtime or file name.
pub(crate) enum Encoder<W: Write> {
    Plain(W),
    Gzip(GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Encoder<W> {
    pub fn new(inner: W, codec: Codec) -> io::Result<Self> {
        Ok(match codec {
            Codec::None => Encoder::Plain(inner),
            // GzBuilder's defaults: mtime 0, no name, no comment.
            Codec::Gzip => Encoder::Gzip(GzEncoder::new(inner, flate2::Compression::default())),
            Codec::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(inner, 3)?),
        })
    }

    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Plain(w) => Ok(w),
            Encoder::Gzip(w) => w.finish(),
            Encoder::Zstd(w) => w.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Plain(w) => w.write(buf),
            Encoder::Gzip(w) => w.write(buf),
            Encoder::Zstd(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Plain(w) => w.flush(),
            Encoder::Gzip(w) => w.flush(),
            Encoder::Zstd(w) => w.flush(),
        }
    }
}

/// Writes `data` to `path` compressed by the codec its extension names (test fixtures, tools).
pub fn write_compressed(path: &Path, data: &[u8]) -> Result<()> {
    let codec = Codec::from_path(&path.to_string_lossy());
    let file = File::create(path).map_err(|e| MdfError::io(path, e))?;
    let mut enc =
        Encoder::new(io::BufWriter::new(file), codec).map_err(|e| MdfError::io(path, e))?;
    enc.write_all(data).map_err(|e| MdfError::io(path, e))?;
    enc.finish()
        .and_then(|mut w| w.flush())
        .map_err(|e| MdfError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_codec() {
        let tmp = tempfile::tempdir().unwrap();
        let data = b"{\"a\":1}\n{\"a\":2}\n".repeat(100);
        for name in ["x.jsonl", "x.jsonl.gz", "x.jsonl.zst"] {
            let path = tmp.path().join(name);
            write_compressed(&path, &data).unwrap();
            let mut out = Vec::new();
            open_decompressed(path.to_str().unwrap())
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data, "{name}");
        }
    }

    #[test]
    fn gzip_output_is_deterministic() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a.gz");
        let b = tmp.path().join("b.gz");
        write_compressed(&a, b"hello").unwrap();
        write_compressed(&b, b"hello").unwrap();
        let (a, b) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
        assert_eq!(a, b);
        assert_eq!(&a[4..8], &[0, 0, 0, 0], "gzip mtime must be zero");
    }

    #[test]
    fn corrupt_stream_is_not_a_raw_failure() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("bad.gz");
        std::fs::write(&path, b"not gzip at all").unwrap();
        let file = File::open(&path).unwrap();
        let mut r = decompress(file, Codec::Gzip, "bad.gz").unwrap();
        let mut out = Vec::new();
        assert!(r.reader.read_to_end(&mut out).is_err());
        assert!(!r.raw_failed());
    }
}
