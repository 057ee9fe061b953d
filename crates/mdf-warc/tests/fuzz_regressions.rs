//! Inputs that `cargo fuzz run warc_reader` found to hang or crash the record reader, read the
//! way the fuzz target reads them (whole, as two byte-range shards, as gzip members). Each read
//! must finish, within a deadline, with records offsets that never go backwards.

#![allow(clippy::unwrap_used)] // test code

use std::io::Write;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use mdf_warc::warc_record::{ReaderOptions, WarcItem, WarcReader};

/// Reads every item of `data` (shard `[start, end)`); returns how many there were.
fn read_all(data: &[u8], start: u64, end: Option<u64>) -> usize {
    let opts = ReaderOptions {
        max_record_bytes: 1 << 20,
        start,
        end,
        gzip: if start == 0 {
            None
        } else {
            Some(data.starts_with(&[0x1f, 0x8b]))
        },
    };
    let input = &data[start.saturating_sub(1).min(data.len() as u64) as usize..];
    let mut reader = WarcReader::new(input, opts).unwrap();
    let (mut items, mut last) = (0, None);
    while let Some(item) = reader.next_item().unwrap() {
        items += 1;
        if let WarcItem::Record(r) = item {
            assert!(last.is_none_or(|l| r.offset >= l), "offsets went backwards");
            last = Some(r.offset);
        }
    }
    items
}

fn gzip_members(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in data.chunks(data.len().div_ceil(2).max(1)) {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(part).unwrap();
        out.extend(enc.finish().unwrap());
    }
    out
}

/// Every read of the fuzz target, each under a 10-second deadline.
fn reads_finish(name: &str) {
    let data = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fuzz_regressions")
            .join(name),
    )
    .unwrap();
    let mid = (u64::from(data[0]) * data.len() as u64 / 256).max(1);
    let gz = gzip_members(&data);
    let reads: Vec<(&str, Vec<u8>, u64, Option<u64>)> = vec![
        ("whole", data.clone(), 0, None),
        ("first shard", data.clone(), 0, Some(mid)),
        ("second shard", data.clone(), mid, None),
        ("gzip members", gz, 0, None),
    ];
    for (what, bytes, start, end) in reads {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || tx.send(read_all(&bytes, start, end)));
        let got = rx.recv_timeout(Duration::from_secs(10));
        assert!(got.is_ok(), "{name}: the {what} read did not finish");
    }
}

#[test]
fn header_with_cr_cr_lf_line_ends() {
    reads_finish("header-cr-cr-lf-timeout.bin");
}
