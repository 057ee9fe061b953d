//! `WarcLoader`: WARC (1.0, 1.1), WET and ARC files, plain or gzip (one member per record as
//! CommonCrawl writes them, or one member for the whole file), as Arrow batches.
//!
//! Selection follows datatrove's `WarcReader` (FineWeb): `response` records whose payload is
//! HTML, by `WARC-Identified-Payload-Type` when the record has one, else by the HTTP
//! `Content-Type`; and WET `conversion` records. Where it differs: no libmagic sniffing when
//! neither header names a type (the record is skipped), and no charset decoding here: `html` is
//! the raw payload bytes (the `html_extractor` operator decodes), with chunked
//! transfer-encoding and content-encoding removed.
//!
//! Columns: `id` (`WARC-Record-ID`), `url` (`WARC-Target-URI`), `date` (`WARC-Date` as
//! written), `content_type` (the HTTP `Content-Type` header of a response, with its charset
//! parameter; the WARC `Content-Type` of other records), `html` (Binary: the decoded HTTP
//! payload of `response` records, the block of `resource` records), `text` (Utf8: the block of
//! WET `conversion` records), `warc_record_type`, `http_status`, `payload_digest`
//! (`WARC-Payload-Digest`), `warc_truncated` (`WARC-Truncated`), `_source_file`,
//! `_source_offset` (byte offset of the record, or of its gzip member, in the file).
//!
//! Shards: a file larger than `shard_size_mb` is split into byte ranges; a range owns the
//! records (gzip members) that start in it, found by scanning for the gzip magic validated by a
//! trial inflate, or for a line starting with `WARC/1.` in plain files.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use arrow::array::{ArrayRef, BinaryBuilder, StringBuilder, UInt16Builder, UInt64Builder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use mdf_core::io::{
    Loader, RecordSource, Reject, ShardSpec, SourceItem, SOURCE_FILE_COLUMN, SOURCE_OFFSET_COLUMN,
};
use mdf_core::{Component, MdfError, OperatorKind, Params, Result};
use mdf_io::{expand_paths, PathList};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::http_response::{media_type, HttpResponse};
use crate::warc_record::{
    is_gzip, BadRecord, Format, ReaderOptions, RecordView, WarcItem, WarcReader, DETECT_BYTES,
};

/// File name endings a directory walk picks up.
pub const WARC_EXTENSIONS: &[&str] = &["warc", "warc.gz", "wet", "wet.gz", "arc", "arc.gz"];

