//! I420 -> packed BGR exactly as FFmpeg's swscale converts it on x86-64 (its SIMD
//! `yuv420p -> bgr24` path, BT.601 limited range), which is what `cv2.VideoCapture` hands a
//! Python loop. Same pixels as the Python references users compare against, not just close:
//! FastestDet's low-score boxes flip at IoU 0.9 on the 1.5 levels a pixel GStreamer's
//! `videoconvert` differs by (issue 23).
//!
//! In swscale's 16-bit arithmetic: `y = mulhi(8 Y - 128, cy)`, `r = y + mulhi(8 V - 1024, v2r)`,
//! `g = y + mulhi(8 U - 1024, u2g) + mulhi(8 V - 1024, v2g)`, `b = y + mulhi(8 U - 1024, u2b)`,
//! saturated to 0..255, where `mulhi(a, c) = (a c) >> 16` and the coefficients are BT.601's
//! in Q13 (`1.1644 * 8192` and so on). Chroma is nearest: each U, V sample serves a 2x2 block.

/// BT.601 limited-range coefficients in Q13, as swscale derives them.
const CY: i32 = 9539;
const V2R: i32 = 13075;
const U2B: i32 = 16525;
const U2G: i32 = -3209;
const V2G: i32 = -6660;

const fn mulhi(a: i32, c: i32) -> i32 {
    (a * c) >> 16
}

/// Every term of the conversion depends on one byte: tabulated once, at compile time.
struct Tables {
    y: [i16; 256],
    u2b: [i16; 256],
    u2g: [i16; 256],
    v2g: [i16; 256],
    v2r: [i16; 256],
}

const fn tables() -> Tables {
    let mut t = Tables {
        y: [0; 256],
        u2b: [0; 256],
        u2g: [0; 256],
        v2g: [0; 256],
        v2r: [0; 256],
    };
    let mut i = 0;
    while i < 256 {
        let c = i as i32 * 8 - 1024;
        t.y[i] = mulhi(i as i32 * 8 - 128, CY) as i16;
        t.u2b[i] = mulhi(c, U2B) as i16;
        t.u2g[i] = mulhi(c, U2G) as i16;
        t.v2g[i] = mulhi(c, V2G) as i16;
        t.v2r[i] = mulhi(c, V2R) as i16;
        i += 1;
    }
    t
}

static T: Tables = tables();

#[inline(always)]
fn sat(v: i16) -> u8 {
    v.clamp(0, 255) as u8
}

/// One I420 frame's planes with their strides (bytes a row).
pub struct I420<'a> {
    pub y: (&'a [u8], usize),
    pub u: (&'a [u8], usize),
    pub v: (&'a [u8], usize),
    pub width: usize,
    pub height: usize,
}

#[inline(always)]
fn pixel(px: &mut [u8], y: u8, (b, g, r): (i16, i16, i16)) {
    let y = T.y[y as usize];
    px[0] = sat(y + b);
    px[1] = sat(y + g);
    px[2] = sat(y + r);
}

/// Appends the frame as packed BGR (`width * 3` bytes a row) to `out`.
pub fn i420_to_bgr(f: &I420, out: &mut Vec<u8>) {
    let (w, h) = (f.width, f.height);
    out.resize(out.len() + w * h * 3, 0);
    let start = out.len() - w * h * 3;
    let dst = &mut out[start..];
    let cw = w.div_ceil(2);
    for row in 0..h {
        let ys = &f.y.0[row * f.y.1..row * f.y.1 + w];
        let us = &f.u.0[(row / 2) * f.u.1..(row / 2) * f.u.1 + cw];
        let vs = &f.v.0[(row / 2) * f.v.1..(row / 2) * f.v.1 + cw];
        let d = &mut dst[row * w * 3..(row + 1) * w * 3];
        // Two pixels share one chroma sample.
        let pairs = d.chunks_exact_mut(6).zip(ys.chunks_exact(2));
        for ((px, y), (&u, &v)) in pairs.zip(us.iter().zip(vs)) {
            let c = (
                T.u2b[u as usize],
                T.u2g[u as usize] + T.v2g[v as usize],
                T.v2r[v as usize],
            );
            pixel(&mut px[..3], y[0], c);
            pixel(&mut px[3..], y[1], c);
        }
        if w % 2 == 1 {
            let (u, v) = (us[cw - 1] as usize, vs[cw - 1] as usize);
            let c = (T.u2b[u], T.u2g[u] + T.v2g[v], T.v2r[v]);
            pixel(&mut d[(w - 1) * 3..], ys[w - 1], c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(w: usize, h: usize, y: &[u8], u: &[u8], v: &[u8]) -> Vec<u8> {
        let cw = w.div_ceil(2);
        let mut out = vec![1, 2, 3];
        i420_to_bgr(
            &I420 {
                y: (y, w),
                u: (u, cw),
                v: (v, cw),
                width: w,
                height: h,
            },
            &mut out,
        );
        assert_eq!(&out[..3], &[1, 2, 3], "appends");
        out[3..].to_vec()
    }

    #[test]
    fn limited_range_black_white_and_primaries() {
        // Black (16), white (235), grey (126); no chroma.
        let out = convert(2, 2, &[16, 235, 126, 126], &[128], &[128]);
        assert_eq!(out, [0, 0, 0, 255, 255, 255, 128, 128, 128, 128, 128, 128]);
        // BT.601 red (Y 81, U 90, V 240) and blue (Y 41, U 240, V 110) come out saturated
        // within two levels.
        let red = convert(1, 1, &[81], &[90], &[240]);
        assert!(red[2] >= 253 && red[1] <= 2 && red[0] <= 2, "{red:?}");
        let blue = convert(1, 1, &[41], &[240], &[110]);
        assert!(blue[0] >= 253 && blue[1] <= 2 && blue[2] <= 2, "{blue:?}");
    }

    #[test]
    fn chroma_serves_a_two_by_two_block_and_odd_sizes_work() {
        // 3x3 luma, 2x2 chroma; the right column and bottom row share the last samples.
        let y = [100u8; 9];
        let u = [128u8, 200, 128, 128];
        let v = [128u8; 4];
        let out = convert(3, 3, &y, &u, &v);
        let px = |x: usize, r: usize| &out[(r * 3 + x) * 3..(r * 3 + x) * 3 + 3];
        assert_eq!(px(0, 0), px(1, 1));
        assert_eq!(px(2, 0), px(2, 1));
        assert!(px(2, 0)[0] > px(0, 0)[0], "more blue where U is higher");
        assert_eq!(px(0, 2), px(0, 0));
    }
}
