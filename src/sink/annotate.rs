//! Boxes, labels and scores drawn onto the frame with OpenCV (Hershey fonts: no font files).

use crate::frame::Frame;
use opencv::core::{Mat, Point, Rect, Scalar};
use opencv::imgproc;
use std::collections::{HashMap, VecDeque};

/// The recent path of each tracked object (its box's bottom centre), drawn behind it.
pub struct Trails {
    span_s: f64,
    points: HashMap<u64, VecDeque<(f64, Point)>>,
    last_t: f64,
    /// The labels placed on the frame being drawn (reused).
    placed: Vec<[i32; 4]>,
    text: String,
}

impl Trails {
    /// Trails `span_s` seconds long (0: none drawn).
    pub fn new(span_s: f64) -> Trails {
        Trails {
            span_s,
            points: HashMap::new(),
            last_t: f64::NEG_INFINITY,
            placed: Vec::with_capacity(64),
            text: String::with_capacity(64),
        }
    }

    /// Adds the frame's tracked objects and forgets what is older than the span.
    fn update(&mut self, frame: &Frame) {
        if self.span_s <= 0.0 {
            return;
        }
        let t = frame.time_s();
        if t < self.last_t {
            // The stream restarted: so did its tracks.
            self.points.clear();
        }
        self.last_t = t;
        for d in &frame.detections {
            if let Some(id) = d.track_id {
                let b = d.shown_box();
                let p = Point::new(((b[0] + b[2]) / 2.0) as i32, b[3] as i32);
                self.points.entry(id).or_default().push_back((t, p));
            }
        }
        let oldest = t - self.span_s;
        self.points.retain(|_, q| {
            while q.front().is_some_and(|&(pt, _)| pt < oldest) {
                q.pop_front();
            }
            !q.is_empty()
        });
    }

    fn draw(&self, mat: &mut Mat, thickness: i32) -> Result<(), opencv::Error> {
        for (id, q) in &self.points {
            let color = class_color(*id as u32);
            for (a, b) in q.iter().zip(q.iter().skip(1)) {
                imgproc::line(mat, a.1, b.1, color, thickness, imgproc::LINE_AA, 0)?;
            }
        }
        Ok(())
    }
}

/// A distinct, stable colour per class (BGR).
pub fn class_color(class_id: u32) -> Scalar {
    const PALETTE: [(f64, f64, f64); 10] = [
        (56.0, 56.0, 255.0),
        (151.0, 157.0, 255.0),
        (31.0, 112.0, 255.0),
        (29.0, 178.0, 255.0),
        (49.0, 210.0, 207.0),
        (10.0, 249.0, 72.0),
        (23.0, 204.0, 146.0),
        (134.0, 219.0, 61.0),
        (211.0, 188.0, 0.0),
        (255.0, 115.0, 100.0),
    ];
    let (b, g, r) = PALETTE[class_id as usize % PALETTE.len()];
    Scalar::new(b, g, r, 0.0)
}

/// Tints an instance mask's pixels of a packed BGR image `width` pixels wide with `color`.
fn blend_mask(
    image: &mut [u8],
    width: usize,
    m: &crate::frame::InstanceMask,
    color: Scalar,
    alpha: f32,
) {
    let c = [color[0] as f32, color[1] as f32, color[2] as f32];
    for (r, row) in m.bits.chunks_exact(m.w as usize).enumerate() {
        let start = ((m.y as usize + r) * width + m.x as usize) * 3;
        let Some(px) = image.get_mut(start..start + row.len() * 3) else {
            break;
        };
        for (p, &b) in px.chunks_exact_mut(3).zip(row) {
            if b != 0 {
                for (v, c) in p.iter_mut().zip(c) {
                    *v = (*v as f32 * (1.0 - alpha) + c * alpha).round() as u8;
                }
            }
        }
    }
}

