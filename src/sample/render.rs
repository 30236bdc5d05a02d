//! Draws a [`View`] with OpenCV into a BGR frame and, with the same shapes in the same order, a
//! class map (one byte a pixel: the class index) and an object map (which person or vehicle
//! each pixel shows), so that occlusion in the ground truth is exactly what the frame shows.
//!
//! Ground truth per object comes from the object map: its box is the extent of the pixels it
//! still shows after everything nearer is drawn, and its visibility the share of its own
//! in-frame pixels that are left. The light (gain per channel, the shadow of a bridge) and the
//! sensor noise are applied to the frame last; the class map is untouched by them.

use super::rng::Rng;
use super::world::{Kind, Part, Shape, View};
use opencv::core::{Mat, Point, Scalar, Vector};
use opencv::imgproc;
use opencv::prelude::MatTraitManual;

/// Objects showing less than this share of their in-frame pixels are left out of the boxes.
pub const MIN_VISIBILITY: f64 = 0.2;
/// Objects whose visible box is narrower or lower than this (pixels) are left out of the boxes.
pub const MIN_SIDE: u32 = 4;
/// Sensor noise: each channel of each pixel moves by up to this much (triangular distribution,
/// standard deviation about 2.4).
const NOISE: i32 = 6;
/// The seed's stream for the noise (the scene's streams are 1 to 6).
const NOISE_STREAM: u64 = 7;
/// Sub-pixel bits of the coordinates given to OpenCV.
const SHIFT: i32 = 4;

/// What one frame shows of one person or vehicle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GtObject {
    pub id: u64,
    pub kind: Kind,
    /// `[x1, y1, x2, y2]`: the visible pixels are columns `x1..x2` and rows `y1..y2`.
    pub bbox: [u32; 4],
    /// Pixels it shows.
    pub pixels: u32,
    /// Pixels it shows over the pixels it would show in the frame with nothing in front (0..1).
    pub visibility: f64,
}

impl GtObject {
    /// Whether the object is in the box ground truth: at least [`MIN_VISIBILITY`] visible and a
    /// visible box at least [`MIN_SIDE`] pixels wide and high. Its pixels are in the class map
    /// either way.
    pub fn kept(&self) -> bool {
        let [x1, y1, x2, y2] = self.bbox;
        self.visibility >= MIN_VISIBILITY && x2 - x1 >= MIN_SIDE && y2 - y1 >= MIN_SIDE
    }
}

/// Reusable buffers for frames of one size.
pub struct Renderer {
    width: usize,
    height: usize,
    seed: u64,
    bgr: Vec<u8>,
    classes: Vec<u8>,
    /// Per pixel: the slot of the object it shows (1..), 0 for none.
    ids: Vec<u8>,
    /// All zero between uses: one object drawn alone, to count its pixels.
    scratch: Vec<u8>,
    /// Per slot (1..) of the last frame: the object's id.
    slot_ids: Vec<u64>,
}

/// A Mat over a packed buffer of `rows` x `cols` with `channels` bytes a pixel.
///
/// SAFETY: the caller keeps `buf` alive, unmoved and otherwise untouched while the Mat lives.
unsafe fn wrap(buf: &mut [u8], rows: usize, cols: usize, channels: usize) -> opencv::Result<Mat> {
    let typ = if channels == 3 {
        opencv::core::CV_8UC3
    } else {
        opencv::core::CV_8UC1
    };
    debug_assert_eq!(buf.len(), rows * cols * channels);
    // SAFETY: see the function's contract.
    unsafe {
        Mat::new_rows_cols_with_data_unsafe(
            rows as i32,
            cols as i32,
            typ,
            buf.as_mut_ptr() as *mut std::ffi::c_void,
            cols * channels,
        )
    }
}

fn fixed(v: f32) -> i32 {
    (v * (1 << SHIFT) as f32)
        .round()
        .clamp(-(1 << 26) as f32, (1 << 26) as f32) as i32
}

fn point(p: [f32; 2]) -> Point {
    Point::new(fixed(p[0]), fixed(p[1]))
}

fn fill(mat: &mut Mat, shape: &Shape, color: Scalar, smooth: bool) -> opencv::Result<()> {
    let line = if smooth {
        imgproc::LINE_AA
    } else {
        imgproc::LINE_8
    };
    match shape {
        Shape::Poly(pts) => {
            let pts: Vector<Point> = pts.iter().map(|&p| point(p)).collect();
            imgproc::fill_convex_poly(mat, &pts, color, line, SHIFT)
        }
        Shape::Circle { c, r } => imgproc::circle(
            mat,
            point(*c),
            fixed(*r).max(1),
            color,
            imgproc::FILLED,
            line,
            SHIFT,
        ),
    }
}

fn bgr(c: [u8; 3]) -> Scalar {
    Scalar::new(c[0] as f64, c[1] as f64, c[2] as f64, 0.0)
}

fn gray(v: u8) -> Scalar {
    Scalar::all(v as f64)
}

