//! Builders of WARC test data shared by the unit tests.

use std::io::Write;

use arrow::array::{Array, AsArray};
use arrow::datatypes::UInt64Type;
use arrow::record_batch::RecordBatch;
use mdf_core::io::{Loader, Reject, ShardSpec, SourceItem};

/// One WARC record with the given type, headers and block.
pub fn record(warc_type: &str, id: &str, extra: &[(&str, &str)], block: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "WARC/1.1\r\nWARC-Type: {warc_type}\r\nWARC-Record-ID: <urn:uuid:{id}>\r\n\
         WARC-Date: 2024-12-01T00:00:00Z\r\n"
    )
    .into_bytes();
    for (k, v) in extra {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", block.len()).as_bytes());
    out.extend_from_slice(block);
    out.extend_from_slice(b"\r\n\r\n");
    out
}

/// A `response` record holding an HTTP 200 HTML page.
pub fn html_response(id: &str, url: &str, body: &[u8]) -> Vec<u8> {
    let mut http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=UTF-8\r\n".to_vec();
    http.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    http.extend_from_slice(body);
    record(
        "response",
        id,
        &[
            ("WARC-Target-URI", url),
            ("Content-Type", "application/http; msgtype=response"),
        ],
        &http,
    )
}

/// A small crawl: warcinfo, then per page a request, an HTML response and a metadata record,
/// plus one image response that the default selection skips. Returns the records and the
/// ids of the HTML responses.
pub fn crawl(pages: usize, tag: &str) -> (Vec<Vec<u8>>, Vec<String>) {
    let mut records = vec![record(
        "warcinfo",
        &format!("{tag}-info"),
        &[("Content-Type", "application/warc-fields")],
        b"software: test\r\n",
    )];
    let mut ids = Vec::new();
    for i in 0..pages {
        let url = format!("https://example.com/{tag}/{i}");
        records.push(record(
            "request",
            &format!("{tag}-req-{i}"),
            &[("WARC-Target-URI", &url)],
            b"GET / HTTP/1.1\r\n\r\n",
        ));
        let id = format!("{tag}-{i}");
        let body = format!(
            "<html><p>page {i} of {tag}</p>{}</html>",
            "x".repeat(i * 37 % 500)
        );
        records.push(html_response(&id, &url, body.as_bytes()));
        ids.push(format!("<urn:uuid:{id}>"));
        records.push(record(
            "metadata",
            &format!("{tag}-meta-{i}"),
            &[("WARC-Target-URI", &url)],
            b"fetchTimeMs: 12\r\n",
        ));
        if i % 5 == 0 {
            let mut img = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n\r\n".to_vec();
            img.extend_from_slice(&[0x89, b'P', b'N', b'G']);
            records.push(record(
                "response",
                &format!("{tag}-img-{i}"),
                &[
                    ("WARC-Target-URI", &format!("{url}.png")),
                    ("Content-Type", "application/http; msgtype=response"),
                ],
                &img,
            ));
        }
    }
    (records, ids)
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// One gzip member per record (CommonCrawl's layout); also returns each member's offset.
pub fn gzip_members(records: &[Vec<u8>]) -> (Vec<u8>, Vec<u64>) {
    let mut out = Vec::new();
    let mut offsets = Vec::new();
    for r in records {
        offsets.push(out.len() as u64);
        out.extend_from_slice(&gzip(r));
    }
    (out, offsets)
}

/// Reads a shard fully: batches and rejects.
pub fn read_all(
    loader: &dyn Loader,
    shard: &ShardSpec,
    batch_size: usize,
) -> (Vec<RecordBatch>, Vec<Reject>) {
    let mut source = loader.open(shard, batch_size).unwrap();
    let (mut batches, mut rejects) = (Vec::new(), Vec::new());
    while let Some(item) = source.next_item().unwrap() {
        match item {
            SourceItem::Batch(b) => {
                assert!(b.num_rows() <= batch_size && b.num_rows() > 0);
                batches.push(b)
            }
            SourceItem::Reject(r) => rejects.push(r),
        }
    }
    (batches, rejects)
}

/// `(id, offset)` of every row.
pub fn ids_offsets(batches: &[RecordBatch]) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for b in batches {
        let id = b.column_by_name("id").unwrap().as_string::<i32>();
        let off = b
            .column_by_name("_source_offset")
            .unwrap()
            .as_primitive::<UInt64Type>();
        for i in 0..b.num_rows() {
            out.push((id.value(i).to_owned(), off.value(i)));
        }
    }
    out
}

pub fn ids(batches: &[RecordBatch]) -> Vec<String> {
    ids_offsets(batches).into_iter().map(|(i, _)| i).collect()
}

/// Values of a binary column (None for null).
pub fn binary_column(batches: &[RecordBatch], name: &str) -> Vec<Option<Vec<u8>>> {
    let mut out = Vec::new();
    for b in batches {
        let col = b.column_by_name(name).unwrap().as_binary::<i32>();
        for i in 0..b.num_rows() {
            out.push((!col.is_null(i)).then(|| col.value(i).to_vec()));
        }
    }
    out
}

/// Values of a string column (None for null).
pub fn string_column(batches: &[RecordBatch], name: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for b in batches {
        let col = b.column_by_name(name).unwrap().as_string::<i32>();
        for i in 0..b.num_rows() {
            out.push((!col.is_null(i)).then(|| col.value(i).to_owned()));
        }
    }
    out
}
