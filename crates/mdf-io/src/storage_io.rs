//! Streaming files of the storage layer: [`InputFile`] reads a local file or an object (in large
//! ranged chunks, seekable, and a Parquet `ChunkReader`); [`OutputFile`] writes one atomically.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use mdf_core::{MdfError, Result};
use object_store::{MultipartUpload, ObjectStoreExt, PutPayload};
use parquet::file::reader::{ChunkReader, Length};

use crate::storage::{self, block_on, is_remote, remote_error, resolve, to_io, Remote};

/// Bytes fetched per ranged GET when streaming an object.
const READ_CHUNK: u64 = 16 << 20;
/// Part size of multipart uploads (S3 needs at least 5 MiB per part but the last).
const DEFAULT_PART_MB: usize = 16;

/// A local file or an object opened for reading.
pub struct InputFile {
    inner: Input,
    len: u64,
}

enum Input {
    Local(File),
    Remote(RemoteReader),
}

impl InputFile {
    /// Opens `path` (a local path or a URL); fails with `NotFound` I/O when it does not exist.
    pub fn open(path: &str) -> Result<InputFile> {
        if !is_remote(path) {
            let file = File::open(path).map_err(|e| MdfError::io(path, e))?;
            let len = file.metadata().map_err(|e| MdfError::io(path, e))?.len();
            return Ok(InputFile {
                inner: Input::Local(file),
                len,
            });
        }
        let remote = resolve(path)?;
        let meta = block_on(remote.store.head(&remote.key))?.map_err(|e| remote_error(path, e))?;
        Ok(InputFile {
            len: meta.size,
            inner: Input::Remote(RemoteReader::new(remote, meta.size, 0)),
        })
    }

    /// Opens `path`, or `None` when it does not exist (one lookup, not an existence check and
    /// then an open).
    pub fn open_opt(path: &str) -> Result<Option<InputFile>> {
        match InputFile::open(path) {
            Ok(file) => Ok(Some(file)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Read for InputFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.inner {
            Input::Local(f) => f.read(buf),
            Input::Remote(r) => r.read(buf),
        }
    }
}

impl Seek for InputFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match &mut self.inner {
            Input::Local(f) => f.seek(pos),
            Input::Remote(r) => {
                let target = match pos {
                    SeekFrom::Start(p) => Some(p),
                    SeekFrom::End(d) => r.len.checked_add_signed(d),
                    SeekFrom::Current(d) => r.pos.checked_add_signed(d),
                };
                r.pos = target.ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidInput, "seek before the start")
                })?;
                Ok(r.pos)
            }
        }
    }
}

impl Length for InputFile {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for InputFile {
    type T = Box<dyn Read + Send>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(match &self.inner {
            Input::Local(f) => Box::new(f.get_read(start)?),
            Input::Remote(r) => Box::new(RemoteReader::new(r.remote.clone(), r.len, start)),
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        match &self.inner {
            Input::Local(f) => f.get_bytes(start, length),
            Input::Remote(r) => r
                .fetch(start, start.saturating_add(length as u64))
                .map_err(|e| parquet::errors::ParquetError::External(Box::new(e))),
        }
    }
}

/// Reads an object front to back in `READ_CHUNK` ranged GETs.
struct RemoteReader {
    remote: Remote,
    len: u64,
    pos: u64,
    buf: Bytes,
    buf_start: u64,
}

impl RemoteReader {
    fn new(remote: Remote, len: u64, pos: u64) -> Self {
        RemoteReader {
            remote,
            len,
            pos,
            buf: Bytes::new(),
            buf_start: 0,
        }
    }

