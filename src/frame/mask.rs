//! An instance mask: which pixels of a detection's box belong to the object, as plain data, and
//! COCO's run-length encoding of it (what JSONL results and `eval det --iou-type segm` read).

/// A binary mask over a rectangle of the source frame (the detection's box, rounded out to whole
/// pixels); pixels outside the rectangle are not the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceMask {
    /// Top-left corner of the rectangle, source-frame pixels.
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    /// `w * h` values, row-major, 1 for the object and 0 elsewhere.
    pub bits: Vec<u8>,
}

impl InstanceMask {
    /// Pixels that are the object.
    pub fn area(&self) -> u64 {
        self.bits.iter().map(|&b| b as u64).sum()
    }

    /// Whether source pixel `(px, py)` is the object.
    #[inline]
    pub fn contains(&self, px: u32, py: u32) -> bool {
        px >= self.x
            && py >= self.y
            && px < self.x + self.w
            && py < self.y + self.h
            && self.bits[((py - self.y) * self.w + px - self.x) as usize] != 0
    }

    /// COCO's uncompressed RLE over a `width x height` frame: run lengths in column-major order
    /// (down each column, columns left to right), starting with a run of zeros (maybe empty).
    pub fn rle_counts(&self, width: u32, height: u32, out: &mut Vec<u32>) {
        out.clear();
        let (mut value, mut run) = (0u8, 0u32);
        let x_end = (self.x + self.w).min(width);
        let y_end = (self.y + self.h).min(height);
        let mut push = |v: u8, n: u32, value: &mut u8, run: &mut u32| {
            if n == 0 {
                return;
            }
            if v == *value {
                *run += n;
            } else {
                out.push(*run);
                *value = v;
                *run = n;
            }
        };
        for x in 0..width {
            if x < self.x || x >= x_end {
                push(0, height, &mut value, &mut run);
                continue;
            }
            push(0, self.y.min(height), &mut value, &mut run);
            for y in self.y..y_end {
                let b = self.bits[((y - self.y) * self.w + x - self.x) as usize].min(1);
                push(b, 1, &mut value, &mut run);
            }
            push(
                0,
                height - y_end.max(self.y.min(height)),
                &mut value,
                &mut run,
            );
        }
        out.push(run);
    }
}

/// A mask over a whole `w x h` image as COCO run lengths: column-major, zeros first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rle {
    pub h: u32,
    pub w: u32,
    pub counts: Vec<u32>,
}

impl Rle {
    /// Checks that the runs cover the image exactly.
    pub fn new(h: u32, w: u32, counts: Vec<u32>) -> Result<Rle, String> {
        let total: u64 = counts.iter().map(|&c| c as u64).sum();
        if total != h as u64 * w as u64 {
            return Err(format!(
                "run lengths add up to {total} pixels, but size [{h}, {w}] has {}",
                h as u64 * w as u64
            ));
        }
        Ok(Rle { h, w, counts })
    }

    /// Pixels that are the object (the odd runs).
    pub fn area(&self) -> u64 {
        self.counts
            .iter()
            .skip(1)
            .step_by(2)
            .map(|&c| c as u64)
            .sum()
    }

    /// The object's pixels `(x, y)`, in run order (down each column, columns left to right).
    pub fn pixels(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        let h = self.h.max(1);
        let mut start = 0u32;
        self.counts.iter().enumerate().flat_map(move |(i, &c)| {
            let run = start..start + c;
            start += c;
            run.filter(move |_| i % 2 == 1).map(move |p| (p / h, p % h))
        })
    }

    /// Pixels that are the object in both masks (of one size).
    pub fn intersection(&self, other: &Rle) -> u64 {
        let (a, b) = (&self.counts, &other.counts);
        let (mut i, mut j) = (0, 0);
        let (mut ra, mut rb) = (
            a.first().copied().unwrap_or(0),
            b.first().copied().unwrap_or(0),
        );
        let mut both = 0u64;
        while i < a.len() && j < b.len() {
            let step = ra.min(rb);
            if i % 2 == 1 && j % 2 == 1 {
                both += step as u64;
            }
            ra -= step;
            rb -= step;
            while ra == 0 && i < a.len() {
                i += 1;
                ra = a.get(i).copied().unwrap_or(0);
            }
            while rb == 0 && j < b.len() {
                j += 1;
                rb = b.get(j).copied().unwrap_or(0);
            }
        }
        both
    }
}

