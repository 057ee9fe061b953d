//! Helpers shared by the HTML integration tests: a fixed-seed PRNG, seed pages (synthetic plus,
//! when the shared article set is beside the repo, real ones) and random mutations of a page.

#![allow(dead_code)]

use std::io::Read;
use std::path::Path;

pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

pub const FRAGMENTS: &[&[u8]] = &[
    b"<div class=\"comments\">",
    b"</div>",
    b"<p>",
    b"</p>",
    b"<table><tr><td>",
    b"</td></tr>",
    b"<br>",
    b"<pre>",
    b"</pre>",
    b"<script>",
    b"</script>",
    b"<!--",
    b"-->",
    b"<![CDATA[",
    b"<svg><foreignObject><p>",
    b"<math><mi>",
    b"<template>",
    b"<select><option>",
    b"<a href=x>",
    b"</a>",
    b"<li>",
    b"<ul>",
    b"&amp;",
    b"&#x110000;",
    b"&nbsp",
    b"<meta charset=shift_jis>",
    b"<meta charset=utf-16>",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"\xc3",
    b"\xe6\x97",
    b"\x00",
    b"<frameset>",
    b"<noscript>",
    b"<h1>",
    b"<article>",
    b"<nav>",
    b"<b><i><u>",
    b"</b></i>",
    b"<plaintext>",
    b"<textarea>",
    b"<style>",
    b"<!DOCTYPE html>",
    b"<html lang=x>",
];

pub const SEEDS: &[&str] = &[
    "<html><head><title>T</title><meta charset=utf-8></head><body><nav><a href=/>Home</a></nav>\
     <article><h1>T</h1><p>First paragraph, with commas, long enough to be scored.</p>\
     <table><tr><th>a</th><td>b</td></tr></table><ul><li>x</li><li>y</li></ul>\
     <pre>code  here</pre></article><div id=comments><p>A comment.</p></div>\
     <footer>Footer</footer></body></html>",
    "<p>one<p>two<div>three<span>four</div>five</span><table><td>cell</table>",
    "<!doctype html><body><div class=content>Loose text<br><br>more<div>nested \
     <b>bold <i>both</b> italic</i></div></div>",
];

/// The synthetic seeds and the first `real` pages of the article set (whole when `max_len` is
/// `usize::MAX`).
pub fn seeds_with(real: usize, max_len: usize) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = SEEDS.iter().map(|s| s.as_bytes().to_vec()).collect();
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/article-extraction/html");
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths.iter().take(real) {
            let mut body = Vec::new();
            if let Ok(f) = std::fs::File::open(p) {
                if flate2::read::GzDecoder::new(f)
                    .read_to_end(&mut body)
                    .is_ok()
                {
                    body.truncate(max_len);
                    out.push(body);
                }
            }
        }
    }
    out
}

/// 1–8 random mutations: byte flips, deletions, duplicated slices, inserted fragments, truncation.
pub fn mutate(rng: &mut XorShift, page: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(8) {
        let len = page.len();
        match rng.below(6) {
            0 if len > 0 => {
                let i = rng.below(len);
                page[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let a = rng.below(len);
                let b = (a + rng.below(64)).min(len);
                page.drain(a..b);
            }
            2 if len > 0 => {
                let a = rng.below(len);
                let b = (a + rng.below(256)).min(len);
                let slice = page[a..b].to_vec();
                let at = rng.below(len);
                let times = 1 + rng.below(4);
                for _ in 0..times {
                    page.splice(at..at, slice.iter().copied());
                }
            }
            3 => {
                let frag = FRAGMENTS[rng.below(FRAGMENTS.len())];
                let at = rng.below(len + 1);
                page.splice(at..at, frag.iter().copied());
            }
            4 if len > 0 => page.truncate(rng.below(len)),
            _ => {
                let at = rng.below(len + 1);
                let byte = (rng.next() & 0xff) as u8;
                page.insert(at, byte);
            }
        }
    }
}

/// The synthetic seeds plus the first 64 KiB of four real pages (quick iterations).
pub fn seeds() -> Vec<Vec<u8>> {
    seeds_with(4, 64 * 1024)
}
