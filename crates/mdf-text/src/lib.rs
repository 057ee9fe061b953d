//! Text operators of Mega Data Factory, one file per operator. Each file holds the operator's
//! params, its docs and its tests; [`register`] is the only list of them.

mod c4_quality_filter;
mod dclm_heuristics_filter;
mod dclm_words;
mod fasttext_classifier;
mod fasttext_model;
mod fineweb_quality_filter;
mod gopher_quality_filter;
mod gopher_repetition_filter;
mod language_filter;
mod pii_formatter;
mod punycode;
pub mod pystr;
mod refinedweb_line_filter;
mod text_column;
mod text_length_filter;
pub mod text_rewrite;
mod text_rows;
mod tld_extract;
mod url_filter;
mod url_lists;
mod url_words;
pub mod words;

pub use gopher_quality_filter::{GopherQualityFilter, GopherQualityFilterParams};
pub use gopher_repetition_filter::{GopherRepetitionFilter, GopherRepetitionFilterParams};
pub use text_length_filter::{TextLengthFilter, TextLengthFilterParams};
pub use url_filter::{UrlFilter, UrlFilterParams};

/// Registers every text operator.
pub fn register(registry: &mut mdf_core::Registry) {
    registry.register_operator::<TextLengthFilter>();
    registry.register_operator::<UrlFilter>();
    registry.register_operator::<language_filter::LanguageFilter>();
    registry.register_operator::<fasttext_classifier::FasttextClassifier>();
    registry.register_operator::<refinedweb_line_filter::RefinedwebLineFilter>();
    registry.register_operator::<GopherRepetitionFilter>();
    registry.register_operator::<GopherQualityFilter>();
    registry.register_operator::<dclm_heuristics_filter::DclmHeuristicsFilter>();
    registry.register_operator::<c4_quality_filter::C4QualityFilter>();
    registry.register_operator::<fineweb_quality_filter::FineWebQualityFilter>();
    registry.register_operator::<pii_formatter::PiiFormatter>();
}
