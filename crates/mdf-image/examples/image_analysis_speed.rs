//! Where the per-image CPU goes in the image profiling stage (decode once -> luma -> pHash ->
//! technical quality), one thread, on a folder of images. Prints milliseconds per image for each
//! step, best of ROUNDS, plus a digest of every result so that a speed change which alters an
//! output shows up as a different digest.
//!
//!     cargo run --release -p mdf-image --example image_analysis_speed -- DIR [ROUNDS]

use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Instant;

use mdf_image::decode::{decode, DEFAULT_MAX_PIXELS};
use mdf_image::hashes::{hash, HashKind};
use mdf_image::header::read_header;
use mdf_image::quality::{measure_with_colour, rgb_to_l_and_opponent_sums, OpponentSums};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: image_analysis_speed DIR [ROUNDS]")?;
    let rounds: usize = args.next().map_or(Ok(3), |r| r.parse())?;
    let mut paths: Vec<_> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.sort();
    let files: Vec<Vec<u8>> = paths.iter().map(std::fs::read).collect::<Result<_, _>>()?;
    let steps = ["decode", "luma+colour", "phash", "quality"];
    let mut best = [f64::MAX; 4];
    let mut digest = 0u64;
    // Reused across images, as the analyser reuses its per-thread buffer.
    let mut l = Vec::new();
    for _ in 0..rounds {
        let mut spent = [0f64; 4];
        let mut hasher = DefaultHasher::new();
        for f in &files {
            let t = Instant::now();
            let h = read_header(f)?;
            let p = decode(f, &h, DEFAULT_MAX_PIXELS)?;
            spent[0] += t.elapsed().as_secs_f64();
            let t = Instant::now();
            // As the analyser does it: the opponent sums are taken in the luma pass.
            let colour = if p.channels == 3 {
                rgb_to_l_and_opponent_sums(&p.data, &mut l)
            } else {
                l.clone_from(&p.data);
                OpponentSums::default()
            };
            spent[1] += t.elapsed().as_secs_f64();
            let t = Instant::now();
            let ph = hash(HashKind::Phash, 8, &l, p.width, p.height);
            spent[2] += t.elapsed().as_secs_f64();
            let t = Instant::now();
            let q = measure_with_colour(&h, f.len(), &p, &l, &colour);
            spent[3] += t.elapsed().as_secs_f64();
            ph.to_hex().hash(&mut hasher);
            format!("{q:?}").hash(&mut hasher);
        }
        digest = hasher.finish();
        for (b, s) in best.iter_mut().zip(spent) {
            *b = b.min(s);
        }
    }
    let n = files.len() as f64;
    println!("{} images, best of {rounds} rounds", files.len());
    for (name, secs) in steps.iter().zip(best) {
        println!("{name:11} {:7.3} ms/image", secs * 1e3 / n);
    }
    println!(
        "total       {:7.3} ms/image",
        best.iter().sum::<f64>() * 1e3 / n
    );
    println!("digest of hashes and measures: {digest:016x}");
    Ok(())
}
