//! `language_filter`: fastText language identification (annotator and filter), reproducing
//! datatrove's `LanguageFilter` (0.10.1, `backend` `ft176` or `glotlid`) as used by FineWeb.
//!
//! For each record: the text's line breaks are handled per `newline_handling`, fastText predicts,
//! `language` gets the top label (without `__label__`; for GlotLID the part before `_`, the script
//! going to `language_script`) and `language_score` its probability. With `languages` set the
//! record is kept iff **any** listed language has a probability **strictly greater** than
//! `language_threshold` (labels outside fastText's answer count as 0); without it, iff the top
//! score is > the threshold. Scores are fastText's float32 values widened to float64, exactly the
//! numbers datatrove stores, and compared in float64 as Python does.
//!
//! Recipe versions: FineWeb v1 ran datatrove 0.2.0, which **deleted** `\n`
//! (`newline_handling: delete`); datatrove 0.3+ replaces it with a space (`space`, the default
//! here, which the parity test checks against datatrove 0.10.1).
//!
//! Known differences: datatrove has no drop reason for this filter; we use `language_filter`.
//! `keep_top_pairs_threshold` (one column per language) is not supported. Without `model_path`
//! an embedded `whatlang` detector runs instead, for out-of-the-box runs only: its labels are
//! ISO 639-1 codes like lid.176's, but its scores are whatlang's confidence and its decisions are
//! **not** those of any published recipe.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Builder, StringBuilder};
use arrow::datatypes::{DataType, Field};
use arrow::record_batch::RecordBatch;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use mdf_core::{Component, MdfError, Operator, OperatorKind, Params, Result, Verdicts};

use crate::fasttext_model::{bare_label, for_each_text, Model, NewlineHandling};

/// Which label format the model uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LidBackend {
    /// lid.176 labels (`__label__en`).
    Ft176,
    /// GlotLID labels (`__label__eng_Latn`): `language` gets `eng`, `language_script` `Latn`, and
    /// `languages` must name full labels (`eng_Latn`), as in datatrove.
    Glotlid,
}

/// Params of `language_filter`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LanguageFilterParams {
    /// fastText LID model, `.bin` or `.ftz` (lid.176 or GlotLID). Default: none — the embedded
    /// `whatlang` detector, which is not any recipe's model.
    #[serde(default)]
    pub model_path: Option<String>,
    /// Languages to keep (labels without `__label__`). Default: none — keep any language whose
    /// top score passes the threshold.
    #[serde(default)]
    pub languages: Option<Vec<String>>,
    /// A listed language must score strictly above this. Default: 0.65.
    #[serde(default = "default_threshold")]
    pub language_threshold: f64,
    /// Label format of the model: `ft176` or `glotlid`. Default: `ft176`.
    #[serde(default = "default_backend")]
    pub backend: LidBackend,
    /// How `\n` is removed before prediction: `space` (datatrove 0.3+), `delete` (datatrove
    /// 0.2.0, FineWeb v1), `strip_delete` or `join_lines`. Default: `space`.
    #[serde(default = "default_newlines")]
    pub newline_handling: NewlineHandling,
    /// Only annotate; drop nothing. Default: false.
    #[serde(default)]
    pub label_only: bool,
    /// Column holding the text. Default: `text`.
    #[serde(default = "default_text_field")]
    pub text_field: String,
}

fn default_threshold() -> f64 {
    0.65
}
fn default_backend() -> LidBackend {
    LidBackend::Ft176
}
fn default_newlines() -> NewlineHandling {
    NewlineHandling::Space
}
fn default_text_field() -> String {
    "text".to_owned()
}

impl Params for LanguageFilterParams {
    fn check(&self) -> std::result::Result<(), String> {
        if matches!(&self.languages, Some(l) if l.is_empty()) {
            return Err("languages is empty; omit it to accept every language".into());
        }
        if self.model_path.is_none() && self.backend == LidBackend::Glotlid {
            return Err("backend `glotlid` needs a model_path".into());
        }
        Ok(())
    }
}

/// Drop reason (datatrove's `LanguageFilter` records none).
pub const LANGUAGE_FILTER: &str = "language_filter";

/// Column names.
pub const LANGUAGE: &str = "language";
pub const LANGUAGE_SCORE: &str = "language_score";
pub const LANGUAGE_SCRIPT: &str = "language_script";

