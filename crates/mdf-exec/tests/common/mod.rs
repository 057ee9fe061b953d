//! Test helpers shared by the runner's integration tests.

use std::sync::Mutex;

use arrow::array::{Array, AsArray};
use arrow::record_batch::RecordBatch;
use mdf_core::{Component, Operator, OperatorKind, Params, Verdicts};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The `(column, value)` that makes `crash_once` panic, while armed.
static TRIGGER: Mutex<Option<(&'static str, &'static str)>> = Mutex::new(None);

/// Arms `crash_once`: it panics on a batch holding `value` in `column` until [`disarm`].
pub fn arm(column: &'static str, value: &'static str) {
    *TRIGGER.lock().unwrap() = Some((column, value));
}

pub fn disarm() {
    *TRIGGER.lock().unwrap() = None;
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}
impl Params for NoParams {}

/// Passes batches through; panics while armed on the armed value: a crash in the middle of a
/// phase, for the resume tests.
pub struct CrashOnce;
impl Operator for CrashOnce {
    fn process(&mut self, batch: RecordBatch, _: &mut Verdicts) -> mdf_core::Result<RecordBatch> {
        let Some((column, value)) = *TRIGGER.lock().unwrap() else {
            return Ok(batch);
        };
        let col = batch.column_by_name(column).unwrap();
        let hit = (0..col.len()).any(|i| {
            col.as_string_view_opt()
                .map(|a| a.value(i))
                .or_else(|| col.as_string_opt::<i32>().map(|a| a.value(i)))
                == Some(value)
        });
        if hit {
            panic!("simulated crash");
        }
        Ok(batch)
    }
}
impl Component for CrashOnce {
    type Built = dyn Operator;
    type Params = NoParams;
    const NAME: &'static str = "crash_once";
    const KIND: OperatorKind = OperatorKind::Filter;
    const SUMMARY: &'static str = "test";
    fn build(_: NoParams) -> mdf_core::Result<Box<dyn Operator>> {
        Ok(Box::new(CrashOnce))
    }
}
