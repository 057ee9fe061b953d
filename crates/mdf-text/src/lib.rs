//! Text operators of Mega Data Factory, one file per operator. Each file holds the operator's
//! params, its docs and its tests; [`register`] is the only list of them.

mod fasttext_classifier;
mod fasttext_model;
mod language_filter;
mod text_length_filter;

pub use text_length_filter::{TextLengthFilter, TextLengthFilterParams};

/// Registers every text operator.
pub fn register(registry: &mut mdf_core::Registry) {
    registry.register_operator::<TextLengthFilter>();
    registry.register_operator::<language_filter::LanguageFilter>();
    registry.register_operator::<fasttext_classifier::FasttextClassifier>();
}