/// Paints the segmentation heads (in order), the instance masks, the ego lane, then the tracks' trails, then every
/// detection (with its track id, when it has one) over them, then the driver-assistance HUD
/// ([`super::hud`]) and the zones and counting lines ([`super::zones`]). Labels are placed so that none overlaps another or leaves the frame.
pub fn draw(
    frame: &mut Frame,
    label_buf: &mut String,
    trails: &mut Trails,
) -> Result<(), opencv::Error> {
    if frame.annotated {
        return Ok(());
    }
    frame.annotated = true;
    trails.update(frame);
    let Some(image) = std::sync::Arc::get_mut(&mut frame.image) else {
        return Err(opencv::Error::new(
            opencv::core::StsError,
            "the frame's image is still shared with a model branch",
        ));
    };
    for s in &frame.segmentation {
        crate::segment::blend(image, &s.map, &s.style);
    }
    let (w, h) = (frame.width as i32, frame.height as i32);
    for d in &frame.detections {
        if let Some(m) = &d.mask {
            blend_mask(image, frame.width as usize, m, class_color(d.class_id), 0.5);
        }
    }
    if let Some(lane) = frame.adas.as_ref().and_then(|a| a.lane.as_ref()) {
        super::hud::fill_lane(image, w as usize, h as usize, lane);
    }
    // SAFETY: the image outlives `mat`, is packed BGR of w x h, and nothing else touches it meanwhile.
    let mut mat = unsafe {
        Mat::new_rows_cols_with_data_unsafe(
            h,
            w,
            opencv::core::CV_8UC3,
            image.as_mut_ptr() as *mut std::ffi::c_void,
            (w * 3) as usize,
        )?
    };
    let thickness = ((w.min(h) as f32 / 360.0).round() as i32).max(1);
    let font_scale = (w.min(h) as f64 / 900.0).max(0.4);
    trails.draw(&mut mat, thickness)?;
    trails.placed.clear();
    if let Some(a) = frame.adas.as_deref() {
        // The HUD first: its banner and gauge keep their places; the lead's label goes first.
        super::hud::overlay(
            &mut mat,
            a,
            &mut trails.placed,
            &mut trails.text,
            font_scale,
            thickness,
        )?;
    }
    if let Some(a) = frame.analytics.as_deref() {
        super::zones::draw(
            &mut mat,
            a,
            &mut trails.placed,
            &mut trails.text,
            font_scale,
            thickness,
            (w, h),
        )?;
    }
    for d in &frame.detections {
        let color = class_color(d.class_id);
        let [x1, y1, x2, y2] = d.shown_box().map(|v| v.round() as i32);
        imgproc::rectangle(
            &mut mat,
            Rect::new(x1, y1, (x2 - x1).max(1), (y2 - y1).max(1)),
            color,
            thickness,
            imgproc::LINE_8,
            0,
        )?;
        label_buf.clear();
        use std::fmt::Write;
        let _ = match d.track_id {
            Some(id) => write!(label_buf, "{} #{id} {:.2}", d.label, d.score),
            None => write!(label_buf, "{} {:.2}", d.label, d.score),
        };
        super::hud::label(
            &mut mat,
            &mut trails.placed,
            label_buf,
            [x1, y1, x2, y2],
            color,
            font_scale,
            (w, h),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::InstanceMask;

    #[test]
    fn a_mask_tints_its_pixels_only() {
        // 4x3 grey image; a 2x2 mask at (1, 1) with its top-right pixel off.
        let mut image = vec![100u8; 4 * 3 * 3];
        let m = InstanceMask {
            x: 1,
            y: 1,
            w: 2,
            h: 2,
            bits: vec![1, 0, 1, 1],
        };
        blend_mask(&mut image, 4, &m, Scalar::new(200.0, 0.0, 100.0, 0.0), 0.5);
        let px = |x: usize, y: usize| &image[(y * 4 + x) * 3..(y * 4 + x) * 3 + 3];
        assert_eq!(px(1, 1), [150, 50, 100]);
        assert_eq!(px(1, 2), [150, 50, 100]);
        assert_eq!(px(2, 2), [150, 50, 100]);
        assert_eq!(px(2, 1), [100, 100, 100]);
        assert_eq!(px(0, 0), [100, 100, 100]);
        let tinted = image.chunks(3).filter(|p| p[0] == 150).count();
        assert_eq!(tinted, 3);
    }
}
