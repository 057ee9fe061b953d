//! `preprocess_images`: the model operators' image preprocessing ([`mdf_image::model_input`]),
//! run on Rust threads with the GIL released.

use arrow::pyarrow::FromPyArrow;
use arrow::record_batch::RecordBatch;
use mdf_image::model_input::{prepare_column, Fit, ModelInput};
use mdf_image::pil::Filter;
use pyo3::prelude::*;
use pyo3::types::PyByteArray;

use crate::errors;

/// Decodes and resizes the images of column `field` of `batch` (a `pyarrow.RecordBatch`, read
/// zero-copy; binary or a Hugging Face `{bytes, path}` struct) to `size`×`size` RGB.
///
/// `fit` is `clip` (short side to `size`, BICUBIC, centre crop) or `squash` (both sides to
/// `size`: SigLIP); `resample` is `bicubic` (default) or `bilinear`. `threads` = 0 uses every core. Returns `(pixels, rows, errors)`:
/// `pixels` is a bytearray of `len(rows) × size × size × 3` bytes (NHWC, uint8) of the rows listed in `rows`
/// (ascending), `errors` the `(row, reason)` of the others (`missing_field: …`,
/// `undecodable: …`, `too_many_pixels: …`).
#[pyfunction]
#[pyo3(signature = (batch, field, size, fit, resample="bicubic", max_pixels=None, threads=0))]
#[allow(clippy::type_complexity, clippy::too_many_arguments)]
pub fn preprocess_images<'py>(
    py: Python<'py>,
    batch: &Bound<'py, PyAny>,
    field: &str,
    size: usize,
    fit: &str,
    resample: &str,
    max_pixels: Option<u64>,
    threads: usize,
) -> PyResult<(Bound<'py, PyByteArray>, Vec<usize>, Vec<(usize, String)>)> {
    let fit = Fit::parse(fit).ok_or_else(|| {
        errors::ConfigError::new_err(format!("fit must be `clip` or `squash`, got `{fit}`"))
    })?;
    let filter = match resample {
        "bicubic" => Filter::Bicubic,
        "bilinear" => Filter::Bilinear,
        other => {
            return Err(errors::ConfigError::new_err(format!(
                "resample must be `bicubic` or `bilinear`, got `{other}`"
            )))
        }
    };
    if size == 0 {
        return Err(errors::ConfigError::new_err("size must be at least 1"));
    }
    let batch = RecordBatch::from_pyarrow_bound(batch)?;
    let input = ModelInput {
        size,
        fit,
        filter,
        max_pixels: max_pixels.unwrap_or(mdf_image::decode::DEFAULT_MAX_PIXELS),
    };
    let prepared = py.detach(|| match mdf_image::image_column(&batch, field) {
        Ok(column) => Ok(prepare_column(
            &column,
            batch.num_rows(),
            field,
            &input,
            threads,
        )),
        Err(reason) => Err(reason),
    });
    match prepared {
        Ok(p) => Ok((PyByteArray::new(py, &p.pixels), p.rows, p.errors)),
        // A missing or mistyped column fails every row the same way.
        Err(reason) => Ok((
            PyByteArray::new(py, &[]),
            Vec::new(),
            (0..batch.num_rows()).map(|r| (r, reason.clone())).collect(),
        )),
    }
}