/// COCO's compressed RLE string (pycocotools' `rleToString`): each count, after the first two
/// less the count two before it, in 5-bit groups, low first, offset by 48.
pub fn rle_to_string(counts: &[u32]) -> String {
    let mut s = String::with_capacity(counts.len() * 2);
    for (i, &c) in counts.iter().enumerate() {
        let mut x = c as i64;
        if i > 2 {
            x -= counts[i - 2] as i64;
        }
        loop {
            let mut c = (x & 0x1f) as u8;
            x >>= 5;
            let more = if c & 0x10 != 0 { x != -1 } else { x != 0 };
            if more {
                c |= 0x20;
            }
            s.push((c + 48) as char);
            if !more {
                break;
            }
        }
    }
    s
}

/// The counts of a compressed RLE string (pycocotools' `rleFrString`); `None` if malformed.
pub fn rle_from_string(s: &str) -> Option<Vec<u32>> {
    let b = s.as_bytes();
    let mut counts: Vec<u32> = Vec::new();
    let mut p = 0;
    while p < b.len() {
        let (mut x, mut k) = (0i64, 0u32);
        loop {
            let c = (*b.get(p)? as i64) - 48;
            if !(0..64).contains(&c) || k > 60 {
                return None;
            }
            x |= (c & 0x1f) << (5 * k);
            let more = c & 0x20 != 0;
            p += 1;
            k += 1;
            if !more {
                if c & 0x10 != 0 {
                    x |= -1i64 << (5 * k);
                }
                break;
            }
        }
        let m = counts.len();
        if m > 2 {
            x += counts[m - 2] as i64;
        }
        counts.push(u32::try_from(x).ok()?);
    }
    Some(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask() -> InstanceMask {
        // 3x2 at (1, 1) in a 4x3 frame:
        //   . . . .
        //   . 1 0 1
        //   . 1 1 0
        InstanceMask {
            x: 1,
            y: 1,
            w: 3,
            h: 2,
            bits: vec![1, 0, 1, 1, 1, 0],
        }
    }

    #[test]
    fn counts_run_down_columns() {
        let mut c = vec![];
        mask().rle_counts(4, 3, &mut c);
        // Column-major: col0 000, col1 011, col2 001, col3 010.
        assert_eq!(c, vec![4, 2, 2, 1, 1, 1, 1]);
        assert_eq!(c.iter().sum::<u32>(), 12);
        assert_eq!(mask().area(), 4);
        assert!(mask().contains(3, 1) && !mask().contains(3, 2) && !mask().contains(0, 0));
    }

    #[test]
    fn a_mask_past_the_frame_edge_is_cut() {
        let m = InstanceMask {
            x: 2,
            y: 1,
            w: 3,
            h: 3,
            bits: vec![1; 9],
        };
        let mut c = vec![];
        m.rle_counts(4, 3, &mut c);
        assert_eq!(c.iter().sum::<u32>(), 12);
        assert_eq!(c, vec![7, 2, 1, 2]);
    }

    #[test]
    fn rle_area_and_intersection() {
        let mut c = vec![];
        mask().rle_counts(4, 3, &mut c);
        let a = Rle::new(3, 4, c).unwrap();
        // The same mask shifted one column right: col1 000, col2 011, col3 001.
        let b = Rle::new(3, 4, vec![7, 2, 2, 1]).unwrap();
        assert_eq!((a.area(), b.area()), (4, 3));
        // a: (1,1) (2,1) (2,2) (1,3) as (row, col); b: (1,2) (2,2) (2,3): both at (2,2).
        assert_eq!(a.intersection(&b), 1);
        assert_eq!(
            a.pixels().collect::<Vec<_>>(),
            vec![(1, 1), (1, 2), (2, 2), (3, 1)]
        );
        assert_eq!(a.intersection(&a), 4);
        let empty = Rle::new(3, 4, vec![12]).unwrap();
        assert_eq!((empty.area(), a.intersection(&empty)), (0, 0));
        // Zero-length runs (uncompressed COCO may have them) change nothing.
        let z = Rle::new(3, 4, vec![0, 0, 4, 2, 2, 1, 1, 1, 1]).unwrap();
        assert_eq!((z.area(), z.intersection(&a)), (4, 4));
        assert!(Rle::new(3, 4, vec![5]).unwrap_err().contains("5 pixels"));
    }

    #[test]
    fn strings_round_trip_like_pycocotools() {
        // pycocotools' `encode(np.asfortranarray(m))["counts"]` of the mask above: from the
        // fourth count on, the difference from the count two before (-1 is "O").
        assert_eq!(rle_to_string(&[4, 2, 2, 1, 1, 1, 1]), "422OO00");
        for counts in [
            vec![0, 5],
            vec![100_000, 3, 7, 250_000, 1],
            vec![12, 300, 12, 299, 40, 1000, 2],
        ] {
            assert_eq!(rle_from_string(&rle_to_string(&counts)), Some(counts));
        }
        assert_eq!(rle_from_string("\x7f"), None);
    }
}
