//! The confusion matrix: per-pixel counting of ground truth against prediction, and the
//! IoUs, accuracy and mIoU read from it.

const N: usize = 256;

/// A 256 x 256 confusion matrix of u64 pixel counts: row = ground-truth index, column = predicted
/// index, plus the count of ignored pixels. Every non-zero cell lies in the block
/// `0..gt_classes() x 0..pred_classes()`, which bounds every scan, merge and clear.
#[derive(Clone)]
pub struct Confusion {
    pub(super) counts: Box<[u64; N * N]>,
    gt_hi: usize,
    pred_hi: usize,
    ignored: u64,
}

impl std::fmt::Debug for Confusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.classes();
        let rows: Vec<&[u64]> = (0..n).map(|g| &self.counts[g * N..g * N + n]).collect();
        f.debug_struct("Confusion")
            .field("counts", &rows)
            .field("ignored", &self.ignored)
            .finish()
    }
}

impl Default for Confusion {
    fn default() -> Self {
        Self::new()
    }
}

impl Confusion {
    pub fn new() -> Self {
        let counts: Box<[u64; N * N]> = vec![0u64; N * N]
            .into_boxed_slice()
            .try_into()
            .expect("256 * 256 cells");
        Confusion {
            counts,
            gt_hi: 0,
            pred_hi: 0,
            ignored: 0,
        }
    }

    /// Pixels whose ground truth is `gt` and prediction `pred`.
    pub fn count(&self, gt: u8, pred: u8) -> u64 {
        self.counts[usize::from(gt) * N + usize::from(pred)]
    }

    /// Highest ground-truth index counted + 1 (0 when nothing is counted).
    pub fn gt_classes(&self) -> usize {
        self.gt_hi
    }

    /// Highest predicted index counted + 1 (0 when nothing is counted).
    pub fn pred_classes(&self) -> usize {
        self.pred_hi
    }

    /// Highest index counted, in the ground truth or the prediction, + 1.
    pub fn classes(&self) -> usize {
        self.gt_hi.max(self.pred_hi)
    }

    /// Pixels left out because their ground truth was the ignore index.
    pub fn ignored(&self) -> u64 {
        self.ignored
    }

    /// Pixels counted (not ignored).
    pub fn pixels(&self) -> u64 {
        self.block_rows().map(|r| r.iter().sum::<u64>()).sum()
    }

    /// Correctly classified pixels: the diagonal.
    pub fn correct(&self) -> u64 {
        (0..self.classes()).map(|k| self.counts[k * N + k]).sum()
    }

    fn block_rows(&self) -> impl Iterator<Item = &[u64]> {
        (0..self.gt_hi).map(|g| &self.counts[g * N..g * N + self.pred_hi])
    }

    /// Pixels of class `k` in the ground truth (row sum).
    pub fn gt_pixels(&self, k: usize) -> u64 {
        if k >= self.gt_hi {
            return 0;
        }
        self.counts[k * N..k * N + self.pred_hi].iter().sum()
    }

    /// Pixels predicted as class `k` (column sum).
    pub fn pred_pixels(&self, k: usize) -> u64 {
        if k >= self.pred_hi {
            return 0;
        }
        (0..self.gt_hi).map(|g| self.counts[g * N + k]).sum()
    }

    /// IoU of class `k`: TP / (TP + FP + FN); `None` when the class is in neither the ground
    /// truth nor the prediction.
    pub fn iou(&self, k: usize) -> Option<f64> {
        if k >= N {
            return None;
        }
        let tp = self.counts[k * N + k];
        let union = self.gt_pixels(k) + self.pred_pixels(k) - tp;
        (union > 0).then(|| tp as f64 / union as f64)
    }

    /// IoUs of classes `0..n`.
    pub fn ious(&self, n: usize) -> Vec<Option<f64>> {
        (0..n).map(|k| self.iou(k)).collect()
    }

    /// Mean of the defined IoUs of classes `0..n`; `None` when none is defined.
    pub fn miou(&self, n: usize) -> Option<f64> {
        mean_defined(&self.ious(n))
    }

