//! The analytics stage's zones and counting lines drawn onto the frame: each zone's outline
//! with its occupancy, each line with its sides marked A and B and its counts both ways.
//! Labels go through [`super::hud::label`], so they never overlap another or leave the frame.

use crate::frame::analytics::AnalyticsState;
use opencv::core::{Mat, Point, Scalar, Vector};
use opencv::imgproc;
use std::fmt::Write;

const ZONE: Scalar = Scalar::new(255.0, 200.0, 0.0, 0.0);
const ZONE_BUSY: Scalar = Scalar::new(0.0, 160.0, 255.0, 0.0);
const LINE: Scalar = Scalar::new(255.0, 0.0, 255.0, 0.0);

fn pts(p: &[[f32; 2]]) -> Vector<Point> {
    p.iter()
        .map(|q| Point::new(q[0].round() as i32, q[1].round() as i32))
        .collect()
}

fn bounds(p: &[[f32; 2]]) -> [i32; 4] {
    let mut b = [i32::MAX, i32::MAX, i32::MIN, i32::MIN];
    for q in p {
        let (x, y) = (q[0].round() as i32, q[1].round() as i32);
        b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
    }
    b
}

pub fn draw(
    mat: &mut Mat,
    a: &AnalyticsState,
    placed: &mut Vec<[i32; 4]>,
    text: &mut String,
    font_scale: f64,
    thickness: i32,
    frame: (i32, i32),
) -> Result<(), opencv::Error> {
    for z in &a.zones {
        let color = if z.objects > 0 { ZONE_BUSY } else { ZONE };
        let mut poly = Vector::<Vector<Point>>::new();
        poly.push(pts(&z.polygon_px));
        imgproc::polylines(mat, &poly, true, color, thickness, imgproc::LINE_AA, 0)?;
        text.clear();
        let _ = write!(text, "{}: {}", z.name, z.objects);
        for (c, n) in z.by_class.classes.iter().zip(&z.by_class.counts) {
            if *n > 0 {
                let _ = write!(text, " {c} {n}");
            }
        }
        super::hud::label(
            mat,
            placed,
            text,
            bounds(&z.polygon_px),
            color,
            font_scale,
            frame,
        )?;
    }
    for l in &a.lines {
        let p = pts(&l.points_px);
        let mut poly = Vector::<Vector<Point>>::new();
        poly.push(p.clone());
        imgproc::polylines(mat, &poly, false, LINE, thickness, imgproc::LINE_AA, 0)?;
        // "A" and "B" either side of the first segment's middle.
        let (s0, s1) = (l.points_px[0], l.points_px[1]);
        let (dx, dy) = (s1[0] - s0[0], s1[1] - s0[1]);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        // Side A (screen-left of the walk from the first point) is along (dy, -dx).
        let off = 14.0 * thickness as f32;
        let mid = [(s0[0] + s1[0]) / 2.0, (s0[1] + s1[1]) / 2.0];
        for (name, sign) in [("A", 1.0), ("B", -1.0)] {
            let at = Point::new(
                (mid[0] + sign * off * dy / len - 5.0) as i32,
                (mid[1] - sign * off * dx / len + 5.0) as i32,
            );
            imgproc::put_text(
                mat,
                name,
                at,
                imgproc::FONT_HERSHEY_SIMPLEX,
                font_scale,
                LINE,
                thickness,
                imgproc::LINE_AA,
                false,
            )?;
        }
        text.clear();
        let _ = write!(
            text,
            "{}: A>B {}  B>A {}",
            l.name,
            l.a_to_b.total(),
            l.b_to_a.total()
        );
        super::hud::label(
            mat,
            placed,
            text,
            bounds(&l.points_px),
            LINE,
            font_scale,
            frame,
        )?;
    }
    Ok(())
}
