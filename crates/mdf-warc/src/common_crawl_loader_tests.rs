//! `CommonCrawlLoader` against a local HTTP server that throttles and drops connections.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use mdf_core::io::Loader;

use super::*;
use crate::testutil::*;

/// What the server does with the n-th request (0-based) of one path.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    /// `503 Slow Down`.
    SlowDown,
    /// Sends the headers and this fraction of the remaining body, then closes.
    DropAfter(f64),
    Serve,
}

#[derive(Default)]
struct ServerLog {
    /// `(path, range start)` of every request.
    requests: Vec<(String, u64)>,
}

/// Serves `files` on 127.0.0.1; `plan(path, n)` decides each request's fate.
fn serve(
    files: HashMap<String, Vec<u8>>,
    plan: fn(&str, usize) -> Fault,
) -> (String, Arc<Mutex<ServerLog>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(Mutex::new(ServerLog::default()));
    let server_log = Arc::clone(&log);
    std::thread::spawn(move || {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let _ = handle(stream, &files, &mut counts, &server_log, plan);
        }
    });
    (format!("http://{addr}/"), log)
}

fn handle(
    mut stream: TcpStream,
    files: &HashMap<String, Vec<u8>>,
    counts: &mut HashMap<String, usize>,
    log: &Mutex<ServerLog>,
    plan: fn(&str, usize) -> Fault,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line
        .split(' ')
        .nth(1)
        .unwrap_or("/")
        .trim_start_matches('/')
        .to_owned();
    let mut start = 0u64;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        if h.trim().is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("range: bytes=") {
            start = v.trim().trim_end_matches('-').parse().unwrap();
        }
    }
    log.lock().unwrap().requests.push((path.clone(), start));
    let n = {
        let c = counts.entry(path.clone()).or_default();
        *c += 1;
        *c - 1
    };
    let Some(data) = files.get(&path) else {
        return stream.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    };
    match plan(&path, n) {
        Fault::SlowDown => stream.write_all(
            b"HTTP/1.1 503 Slow Down\r\nContent-Length: 8\r\nConnection: close\r\n\r\nSlowDown",
        ),
        fault => {
            let rest = &data[start as usize..];
            let status = if start > 0 {
                format!(
                    "206 Partial Content\r\nContent-Range: bytes {start}-{}/{}",
                    data.len() - 1,
                    data.len()
                )
            } else {
                "200 OK".to_owned()
            };
            stream.write_all(
                format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    rest.len()
                )
                .as_bytes(),
            )?;
            let send = match fault {
                Fault::DropAfter(f) => (rest.len() as f64 * f) as usize,
                _ => rest.len(),
            };
            stream.write_all(&rest[..send])?;
            stream.flush()
            // Dropping the stream closes the connection, mid-body for `DropAfter`.
        }
    }
}

/// A crawl tree: listing + `n_files` gzip WARC files in two segments; returns the files and
/// the ids of the HTML responses per file, in listing order.
fn crawl_tree(crawl_id: &str, n_files: usize) -> (HashMap<String, Vec<u8>>, Vec<Vec<String>>) {
    let mut files = HashMap::new();
    let mut listing = String::new();
    let mut all_ids = Vec::new();
    for f in 0..n_files {
        let seg = if f % 2 == 0 {
            "1700000000000.11"
        } else {
            "1700000000000.22"
        };
        let rel = format!("crawl-data/{crawl_id}/segments/{seg}/warc/CC-MAIN-{f:05}.warc.gz");
        let (records, ids) = crawl(40, &format!("f{f}"));
        files.insert(rel.clone(), gzip_members(&records).0);
        listing.push_str(&rel);
        listing.push('\n');
        all_ids.push(ids);
    }
    files.insert(
        format!("crawl-data/{crawl_id}/warc.paths.gz"),
        gzip(listing.as_bytes()),
    );
    (files, all_ids)
}

fn params(base_url: &str) -> CommonCrawlLoaderParams {
    CommonCrawlLoaderParams {
        crawl_id: "CC-MAIN-2099-01".into(),
        file_type: CrawlFileType::Warc,
        max_files: None,
        segments: None,
        base_url: base_url.into(),
        mime_types: default_mime_types(),
        max_record_mb: 64.0,
        max_retries: 4,
        retry_delay_s: 0.01,
        timeout_s: 10.0,
        extract_text: true,
        extraction: serde_json::Map::new(),
    }
}

