//! `fasttext_classifier`: any supervised fastText model as an annotator and, with a threshold, a
//! filter. Configured as DCLM-Baseline's quality classifier (`mlfoundations/dclm`,
//! `classify_fasttext_hq_prob`; spec §4.3) it reproduces that recipe: `label: hq`,
//! `score_mode: top_complement`, `newline_handling: join_lines`, `threshold: 0.018112`.
//!
//! Scores (spec §7 item 5), computed in float64 from fastText's float32 probabilities as Python
//! does:
//! - `probability` (default, datatrove `FastTextClassifierFilter`): predict with `k = top_k`
//!   (default all labels) and take P(`label`); a label fastText did not return scores 0
//!   (hierarchical-softmax models omit labels with P < 1e-5 even with k = -1).
//! - `top_complement` (DCLM): predict the top label only; score = its probability if it is
//!   `label`, else 1 − its probability. For a binary model this is P(`label`) up to fastText's
//!   +1e-5 smoothing, which is why DCLM's numbers differ from `probability` in the 5th decimal.
//!
//! A record is kept iff score ≥ `threshold` (DCLM and datatrove both use ≥). Known difference
//! with datatrove: its filter can also split documents into paragraphs or sentences and keep only
//! the passing parts; this operator scores whole documents. Datatrove records no drop reason; we
//! use `fasttext_classifier`.

use std::sync::Arc;

use arrow::array::Float64Builder;
use arrow::datatypes::{DataType, Field};
use arrow::record_batch::RecordBatch;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use mdf_core::{Component, MdfError, Operator, OperatorKind, Params, Result, Verdicts};

use crate::fasttext_model::{bare_label, for_each_text, Model, NewlineHandling};

/// How the score of `label` is derived from fastText's prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScoreMode {
    /// P(label) among the top `top_k` predictions, 0 when absent (datatrove).
    Probability,
    /// Top-1 prediction: its probability if it is `label`, else 1 − it (DCLM).
    TopComplement,
}

/// Params of `fasttext_classifier`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FasttextClassifierParams {
    /// Supervised fastText model, `.bin` or `.ftz`. Required.
    pub model_path: String,
    /// The label to score, without `__label__` (DCLM: `hq`). Required.
    pub label: String,
    /// Keep records whose score is ≥ this (DCLM top 10%: 0.018112). Default: none — annotate
    /// only.
    #[serde(default)]
    pub threshold: Option<f64>,
    /// How many labels fastText returns in `probability` mode; -1 for all. Default: -1.
    #[serde(default = "default_top_k")]
    pub top_k: i32,
    /// `probability` (datatrove) or `top_complement` (DCLM). Default: `probability`.
    #[serde(default = "default_score_mode")]
    pub score_mode: ScoreMode,
    /// How `\n` is removed before prediction: `strip_delete` (datatrove's classifier),
    /// `join_lines` (DCLM), `space` or `delete`. Default: `strip_delete`.
    #[serde(default = "default_newlines")]
    pub newline_handling: NewlineHandling,
    /// Float64 column receiving the score. Default: `fasttext_score`.
    #[serde(default = "default_score_field")]
    pub score_field: String,
    /// Column holding the text. Default: `text`.
    #[serde(default = "default_text_field")]
    pub text_field: String,
}

fn default_top_k() -> i32 {
    -1
}
fn default_score_mode() -> ScoreMode {
    ScoreMode::Probability
}
fn default_newlines() -> NewlineHandling {
    NewlineHandling::StripDelete
}
fn default_score_field() -> String {
    "fasttext_score".to_owned()
}
fn default_text_field() -> String {
    "text".to_owned()
}

impl Params for FasttextClassifierParams {
    fn check(&self) -> std::result::Result<(), String> {
        if self.top_k == 0 || self.top_k < -1 {
            return Err(format!(
                "top_k must be -1 (all labels) or ≥ 1, not {}",
                self.top_k
            ));
        }
        if self.label.is_empty() {
            return Err("label is empty".into());
        }
        if self.score_field.is_empty() {
            return Err("score_field is empty".into());
        }
        Ok(())
    }
}

/// Drop reason (datatrove's `FastTextClassifierFilter` records none).
pub const FASTTEXT_CLASSIFIER: &str = "fasttext_classifier";

pub struct FasttextClassifier {
    params: FasttextClassifierParams,
    model: Arc<Model>,
    target: String,
    text_buf: String,
    line_buf: String,
}

impl Component for FasttextClassifier {
    type Built = dyn Operator;
    type Params = FasttextClassifierParams;
    const NAME: &'static str = "fasttext_classifier";
    const KIND: OperatorKind = OperatorKind::Filter;
    const SUMMARY: &'static str =
        "Score records with a supervised fastText model (e.g. DCLM quality); keep score >= threshold";

