//! One storage layer for every loader, writer and the run directory: local paths and
//! `s3://`, `gs://`, `az://`, `http(s)://` URLs (and `memory://` for tests) behind a small
//! synchronous facade over the `object_store` crate. The engine's workers are plain threads, so
//! every call blocks on one shared multi-threaded tokio runtime.
//!
//! - **Credentials and endpoints** come from the environment, as the cloud SDKs read them:
//!   `AWS_*` (incl. `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`; an `http://` endpoint allows plain
//!   HTTP by itself), `GOOGLE_*`, `AZURE_*`; `HF_TOKEN` is sent to the Hugging Face endpoint.
//! - **Retries**: every request is retried by `object_store` with jittered exponential backoff
//!   (100 ms doubling to 15 s, 10 tries, 3 min per request); range reads retry once more here
//!   when a body stream breaks half-way.
//! - **Atomic output**: see [`OutputFile`]: a local file is written under a hidden temporary
//!   name and renamed; an object is uploaded as a multipart upload that becomes visible only
//!   when it is completed at commit (or a single PUT when small), and is aborted otherwise.
//!
//! Remote locations travel through the engine as `Path`s holding the URL text
//! (`s3://bucket/out/_mdf`), so the `DataWriter` trait and the run directory keep their types.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use mdf_core::{MdfError, Result};
use object_store::path::Path as ObjPath;
use object_store::{
    BackoffConfig, ClientConfigKey, ClientOptions, ObjectStore, ObjectStoreExt, PutPayload,
    RetryConfig,
};

pub use crate::storage_io::{InputFile, OutputFile};

/// True for `scheme://...` locations (anything but a local path).
pub fn is_remote(path: &str) -> bool {
    split_url(path).is_some()
}

/// `scheme://host/key` → `(scheme, host, key)`; `None` for a local path.
fn split_url(path: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = path.split_once("://")?;
    if scheme.len() < 2 || !scheme.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let (host, key) = rest.split_once('/').unwrap_or((rest, ""));
    Some((scheme, host, key))
}

/// An object: its store, its key in the store, and the URL it was named by.
#[derive(Clone)]
pub(crate) struct Remote {
    pub store: Arc<dyn ObjectStore>,
    pub key: ObjPath,
    /// The URL without the key (`s3://bucket`, `https://host/dir`), to name listed objects.
    pub base: String,
}

impl Remote {
    pub fn url_of(&self, key: &ObjPath) -> String {
        if key.as_ref().is_empty() {
            self.base.clone()
        } else {
            format!("{}/{}", self.base, key)
        }
    }
}

/// Resolves a URL to its store (built once per bucket / host and cached).
pub(crate) fn resolve(url: &str) -> Result<Remote> {
    let (scheme, host, key) =
        split_url(url).ok_or_else(|| MdfError::internal(format!("`{url}` is not a URL")))?;
    if host.is_empty() {
        return Err(MdfError::config(format!(
            "`{url}` names no bucket or host (expected {scheme}://BUCKET/path)"
        )));
    }
    let scheme = scheme.to_ascii_lowercase();
    // An HTTP store is rooted at the key's directory, so that the URL's own escapes
    // (`refs%2Fconvert%2Fparquet`) reach the server as written; the key is the file name.
    let (base, key) = if scheme == "http" || scheme == "https" {
        let (dir, name) = key.rsplit_once('/').unwrap_or(("", key));
        let base = if dir.is_empty() {
            format!("{scheme}://{host}")
        } else {
            format!("{scheme}://{host}/{dir}")
        };
        (base, name.to_owned())
    } else {
        (
            format!("{scheme}://{host}"),
            key.trim_end_matches('/').to_owned(),
        )
    };
    static STORES: OnceLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> = OnceLock::new();
    let stores = STORES.get_or_init(Default::default);
    let mut stores = stores.lock().unwrap_or_else(|p| p.into_inner());
    let store = match stores.get(&base) {
        Some(store) => Arc::clone(store),
        None => {
            let store = build_store(&scheme, host, &base)?;
            stores.insert(base.clone(), Arc::clone(&store));
            store
        }
    };
    Ok(Remote {
        store,
        key: ObjPath::from(key),
        base,
    })
}

fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            base: 2.0,
        },
        max_retries: 10,
        retry_timeout: Duration::from_secs(180),
    }
}

