//! `WebDatasetLoader` (loader names are CamelCase in this registry, as `ParquetLoader`):
//! WebDataset tar shards (`img2dataset` output), one shard per tar file (`.tar`, or compressed `.tar.gz`/`.tar.zst`). Members are grouped into
//! samples by key — the member path up to the first `.` of its file name, as `webdataset`
//! does — and a sample becomes one record: `id` = key, `image` = the first member whose
//! extension is an image extension (bytes stay encoded), `text` = the `.txt` caption, `json`
//! = the raw `.json` member. A sample without an image is rejected (`missing_image`); a damaged
//! or truncated tar is rejected from the damage on and what was read before is kept.

use std::collections::VecDeque;
use std::io::BufReader;

use mdf_core::io::{Loader, RecordSource, ShardSpec, SourceItem};
use mdf_core::{Component, OperatorKind, Params, Result};
use mdf_io::{expand_paths, open_decompressed, PathList};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::image_records::{
    check_extensions, default_image_extensions, reject, to_batch, ImageRecord,
};
use crate::tar::TarReader;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebDatasetLoaderParams {
    /// Tar shards, directories (searched for `.tar`, `.tar.gz`, `.tar.zst`) or globs. Required.
    pub paths: PathList,
    /// Member extensions that hold the image, in order of preference. Default:
    /// `[jpg, jpeg, png, webp, gif]`.
    #[serde(default = "default_image_extensions")]
    pub image_extensions: Vec<String>,
    /// Member extension of the caption (read as UTF-8 into `text`). Default: `txt`.
    #[serde(default = "default_caption_extension")]
    pub caption_extension: String,
    /// Members larger than this many MiB make the shard corrupt (guards against a damaged size
    /// field). Default: 256.
    #[serde(default = "default_max_member_mb")]
    pub max_member_mb: u64,
}

fn default_caption_extension() -> String {
    "txt".into()
}

fn default_max_member_mb() -> u64 {
    256
}

impl Params for WebDatasetLoaderParams {
    fn check(&self) -> std::result::Result<(), String> {
        self.paths.check()?;
        check_extensions(&self.image_extensions)?;
        if self.max_member_mb == 0 {
            return Err("`max_member_mb` must be positive".into());
        }
        Ok(())
    }
}

pub struct WebDatasetLoader {
    params: WebDatasetLoaderParams,
}

impl Component for WebDatasetLoader {
    type Built = dyn Loader;
    type Params = WebDatasetLoaderParams;
    const NAME: &'static str = "WebDatasetLoader";
    const KIND: OperatorKind = OperatorKind::Loader;
    const SUMMARY: &'static str =
        "WebDataset tar shards (image + .txt caption + .json per key), one shard per tar";

    fn build(params: WebDatasetLoaderParams) -> Result<Box<dyn Loader>> {
        Ok(Box::new(WebDatasetLoader { params }))
    }
}

impl Loader for WebDatasetLoader {
    fn list_shards(&self) -> Result<Vec<ShardSpec>> {
        let files = expand_paths(
            self.params.paths.as_slice(),
            &["tar", "tar.gz", "tgz", "tar.zst"],
        )?;
        Ok(files
            .into_iter()
            .enumerate()
            .map(|(index, path)| ShardSpec {
                index,
                ..ShardSpec::whole_file(path)
            })
            .collect())
    }

    fn open(&self, shard: &ShardSpec, batch_size: usize) -> Result<Box<dyn RecordSource>> {
        let reader = open_decompressed(&shard.path)?;
        Ok(Box::new(WebDatasetSource {
            tar: Some(TarReader::new(
                Box::new(BufReader::with_capacity(1 << 20, reader)),
                self.params.max_member_mb << 20,
            )),
            params: self.params.clone(),
            path: shard.path.clone(),
            batch_size: batch_size.max(1),
            remaining: shard.limit,
            current: None,
            pending: VecDeque::new(),
        }))
    }
}

/// A sample being assembled: its key and the members seen so far.
struct Sample {
    key: String,
    offset: u64,
    image: Option<(usize, Vec<u8>)>,
    text: Option<String>,
    json: Option<String>,
}

struct WebDatasetSource {
    tar: Option<TarReader<Box<dyn std::io::Read + Send>>>,
    params: WebDatasetLoaderParams,
    path: String,
    batch_size: usize,
    remaining: Option<u64>,
    current: Option<Sample>,
    pending: VecDeque<SourceItem>,
}

/// Splits a member path into (key, extension): the extension starts at the first `.` of the
/// file name.
fn split_key(name: &str) -> (&str, &str) {
    let base = name.rfind('/').map_or(0, |i| i + 1);
    match name[base..].find('.') {
        Some(dot) => (&name[..base + dot], &name[base + dot + 1..]),
        None => (name, ""),
    }
}

impl WebDatasetSource {
    /// Turns a finished sample into a record or a reject.
    fn finish(&mut self, sample: Sample, records: &mut Vec<ImageRecord>) {
        match sample.image {
            Some((_, image)) => records.push(ImageRecord {
                id: sample.key,
                image,
                text: sample.text,
                json: sample.json,
                offset: sample.offset,
            }),
            None => self.pending.push_back(SourceItem::Reject(reject(
                &self.path,
                Some(sample.offset),
                "missing_image: the sample has no member with an image extension",
                Some(&sample.key),
            ))),
        }
    }

    fn wanted(&self) -> usize {
        self.remaining
            .map_or(self.batch_size, |r| (r as usize).min(self.batch_size))
    }

