//! The scripted driver-assistance moments of a drive ([`Scenario`]): one at a time, in a
//! seed-shuffled order, each after a calm stretch of 3 to 5 s; a moment whose setting is not
//! there (no vehicle ahead to brake, the next lane not free) is tried again every half second,
//! and given up after ten. The moments act on the world only through what the
//! simulation already has: a vehicle's braking or sideways move, the ego car's sideways move,
//! the ego driver looking away (ignoring the vehicle ahead until the time to collision falls
//! under [`WAKE_TTC_S`]), and a crossing without zebra where one person steps out.

use super::plan::*;
use super::{Crossing, Scene};
use crate::sample::rng::{Rng, stream};
use crate::sample::world::*;

impl Scene {
    /// Starts, advances and ends the scripted moments (called every world step).
    pub(super) fn script_step(&mut self) {
        let t = self.time();
        // Sideways moves under way.
        for v in &mut self.vehicles {
            if let Some(m) = v.lat {
                v.x = m.at(t);
                v.lane = nearest_lane(v.x);
                if m.done(t) {
                    v.lat = None;
                }
            }
            if v.brake.is_some_and(|b| t >= b.until) {
                v.brake = None;
            }
        }
        if let Some(r) = self.script.running {
            if self.moment_over(r, t) {
                self.script.running = None;
                self.inattentive = false;
                self.script.next_at = t + self.script.rng.range(3.0, 5.0);
            }
            return;
        }
        if t < self.script.next_at {
            return;
        }
        let kind = self.script.order[self.script.next % self.script.order.len()];
        if let Some(r) = self.try_start(kind, t) {
            self.script.running = Some(r);
            self.script.next += 1;
            self.script.waiting_since = None;
            return;
        }
        let since = *self.script.waiting_since.get_or_insert(t);
        if t - since >= GIVE_UP_S {
            self.script.next += 1;
            self.script.waiting_since = None;
        }
        self.script.next_at = t + RETRY_S;
    }

    /// The scripted moment under way.
    pub fn scenario(&self) -> Option<Scenario> {
        self.script.running.map(|r| r.kind)
    }

    fn moment_over(&mut self, r: Running, t: f64) -> bool {
        if t >= r.deadline {
            return true;
        }
        let vehicle = |id: u64| self.vehicles.iter().find(|v| v.id == id);
        match r.kind {
            Scenario::LeadBraking | Scenario::StoppedVehicle => {
                vehicle(r.subject).is_none_or(|v| v.brake.is_none()) && !self.inattentive
            }
            Scenario::CutIn => {
                let ego = &self.vehicles[0];
                let (front, lane, v_ego) = (ego.s + ego.len, ego.lane, ego.v);
                let Some(v) = self.vehicles.iter_mut().find(|v| v.id == r.subject) else {
                    return true;
                };
                if r.returning {
                    return v.lat.is_none();
                }
                if t > r.deadline - 12.0 {
                    // Held up in its lane: no cut-in this time.
                    return true;
                }
                if v.s - front >= 7.0 && v.lane != lane {
                    v.lat = Some(LatMove {
                        from: v.x,
                        to: LANES[lane],
                        t0: t,
                        dur: 3.0,
                    });
                    v.v0 = (v_ego - 1.0).max(4.0);
                    if let Some(run) = &mut self.script.running {
                        run.returning = true;
                    }
                }
                false
            }
            Scenario::LaneChange => self.vehicles[0].lat.is_none(),
            Scenario::Drift => {
                if self.vehicles[0].lat.is_some() {
                    return false;
                }
                if r.returning {
                    return true;
                }
                // Held at the far point for a moment, then back to the lane's centre.
                let ego = &mut self.vehicles[0];
                let centre = LANES[ego.lane];
                ego.lat = Some(LatMove {
                    from: ego.x,
                    to: centre,
                    t0: t + 0.6,
                    dur: 3.0,
                });
                if let Some(run) = &mut self.script.running {
                    run.returning = true;
                }
                false
            }
            Scenario::PedestrianInPath => {
                // Over once the person has left the ego lane behind (by two metres).
                let centre = LANES[self.vehicles[0].lane];
                self.people
                    .iter()
                    .find(|p| p.id == r.subject)
                    .is_none_or(|p| match p.walk {
                        Walk::Crossing { target, .. } => {
                            let d = p.x - centre;
                            d.signum() == (target - p.x).signum() && d.abs() > LANE_W / 2.0 + 2.0
                        }
                        Walk::Along(_) => true,
                        Walk::Waiting { .. } => false,
                    })
            }
        }
    }

