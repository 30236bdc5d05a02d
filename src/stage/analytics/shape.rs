//! Polygons and polylines in source pixels: is a point inside, which side of a line is it on
//! and how far, did a step cross the line.

pub type Point = [f32; 2];

/// Whether `p` is inside the polygon (even-odd rule; a point on an edge may go either way).
pub fn inside(polygon: &[Point], p: Point) -> bool {
    let mut inside = false;
    let mut j = polygon.len() - 1;
    for i in 0..polygon.len() {
        let (a, b) = (polygon[i], polygon[j]);
        if (a[1] > p[1]) != (b[1] > p[1]) {
            let x = a[0] + (p[1] - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
            if p[0] < x {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

/// Twice the polygon's signed area (shoelace): 0 for a degenerate one.
pub fn area2(polygon: &[Point]) -> f32 {
    let mut s = 0.0;
    let mut j = polygon.len() - 1;
    for i in 0..polygon.len() {
        s += polygon[j][0] * polygon[i][1] - polygon[i][0] * polygon[j][1];
        j = i;
    }
    s
}

/// The signed distance from `p` to the polyline's nearest segment: negative on side A (left
/// of the segment walking from its first point to its second, as seen on the image, whose
/// rows grow downward), positive on side B.
pub fn side(line: &[Point], p: Point) -> f32 {
    let mut best = f32::INFINITY;
    let mut signed = 0.0;
    for w in line.windows(2) {
        let (a, b) = (w[0], w[1]);
        let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
        let len2 = dx * dx + dy * dy;
        if len2 == 0.0 {
            continue;
        }
        let t = (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0);
        let (cx, cy) = (a[0] + t * dx, a[1] + t * dy);
        let d = ((p[0] - cx).powi(2) + (p[1] - cy).powi(2)).sqrt();
        if d < best {
            best = d;
            // Image rows grow downward: a point on the screen-left of a → b has cross < 0.
            let cross = dx * (p[1] - a[1]) - dy * (p[0] - a[0]);
            signed = if cross < 0.0 { -d } else { d };
        }
    }
    signed
}

/// Whether the step from `p` to `q` crosses a segment of the polyline.
pub fn crosses(line: &[Point], p: Point, q: Point) -> bool {
    line.windows(2).any(|w| segments_cross(w[0], w[1], p, q))
}

fn segments_cross(a: Point, b: Point, c: Point, d: Point) -> bool {
    let orient = |p: Point, q: Point, r: Point| {
        (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])
    };
    let (d1, d2) = (orient(a, b, c), orient(a, b, d));
    let (d3, d4) = (orient(c, d, a), orient(c, d, b));
    (d1 * d2 <= 0.0) && (d3 * d4 <= 0.0) && !(d1 == 0.0 && d2 == 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_a_square_and_a_concave_polygon() {
        let sq = [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]];
        assert!(inside(&sq, [5.0, 5.0]));
        assert!(!inside(&sq, [15.0, 5.0]));
        assert!(!inside(&sq, [5.0, -1.0]));
        // A "U": the notch between the arms is outside.
        let u = [
            [0.0, 0.0],
            [3.0, 0.0],
            [3.0, 7.0],
            [7.0, 7.0],
            [7.0, 0.0],
            [10.0, 0.0],
            [10.0, 10.0],
            [0.0, 10.0],
        ];
        assert!(!inside(&u, [5.0, 3.0]));
        assert!(inside(&u, [1.0, 3.0]));
        assert!(inside(&u, [5.0, 9.0]));
        assert!(area2(&sq).abs() == 200.0);
        assert_eq!(area2(&[[0.0, 0.0], [5.0, 5.0], [10.0, 10.0]]), 0.0);
    }

    #[test]
    fn a_horizontal_line_drawn_left_to_right_has_side_a_above() {
        let line = [[0.0, 100.0], [200.0, 100.0]];
        assert_eq!(side(&line, [50.0, 90.0]), -10.0);
        assert_eq!(side(&line, [50.0, 130.0]), 30.0);
        // Beyond the end the distance is to the end point.
        assert!((side(&line, [203.0, 104.0]) - 5.0).abs() < 1e-4);
        assert!(crosses(&line, [50.0, 90.0], [52.0, 110.0]));
        assert!(
            !crosses(&line, [250.0, 90.0], [250.0, 110.0]),
            "around the end"
        );
        assert!(!crosses(&line, [50.0, 90.0], [60.0, 95.0]));
    }

    #[test]
    fn a_polyline_takes_the_side_of_its_nearest_segment() {
        // An "L": down the left, then right along the bottom.
        let line = [[0.0, 0.0], [0.0, 100.0], [100.0, 100.0]];
        // Walking down, screen-left is +x (east)... the walker faces down: their left is east.
        assert!(side(&line, [10.0, 50.0]) < 0.0);
        assert!(side(&line, [-10.0, 50.0]) > 0.0);
        // Walking east along the bottom their left is up (north): inside the L again.
        assert!(side(&line, [50.0, 90.0]) < 0.0);
        assert!(side(&line, [50.0, 110.0]) > 0.0);
        assert!(crosses(&line, [50.0, 90.0], [50.0, 110.0]));
    }
}