/// Record types a loader can select.
pub const RECORD_TYPES: &[&str] = &["response", "resource", "conversion", "revisit"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WarcLoaderParams {
    /// Input files, directories (searched recursively for `.warc`, `.wet` and `.arc` files,
    /// optionally `.gz`) or glob patterns: one string or a list. Required.
    pub paths: PathList,
    /// WARC record types to read, among `response`, `resource`, `conversion` (WET text) and
    /// `revisit` (no payload). Other records are skipped. Default: `["response",
    /// "conversion"]`.
    #[serde(default = "default_record_types")]
    pub record_types: Vec<String>,
    /// `response`/`resource`/`revisit` records are kept when their payload type (the
    /// `WARC-Identified-Payload-Type` header, else the HTTP `Content-Type`) is one of these
    /// media types; an empty list keeps every payload type. Default: `["text/html",
    /// "application/xhtml+xml"]`.
    #[serde(default = "default_mime_types")]
    pub mime_types: Vec<String>,
    /// Records whose block or decoded payload is larger than this many MiB are rejected as
    /// `record_too_large` / `payload_too_large`. Default: 64.
    #[serde(default = "default_max_record_mb")]
    pub max_record_mb: f64,
    /// Files larger than this many MiB are split into byte-range shards read in parallel.
    /// Default: 256.
    #[serde(default = "default_shard_size_mb")]
    pub shard_size_mb: f64,
}

pub(crate) fn default_record_types() -> Vec<String> {
    vec!["response".into(), "conversion".into()]
}

pub(crate) fn default_mime_types() -> Vec<String> {
    vec!["text/html".into(), "application/xhtml+xml".into()]
}

pub(crate) fn default_max_record_mb() -> f64 {
    64.0
}

fn default_shard_size_mb() -> f64 {
    256.0
}

impl Params for WarcLoaderParams {
    fn check(&self) -> std::result::Result<(), String> {
        if self.paths.as_slice().is_empty() || self.paths.as_slice().iter().any(|p| p.is_empty()) {
            return Err("`paths` must name at least one file, directory or glob".into());
        }
        check_record_types(&self.record_types)?;
        check_mb("max_record_mb", self.max_record_mb)?;
        check_mb("shard_size_mb", self.shard_size_mb)
    }
}

pub(crate) fn check_record_types(types: &[String]) -> std::result::Result<(), String> {
    if types.is_empty() {
        return Err("`record_types` must name at least one record type".into());
    }
    for t in types {
        if !RECORD_TYPES.contains(&t.as_str()) {
            return Err(format!(
                "unknown record type `{t}` in `record_types`; expected one of {}",
                RECORD_TYPES.join(", ")
            ));
        }
    }
    Ok(())
}

pub(crate) fn check_mb(name: &str, mb: f64) -> std::result::Result<(), String> {
    if mb.is_finite() && mb > 0.0 {
        Ok(())
    } else {
        Err(format!("`{name}` must be a positive number"))
    }
}

/// MiB (maybe fractional) to bytes, at least 1.
pub(crate) fn mib_to_bytes(mib: f64) -> u64 {
    ((mib * (1u64 << 20) as f64) as u64).max(1)
}

/// Which records become rows and how; shared by the WARC and CommonCrawl loaders.
#[derive(Debug, Clone)]
pub(crate) struct Selection {
    pub record_types: Vec<String>,
    /// Lower-cased media types; empty = all.
    pub mime_types: Vec<String>,
    pub max_record_bytes: u64,
}

impl Selection {
    pub fn new(record_types: &[String], mime_types: &[String], max_record_mb: f64) -> Self {
        Selection {
            record_types: record_types.to_vec(),
            mime_types: mime_types
                .iter()
                .map(|m| m.trim().to_ascii_lowercase())
                .collect(),
            max_record_bytes: mib_to_bytes(max_record_mb),
        }
    }

    fn wants_type(&self, record_type: &[u8]) -> bool {
        self.record_types
            .iter()
            .any(|t| t.as_bytes().eq_ignore_ascii_case(record_type))
    }

    fn wants_mime(&self, content_type: &[u8]) -> bool {
        self.mime_types.is_empty() || {
            let m = media_type(content_type);
            self.mime_types.contains(&m)
        }
    }
}

/// The schema of every batch of the WARC loaders.
pub fn warc_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    Arc::clone(SCHEMA.get_or_init(|| {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("url", DataType::Utf8, true),
            Field::new("date", DataType::Utf8, true),
            Field::new("content_type", DataType::Utf8, true),
            Field::new("html", DataType::Binary, true),
            Field::new("text", DataType::Utf8, true),
            Field::new("warc_record_type", DataType::Utf8, false),
            Field::new("http_status", DataType::UInt16, true),
            Field::new("payload_digest", DataType::Utf8, true),
            Field::new("warc_truncated", DataType::Utf8, true),
            Field::new(SOURCE_FILE_COLUMN, DataType::Utf8, false),
            Field::new(SOURCE_OFFSET_COLUMN, DataType::UInt64, false),
        ]))
    }))
}

/// Reads WARC/WET/ARC files; see the module docs.
pub struct WarcLoader {
    params: WarcLoaderParams,
    selection: Selection,
    files: OnceLock<Vec<String>>,
}

impl Component for WarcLoader {
    type Built = dyn Loader;
    type Params = WarcLoaderParams;
    const NAME: &'static str = "WarcLoader";
    const KIND: OperatorKind = OperatorKind::Loader;
    const SUMMARY: &'static str =
        "WARC/WET/ARC files (plain or gzip): HTML responses or WET text; big files split by byte range";

    fn build(params: WarcLoaderParams) -> Result<Box<dyn Loader>> {
        Ok(Box::new(WarcLoader::new(params)))
    }
}