fn client_options() -> ClientOptions {
    ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(CONNECT_TIMEOUT_S))
        .with_timeout(Duration::from_secs(REQUEST_TIMEOUT_S))
}

const CONNECT_TIMEOUT_S: u64 = 10;
const REQUEST_TIMEOUT_S: u64 = 120;

/// Timeouts as config keys: `with_client_options` would replace the client options that
/// `from_env` read (`*_ALLOW_HTTP`, proxies).
fn timeouts() -> [(ClientConfigKey, String); 2] {
    [
        (
            ClientConfigKey::ConnectTimeout,
            format!("{CONNECT_TIMEOUT_S}s"),
        ),
        (ClientConfigKey::Timeout, format!("{REQUEST_TIMEOUT_S}s")),
    ]
}

fn build_store(scheme: &str, host: &str, base: &str) -> Result<Arc<dyn ObjectStore>> {
    install_tls_provider();
    let bad = |e: object_store::Error| {
        MdfError::config(format!("cannot set up storage for `{base}`: {e}"))
    };
    let store: Arc<dyn ObjectStore> = match scheme {
        "s3" | "s3a" => {
            use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
            let mut builder = AmazonS3Builder::from_env()
                .with_bucket_name(host)
                .with_retry(retry_config());
            for (key, value) in timeouts() {
                builder = builder.with_config(AmazonS3ConfigKey::Client(key), value);
            }
            // A local S3-compatible server (MinIO, moto) speaks plain HTTP.
            let endpoint = std::env::var("AWS_ENDPOINT_URL_S3")
                .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
                .unwrap_or_default();
            if endpoint.starts_with("http://") && std::env::var_os("AWS_ALLOW_HTTP").is_none() {
                builder = builder.with_allow_http(true);
            }
            Arc::new(builder.build().map_err(bad)?)
        }
        "gs" | "gcs" => {
            use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
            let mut builder = GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(host)
                .with_retry(retry_config());
            for (key, value) in timeouts() {
                builder = builder.with_config(GoogleConfigKey::Client(key), value);
            }
            Arc::new(builder.build().map_err(bad)?)
        }
        "az" | "azure" | "abfs" | "abfss" => {
            use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
            let mut builder = MicrosoftAzureBuilder::from_env()
                .with_container_name(host.split('@').next().unwrap_or(host))
                .with_retry(retry_config());
            for (key, value) in timeouts() {
                builder = builder.with_config(AzureConfigKey::Client(key), value);
            }
            Arc::new(builder.build().map_err(bad)?)
        }
        "http" | "https" => {
            let mut options = client_options().with_allow_http(scheme == "http");
            if let Some(headers) = hf_auth_headers(base) {
                options = options.with_default_headers(headers);
            }
            Arc::new(
                object_store::http::HttpBuilder::new()
                    .with_url(base)
                    .with_retry(retry_config())
                    .with_client_options(options)
                    .build()
                    .map_err(bad)?,
            )
        }
        // One in-memory bucket per name, for tests of the remote code paths.
        "memory" => Arc::new(object_store::memory::InMemory::new()),
        other => {
            return Err(MdfError::config(format!(
                "unsupported storage scheme `{other}://` in `{base}`; use a local path or \
                 s3://, gs://, az://, http(s)://"
            )))
        }
    };
    Ok(store)
}

/// The Hugging Face endpoint (`HF_ENDPOINT`, default `https://huggingface.co`).
pub fn hf_endpoint() -> String {
    std::env::var("HF_ENDPOINT")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| "https://huggingface.co".to_owned())
        .trim_end_matches('/')
        .to_owned()
}

/// `Authorization: Bearer $HF_TOKEN` for requests to the Hugging Face endpoint.
fn hf_auth_headers(base: &str) -> Option<object_store::HeaderMap> {
    let token = std::env::var("HF_TOKEN")
        .or_else(|_| std::env::var("HUGGING_FACE_HUB_TOKEN"))
        .ok()?;
    if !base.starts_with(&hf_endpoint()) {
        return None;
    }
    let value = object_store::HeaderValue::from_str(&format!("Bearer {}", token.trim())).ok()?;
    let mut headers = object_store::HeaderMap::new();
    headers.insert("authorization", value);
    Some(headers)
}

