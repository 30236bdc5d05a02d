//! Coarse per-pixel model outputs -> class maps at the source frame's resolution.
//!
//! The source pixel centre `(x + 0.5, y + 0.5)` goes through the preprocessing geometry into
//! model-input pixels and then into output pixels (half-pixel centres, as `cv2.resize` and
//! `align_corners=False`), so a letterbox or a stretch is undone exactly. The per-column and
//! per-row neighbours and weights are computed once per geometry; the per-pixel loops are
//! contiguous, allocate nothing, and work in reused buffers.

use crate::model::preprocess::Geometry;

pub use crate::config::Upsample;

/// One axis of the mapping: for each source index, the two output neighbours, the weight of
/// the second, and the nearest output index.
#[derive(Debug, Default, Clone)]
struct Axis {
    i0: Vec<u32>,
    i1: Vec<u32>,
    t: Vec<f32>,
    nearest: Vec<u32>,
}

impl Axis {
    /// `src` source pixels; input coordinate `u = (s + 0.5) * scale + pad`; `out` output pixels
    /// over `input` input pixels.
    fn new(src: u32, scale: f32, pad: f32, input: u32, out: u32) -> Axis {
        let mut a = Axis::default();
        let k = out as f32 / input as f32;
        let last = out.saturating_sub(1) as f32;
        for s in 0..src {
            let u = (s as f32 + 0.5) * scale + pad;
            let o = (u * k - 0.5).clamp(0.0, last);
            let i0 = o.floor();
            a.i0.push(i0 as u32);
            a.i1.push((i0 as u32 + 1).min(out - 1));
            a.t.push(o - i0);
            a.nearest
                .push(((u * k).floor().max(0.0) as u32).min(out - 1));
        }
        a
    }
}

/// Reused state of one head's upsampling.
#[derive(Debug, Default)]
pub struct Upsampler {
    key: Option<(Geometry, u32, u32)>,
    x: Axis,
    y: Axis,
    /// Horizontally interpolated rows: `[channel][out_row][src_x]`.
    rows: Vec<f32>,
    /// Class map at the output resolution (nearest mode, and class-map outputs).
    coarse: Vec<u8>,
    /// Best logit so far per pixel (nearest mode: per output pixel; bilinear: per source row).
    best: Vec<f32>,
}

impl Upsampler {
    fn prepare(&mut self, g: &Geometry, out_w: u32, out_h: u32) {
        let key = (*g, out_w, out_h);
        if self.key == Some(key) {
            return;
        }
        self.x = Axis::new(g.src_w, g.scale_x, g.pad_left as f32, g.dst_w, out_w);
        self.y = Axis::new(g.src_h, g.scale_y, g.pad_top as f32, g.dst_h, out_h);
        self.key = Some(key);
    }

    /// Logits of shape `[classes, out_h, out_w]` (one image, C order) -> a class per source
    /// pixel in `map` (`src_w * src_h`, row-major).
    pub fn logits(
        &mut self,
        logits: &[f32],
        [classes, out_h, out_w]: [usize; 3],
        g: &Geometry,
        mode: Upsample,
        map: &mut Vec<u8>,
    ) {
        let (out_w, out_h) = (out_w as u32, out_h as u32);
        self.prepare(g, out_w, out_h);
        let (ow, oh) = (out_w as usize, out_h as usize);
        let (sw, sh) = (g.src_w as usize, g.src_h as usize);
        let plane = ow * oh;
        debug_assert!(logits.len() >= classes * plane);
        map.resize(sw * sh, 0);
        match mode {
            Upsample::Nearest => {
                self.coarse.resize(plane, 0);
                argmax_planes(logits, classes, plane, &mut self.best, &mut self.coarse);
                self.nearest_from_coarse(ow, map, sw, sh);
            }
            Upsample::Bilinear if classes == 2 => {
                // Interpolation is linear, so the sign of the interpolated difference of the
                // two logits is the argmax: one channel instead of two.
                self.rows.resize(oh * sw, 0.0);
                let (l0, l1) = (&logits[..plane], &logits[plane..2 * plane]);
                for r in 0..oh {
                    let (a, b) = (&l0[r * ow..(r + 1) * ow], &l1[r * ow..(r + 1) * ow]);
                    let row = &mut self.rows[r * sw..(r + 1) * sw];
                    for (x, v) in row.iter_mut().enumerate() {
                        let (i0, i1, t) =
                            (self.x.i0[x] as usize, self.x.i1[x] as usize, self.x.t[x]);
                        let d0 = b[i0] - a[i0];
                        let d1 = b[i1] - a[i1];
                        *v = d0 + (d1 - d0) * t;
                    }
                }
                for y in 0..sh {
                    let (r0, r1, t) = (self.y.i0[y] as usize, self.y.i1[y] as usize, self.y.t[y]);
                    let (a, b) = (
                        &self.rows[r0 * sw..(r0 + 1) * sw],
                        &self.rows[r1 * sw..(r1 + 1) * sw],
                    );
                    for ((m, &p), &q) in map[y * sw..(y + 1) * sw].iter_mut().zip(a).zip(b) {
                        *m = (p + (q - p) * t > 0.0) as u8;
                    }
                }
            }
            Upsample::Bilinear => {
                self.rows.resize(classes * oh * sw, 0.0);
                for c in 0..classes {
                    let src = &logits[c * plane..(c + 1) * plane];
                    for r in 0..oh {
                        let s = &src[r * ow..(r + 1) * ow];
                        let base = (c * oh + r) * sw;
                        let row = &mut self.rows[base..base + sw];
                        for (x, v) in row.iter_mut().enumerate() {
                            let (p, q) = (s[self.x.i0[x] as usize], s[self.x.i1[x] as usize]);
                            *v = p + (q - p) * self.x.t[x];
                        }
                    }
                }
                self.best.resize(sw, 0.0);
                for y in 0..sh {
                    let (r0, r1, t) = (self.y.i0[y] as usize, self.y.i1[y] as usize, self.y.t[y]);
                    let out = &mut map[y * sw..(y + 1) * sw];
                    // Class-major: the best so far per pixel, then each class in turn replaces it
                    // where larger (first maximum wins on ties, as argmax does).
                    for c in 0..classes {
                        let a = &self.rows[(c * oh + r0) * sw..][..sw];
                        let b = &self.rows[(c * oh + r1) * sw..][..sw];
                        if c == 0 {
                            for ((bv, &p), &q) in self.best.iter_mut().zip(a).zip(b) {
                                *bv = p + (q - p) * t;
                            }
                            out.fill(0);
                            continue;
                        }
                        for (((bv, o), &p), &q) in
                            self.best.iter_mut().zip(out.iter_mut()).zip(a).zip(b)
                        {
                            let v = p + (q - p) * t;
                            let gt = v > *bv;
                            *bv = if gt { v } else { *bv };
                            *o = if gt { c as u8 } else { *o };
                        }
                    }
                }
            }
        }
    }

