//! Text operators of Mega Data Factory, one file per operator. Each file holds the operator's
//! params, its docs and its tests; [`register`] is the only list of them.

mod gopher_quality_filter;
mod gopher_repetition_filter;
pub mod pystr;
mod text_length_filter;
mod text_rows;
pub mod words;

pub use gopher_quality_filter::{GopherQualityFilter, GopherQualityFilterParams};
pub use gopher_repetition_filter::{GopherRepetitionFilter, GopherRepetitionFilterParams};
pub use text_length_filter::{TextLengthFilter, TextLengthFilterParams};

/// Registers every text operator.
pub fn register(registry: &mut mdf_core::Registry) {
    registry.register_operator::<TextLengthFilter>();
    registry.register_operator::<GopherRepetitionFilter>();
    registry.register_operator::<GopherQualityFilter>();
}