impl WarcLoader {
    pub fn new(params: WarcLoaderParams) -> Self {
        let selection = Selection::new(
            &params.record_types,
            &params.mime_types,
            params.max_record_mb,
        );
        WarcLoader {
            params,
            selection,
            files: OnceLock::new(),
        }
    }

    fn files(&self) -> Result<&[String]> {
        if let Some(files) = self.files.get() {
            return Ok(files);
        }
        let files = expand_paths(self.params.paths.as_slice(), WARC_EXTENSIONS)?;
        Ok(self.files.get_or_init(|| files))
    }
}

impl Loader for WarcLoader {
    fn list_shards(&self) -> Result<Vec<ShardSpec>> {
        let shard_bytes = mib_to_bytes(self.params.shard_size_mb);
        let mut shards = Vec::new();
        for path in self.files()? {
            let size = std::fs::metadata(path)
                .map_err(|e| MdfError::io(path, e))?
                .len();
            let mut start = 0;
            loop {
                let end = start + shard_bytes;
                shards.push(ShardSpec {
                    index: 0,
                    path: path.clone(),
                    start,
                    end: (end < size).then_some(end),
                    limit: None,
                });
                if end >= size {
                    break;
                }
                start = end;
            }
        }
        for (i, shard) in shards.iter_mut().enumerate() {
            shard.index = i;
        }
        Ok(shards)
    }

    fn open(&self, shard: &ShardSpec, batch_size: usize) -> Result<Box<dyn RecordSource>> {
        let path = shard.path.as_str();
        let mut file = File::open(path).map_err(|e| MdfError::io(path, e))?;
        // A shard inside the file decides the format from the file's head, as the first
        // shard does.
        let gzip = if shard.start > 0 {
            let mut head = Vec::with_capacity(DETECT_BYTES);
            (&mut file)
                .take(DETECT_BYTES as u64)
                .read_to_end(&mut head)
                .map_err(|e| MdfError::io(path, e))?;
            file.seek(SeekFrom::Start(shard.start - 1))
                .map_err(|e| MdfError::io(path, e))?;
            Some(is_gzip(&head))
        } else {
            None
        };
        let opts = ReaderOptions {
            max_record_bytes: self.selection.max_record_bytes,
            start: shard.start,
            end: shard.end,
            gzip,
        };
        let reader = WarcReader::new(file, opts).map_err(|e| MdfError::io(path, e))?;
        Ok(Box::new(WarcSource::new(
            reader,
            path,
            self.selection.clone(),
            batch_size,
            shard.limit,
        )))
    }
}

/// Streams one WARC shard as batches; shared by the WARC and CommonCrawl loaders.
pub(crate) struct WarcSource<R> {
    reader: WarcReader<R>,
    path: String,
    file_name: String,
    selection: Selection,
    batch_size: usize,
    remaining: Option<u64>,
    rows: Rows,
    done: bool,
    /// A reject to return after the batch it interrupted.
    ready: Option<SourceItem>,
}

impl<R: Read + Send> WarcSource<R> {
    pub fn new(
        reader: WarcReader<R>,
        path: &str,
        selection: Selection,
        batch_size: usize,
        limit: Option<u64>,
    ) -> Self {
        let file_name = Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.to_owned());
        WarcSource {
            reader,
            path: path.to_owned(),
            file_name,
            selection,
            batch_size: batch_size.max(1),
            remaining: limit,
            rows: Rows::default(),
            done: false,
            ready: None,
        }
    }

    fn reject(&self, bad: BadRecord) -> SourceItem {
        SourceItem::Reject(Reject {
            source: self.path.clone(),
            offset: Some(bad.offset),
            operator: None,
            reason: bad.reason.to_owned(),
            detail: bad.detail,
            record: None,
        })
    }

    fn finish_batch(&mut self) -> Result<Option<RecordBatch>> {
        if self.rows.len == 0 {
            return Ok(None);
        }
        let batch = self.rows.finish(&self.path)?;
        if let Some(r) = self.remaining.as_mut() {
            *r = r.saturating_sub(batch.num_rows() as u64);
        }
        Ok(Some(batch))
    }
}

