//! Multi-object tracking: ByteTrack and SORT over each frame's detections, with every time rule
//! in seconds of the stream's clock, state per stream (and optionally per class).
//!
//! - [`assign`]: the optimal assignment that matches tracks and detections.
//! - [`kalman`]: the constant-velocity Kalman filter on centre, aspect ratio and height.
//! - [`tracker`]: one tracker's states and association rules.
//! - [`streams`]: trackers per stream and class, restarts, the stream clock.
//! - [`synth`]: synthetic scenes with exact ground truth, to measure trackers without video.

pub mod assign;
pub mod kalman;
pub mod streams;
pub mod synth;
pub mod tracker;

pub use streams::{StreamTrackers, TrackOptions};
pub use tracker::{Algorithm, TrackState, Tracker, TrackerParams};
