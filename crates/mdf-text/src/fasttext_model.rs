//! fastText models shared by `language_filter` and `fasttext_classifier`.
//!
//! Inference runs fastText's own C++ code (the `fasttext` 0.7 crate builds fastText 0.9 with the
//! C++ compiler), so labels and probabilities are those of the Python `fasttext` package: the
//! parity tests compare them on trained `.bin`/`.ftz` models and on the real `lid.176.ftz`. The
//! pure-Rust `fasttext` 0.8 crate mislabels quantised models, which is why it is not used.
//!
//! A model is loaded once per process and path, and shared (`Arc`) by every worker's operator
//! instance: fastText prediction is read-only, so one copy of a 2.4 GB DCLM model serves all
//! workers. The cache holds weak references, so a model is freed when no operator uses it.

use crate::pystr::{splitlines, strip};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use arrow::record_batch::RecordBatch;
use fasttext::FastText;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use mdf_core::batch::{str_column, StrLookup};
use mdf_core::{MdfError, Result, Verdicts};

/// A loaded fastText model with its label list.
pub(crate) struct Model {
    inner: FastText,
    path: String,
    labels: Vec<String>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("path", &self.path).finish()
    }
}

/// One predicted label (with its `__label__` prefix) and its probability as fastText reports it
/// (`exp(log(p + 1e-5))`, in float32).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Prediction {
    pub label: String,
    pub prob: f32,
}

impl Model {
    /// The model at `path`, loaded once per process and shared.
    pub(crate) fn shared(path: &str) -> Result<Arc<Model>> {
        static CACHE: OnceLock<Mutex<HashMap<String, Weak<Model>>>> = OnceLock::new();
        let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
        // Loading happens under the lock, so workers starting together load the file once.
        let mut guard = match cache.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let key = std::fs::canonicalize(path)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| path.to_owned());
        if let Some(model) = guard.get(&key).and_then(Weak::upgrade) {
            return Ok(model);
        }
        let model = Arc::new(Model::load(path)?);
        guard.retain(|_, weak| weak.strong_count() > 0);
        guard.insert(key, Arc::downgrade(&model));
        Ok(model)
    }

    fn load(path: &str) -> Result<Model> {
        if !std::path::Path::new(path).is_file() {
            return Err(MdfError::config(format!(
                "fastText model `{path}` not found (model_path must name a .bin or .ftz file)"
            )));
        }
        let mut inner = FastText::new();
        inner
            .load_model(path)
            .map_err(|e| MdfError::config(format!("cannot load fastText model `{path}`: {e}")))?;
        let (labels, _) = inner
            .get_labels()
            .map_err(|e| MdfError::config(format!("fastText model `{path}` has no labels: {e}")))?;
        if labels.is_empty() {
            return Err(MdfError::config(format!(
                "fastText model `{path}` is not a supervised model (it has no labels)"
            )));
        }
        Ok(Model {
            inner,
            path: path.to_owned(),
            labels,
        })
    }

    /// The model's labels, with their `__label__` prefix.
    pub(crate) fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Predicts on one line of text, exactly as Python's `model.predict(line, k)` does: `k = -1`
    /// means every label, threshold 0. `line` must not contain `\n` (apply a
    /// [`NewlineHandling`] first); fastText reads only up to the first one, where Python raises.
    /// `buf` is reused between calls.
    pub(crate) fn predict(&self, line: &str, k: i32, buf: &mut String) -> Result<Vec<Prediction>> {
        buf.clear();
        // fastText's tokenizer treats NUL as a separator, like a space; a C string cannot hold it.
        buf.extend(line.chars().map(|c| if c == '\0' { ' ' } else { c }));
        // Python's binding appends the newline that becomes fastText's end-of-sentence token.
        buf.push('\n');
        let preds = self
            .inner
            .predict(buf, k, 0.0)
            .map_err(|e| MdfError::internal(format!("fastText prediction failed: {e}")))?;
        Ok(preds
            .into_iter()
            .map(|p| Prediction {
                label: p.label,
                prob: p.prob,
            })
            .collect())
    }
}

