//! `ImageFolderLoader`: image files under directories (or globs), with optional sidecar
//! captions: `photo.jpg` takes its caption from `photo.txt` beside it. Files are listed sorted
//! and cut into shards of `files_per_shard` files, so a folder of a million images runs in
//! parallel; a shard is the index range `[start, end)` of that sorted listing (listing again
//! when a shard opens is deterministic). Records: `id` = the path relative to the root that
//! matched it (or the path for a file named directly), `image` = the file bytes, `text` = the
//! caption or null, `json` = null. An unreadable file is a reject (`read_error`).

use std::path::Path;

use mdf_core::io::{Loader, RecordSource, ShardSpec, SourceItem};
use mdf_core::{Component, MdfError, OperatorKind, Params, Result};
use mdf_io::{expand_paths, PathList};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::image_records::{
    check_extensions, default_image_extensions, reject, to_batch, ImageRecord,
};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageFolderLoaderParams {
    /// Directories (searched recursively), image files or globs. Required.
    pub paths: PathList,
    /// Image file extensions searched for in directories (lower-case, no dot; matched
    /// case-insensitively). Default: `[jpg, jpeg, png, webp, gif]`.
    #[serde(default = "default_image_extensions")]
    pub image_extensions: Vec<String>,
    /// Extension of the sidecar caption file (same stem, same folder). Default: `txt`.
    #[serde(default = "default_caption_extension")]
    pub caption_extension: String,
    /// Images per shard. Default: 1000.
    #[serde(default = "default_files_per_shard")]
    pub files_per_shard: usize,
}

fn default_caption_extension() -> String {
    "txt".into()
}

fn default_files_per_shard() -> usize {
    1000
}

impl Params for ImageFolderLoaderParams {
    fn check(&self) -> std::result::Result<(), String> {
        self.paths.check()?;
        check_extensions(&self.image_extensions)?;
        if self.files_per_shard == 0 {
            return Err("`files_per_shard` must be positive".into());
        }
        Ok(())
    }
}

pub struct ImageFolderLoader {
    params: ImageFolderLoaderParams,
}

impl Component for ImageFolderLoader {
    type Built = dyn Loader;
    type Params = ImageFolderLoaderParams;
    const NAME: &'static str = "ImageFolderLoader";
    const KIND: OperatorKind = OperatorKind::Loader;
    const SUMMARY: &'static str =
        "Image files in folders with optional sidecar .txt captions, sharded by file count";

    fn build(params: ImageFolderLoaderParams) -> Result<Box<dyn Loader>> {
        Ok(Box::new(ImageFolderLoader { params }))
    }
}

impl ImageFolderLoader {
    /// The sorted image files, each with the id it gets.
    fn files(&self) -> Result<Vec<(String, String)>> {
        let exts: Vec<&str> = self
            .params
            .image_extensions
            .iter()
            .map(String::as_str)
            .collect();
        let mut out = Vec::new();
        for root in self.params.paths.as_slice() {
            let base = Path::new(root);
            for f in expand_paths(std::slice::from_ref(root), &exts)? {
                let id = if base.is_dir() {
                    Path::new(&f)
                        .strip_prefix(base)
                        .map_or(f.clone(), |r| r.to_string_lossy().into_owned())
                } else {
                    f.clone()
                };
                out.push((f, id));
            }
        }
        out.sort();
        out.dedup_by(|a, b| a.0 == b.0);
        Ok(out)
    }
}

impl Loader for ImageFolderLoader {
    fn list_shards(&self) -> Result<Vec<ShardSpec>> {
        let files = self.files()?;
        Ok(files
            .chunks(self.params.files_per_shard)
            .enumerate()
            .map(|(index, chunk)| {
                let start = (index * self.params.files_per_shard) as u64;
                ShardSpec {
                    index,
                    path: chunk[0].0.clone(),
                    start,
                    end: Some(start + chunk.len() as u64),
                    limit: None,
                }
            })
            .collect())
    }

    fn open(&self, shard: &ShardSpec, batch_size: usize) -> Result<Box<dyn RecordSource>> {
        let files = self.files()?;
        let start = usize::try_from(shard.start)
            .unwrap_or(usize::MAX)
            .min(files.len());
        let mut end = shard
            .end
            .map_or(files.len(), |e| usize::try_from(e).unwrap_or(usize::MAX))
            .min(files.len());
        if let Some(limit) = shard.limit {
            end = end.min(start.saturating_add(usize::try_from(limit).unwrap_or(usize::MAX)));
        }
        if files.get(start).map(|f| &f.0) != Some(&shard.path) && start < end {
            return Err(MdfError::config(format!(
                "the image folder changed since the run was planned (shard {} expected `{}` first)",
                shard.index, shard.path
            )));
        }
        Ok(Box::new(FolderSource {
            files: files[start..end].to_vec(),
            first_index: start as u64,
            next: 0,
            batch_size: batch_size.max(1),
            caption_extension: self.params.caption_extension.clone(),
            pending: Vec::new(),
        }))
    }
}

