//! Instance masks of a mask head (Ultralytics `-seg`): `sigmoid(coefficients x prototypes)` of a
//! kept candidate gives a probability map at the prototypes' resolution; each source pixel of the
//! detection's box samples it bilinearly (pixel centres, as `cv2.resize` and `F.interpolate` do)
//! and is the object where the probability is above the threshold. Pixels outside the box are cut (Ultralytics'
//! `crop_mask`: column `x` is inside when `x1 <= x < x2`). Only the prototype cells under the box
//! are computed; the buffers are reused from frame to frame.

use crate::frame::{Geometry, InstanceMask};

/// One image's prototypes: `k` maps of `w x h`, channel-major.
#[derive(Clone, Copy)]
pub struct Protos<'a> {
    pub data: &'a [f32],
    pub k: usize,
    pub h: usize,
    pub w: usize,
}

pub struct MaskDecoder {
    threshold: f32,
    /// The probability map over the prototype cells under the current box.
    probs: Vec<f32>,
    /// Per source column / row of the box: the two prototype cells and the weight of the second.
    cols: Vec<(usize, usize, f32)>,
    rows: Vec<(usize, usize, f32)>,
}

impl MaskDecoder {
    /// `threshold` in (0, 1): the mask probability a pixel needs.
    pub fn new(threshold: f32) -> MaskDecoder {
        MaskDecoder {
            threshold,
            probs: Vec::new(),
            cols: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// The mask of one candidate: `coefs` its `k` coefficients, `bbox` its box in model-input
    /// pixels, `g` where the `g.dst_w x g.dst_h` input sits in the source frame. `None` when the
    /// box covers no source pixel.
    pub fn mask(
        &mut self,
        coefs: &[f32],
        protos: &Protos,
        bbox: [f32; 4],
        g: &Geometry,
    ) -> Option<InstanceMask> {
        let b = g.box_to_source(bbox);
        // Whole pixels with x1 <= x < x2.
        let span = |lo: f32, hi: f32, max: u32| {
            let a = (lo.ceil().max(0.0) as u32).min(max);
            let e = (hi.ceil().max(0.0) as u32).min(max);
            (a, e.max(a))
        };
        let (x0, x1) = span(b[0], b[2], g.src_w);
        let (y0, y1) = span(b[1], b[3], g.src_h);
        let (w, h) = (x1 - x0, y1 - y0);
        if w == 0 || h == 0 {
            return None;
        }
        // Source pixel centre -> prototype coordinate (half-pixel convention), clamped to the
        // map; the two cells it lies between and the weight of the second.
        let (sx, sy) = (
            protos.w as f32 / g.dst_w as f32,
            protos.h as f32 / g.dst_h as f32,
        );
        let taps = |p: u32, scale: f32, pad: u32, n: usize, to_input: f32| {
            let input = (p as f32 + 0.5) * to_input + pad as f32;
            let u = (input * scale - 0.5).clamp(0.0, (n - 1) as f32);
            let i = u.floor() as usize;
            (i, (i + 1).min(n - 1), u - i as f32)
        };
        self.cols.clear();
        self.cols
            .extend((x0..x1).map(|x| taps(x, sx, g.pad_left, protos.w, g.scale_x)));
        self.rows.clear();
        self.rows
            .extend((y0..y1).map(|y| taps(y, sy, g.pad_top, protos.h, g.scale_y)));
        // The prototype cells those taps touch: a rectangle, its probabilities computed once.
        let (cx0, cx1) = (self.cols[0].0, self.cols[self.cols.len() - 1].1 + 1);
        let (cy0, cy1) = (self.rows[0].0, self.rows[self.rows.len() - 1].1 + 1);
        let cw = cx1 - cx0;
        self.probs.clear();
        self.probs.resize(cw * (cy1 - cy0), 0.0);
        let plane = protos.w * protos.h;
        for (k, &c) in coefs.iter().enumerate().take(protos.k) {
            let p = &protos.data[k * plane..(k + 1) * plane];
            for cy in cy0..cy1 {
                let src = &p[cy * protos.w + cx0..cy * protos.w + cx1];
                let dst = &mut self.probs[(cy - cy0) * cw..(cy - cy0 + 1) * cw];
                for (d, s) in dst.iter_mut().zip(src) {
                    *d += c * s;
                }
            }
        }
        for v in &mut self.probs {
            *v = 1.0 / (1.0 + (-*v).exp());
        }
        let mut bits = vec![0u8; (w * h) as usize];
        let at = |x: usize, y: usize| self.probs[(y - cy0) * cw + (x - cx0)];
        for (r, &(ya, yb, fy)) in self.rows.iter().enumerate() {
            let row = &mut bits[r * w as usize..(r + 1) * w as usize];
            for (bit, &(xa, xb, fx)) in row.iter_mut().zip(&self.cols) {
                let top = at(xa, ya) + (at(xb, ya) - at(xa, ya)) * fx;
                let bottom = at(xa, yb) + (at(xb, yb) - at(xa, yb)) * fx;
                let v = top + (bottom - top) * fy;
                *bit = (v > self.threshold) as u8;
            }
        }
        Some(InstanceMask {
            x: x0,
            y: y0,
            w,
            h,
            bits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::geometry::ResizeMode;

    /// One prototype, positive on its left half: a 8x8 input over a 16x8 frame (letterboxed,
    /// 4 rows of padding above and below), prototypes 4x4.
    #[test]
    fn samples_the_prototypes_inside_the_box_only() {
        let g = Geometry::new(ResizeMode::Letterbox, 16, 8, 8, 8);
        assert_eq!((g.pad_top, g.new_h), (2, 4));
        #[rustfmt::skip]
        let p = [
            5.0, 5.0, -5.0, -5.0,
            5.0, 5.0, -5.0, -5.0,
            5.0, 5.0, -5.0, -5.0,
            5.0, 5.0, -5.0, -5.0,
        ];
        let protos = Protos {
            data: &p,
            k: 1,
            h: 4,
            w: 4,
        };
        let mut d = MaskDecoder::new(0.5);
        // The whole content area: source x 0..16 -> input 0..8; positive left of input x = 4
        // (the probabilities cross 0.5 half-way between prototype columns 1 and 2) = source x < 8.
        let m = d.mask(&[1.0], &protos, [0.0, 2.0, 8.0, 6.0], &g).unwrap();
        assert_eq!((m.x, m.y, m.w, m.h), (0, 0, 16, 8));
        assert_eq!(m.area(), 8 * 8);
        assert!(m.contains(7, 3) && !m.contains(8, 3));
        // A negative coefficient flips it; a box over the right part only cuts the rest.
        let m = d.mask(&[-1.0], &protos, [3.0, 2.0, 8.0, 4.0], &g).unwrap();
        assert_eq!((m.x, m.y, m.w, m.h), (6, 0, 10, 4));
        assert_eq!(m.area(), 8 * 4);
        // A box wholly in the padding has no pixels.
        assert!(d.mask(&[1.0], &protos, [0.0, 0.0, 8.0, 1.5], &g).is_none());
    }

    #[test]
    fn threshold_is_on_the_probability() {
        let g = Geometry::new(ResizeMode::Stretch, 4, 4, 4, 4);
        let p = [0.5f32; 4];
        let protos = Protos {
            data: &p,
            k: 1,
            h: 2,
            w: 2,
        };
        // sigmoid(0.5) = 0.62: in at 0.6, out at 0.65.
        let area = |t: f32| {
            MaskDecoder::new(t)
                .mask(&[1.0], &protos, [0.0, 0.0, 4.0, 4.0], &g)
                .unwrap()
                .area()
        };
        assert_eq!((area(0.6), area(0.65)), (16, 0));
    }
}
