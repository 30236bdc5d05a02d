//! The driver-assistance HUD drawn on annotated video: the ego lane filled, the lead vehicle's
//! distance and time to collision, a banner while a warning is active, and the lateral-offset
//! gauge; and the label placement every annotation uses, so that no two labels overlap and
//! none leaves the frame.

use crate::frame::adas::{AdasState, EgoLane, LANE_POLY_STEPS, Severity};
use opencv::core::{Mat, MatTraitConst, Point, Rect, Scalar};
use opencv::imgproc;

const FONT: i32 = imgproc::FONT_HERSHEY_SIMPLEX;

/// Blends the ego lane (green, 30 %) into the packed BGR `image` of `w` x `h`, row by row
/// between its left and right boundaries.
pub fn fill_lane(image: &mut [u8], w: usize, h: usize, lane: &EgoLane) {
    if lane.polygon_len != 2 * LANE_POLY_STEPS {
        return;
    }
    let n = LANE_POLY_STEPS;
    let left = &lane.polygon_px[..n];
    // The right boundary is stored far to near; read it near to far like the left.
    let right = |k: usize| lane.polygon_px[2 * n - 1 - k];
    for k in 0..n - 1 {
        let (a, b) = (left[k], left[k + 1]);
        let (ra, rb) = (right(k), right(k + 1));
        let (v0, v1) = (b[1].min(a[1]), b[1].max(a[1]));
        if v1 - v0 < 0.5 {
            continue;
        }
        let r0 = (v0.floor().max(0.0)) as usize;
        let r1 = (v1.ceil() as usize).min(h);
        for v in r0..r1 {
            let s = ((v as f32 + 0.5 - a[1]) / (b[1] - a[1])).clamp(0.0, 1.0);
            let xl = a[0] + s * (b[0] - a[0]);
            let xr = ra[0] + s * (rb[0] - ra[0]);
            let (u0, u1) = (xl.max(0.0) as usize, (xr.max(0.0) as usize).min(w));
            let row = &mut image[v * w * 3..(v + 1) * w * 3];
            for px in row[u0 * 3..u1.max(u0) * 3].chunks_exact_mut(3) {
                px[0] = (px[0] as u16 * 7 / 10) as u8;
                px[1] = ((px[1] as u16 * 7 + 255 * 3) / 10) as u8;
                px[2] = (px[2] as u16 * 7 / 10) as u8;
            }
        }
    }
}

/// Where a label `size` (w, h) goes for a box `[x1, y1, x2, y2]`: above it, else below, else
/// inside its top, moved down (then up) past the labels already placed, first at the box's left
/// edge, then at its right; always inside the frame and clear of every label placed. `None`
/// when there is no such place near the box (a crowd): the label is left out rather than drawn
/// over another. The chosen rectangle is added to `placed`.
pub fn place_label(
    placed: &mut Vec<[i32; 4]>,
    frame: (i32, i32),
    size: (i32, i32),
    bbox: [i32; 4],
) -> Option<(i32, i32)> {
    let (fw, fh) = frame;
    let (w, h) = (size.0.min(fw), size.1.min(fh));
    let free = |x: i32, y: i32| {
        y >= 0
            && y + h <= fh
            && !placed
                .iter()
                .any(|p| x < p[2] && x + w > p[0] && y < p[3] && y + h > p[1])
    };
    let xs = [bbox[0], bbox[2] - w].map(|x| x.clamp(0, (fw - w).max(0)));
    let starts = [bbox[1] - h, bbox[3], bbox[1]];
    let reach = (bbox[3] - bbox[1]).max(0) + 3 * h;
    let (x, y) = (0..=reach / (h / 2).max(1))
        .flat_map(|step| {
            starts.into_iter().flat_map(move |y0| {
                let d = step * (h / 2).max(1);
                [y0 + d, y0 - d]
            })
        })
        .flat_map(|y| xs.into_iter().map(move |x| (x, y)))
        .find(|&(x, y)| free(x, y))?;
    placed.push([x, y, x + w, y + h]);
    Some((x, y))
}

