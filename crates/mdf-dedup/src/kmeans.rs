//! Deterministic spherical k-means on L2-normalised vectors (the clustering SemDedup runs with
//! faiss `spherical=True`): seeded k-means++ initialisation, then a fixed number of Lloyd
//! iterations (stopping early only when no assignment changes), each centroid the normalised
//! mean of its members. Everything is sequential in a fixed order, so the centroids depend only
//! on the points (in their given order), `k`, the iteration count and the seed.

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Dot product of two equal-length vectors, 16 independent lanes so the compiler vectorises it.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    let mut acc = [0f32; LANES];
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Dot products of `a` with four vectors of its length at once: each load of `a` is used four
/// times, which roughly doubles the speed of the portable (SSE2) code over four [`dot`]s.
pub fn dot4(a: &[f32], b: [&[f32]; 4]) -> [f32; 4] {
    const LANES: usize = 8;
    let mut acc = [[0f32; LANES]; 4];
    let [b0, b1, b2, b3] = b;
    let rows = a
        .chunks_exact(LANES)
        .zip(b0.chunks_exact(LANES))
        .zip(b1.chunks_exact(LANES))
        .zip(b2.chunks_exact(LANES))
        .zip(b3.chunks_exact(LANES));
    for ((((x, y0), y1), y2), y3) in rows {
        for l in 0..LANES {
            acc[0][l] += x[l] * y0[l];
            acc[1][l] += x[l] * y1[l];
            acc[2][l] += x[l] * y2[l];
            acc[3][l] += x[l] * y3[l];
        }
    }
    let tail = a.len() / LANES * LANES;
    let mut out = [0f32; 4];
    for (k, bk) in b.iter().enumerate() {
        let rest = a.get(tail..).unwrap_or_default();
        let t: f32 = rest
            .iter()
            .zip(bk.get(tail..).unwrap_or_default())
            .map(|(x, y)| x * y)
            .sum();
        out[k] = acc[k].iter().sum::<f32>() + t;
    }
    out
}

/// Scales `v` to unit length; `false` (and `v` unchanged) when its norm is zero or not finite.
pub fn normalize(v: &mut [f32]) -> bool {
    let norm = dot(v, v).sqrt();
    if !(norm.is_finite() && norm > 0.0) {
        return false;
    }
    v.iter_mut().for_each(|x| *x /= norm);
    true
}

/// `k` unit centroids of dimension `dim`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Centroids {
    pub dim: usize,
    pub values: Vec<f32>,
}

impl Centroids {
    pub fn len(&self) -> usize {
        self.values.len().checked_div(self.dim).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }

    /// The centroid with the highest dot product with `v` (ties: the lowest index).
    pub fn nearest(&self, v: &[f32]) -> usize {
        let d = self.dim;
        if d == 0 {
            return 0;
        }
        let mut best = (0, f32::NEG_INFINITY);
        let mut consider = |i: usize, s: f32| {
            if s > best.1 {
                best = (i, s);
            }
        };
        let rows = self.values.chunks_exact(d);
        let blocks = rows.len() / 4;
        for (b, quad) in self.values.chunks_exact(4 * d).enumerate() {
            let sims = dot4(
                v,
                [
                    &quad[..d],
                    &quad[d..2 * d],
                    &quad[2 * d..3 * d],
                    &quad[3 * d..],
                ],
            );
            for (k, s) in sims.into_iter().enumerate() {
                consider(4 * b + k, s);
            }
        }
        for (i, c) in rows.enumerate().skip(4 * blocks) {
            consider(i, dot(v, c));
        }
        best.0
    }

    /// `k u32 · dim u32 · k × dim f32`, little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 4 * self.values.len());
        out.extend_from_slice(&(self.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.dim as u32).to_le_bytes());
        for v in &self.values {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Centroids> {
        let k = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
        let dim = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?) as usize;
        let body = bytes.get(8..)?;
        if body.len() != 4 * k.checked_mul(dim)? {
            return None;
        }
        Some(Centroids {
            dim,
            values: f32s_of(body),
        })
    }
}

/// Little-endian f32s (any alignment).
pub fn f32s_of(bytes: &[u8]) -> Vec<f32> {
    let mut out = Vec::with_capacity(bytes.len() / 4);
    extend_f32s(bytes, &mut out);
    out
}

/// Appends the little-endian f32s of `bytes` to `out`.
pub fn extend_f32s(bytes: &[u8], out: &mut Vec<f32>) {
    out.extend(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
    );
}

/// A stable stream of uniform numbers: xxh3 of a counter under the seed.
struct Stream {
    seed: u64,
    counter: u64,
}

impl Stream {
    /// Uniform in [0, 1).
    fn next_unit(&mut self) -> f64 {
        self.counter += 1;
        (xxh3_64_with_seed(&self.counter.to_le_bytes(), self.seed) >> 11) as f64
            / (1u64 << 53) as f64
    }
}