#[test]
fn warc_pages_are_extracted_first_unless_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = params(dir.path().to_str().unwrap());
    p.extraction
        .insert("favor_precision".into(), serde_json::Value::Bool(true));
    let leading = CommonCrawlLoader::new(p.clone())
        .unwrap()
        .leading_operators();
    assert_eq!(leading.len(), 1);
    assert_eq!(leading[0].name, "html_extractor");
    assert_eq!(leading[0].params["favor_precision"], true);

    p.file_type = CrawlFileType::Wet;
    assert!(CommonCrawlLoader::new(p.clone())
        .unwrap()
        .leading_operators()
        .is_empty());
    p.file_type = CrawlFileType::Warc;
    p.extract_text = false;
    assert!(CommonCrawlLoader::new(p)
        .unwrap()
        .leading_operators()
        .is_empty());
}

fn read_every_shard(loader: &CommonCrawlLoader) -> Vec<Vec<String>> {
    loader
        .list_shards()
        .unwrap()
        .iter()
        .map(|s| {
            let (batches, rejects) = read_all(loader, s, 16);
            assert!(rejects.is_empty(), "{rejects:?}");
            ids(&batches)
        })
        .collect()
}

#[test]
fn survives_throttling_and_dropped_connections_reading_every_record_once() {
    let (files, want) = crawl_tree("CC-MAIN-2099-01", 3);
    // Every path: first a 503, then a connection dropped after 40% of the body, then another
    // drop after 50% of what is left, then the rest.
    let (base, log) = serve(files, |_, n| match n {
        0 => Fault::SlowDown,
        1 => Fault::DropAfter(0.4),
        2 => Fault::DropAfter(0.5),
        _ => Fault::Serve,
    });
    let loader = CommonCrawlLoader::new(params(&base)).unwrap();
    assert_eq!(read_every_shard(&loader), want);
    // The drops were resumed with range requests, not restarts.
    let log = log.lock().unwrap();
    let warc_requests: Vec<_> = log
        .requests
        .iter()
        .filter(|(p, _)| p.ends_with("00001.warc.gz"))
        .map(|(_, start)| *start)
        .collect();
    assert_eq!(warc_requests.len(), 4, "{warc_requests:?}");
    assert_eq!(warc_requests[..2], [0, 0]);
    assert!(0 < warc_requests[2] && warc_requests[2] < warc_requests[3]);
}

#[test]
fn segments_and_max_files_select_files() {
    let (files, want) = crawl_tree("CC-MAIN-2099-01", 5);
    let (base, _) = serve(files, |_, _| Fault::Serve);
    let mut p = params(&base);
    p.segments = Some(vec!["1700000000000.22".into()]);
    let loader = CommonCrawlLoader::new(p.clone()).unwrap();
    assert_eq!(
        read_every_shard(&loader),
        [want[1].clone(), want[3].clone()]
    );
    p.segments = None;
    p.max_files = Some(2);
    let loader = CommonCrawlLoader::new(p.clone()).unwrap();
    let shards = loader.list_shards().unwrap();
    assert_eq!(shards.len(), 2);
    assert!(shards[0].path.starts_with(&base));
    // A crawl that is not there is a config error.
    p.crawl_id = "CC-MAIN-1999-01".into();
    let err = CommonCrawlLoader::new(p)
        .unwrap()
        .list_shards()
        .unwrap_err();
    assert!(matches!(err, MdfError::Config(_)), "{err}");
}

#[test]
fn gives_up_after_max_retries_with_an_io_error() {
    let (files, _) = crawl_tree("CC-MAIN-2099-01", 1);
    let (base, _) = serve(files, |p, _| {
        if p.ends_with(".warc.gz") {
            Fault::SlowDown
        } else {
            Fault::Serve
        }
    });
    let loader = CommonCrawlLoader::new(params(&base)).unwrap();
    let shard = &loader.list_shards().unwrap()[0];
    // The first read happens when the shard opens (format detection) or later.
    let err = match loader.open(shard, 10) {
        Err(e) => e,
        Ok(mut source) => loop {
            match source.next_item() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("expected an error"),
                Err(e) => break e,
            }
        },
    };
    assert!(matches!(err, MdfError::Io { .. }), "{err}");
    assert!(err.to_string().contains("giving up"), "{err}");
}

#[test]
fn reads_a_local_tree_and_maps_s3_to_https() {
    let (files, want) = crawl_tree("CC-MAIN-2099-01", 2);
    let tmp = tempfile::tempdir().unwrap();
    for (rel, data) in &files {
        let p = tmp.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    for base in [
        tmp.path().to_str().unwrap().to_owned(),
        format!("file://{}", tmp.path().display()),
    ] {
        let loader = CommonCrawlLoader::new(params(&base)).unwrap();
        assert_eq!(read_every_shard(&loader), want);
    }
    assert_eq!(
        Base::parse("s3://commoncrawl/").unwrap(),
        Base::Http(COMMONCRAWL_HTTPS.into())
    );
    assert!(Base::parse("s3://other-bucket/x").is_err());
    let mut p = params("https://data.commoncrawl.org");
    assert!(p.check().is_ok());
    p.crawl_id = "../etc".into();
    assert!(p.check().is_err());
}