/// rustls needs a process-wide crypto provider; reqwest is built without one (ring is lighter
/// to compile than aws-lc-rs). Installing fails harmlessly when one is already installed.
fn install_tls_provider() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Runs `future` to completion on the shared runtime.
pub(crate) fn block_on<F: Future>(future: F) -> Result<F::Output> {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let runtime = match RUNTIME.get() {
        Some(rt) => rt,
        None => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("mdf-storage")
                .enable_all()
                .build()
                .map_err(|e| MdfError::internal(format!("starting the storage runtime: {e}")))?;
            // A racing thread may have set it first; either runtime is fine.
            let _ = RUNTIME.set(rt);
            RUNTIME
                .get()
                .ok_or_else(|| MdfError::internal("storage runtime missing"))?
        }
    };
    Ok(runtime.block_on(future))
}

/// An `object_store` error as an I/O error (`NotFound` kept, so callers can test for it).
pub(crate) fn to_io(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, e),
        other => io::Error::other(other),
    }
}

pub(crate) fn remote_error(url: &str, e: object_store::Error) -> MdfError {
    MdfError::io(url, to_io(e))
}

fn text(path: &Path) -> std::borrow::Cow<'_, str> {
    path.to_string_lossy()
}

/// Size of the object or file, or `None` when it does not exist.
pub fn size_of(path: &str) -> Result<Option<u64>> {
    if !is_remote(path) {
        return match std::fs::metadata(path) {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(MdfError::io(path, e)),
        };
    }
    let remote = resolve(path)?;
    if remote.key.as_ref().is_empty() {
        return Ok(None);
    }
    match block_on(remote.store.head(&remote.key))? {
        Ok(meta) => Ok(Some(meta.size)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(remote_error(path, e)),
    }
}

/// The whole file or object, or `None` when it does not exist.
pub fn read_opt(path: &Path) -> Result<Option<Vec<u8>>> {
    let path = text(path);
    if !is_remote(&path) {
        return match std::fs::read(path.as_ref()) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(MdfError::io(path.as_ref(), e)),
        };
    }
    let remote = resolve(&path)?;
    let result = block_on(async {
        let got = remote.store.get(&remote.key).await?;
        got.bytes().await
    })?;
    match result {
        Ok(bytes) => Ok(Some(bytes.to_vec())),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(remote_error(&path, e)),
    }
}

/// The whole file or object, which must exist (written by an earlier step of the run): a
/// missing one is a `NotFound` I/O error naming it.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    read_opt(path)?.ok_or_else(|| MdfError::io(path, io::Error::from(io::ErrorKind::NotFound)))
}

/// True when the file or object exists.
pub fn exists(path: &Path) -> Result<bool> {
    let text = text(path);
    if is_remote(&text) {
        Ok(size_of(&text)?.is_some())
    } else {
        Ok(path.exists())
    }
}

/// Writes `bytes` atomically: readers see the old content or all of the new.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut out = OutputFile::create(path)?;
    out.write_all(bytes)
        .map_err(|e| MdfError::io(out.path(), e))?;
    out.commit()
}

/// Creates the directory (and parents); nothing to do in an object store.
pub fn create_dir_all(path: &Path) -> Result<()> {
    if is_remote(&text(path)) {
        return Ok(());
    }
    std::fs::create_dir_all(path).map_err(|e| MdfError::io(path, e))
}

/// Removes a file or object; a missing one is fine.
pub fn remove_file_if_exists(path: &Path) -> Result<()> {
    let path_text = text(path);
    if !is_remote(&path_text) {
        return match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(MdfError::io(path, e)),
        };
    }
    let remote = resolve(&path_text)?;
    match block_on(remote.store.delete(&remote.key))? {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(remote_error(&path_text, e)),
    }
}

/// Names of the files (not directories) directly inside `dir`; empty when it does not exist.
pub fn list_file_names(dir: &Path) -> Result<Vec<String>> {
    let dir_text = text(dir);
    if !is_remote(&dir_text) {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(MdfError::io(dir, e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| MdfError::io(dir, e))?;
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                names.extend(entry.file_name().to_str().map(str::to_owned));
            }
        }
        names.sort();
        return Ok(names);
    }
    let remote = resolve(&dir_text)?;
    let prefix = (!remote.key.as_ref().is_empty()).then_some(&remote.key);
    let listed = block_on(remote.store.list_with_delimiter(prefix))?
        .map_err(|e| remote_error(&dir_text, e))?;
    let mut names: Vec<String> = listed
        .objects
        .iter()
        .filter_map(|o| o.location.filename().map(str::to_owned))
        .collect();
    names.sort();
    Ok(names)
}