impl<R: Read + Send> RecordSource for WarcSource<R> {
    fn next_item(&mut self) -> Result<Option<SourceItem>> {
        if let Some(item) = self.ready.take() {
            return Ok(Some(item));
        }
        loop {
            let room = match self.remaining {
                Some(r) => r.saturating_sub(self.rows.len as u64),
                None => u64::MAX,
            };
            if self.done || room == 0 || self.rows.len >= self.batch_size {
                if room == 0 {
                    self.done = true;
                }
                return Ok(self.finish_batch()?.map(SourceItem::Batch));
            }
            let item = self
                .reader
                .next_item()
                .map_err(|e| MdfError::io(&self.path, e))?;
            let bad = match item {
                None => {
                    self.done = true;
                    continue;
                }
                Some(WarcItem::Bad(bad)) => bad,
                Some(WarcItem::Record(record)) => {
                    match self.rows.push(&record, &self.selection, &self.file_name) {
                        Ok(()) => continue,
                        Err(bad) => bad,
                    }
                }
            };
            // Rows read before the bad record go first, so output follows the file's order.
            let reject = self.reject(bad);
            return Ok(Some(match self.finish_batch()? {
                Some(batch) => {
                    self.ready = Some(reject);
                    SourceItem::Batch(batch)
                }
                None => reject,
            }));
        }
    }
}

/// Column builders of one batch.
struct Rows {
    len: usize,
    id: StringBuilder,
    url: StringBuilder,
    date: StringBuilder,
    content_type: StringBuilder,
    html: BinaryBuilder,
    text: StringBuilder,
    record_type: StringBuilder,
    status: UInt16Builder,
    digest: StringBuilder,
    truncated: StringBuilder,
    offset: UInt64Builder,
}

impl Default for Rows {
    fn default() -> Self {
        Rows {
            len: 0,
            id: StringBuilder::new(),
            url: StringBuilder::new(),
            date: StringBuilder::new(),
            content_type: StringBuilder::new(),
            html: BinaryBuilder::new(),
            text: StringBuilder::new(),
            record_type: StringBuilder::new(),
            status: UInt16Builder::new(),
            digest: StringBuilder::new(),
            truncated: StringBuilder::new(),
            offset: UInt64Builder::new(),
        }
    }
}

fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

fn bad(offset: u64, reason: &'static str, detail: impl Into<String>) -> BadRecord {
    BadRecord {
        offset,
        reason,
        detail: detail.into(),
    }
}

