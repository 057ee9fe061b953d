//! Tests of `WarcLoader`: selection, columns, shards, and every kind of damage.

use std::fs;
use std::path::Path;

use arrow::array::AsArray;
use arrow::datatypes::UInt16Type;
use mdf_core::io::{Loader, Reject, ShardSpec};
use mdf_core::xorshift::Xorshift64;

use super::*;
use crate::testutil::*;

fn loader_for(path: &Path) -> WarcLoader {
    WarcLoader::new(WarcLoaderParams {
        paths: PathList::One(path.to_str().unwrap().to_owned()),
        record_types: default_record_types(),
        mime_types: default_mime_types(),
        max_record_mb: default_max_record_mb(),
        shard_size_mb: 256.0,
    })
}

fn whole(path: &Path) -> ShardSpec {
    ShardSpec::whole_file(path.to_str().unwrap())
}

fn reasons(rejects: &[Reject]) -> Vec<(&str, u64)> {
    rejects
        .iter()
        .map(|r| (r.reason.as_str(), r.offset.unwrap()))
        .collect()
}

#[test]
fn reads_html_responses_from_gzip_members_and_plain_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (records, want) = crawl(12, "a");
    let (gz, member_offsets) = gzip_members(&records);
    let gz_path = tmp.path().join("a.warc.gz");
    fs::write(&gz_path, &gz).unwrap();
    let plain_path = tmp.path().join("a.warc");
    fs::write(&plain_path, records.concat()).unwrap();

    let loader = loader_for(&gz_path);
    let (batches, rejects) = read_all(&loader, &whole(&gz_path), 5);
    assert!(rejects.is_empty(), "{rejects:?}");
    assert_eq!(batches[0].schema(), warc_schema());
    let got = ids_offsets(&batches);
    assert_eq!(got.iter().map(|(i, _)| i.clone()).collect::<Vec<_>>(), want);
    // Offsets are the record's gzip member: re-reading from there yields the same record.
    let record_index = |id: &str| {
        records
            .iter()
            .position(|r| memchr::memmem::find(r, id.as_bytes()).is_some())
            .unwrap()
    };
    for (id, off) in &got {
        assert_eq!(*off, member_offsets[record_index(id)], "{id}");
    }
    let html = binary_column(&batches, "html");
    assert!(html[3]
        .as_ref()
        .unwrap()
        .starts_with(b"<html><p>page 3 of a</p>"));
    let ct = string_column(&batches, "content_type");
    assert_eq!(ct[0].as_deref(), Some("text/html; charset=UTF-8"));
    assert_eq!(
        string_column(&batches, "url")[2].as_deref(),
        Some("https://example.com/a/2")
    );
    assert_eq!(
        string_column(&batches, "date")[0].as_deref(),
        Some("2024-12-01T00:00:00Z")
    );
    assert!(string_column(&batches, "text").iter().all(Option::is_none));
    let status = batches[0]
        .column_by_name("http_status")
        .unwrap()
        .as_primitive::<UInt16Type>();
    assert_eq!(status.value(0), 200);

    let loader = loader_for(&plain_path);
    let (plain, rejects) = read_all(&loader, &whole(&plain_path), 7);
    assert!(rejects.is_empty(), "{rejects:?}");
    let plain_offsets: Vec<u64> = {
        let mut offs = vec![0u64];
        for r in &records {
            offs.push(offs.last().unwrap() + r.len() as u64);
        }
        offs
    };
    let got = ids_offsets(&plain);
    assert_eq!(got.iter().map(|(i, _)| i.clone()).collect::<Vec<_>>(), want);
    for (id, off) in &got {
        assert_eq!(*off, plain_offsets[record_index(id)]);
    }
    // A whole-file gzip (one member) reads the same records.
    let one = tmp.path().join("one.warc.gz");
    fs::write(&one, gzip(&records.concat())).unwrap();
    let (batches, rejects) = read_all(&loader_for(&one), &whole(&one), 100);
    assert!(rejects.is_empty(), "{rejects:?}");
    assert_eq!(ids(&batches), want);
}

/// Every record's id and block length, read straight from the reader.
fn reader_records(data: &[u8]) -> (Vec<(String, usize)>, u64) {
    let opts = ReaderOptions {
        max_record_bytes: 1 << 30,
        start: 0,
        end: None,
        gzip: None,
    };
    let mut reader = WarcReader::new(data, opts).unwrap();
    let mut got = Vec::new();
    while let Some(item) = reader.next_item().unwrap() {
        let WarcItem::Record(r) = item else {
            panic!("{item:?}")
        };
        let id = String::from_utf8(r.header("WARC-Record-ID").unwrap().to_vec()).unwrap();
        got.push((id, r.block.len()));
    }
    (got, reader.streamed_members())
}

