//! The one value that flows through a pipeline: a decoded frame and everything learnt about it.
//! The ground floor: every result a frame carries is plain data defined here; the modules that
//! compute results import this, never the other way. `adas.rs` holds the driver-assistance
//! results the adas stage fills in,
//! `analytics.rs` the zone and line counts of the analytics stage.

pub mod adas;
pub mod analytics;
pub mod geometry;
pub mod mask;
pub mod segmap;

pub use geometry::Geometry;
pub use mask::InstanceMask;
pub use segmap::{HeadStyle, SegMap};

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
    /// The confirmed track this detection belongs to, when a `track` stage ran and matched it.
    pub track_id: Option<u64>,
    /// That track's box after this detection updated it (its Kalman state, `[x1, y1, x2, y2]`):
    /// steadier than `bbox`, what MOT results and the annotated video show.
    pub track_box: Option<[f32; 4]>,
    /// The object's pixels, when the detector has a mask head (Ultralytics `-seg` exports).
    pub mask: Option<Arc<InstanceMask>>,
}

impl Detection {
    /// The box to show: the track's filtered box when tracked, else the detector's.
    pub fn shown_box(&self) -> [f32; 4] {
        self.track_box.unwrap_or(self.bbox)
    }
}

/// The input tensor a preprocessing stage made for a model, with the geometry to undo it.
pub struct ModelInput {
    pub tensor: Pooled<Vec<f32>>,
    pub geometry: Geometry,
}

pub struct Frame {
    /// Stream id (the key under `sources`).
    pub stream: Arc<str>,
    /// 0-based sequence number within the stream.
    pub seq: u64,
    /// Position in the pipeline's one ordered flow of frames (all streams together), given
    /// where the frames are fanned out to the model branches; the join pairs results by it.
    pub order: u64,
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
    /// BGR, 3 bytes a pixel, rows packed (`width * 3` bytes each). Shared (read-only) with the
    /// copies of the frame that parallel model branches work on; the frame that reaches the
    /// sinks holds it alone again.
    pub image: Arc<Pooled<Vec<u8>>>,
    pub input: Option<ModelInput>,
    pub detections: Vec<Detection>,
    /// Segmentation heads' class maps, in the order the stages produced them.
    pub segmentation: Vec<SegMap>,
    /// Models whose parallel branch dropped this frame (live policy): their results are
    /// missing, not empty.
    pub missing: Vec<Arc<str>>,
    /// The driver-assistance results, once an `adas` stage has run.
    pub adas: Option<Box<adas::AdasState>>,
    /// Zone occupancy and line crossings, once an `analytics` stage has run.
    pub analytics: Option<Box<analytics::AnalyticsState>>,
    /// The results are drawn on the image already (by the first sink that shows it).
    pub annotated: bool,
}

/// An event a frame carries: a warning's start or end, or a zone or line event. Serialises as
/// the event itself (the events sink's line).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum EventRef<'a> {
    Warning(&'a adas::AdasEvent),
    Analytics(&'a analytics::AnalyticsEvent),
}

impl EventRef<'_> {
    /// Its `kind` (`forward_collision`, `zone_enter`...).
    pub fn kind(&self) -> &'static str {
        match self {
            EventRef::Warning(e) => e.kind.name(),
            EventRef::Analytics(e) => e.kind.name(),
        }
    }

    pub fn stream(&self) -> &Arc<str> {
        match self {
            EventRef::Warning(e) => &e.stream,
            EventRef::Analytics(e) => &e.stream,
        }
    }
}

impl Frame {
    /// The events decided on this frame: the warnings' edges, then the zone and line events.
    pub fn events(&self) -> impl Iterator<Item = EventRef<'_>> {
        let warnings = self.adas.iter().flat_map(|a| &a.events);
        let analytics = self.analytics.iter().flat_map(|a| &a.events);
        warnings
            .map(EventRef::Warning)
            .chain(analytics.map(EventRef::Analytics))
    }

    /// The frame's time on its stream's clock, seconds: its PTS, else its number over the
    /// stream's frame rate, else over 30 frames per second.
    pub fn time_s(&self) -> f64 {
        match (self.pts_ns, self.fps) {
            (Some(p), _) => p as f64 / 1e9,
            (None, Some((n, d))) if n > 0 && d > 0 => self.seq as f64 * d as f64 / n as f64,
            _ => self.seq as f64 / 30.0,
        }
    }

    /// A copy for a parallel branch: the same frame (the image shared, not copied), no results.
    pub fn branch(&self) -> Frame {
        Frame {
            stream: self.stream.clone(),
            seq: self.seq,
            order: self.order,
            pts_ns: self.pts_ns,
            captured: self.captured,
            captured_wall: self.captured_wall,
            width: self.width,
            height: self.height,
            fps: self.fps,
            image: self.image.clone(),
            input: None,
            detections: Vec::new(),
            segmentation: Vec::new(),
            missing: Vec::new(),
            adas: None,
            analytics: None,
            annotated: false,
        }
    }

    /// Moves a branch's results into this frame.
    pub fn merge(&mut self, branch: Frame) {
        self.detections.extend(branch.detections);
        self.segmentation.extend(branch.segmentation);
    }
}