impl Rows {
    /// Adds the record when the selection wants it; `Err` rejects it.
    fn push(
        &mut self,
        rec: &RecordView<'_>,
        sel: &Selection,
        file_name: &str,
    ) -> std::result::Result<(), BadRecord> {
        let record_type = rec.record_type();
        if !sel.wants_type(record_type) {
            return Ok(());
        }
        let record_type_lc = record_type.to_ascii_lowercase();
        let identified = rec.header("WARC-Identified-Payload-Type");
        let mut status = None;
        let content_type: Option<Vec<u8>>;
        let mut html: Option<std::borrow::Cow<'_, [u8]>> = None;
        let mut text = None;
        match record_type_lc.as_slice() {
            b"response" | b"revisit" => {
                if let Some(t) = identified {
                    if !sel.wants_mime(t) {
                        return Ok(());
                    }
                }
                let is_http = rec.format == Format::Arc
                    || rec
                        .header("Content-Type")
                        .is_none_or(|ct| media_type(ct) == "application/http");
                if !is_http {
                    // A response that is not HTTP (e.g. dns): treat the block as the payload.
                    let ct = rec.header("Content-Type").unwrap_or(b"");
                    if identified.is_none() && !sel.wants_mime(ct) {
                        return Ok(());
                    }
                    content_type = Some(ct.to_vec());
                    html = Some(rec.block.into());
                } else if record_type_lc == b"revisit" && rec.block.trim_ascii().is_empty() {
                    // A revisit may carry no HTTP headers at all.
                    content_type = None;
                } else {
                    let http = match HttpResponse::parse(rec.block) {
                        Ok(h) => h,
                        // ARC `filedesc` and non-HTTP ARC records (dns:) are not pages.
                        Err(_) if rec.format == Format::Arc => return Ok(()),
                        Err(e) => return Err(bad(rec.offset, e.reason, e.detail)),
                    };
                    let ct = http.header("Content-Type").or_else(|| {
                        (rec.format == Format::Arc)
                            .then(|| rec.header("content-type"))
                            .flatten()
                    });
                    if identified.is_none() && !sel.wants_mime(ct.unwrap_or(b"")) {
                        return Ok(());
                    }
                    status = Some(http.status);
                    content_type = ct.map(<[u8]>::to_vec);
                    if record_type_lc != b"revisit" {
                        let payload = http
                            .payload(sel.max_record_bytes as usize)
                            .map_err(|e| bad(rec.offset, e.reason, e.detail))?;
                        html = Some(payload);
                    }
                }
            }
            b"resource" => {
                let ct = rec.header("Content-Type").unwrap_or(b"");
                if !sel.wants_mime(identified.unwrap_or(ct)) {
                    return Ok(());
                }
                content_type = Some(ct.to_vec());
                html = Some(rec.block.into());
            }
            _ => {
                // conversion (WET text): UTF-8 by CommonCrawl's convention.
                let t = std::str::from_utf8(rec.block).map_err(|e| {
                    bad(
                        rec.offset,
                        "invalid_utf8",
                        format!("the conversion record's text is not UTF-8: {e}"),
                    )
                })?;
                content_type = rec.header("Content-Type").map(<[u8]>::to_vec);
                text = Some(t);
            }
        }
        let id = match rec.format {
            Format::Warc => match rec.header("WARC-Record-ID") {
                Some(id) => lossy(id).into_owned(),
                None => {
                    return Err(bad(
                        rec.offset,
                        "missing_header",
                        "the record has no WARC-Record-ID",
                    ))
                }
            },
            // ARC records have no id: use the loaders' generated `{file}:{offset}` form.
            Format::Arc => format!("{file_name}:{}", rec.offset),
        };
        let url = rec
            .header("WARC-Target-URI")
            .or_else(|| rec.header("url"))
            .map(|u| {
                // WARC/1.0 writers sometimes wrap the URI in angle brackets.
                let u = u
                    .strip_prefix(b"<")
                    .and_then(|u| u.strip_suffix(b">"))
                    .unwrap_or(u);
                lossy(u).into_owned()
            });
        let date = rec.header("WARC-Date").or_else(|| rec.header("date"));
        self.id.append_value(id);
        self.url.append_option(url);
        self.date.append_option(date.map(lossy));
        self.content_type
            .append_option(content_type.as_deref().map(lossy));
        self.html.append_option(html.as_deref());
        self.text.append_option(text);
        self.record_type.append_value(lossy(&record_type_lc));
        self.status.append_option(status);
        self.digest
            .append_option(rec.header("WARC-Payload-Digest").map(lossy));
        self.truncated
            .append_option(rec.header("WARC-Truncated").map(lossy));
        self.offset.append_value(rec.offset);
        self.len += 1;
        Ok(())
    }

    fn finish(&mut self, path: &str) -> Result<RecordBatch> {
        let n = self.len;
        self.len = 0;
        let mut files = StringBuilder::with_capacity(n, n * path.len());
        for _ in 0..n {
            files.append_value(path);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.id.finish()),
            Arc::new(self.url.finish()),
            Arc::new(self.date.finish()),
            Arc::new(self.content_type.finish()),
            Arc::new(self.html.finish()),
            Arc::new(self.text.finish()),
            Arc::new(self.record_type.finish()),
            Arc::new(self.status.finish()),
            Arc::new(self.digest.finish()),
            Arc::new(self.truncated.finish()),
            Arc::new(files.finish()),
            Arc::new(self.offset.finish()),
        ];
        Ok(RecordBatch::try_new(warc_schema(), columns)?)
    }
}

#[cfg(test)]
#[path = "warc_loader_tests.rs"]
mod tests;
