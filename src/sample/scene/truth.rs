//! The driver-assistance truth of the current instant, exact from the world's state: the
//! ego car's offset in the lane the camera is over, the nearest vehicle overlapping that lane
//! ahead with its gap and time to collision, and the people in the path.

use super::Scene;
use super::script::nearest_lane;
use crate::sample::world::*;

/// A vehicle is in the ego lane when it overlaps it by this much (m), or by half its width.
pub const IN_LANE_OVERLAP_M: f64 = 0.5;
/// People within this much (m) of the ego lane's markings are in the path.
pub const VRU_MARGIN_M: f64 = 0.5;
/// People farther than this (m) are not listed.
pub const VRU_RANGE_M: f64 = 50.0;
/// Closing slower than this (m/s) has no time to collision.
pub const MIN_CLOSING_MPS: f64 = 0.3;

impl Scene {
    pub fn adas_truth(&self) -> AdasTruth {
        let t = self.time();
        let ego = &self.vehicles[0];
        let (sway, sway_rate) = self.sway(t);
        let cam_x = ego.x + sway;
        let lane = nearest_lane(cam_x);
        let centre = LANES[lane];
        let (lo, hi) = (centre - LANE_W / 2.0, centre + LANE_W / 2.0);
        let front = ego.s + ego.len;
        let lead = self
            .vehicles
            .iter()
            .filter(|v| v.id != 0 && v.s > front - 0.5)
            .filter(|v| {
                let overlap = hi.min(v.x + v.w / 2.0) - lo.max(v.x - v.w / 2.0);
                overlap >= IN_LANE_OVERLAP_M.min(v.w / 2.0)
            })
            .min_by(|a, b| a.s.total_cmp(&b.s))
            .map(|v| {
                let gap = v.s - front;
                let closing = ego.v - v.v;
                LeadTruth {
                    id: v.id,
                    distance_m: gap,
                    relative_speed_mps: -closing,
                    ttc_s: (closing >= MIN_CLOSING_MPS).then(|| gap.max(0.0) / closing),
                }
            });
        let mut vrus: Vec<(u64, f64, f64)> = self
            .people
            .iter()
            .filter(|p| p.x >= lo - VRU_MARGIN_M && p.x <= hi + VRU_MARGIN_M)
            .map(|p| (p.id, p.s - front, p.x - cam_x))
            .filter(|(_, gap, _)| *gap > 0.0 && *gap <= VRU_RANGE_M)
            .collect();
        vrus.sort_by(|a, b| a.1.total_cmp(&b.1));
        AdasTruth {
            ego_speed_mps: ego.v,
            offset_m: cam_x - centre,
            offset_rate_mps: ego.lat.map_or(0.0, |m| m.rate(t)) + sway_rate,
            lane_width_m: LANE_W,
            lead,
            vrus,
            hidden_vrus: vec![],
            scenario: self.scenario(),
        }
    }
}