#[test]
fn members_are_inflated_whole_when_they_fit_and_read_the_same_either_way() {
    // Small members; one whose compressed size is several times the read window (random
    // bytes), so it is inflated whole only after more input is read; one that inflates to more
    // than the whole-member limit (40 MiB), which streams.
    let mut rng = Xorshift64::new(0x2545_f491_4f6c_dd1d);
    let noise: Vec<u8> = (0..3 << 20).map(|_| rng.next_u64() as u8).collect();
    let mut records = crawl(4, "w").0;
    records.push(html_response("noise", "https://e.com/noise", &noise));
    records.extend(crawl(3, "x").0);
    records.push(html_response(
        "huge",
        "https://e.com/huge",
        &vec![b'a'; 40 << 20],
    ));
    records.extend(crawl(2, "y").0);
    let (gz, _) = gzip_members(&records);
    assert!(gz.len() > 3 << 20);

    let (from_gzip, streamed) = reader_records(&gz);
    let (from_plain, _) = reader_records(&records.concat());
    assert_eq!(from_gzip, from_plain);
    assert_eq!(from_gzip.len(), records.len());
    assert!(from_gzip
        .iter()
        .any(|(id, n)| id == "<urn:uuid:noise>" && *n > 3 << 20));
    assert_eq!(streamed, 1, "only the 40 MiB member streams");
}

#[test]
fn wet_conversion_records_fill_text() {
    let tmp = tempfile::tempdir().unwrap();
    let mut records = vec![record(
        "warcinfo",
        "w",
        &[("Content-Type", "application/warc-fields")],
        b"x: y\r\n",
    )];
    for i in 0..3 {
        records.push(record(
            "conversion",
            &format!("c{i}"),
            &[
                ("WARC-Target-URI", "https://e.com/"),
                ("Content-Type", "text/plain"),
            ],
            format!("Title {i}\nSome text é").as_bytes(),
        ));
    }
    records.push(record(
        "conversion",
        "bad",
        &[("Content-Type", "text/plain")],
        b"caf\xe9",
    ));
    let path = tmp.path().join("x.warc.wet.gz");
    fs::write(&path, gzip_members(&records).0).unwrap();
    let (batches, rejects) = read_all(&loader_for(&path), &whole(&path), 10);
    assert_eq!(
        string_column(&batches, "text"),
        (0..3)
            .map(|i| Some(format!("Title {i}\nSome text é")))
            .collect::<Vec<_>>()
    );
    assert!(binary_column(&batches, "html").iter().all(Option::is_none));
    assert_eq!(
        string_column(&batches, "content_type")[0].as_deref(),
        Some("text/plain")
    );
    assert_eq!(reasons(&rejects).len(), 1);
    assert_eq!(rejects[0].reason, "invalid_utf8");
}

#[test]
fn byte_range_shards_partition_the_records() {
    let tmp = tempfile::tempdir().unwrap();
    let (records, want) = crawl(40, "s");
    let (gz, _) = gzip_members(&records);
    let plain = records.concat();
    for (name, data) in [("s.warc.gz", gz), ("s.warc", plain)] {
        let path = tmp.path().join(name);
        fs::write(&path, &data).unwrap();
        let loader = loader_for(&path);
        let size = data.len() as u64;
        for step in [1u64, 97, 500, 1333, 4096, size - 1, size] {
            let mut got = Vec::new();
            let mut start = 0;
            while start < size {
                let end = start + step;
                let spec = ShardSpec {
                    index: 0,
                    path: path.to_str().unwrap().to_owned(),
                    start,
                    end: (end < size).then_some(end),
                    limit: None,
                };
                let (batches, rejects) = read_all(&loader, &spec, 16);
                assert!(rejects.is_empty(), "{name} step {step}: {rejects:?}");
                got.extend(ids(&batches));
                start = end;
            }
            assert_eq!(got, want, "{name} step {step}");
        }
        let mut params = loader.params.clone();
        params.shard_size_mb = 2000.0 / (1 << 20) as f64;
        let split = WarcLoader::new(params);
        let shards = split.list_shards().unwrap();
        assert_eq!(shards.len() as u64, size.div_ceil(2000));
        let got: Vec<_> = shards
            .iter()
            .flat_map(|s| ids(&read_all(&split, s, 50).0))
            .collect();
        assert_eq!(got, want, "{name}");
    }
}

