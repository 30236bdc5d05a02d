//! The world of a sample drive and what the camera sees of it.
//!
//! A straight three-lane road (the ego car in the middle lane) with sidewalks, trees, street
//! lights, zebra crossings and the odd bridge. Traffic follows the intelligent driver model in
//! each lane: cars, trucks and buses overtake the ego car and are overtaken, and stop in front of
//! a crossing while people walk over it in their lane. People wait at crossings and cross when
//! the ego car comes near, or walk along the sidewalks. The light drifts slowly in brightness and
//! colour and dims under a bridge, whose shadow darkens the road and the objects in it.
//!
//! The world advances in fixed steps of 1/[`SIM_HZ`] s whatever the frame rate, and every random
//! choice comes from streams keyed by the seed ([`Rng::keyed`]): one seed is one drive, and two
//! frame rates that divide [`SIM_HZ`] sample the same drive.
//!
//! [`Scene::view`] gives the frame's drawing: screen-space polygons and circles with colours and
//! classes, the flat ones (sky, ground, road markings, bridge decks) in order, the standing ones
//! (vehicles, people, trees, poles, pillars) far to near, each person and vehicle with its id.

mod look;
mod plan;
mod script;
mod truth;
mod view;

use super::rng::{Rng, stream};
use super::world::*;
use look::{BUS_COLORS, CAR_COLORS, HAIRS, Look, PANTS, SHIRTS, SKINS, TRUCK_COLORS, pick_color};
use std::f64::consts::TAU;

/// World steps per second; frame rates that divide it sample the same drive.
pub const SIM_HZ: u64 = 600;
const DT: f64 = 1.0 / SIM_HZ as f64;

// The intelligent driver model.
const IDM_ACCEL: f64 = 1.4;
const IDM_BRAKE: f64 = 2.5;
const IDM_GAP: f64 = 2.5;
const IDM_HEADWAY: f64 = 1.3;
const MAX_BRAKE: f64 = 9.0;
/// A driver stops for a crossing when that needs at most this deceleration; else drives on.
const STOP_DECEL: f64 = 6.0;

#[derive(Debug, Clone)]
struct Crossing {
    s: f64,
    /// People start crossing when the camera is this close.
    trigger: f64,
    triggered_at: Option<f64>,
    peopled: bool,
    /// Painted (a zebra and a stop line); a scripted person steps out where there is none.
    zebra: bool,
}

#[derive(Debug, Clone)]
struct Bridge {
    s: f64,
}

/// The world of one drive.
pub struct Scene {
    seed: u64,
    width: f64,
    height: f64,
    step: u64,
    rng: Rng,
    look: Look,
    /// `vehicles[0]` is the ego car.
    vehicles: Vec<Vehicle>,
    /// The ego car's acceleration, smoothed over 0.4 s (the camera pitches with it).
    ego_accel: f64,
    people: Vec<Person>,
    crossings: Vec<Crossing>,
    crossing_rng: Rng,
    bridges: Vec<Bridge>,
    bridge_rng: Rng,
    next_id: u64,
    script: plan::Script,
    /// The ego driver looks away (a scripted moment): ignores the vehicle ahead for now.
    inattentive: bool,
}

impl Scene {
    /// The drive of `seed` seen by a `width` x `height` camera, at its first instant.
    pub fn new(seed: u64, width: u32, height: u32) -> Scene {
        let mut rng = Rng::keyed(seed, stream::TRAFFIC, 0);
        let ego_v0 = rng.range(10.0, 14.0);
        let ego = Vehicle {
            id: 0,
            kind: Kind::Car,
            lane: EGO_LANE,
            x: LANES[EGO_LANE],
            lat: None,
            brake: None,
            s: -CAM_IN_EGO,
            len: EGO_LEN,
            w: 1.8,
            h: 1.45,
            v: ego_v0 * 0.9,
            v0: ego_v0,
            color: [0, 0, 0],
            accent: [0, 0, 0],
        };
        let mut scene = Scene {
            seed,
            width: width as f64,
            height: height as f64,
            step: 0,
            rng,
            look: Look::new(seed),
            vehicles: vec![ego],
            ego_accel: 0.0,
            people: vec![],
            crossings: vec![],
            crossing_rng: Rng::keyed(seed, stream::CROSSINGS, 0),
            bridges: vec![],
            bridge_rng: Rng::keyed(seed, stream::BRIDGES, 0),
            next_id: 1,
            script: plan::Script::new(seed),
            inattentive: false,
        };
        scene.populate();
        scene
    }

