//! Text operators of Mega Data Factory, one file per operator. Each file holds the operator's
//! params, its docs and its tests; [`register`] is the only list of them.

mod c4_quality_filter;
mod en_tokenizer;
mod fineweb_quality_filter;
mod pii_formatter;
mod pystr;
mod spacy_en;
mod text_length_filter;
mod text_rewrite;

pub use text_length_filter::{TextLengthFilter, TextLengthFilterParams};

/// Registers every text operator.
pub fn register(registry: &mut mdf_core::Registry) {
    registry.register_operator::<TextLengthFilter>();
    registry.register_operator::<c4_quality_filter::C4QualityFilter>();
    registry.register_operator::<fineweb_quality_filter::FineWebQualityFilter>();
    registry.register_operator::<pii_formatter::PiiFormatter>();
}
