//! Fuzzes the WARC/ARC record reader and the HTTP payload decoder on arbitrary bytes, plain and
//! as gzip members: `cargo +nightly fuzz run warc_reader -- -max_total_time=600`.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use mdf_warc::http_response::HttpResponse;
use mdf_warc::warc_record::{ReaderOptions, WarcItem, WarcReader};

fn read_all(data: &[u8], start: u64, end: Option<u64>) {
    let opts = ReaderOptions {
        max_record_bytes: 1 << 20,
        start,
        end,
        gzip: if start == 0 { None } else { Some(data.starts_with(&[0x1f, 0x8b])) },
    };
    let input = &data[start.saturating_sub(1).min(data.len() as u64) as usize..];
    let Ok(mut reader) = WarcReader::new(input, opts) else {
        return;
    };
    let mut last = None;
    while let Ok(Some(item)) = reader.next_item() {
        if let WarcItem::Record(r) = item {
            // Offsets never go backwards.
            assert!(last.is_none_or(|l| r.offset >= l));
            last = Some(r.offset);
            let _ = r.record_type();
            if let Ok(http) = HttpResponse::parse(r.block) {
                let _ = http.header("Content-Type");
                let _ = http.payload(1 << 20);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    read_all(data, 0, None);
    if data.len() > 4 {
        let mid = (data[0] as u64 * data.len() as u64 / 256).max(1);
        read_all(data, 0, Some(mid));
        read_all(data, mid, None);
    }
    // The same bytes as one gzip member, and split into two members.
    let mut gz = Vec::new();
    for part in data.chunks(data.len().div_ceil(2).max(1)) {
        let mut enc = flate2_member(part);
        gz.append(&mut enc);
    }
    read_all(&gz, 0, None);
});

fn flate2_member(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}