    /// Seconds since the first frame.
    pub fn time(&self) -> f64 {
        self.step as f64 * DT
    }

    /// Advances the world to `t_steps` world steps (1/[`SIM_HZ`] s each) from the start.
    pub fn advance_to(&mut self, t_steps: u64) {
        while self.step < t_steps {
            self.tick();
        }
    }

    fn cam_s(&self) -> f64 {
        self.vehicles[0].s + CAM_IN_EGO
    }

    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id - 1
    }

    fn random_vehicle(&mut self, kind: Kind, lane: usize, s: f64, v0: f64) -> Vehicle {
        let r = &mut self.rng;
        let (len, w, h, color, accent) = match kind {
            Kind::Car => (
                r.range(4.0, 4.9),
                r.range(1.72, 1.9),
                r.range(1.4, 1.58),
                pick_color(r, &CAR_COLORS, 0.06),
                [0, 0, 0],
            ),
            Kind::Truck => (
                r.range(8.0, 11.0),
                2.5,
                r.range(3.4, 3.9),
                pick_color(r, &TRUCK_COLORS, 0.05),
                pick_color(r, &CAR_COLORS, 0.05),
            ),
            _ => (
                r.range(11.0, 12.5),
                2.55,
                r.range(3.0, 3.2),
                pick_color(r, &BUS_COLORS, 0.05),
                pick_color(r, &BUS_COLORS, 0.05),
            ),
        };
        Vehicle {
            id: 0,
            kind,
            lane,
            x: LANES[lane],
            lat: None,
            brake: None,
            s,
            len,
            w,
            h,
            v: v0,
            v0,
            color,
            accent,
        }
    }

    fn random_kind(&mut self) -> Kind {
        let u = self.rng.unit();
        if u < 0.64 {
            Kind::Car
        } else if u < 0.82 {
            Kind::Truck
        } else {
            Kind::Bus
        }
    }

    /// The first traffic: every lane filled around the camera, with a bus and a truck in view
    /// in the side lanes, the first crossing ahead with people waiting, people on the sidewalks.
    fn populate(&mut self) {
        let cam = self.cam_s();
        let ego_v0 = self.vehicles[0].v0;
        let forced = if self.rng.chance(0.5) {
            [Kind::Bus, Kind::Truck]
        } else {
            [Kind::Truck, Kind::Bus]
        };
        for lane in 0..3 {
            let mut s = if lane == EGO_LANE {
                cam + self.rng.range(14.0, 30.0)
            } else {
                cam - BEHIND + self.rng.range(0.0, 20.0)
            };
            let force_at = cam + self.rng.range(18.0, 45.0);
            let mut forced_done = lane == EGO_LANE;
            while s < cam + AHEAD {
                let kind = if !forced_done && s >= force_at {
                    forced_done = true;
                    forced[lane / 2]
                } else {
                    self.random_kind()
                };
                let v0 = if lane == EGO_LANE {
                    self.rng.range(ego_v0 - 1.0, ego_v0 + 4.0)
                } else {
                    self.rng.range(6.0, 17.0)
                };
                let mut v = self.random_vehicle(kind, lane, s, v0);
                v.id = self.new_id();
                s += v.len + self.rng.range(14.0, 50.0);
                self.vehicles.push(v);
            }
        }
        self.extend_world(cam);
        for _ in 0..self.rng.below(5) + 3 {
            let s = cam + self.rng.range(4.0, 130.0);
            self.spawn_walker(s);
        }
    }

    /// Makes sure the crossings and bridges reach well beyond `cam + AHEAD`, and that every
    /// crossing within reach has its people.
    fn extend_world(&mut self, cam: f64) {
        while self
            .crossings
            .last()
            .is_none_or(|c| c.s < cam + AHEAD + 200.0)
        {
            let r = &mut self.crossing_rng;
            let s = match self.crossings.last() {
                None => r.range(250.0, 400.0),
                Some(c) => c.s + r.range(260.0, 420.0),
            };
            let trigger = r.range(25.0, 130.0);
            self.crossings.push(Crossing {
                s,
                trigger,
                triggered_at: None,
                peopled: false,
                zebra: true,
            });
        }
        while self
            .bridges
            .last()
            .is_none_or(|b| b.s < cam + AHEAD + 200.0)
        {
            let r = &mut self.bridge_rng;
            let s = match self.bridges.last() {
                None => r.range(50.0, 260.0),
                Some(b) => b.s + r.range(300.0, 700.0),
            };
            self.bridges.push(Bridge { s });
        }
        for i in 0..self.crossings.len() {
            let c = &self.crossings[i];
            if !c.peopled && c.s - cam < 170.0 {
                self.crossings[i].peopled = true;
                self.spawn_group(i);
            }
        }
    }

    fn random_person(
        &mut self,
        rng_of_group: Option<&mut Rng>,
        x: f64,
        s: f64,
        walk: Walk,
    ) -> Person {
        let id = self.new_id();
        let r = match rng_of_group {
            Some(r) => r,
            None => &mut self.rng,
        };
        Person {
            id,
            x,
            s,
            h: r.range(1.55, 1.92),
            speed: r.range(1.1, 1.7),
            walk,
            phase: r.range(0.0, TAU),
            shirt: pick_color(r, &SHIRTS, 0.1),
            pants: pick_color(r, &PANTS, 0.1),
            skin: pick_color(r, &SKINS, 0.05),
            hair: r.pick(&HAIRS),
        }
    }

    /// People waiting at crossing `i`: one to four on one or both curbs.
    fn spawn_group(&mut self, i: usize) {
        let mut r = Rng::keyed(self.seed, stream::GROUP, i as u64);
        let cs = self.crossings[i].s;
        let n = 1 + r.below(4);
        for _ in 0..n {
            let side = if r.chance(0.5) { 1.0 } else { -1.0 };
            let x = side * r.range(ROAD_HALF + 0.4, ROAD_HALF + 1.6);
            let s = cs + r.range(-ZEBRA_HALF + 0.4, ZEBRA_HALF - 0.4);
            let walk = Walk::Waiting {
                crossing: i,
                delay: r.range(0.0, 2.5),
            };
            let p = self.random_person(Some(&mut r), x, s, walk);
            self.people.push(p);
        }
    }

    fn spawn_walker(&mut self, s: f64) {
        let side = if self.rng.chance(0.5) { 1.0 } else { -1.0 };
        let x = side * self.rng.range(ROAD_HALF + 0.5, SIDEWALK_OUT - 0.4);
        let dir = if self.rng.chance(0.5) { 1.0 } else { -1.0 };
        let p = self.random_person(None, x, s, Walk::Along(dir));
        self.people.push(p);
    }

    /// Whether people on crossing `c` are in lane `lane` (with a metre to spare) or will step
    /// into it within 2.5 s; people waiting count from a second before they start.
    fn lane_blocked(&self, c: usize, lane: usize) -> bool {
        let (lo, hi) = (
            LANES[lane] - LANE_W / 2.0 - 1.0,
            LANES[lane] + LANE_W / 2.0 + 1.0,
        );
        let t = self.time();
        self.people.iter().any(|p| {
            let dir = match p.walk {
                Walk::Crossing {
                    crossing, target, ..
                } if crossing == c => (target - p.x).signum(),
                Walk::Waiting { crossing, delay }
                    if crossing == c
                        && self.crossings[c]
                            .triggered_at
                            .is_some_and(|at| t + 1.0 >= at + delay) =>
                {
                    -p.x.signum()
                }
                _ => return false,
            };
            let ahead = if dir > 0.0 { lo - p.x } else { p.x - hi };
            (lo..=hi).contains(&p.x) || (ahead > 0.0 && ahead < p.speed * 2.5)
        })
    }

    /// One world step.
    fn tick(&mut self) {
        self.step += 1;
        self.script_step();
        let t = self.time();
        let cam = self.cam_s();

        // Traffic: each vehicle follows the one ahead in its lane and stops for a crossing.
        let n = self.vehicles.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| {
            let (va, vb) = (&self.vehicles[a], &self.vehicles[b]);
            (va.lane, va.s, va.id)
                .partial_cmp(&(vb.lane, vb.s, vb.id))
                .expect("finite positions")
        });
        let mut accel = vec![0.0; n];
        for (k, &i) in order.iter().enumerate() {
            let (vv, v0, lane, brake) = {
                let v = &self.vehicles[i];
                (v.v, v.v0, v.lane, v.brake)
            };
            let front = self.vehicles[i].s + self.vehicles[i].len;
            let mut a = idm(vv, v0, None);
            if let Some(&j) = order.get(k + 1)
                && self.vehicles[j].lane == lane
            {
                let (gap, vl) = (self.vehicles[j].s - front, self.vehicles[j].v);
                if !(i == 0 && self.looks_away(gap, vv - vl)) {
                    a = a.min(idm(vv, v0, Some((gap, vl))));
                }
            }
            if let Some(c) = self
                .crossings
                .iter()
                .position(|c| c.s - ZEBRA_HALF - STOP_BEFORE > front)
            {
                let gap = self.crossings[c].s - ZEBRA_HALF - STOP_BEFORE - front;
                if gap < 60.0
                    && vv * vv / (2.0 * gap.max(0.01)) <= STOP_DECEL
                    && self.lane_blocked(c, lane)
                {
                    a = a.min(idm(vv, v0, Some((gap, 0.0))));
                }
            }
            if let Some(b) = brake {
                a = if vv > b.v_target + 0.05 {
                    a.min(-b.decel)
                } else {
                    a.min((b.v_target - vv) * 2.0)
                };
            }
            accel[i] = a.clamp(-MAX_BRAKE, IDM_ACCEL);
        }
        for (v, a) in self.vehicles.iter_mut().zip(&accel) {
            let dv = (v.v + a * DT).max(0.0);
            v.s += ((v.v + dv) * 0.5 * DT).max(0.0);
            v.v = dv;
        }
        self.ego_accel += (accel[0] - self.ego_accel) * DT / 0.4;

        // People.
        for c in 0..self.crossings.len() {
            let cr = &mut self.crossings[c];
            if cr.triggered_at.is_none() && cr.s - cam < cr.trigger {
                cr.triggered_at = Some(t);
            }
        }
        for i in 0..self.people.len() {
            let walk = self.people[i].walk;
            let p = &mut self.people[i];
            match walk {
                Walk::Along(dir) => {
                    p.s += dir * p.speed * DT;
                    p.phase += p.speed * DT * 3.2;
                }
                Walk::Waiting { crossing, delay } => {
                    if let Some(at) = self.crossings[crossing].triggered_at
                        && t >= at + delay
                    {
                        let mut r = Rng::keyed(self.seed, stream::GROUP, p.id | (1 << 40));
                        let target = -p.x.signum() * r.range(ROAD_HALF + 0.5, SIDEWALK_OUT - 0.4);
                        let then = if r.chance(0.5) { 1.0 } else { -1.0 };
                        p.walk = Walk::Crossing {
                            crossing,
                            target,
                            then,
                        };
                    }
                }
                Walk::Crossing { target, then, .. } => {
                    let dir = (target - p.x).signum();
                    p.x += dir * p.speed * DT;
                    p.phase += p.speed * DT * 3.2;
                    if (target - p.x) * dir <= 0.0 {
                        p.x = target;
                        p.walk = Walk::Along(then);
                    }
                }
            }
        }

        // Arrivals and departures.
        if self.step.is_multiple_of(SIM_HZ / 10) {
            self.arrivals(0.1);
        }
        let cam = self.cam_s();
        self.vehicles
            .retain(|v| v.id == 0 || (v.s + v.len > cam - BEHIND && v.s < cam + AHEAD + 30.0));
        let crossings = &self.crossings;
        self.people.retain(|p| {
            let waiting = matches!(p.walk, Walk::Waiting { crossing, .. } | Walk::Crossing { crossing, .. } if crossings[crossing].s > cam - 5.0);
            waiting || (p.s > cam - 5.0 && p.s < cam + AHEAD)
        });
    }

    /// New vehicles and walkers over `dt` seconds.
    fn arrivals(&mut self, dt: f64) {
        let cam = self.cam_s();
        self.extend_world(cam);
        let ego_v = self.vehicles[0].v;
        for lane in 0..3 {
            // From behind, faster than the ego car: they overtake it.
            if lane != EGO_LANE && self.rng.chance(0.10 * dt) {
                let s = cam - BEHIND + 5.0;
                let v0 = (ego_v + self.rng.range(2.5, 7.0)).min(22.0);
                self.try_spawn(lane, s, v0);
            }
            // Far ahead.
            if self.rng.chance(0.12 * dt) {
                let v0 = self.rng.range(7.0, 16.0);
                self.try_spawn(lane, cam + AHEAD, v0);
            }
        }
        if self.rng.chance(0.35 * dt) {
            let s = cam + self.rng.range(110.0, 150.0);
            self.spawn_walker(s);
        }
    }

    fn try_spawn(&mut self, lane: usize, s: f64, v0: f64) {
        let kind = self.random_kind();
        let mut v = self.random_vehicle(kind, lane, s, v0);
        let free = self
            .vehicles
            .iter()
            .filter(|o| o.lane == lane)
            .all(|o| o.s > s + v.len + 25.0 || o.s + o.len < s - 25.0);
        let crowded = self.vehicles.iter().filter(|o| o.lane == lane).count() >= 7;
        if free && !crowded {
            v.id = self.new_id();
            self.vehicles.push(v);
        }
    }
}