/// Runs `data` through the loader; returns the ids read and the rejects.
fn read_bytes(name: &str, data: &[u8]) -> (Vec<String>, Vec<Reject>) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(name);
    fs::write(&path, data).unwrap();
    let (batches, rejects) = read_all(&loader_for(&path), &whole(&path), 8);
    (ids(&batches), rejects)
}

#[test]
fn a_truncated_gzip_member_is_rejected_and_the_next_members_are_read() {
    let (records, want) = crawl(10, "t");
    let (gz, offsets) = gzip_members(&records);
    // Member 6 (page 1's response) loses its second half.
    let cut = 6;
    let (a, b) = (offsets[cut] as usize, offsets[cut + 1] as usize);
    let mut data = gz[..a + (b - a) / 2].to_vec();
    data.extend_from_slice(&gz[b..]);
    let (got, rejects) = read_bytes("t.warc.gz", &data);
    let lost = &want[1];
    let expect: Vec<_> = want.iter().filter(|i| *i != lost).cloned().collect();
    assert_eq!(got, expect);
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    assert_eq!(rejects[0].offset, Some(offsets[cut]));
    assert!(
        ["corrupt_gzip", "truncated_gzip_member"].contains(&rejects[0].reason.as_str()),
        "{rejects:?}"
    );

    // Truncated at the end of the file: everything before is read.
    let last = *offsets.last().unwrap() as usize;
    let (got, rejects) = read_bytes("t.warc.gz", &gz[..last + 20]);
    assert_eq!(got, want);
    assert_eq!(reasons(&rejects), [("truncated_gzip_member", last as u64)]);
}

#[test]
fn garbage_between_records_is_skipped() {
    let (records, want) = crawl(6, "g");
    let (gz, offsets) = gzip_members(&records);
    let at = offsets[4] as usize;
    let mut data = gz[..at].to_vec();
    data.extend_from_slice(b"\x00\x01 not gzip at all \x1f\x8b\x08 fake magic\n");
    data.extend_from_slice(&gz[at..]);
    let (got, rejects) = read_bytes("g.warc.gz", &data);
    assert_eq!(got, want);
    assert_eq!(reasons(&rejects), [("garbage_between_records", at as u64)]);

    let mut plain = Vec::new();
    for (i, r) in records.iter().enumerate() {
        if i == 4 {
            plain.extend_from_slice(b"<<some junk line>>\r\nmore junk\r\n");
        }
        plain.extend_from_slice(r);
    }
    let junk_at = records[..4].iter().map(Vec::len).sum::<usize>() as u64;
    let (got, rejects) = read_bytes("g.warc", &plain);
    assert_eq!(got, want);
    assert_eq!(reasons(&rejects), [("garbage_between_records", junk_at)]);
}

/// Rewrites the `Content-Length` of the WARC header of `record`.
fn set_warc_length(record: &[u8], delta: i64) -> Vec<u8> {
    let text = String::from_utf8_lossy(record).into_owned();
    let start = text.find("Content-Length: ").unwrap() + "Content-Length: ".len();
    let end = start + text[start..].find('\r').unwrap();
    let n: i64 = text[start..end].parse().unwrap();
    let mut out = record[..start].to_vec();
    out.extend_from_slice((n + delta).to_string().as_bytes());
    out.extend_from_slice(&record[end..]);
    out
}

#[test]
fn a_lying_content_length_is_rejected_and_nothing_after_is_lost() {
    let (mut records, want) = crawl(6, "l");
    // Record 2 is page 0's response; record 6 is page 1's.
    records[2] = set_warc_length(&records[2], 40);
    records[6] = set_warc_length(&records[6], -15);
    let expect: Vec<_> = want[2..].to_vec();
    let plain = records.concat();
    let (got, rejects) = read_bytes("l.warc", &plain);
    assert_eq!(got, expect, "{rejects:?}");
    let r: Vec<_> = rejects.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(r, ["content_length_mismatch", "content_length_mismatch"]);

    let (gz, offsets) = gzip_members(&records);
    let (got, rejects) = read_bytes("l.warc.gz", &gz);
    assert_eq!(got, expect);
    assert_eq!(
        reasons(&rejects),
        [
            ("truncated_record", offsets[2]),
            ("content_length_mismatch", offsets[6])
        ]
    );
    // A length far past the end of a plain file swallows nothing either.
    let mut records2 = crawl(4, "m").0;
    records2[2] = set_warc_length(&records2[2], 1 << 20);
    let (got, rejects) = read_bytes("m.warc", &records2.concat());
    assert_eq!(got.len(), 3);
    assert_eq!(rejects[0].reason, "truncated_record");
}

