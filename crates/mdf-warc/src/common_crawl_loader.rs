//! `CommonCrawlLoader`: the WARC or WET files of one CommonCrawl crawl, streamed.
//!
//! Reproduces the seed's `CommonCrawlLoader` listing (`crawl-data/<crawl_id>/warc.paths.gz`
//! under `base_url`) and reads the files with the same record reader as `WarcLoader`. Where it
//! differs from the seed: files are streamed record by record instead of downloaded whole
//! (no `cache_dir`), with retries and resumption (see `http_source`); `max_files` (alias
//! `num_files`) without a value means every listed file, not a number derived from the worker
//! count. Like the seed, WARC pages have their main text extracted by default (`extract_text`):
//! the planner runs `html_extractor` in the loader's stage (`data_loader`), so extraction
//! rejects are counted and reported like any operator's; `extract_text: false` gives the raw
//! `WarcLoader` columns (`html` bytes) for a pipeline with its own extraction stage.
//!
//! `base_url` may be `https://…`/`http://…` (a mirror), `s3://commoncrawl/` (mapped to the
//! public HTTPS endpoint `https://data.commoncrawl.org/`: no S3 credentials are used), a local
//! directory or a `file://` URL holding the same `crawl-data/…` tree.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use mdf_core::io::{LeadingOperator, Loader, RecordSource, ShardSpec};
use mdf_core::{Component, MdfError, OperatorKind, Params, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::http_source::{HttpClient, RetryPolicy};
use crate::warc_loader::{
    check_mb, default_max_record_mb, default_mime_types, Selection, WarcSource,
};
use crate::warc_record::{ReaderOptions, WarcReader};

/// The public HTTPS endpoint of the `commoncrawl` bucket.
pub const COMMONCRAWL_HTTPS: &str = "https://data.commoncrawl.org/";

/// Which files of the crawl to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CrawlFileType {
    /// Raw crawl responses (`warc.paths.gz`); rows carry `html`.
    Warc,
    /// Extracted plain text (`wet.paths.gz`); rows carry `text`.
    Wet,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommonCrawlLoaderParams {
    /// The crawl, e.g. `CC-MAIN-2024-51`. Required.
    pub crawl_id: String,
    /// `warc` (HTML responses) or `wet` (extracted text). Default: `warc`.
    #[serde(default = "default_file_type")]
    pub file_type: CrawlFileType,
    /// Read at most this many files of the listing (after the `segments` filter), in listing
    /// order; one shard per file. Default: null (all of them).
    #[serde(default, alias = "num_files")]
    pub max_files: Option<usize>,
    /// Only files of these segments (e.g. `1733066035856.2`, the directory after
    /// `segments/`). Default: null (every segment).
    #[serde(default)]
    pub segments: Option<Vec<String>>,
    /// Where the `crawl-data/` tree is: an `http(s)://` URL, `s3://commoncrawl/` (read through
    /// its public HTTPS endpoint), a local directory or a `file://` URL. Default:
    /// `https://data.commoncrawl.org/`.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Payload media types kept for WARC files (see `WarcLoader`). Default: `["text/html",
    /// "application/xhtml+xml"]`.
    #[serde(default = "default_mime_types")]
    pub mime_types: Vec<String>,
    /// Records larger than this many MiB are rejected. Default: 64.
    #[serde(default = "default_max_record_mb")]
    pub max_record_mb: f64,
    /// Consecutive failed attempts (throttling, timeouts, dropped connections) before a file
    /// fails; the count resets whenever data arrives. Default: 8.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// The first retry waits up to this many seconds; each further one doubles it (up to 60 s),
    /// jittered. Default: 1.
    #[serde(default = "default_retry_delay_s")]
    pub retry_delay_s: f64,
    /// Connect and per-read timeout in seconds. Default: 60.
    #[serde(default = "default_timeout_s")]
    pub timeout_s: f64,
    /// Extract each page's main text before the first stage, as the seed's loader did: rows
    /// carry `text` and `title` instead of `html`. Only for `file_type: warc` (WET files hold
    /// text already). Default: true.
    #[serde(default = "default_extract_text")]
    pub extract_text: bool,
    /// Params of that extraction: `html_extractor`'s params (e.g. `favor_precision: true`).
    /// Default: {} (its defaults).
    #[serde(default)]
    pub extraction: serde_json::Map<String, serde_json::Value>,
}

fn default_extract_text() -> bool {
    true
}

fn default_file_type() -> CrawlFileType {
    CrawlFileType::Warc
}

fn default_base_url() -> String {
    COMMONCRAWL_HTTPS.to_owned()
}

fn default_max_retries() -> u32 {
    8
}

fn default_retry_delay_s() -> f64 {
    1.0
}

fn default_timeout_s() -> f64 {
    60.0
}

impl Params for CommonCrawlLoaderParams {
    fn check(&self) -> std::result::Result<(), String> {
        let id = self.crawl_id.trim();
        if id.is_empty() || id.contains(['/', '\\']) || id.contains("..") {
            return Err(format!(
                "`crawl_id` must be a crawl name such as CC-MAIN-2024-51, not `{}`",
                self.crawl_id
            ));
        }
        if self.max_files == Some(0) {
            return Err("`max_files` must be at least 1 (or null for all files)".into());
        }
        if self.segments.as_ref().is_some_and(Vec::is_empty) {
            return Err("`segments` must name at least one segment (or be null)".into());
        }
        check_mb("max_record_mb", self.max_record_mb)?;
        if !(self.retry_delay_s.is_finite() && self.retry_delay_s >= 0.0) {
            return Err("`retry_delay_s` must be a non-negative number".into());
        }
        if !(self.timeout_s.is_finite() && self.timeout_s > 0.0) {
            return Err("`timeout_s` must be a positive number".into());
        }
        Base::parse(&self.base_url).map(|_| ())
    }
}

/// Where the crawl tree lives.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Base {
    /// A URL ending in `/`.
    Http(String),
    Local(PathBuf),
}