    fn try_start(&mut self, kind: Scenario, t: f64) -> Option<Running> {
        let ego = self.vehicles[0].clone();
        let front = ego.s + ego.len;
        let cam = self.cam_s();
        let run = |subject, deadline| Running {
            kind,
            subject,
            returning: false,
            deadline: t + deadline,
        };
        match kind {
            Scenario::LeadBraking | Scenario::StoppedVehicle => {
                let (max_gap, decel, v_target, hold) = if kind == Scenario::LeadBraking {
                    (60.0, 5.0, 0.3, 4.0)
                } else {
                    (80.0, 3.5, 0.0, 9.0)
                };
                if ego.v < 7.0 {
                    return None;
                }
                let lead = self
                    .vehicles
                    .iter_mut()
                    .filter(|v| v.id != 0 && v.lane == ego.lane && v.lat.is_none())
                    .filter(|v| v.s > front)
                    .min_by(|a, b| a.s.total_cmp(&b.s))?;
                let gap = lead.s - front;
                if !(8.0..=max_gap).contains(&gap) || lead.v < 5.0 {
                    return None;
                }
                lead.brake = Some(Brake {
                    decel,
                    v_target: lead.v * v_target,
                    until: t + hold,
                });
                let id = lead.id;
                self.inattentive = true;
                Some(run(id, 20.0))
            }
            Scenario::CutIn => {
                // A car overtakes in the next lane (it comes from behind, unseen) and moves in
                // once its rear is a few metres past the ego car's front.
                if ego.v < 6.0 {
                    return None;
                }
                let lanes = [ego.lane.wrapping_sub(1), ego.lane + 1];
                let lane = lanes.into_iter().filter(|l| *l < LANES.len()).find(|&l| {
                    self.vehicles
                        .iter()
                        .filter(|v| v.id != 0 && v.lane == l)
                        .all(|v| v.s > front + 12.0 || v.s + v.len < cam - 40.0)
                })?;
                let v0 = ego.v + 4.0;
                let mut v = self.random_vehicle(Kind::Car, lane, cam - 30.0, v0);
                v.id = self.new_id();
                let id = v.id;
                self.vehicles.push(v);
                Some(run(id, 20.0))
            }
            Scenario::Drift => {
                if ego.v < 6.0 {
                    return None;
                }
                let dir = if self.script.rng.chance(0.5) {
                    1.0
                } else {
                    -1.0
                };
                let e = &mut self.vehicles[0];
                e.lat = Some(LatMove {
                    from: e.x,
                    to: LANES[e.lane] + dir * 1.15,
                    t0: t,
                    dur: 3.5,
                });
                Some(run(0, 15.0))
            }
            Scenario::LaneChange => {
                if ego.v < 6.0 {
                    return None;
                }
                let first = if self.script.rng.chance(0.5) {
                    1
                } else {
                    usize::MAX
                };
                let free = |l: usize| {
                    self.vehicles
                        .iter()
                        .filter(|v| v.id != 0 && v.lane == l)
                        .all(|v| v.s > front + 10.0 || v.s + v.len < cam - 10.0)
                };
                let target = [ego.lane.wrapping_add(first), ego.lane.wrapping_sub(first)]
                    .into_iter()
                    .filter(|l| *l < LANES.len())
                    .find(|l| free(*l))?;
                let e = &mut self.vehicles[0];
                e.lat = Some(LatMove {
                    from: e.x,
                    to: LANES[target],
                    t0: t,
                    dur: 4.5,
                });
                Some(run(0, 10.0))
            }
            Scenario::PedestrianInPath => {
                if ego.v < 6.0 {
                    return None;
                }
                let s = cam + self.script.rng.range(32.0, 40.0);
                if self.crossings.iter().any(|c| (c.s - s).abs() < 20.0)
                    || self
                        .bridges
                        .iter()
                        .any(|b| s > b.s - 8.0 && s < b.s + BRIDGE_LEN + 8.0)
                {
                    return None;
                }
                let at = self.crossings.partition_point(|c| c.s < s);
                self.crossings.insert(
                    at,
                    Crossing {
                        s,
                        trigger: f64::INFINITY,
                        triggered_at: Some(t),
                        peopled: true,
                        zebra: false,
                    },
                );
                for p in &mut self.people {
                    if let Walk::Waiting { crossing, .. } | Walk::Crossing { crossing, .. } =
                        &mut p.walk
                        && *crossing >= at
                    {
                        *crossing += 1;
                    }
                }
                let side = if self.script.rng.chance(0.5) {
                    1.0
                } else {
                    -1.0
                };
                let mut r = Rng::keyed(self.seed, stream::SCRIPT, 1 + self.script.next as u64);
                let person = self.random_person(
                    Some(&mut r),
                    side * (ROAD_HALF + 0.5),
                    s,
                    Walk::Waiting {
                        crossing: at,
                        delay: 0.0,
                    },
                );
                let id = person.id;
                self.people.push(person);
                Some(run(id, 14.0))
            }
        }
    }

    /// Whether the ego driver, looking away, ignores a leader `gap` m ahead closing at
    /// `closing` m/s; wakes up (and stays awake) once it is too near.
    pub(super) fn looks_away(&mut self, gap: f64, closing: f64) -> bool {
        if !self.inattentive {
            return false;
        }
        if gap < WAKE_GAP_M || (closing > 0.0 && gap / closing < WAKE_TTC_S) {
            self.inattentive = false;
            return false;
        }
        true
    }
}

/// The lane whose centre is nearest to `x`.
pub(super) fn nearest_lane(x: f64) -> usize {
    (0..LANES.len())
        .min_by(|&a, &b| (LANES[a] - x).abs().total_cmp(&(LANES[b] - x).abs()))
        .expect("lanes")
}