/// Draws `text` in a filled box at a placed position (nothing when there is none).
#[allow(clippy::too_many_arguments)]
pub fn label(
    mat: &mut Mat,
    placed: &mut Vec<[i32; 4]>,
    text: &str,
    bbox: [i32; 4],
    bg: Scalar,
    font_scale: f64,
    frame: (i32, i32),
) -> Result<(), opencv::Error> {
    let mut baseline = 0;
    let size = imgproc::get_text_size(text, FONT, font_scale, 1, &mut baseline)?;
    let (bw, bh) = (size.width + 4, size.height + baseline + 3);
    let Some((x, y)) = place_label(placed, frame, (bw, bh), bbox) else {
        return Ok(());
    };
    imgproc::rectangle(
        mat,
        Rect::new(x, y, bw, bh),
        bg,
        imgproc::FILLED,
        imgproc::LINE_8,
        0,
    )?;
    imgproc::put_text(
        mat,
        text,
        Point::new(x + 2, y + size.height + 1),
        FONT,
        font_scale,
        Scalar::new(255.0, 255.0, 255.0, 0.0),
        1,
        imgproc::LINE_AA,
        false,
    )
}

/// The lead's highlight and label, the warning banner and the offset gauge. The banner and
/// the gauge claim their places first, so that no label covers them.
pub fn overlay(
    mat: &mut Mat,
    adas: &AdasState,
    placed: &mut Vec<[i32; 4]>,
    text: &mut String,
    font_scale: f64,
    thickness: i32,
) -> Result<(), opencv::Error> {
    use std::fmt::Write;
    let (w, h) = (mat.cols(), mat.rows());
    let big = font_scale * 1.4;
    // Banner, top centre.
    if !adas.active.is_empty() {
        text.clear();
        for (i, a) in adas.active.iter().enumerate() {
            let _ = write!(
                text,
                "{}{}",
                if i > 0 { " | " } else { "" },
                a.kind.name().replace('_', " ").to_uppercase()
            );
        }
        let critical = adas.active.iter().any(|a| a.severity == Severity::Critical);
        let mut baseline = 0;
        let size = imgproc::get_text_size(text, FONT, big, 2, &mut baseline)?;
        let (bw, bh) = ((size.width + 16).min(w), size.height + baseline + 12);
        let x = ((w - bw) / 2).max(0);
        let bg = if critical {
            Scalar::new(0.0, 0.0, 200.0, 0.0)
        } else {
            Scalar::new(0.0, 110.0, 230.0, 0.0)
        };
        imgproc::rectangle(
            mat,
            Rect::new(x, 4, bw, bh),
            bg,
            imgproc::FILLED,
            imgproc::LINE_8,
            0,
        )?;
        imgproc::put_text(
            mat,
            text,
            Point::new(x + 8, 4 + size.height + 6),
            FONT,
            big,
            Scalar::new(255.0, 255.0, 255.0, 0.0),
            2,
            imgproc::LINE_AA,
            false,
        )?;
        placed.push([x, 4, x + bw, 4 + bh]);
    }
    // Offset gauge, bottom centre: the lane as a bar, the vehicle as a tick.
    let (gw, gh) = ((w / 4).max(80), (h / 40).max(8));
    let (gx, gy) = ((w - gw) / 2, h - gh - 8);
    imgproc::rectangle(
        mat,
        Rect::new(gx, gy, gw, gh),
        Scalar::new(60.0, 60.0, 60.0, 0.0),
        imgproc::FILLED,
        imgproc::LINE_8,
        0,
    )?;
    text.clear();
    match adas.lane.and_then(|l| l.offset_m.map(|o| (o, l))) {
        Some((o, l)) => {
            let half = l.width_m.unwrap_or(3.5) / 2.0;
            let u = gx + ((0.5 + (o / (2.0 * half)).clamp(-0.5, 0.5)) * gw as f64) as i32;
            let warn = adas
                .active
                .iter()
                .any(|a| a.kind == crate::frame::adas::WarningKind::LaneDeparture);
            let c = if warn {
                Scalar::new(0.0, 0.0, 255.0, 0.0)
            } else {
                Scalar::new(0.0, 220.0, 0.0, 0.0)
            };
            imgproc::line(
                mat,
                Point::new(u, gy - 3),
                Point::new(u, gy + gh + 3),
                c,
                thickness + 2,
                imgproc::LINE_8,
                0,
            )?;
            let _ = write!(text, "offset {o:+.2} m  lane {:.0}%", l.confidence * 100.0);
        }
        None => text.push_str("lane unknown"),
    }
    placed.push([gx, gy - 3, gx + gw, gy + gh + 3]);
    let mut baseline = 0;
    let size = imgproc::get_text_size(text, FONT, font_scale, 1, &mut baseline)?;
    label(
        mat,
        placed,
        text,
        [gx + (gw - size.width) / 2, gy, gx + gw, gy + gh],
        Scalar::new(40.0, 40.0, 40.0, 0.0),
        font_scale,
        (w, h),
    )?;
    // The lead: a thick box and its distance and time to collision.
    if let Some(l) = &adas.lead {
        let b = l.bbox.map(|v| v.round() as i32);
        let closing = adas
            .active
            .iter()
            .any(|a| a.kind == crate::frame::adas::WarningKind::ForwardCollision);
        let c = if closing {
            Scalar::new(0.0, 0.0, 255.0, 0.0)
        } else {
            Scalar::new(0.0, 200.0, 255.0, 0.0)
        };
        imgproc::rectangle(
            mat,
            Rect::new(b[0], b[1], (b[2] - b[0]).max(1), (b[3] - b[1]).max(1)),
            c,
            thickness * 3,
            imgproc::LINE_8,
            0,
        )?;
        text.clear();
        let _ = write!(text, "lead {:.1} m", l.distance_m);
        match l.ttc_s {
            Some(t) => {
                let _ = write!(text, "  TTC {t:.1} s");
            }
            None => text.push_str("  not closing"),
        }
        label(mat, placed, text, b, c, font_scale, (w, h))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::place_label;

    #[test]
    fn labels_of_a_crowd_never_overlap_nor_leave_the_frame() {
        let frame = (320, 180);
        let mut s = 3u32;
        let mut rnd = |n: i32| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((s >> 8) % n as u32) as i32
        };
        for _ in 0..50 {
            let mut placed = vec![];
            let mut shown = 0;
            for _ in 0..60 {
                // Boxes anywhere, some past the frame's edges, many on top of each other.
                let (x, y) = (rnd(360) - 20, rnd(200) - 10);
                let b = [x, y, x + 10 + rnd(60), y + 10 + rnd(60)];
                shown += place_label(&mut placed, frame, (40 + rnd(30), 12), b).is_some() as i32;
            }
            assert!(
                shown >= 20,
                "a crowd still gets most of its labels ({shown}/60)"
            );
            for (i, a) in placed.iter().enumerate() {
                assert!(
                    a[0] >= 0 && a[1] >= 0 && a[2] <= frame.0 && a[3] <= frame.1,
                    "{a:?} leaves the frame"
                );
                for b in &placed[i + 1..] {
                    let overlap = a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
                    assert!(!overlap, "{a:?} overlaps {b:?}");
                }
            }
        }
    }

    #[test]
    fn a_lone_label_sits_above_its_box_or_below_at_the_top_edge() {
        let mut placed = vec![];
        assert_eq!(
            place_label(&mut placed, (320, 180), (40, 12), [100, 50, 150, 90]),
            Some((100, 38))
        );
        let mut placed = vec![];
        assert_eq!(
            place_label(&mut placed, (320, 180), (40, 12), [100, 0, 150, 90]),
            Some((100, 90))
        );
        // At the right edge the label moves left into the frame.
        let mut placed = vec![];
        assert_eq!(
            place_label(&mut placed, (320, 180), (40, 12), [300, 50, 330, 90]),
            Some((280, 38))
        );
    }
}
