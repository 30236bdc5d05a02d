//! The checked pipeline: every default applied, every path resolved, every reference valid.

pub use super::raw::{
    ColorOrder, DetectFormat, Interpolation, Pace, Provider, ResizeMode, SourceMode,
    SupportPriority, Upsample, WhenFull,
};
use std::collections::BTreeMap;
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
pub struct SourceSpec {
    /// The stream id: the key under `sources`.
    pub stream: String,
    pub kind: SourceKind,
    pub mode: SourceMode,
    /// Supervised sources (RTSP) reconnect after an error, an end of stream or a stall.
    pub reconnect: Option<ReconnectSpec>,
    /// Replay: as fast as possible, or paced to the frames' timestamps.
    pub pace: Pace,
}

/// When and how fast a supervised source reconnects.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReconnectSpec {
    /// No frame for this long is a stall.
    pub stall_timeout: std::time::Duration,
    /// First delay; doubles after each failed try (with +-25 % jitter) up to `max_delay`.
    pub min_delay: std::time::Duration,
    pub max_delay: std::time::Duration,
}

/// A password: never printed (`Debug` shows `***`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

pub use super::raw::RtspTransport;

/// A network source (RTSP, or a URI for `uridecodebin`): the URL without its credentials,
/// which are kept apart.
#[derive(Debug, Clone, PartialEq)]
pub struct RtspSpec {
    /// `rtsp://host[:port]/path`, no user information.
    pub url: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub transport: RtspTransport,
    pub latency_ms: u32,
}

impl RtspSpec {
    /// The URL as logs and errors show it: `rtsp://***@host/path` when it has credentials.
    pub fn redacted(&self) -> String {
        if self.username.is_some() || self.password.is_some() {
            match self.url.split_once("://") {
                Some((scheme, rest)) => format!("{scheme}://***@{rest}"),
                None => format!("***@{}", self.url),
            }
        } else {
            self.url.clone()
        }
    }
}

#[derive(Debug, Clone)]
pub enum SourceKind {
    File(PathBuf),
    /// A still image decoded once and repeated `repeat` times at `fps`.
    Image {
        path: PathBuf,
        repeat: u64,
        fps: u32,
    },
    Test {
        pattern: String,
        num_frames: Option<u64>,
        width: u32,
        height: u32,
        fps: u32,
    },
    Launch(String),
    Rtsp(RtspSpec),
    /// Through `uridecodebin`; the URI without credentials (they are set on its source).
    Uri(RtspSpec),
    V4l2 {
        device: PathBuf,
        width: Option<u32>,
        height: Option<u32>,
        fps: Option<u32>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeSpec {
    pub capacity: usize,
    pub when_full: WhenFull,
}

/// Every edge's settings: a default and per-edge overrides keyed by the stage the edge leads into.
#[derive(Debug, Clone)]
pub struct EdgesSpec {
    pub default: EdgeSpec,
    pub into: BTreeMap<String, EdgeSpec>,
}

impl EdgesSpec {
    /// The settings of the edge into `stage`.
    pub fn into_stage(&self, stage: &str) -> EdgeSpec {
        self.into.get(stage).copied().unwrap_or(self.default)
    }
}

/// Preprocessing settings the file gave; the rest come from the model and its format.
#[derive(Debug, Clone, Default)]
pub struct InputOverrides {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub resize: Option<ResizeMode>,
    pub interpolation: Option<Interpolation>,
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
    /// The mask probability a pixel needs (models with a mask head).
    pub mask_threshold: f32,
    pub nms_iou: f32,
    /// NMS across classes.
    pub agnostic_nms: bool,
    pub max_detections: usize,
    pub keep_classes: Option<Vec<String>>,
    pub providers: Vec<Provider>,
    pub device_id: i32,
    pub threads: Option<usize>,
    /// YOLOX only: boxes decoded in the graph (`None`: found out at load).
    pub decoded_in_graph: Option<bool>,
    /// Frames per inference call (1: no batching).
    pub batch_size: usize,
    pub max_batch_wait: std::time::Duration,
    pub tensorrt: TensorrtSpec,
    /// Segmentation heads to read (`None`: every output).
    pub heads: Option<Vec<HeadSpec>>,
    pub upsample: Upsample,
}

/// A checked segmentation head.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadSpec {
    pub output: String,
    pub classes: Option<Vec<String>>,
    pub colors: Option<Vec<Option<[u8; 3]>>>,
    pub alpha: Option<f32>,
}

/// TensorRT execution provider settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorrtSpec {
    pub fp16: bool,
    /// Engine cache folder (`None`: the default, found at session build time).
    pub engine_cache: Option<PathBuf>,
    pub workspace_mb: Option<usize>,
    /// Batch range of the optimisation profile (`None`: 1, batch_size, batch_size).
    pub profile: Option<[usize; 3]>,
}

impl Default for TensorrtSpec {
    fn default() -> Self {
        TensorrtSpec {
            fp16: true,
            engine_cache: None,
            workspace_mb: None,
            profile: None,
        }
    }
}

impl ModelSpec {
    /// A model with every optional setting at its default (for tools and tests).
    pub fn new(name: &str, path: PathBuf, format: DetectFormat) -> ModelSpec {
        ModelSpec {
            name: name.into(),
            path,
            format,
            classes: None,
            input: InputOverrides::default(),
            score_threshold: None,
            mask_threshold: 0.5,
            nms_iou: 0.45,
            agnostic_nms: false,
            max_detections: 300,
            keep_classes: None,
            providers: vec![Provider::Cpu],
            device_id: 0,
            threads: None,
            decoded_in_graph: None,
            batch_size: 1,
            max_batch_wait: std::time::Duration::from_millis(5),
            tensorrt: TensorrtSpec::default(),
            heads: None,
            upsample: Upsample::Bilinear,
        }
    }
}
