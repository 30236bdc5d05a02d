//! Driver-assistance analytics (`type: adas`, issue 17), built up in parts. What lives here:
//!
//! - `camera.rs`: the `camera:` block, checked, and the ground-plane projection it gives;
//! - `lane.rs`: the ego lane's boundaries fitted on the ground from a segmentation head's
//!   lane-marking pixels;
//! - `lead.rs`: a vehicle's distance from its box, and its closing speed and time to collision
//!   (from distance and from scale rate) over a PTS window;
//! - `warn.rs`: a warning's hysteresis (minimum time on, minimum time off, peak value).
//!
//! Still to come in this folder (see the notes): choosing the lead in the ego corridor,
//! the warnings' conditions (FCW, LDW, pedestrian, headway), and the stage itself
//! (config, spec, per-stream state), listed in `src/kinds.rs` once it runs.

pub mod camera;
pub mod lane;
pub mod lead;
pub mod warn;
