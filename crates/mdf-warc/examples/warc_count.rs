//! Reads WARC files with `WarcLoader` and prints rows, rejects by reason, payload bytes and
//! throughput: `cargo run --release -p mdf-warc --example warc_count -- [--threads N]
//! [--shard-mb M] [--batch-size B] [--types response,conversion] [--all-mime] FILE...`

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use arrow::array::AsArray;
use mdf_core::io::{Loader, SourceItem};
use mdf_core::{MdfError, Result};
use mdf_io::PathList;
use mdf_warc::{WarcLoader, WarcLoaderParams};

#[derive(Default)]
struct Totals {
    rows: u64,
    payload_bytes: u64,
    rejects: BTreeMap<String, u64>,
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut threads, mut shard_mb, mut files) = (1usize, 256.0f64, Vec::new());
    let mut types = vec!["response".to_owned(), "conversion".to_owned()];
    let mut mime = vec!["text/html".to_owned(), "application/xhtml+xml".to_owned()];
    let mut verbose = false;
    let mut batch_size = 100usize;
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| MdfError::config(format!("{a} needs a value")))
        };
        match a.as_str() {
            "--threads" => {
                threads = value()?
                    .parse()
                    .map_err(|_| MdfError::config("--threads"))?
            }
            "--shard-mb" => {
                shard_mb = value()?
                    .parse()
                    .map_err(|_| MdfError::config("--shard-mb"))?
            }
            "--types" => types = value()?.split(',').map(str::to_owned).collect(),
            "--all-mime" => mime.clear(),
            "--verbose" => verbose = true,
            "--batch-size" => {
                batch_size = value()?
                    .parse()
                    .map_err(|_| MdfError::config("--batch-size"))?
            }
            _ => files.push(a),
        }
    }
    let loader = WarcLoader::new(WarcLoaderParams {
        paths: PathList::Many(files),
        record_types: types,
        mime_types: mime,
        max_record_mb: 64.0,
        shard_size_mb: shard_mb,
    });
    let shards = loader.list_shards()?;
    let input_bytes: u64 = loader_files_size(&shards);
    let next = Mutex::new(0usize);
    let totals = Mutex::new(Totals::default());
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| -> Result<()> {
                loop {
                    let i = {
                        let mut n = next.lock().map_err(|_| MdfError::internal("lock"))?;
                        *n += 1;
                        *n - 1
                    };
                    let Some(shard) = shards.get(i) else {
                        return Ok(());
                    };
                    let mut local = Totals::default();
                    let mut source = loader.open(shard, batch_size)?;
                    while let Some(item) = source.next_item()? {
                        match item {
                            SourceItem::Batch(b) => {
                                local.rows += b.num_rows() as u64;
                                let html = b
                                    .column_by_name("html")
                                    .map(|c| c.as_binary::<i32>().values().len());
                                let text = b
                                    .column_by_name("text")
                                    .map(|c| c.as_string::<i32>().values().len());
                                local.payload_bytes +=
                                    (html.unwrap_or(0) + text.unwrap_or(0)) as u64;
                            }
                            SourceItem::Reject(r) => {
                                if verbose {
                                    eprintln!(
                                        "reject {}@{:?}: {}: {}",
                                        r.source, r.offset, r.reason, r.detail
                                    );
                                }
                                *local.rejects.entry(r.reason).or_default() += 1;
                            }
                        }
                    }
                    let mut t = totals.lock().map_err(|_| MdfError::internal("lock"))?;
                    t.rows += local.rows;
                    t.payload_bytes += local.payload_bytes;
                    for (k, v) in local.rejects {
                        *t.rejects.entry(k).or_default() += v;
                    }
                }
            });
        }
    });
    let secs = t0.elapsed().as_secs_f64();
    let t = totals
        .into_inner()
        .map_err(|_| MdfError::internal("lock"))?;
    println!(
        "{{\"rows\": {}, \"rejects\": {:?}, \"payload_bytes\": {}, \"input_bytes\": {}, \"seconds\": {:.3}, \"shards\": {}, \"threads\": {}}}",
        t.rows, t.rejects, t.payload_bytes, input_bytes, secs, shards.len(), threads
    );
    Ok(())
}

fn loader_files_size(shards: &[mdf_core::io::ShardSpec]) -> u64 {
    let mut seen = std::collections::BTreeSet::new();
    shards
        .iter()
        .filter(|s| seen.insert(s.path.clone()))
        .filter_map(|s| std::fs::metadata(&s.path).ok())
        .map(|m| m.len())
        .sum()
}