/// Names of the files directly in `dir` that start with `prefix` or with `.` + `prefix` (the
/// local temporaries). In an object store this is one listing that starts at the prefix
/// (`start-after` on S3) and stops past it, so clearing one shard of a large output directory
/// does not list the whole directory.
pub fn list_file_names_with_prefix(dir: &Path, prefix: &str) -> Result<Vec<String>> {
    let dir_text = text(dir);
    if !is_remote(&dir_text) {
        let mut names = list_file_names(dir)?;
        names.retain(|n| n.strip_prefix('.').unwrap_or(n).starts_with(prefix));
        return Ok(names);
    }
    let remote = resolve(&dir_text)?;
    let dir_key = remote.key.clone();
    let offset = ObjPath::from(format!("{dir_key}/{prefix}").trim_start_matches('/'));
    let listed: std::result::Result<Vec<String>, object_store::Error> = block_on(async {
        use futures::StreamExt;
        let base = (!dir_key.as_ref().is_empty()).then_some(&dir_key);
        let mut stream = remote.store.list_with_offset(base, &offset);
        let mut names = Vec::new();
        while let Some(meta) = stream.next().await {
            let meta = meta?;
            let rel = meta
                .location
                .prefix_match(&dir_key)
                .map(|parts| parts.map(|p| p.as_ref().to_owned()).collect::<Vec<_>>())
                .unwrap_or_default();
            let [name] = rel.as_slice() else {
                // A nested key ("part-…/x") sorts inside the prefix range; keep looking.
                if rel.first().is_some_and(|first| first.starts_with(prefix)) {
                    continue;
                }
                break;
            };
            if !name.starts_with(prefix) {
                break;
            }
            names.push(name.clone());
        }
        Ok(names)
    })?;
    listed.map_err(|e| remote_error(&dir_text, e))
}

/// Every object under `prefix` (recursively), as `(url, size)`, sorted by URL.
pub fn list_recursive(prefix_url: &str) -> Result<Vec<(String, u64)>> {
    let remote = resolve(prefix_url)?;
    let prefix = (!remote.key.as_ref().is_empty()).then_some(&remote.key);
    let metas: Vec<object_store::ObjectMeta> = block_on(remote.store.list(prefix).try_collect())?
        .map_err(|e| remote_error(prefix_url, e))?;
    let mut out: Vec<(String, u64)> = metas
        .into_iter()
        .map(|m| (remote.url_of(&m.location), m.size))
        .collect();
    out.sort();
    Ok(out)
}

/// Removes a directory tree or every object under a prefix; a missing one is fine.
pub fn remove_dir_all(dir: &Path) -> Result<()> {
    let dir_text = text(dir);
    if !is_remote(&dir_text) {
        return match std::fs::remove_dir_all(dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(MdfError::io(dir, e)),
        };
    }
    for (url, _) in list_recursive(&dir_text)? {
        remove_file_if_exists(Path::new(&url))?;
    }
    Ok(())
}

/// Checks before any work that an output location can be listed (the bucket exists and the
/// credentials are accepted): one clear config error instead of failing shards.
pub fn probe_output(path: &str) -> Result<()> {
    if !is_remote(path) {
        return Ok(());
    }
    let remote = resolve(path)?;
    let prefix = (!remote.key.as_ref().is_empty()).then_some(&remote.key);
    match block_on(remote.store.list_with_delimiter(prefix))? {
        Ok(_) => Ok(()),
        Err(e) => Err(access_error(path, e)),
    }
}

/// A storage error met while planning, as a config error that says what to check.
pub(crate) fn access_error(path: &str, e: object_store::Error) -> MdfError {
    let hint = match split_url(path).map(|(s, _, _)| s) {
        Some("s3" | "s3a") => {
            "check the bucket name and the AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / \
             AWS_REGION / AWS_ENDPOINT_URL environment variables"
        }
        Some("gs" | "gcs") => {
            "check the bucket name and GOOGLE_APPLICATION_CREDENTIALS / GOOGLE_SERVICE_ACCOUNT"
        }
        Some("az" | "azure" | "abfs" | "abfss") => {
            "check the container name and AZURE_STORAGE_ACCOUNT_NAME / AZURE_STORAGE_ACCOUNT_KEY"
        }
        _ => "check the URL and that the server is reachable",
    };
    MdfError::config(format!("cannot access `{path}`: {e}; {hint}"))
}

