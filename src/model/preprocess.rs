//! Frame -> model input: letterbox or stretch with OpenCV, then HWC u8 -> NCHW f32 through a
//! per-channel lookup table (scale, mean, std folded in), into a reused tensor buffer.

use crate::config::{ColorOrder, Interpolation, ResizeMode};
pub use crate::frame::geometry::Geometry;
use opencv::core::{Mat, Size};
use opencv::prelude::*;

/// How a model wants its input.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    /// The tensor size; unused when `native`.
    pub width: u32,
    pub height: u32,
    /// The tensor is made at each frame's own size (models with a dynamic input size and no
    /// size configured, such as torchvision's Faster R-CNN).
    pub native: bool,
    pub resize: ResizeMode,
    pub interpolation: Interpolation,
    pub pad_value: u8,
    pub color: ColorOrder,
    pub scale: f32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

/// The frame size a model whose input takes any size is warmed up and timed at.
pub const PROBE_FRAME: (u32, u32) = (640, 480);

impl InputSpec {
    /// Where a probe image (warm-up, timing) sits: the input size, or `PROBE_FRAME` for an
    /// input of any size; no resize.
    pub fn probe_geometry(&self) -> Geometry {
        let (w, h) = self.size_for(PROBE_FRAME.0, PROBE_FRAME.1);
        Geometry::new(self.resize, w, h, w, h)
    }

    /// The tensor size for a frame of `w x h`.
    pub fn size_for(&self, w: u32, h: u32) -> (u32, u32) {
        if self.native {
            (w, h)
        } else {
            (self.width, self.height)
        }
    }

    /// Elements of the tensor for a frame of `w x h`.
    pub fn tensor_len(&self, w: u32, h: u32) -> usize {
        let (w, h) = self.size_for(w, h);
        3 * w as usize * h as usize
    }
}

