//! Decode speed of the two JPEG decoders on a folder of JPEGs, one thread:
//! libjpeg-turbo's decoder as mdf uses it (`mdf_image::decode`, the default `libjpeg` feature)
//! against zune-jpeg through the `image` crate (the decoder without that feature).
//!
//!     cargo run --release -p mdf-image --example jpeg_decode_speed -- DIR [ROUNDS]

use std::time::Instant;

use mdf_image::decode::{decode, DEFAULT_MAX_PIXELS};
use mdf_image::header::read_header;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: jpeg_decode_speed DIR [ROUNDS]")?;
    let rounds: usize = args.next().map_or(Ok(3), |r| r.parse())?;
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "jpg" || e == "jpeg") {
            files.push(std::fs::read(&path)?);
        }
    }
    let pixels: u64 = files
        .iter()
        .map(|f| read_header(f).map_or(0, |h| u64::from(h.width) * u64::from(h.height)))
        .sum();
    println!(
        "{} JPEGs, {:.1} Mpixels, best of {rounds} rounds",
        files.len(),
        pixels as f64 / 1e6
    );
    let mut best = [f64::MAX; 2];
    for _ in 0..rounds {
        let start = Instant::now();
        for f in &files {
            let h = read_header(f).map_err(|e| format!("{e:?}"))?;
            decode(f, &h, DEFAULT_MAX_PIXELS)?;
        }
        best[0] = best[0].min(start.elapsed().as_secs_f64());
        let start = Instant::now();
        for f in &files {
            image::load_from_memory_with_format(f, image::ImageFormat::Jpeg)?;
        }
        best[1] = best[1].min(start.elapsed().as_secs_f64());
    }
    for (name, secs) in [
        ("mdf_image::decode (libjpeg)", best[0]),
        ("zune-jpeg (image crate)", best[1]),
    ] {
        println!(
            "{name:32} {secs:7.2} s  {:7.1} images/s  {:6.1} Mpixel/s",
            files.len() as f64 / secs,
            pixels as f64 / 1e6 / secs
        );
    }
    println!("libjpeg / zune time: {:.2}x", best[0] / best[1]);
    Ok(())
}
