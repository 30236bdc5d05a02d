//! Class-aware greedy non-maximum suppression.

/// A scored box before suppression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub class_id: u32,
    pub score: f32,
    /// `[x1, y1, x2, y2]`.
    pub bbox: [f32; 4],
    /// Its index among the output's candidates (where a mask head's coefficients are read).
    pub index: u32,
}

#[inline]
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// Sorts `cands` by score (stable: ties keep candidate order) and keeps, per class, the boxes
/// whose IoU with every kept box of their class is at most `iou_threshold`; at most `max` kept.
/// The kept boxes are left at the front of `cands`, in descending score.
pub fn nms(cands: &mut Vec<Candidate>, iou_threshold: f32, max: usize) {
    suppress(cands, iou_threshold, max, false);
}

/// [`nms`] across classes (Ultralytics' `agnostic_nms`): a box is suppressed by a kept box of
/// any class, so one object never comes out twice under two labels.
pub fn nms_agnostic(cands: &mut Vec<Candidate>, iou_threshold: f32, max: usize) {
    suppress(cands, iou_threshold, max, true);
}

fn suppress(cands: &mut Vec<Candidate>, iou_threshold: f32, max: usize, agnostic: bool) {
    cands.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept = 0;
    for i in 0..cands.len() {
        if kept == max {
            break;
        }
        let c = cands[i];
        let suppressed = cands[..kept].iter().any(|k| {
            (agnostic || k.class_id == c.class_id) && iou(&k.bbox, &c.bbox) > iou_threshold
        });
        if !suppressed {
            cands[kept] = c;
            kept += 1;
        }
    }
    cands.truncate(kept);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(class_id: u32, score: f32, bbox: [f32; 4]) -> Candidate {
        Candidate {
            class_id,
            score,
            bbox,
            index: 0,
        }
    }

    #[test]
    fn iou_of_known_boxes() {
        assert_eq!(iou(&[0.0, 0.0, 10.0, 10.0], &[0.0, 0.0, 10.0, 10.0]), 1.0);
        assert_eq!(iou(&[0.0, 0.0, 10.0, 10.0], &[10.0, 10.0, 20.0, 20.0]), 0.0);
        assert!((iou(&[0.0, 0.0, 10.0, 10.0], &[5.0, 0.0, 15.0, 10.0]) - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn suppresses_overlaps_within_a_class_only() {
        let mut v = vec![
            c(0, 0.5, [1.0, 1.0, 11.0, 11.0]),
            c(0, 0.9, [0.0, 0.0, 10.0, 10.0]),
            c(1, 0.8, [0.0, 0.0, 10.0, 10.0]),
            c(0, 0.7, [50.0, 50.0, 60.0, 60.0]),
        ];
        let mut w = v.clone();
        nms(&mut v, 0.45, 300);
        let got: Vec<(u32, f32)> = v.iter().map(|d| (d.class_id, d.score)).collect();
        assert_eq!(got, vec![(0, 0.9), (1, 0.8), (0, 0.7)]);
        // Across classes, the class-1 box on the same spot goes too.
        nms_agnostic(&mut w, 0.45, 300);
        let got: Vec<(u32, f32)> = w.iter().map(|d| (d.class_id, d.score)).collect();
        assert_eq!(got, vec![(0, 0.9), (0, 0.7)]);
    }

    #[test]
    fn threshold_is_strict_and_max_caps() {
        // IoU exactly 0.5: kept at threshold 0.5 (suppression needs IoU above it), not below.
        let pair = vec![
            c(0, 0.9, [0.0, 0.0, 10.0, 10.0]),
            c(0, 0.8, [0.0, 0.0, 10.0, 5.0]),
        ];
        let mut v = pair.clone();
        nms(&mut v, 0.5, 300);
        assert_eq!(v.len(), 2);
        let mut v = pair;
        nms(&mut v, 0.49, 300);
        assert_eq!(v.len(), 1);
        let mut v: Vec<_> = (0..10)
            .map(|i| {
                c(
                    0,
                    i as f32,
                    [i as f32 * 20.0, 0.0, i as f32 * 20.0 + 10.0, 10.0],
                )
            })
            .collect();
        nms(&mut v, 0.45, 3);
        assert_eq!(
            v.iter().map(|d| d.score).collect::<Vec<_>>(),
            vec![9.0, 8.0, 7.0]
        );
    }
}