/// The intelligent driver model's acceleration at speed `v` (desired `v0`), behind a leader at
/// `(gap, leader speed)` if any.
fn idm(v: f64, v0: f64, leader: Option<(f64, f64)>) -> f64 {
    let free = 1.0 - (v / v0.max(0.1)).powi(4);
    match leader {
        None => IDM_ACCEL * free,
        Some((gap, vl)) => {
            let want = IDM_GAP
                + (v * IDM_HEADWAY + v * (v - vl) / (2.0 * (IDM_ACCEL * IDM_BRAKE).sqrt()))
                    .max(0.0);
            IDM_ACCEL * (free - (want / gap.max(0.1)).powi(2))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seed: u64, seconds: u64) -> Scene {
        let mut s = Scene::new(seed, 960, 540);
        s.advance_to(seconds * SIM_HZ);
        s
    }

    #[test]
    fn traffic_keeps_its_distance_and_the_ego_car_moves() {
        for seed in 0..6 {
            let s = run(seed, 20);
            assert!(s.cam_s() > 40.0, "seed {seed}: the ego car barely moved");
            for lane in 0..3 {
                let mut v: Vec<&Vehicle> = s.vehicles.iter().filter(|v| v.lane == lane).collect();
                v.sort_by(|a, b| a.s.partial_cmp(&b.s).unwrap());
                for p in v.windows(2) {
                    assert!(
                        p[0].s + p[0].len < p[1].s + 0.5,
                        "seed {seed} lane {lane}: {} runs into {}",
                        p[0].id,
                        p[1].id
                    );
                }
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_world() {
        let (a, b) = (run(3, 5), run(3, 5));
        let key = |s: &Scene| -> Vec<(u64, u64, u64)> {
            s.vehicles
                .iter()
                .map(|v| (v.id, v.s.to_bits(), v.v.to_bits()))
                .chain(
                    s.people
                        .iter()
                        .map(|p| (p.id, p.x.to_bits(), p.s.to_bits())),
                )
                .collect()
        };
        assert_eq!(key(&a), key(&b));
        assert_ne!(key(&a), key(&run(4, 5)));
    }

    #[test]
    fn the_view_is_far_to_near_and_projects_the_road_to_the_horizon() {
        let s = run(1, 2);
        let v = s.view();
        assert!(v.standing.windows(2).all(|w| w[0].depth >= w[1].depth));
        assert!(v.standing.iter().any(|i| i.object.is_some()));
        let p = v.camera.project([0.0, 0.0, 1e6]);
        assert!((p[1] as f64 - v.camera.horizon).abs() < 0.01);
        // Perspective: the same car is half as wide at twice the distance.
        let w = |z: f64| v.camera.project([1.0, 0.0, z])[0] - v.camera.project([-1.0, 0.0, z])[0];
        assert!((w(10.0) / w(20.0) - 2.0).abs() < 1e-4);
    }
}