/// How line breaks are removed before fastText sees the text (fastText reads one line). The
/// recipes differ here and it changes predictions (spec §7 item 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NewlineHandling {
    /// `text.replace("\n", " ")`: current datatrove (0.3+) `LanguageFilter`.
    Space,
    /// `text.replace("\n", "")`: datatrove 0.2.0 as used for FineWeb v1, and DCLM's LID step.
    Delete,
    /// `text.strip().replace("\n", "")`: datatrove's `FastTextClassifierFilter` default.
    StripDelete,
    /// `" ".join(text.strip().splitlines())`: DCLM's quality classifier and RedPajama-V2.
    JoinLines,
}

impl NewlineHandling {
    /// Writes the text fastText will see into `out`.
    pub(crate) fn apply(self, text: &str, out: &mut String) {
        out.clear();
        match self {
            NewlineHandling::Space => {
                out.extend(text.chars().map(|c| if c == '\n' { ' ' } else { c }))
            }
            NewlineHandling::Delete => out.extend(text.chars().filter(|&c| c != '\n')),
            NewlineHandling::StripDelete => out.extend(strip(text).chars().filter(|&c| c != '\n')),
            NewlineHandling::JoinLines => {
                // After strip() no line break is left at either end, so joining the
                // splitlines() pieces with spaces replaces each break (`\r\n` counts as one).
                for (i, line) in splitlines(strip(text)).enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(line);
                }
            }
        }
    }
}