impl Renderer {
    pub fn new(width: u32, height: u32, seed: u64) -> Renderer {
        let n = width as usize * height as usize;
        Renderer {
            width: width as usize,
            height: height as usize,
            seed,
            bgr: vec![0; n * 3],
            classes: vec![0; n],
            ids: vec![0; n],
            scratch: vec![0; n],
            slot_ids: vec![],
        }
    }

    /// The last frame: BGR, rows packed.
    pub fn bgr(&self) -> &[u8] {
        &self.bgr
    }

    /// The last frame's class map, rows packed.
    pub fn classes(&self) -> &[u8] {
        &self.classes
    }

    /// Draws frame number `frame` (the noise's key) and returns every person and vehicle it
    /// shows, by id, kept or not (see [`GtObject::kept`]).
    pub fn render(&mut self, view: &View, frame: u64) -> opencv::Result<Vec<GtObject>> {
        let (w, h) = (self.width, self.height);
        self.background(view);
        self.classes.fill(0);
        self.ids.fill(0);
        // (slot -> object, pixels it would show alone, in shadow)
        let mut slots: Vec<(super::world::ObjectRef, u32, bool)> = vec![];
        {
            // SAFETY: the buffers are fields of self, not touched otherwise in this block.
            let mut image = unsafe { wrap(&mut self.bgr, h, w, 3)? };
            let mut classes = unsafe { wrap(&mut self.classes, h, w, 1)? };
            let mut ids = unsafe { wrap(&mut self.ids, h, w, 1)? };
            let mut scratch = unsafe { wrap(&mut self.scratch, h, w, 1)? };
            for p in &view.flat {
                fill(&mut image, &p.shape, bgr(p.color), true)?;
                fill(&mut classes, &p.shape, gray(p.class), false)?;
            }
            for item in &view.standing {
                let slot = match item.object {
                    Some(o) if slots.len() < 255 => {
                        let alone = count_alone(&mut scratch, &item.parts, w, h)?;
                        slots.push((o, alone, item.shaded));
                        slots.len() as u8
                    }
                    // Scenery, or past 255 objects in one frame (not seen in practice): they
                    // hide what is behind them but get no box.
                    _ => 0,
                };
                for p in &item.parts {
                    fill(&mut image, &p.shape, bgr(p.color), true)?;
                    fill(&mut classes, &p.shape, gray(p.class), false)?;
                    fill(&mut ids, &p.shape, gray(slot), false)?;
                }
            }
        }
        // What each object shows.
        let mut stats = vec![(0u32, [u32::MAX, u32::MAX, 0u32, 0u32]); slots.len() + 1];
        for (y, row) in self.ids.chunks_exact(w).enumerate() {
            for (x, &s) in row.iter().enumerate() {
                if s != 0 {
                    let (n, b) = &mut stats[s as usize];
                    *n += 1;
                    b[0] = b[0].min(x as u32);
                    b[1] = b[1].min(y as u32);
                    b[2] = b[2].max(x as u32 + 1);
                    b[3] = b[3].max(y as u32 + 1);
                }
            }
        }
        let mut out: Vec<GtObject> = slots
            .iter()
            .zip(&stats[1..])
            .filter(|(_, (n, _))| *n > 0)
            .map(|(&(o, alone, _), &(n, bbox))| GtObject {
                id: o.id,
                kind: o.kind,
                bbox,
                pixels: n,
                visibility: (n as f64 / alone.max(n) as f64).min(1.0),
            })
            .collect();
        out.sort_by_key(|o| o.id);
        self.slot_ids.clear();
        self.slot_ids.push(u64::MAX);
        self.slot_ids.extend(slots.iter().map(|s| s.0.id));
        let mut shaded = [false; 256];
        for (i, s) in slots.iter().enumerate() {
            shaded[i + 1] = s.2;
        }
        self.light(view, frame, &shaded);
        Ok(out)
    }

    /// The instance masks of the last frame's objects `ids` (in that order), as COCO run lengths
    /// over the frame (column-major, zeros first): the pixels that show each object.
    pub fn instance_runs(&self, ids: &[u64]) -> Vec<Vec<u32>> {
        let (w, h) = (self.width, self.height);
        let mut runs: Vec<Vec<u32>> = vec![vec![]; self.slot_ids.len()];
        // Per slot: pixels its runs cover so far.
        let mut covered: Vec<u64> = vec![0; self.slot_ids.len()];
        for x in 0..w {
            for y in 0..h {
                let s = self.ids[y * w + x] as usize;
                if s == 0 {
                    continue;
                }
                let pos = (x * h + y) as u64;
                let r = &mut runs[s];
                if covered[s] == pos && !r.is_empty() {
                    *r.last_mut().expect("a run") += 1;
                } else {
                    r.push((pos - covered[s]) as u32);
                    r.push(1);
                }
                covered[s] = pos + 1;
            }
        }
        let total = (w * h) as u64;
        ids.iter()
            .map(|id| {
                let Some(s) = self.slot_ids.iter().position(|i| i == id) else {
                    return vec![total as u32];
                };
                let mut r = std::mem::take(&mut runs[s]);
                if covered[s] < total {
                    r.push((total - covered[s]) as u32);
                }
                r
            })
            .collect()
    }

