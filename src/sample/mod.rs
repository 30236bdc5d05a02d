//! Sample drives (`perceptd sample-drive`): a procedurally generated drive on a three-lane road,
//! deterministic for its seed, as an MP4 with exact ground truth for detection (boxes with ids,
//! as perceptd's ground-truth JSONL and as MOTChallenge text) and segmentation (class maps).
//!
//! - [`world`]: what the world is made of (road geometry, objects, camera, the frame's drawing).
//! - [`scene`]: the simulation (traffic, people, light) and what the camera sees of it; the
//!   looks of vehicles and people are in `shapes.rs`.
//! - [`render`]: OpenCV drawing of the frame, its class map and its object map; the boxes.
//! - [`write`]: the files (layout in [`write::generate`]'s doc and in `README.txt` of the output).
//! - [`mp4`]: the H.264 encoder, byte-deterministic for the same frames.

pub mod adas;
pub mod mp4;
pub mod render;
mod rng;
pub mod scene;
mod shapes;
pub mod world;
pub mod write;

pub use write::{SampleOptions, Summary, generate};

use std::path::PathBuf;

/// Changes whenever a seed's output changes: the version in `sample.json`.
pub const GENERATOR_VERSION: u32 = 4;

pub const CLASS_BACKGROUND: u8 = 0;
pub const CLASS_ROAD: u8 = 1;
/// Lane lines, edge lines, zebra crossings and stop lines.
pub const CLASS_LANE: u8 = 2;
/// Cars, trucks and buses.
pub const CLASS_VEHICLE: u8 = 3;
pub const CLASS_PERSON: u8 = 4;

/// The class map's classes, by index (`classes.txt`).
pub const CLASS_NAMES: [&str; 5] = ["background", "road", "lane", "vehicle", "person"];

/// The class maps' palette (RGB), by index: Cityscapes' colours where it has the class.
pub const PALETTE: [[u8; 3]; 5] = [
    [0, 0, 0],
    [128, 64, 128],
    [255, 255, 0],
    [0, 0, 142],
    [220, 20, 60],
];

/// The detection labels, in the order a detector trained on sample drives lists them
/// (`labels.txt`).
pub const LABELS: [&str; 4] = ["car", "truck", "bus", "person"];

#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// Bad options (exit code 2).
    #[error("{0}")]
    Options(String),
    /// The output folder cannot be used (exit code 2).
    #[error("--out {}: {reason}", path.display())]
    Out { path: PathBuf, reason: String },
    #[error("{}: {reason}", path.display())]
    Io { path: PathBuf, reason: String },
    #[error("{}: {reason}", path.display())]
    Video { path: PathBuf, reason: String },
    #[error("drawing frame {frame}: {source}")]
    Render {
        frame: u64,
        #[source]
        source: opencv::Error,
    },
}

impl SampleError {
    /// The user's to fix: the options or the output folder.
    pub fn is_usage(&self) -> bool {
        matches!(self, SampleError::Options(_) | SampleError::Out { .. })
    }

    fn io(path: impl Into<PathBuf>, what: &str, e: impl std::fmt::Display) -> SampleError {
        SampleError::Io {
            path: path.into(),
            reason: format!("{what}: {e}"),
        }
    }
}