impl Base {
    fn parse(base: &str) -> std::result::Result<Base, String> {
        let base = base.trim();
        if base.is_empty() {
            return Err("`base_url` is empty".into());
        }
        let with_slash = |s: &str| {
            if s.ends_with('/') {
                s.to_owned()
            } else {
                format!("{s}/")
            }
        };
        if let Some(rest) = base.strip_prefix("s3://") {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket != "commoncrawl" {
                return Err(format!(
                    "`base_url` {base}: only the public s3://commoncrawl/ bucket is supported \
                     (read through {COMMONCRAWL_HTTPS}); use an https:// mirror or a local \
                     directory for other data"
                ));
            }
            return Ok(Base::Http(with_slash(&format!("{COMMONCRAWL_HTTPS}{key}"))));
        }
        if base.starts_with("http://") || base.starts_with("https://") {
            return Ok(Base::Http(with_slash(base)));
        }
        if let Some(path) = base.strip_prefix("file://") {
            return Ok(Base::Local(PathBuf::from(path)));
        }
        if base.contains("://") {
            return Err(format!(
                "`base_url` {base}: expected http(s)://, s3://commoncrawl/, file:// or a directory"
            ));
        }
        Ok(Base::Local(PathBuf::from(base)))
    }

    /// The location of `rel` (a path of the listing) under this base.
    fn join(&self, rel: &str) -> String {
        match self {
            Base::Http(url) => format!("{url}{}", rel.trim_start_matches('/')),
            Base::Local(dir) => dir
                .join(rel.trim_start_matches('/'))
                .to_string_lossy()
                .into_owned(),
        }
    }
}

/// Streams the files of one crawl; see the module docs.
pub struct CommonCrawlLoader {
    params: CommonCrawlLoaderParams,
    base: Base,
    selection: Selection,
    client: HttpClient,
    shards: OnceLock<Vec<ShardSpec>>,
}

impl Component for CommonCrawlLoader {
    type Built = dyn Loader;
    type Params = CommonCrawlLoaderParams;
    const NAME: &'static str = "CommonCrawlLoader";
    const KIND: OperatorKind = OperatorKind::Loader;
    const SUMMARY: &'static str =
        "a CommonCrawl crawl's WARC or WET files, streamed over HTTPS (or a mirror/local copy) with retries";

    fn build(params: CommonCrawlLoaderParams) -> Result<Box<dyn Loader>> {
        Ok(Box::new(CommonCrawlLoader::new(params)?))
    }
}