    fn read_batch(&mut self) -> Result<()> {
        let mut records = Vec::new();
        let want = self.wanted();
        while records.len() < want {
            let Some(tar) = self.tar.as_mut() else { break };
            let member = match tar.next_member() {
                Ok(m) => m,
                Err(message) => {
                    let offset = self.current.as_ref().map(|s| s.offset);
                    self.tar = None;
                    self.current = None; // an incomplete sample is not emitted
                    self.pending.push_back(SourceItem::Reject(reject(
                        &self.path, offset, &message, None,
                    )));
                    break;
                }
            };
            let Some(member) = member else {
                self.tar = None;
                if let Some(s) = self.current.take() {
                    self.finish(s, &mut records);
                }
                break;
            };
            let (key, ext) = split_key(&member.name);
            let ext = ext.to_lowercase();
            if self.current.as_ref().is_some_and(|s| s.key != key) {
                if let Some(s) = self.current.take() {
                    self.finish(s, &mut records);
                }
            }
            let sample = self.current.get_or_insert_with(|| Sample {
                key: key.to_owned(),
                offset: member.offset,
                image: None,
                text: None,
                json: None,
            });
            if let Some(rank) = self.params.image_extensions.iter().position(|e| *e == ext) {
                if sample.image.as_ref().is_none_or(|(r, _)| rank < *r) {
                    sample.image = Some((rank, member.data));
                }
            } else if ext == self.params.caption_extension {
                sample.text = Some(String::from_utf8_lossy(&member.data).into_owned());
            } else if ext == "json" {
                sample.json = Some(String::from_utf8_lossy(&member.data).into_owned());
            }
        }
        if let Some(r) = self.remaining.as_mut() {
            records.truncate(*r as usize);
            *r -= records.len() as u64;
            if *r == 0 {
                self.tar = None;
                self.current = None;
            }
        }
        if !records.is_empty() {
            self.pending
                .push_back(SourceItem::Batch(to_batch(&records, &self.path)?));
        }
        Ok(())
    }
}

impl RecordSource for WebDatasetSource {
    fn next_item(&mut self) -> Result<Option<SourceItem>> {
        if self.pending.is_empty() && self.tar.is_some() {
            self.read_batch()?;
        }
        Ok(self.pending.pop_front())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tar::write_tar;
    use arrow::array::{AsArray, RecordBatch};
    use mdf_core::io::Reject;

    fn read_all(
        path: &str,
        batch_size: usize,
        limit: Option<u64>,
    ) -> (Vec<RecordBatch>, Vec<Reject>) {
        let loader = WebDatasetLoader {
            params: serde_json::from_value(serde_json::json!({ "paths": path })).unwrap(),
        };
        let shards = loader.list_shards().unwrap();
        let mut shard = shards[0].clone();
        shard.limit = limit;
        let mut src = loader.open(&shard, batch_size).unwrap();
        let (mut b, mut r) = (Vec::new(), Vec::new());
        while let Some(item) = src.next_item().unwrap() {
            match item {
                SourceItem::Batch(x) => b.push(x),
                SourceItem::Reject(x) => r.push(x),
            }
        }
        (b, r)
    }

    #[test]
    fn groups_members_by_key_into_records() {
        let tmp = tempfile::tempdir().unwrap();
        let tar = write_tar(&[
            ("00/000.jpg", b"J0"),
            ("00/000.txt", b"a cat"),
            ("00/000.json", b"{\"w\":1}"),
            ("00/001.png", b"P1"),
            ("00/001.txt", b"a dog"),
            ("00/002.txt", b"no image"),
            ("00/003.webp", b"W3"),
        ]);
        let path = tmp.path().join("shard-000.tar");
        std::fs::write(&path, &tar).unwrap();
        let (batches, rejects) = read_all(path.to_str().unwrap(), 2, None);
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 3);
        let b = &batches[0];
        assert_eq!(
            b.column_by_name("id").unwrap().as_string::<i32>().value(0),
            "00/000"
        );
        assert_eq!(
            b.column_by_name("image")
                .unwrap()
                .as_binary::<i32>()
                .value(1),
            b"P1"
        );
        assert_eq!(
            b.column_by_name("text")
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "a cat"
        );
        assert_eq!(
            b.column_by_name("json")
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "{\"w\":1}"
        );
        assert!(b.column_by_name("json").unwrap().is_null(1));
        assert_eq!(rejects.len(), 1);
        assert_eq!(
            (rejects[0].reason.as_str(), rejects[0].offset),
            ("missing_image", Some(5 * 1024))
        );

        let (batches, _) = read_all(path.to_str().unwrap(), 10, Some(2));
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 2);

        // A truncated shard keeps the complete samples before the damage; the sample being read
        // when the damage shows (00/001: image read, caption header cut) is not emitted.
        let cut = tmp.path().join("cut.tar");
        std::fs::write(&cut, &tar[..4 * 1024 + 100]).unwrap();
        let (batches, rejects) = read_all(cut.to_str().unwrap(), 10, None);
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
        assert_eq!(
            (rejects[0].reason.as_str(), rejects[0].offset),
            ("truncated_file", Some(3072))
        );
    }

    #[test]
    fn keys_split_at_the_first_dot_of_the_file_name() {
        assert_eq!(split_key("a.b/c.seg.png"), ("a.b/c", "seg.png"));
        assert_eq!(split_key("x"), ("x", ""));
    }
}
