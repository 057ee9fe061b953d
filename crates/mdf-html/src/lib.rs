//! HTML operators of Mega Data Factory: charset decoding ([`decode`]), a budgeted parse (our
//! tokenizer, html5ever's tree builder) into an arena DOM ([`dom`]) and main-content extraction
//! ([`extract`]), put together as the `html_extractor` refiner. The heavy parser dependencies live in this crate only.

pub mod decode;
pub mod dom;
pub mod extract;
mod html_extractor;
mod patterns;
mod tokenizer;

pub use html_extractor::{
    cap_newlines, remove_urls, ExtractError, Extractor, HtmlExtractor, HtmlExtractorParams,
    EMPTY_EXTRACTION, METADATA_COLUMNS,
};

/// Registers the HTML operators.
pub fn register(registry: &mut mdf_core::Registry) {
    registry.register_operator::<HtmlExtractor>();
}