impl CommonCrawlLoader {
    pub fn new(params: CommonCrawlLoaderParams) -> Result<Self> {
        let base = Base::parse(&params.base_url).map_err(MdfError::config)?;
        let record_types = match params.file_type {
            CrawlFileType::Warc => vec!["response".to_owned()],
            CrawlFileType::Wet => vec!["conversion".to_owned()],
        };
        let selection = Selection::new(&record_types, &params.mime_types, params.max_record_mb);
        let client = HttpClient::new(RetryPolicy {
            max_retries: params.max_retries,
            base_delay: Duration::from_secs_f64(params.retry_delay_s),
            max_delay: Duration::from_secs(60),
            timeout: Duration::from_secs_f64(params.timeout_s),
        });
        Ok(CommonCrawlLoader {
            params,
            base,
            selection,
            client,
            shards: OnceLock::new(),
        })
    }

    fn listing_path(&self) -> String {
        let kind = match self.params.file_type {
            CrawlFileType::Warc => "warc",
            CrawlFileType::Wet => "wet",
        };
        format!("crawl-data/{}/{kind}.paths.gz", self.params.crawl_id.trim())
    }

    /// The listed files, filtered and capped.
    fn list_files(&self) -> Result<Vec<String>> {
        let listing = self.base.join(&self.listing_path());
        let gz = match &self.base {
            Base::Http(_) => self.client.get_all(&listing).map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    MdfError::config(format!(
                        "no file listing for crawl `{}` at {listing}: {e}",
                        self.params.crawl_id
                    ))
                } else {
                    MdfError::io(&listing, e)
                }
            })?,
            Base::Local(_) => std::fs::read(&listing).map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    MdfError::config(format!(
                        "no file listing for crawl `{}`: {listing} does not exist",
                        self.params.crawl_id
                    ))
                } else {
                    MdfError::io(&listing, e)
                }
            })?,
        };
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&gz[..])
            .read_to_string(&mut text)
            .map_err(|e| MdfError::bad_input(&listing, format!("not a gzip text listing: {e}")))?;
        let segments = self.params.segments.as_deref().unwrap_or(&[]);
        let mut files: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .filter(|l| {
                segments.is_empty()
                    || segments
                        .iter()
                        .any(|s| l.contains(&format!("/segments/{}/", s.trim())))
            })
            .map(|l| self.base.join(l))
            .collect();
        if let Some(max) = self.params.max_files {
            files.truncate(max);
        }
        if files.is_empty() {
            return Err(MdfError::config(format!(
                "the listing {listing} has no file matching the `segments` filter"
            )));
        }
        Ok(files)
    }
}

impl Loader for CommonCrawlLoader {
    fn leading_operators(&self) -> Vec<LeadingOperator> {
        if self.params.extract_text && self.params.file_type == CrawlFileType::Warc {
            vec![LeadingOperator {
                name: "html_extractor".to_owned(),
                params: serde_json::Value::Object(self.params.extraction.clone()),
            }]
        } else {
            Vec::new()
        }
    }

    fn list_shards(&self) -> Result<Vec<ShardSpec>> {
        if let Some(shards) = self.shards.get() {
            return Ok(shards.clone());
        }
        let shards: Vec<ShardSpec> = self
            .list_files()?
            .into_iter()
            .enumerate()
            .map(|(index, path)| ShardSpec {
                index,
                ..ShardSpec::whole_file(path)
            })
            .collect();
        Ok(self.shards.get_or_init(|| shards).clone())
    }

    fn open(&self, shard: &ShardSpec, batch_size: usize) -> Result<Box<dyn RecordSource>> {
        if shard.start > 0 || shard.end.is_some() {
            return Err(MdfError::internal(
                "CommonCrawlLoader shards are whole files",
            ));
        }
        let path = shard.path.as_str();
        let input: Box<dyn Read + Send> = match &self.base {
            Base::Http(_) => Box::new(self.client.open(path)),
            Base::Local(_) => {
                Box::new(File::open(Path::new(path)).map_err(|e| MdfError::io(path, e))?)
            }
        };
        let opts = ReaderOptions {
            max_record_bytes: self.selection.max_record_bytes,
            start: 0,
            end: None,
            gzip: None,
        };
        let reader = WarcReader::new(input, opts).map_err(|e| MdfError::io(path, e))?;
        Ok(Box::new(WarcSource::new(
            reader,
            path,
            self.selection.clone(),
            batch_size,
            shard.limit,
        )))
    }
}

#[cfg(test)]
#[path = "common_crawl_loader_tests.rs"]
mod tests;
