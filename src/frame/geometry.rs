//! Where a model's input sits in the source frame: plain data, inverted to put model-space
//! results back in source pixels.

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResizeMode {
    /// Keep the aspect ratio, pad the rest (centred).
    Letterbox,
    /// Keep the aspect ratio, image at the top-left, pad right and bottom (YOLOX).
    LetterboxTopLeft,
    /// Stretch to the input size.
    Stretch,
}

/// Where the model input sits in the source frame; inverts to put boxes back in source pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geometry {
    pub src_w: u32,
    pub src_h: u32,
    pub dst_w: u32,
    pub dst_h: u32,
    /// Scaled content size inside the input.
    pub new_w: u32,
    pub new_h: u32,
    pub pad_left: u32,
    pub pad_top: u32,
    pub scale_x: f32,
    pub scale_y: f32,
}

impl Geometry {
    pub fn new(mode: ResizeMode, src_w: u32, src_h: u32, dst_w: u32, dst_h: u32) -> Geometry {
        match mode {
            ResizeMode::Stretch => Geometry {
                src_w,
                src_h,
                dst_w,
                dst_h,
                new_w: dst_w,
                new_h: dst_h,
                pad_left: 0,
                pad_top: 0,
                scale_x: dst_w as f32 / src_w as f32,
                scale_y: dst_h as f32 / src_h as f32,
            },
            ResizeMode::Letterbox | ResizeMode::LetterboxTopLeft => {
                let s = (dst_w as f64 / src_w as f64).min(dst_h as f64 / src_h as f64);
                let centred = mode == ResizeMode::Letterbox;
                // Ultralytics rounds the content size; YOLOX truncates it (`int(w * r)`).
                let size = |v: u32| {
                    let x = v as f64 * s;
                    (if centred { x.round() } else { x.floor() }) as u32
                };
                let new_w = size(src_w).clamp(1, dst_w);
                let new_h = size(src_h).clamp(1, dst_h);
                let (pad_left, pad_top) = if centred {
                    ((dst_w - new_w) / 2, (dst_h - new_h) / 2)
                } else {
                    (0, 0)
                };
                Geometry {
                    src_w,
                    src_h,
                    dst_w,
                    dst_h,
                    new_w,
                    new_h,
                    pad_left,
                    pad_top,
                    scale_x: s as f32,
                    scale_y: s as f32,
                }
            }
        }
    }

    /// Model-input pixels -> source-frame pixels (not clamped).
    #[inline]
    pub fn to_source(&self, x: f32, y: f32) -> (f32, f32) {
        (
            (x - self.pad_left as f32) / self.scale_x,
            (y - self.pad_top as f32) / self.scale_y,
        )
    }

    /// Source-frame pixels -> model-input pixels.
    #[inline]
    pub fn to_input(&self, x: f32, y: f32) -> (f32, f32) {
        (
            x * self.scale_x + self.pad_left as f32,
            y * self.scale_y + self.pad_top as f32,
        )
    }

    /// A box from model-input pixels to source pixels, clamped to the frame.
    pub fn box_to_source(&self, b: [f32; 4]) -> [f32; 4] {
        let (x1, y1) = self.to_source(b[0], b[1]);
        let (x2, y2) = self.to_source(b[2], b[3]);
        let (w, h) = (self.src_w as f32, self.src_h as f32);
        [
            x1.clamp(0.0, w),
            y1.clamp(0.0, h),
            x2.clamp(0.0, w),
            y2.clamp(0.0, h),
        ]
    }
}