enum Detector {
    FastText(Arc<Model>),
    Whatlang,
}

pub struct LanguageFilter {
    params: LanguageFilterParams,
    detector: Detector,
    /// fastText's `k`: 1 when the top label decides, -1 (all labels) otherwise.
    k: i32,
    text_buf: String,
    line_buf: String,
}

impl Component for LanguageFilter {
    type Built = dyn Operator;
    type Params = LanguageFilterParams;
    const NAME: &'static str = "language_filter";
    const KIND: OperatorKind = OperatorKind::Filter;
    const SUMMARY: &'static str =
        "fastText language ID (lid.176 / GlotLID): annotate language and score, keep listed languages";

    fn build(params: LanguageFilterParams) -> Result<Box<dyn Operator>> {
        let detector = match &params.model_path {
            Some(path) => Detector::FastText(Model::shared(path)?),
            None => Detector::Whatlang,
        };
        // A listed language that is not the top label cannot score above 0.51: the top one would
        // score at least as much and the two sum to at most 1 (+2e-5 of fastText's smoothing).
        // Then the top label alone decides, and k = 1 is much cheaper than every label.
        let k = match &params.languages {
            Some(_) if params.language_threshold < 0.51 && !params.label_only => -1,
            _ => 1,
        };
        Ok(Box::new(LanguageFilter {
            params,
            detector,
            k,
            text_buf: String::new(),
            line_buf: String::new(),
        }))
    }
}

/// One record's result.
struct Lid {
    /// The top label, without `__label__`.
    top: String,
    top_score: f64,
    keep: bool,
}

impl LanguageFilter {
    fn identify(&mut self, text: &str) -> Result<Lid> {
        let threshold = self.params.language_threshold;
        self.params.newline_handling.apply(text, &mut self.text_buf);
        let (top, top_score, listed_pass) = match &self.detector {
            Detector::FastText(model) => {
                let preds = model.predict(&self.text_buf, self.k, &mut self.line_buf)?;
                let Some(first) = preds.first() else {
                    return Err(MdfError::internal("fastText returned no label"));
                };
                let listed_pass = self.params.languages.as_ref().is_some_and(|langs| {
                    preds.iter().any(|p| {
                        f64::from(p.prob) > threshold
                            && langs.iter().any(|l| l == bare_label(&p.label))
                    })
                });
                (
                    bare_label(&first.label).to_owned(),
                    f64::from(first.prob),
                    listed_pass,
                )
            }
            Detector::Whatlang => {
                let (label, score) = match whatlang::detect(&self.text_buf) {
                    Some(info) => (iso639_1(info.lang()), info.confidence()),
                    None => ("unknown", 0.0),
                };
                let listed_pass = score > threshold
                    && self
                        .params
                        .languages
                        .as_ref()
                        .is_some_and(|langs| langs.iter().any(|l| l == label));
                (label.to_owned(), score, listed_pass)
            }
        };
        let keep = self.params.label_only
            || match &self.params.languages {
                Some(_) => listed_pass,
                None => top_score > threshold,
            };
        Ok(Lid {
            top,
            top_score,
            keep,
        })
    }
}

impl Operator for LanguageFilter {
    fn process(&mut self, batch: RecordBatch, verdicts: &mut Verdicts) -> Result<RecordBatch> {
        let n = batch.num_rows();
        let glot = self.params.backend == LidBackend::Glotlid;
        let mut lang = StringBuilder::new();
        let mut score = Float64Builder::with_capacity(n);
        let mut script = StringBuilder::new();
        let field = self.params.text_field.clone();
        for_each_text(&batch, &field, verdicts, |row, text, verdicts| {
            let Some(s) = text else {
                lang.append_null();
                score.append_null();
                script.append_null();
                return Ok(());
            };
            let lid = self.identify(s)?;
            if glot {
                // datatrove: `lang, script = label.split("_")`.
                match lid.top.split_once('_') {
                    Some((l, sc)) => {
                        lang.append_value(l);
                        script.append_value(sc);
                    }
                    None => {
                        lang.append_value(&lid.top);
                        script.append_null();
                    }
                }
            } else {
                lang.append_value(&lid.top);
            }
            score.append_value(lid.top_score);
            if !lid.keep {
                verdicts.drop_row(row, LANGUAGE_FILTER);
            }
            Ok(())
        })?;
        let mut columns: Vec<(&str, ArrayRef)> = vec![
            (LANGUAGE, Arc::new(lang.finish())),
            (LANGUAGE_SCORE, Arc::new(score.finish())),
        ];
        if glot {
            columns.push((LANGUAGE_SCRIPT, Arc::new(script.finish())));
        }
        mdf_core::batch::set_columns(batch, columns)
    }