    fn build(params: FasttextClassifierParams) -> Result<Box<dyn Operator>> {
        let model = Model::shared(&params.model_path)?;
        let target = format!("__label__{}", bare_label(&params.label));
        if !model.labels().contains(&target) {
            let known: Vec<&str> = model.labels().iter().map(|l| bare_label(l)).collect();
            return Err(MdfError::config(format!(
                "fasttext_classifier: label `{}` is not in model `{}` (labels: {})",
                params.label,
                params.model_path,
                known.join(", ")
            )));
        }
        Ok(Box::new(FasttextClassifier {
            params,
            model,
            target,
            text_buf: String::new(),
            line_buf: String::new(),
        }))
    }
}

impl FasttextClassifier {
    fn score(&mut self, text: &str) -> Result<f64> {
        self.params.newline_handling.apply(text, &mut self.text_buf);
        Ok(match self.params.score_mode {
            ScoreMode::Probability => {
                let preds =
                    self.model
                        .predict(&self.text_buf, self.params.top_k, &mut self.line_buf)?;
                preds
                    .iter()
                    .find(|p| p.label == self.target)
                    .map_or(0.0, |p| f64::from(p.prob))
            }
            ScoreMode::TopComplement => {
                let preds = self.model.predict(&self.text_buf, 1, &mut self.line_buf)?;
                match preds.first() {
                    Some(p) if p.label == self.target => f64::from(p.prob),
                    Some(p) => 1.0 - f64::from(p.prob),
                    None => 0.0,
                }
            }
        })
    }
}

impl Operator for FasttextClassifier {
    fn process(&mut self, batch: RecordBatch, verdicts: &mut Verdicts) -> Result<RecordBatch> {
        let n = batch.num_rows();
        let mut scores = Float64Builder::with_capacity(n);
        let field = self.params.text_field.clone();
        for_each_text(&batch, &field, verdicts, |row, text, verdicts| {
            let Some(s) = text else {
                scores.append_null();
                return Ok(());
            };
            let score = self.score(s)?;
            scores.append_value(score);
            if self.params.threshold.is_some_and(|t| score < t) {
                verdicts.drop_row(row, FASTTEXT_CLASSIFIER);
            }
            Ok(())
        })?;
        mdf_core::batch::set_columns(
            batch,
            vec![(self.params.score_field.as_str(), Arc::new(scores.finish()))],
        )
    }

    fn output_fields(&self) -> Vec<Field> {
        vec![Field::new(
            &self.params.score_field,
            DataType::Float64,
            true,
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fasttext_model::test_models;
    use arrow::array::{AsArray, StringArray};
    use arrow::datatypes::Float64Type;

    fn params(mode: ScoreMode, threshold: Option<f64>) -> FasttextClassifierParams {
        FasttextClassifierParams {
            model_path: test_models::quality_model(),
            label: "hq".into(),
            threshold,
            top_k: -1,
            score_mode: mode,
            newline_handling: NewlineHandling::JoinLines,
            score_field: "hq_score".into(),
            text_field: "text".into(),
        }
    }

    fn scores(p: FasttextClassifierParams, texts: &[&str]) -> (Vec<f64>, Verdicts) {
        let arr = StringArray::from(texts.to_vec());
        let batch = RecordBatch::try_from_iter([("text", Arc::new(arr) as _)]).expect("batch");
        let mut op = FasttextClassifier::build(p).expect("build");
        let mut v = Verdicts::default();
        let out = op.process(batch, &mut v).expect("process");
        let col = out.column_by_name("hq_score").expect("score");
        let s = col.as_primitive::<Float64Type>().values().to_vec();
        (s, v)
    }

    const TEXTS: &[&str] = &[
        "the cat sat on the mat\nthe dog ran away",
        "and the weather is nice today\nwe went to the market",
    ];

    #[test]
    fn binary_scores_agree_up_to_smoothing() {
        let (p, _) = scores(params(ScoreMode::Probability, None), TEXTS);
        let (c, _) = scores(params(ScoreMode::TopComplement, None), TEXTS);
        assert!(p[0] > 0.5 && p[1] < 0.5, "{p:?}");
        assert_eq!(p[0], c[0]);
        // 1 − (P(cc) + 1e-5) = P(hq) − 1e-5 (each probability carries fastText's +1e-5).
        assert!((p[1] - c[1] - 2e-5).abs() < 1e-6, "{p:?} {c:?}");
    }

    #[test]
    fn threshold_is_inclusive() {
        let (p, _) = scores(params(ScoreMode::Probability, None), TEXTS);
        let (_, v) = scores(params(ScoreMode::Probability, Some(p[0])), TEXTS);
        assert_eq!(v.dropped(), &[(1, FASTTEXT_CLASSIFIER)]);
    }

    #[test]
    fn unknown_label_and_bad_top_k_are_config_errors() {
        let mut p = params(ScoreMode::Probability, None);
        p.label = "math".into();
        let err = FasttextClassifier::build(p).err().expect("must fail");
        assert!(err.to_string().contains("hq"), "{err}");
        let mut p = params(ScoreMode::Probability, None);
        p.top_k = 0;
        assert!(p.check().is_err());
    }
}
