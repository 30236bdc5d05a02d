//! The checked pipeline: every default applied, every path resolved, every reference valid.

pub use super::raw::{ColorOrder, DetectFormat, Provider, ResizeMode, SourceMode, SupportPriority, WhenFull};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Where the ONNX Runtime library path came from, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LibraryOrigin {
    PipelineFile,
    EnvVar,
    Default,
}

#[derive(Debug, Clone)]
pub struct OrtLibrary {
    pub path: PathBuf,
    pub origin: LibraryOrigin,
}

/// Where the setup command installs ONNX Runtime.
pub const DEFAULT_ORT_LIBRARY: &str = "/opt/perceptd/lib/libonnxruntime.so";
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9464";

#[derive(Debug, Clone)]
pub struct PipelineSpec {
    pub name: String,
    pub ort_library: OrtLibrary,
    pub metrics_addr: Option<SocketAddr>,
    /// Scheduling of the threads that are not inference.
    pub support_priority: SupportPriority,
    pub source: SourceSpec,
    pub models: BTreeMap<String, ModelSpec>,
    pub stages: Vec<StageSpec>,
    pub sinks: Vec<SinkSpec>,
    pub edges: EdgeSpec,
}

#[derive(Debug, Clone)]
pub struct SourceSpec {
    /// The stream id: the key under `sources`.
    pub stream: String,
    pub kind: SourceKind,
    pub mode: SourceMode,
}

#[derive(Debug, Clone)]
pub enum SourceKind {
    File(PathBuf),
    Test {
        pattern: String,
        num_frames: Option<u64>,
        width: u32,
        height: u32,
        fps: u32,
    },
    Launch(String),
}

#[derive(Debug, Clone, Copy)]
pub struct EdgeSpec {
    pub capacity: usize,
    pub when_full: WhenFull,
}

/// Preprocessing settings the file gave; the rest come from the model and its format.
#[derive(Debug, Clone, Default)]
pub struct InputOverrides {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub resize: Option<ResizeMode>,
    pub pad_value: Option<u8>,
    pub color: Option<ColorOrder>,
    pub scale: Option<f32>,
    pub mean: Option<[f32; 3]>,
    pub std: Option<[f32; 3]>,
}

#[derive(Debug, Clone)]
pub struct ModelSpec {
    pub name: String,
    pub path: PathBuf,
    pub format: DetectFormat,
    pub classes: Option<Vec<String>>,
    pub input: InputOverrides,
    pub score_threshold: Option<f32>,
    pub nms_iou: f32,
    pub max_detections: usize,
    pub keep_classes: Option<Vec<String>>,
    pub providers: Vec<Provider>,
    pub device_id: i32,
    pub threads: Option<usize>,
}

#[derive(Debug, Clone)]
pub enum StageSpec {
    Detect { model: String },
}

#[derive(Debug, Clone)]
pub enum SinkSpec {
    Video {
        path: PathBuf,
        speed_preset: String,
        bitrate_kbps: u32,
    },
    Jsonl {
        path: PathBuf,
    },
}

impl SinkSpec {
    pub fn path(&self) -> &std::path::Path {
        match self {
            SinkSpec::Video { path, .. } | SinkSpec::Jsonl { path } => path,
        }
    }
}
