//! Image loaders and operators of Mega Data Factory: safe decoding with a pixel budget,
//! header-only metadata, technical quality measures, Pillow/imagehash-compatible perceptual
//! hashes and a multi-index near-duplicate index. One file per operator; [`register`] is the
//! only list of them. Image bytes stay encoded in a Binary column until an operator needs
//! pixels; all image operators of a stage share one decode per image ([`analysis`]).

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod analysis;
#[cfg(target_arch = "x86_64")]
mod block_steps_avx2;
mod column;
pub mod decode;
mod grey_shuffle;
pub mod hashes;
pub mod header;
mod image_decontamination_filter;
mod image_folder_loader;
mod image_metadata_refiner;
mod image_phash_deduplicator;
mod image_phash_refiner;
mod image_quality_filter;
mod image_records;
mod image_technical_quality_refiner;
mod image_visual_degradations_refiner;
#[cfg(feature = "libjpeg")]
mod jpeg_entropy;
#[cfg(feature = "libjpeg")]
mod libjpeg;
#[cfg(target_arch = "x86_64")]
mod luma_opponent_avx2;
pub mod model_input;
pub mod near_dup;
pub mod pil;
pub mod quality;
mod simd;
mod tar;
#[cfg(test)]
mod testimg;
mod webdataset_loader;

pub use column::{image_column, ImageColumn};
pub use image_decontamination_filter::ImageDecontaminationFilter;
pub use image_folder_loader::{ImageFolderLoader, ImageFolderLoaderParams};
pub use image_metadata_refiner::ImageMetadataRefiner;
pub use image_phash_deduplicator::ImagePhashDeduplicator;
pub use image_phash_refiner::ImagePhashRefiner;
pub use image_quality_filter::ImageQualityFilter;
pub use image_technical_quality_refiner::ImageTechnicalQualityRefiner;
pub use image_visual_degradations_refiner::ImageVisualDegradationsRefiner;
pub use webdataset_loader::{WebDatasetLoader, WebDatasetLoaderParams};

/// Registers every image loader and operator.
pub fn register(registry: &mut mdf_core::Registry) {
    registry.register_loader::<WebDatasetLoader>();
    registry.register_loader::<ImageFolderLoader>();
    registry.register_operator::<ImageMetadataRefiner>();
    registry.register_operator::<ImageTechnicalQualityRefiner>();
    registry.register_operator::<ImageVisualDegradationsRefiner>();
    registry.register_operator::<ImageQualityFilter>();
    registry.register_operator::<ImagePhashRefiner>();
    registry.register_operator::<ImageDecontaminationFilter>();
    registry.register_operator::<ImagePhashDeduplicator>();
}
