//! Text operators of Mega Data Factory, one file per operator. Each file holds the operator's
//! params, its docs and its tests; [`register`] is the only list of them.

mod pystr;
mod spacy_en;
mod text_length_filter;

pub use text_length_filter::{TextLengthFilter, TextLengthFilterParams};

/// Registers every text operator.
pub fn register(registry: &mut mdf_core::Registry) {
    registry.register_operator::<TextLengthFilter>();
}