    /// Sky (a gradient down to the horizon) and grass below it.
    fn background(&mut self, view: &View) {
        let (w, h) = (self.width, self.height);
        let horizon = view.camera.horizon.clamp(0.0, h as f64);
        for (y, row) in self.bgr.chunks_exact_mut(w * 3).enumerate() {
            let yc = y as f64 + 0.5;
            let c = if yc < horizon {
                lerp(view.sky[0], view.sky[1], yc / horizon.max(1.0))
            } else {
                lerp(
                    view.grass[0],
                    view.grass[1],
                    (yc - horizon) / (h as f64 - horizon).max(1.0),
                )
            };
            for px in row.chunks_exact_mut(3) {
                px.copy_from_slice(&c);
            }
        }
    }

    /// The light's gain per channel, the bridge's shadow on the ground and on what stands in
    /// it, and the sensor noise.
    fn light(&mut self, view: &View, frame: u64, shaded: &[bool; 256]) {
        let w = self.width;
        let mut luts = [[[0u8; 256]; 3]; 2];
        for (k, lut) in luts.iter_mut().enumerate() {
            let f = if k == 1 { view.shadow } else { 1.0 };
            for (c, l) in lut.iter_mut().enumerate() {
                for (v, o) in l.iter_mut().enumerate() {
                    *o = (v as f64 * view.gain[c] * f).round().clamp(0.0, 255.0) as u8;
                }
            }
        }
        let mut rng = Rng::keyed(self.seed, NOISE_STREAM, frame);
        let mut state = rng.next_u64() | 1;
        for (y, (row, ids)) in self
            .bgr
            .chunks_exact_mut(w * 3)
            .zip(self.ids.chunks_exact(w))
            .enumerate()
        {
            let yc = y as f32 + 0.5;
            let row_shaded = view
                .shadow_rows
                .iter()
                .any(|r| yc >= r[0] && yc < r[1] && yc as f64 > view.camera.horizon);
            for (px, &id) in row.chunks_exact_mut(3).zip(ids) {
                let lut = if id == 0 {
                    &luts[row_shaded as usize]
                } else {
                    &luts[shaded[id as usize] as usize]
                };
                // xorshift64: 6 of its bytes make three triangular noise values.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let r = state;
                for (c, v) in px.iter_mut().enumerate() {
                    let a = ((r >> (16 * c)) & 0xFF) as i32;
                    let b = ((r >> (16 * c + 8)) & 0xFF) as i32;
                    let n = (a + b - 255) * NOISE / 255;
                    *v = (lut[c][*v as usize] as i32 + n).clamp(0, 255) as u8;
                }
            }
        }
    }
}

fn lerp(a: [u8; 3], b: [u8; 3], t: f64) -> [u8; 3] {
    let t = t.clamp(0.0, 1.0);
    let mut o = [0u8; 3];
    for i in 0..3 {
        o[i] = (a[i] as f64 + (b[i] as f64 - a[i] as f64) * t).round() as u8;
    }
    o
}

/// The pixels `parts` cover in the frame when drawn alone; leaves `scratch` all zero again.
fn count_alone(scratch: &mut Mat, parts: &[Part], w: usize, h: usize) -> opencv::Result<u32> {
    let b = Part::bounds_of(parts);
    // The rasteriser may touch a pixel beyond the shape's bounds; one of margin is enough.
    let x0 = (b[0].floor() as i64 - 1).clamp(0, w as i64) as usize;
    let y0 = (b[1].floor() as i64 - 1).clamp(0, h as i64) as usize;
    let x1 = (b[2].ceil() as i64 + 2).clamp(0, w as i64) as usize;
    let y1 = (b[3].ceil() as i64 + 2).clamp(0, h as i64) as usize;
    if x0 >= x1 || y0 >= y1 {
        return Ok(0);
    }
    for p in parts {
        fill(scratch, &p.shape, gray(1), false)?;
    }
    let data = scratch.data_bytes_mut()?;
    let mut n = 0u32;
    for y in y0..y1 {
        let row = &mut data[y * w + x0..y * w + x1];
        n += row.iter().filter(|&&v| v != 0).count() as u32;
        row.fill(0);
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::scene::Scene;

    #[test]
    fn boxes_hold_their_objects_pixels_and_lie_in_the_frame() {
        let mut scene = Scene::new(5, 320, 180);
        let mut r = Renderer::new(320, 180, 5);
        for step in [0, 600, 1800] {
            scene.advance_to(step);
            let objects = r.render(&scene.view(), step).unwrap();
            assert!(!objects.is_empty());
            for o in &objects {
                let [x1, y1, x2, y2] = o.bbox;
                assert!(x1 < x2 && x2 <= 320 && y1 < y2 && y2 <= 180, "{o:?}");
                assert!(o.visibility > 0.0 && o.visibility <= 1.0);
                let mut own = 0;
                for y in y1..y2 {
                    for x in x1..x2 {
                        own += (r.classes()[(y * 320 + x) as usize] == o.kind.class()) as u32;
                    }
                }
                assert!(
                    own >= o.pixels,
                    "{o:?}: {own} pixels of its class in its box"
                );
            }
        }
    }
}
