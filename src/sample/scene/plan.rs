//! The plan of a drive's scripted moments: their seed-shuffled order, when the next one is
//! due, and the one under way. What the moments do is in `script.rs`.

use crate::sample::rng::{Rng, stream};
use crate::sample::world::*;

/// A driver looking away brakes once the time to collision falls under this (s) or the gap
/// under [`WAKE_GAP_M`].
pub(super) const WAKE_TTC_S: f64 = 1.3;
pub(super) const WAKE_GAP_M: f64 = 4.0;
/// The first moment starts after this many seconds of calm (and a random second).
pub(super) const FIRST_AT_S: f64 = 2.0;
pub(super) const RETRY_S: f64 = 0.5;
pub(super) const GIVE_UP_S: f64 = 10.0;

pub(super) struct Script {
    pub(super) rng: Rng,
    pub(super) order: [Scenario; 6],
    pub(super) next: usize,
    pub(super) next_at: f64,
    pub(super) waiting_since: Option<f64>,
    pub(super) running: Option<Running>,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Running {
    pub(super) kind: Scenario,
    /// The vehicle or person it concerns.
    pub(super) subject: u64,
    /// Drift: on the way back to the centre; cut-in: moving in.
    pub(super) returning: bool,
    /// The moment ends at this time at the latest.
    pub(super) deadline: f64,
}

impl Script {
    pub(super) fn new(seed: u64) -> Script {
        let mut rng = Rng::keyed(seed, stream::SCRIPT, 0);
        let mut order = Scenario::ALL;
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        let next_at = FIRST_AT_S + rng.unit();
        Script {
            rng,
            order,
            next: 0,
            next_at,
            waiting_since: None,
            running: None,
        }
    }
}