/// Puts bytes to an object in one request (atomic in every object store).
pub(crate) fn put(remote: &Remote, bytes: Vec<u8>) -> Result<()> {
    block_on(
        remote
            .store
            .put(&remote.key, PutPayload::from(Bytes::from(bytes))),
    )?
    .map(|_| ())
    .map_err(|e| remote_error(&remote.url_of(&remote.key), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn splits_urls_and_keeps_local_paths_local() {
        assert_eq!(
            split_url("s3://bucket/a/b.jsonl"),
            Some(("s3", "bucket", "a/b.jsonl"))
        );
        assert_eq!(split_url("gs://bucket"), Some(("gs", "bucket", "")));
        for local in ["/tmp/x", "data/x.jsonl", "C:\\data", "./a://b"] {
            assert!(!is_remote(local), "{local}");
        }
        let r = resolve("https://host:8080/api/datasets/x%2Fy/file.parquet").unwrap();
        assert_eq!(r.base, "https://host:8080/api/datasets/x%2Fy");
        assert_eq!(r.key.as_ref(), "file.parquet");
        assert!(matches!(
            resolve("ftp://host/x").map(|_| ()),
            Err(MdfError::Config(_))
        ));
    }

    #[test]
    fn memory_store_round_trip_list_and_remove() {
        let dir = Path::new("memory://facade-test/out");
        assert!(list_file_names(dir).unwrap().is_empty());
        write_atomic(&dir.join("a.json"), b"{}").unwrap();
        write_atomic(&dir.join("sub/b.json"), b"[]").unwrap();
        assert_eq!(list_file_names(dir).unwrap(), ["a.json"]);
        assert_eq!(read_opt(&dir.join("a.json")).unwrap().unwrap(), b"{}");
        assert_eq!(read_opt(&dir.join("missing")).unwrap(), None);
        assert!(exists(&dir.join("sub/b.json")).unwrap());
        assert_eq!(
            list_recursive("memory://facade-test/out").unwrap(),
            [
                ("memory://facade-test/out/a.json".to_owned(), 2),
                ("memory://facade-test/out/sub/b.json".to_owned(), 2)
            ]
        );
        remove_file_if_exists(&dir.join("a.json")).unwrap();
        remove_file_if_exists(&dir.join("a.json")).unwrap();
        remove_dir_all(dir).unwrap();
        assert!(list_recursive("memory://facade-test/out")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn prefix_listing_stops_at_the_prefix_locally_and_remotely() {
        let tmp = tempfile::tempdir().unwrap();
        let local = tmp.path().join("out");
        let remote = std::path::PathBuf::from("memory://facade-prefix/out");
        for dir in [local.as_path(), remote.as_path()] {
            for name in [
                "part-000001-0000.parquet",
                "part-000002-0000.parquet",
                "part-000002-0001.parquet",
                "part-000002-0001.parquet/nested",
                "part-000003-0000.parquet",
                "_mdf/done/000002",
            ] {
                if !name.ends_with("nested") || is_remote(&dir.to_string_lossy()) {
                    write_atomic(&dir.join(name), b"x").unwrap();
                }
            }
            assert_eq!(
                list_file_names_with_prefix(dir, "part-000002-").unwrap(),
                ["part-000002-0000.parquet", "part-000002-0001.parquet"],
                "{}",
                dir.display()
            );
            assert_eq!(list_file_names_with_prefix(dir, "part-").unwrap().len(), 4);
            assert!(list_file_names_with_prefix(dir, "zzz").unwrap().is_empty());
        }
    }

    #[test]
    fn multipart_output_is_invisible_until_commit() {
        let path = Path::new("memory://facade-mp/big.bin");
        let data: Vec<u8> = (0..(11 << 20)).map(|i| (i % 251) as u8).collect();
        {
            let mut out = OutputFile::create(path).unwrap();
            out.write_all(&data).unwrap();
            assert!(!exists(path).unwrap(), "parts uploaded, object not visible");
            // Dropped without commit: the upload is aborted.
        }
        assert!(!exists(path).unwrap());
        let mut out = OutputFile::create(path).unwrap();
        out.write_all(&data).unwrap();
        out.commit().unwrap();
        let mut back = Vec::new();
        InputFile::open(path.to_str().unwrap())
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }
}