#[test]
fn big_pages_empty_payloads_and_invalid_utf8_headers() {
    let mut records = Vec::new();
    let big = vec![b'a'; 50 << 20];
    records.push(html_response("big", "https://e.com/big", &big));
    records.push(html_response("empty", "https://e.com/empty", b""));
    // Invalid UTF-8 in a header value: replaced, the record is kept.
    records.push(record(
        "response",
        "utf",
        &[
            ("WARC-Target-URI", "https://e.com/caf\u{fffd}"),
            ("Content-Type", "application/http; msgtype=response"),
        ],
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<p>x</p>",
    ));
    let mut data = records.concat();
    let pos = memchr::memmem::find(&data, "caf\u{fffd}".as_bytes()).unwrap();
    data.splice(pos + 3..pos + 6, [0xe9]);
    // An empty record block (Content-Length: 0) has no HTTP status line.
    data.extend_from_slice(&record(
        "response",
        "zero",
        &[("Content-Type", "application/http; msgtype=response")],
        b"",
    ));
    data.extend_from_slice(&html_response("after", "https://e.com/after", b"<p>ok</p>"));
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("big.warc.gz");
    fs::write(&path, gzip(&data)).unwrap();
    let loader = loader_for(&path);
    let (batches, rejects) = read_all(&loader, &whole(&path), 10);
    assert_eq!(
        ids(&batches),
        [
            "<urn:uuid:big>",
            "<urn:uuid:empty>",
            "<urn:uuid:utf>",
            "<urn:uuid:after>"
        ]
    );
    let html = binary_column(&batches, "html");
    assert_eq!(html[0].as_ref().unwrap().len(), 50 << 20);
    assert_eq!(html[1].as_deref(), Some(&b""[..]));
    assert_eq!(
        string_column(&batches, "url")[2].as_deref(),
        Some("https://e.com/caf\u{fffd}")
    );
    assert_eq!(reasons(&rejects), [("bad_http_header", 0)]);

    // Over `max_record_mb`: rejected, the rest is read.
    let mut params = loader.params.clone();
    params.max_record_mb = 10.0;
    let (batches, rejects) = read_all(&WarcLoader::new(params), &whole(&path), 10);
    assert_eq!(ids(&batches).len(), 3);
    assert_eq!(rejects[0].reason, "record_too_large");
}

#[test]
fn bad_http_payloads_are_rejected_with_their_reason() {
    let http = |headers: &str, body: &[u8]| {
        let mut b =
            format!("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n{headers}\r\n").into_bytes();
        b.extend_from_slice(body);
        b
    };
    let resp = |id: &str, block: &[u8]| {
        record(
            "response",
            id,
            &[("Content-Type", "application/http; msgtype=response")],
            block,
        )
    };
    let data = [
        resp(
            "chunk",
            &http("Transfer-Encoding: chunked\r\n", b"a\r\nabc"),
        ),
        resp("br", &http("Content-Encoding: br\r\n", b"\x0b\x02")),
        resp(
            "gz",
            &http("Content-Encoding: gzip\r\n", &gzip(b"<p>gz</p>")),
        ),
        resp("nohdr", b"garbage"),
        record("response", "noid-ok", &[], &http("", b"<p>x</p>")),
    ]
    .concat();
    let (got, rejects) = read_bytes("h.warc", &data);
    assert_eq!(got, ["<urn:uuid:gz>", "<urn:uuid:noid-ok>"]);
    let r: Vec<_> = rejects.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(
        r,
        [
            "bad_chunked_encoding",
            "unsupported_content_encoding",
            "bad_http_header"
        ]
    );
    // A selected record without WARC-Record-ID.
    let no_id = b"WARC/1.0\r\nWARC-Type: conversion\r\nContent-Length: 2\r\n\r\nhi\r\n\r\n";
    let (got, rejects) = read_bytes("n.wet", no_id);
    assert!(got.is_empty());
    assert_eq!(rejects[0].reason, "missing_header");
}

#[test]
fn limit_and_batch_size_are_respected() {
    let tmp = tempfile::tempdir().unwrap();
    let (records, want) = crawl(30, "b");
    let path = tmp.path().join("b.warc.gz");
    fs::write(&path, gzip_members(&records).0).unwrap();
    let loader = loader_for(&path);
    let mut spec = whole(&path);
    spec.limit = Some(7);
    let (batches, _) = read_all(&loader, &spec, 3);
    assert_eq!(ids(&batches), want[..7]);
    assert_eq!(loader.count_records(&whole(&path), 1000).unwrap(), 30);
}