    fn output_fields(&self) -> Vec<Field> {
        let mut fields = vec![
            Field::new(LANGUAGE, DataType::Utf8, true),
            Field::new(LANGUAGE_SCORE, DataType::Float64, true),
        ];
        if self.params.backend == LidBackend::Glotlid {
            fields.push(Field::new(LANGUAGE_SCRIPT, DataType::Utf8, true));
        }
        fields
    }
}

/// lid.176-style code of a whatlang language (ISO 639-1 where one exists).
fn iso639_1(lang: whatlang::Lang) -> &'static str {
    use whatlang::Lang::*;
    match lang {
        Epo => "eo",
        Eng => "en",
        Rus => "ru",
        Cmn => "zh",
        Spa => "es",
        Por => "pt",
        Ita => "it",
        Ben => "bn",
        Fra => "fr",
        Deu => "de",
        Ukr => "uk",
        Kat => "ka",
        Ara => "ar",
        Hin => "hi",
        Jpn => "ja",
        Heb => "he",
        Yid => "yi",
        Pol => "pl",
        Amh => "am",
        Jav => "jv",
        Kor => "ko",
        Nob => "no",
        Dan => "da",
        Swe => "sv",
        Fin => "fi",
        Tur => "tr",
        Nld => "nl",
        Hun => "hu",
        Ces => "cs",
        Ell => "el",
        Bul => "bg",
        Bel => "be",
        Mar => "mr",
        Kan => "kn",
        Ron => "ro",
        Slv => "sl",
        Hrv => "hr",
        Srp => "sr",
        Mkd => "mk",
        Lit => "lt",
        Lav => "lv",
        Est => "et",
        Tam => "ta",
        Vie => "vi",
        Urd => "ur",
        Tha => "th",
        Guj => "gu",
        Uzb => "uz",
        Pan => "pa",
        Aze => "az",
        Ind => "id",
        Tel => "te",
        Pes => "fa",
        Mal => "ml",
        Ori => "or",
        Mya => "my",
        Nep => "ne",
        Sin => "si",
        Khm => "km",
        Tuk => "tk",
        Aka => "ak",
        Zul => "zu",
        Sna => "sn",
        Afr => "af",
        Lat => "la",
        Slk => "sk",
        Cat => "ca",
        Tgl => "tl",
        Hye => "hy",
        Cym => "cy",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fasttext_model::test_models;
    use arrow::array::{AsArray, StringArray};
    use arrow::datatypes::Float64Type;

    fn params(model: Option<String>) -> LanguageFilterParams {
        LanguageFilterParams {
            model_path: model,
            languages: Some(vec!["en".into()]),
            language_threshold: 0.65,
            backend: LidBackend::Ft176,
            newline_handling: NewlineHandling::Space,
            label_only: false,
            text_field: "text".into(),
        }
    }

    fn run(p: LanguageFilterParams, texts: &[Option<&str>]) -> (RecordBatch, Verdicts) {
        let arr = StringArray::from(texts.to_vec());
        let batch = RecordBatch::try_from_iter([("text", Arc::new(arr) as _)]).expect("batch");
        let mut op = LanguageFilter::build(p).expect("build");
        let mut v = Verdicts::default();
        let out = op.process(batch, &mut v).expect("process");
        let fields = op.output_fields();
        for f in fields {
            let col = out.column_by_name(f.name()).expect("declared column");
            assert_eq!(col.data_type(), f.data_type());
        }
        (out, v)
    }

    #[test]
    fn fasttext_model_annotates_and_filters() {
        let model = test_models::lid_model();
        let texts = [
            Some("the cat sat on the mat and the dog ran away"),
            Some("le chat est sur la table et le chien mange"),
            None,
        ];
        let (out, v) = run(params(Some(model)), &texts);
        let lang = out
            .column_by_name(LANGUAGE)
            .expect("lang")
            .as_string::<i32>();
        assert_eq!(lang.value(0), "en");
        assert_eq!(lang.value(1), "fr");
        assert!(arrow::array::Array::is_null(lang, 2));
        let score = out
            .column_by_name(LANGUAGE_SCORE)
            .expect("score")
            .as_primitive::<Float64Type>();
        assert!(score.value(0) > 0.65 && score.value(0) <= 1.0 + 1e-5);
        assert_eq!(v.dropped(), &[(1, LANGUAGE_FILTER)]);
        assert_eq!(v.rejected().len(), 1);
    }

    #[test]
    fn workers_share_one_model() {
        let path = test_models::lid_model();
        let a = Model::shared(&path).expect("a");
        let b = Model::shared(&path).expect("b");
        assert!(Arc::ptr_eq(&a, &b));
    }

    #[test]
    fn threshold_is_strict_and_label_only_keeps_all() {
        let model = test_models::lid_model();
        let text = [Some("the cat sat on the mat")];
        let (out, _) = run(params(Some(model.clone())), &text);
        let s = out
            .column_by_name(LANGUAGE_SCORE)
            .expect("score")
            .as_primitive::<Float64Type>()
            .value(0);
        let mut p = params(Some(model.clone()));
        p.language_threshold = s;
        assert_eq!(
            run(p, &text).1.dropped().len(),
            1,
            "score == threshold drops"
        );
        let mut p = params(Some(model));
        p.languages = Some(vec!["fr".into()]);
        p.label_only = true;
        assert!(run(p, &text).1.dropped().is_empty());
    }

    #[test]
    fn glotlid_labels_split_into_language_and_script() {
        let mut p = params(Some(test_models::glotlid_model()));
        p.backend = LidBackend::Glotlid;
        p.languages = Some(vec!["eng_Latn".into()]);
        let texts = [
            Some("the dog ran away from the house"),
            Some("le chien mange dans la maison"),
        ];
        let (out, v) = run(p, &texts);
        let lang = out
            .column_by_name(LANGUAGE)
            .expect("lang")
            .as_string::<i32>();
        let script = out
            .column_by_name(LANGUAGE_SCRIPT)
            .expect("script")
            .as_string::<i32>();
        assert_eq!((lang.value(0), script.value(0)), ("eng", "Latn"));
        assert_eq!((lang.value(1), script.value(1)), ("fra", "Latn"));
        assert_eq!(v.dropped(), &[(1, LANGUAGE_FILTER)]);
    }

    #[test]
    fn nul_and_newlines_do_not_break_prediction() {
        let model = test_models::lid_model();
        let texts = [Some("the cat\0sat on\nthe mat"), Some(""), Some("\n\n")];
        for mode in [
            NewlineHandling::Space,
            NewlineHandling::Delete,
            NewlineHandling::JoinLines,
        ] {
            let mut p = params(Some(model.clone()));
            p.newline_handling = mode;
            p.label_only = true;
            let (out, v) = run(p, &texts);
            assert!(v.is_empty());
            assert_eq!(out.column_by_name(LANGUAGE).expect("lang").null_count(), 0);
        }
    }

    #[test]
    fn embedded_detector_works_without_a_model() {
        let texts = [
            Some("This is an English sentence about the weather and the sea, written plainly."),
            Some("Dies ist ein deutscher Satz über das Wetter und das Meer, ganz einfach."),
            Some("   "),
        ];
        let (out, v) = run(params(None), &texts);
        let lang = out
            .column_by_name(LANGUAGE)
            .expect("lang")
            .as_string::<i32>();
        assert_eq!(lang.value(0), "en");
        assert_eq!(lang.value(1), "de");
        assert_eq!(lang.value(2), "unknown");
        let dropped: Vec<u32> = v.dropped().iter().map(|d| d.0).collect();
        assert_eq!(dropped, vec![1, 2]);
    }

    #[test]
    fn params_are_checked() {
        let mut p = params(None);
        p.languages = Some(vec![]);
        assert!(p.check().is_err());
        let mut p = params(None);
        p.backend = LidBackend::Glotlid;
        assert!(p.check().is_err());
        assert!(LanguageFilter::build(params(Some("/no/such.bin".into()))).is_err());
    }
}
