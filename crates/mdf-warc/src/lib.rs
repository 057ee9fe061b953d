//! WARC, WET and ARC reading for Mega Data Factory: [`WarcLoader`] over local files and
//! [`CommonCrawlLoader`] over a CommonCrawl crawl listing (HTTPS, a mirror or a local copy).
//!
//! [`warc_record`] cuts records out of plain or gzip input and resynchronises after damage;
//! [`http_response`] parses the HTTP message of a `response` record; the loaders turn selected
//! records into Arrow batches with the columns documented in [`warc_loader`].

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod common_crawl_loader;
mod gzip_member;
pub mod http_response;
pub mod http_source;
pub mod warc_loader;
pub mod warc_record;

#[cfg(test)]
mod testutil;

pub use common_crawl_loader::{CommonCrawlLoader, CommonCrawlLoaderParams};
pub use warc_loader::{warc_schema, WarcLoader, WarcLoaderParams};

/// Registers the loaders of this crate.
pub fn register(registry: &mut mdf_core::Registry) {
    registry.register_loader::<WarcLoader>();
    registry.register_loader::<CommonCrawlLoader>();
}