struct FolderSource {
    files: Vec<(String, String)>,
    first_index: u64,
    next: usize,
    batch_size: usize,
    caption_extension: String,
    pending: Vec<SourceItem>,
}

impl RecordSource for FolderSource {
    fn next_item(&mut self) -> Result<Option<SourceItem>> {
        if let Some(item) = self.pending.pop() {
            return Ok(Some(item));
        }
        let mut records = Vec::new();
        let mut rejects = Vec::new();
        let first = self.files.get(self.next).map(|f| f.0.clone());
        while records.len() < self.batch_size && self.next < self.files.len() {
            let (path, id) = &self.files[self.next];
            let offset = self.first_index + self.next as u64;
            self.next += 1;
            match std::fs::read(path) {
                Ok(image) => {
                    let caption = Path::new(path).with_extension(&self.caption_extension);
                    let text = std::fs::read(&caption)
                        .ok()
                        .map(|b| String::from_utf8_lossy(&b).trim_end().to_owned());
                    records.push(ImageRecord {
                        id: id.clone(),
                        image,
                        text,
                        json: None,
                        offset,
                    });
                }
                Err(e) => rejects.push(SourceItem::Reject(reject(
                    path,
                    Some(offset),
                    &format!("read_error: {e}"),
                    Some(id),
                ))),
            }
        }
        // `pending` is popped from the back: push the batch first so rejects come out first.
        if !records.is_empty() {
            let source = first.unwrap_or_default();
            let mut batch = to_batch(&records, &source)?;
            // Provenance names each image's own file.
            batch = with_source_files(batch, &records, &self.files, self.first_index)?;
            self.pending.push(SourceItem::Batch(batch));
        }
        self.pending.extend(rejects);
        Ok(self.pending.pop())
    }
}

/// Replaces `_source_file` with each record's own path.
fn with_source_files(
    batch: arrow::record_batch::RecordBatch,
    records: &[ImageRecord],
    files: &[(String, String)],
    first_index: u64,
) -> Result<arrow::record_batch::RecordBatch> {
    let paths: arrow::array::StringArray = records
        .iter()
        .map(|r| {
            files
                .get((r.offset - first_index) as usize)
                .map(|f| f.0.as_str())
        })
        .collect();
    let mut columns = batch.columns().to_vec();
    let i = batch.schema().index_of(mdf_core::io::SOURCE_FILE_COLUMN)?;
    columns[i] = std::sync::Arc::new(paths);
    Ok(arrow::record_batch::RecordBatch::try_new(
        batch.schema(),
        columns,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};

    #[test]
    fn lists_shards_and_reads_sidecar_captions() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::create_dir_all(d.join("sub")).unwrap();
        for (name, bytes) in [
            ("a.jpg", &b"A"[..]),
            ("b.PNG", b"B"),
            ("sub/c.webp", b"C"),
            ("notes.md", b"x"),
        ] {
            std::fs::write(d.join(name), bytes).unwrap();
        }
        std::fs::write(d.join("a.txt"), "a caption\n").unwrap();
        let loader = ImageFolderLoader {
            params: serde_json::from_value(serde_json::json!({ "paths": d, "files_per_shard": 2 }))
                .unwrap(),
        };
        let shards = loader.list_shards().unwrap();
        assert_eq!(shards.len(), 2);
        let mut src = loader.open(&shards[0], 10).unwrap();
        let Some(SourceItem::Batch(b)) = src.next_item().unwrap() else {
            panic!("a batch")
        };
        assert!(src.next_item().unwrap().is_none());
        let ids: Vec<&str> = b
            .column_by_name("id")
            .unwrap()
            .as_string::<i32>()
            .iter()
            .flatten()
            .collect();
        assert_eq!(ids, ["a.jpg", "b.PNG"]);
        let text = b.column_by_name("text").unwrap().as_string::<i32>();
        assert_eq!(text.value(0), "a caption");
        assert!(text.is_null(1));
        let src_files = b.column_by_name("_source_file").unwrap().as_string::<i32>();
        assert!(src_files.value(1).ends_with("b.PNG"));
        let mut src = loader.open(&shards[1], 10).unwrap();
        let Some(SourceItem::Batch(b)) = src.next_item().unwrap() else {
            panic!("a batch")
        };
        assert_eq!(
            b.column_by_name("id").unwrap().as_string::<i32>().value(0),
            "sub/c.webp"
        );
    }
}
