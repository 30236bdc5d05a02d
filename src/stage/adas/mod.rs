//! Driver-assistance analytics (`type: adas`, issue 17), built up in parts. What lives here:
//!
//! - `camera.rs`: the `camera:` block, checked, and the ground-plane projection it gives;
//! - `lane.rs`: the ego lane's boundaries fitted on the ground from a segmentation head's
//!   lane-marking pixels.
//!
//! Still to come in this folder (see the notes): the lead vehicle and its distance and
//! time to collision (`lead.rs`), warnings with hysteresis (`warn.rs`), and the stage itself
//! (config, spec, per-stream state), listed in `src/kinds.rs` once it runs.

pub mod camera;
pub mod lane;