    /// Correct pixels over counted pixels; `None` when nothing is counted.
    pub fn pixel_accuracy(&self) -> Option<f64> {
        let px = self.pixels();
        (px > 0).then(|| self.correct() as f64 / px as f64)
    }

    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: &Confusion) {
        for g in 0..other.gt_hi {
            let (a, b) = (g * N, g * N + other.pred_hi);
            for (x, y) in self.counts[a..b].iter_mut().zip(&other.counts[a..b]) {
                *x += y;
            }
        }
        self.gt_hi = self.gt_hi.max(other.gt_hi);
        self.pred_hi = self.pred_hi.max(other.pred_hi);
        self.ignored += other.ignored;
    }

    /// Back to empty; costs the size of the used block only.
    pub fn clear(&mut self) {
        for g in 0..self.gt_hi {
            self.counts[g * N..g * N + self.pred_hi].fill(0);
        }
        self.gt_hi = 0;
        self.pred_hi = 0;
        self.ignored = 0;
    }

    /// Counts one frame. See [`add_frame`].
    pub fn add_frame(&mut self, gt: &[u8], pred: &[u8], ignore: Option<u8>) {
        add_frame(self, gt, pred, ignore)
    }
}

/// The mean of the `Some` values; `None` when there is none (NumPy's `nanmean` without the NaN).
pub fn mean_defined(values: &[Option<f64>]) -> Option<f64> {
    let (sum, n) = values
        .iter()
        .flatten()
        .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// Adds one frame's pixels to `c`: `gt` and `pred` are the two class maps, pixel by pixel (same
/// length, same order); pixels whose ground truth is `ignore` are only counted as ignored.
///
/// # Panics
/// When the two maps differ in length (a caller's bug: compare sizes first).
pub fn add_frame(c: &mut Confusion, gt: &[u8], pred: &[u8], ignore: Option<u8>) {
    assert_eq!(
        gt.len(),
        pred.len(),
        "add_frame: ground truth and prediction differ in pixel count"
    );
    if gt.is_empty() {
        return;
    }
    // `fold` vectorises; `Iterator::max` (through `Option`) does not and costs 30 times more.
    let max = |v: &[u8]| v.iter().fold(0u8, |a, &b| a.max(b));
    let (gmax, pmax) = (max(gt), max(pred));
    // The ignore row is counted like any other, then its old contents are put back and the
    // difference goes to `ignored`: the hot loop has no branch.
    let ig = ignore.map(|i| usize::from(i) * N);
    let mut saved = [0u64; N];
    if let Some(r) = ig {
        saved.copy_from_slice(&c.counts[r..r + N]);
    }
    histogram(&mut c.counts, gt, pred);
    if let Some(r) = ig {
        let row = &mut c.counts[r..r + N];
        let added: u64 = row.iter().sum::<u64>() - saved.iter().sum::<u64>();
        c.ignored += added;
        row.copy_from_slice(&saved);
    }
    // Grow the used block to the cells that are now non-zero.
    let (gmax, pmax) = (usize::from(gmax), usize::from(pmax));
    for g in 0..=gmax {
        if Some(g * N) == ig {
            continue;
        }
        let row = &c.counts[g * N..=g * N + pmax];
        if let Some(p) = row.iter().rposition(|&v| v != 0) {
            c.gt_hi = c.gt_hi.max(g + 1);
            c.pred_hi = c.pred_hi.max(p + 1);
        }
    }
}

#[inline(always)]
fn cell(g: u8, p: u8) -> usize {
    ((usize::from(g) << 8) | usize::from(p)) & (N * N - 1)
}

/// The hot loop. Class maps are mostly long runs of one (ground truth, prediction) pair, and one
/// increment per pixel would wait on the previous store to the same counter (about 3 ms for a
/// 960x540 frame). So 8 pixels are read as two u64: when both are uniform, the run continues in
/// a register and memory is touched only when the pair changes; other blocks (class borders,
/// noise) count pixel by pixel.
#[inline]
fn histogram(counts: &mut [u64; N * N], gt: &[u8], pred: &[u8]) {
    const SPLAT: u64 = 0x0101_0101_0101_0101;
    let (gc, pc) = (gt.chunks_exact(8), pred.chunks_exact(8));
    let (g_rest, p_rest) = (gc.remainder(), pc.remainder());
    let (mut key, mut run) = (0usize, 0u64);
    for (g8, p8) in gc.zip(pc) {
        let g = u64::from_le_bytes(g8.try_into().expect("8 bytes"));
        let p = u64::from_le_bytes(p8.try_into().expect("8 bytes"));
        let (g0, p0) = (g & 0xff, p & 0xff);
        if g == g0 * SPLAT && p == p0 * SPLAT {
            let k = cell(g0 as u8, p0 as u8);
            if k == key {
                run += 8;
            } else {
                counts[key] += run;
                key = k;
                run = 8;
            }
        } else {
            for (&g, &p) in g8.iter().zip(p8) {
                counts[cell(g, p)] += 1;
            }
        }
    }
    counts[key] += run;
    for (&g, &p) in g_rest.iter().zip(p_rest) {
        counts[cell(g, p)] += 1;
    }
}