    /// A class map `[out_h][out_w]` (already argmax'ed in the graph) -> nearest to the source.
    pub fn classes<T: Copy + ClassIndex>(
        &mut self,
        classes: &[T],
        out_w: u32,
        out_h: u32,
        g: &Geometry,
        map: &mut Vec<u8>,
    ) {
        self.prepare(g, out_w, out_h);
        let (ow, oh) = (out_w as usize, out_h as usize);
        self.coarse.resize(ow * oh, 0);
        for (c, &v) in self.coarse.iter_mut().zip(&classes[..ow * oh]) {
            *c = v.class_index();
        }
        let (sw, sh) = (g.src_w as usize, g.src_h as usize);
        map.resize(sw * sh, 0);
        self.nearest_from_coarse(ow, map, sw, sh);
    }

    fn nearest_from_coarse(&self, ow: usize, map: &mut [u8], sw: usize, sh: usize) {
        for y in 0..sh {
            let row = &self.coarse[self.y.nearest[y] as usize * ow..][..ow];
            for (m, &xi) in map[y * sw..(y + 1) * sw].iter_mut().zip(&self.x.nearest) {
                *m = row[xi as usize];
            }
        }
    }
}

/// Per pixel of `plane` pixels, the index of the largest of `classes` planes (first on ties).
fn argmax_planes(
    logits: &[f32],
    classes: usize,
    plane: usize,
    best: &mut Vec<f32>,
    out: &mut [u8],
) {
    out[..plane].fill(0);
    if classes < 2 {
        return;
    }
    best.clear();
    best.extend_from_slice(&logits[..plane]);
    for c in 1..classes {
        let p = &logits[c * plane..(c + 1) * plane];
        for ((b, o), &v) in best.iter_mut().zip(out.iter_mut()).zip(p) {
            if v > *b {
                *b = v;
                *o = c as u8;
            }
        }
    }
}

/// Fraction of the pixels of `map` in each of `classes` classes.
pub fn fractions(map: &[u8], classes: usize, out: &mut Vec<f32>) {
    let n = map.len().max(1) as f32;
    out.clear();
    if classes == 2 {
        // Two classes: two counts that vectorise, instead of a histogram.
        let (zeros, ones) = map.chunks(1 << 16).fold((0u64, 0u64), |(z, o), c| {
            let z1 = c.iter().map(|&v| (v == 0) as u32).sum::<u32>();
            let o1 = c.iter().map(|&v| (v == 1) as u32).sum::<u32>();
            (z + z1 as u64, o + o1 as u64)
        });
        out.push(zeros as f32 / n);
        out.push(ones as f32 / n);
        return;
    }
    let mut counts = [0u64; 256];
    for &c in map {
        counts[c as usize] += 1;
    }
    out.extend(counts[..classes].iter().map(|&c| c as f32 / n));
}

