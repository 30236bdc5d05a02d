//! The event counts of a sequence and every CLEAR-MOT and identity metric that follows from them.

use std::ops::AddAssign;

/// The event counts of one sequence (or, summed, of several), from which every metric follows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MotCounts {
    /// Frames that appear in either file, including frames whose rows were all dropped by the
    /// confidence rule: py-motmetrics iterates over the frame level of its (unfiltered) index.
    /// (Only where pandas takes a shortcut, predictions with exactly the ground truth's
    /// (frame, id) pairs, does it count the ground truth's frames alone.)
    pub num_frames: u64,
    /// Ground-truth boxes (after the confidence rule).
    pub num_objects: u64,
    /// Predicted boxes (after the confidence rule).
    pub num_predictions: u64,
    /// Distinct ground-truth ids.
    pub num_unique_objects: u64,
    /// Matches that are not switches.
    pub num_matches: u64,
    /// Identity switches (IDsw).
    pub num_switches: u64,
    /// Unmatched predictions (FP).
    pub num_false_positives: u64,
    /// Unmatched ground-truth boxes (FN).
    pub num_misses: u64,
    /// Times a ground-truth object went from matched to missed and was matched again later.
    pub num_fragmentations: u64,
    /// Ground-truth ids matched in at least 80 % of their frames.
    pub mostly_tracked: u64,
    /// Ground-truth ids matched in 20 % to 80 % of their frames.
    pub partially_tracked: u64,
    /// Ground-truth ids matched in less than 20 % of their frames.
    pub mostly_lost: u64,
    /// Identity true positives: frames matchable under the global one-to-one id assignment.
    pub idtp: u64,
    /// Sum of `1 - IoU` over matches and switches.
    pub distance_sum: f64,
}

fn ratio(a: f64, b: u64) -> Option<f64> {
    (b > 0).then(|| a / b as f64)
}

impl MotCounts {
    /// Matches plus switches.
    pub fn num_detections(&self) -> u64 {
        self.num_matches + self.num_switches
    }
    /// `1 - (FN + FP + IDsw) / num_objects`; None without ground truth.
    pub fn mota(&self) -> Option<f64> {
        let errors = self.num_misses + self.num_false_positives + self.num_switches;
        ratio(errors as f64, self.num_objects).map(|r| 1.0 - r)
    }
    /// Mean distance `1 - IoU` of matched pairs (switches included): **lower is better**, as
    /// py-motmetrics defines it (the MOTChallenge site prints `1 - this`). None without matches.
    pub fn motp(&self) -> Option<f64> {
        ratio(self.distance_sum, self.num_detections())
    }
    /// `2 IDTP / (num_objects + num_predictions)`.
    pub fn idf1(&self) -> Option<f64> {
        ratio(
            2.0 * self.idtp as f64,
            self.num_objects + self.num_predictions,
        )
    }
    /// Identity precision, `IDTP / num_predictions`.
    pub fn idp(&self) -> Option<f64> {
        ratio(self.idtp as f64, self.num_predictions)
    }
    /// Identity recall, `IDTP / num_objects`.
    pub fn idr(&self) -> Option<f64> {
        ratio(self.idtp as f64, self.num_objects)
    }
    /// Identity false positives, `num_predictions - IDTP`.
    pub fn idfp(&self) -> u64 {
        self.num_predictions - self.idtp
    }
    /// Identity false negatives, `num_objects - IDTP`.
    pub fn idfn(&self) -> u64 {
        self.num_objects - self.idtp
    }
    /// Detections over detections and false positives.
    pub fn precision(&self) -> Option<f64> {
        let d = self.num_detections();
        ratio(d as f64, d + self.num_false_positives)
    }
    /// Detections over ground-truth boxes.
    pub fn recall(&self) -> Option<f64> {
        ratio(self.num_detections() as f64, self.num_objects)
    }

    /// Every metric by its py-motmetrics name; ratios as fractions, undefined ones (0 / 0) null.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "mota": self.mota(),
            "motp": self.motp(),
            "idf1": self.idf1(),
            "idp": self.idp(),
            "idr": self.idr(),
            "precision": self.precision(),
            "recall": self.recall(),
            "idtp": self.idtp,
            "idfp": self.idfp(),
            "idfn": self.idfn(),
            "num_switches": self.num_switches,
            "num_false_positives": self.num_false_positives,
            "num_misses": self.num_misses,
            "num_matches": self.num_matches,
            "num_detections": self.num_detections(),
            "num_objects": self.num_objects,
            "num_predictions": self.num_predictions,
            "num_frames": self.num_frames,
            "num_unique_objects": self.num_unique_objects,
            "num_fragmentations": self.num_fragmentations,
            "mostly_tracked": self.mostly_tracked,
            "partially_tracked": self.partially_tracked,
            "mostly_lost": self.mostly_lost,
        })
    }
}

impl AddAssign for MotCounts {
    /// Sums counts, as py-motmetrics' OVERALL row does; ratios recomputed from the sums follow.
    fn add_assign(&mut self, o: Self) {
        self.num_frames += o.num_frames;
        self.num_objects += o.num_objects;
        self.num_predictions += o.num_predictions;
        self.num_unique_objects += o.num_unique_objects;
        self.num_matches += o.num_matches;
        self.num_switches += o.num_switches;
        self.num_false_positives += o.num_false_positives;
        self.num_misses += o.num_misses;
        self.num_fragmentations += o.num_fragmentations;
        self.mostly_tracked += o.mostly_tracked;
        self.partially_tracked += o.partially_tracked;
        self.mostly_lost += o.mostly_lost;
        self.idtp += o.idtp;
        self.distance_sum += o.distance_sum;
    }
}