    /// GETs `[start, end)`. `object_store` retries each request; a body that breaks half-way
    /// is fetched again here, after a jittered pause.
    fn fetch(&self, start: u64, end: u64) -> io::Result<Bytes> {
        let end = end.min(self.len);
        if start >= end {
            return Ok(Bytes::new());
        }
        let mut attempt = 0u32;
        loop {
            let got = block_on(self.remote.store.get_range(&self.remote.key, start..end))
                .map_err(|e| io::Error::other(e.to_string()))?;
            match got {
                Ok(bytes) => return Ok(bytes),
                Err(e @ object_store::Error::NotFound { .. }) => return Err(to_io(e)),
                Err(e) if attempt >= 3 => return Err(to_io(e)),
                Err(_) => {
                    attempt += 1;
                    std::thread::sleep(jittered(Duration::from_millis(250 << attempt)));
                }
            }
        }
    }
}

impl Read for RemoteReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || out.is_empty() {
            return Ok(0);
        }
        let buffered_end = self.buf_start + self.buf.len() as u64;
        if self.pos < self.buf_start || self.pos >= buffered_end {
            self.buf = self.fetch(self.pos, self.pos.saturating_add(READ_CHUNK))?;
            self.buf_start = self.pos;
            if self.buf.is_empty() {
                return Ok(0);
            }
        }
        let offset = (self.pos - self.buf_start) as usize;
        let n = out.len().min(self.buf.len() - offset);
        out[..n].copy_from_slice(&self.buf[offset..offset + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

/// Between half and all of `base`, varying from call to call (no RNG needed for this).
fn jittered(base: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    base / 2 + base.mul_f64(f64::from(nanos % 1000) / 2000.0)
}

/// A file or object written atomically: nothing is visible at `path` until [`Self::commit`];
/// dropping it uncommitted removes the temporary file or aborts the multipart upload.
///
/// Local: written as `.{name}.tmp` beside `path`, synced, renamed. Remote: buffered; a small
/// object is one PUT at commit, a larger one a multipart upload of `MDF_UPLOAD_PART_MB` (default
/// 16) MiB parts that is completed at commit.
pub struct OutputFile {
    inner: Output,
    path: PathBuf,
}

enum Output {
    Local {
        file: Option<File>,
        tmp: PathBuf,
    },
    Remote {
        remote: Remote,
        buf: Vec<u8>,
        part_size: usize,
        upload: Option<Box<dyn MultipartUpload>>,
        parts: usize,
        /// Test hook (`MDF_TEST_FAIL_UPLOAD_AFTER_PARTS`): fail once this many parts are up.
        fail_after: Option<usize>,
    },
}

impl OutputFile {
    pub fn create(path: &Path) -> Result<OutputFile> {
        let text = path.to_string_lossy();
        let inner = if is_remote(&text) {
            let part_mb = env_usize("MDF_UPLOAD_PART_MB")
                .unwrap_or(DEFAULT_PART_MB)
                .max(5);
            Output::Remote {
                remote: resolve(&text)?,
                buf: Vec::new(),
                part_size: part_mb << 20,
                upload: None,
                parts: 0,
                fail_after: env_usize("MDF_TEST_FAIL_UPLOAD_AFTER_PARTS"),
            }
        } else {
            let dir = path.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir).map_err(|e| MdfError::io(dir, e))?;
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
            let tmp = dir.join(format!(".{name}.tmp"));
            let file = File::create(&tmp).map_err(|e| MdfError::io(&tmp, e))?;
            Output::Local {
                file: Some(file),
                tmp,
            }
        };
        Ok(OutputFile {
            inner,
            path: path.to_path_buf(),
        })
    }

    /// The final path (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Publishes the file: after this returns, readers see all of it.
    pub fn commit(mut self) -> Result<()> {
        let path = self.path.clone();
        match &mut self.inner {
            Output::Local { file, tmp } => {
                let file = file
                    .take()
                    .ok_or_else(|| MdfError::internal("output file committed twice"))?;
                file.sync_all().map_err(|e| MdfError::io(&*tmp, e))?;
                drop(file);
                std::fs::rename(&*tmp, &path).map_err(|e| MdfError::io(&path, e))
            }
            Output::Remote {
                remote,
                buf,
                upload,
                ..
            } => match upload.take() {
                None => storage::put(remote, std::mem::take(buf)),
                Some(mut upload) => {
                    let url = path.to_string_lossy().into_owned();
                    let result = block_on(async {
                        if !buf.is_empty() {
                            let last = PutPayload::from(Bytes::from(std::mem::take(buf)));
                            upload.put_part(last).await?;
                        }
                        upload.complete().await
                    })?;
                    if result.is_err() {
                        let _ = block_on(upload.abort());
                    }
                    result.map(|_| ()).map_err(|e| remote_error(&url, e))
                }
            },
        }
    }

    fn upload_part(&mut self) -> io::Result<()> {
        let Output::Remote {
            remote,
            buf,
            upload,
            parts,
            fail_after,
            ..
        } = &mut self.inner
        else {
            return Ok(());
        };
        if fail_after.is_some_and(|n| *parts >= n) {
            return Err(io::Error::other(
                "upload interrupted (MDF_TEST_FAIL_UPLOAD_AFTER_PARTS)",
            ));
        }
        let payload = PutPayload::from(Bytes::from(std::mem::take(buf)));
        let result = block_on(async {
            if upload.is_none() {
                *upload = Some(remote.store.put_multipart(&remote.key).await?);
            }
            match upload.as_mut() {
                Some(u) => u.put_part(payload).await,
                None => Ok(()),
            }
        })
        .map_err(|e| io::Error::other(e.to_string()))?;
        result.map_err(to_io)?;
        *parts += 1;
        Ok(())
    }
}

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok()?.trim().parse().ok()
}

impl Write for OutputFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match &mut self.inner {
            Output::Local { file, .. } => match file {
                Some(f) => f.write(data),
                None => Err(io::Error::other("write after commit")),
            },
            Output::Remote { buf, part_size, .. } => {
                buf.extend_from_slice(data);
                let full = buf.len() >= *part_size;
                if full {
                    self.upload_part()?;
                }
                Ok(data.len())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Output::Local { file: Some(f), .. } => f.flush(),
            _ => Ok(()),
        }
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        match &mut self.inner {
            Output::Local { file, tmp } => {
                if file.take().is_some() {
                    let _ = std::fs::remove_file(&*tmp);
                }
            }
            Output::Remote { upload, .. } => {
                if let Some(mut upload) = upload.take() {
                    let _ = block_on(upload.abort());
                }
            }
        }
    }
}
