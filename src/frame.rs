//! The one value that flows through a pipeline: a decoded frame and everything learnt about it.

use crate::pool::Pooled;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// A detected object, in source-frame pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub class_id: u32,
    pub label: Arc<str>,
    pub score: f32,
    /// `[x1, y1, x2, y2]` in source-frame pixels.
    pub bbox: [f32; 4],
}

/// The input tensor a preprocessing stage made for a model, with the geometry to undo it.
pub struct ModelInput {
    pub tensor: Pooled<Vec<f32>>,
    pub geometry: crate::model::preprocess::Geometry,
}

pub struct Frame {
    /// Stream id (the key under `sources`).
    pub stream: Arc<str>,
    /// 0-based sequence number within the stream.
    pub seq: u64,
    /// Presentation timestamp from GStreamer, in nanoseconds.
    pub pts_ns: Option<u64>,
    /// When the frame left the source (monotonic, for latency).
    pub captured: Instant,
    /// When the frame left the source (wall clock).
    pub captured_wall: SystemTime,
    pub width: u32,
    pub height: u32,
    /// Frames per second of the stream, as a fraction, when the source says.
    pub fps: Option<(i32, i32)>,
    /// BGR, 3 bytes a pixel, rows packed (`width * 3` bytes each).
    pub image: Pooled<Vec<u8>>,
    pub input: Option<ModelInput>,
    pub detections: Vec<Detection>,
    /// Segmentation heads' class maps, in the order the stages produced them.
    pub segmentation: Vec<crate::segment::SegMap>,
}