/// Strips fastText's label prefix.
pub(crate) fn bare_label(label: &str) -> &str {
    label.strip_prefix("__label__").unwrap_or(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(mode: NewlineHandling, text: &str) -> String {
        let mut out = String::new();
        mode.apply(text, &mut out);
        out
    }

    #[test]
    fn newline_modes_match_python() {
        let t = " \n a.\nb\r\nc\u{2028}d\x1c\n ";
        assert_eq!(
            apply(NewlineHandling::Space, t),
            "   a. b\r c\u{2028}d\x1c  "
        );
        assert_eq!(apply(NewlineHandling::Delete, t), "  a.b\rc\u{2028}d\x1c ");
        assert_eq!(apply(NewlineHandling::StripDelete, t), "a.b\rc\u{2028}d");
        // " ".join(t.strip().splitlines())
        assert_eq!(apply(NewlineHandling::JoinLines, t), "a. b c d");
        assert_eq!(apply(NewlineHandling::JoinLines, "a\n\nb"), "a  b");
        assert_eq!(apply(NewlineHandling::JoinLines, "\u{a0}\u{3000}"), "");
    }

    #[test]
    fn missing_model_is_a_config_error() {
        let err = Model::shared("/nonexistent/lid.176.ftz").expect_err("must fail");
        assert!(err.to_string().contains("not found"), "{err}");
    }

    #[test]
    fn labels_lose_their_prefix() {
        assert_eq!(bare_label("__label__en"), "en");
        assert_eq!(bare_label("eng_Latn"), "eng_Latn");
    }
}

/// Calls `each(row, text)` for every row of `batch`, in order. A row without a string text is
/// rejected (`missing_field`) and gets `each(row, None)`, so the caller can append nulls.
pub(crate) fn for_each_text(
    batch: &RecordBatch,
    field: &str,
    verdicts: &mut Verdicts,
    mut each: impl FnMut(usize, Option<&str>, &mut Verdicts) -> Result<()>,
) -> Result<()> {
    let n = batch.num_rows();
    match str_column(batch, field) {
        StrLookup::Found(text) => {
            for row in 0..n {
                let s = text.get(row);
                if s.is_none() {
                    verdicts.reject_row(row, format!("missing_field: no `{field}`"));
                }
                each(row, s, verdicts)?;
            }
        }
        StrLookup::Missing | StrLookup::WrongType(_) => {
            for row in 0..n {
                verdicts.reject_row(row, format!("missing_field: no string `{field}`"));
                each(row, None, verdicts)?;
            }
        }
    }
    Ok(())
}

/// Small models trained on the spot for the unit tests (no model file is committed).
#[cfg(test)]
pub(crate) mod test_models {
    use std::io::Write;
    use std::sync::OnceLock;

    const EN: &[&str] = &[
        "the cat sat on the mat",
        "the dog ran away from the house",
        "this is a sentence in english with the words",
        "and the weather is nice today in the city",
        "we went to the market and bought some bread",
        "the quality of the text is high and the writing is clear",
    ];
    const FR: &[&str] = &[
        "le chat est sur la table",
        "le chien mange dans la maison",
        "ceci est une phrase en francais avec des mots",
        "et le temps est beau aujourd hui dans la ville",
        "nous sommes allés au marché acheter du pain",
        "la qualité du texte est bonne et claire",
    ];

    fn train(name: &str, lines: Vec<String>, tune: impl Fn(&mut fasttext::Args)) -> String {
        let dir = std::env::temp_dir().join(format!("mdf-ft-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let input = dir.join("train.txt");
        let mut f = std::fs::File::create(&input).expect("train file");
        for _ in 0..20 {
            for l in &lines {
                writeln!(f, "{l}").expect("write");
            }
        }
        drop(f);
        let mut args = fasttext::Args::new();
        args.set_input(&input.to_string_lossy()).expect("input");
        args.set_output(&dir.join("model").to_string_lossy())
            .expect("output");
        args.set_model(fasttext::ModelName::SUP);
        args.set_lr(0.5);
        args.set_min_count(1);
        args.set_dim(16);
        args.set_bucket(20_000);
        args.set_thread(1);
        args.set_verbose(0);
        args.set_epoch(25);
        args.set_minn(0);
        args.set_maxn(0);
        args.set_loss(fasttext::LossName::SOFTMAX);
        tune(&mut args);
        let mut model = fasttext::FastText::new();
        model.train(&args).expect("train");
        let path = dir.join("model.bin");
        model.save_model(&path.to_string_lossy()).expect("save");
        path.to_string_lossy().into_owned()
    }

    fn lid(name: &str, en: &str, fr: &str) -> String {
        let mut lines: Vec<String> = EN.iter().map(|l| format!("__label__{en} {l}")).collect();
        lines.extend(FR.iter().map(|l| format!("__label__{fr} {l}")));
        train(name, lines, |a| {
            a.set_minn(2);
            a.set_maxn(4);
            a.set_loss(fasttext::LossName::HS);
        })
    }

    /// A two-language (en / fr) LID-style model with character n-grams and hierarchical softmax.
    pub(crate) fn lid_model() -> String {
        static PATH: OnceLock<String> = OnceLock::new();
        PATH.get_or_init(|| lid("lid", "en", "fr")).clone()
    }

    /// The same with GlotLID labels (`eng_Latn`, `fra_Latn`).
    pub(crate) fn glotlid_model() -> String {
        static PATH: OnceLock<String> = OnceLock::new();
        PATH.get_or_init(|| lid("glotlid", "eng_Latn", "fra_Latn"))
            .clone()
    }

    /// A binary quality model (`hq` / `cc`) with word bigrams and softmax, like DCLM's.
    pub(crate) fn quality_model() -> String {
        static PATH: OnceLock<String> = OnceLock::new();
        PATH.get_or_init(|| {
            let mut lines: Vec<String> =
                EN[..3].iter().map(|l| format!("__label__hq {l}")).collect();
            lines.extend(EN[3..].iter().map(|l| format!("__label__cc {l}")));
            train("quality", lines, |a| a.set_word_ngrams(2))
        })
        .clone()
    }
}