/// Fits `k` centroids (fewer when there are fewer points) to `points` (n unit vectors of
/// dimension `dim`, row-major).
pub fn fit(points: &[f32], dim: usize, k: usize, iterations: usize, seed: u64) -> Centroids {
    let n = points.len().checked_div(dim).unwrap_or(0);
    let k = k.min(n);
    let row = |i: usize| &points[i * dim..(i + 1) * dim];
    let mut centroids = Centroids {
        dim,
        values: Vec::with_capacity(k * dim),
    };
    if k == 0 {
        return centroids;
    }
    // k-means++: each next centroid drawn with probability ∝ squared distance (2 − 2·cos for
    // unit vectors) to the nearest centroid so far.
    let mut stream = Stream { seed, counter: 0 };
    let first = ((stream.next_unit() * n as f64) as usize).min(n - 1);
    centroids.values.extend_from_slice(row(first));
    let mut nearest_d2: Vec<f64> = (0..n)
        .map(|i| f64::from(2.0 - 2.0 * dot(row(i), row(first))).max(0.0))
        .collect();
    while centroids.len() < k {
        let total: f64 = nearest_d2.iter().sum();
        let pick = if total > 0.0 {
            let mut target = stream.next_unit() * total;
            let mut pick = n - 1;
            for (i, d2) in nearest_d2.iter().enumerate() {
                if target < *d2 {
                    pick = i;
                    break;
                }
                target -= d2;
            }
            pick
        } else {
            // Every point sits on a centroid already: any point will do.
            ((stream.next_unit() * n as f64) as usize).min(n - 1)
        };
        centroids.values.extend_from_slice(row(pick));
        for (i, d2) in nearest_d2.iter_mut().enumerate() {
            *d2 = d2.min(f64::from(2.0 - 2.0 * dot(row(i), row(pick))).max(0.0));
        }
    }
    // Lloyd iterations.
    let mut assignment = vec![usize::MAX; n];
    let mut sums = vec![0f64; k * dim];
    for _ in 0..iterations {
        let mut changed = false;
        for (i, a) in assignment.iter_mut().enumerate() {
            let c = centroids.nearest(row(i));
            changed |= *a != c;
            *a = c;
        }
        if !changed {
            break;
        }
        sums.fill(0.0);
        for (i, &c) in assignment.iter().enumerate() {
            for (s, x) in sums[c * dim..(c + 1) * dim].iter_mut().zip(row(i)) {
                *s += f64::from(*x);
            }
        }
        for c in 0..k {
            let sum = &sums[c * dim..(c + 1) * dim];
            let norm = sum.iter().map(|s| s * s).sum::<f64>().sqrt();
            // An empty cluster (or one whose members cancel out) keeps its centroid.
            if norm > 0.0 {
                for (v, s) in centroids.values[c * dim..(c + 1) * dim].iter_mut().zip(sum) {
                    *v = (s / norm) as f32;
                }
            }
        }
    }
    centroids
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// `n` unit vectors around `groups` well-separated directions.
    fn blobs(n: usize, dim: usize, groups: usize) -> Vec<f32> {
        let mut stream = Stream {
            seed: 99,
            counter: 0,
        };
        let mut out = Vec::new();
        for i in 0..n {
            let mut v: Vec<f32> = (0..dim)
                .map(|_| 0.05 * (stream.next_unit() as f32 - 0.5))
                .collect();
            v[i % groups] += 1.0;
            assert!(normalize(&mut v));
            out.extend(v);
        }
        out
    }

    #[test]
    fn fitting_is_deterministic_and_finds_separated_groups() {
        let points = blobs(300, 16, 4);
        let a = fit(&points, 16, 4, 10, 7);
        assert_eq!(a, fit(&points, 16, 4, 10, 7));
        assert_eq!(a.len(), 4);
        // Each group's points share a centroid, and the groups get different ones.
        let of = |i: usize| a.nearest(&points[i * 16..(i + 1) * 16]);
        let mut seen: Vec<usize> = (0..4).map(of).collect();
        for i in 0..300 {
            assert_eq!(of(i), seen[i % 4]);
        }
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 4);
        // Another seed may pick other initial points, but converges to the same partition here.
        let b = fit(&points, 16, 4, 10, 8);
        for i in 0..8 {
            for j in 0..8 {
                let same = |c: &Centroids| {
                    c.nearest(&points[i * 16..(i + 1) * 16])
                        == c.nearest(&points[j * 16..(j + 1) * 16])
                };
                assert_eq!(same(&a), same(&b));
            }
        }
    }

    #[test]
    fn fewer_points_than_clusters_and_identical_points() {
        let points = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0];
        let c = fit(&points, 2, 10, 5, 1);
        assert_eq!(c.len(), 3);
        assert_eq!(c.nearest(&[0.0, 1.0]), c.nearest(&points[4..]));
        assert!(fit(&[], 2, 10, 5, 1).is_empty());
        let round = Centroids::from_bytes(&c.to_bytes()).unwrap();
        assert_eq!(round, c);
        assert!(Centroids::from_bytes(&c.to_bytes()[..9]).is_none());
    }

    #[test]
    fn normalize_refuses_zero_and_nan() {
        let mut v = [3.0, 4.0];
        assert!(normalize(&mut v));
        assert!((dot(&v, &v) - 1.0).abs() < 1e-6);
        assert!(!normalize(&mut [0.0, 0.0]));
        assert!(!normalize(&mut [f32::NAN, 1.0]));
        let long: Vec<f32> = (0..37).map(|i| i as f32).collect();
        let want: f32 = long.iter().map(|x| x * x).sum();
        assert_eq!(dot(&long, &long), want);
        let rev: Vec<f32> = long.iter().rev().copied().collect();
        let four = dot4(&long, [&long, &rev, &rev, &long]);
        assert_eq!(four[0], want);
        assert_eq!(four[1], dot(&long, &rev));
        assert_eq!(four[3], want);
    }
}