/// A class index as a model writes it (f32 or int64), as a byte.
pub trait ClassIndex {
    fn class_index(self) -> u8;
}

impl ClassIndex for f32 {
    fn class_index(self) -> u8 {
        self.round().clamp(0.0, 255.0) as u8
    }
}

impl ClassIndex for i64 {
    fn class_index(self) -> u8 {
        self.clamp(0, 255) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ResizeMode;

    /// Reference: bilinear of every class, then argmax, one pixel at a time.
    fn slow(logits: &[f32], c: usize, ow: usize, oh: usize, g: &Geometry) -> Vec<u8> {
        let (ax, ay) = (
            Axis::new(g.src_w, g.scale_x, g.pad_left as f32, g.dst_w, ow as u32),
            Axis::new(g.src_h, g.scale_y, g.pad_top as f32, g.dst_h, oh as u32),
        );
        let mut out = vec![];
        for y in 0..g.src_h as usize {
            for x in 0..g.src_w as usize {
                let at =
                    |k: usize, r: u32, q: u32| logits[k * ow * oh + r as usize * ow + q as usize];
                let mut best = (f32::NEG_INFINITY, 0u8);
                for k in 0..c {
                    let top = at(k, ay.i0[y], ax.i0[x]) * (1.0 - ax.t[x])
                        + at(k, ay.i0[y], ax.i1[x]) * ax.t[x];
                    let bot = at(k, ay.i1[y], ax.i0[x]) * (1.0 - ax.t[x])
                        + at(k, ay.i1[y], ax.i1[x]) * ax.t[x];
                    let v = top * (1.0 - ay.t[y]) + bot * ay.t[y];
                    if v > best.0 {
                        best = (v, k as u8);
                    }
                }
                out.push(best.1);
            }
        }
        out
    }

    fn noise(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1 << 24) as f32 - 0.5
            })
            .collect()
    }

    #[test]
    fn same_size_is_the_plain_argmax() {
        let g = Geometry::new(ResizeMode::Stretch, 4, 2, 4, 2);
        // 3 classes over a 4x2 output that equals the source.
        #[rustfmt::skip]
        let l = [
            1.0, 0.0, 0.0, 0.0,  0.0, 0.0, 0.0, 0.0,
            0.0, 1.0, 0.0, 0.0,  0.0, 0.0, 2.0, 0.0,
            0.0, 0.0, 1.0, 0.0,  0.0, 0.0, 0.0, 0.5,
        ];
        let mut u = Upsampler::default();
        let mut m = vec![];
        u.logits(&l, [3, 2, 4], &g, Upsample::Bilinear, &mut m);
        assert_eq!(m, vec![0, 1, 2, 0, 0, 0, 1, 2]);
        u.logits(&l, [3, 2, 4], &g, Upsample::Nearest, &mut m);
        assert_eq!(m, vec![0, 1, 2, 0, 0, 0, 1, 2]);
    }

    #[test]
    fn two_class_shortcut_and_general_path_agree_with_the_slow_reference() {
        // A coarse 5x3 output under a letterboxed 20x9 frame (input 16x16, padding top/bottom).
        let g = Geometry::new(ResizeMode::Letterbox, 20, 9, 16, 16);
        for c in [2usize, 3] {
            let l = noise(c * 5 * 3, c as u32);
            let mut u = Upsampler::default();
            let mut m = vec![];
            u.logits(&l, [c, 3, 5], &g, Upsample::Bilinear, &mut m);
            assert_eq!(m, slow(&l, c, 5, 3, &g), "{c} classes");
        }
    }

    #[test]
    fn nearest_takes_the_output_pixel_under_each_source_centre() {
        // A 2x2 class map under a 4x4 frame: each output pixel covers a 2x2 block.
        let g = Geometry::new(ResizeMode::Stretch, 4, 4, 8, 8);
        let mut u = Upsampler::default();
        let mut m = vec![];
        u.classes(&[1i64, 2, 3, 4], 2, 2, &g, &mut m);
        assert_eq!(m, vec![1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
        let mut f = vec![];
        fractions(&m, 5, &mut f);
        assert_eq!(f, vec![0.0, 0.25, 0.25, 0.25, 0.25]);
    }

    #[test]
    fn letterbox_padding_is_never_sampled() {
        // Output rows 0 and 3 lie in the padding of a 4x2 frame letterboxed into 4x4: class 9
        // there must not appear in the map.
        let g = Geometry::new(ResizeMode::Letterbox, 4, 2, 4, 4);
        #[rustfmt::skip]
        let cm = [
            9.0f32, 9.0, 9.0, 9.0,
            1.0, 1.0, 2.0, 2.0,
            3.0, 3.0, 4.0, 4.0,
            9.0, 9.0, 9.0, 9.0,
        ];
        let mut u = Upsampler::default();
        let mut m = vec![];
        u.classes(&cm, 4, 4, &g, &mut m);
        assert_eq!(m, vec![1, 1, 2, 2, 3, 3, 4, 4]);
    }
}