#[derive(Debug, thiserror::Error)]
#[error("preprocessing failed: {0}")]
pub struct PreprocessError(#[from] opencv::Error);

/// One per preprocessing stage: owns the resize scratch buffer and the lookup tables.
pub struct Preprocessor {
    spec: InputSpec,
    /// `lut[c][v]`: the tensor value of byte `v` in tensor channel `c`.
    lut: [[f32; 256]; 3],
    resized: Mat,
}

impl Preprocessor {
    pub fn new(spec: InputSpec) -> Preprocessor {
        let mut lut = [[0f32; 256]; 3];
        for (c, table) in lut.iter_mut().enumerate() {
            for (v, out) in table.iter_mut().enumerate() {
                *out = (v as f32 * spec.scale - spec.mean[c]) / spec.std[c];
            }
        }
        Preprocessor {
            spec,
            lut,
            resized: Mat::default(),
        }
    }

    pub fn spec(&self) -> &InputSpec {
        &self.spec
    }

    /// Fills `out` (length `3 * w * h`, NCHW) from a packed BGR image; returns the geometry.
    pub fn run(
        &mut self,
        bgr: &[u8],
        width: u32,
        height: u32,
        out: &mut [f32],
    ) -> Result<Geometry, PreprocessError> {
        let s = &self.spec;
        let (dw, dh) = s.size_for(width, height);
        let g = Geometry::new(s.resize, width, height, dw, dh);
        assert_eq!(bgr.len(), (width * height * 3) as usize, "packed BGR frame");
        assert_eq!(
            out.len(),
            s.tensor_len(width, height),
            "tensor buffer sized for the model input"
        );
        // SAFETY: `bgr` outlives `src`, which only reads it; the step is the packed row length.
        let src = unsafe {
            Mat::new_rows_cols_with_data_unsafe(
                height as i32,
                width as i32,
                opencv::core::CV_8UC3,
                bgr.as_ptr() as *mut std::ffi::c_void,
                (width * 3) as usize,
            )?
        };
        let (content, step): (&[u8], usize) = if (g.new_w, g.new_h) == (width, height) {
            (bgr, width as usize * 3)
        } else {
            opencv::imgproc::resize(
                &src,
                &mut self.resized,
                Size::new(g.new_w as i32, g.new_h as i32),
                0.0,
                0.0,
                match s.interpolation {
                    Interpolation::Linear => opencv::imgproc::INTER_LINEAR,
                    Interpolation::Area => opencv::imgproc::INTER_AREA,
                    Interpolation::Nearest => opencv::imgproc::INTER_NEAREST,
                    Interpolation::Cubic => opencv::imgproc::INTER_CUBIC,
                },
            )?;
            let step = self.resized.step1(0)?;
            (self.resized.data_bytes()?, step)
        };
        write_tensor(&self.lut, s.color, s.pad_value, &g, content, step, out);
        Ok(g)
    }
}

/// Packed or strided BGR content -> NCHW tensor with padding around it.
fn write_tensor(
    lut: &[[f32; 256]; 3],
    color: ColorOrder,
    pad: u8,
    g: &Geometry,
    content: &[u8],
    step: usize,
    out: &mut [f32],
) {
    let (w, h) = (g.dst_w as usize, g.dst_h as usize);
    let plane = w * h;
    let (left, top) = (g.pad_left as usize, g.pad_top as usize);
    let (nw, nh) = (g.new_w as usize, g.new_h as usize);
    for c in 0..3 {
        // Tensor channel c reads BGR byte `src_c`.
        let src_c = match color {
            ColorOrder::Bgr => c,
            ColorOrder::Rgb => 2 - c,
        };
        let table = &lut[c];
        let pad_v = table[pad as usize];
        let dst = &mut out[c * plane..(c + 1) * plane];
        for y in 0..h {
            let row = &mut dst[y * w..(y + 1) * w];
            if y < top || y >= top + nh {
                row.fill(pad_v);
                continue;
            }
            row[..left].fill(pad_v);
            row[left + nw..].fill(pad_v);
            let src = &content[(y - top) * step..(y - top) * step + nw * 3];
            for (o, px) in row[left..left + nw].iter_mut().zip(src.chunks_exact(3)) {
                *o = table[px[src_c] as usize];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(resize: ResizeMode, color: ColorOrder, w: u32, h: u32) -> InputSpec {
        InputSpec {
            width: w,
            height: h,
            native: false,
            resize,
            interpolation: Interpolation::Linear,
            pad_value: 114,
            color,
            scale: 1.0 / 255.0,
            mean: [0.0; 3],
            std: [1.0; 3],
        }
    }

    #[test]
    fn letterbox_geometry_centres_and_inverts() {
        let g = Geometry::new(ResizeMode::Letterbox, 960, 540, 640, 640);
        assert_eq!(
            (g.new_w, g.new_h, g.pad_left, g.pad_top),
            (640, 360, 0, 140)
        );
        let (x, y) = g.to_source(320.0, 320.0);
        assert!(
            (x - 480.0).abs() < 1e-3 && (y - 270.0).abs() < 1e-3,
            "{x},{y}"
        );
        for (sx, sy) in [(0.0, 0.0), (959.0, 539.0), (123.4, 456.7)] {
            let (ix, iy) = g.to_input(sx, sy);
            let (bx, by) = g.to_source(ix, iy);
            assert!((bx - sx).abs() < 1e-3 && (by - sy).abs() < 1e-3);
        }
        // A tall frame pads left and right.
        let g = Geometry::new(ResizeMode::Letterbox, 540, 960, 320, 320);
        assert_eq!((g.new_w, g.new_h, g.pad_left, g.pad_top), (180, 320, 70, 0));
        // Boxes in the padding clamp to the frame.
        assert_eq!(
            g.box_to_source([0.0, 0.0, 320.0, 320.0]),
            [0.0, 0.0, 540.0, 960.0]
        );
    }

    #[test]
    fn top_left_letterbox_truncates_and_pads_right_and_bottom() {
        // YOLOX: r = min(640/1000, 640/700) = 0.64; 1000x700 -> 640x448, content at (0, 0).
        let g = Geometry::new(ResizeMode::LetterboxTopLeft, 1000, 700, 640, 640);
        assert_eq!((g.new_w, g.new_h, g.pad_left, g.pad_top), (640, 448, 0, 0));
        // 333 * 0.64 = 213.12 -> 213 (truncated), where the centred letterbox rounds.
        let g = Geometry::new(ResizeMode::LetterboxTopLeft, 1000, 333, 640, 640);
        assert_eq!(g.new_h, 213);
        let (x, y) = g.to_source(320.0, 100.0);
        assert!(
            (x - 500.0).abs() < 1e-3 && (y - 156.25).abs() < 1e-3,
            "{x},{y}"
        );
    }

    #[test]
    fn native_input_keeps_the_frame_size() {
        let mut s = spec(ResizeMode::Stretch, ColorOrder::Rgb, 0, 0);
        s.native = true;
        assert_eq!(s.tensor_len(4, 2), 24);
        let bgr: Vec<u8> = [10u8, 20, 30].repeat(8);
        let mut out = vec![0f32; 24];
        let g = Preprocessor::new(s).run(&bgr, 4, 2, &mut out).unwrap();
        assert_eq!((g.dst_w, g.dst_h, g.scale_x, g.scale_y), (4, 2, 1.0, 1.0));
        assert!((out[0] - 30.0 / 255.0).abs() < 1e-6, "R first");
    }

    #[test]
    fn stretch_geometry_scales_each_axis() {
        let g = Geometry::new(ResizeMode::Stretch, 960, 540, 352, 352);
        let (x, y) = g.to_source(176.0, 176.0);
        assert!((x - 480.0).abs() < 1e-3 && (y - 270.0).abs() < 1e-3);
    }

    #[test]
    fn letterbox_tensor_has_padding_content_and_channel_order() {
        // A 4x2 frame of pure blue (BGR 255,0,0) into 4x4: content rows 1..3, padding rows 0 and 3.
        let bgr: Vec<u8> = [255u8, 0, 0].repeat(8);
        let mut p = Preprocessor::new(spec(ResizeMode::Letterbox, ColorOrder::Rgb, 4, 4));
        let mut out = vec![0f32; 48];
        let g = p.run(&bgr, 4, 2, &mut out).unwrap();
        assert_eq!((g.pad_top, g.new_h), (1, 2));
        let pad = 114.0 / 255.0;
        let at = |out: &[f32], c: usize, y: usize, x: usize| out[c * 16 + y * 4 + x];
        for x in 0..4 {
            assert!(
                (at(&out, 0, 0, x) - pad).abs() < 1e-6 && (at(&out, 2, 3, x) - pad).abs() < 1e-6
            );
            // RGB: channel 2 is blue.
            assert_eq!(at(&out, 2, 1, x), 1.0);
            assert_eq!(at(&out, 0, 1, x), 0.0);
        }
        // BGR keeps blue first.
        let mut p = Preprocessor::new(spec(ResizeMode::Letterbox, ColorOrder::Bgr, 4, 4));
        p.run(&bgr, 4, 2, &mut out).unwrap();
        assert_eq!(at(&out, 0, 2, 0), 1.0);
    }

    #[test]
    fn mean_and_std_apply() {
        let bgr = vec![100u8; 12];
        let mut s = spec(ResizeMode::Stretch, ColorOrder::Bgr, 2, 2);
        s.scale = 1.0;
        s.mean = [50.0, 0.0, 0.0];
        s.std = [2.0, 1.0, 1.0];
        let mut out = vec![0f32; 12];
        Preprocessor::new(s).run(&bgr, 2, 2, &mut out).unwrap();
        assert_eq!(out[0], 25.0);
        assert_eq!(out[4], 100.0);
    }

    #[test]
    fn area_interpolation_averages_what_linear_skips() {
        // A one-pixel checkerboard, 30x30, shrunk to 10x10: area averaging sees all nine
        // pixels under each output pixel (4 or 5 of them white), bilinear samples the centre
        // one and keeps it black or white.
        let bgr: Vec<u8> = (0..30 * 30)
            .flat_map(|i| {
                let v = if (i % 30 + i / 30) % 2 == 0 { 255 } else { 0 };
                [v, v, v]
            })
            .collect();
        let run = |interpolation| {
            let mut s = spec(ResizeMode::Stretch, ColorOrder::Bgr, 10, 10);
            s.scale = 1.0;
            s.interpolation = interpolation;
            let mut out = vec![0f32; 300];
            Preprocessor::new(s).run(&bgr, 30, 30, &mut out).unwrap();
            out
        };
        let area = run(Interpolation::Area);
        assert!(area.iter().all(|v| (100.0..=160.0).contains(v)), "{area:?}");
        let linear = run(Interpolation::Linear);
        assert!(linear.iter().all(|v| *v < 30.0 || *v > 225.0), "{linear:?}");
    }
}