#[test]
fn params_are_checked() {
    let mut p = loader_for(Path::new("x.warc")).params;
    assert!(p.check().is_ok());
    p.record_types = vec!["request".into()];
    assert!(p.check().unwrap_err().contains("unknown record type"));
    p.record_types = default_record_types();
    p.max_record_mb = 0.0;
    assert!(p.check().is_err());
}

/// xorshift64*: a deterministic generator for the mutation test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Damages bytes inside `data[a..b]`: flips, deletions, insertions or a cut-out stretch.
fn mutate(rng: &mut Rng, data: &[u8], a: usize, b: usize) -> Vec<u8> {
    let mut out = data[..a].to_vec();
    let mut region = data[a..b].to_vec();
    for _ in 0..1 + rng.below(4) {
        if region.is_empty() {
            break;
        }
        let i = rng.below(region.len());
        match rng.below(4) {
            0 => region[i] ^= 1 << rng.below(8),
            1 => {
                region.remove(i);
            }
            2 => region.insert(i, rng.next() as u8),
            _ => {
                let j = (i + rng.below(64)).min(region.len());
                region.drain(i..j);
            }
        }
    }
    out.extend_from_slice(&region);
    out.extend_from_slice(&data[b..]);
    out
}

/// Random damage to one record (its gzip member, or its bytes in a plain file) never panics
/// and never loses another record: a libFuzzer-free companion of `fuzz/`, run in CI.
#[test]
fn random_damage_to_one_record_loses_no_other_record() {
    let (records, _) = crawl(8, "z");
    let all_ids: Vec<Vec<u8>> = records
        .iter()
        .map(|r| {
            let s = memchr::memmem::find(r, b"WARC-Record-ID: ").unwrap() + 16;
            let e = s + memchr::memchr(b'\r', &r[s..]).unwrap();
            r[s..e].to_vec()
        })
        .collect();
    let (gz, member_offsets) = gzip_members(&records);
    let plain = records.concat();
    let mut plain_offsets = vec![0usize];
    for r in &records {
        plain_offsets.push(plain_offsets.last().unwrap() + r.len());
    }
    let mut gz_bounds: Vec<usize> = member_offsets.iter().map(|&o| o as usize).collect();
    gz_bounds.push(gz.len());
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let everything = |path: &Path| {
        let mut l = loader_for(path);
        l.params.record_types = RECORD_TYPES.iter().map(|s| s.to_string()).collect();
        l.params.mime_types.clear();
        WarcLoader::new(l.params)
    };
    let iterations = 1000;
    for iter in 0..iterations {
        let gzip_input = iter % 2 == 0;
        let (data, bounds, name) = if gzip_input {
            (&gz, &gz_bounds, "m.warc.gz")
        } else {
            (&plain, &plain_offsets, "m.warc")
        };
        let k = rng.below(records.len());
        let mutated = mutate(&mut rng, data, bounds[k], bounds[k + 1]);
        let path = tmp.path().join(name);
        fs::write(&path, &mutated).unwrap();
        let loader = everything(&path);
        // Whole file and split in two at a random point.
        let cut = 1 + rng.below(mutated.len() - 1) as u64;
        let shards = [
            whole(&path),
            ShardSpec {
                end: Some(cut),
                ..whole(&path)
            },
            ShardSpec {
                start: cut,
                ..whole(&path)
            },
        ];
        let (batches, rejects) = read_all(&loader, &shards[0], 64);
        let got: std::collections::HashSet<String> = ids(&batches).into_iter().collect();
        // Only responses/resources/conversions/revisits become rows; which ones are in the
        // crawl is known from the record types.
        for (i, id) in all_ids.iter().enumerate() {
            let selected = memchr::memmem::find(&records[i], b"WARC-Type: response").is_some();
            if i != k && selected {
                let id = String::from_utf8(id.clone()).unwrap();
                assert!(
                    got.contains(&id),
                    "iteration {iter} ({name}, record {k} damaged): {id} lost; rejects \
                     {rejects:?}; damaged record: {:?}",
                    String::from_utf8_lossy(
                        &mutated[bounds[k]..(bounds[k + 1] + 40).min(mutated.len())]
                    )
                );
            }
        }
        let mut split = ids(&read_all(&loader, &shards[1], 64).0);
        split.extend(ids(&read_all(&loader, &shards[2], 64).0));
        let split_set: std::collections::HashSet<String> = split.iter().cloned().collect();
        assert_eq!(
            split.len(),
            split_set.len(),
            "iteration {iter}: a record read twice"
        );
    }
}
