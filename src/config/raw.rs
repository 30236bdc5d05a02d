//! The pipeline file as written: serde types, one per YAML mapping, unknown keys rejected.
//!
//! These types hold exactly what the user wrote (after `${VAR}` expansion). `compile` turns them
//! into a checked [`crate::config::PipelineSpec`]; nothing else in the crate reads them.

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRuntime {
    /// Path of `libonnxruntime.so`; else `ORT_DYLIB_PATH`; else the setup command's install path.
    pub onnxruntime: Option<String>,
    /// Address of the `/metrics` HTTP server; `off` disables it.
    pub metrics_addr: Option<String>,
    /// Scheduling of every thread that is not inference (decode, preprocessing, drawing,
    /// encoding, and GStreamer's threads for them): `idle`, `low` (default) or `normal`.
    pub support_priority: Option<SupportPriority>,
    /// Folders holding the CUDA, cuDNN and TensorRT libraries the GPU build of ONNX Runtime
    /// needs (for example the `lib` folders of the `nvidia-*` PyPI wheels); their libraries are
    /// loaded before any session is made.
    pub cuda_libraries: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEdges {
    /// Frames an edge holds before its when-full policy applies (default 4).
    pub capacity: Option<usize>,
    /// `block` (lossless) or `drop_oldest` (live); default from the source's `mode`.
    pub when_full: Option<WhenFull>,
    /// Per edge, by the stage it leads into (`preprocess:det`, `detect:det`, `jsonl`, `video`).
    #[serde(default)]
    pub into: std::collections::BTreeMap<String, RawEdge>,
}

/// One edge's own settings; what is left out comes from `edges`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEdge {
    pub capacity: Option<usize>,
    pub when_full: Option<WhenFull>,
}

/// How the threads that are not inference are scheduled against inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupportPriority {
    /// `SCHED_IDLE`: they run on whatever core time inference leaves.
    Idle,
    /// Nice 10: they still take a small share from inference.
    Low,
    /// Unchanged: they compete with inference as equals.
    Normal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    Block,
    DropOldest,
}

/// How fast a replayed source delivers its frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pace {
    /// As fast as the pipeline takes them (default).
    Fast,
    /// At their timestamps, as the camera recorded them.
    Realtime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceMode {
    /// Lossless: every edge blocks when full.
    Replay,
    /// Newest frames win: every edge drops its oldest frame when full.
    Live,
}

/// A source, selected by its `type:` key (read apart from the fields, so that every error in
/// the fields keeps its key path).
#[derive(Debug, Clone)]
pub enum RawSource {
    File(FileSource),
    Image(ImageSource),
    Test(TestSource),
    Launch(LaunchSource),
    Rtsp(RtspSource),
    Uri(UriSource),
    V4l2(V4l2Source),
}

/// `type: uri`: anything `uridecodebin` reads: HTTP(S) files and streams, HLS (`.m3u8`),
/// `file://`. Live ones (the default) are supervised like RTSP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UriSource {
    pub uri: String,
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<String>,
    pub stall_timeout_s: Option<f64>,
    pub reconnect_min_s: Option<f64>,
    pub reconnect_max_s: Option<f64>,
    pub mode: Option<SourceMode>,
}

/// `type: v4l2`: a V4L2 camera (`/dev/videoN`), raw or MJPEG; supervised (a camera unplugged
/// and plugged back is read again).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct V4l2Source {
    pub device: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<u32>,
    pub stall_timeout_s: Option<f64>,
    pub reconnect_min_s: Option<f64>,
    pub reconnect_max_s: Option<f64>,
    pub mode: Option<SourceMode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RtspTransport {
    Tcp,
    Udp,
}

/// `type: rtsp`: an RTSP camera, supervised: reconnected after an error, an end of stream or a
/// stall, with exponential backoff and jitter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RtspSource {
    /// `rtsp://[user:password@]host[:port]/path`; credentials in it are never logged.
    pub url: String,
    /// `tcp` (default: works through NAT and firewalls) or `udp`.
    pub transport: Option<RtspTransport>,
    /// Jitter-buffer latency in milliseconds (default 200).
    pub latency_ms: Option<u32>,
    /// User name (instead of the URL's).
    pub username: Option<String>,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// File holding the password (for example a systemd credential).
    pub password_file: Option<String>,
    /// Seconds without a frame after which the stream counts as stalled (default 5).
    pub stall_timeout_s: Option<f64>,
    /// First reconnect delay in seconds (default 0.5); doubles up to `reconnect_max_s`.
    pub reconnect_min_s: Option<f64>,
    /// Longest reconnect delay in seconds (default 4: a camera that comes back is read again
    /// within about 5 s).
    pub reconnect_max_s: Option<f64>,
    pub mode: Option<SourceMode>,
}

/// `type: file`: a video file (MP4, MKV, MOV; H.264 or H.265); audio is ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSource {
    pub path: String,
    pub mode: Option<SourceMode>,
}

/// `type: image`: a still image (JPEG or PNG) as one frame, or the same frame `repeat` times.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSource {
    pub path: String,
    /// How many frames (default 1).
    pub repeat: Option<u64>,
    /// Frame rate of the repeated frames, for their timestamps (default 1).
    pub fps: Option<u32>,
    pub mode: Option<SourceMode>,
}

/// `type: test`: GStreamer's `videotestsrc`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestSource {
    pub pattern: Option<String>,
    pub num_frames: Option<u64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<u32>,
    pub mode: Option<SourceMode>,
}

/// `type: launch`: any `gst-launch-1.0` fragment that ends in raw video.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchSource {
    pub launch: String,
    pub mode: Option<SourceMode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectFormat {
    /// Ultralytics YOLOv8 / YOLO11: `[1, 4+nc, N]` or `[1, N, 4+nc]`.
    Yolov8,
    /// FastestDet's S x S grid: `[1, 5+nc, S, S]`.
    Fastestdet,
    /// Classic YOLOv5: `[1, N, 5+nc]`, objectness times class score.
    Yolov5,
    /// NMS-free exports (YOLOv10, YOLO26, Ultralytics `nms=True`): `[1, K, 6]` =
    /// x1, y1, x2, y2, score, class; no NMS applied.
    YoloEnd2end,
    /// YOLOX: `[1, N, 5+nc]` with grid-relative raw boxes (strides 8, 16, 32), or boxes decoded
    /// in the graph (`decoded_in_graph: true`); objectness times class score.
    Yolox,
    /// torchvision's Faster R-CNN export: `boxes [N, 4]`, `labels [N]` int64, `scores [N]`;
    /// NMS in the graph; labels index the `classes` list.
    FasterRcnn,
    /// Dense segmentation (run by a `segment` stage): each output is a head, logits
    /// `[1, C, h, w]` or a class map `[1, h, w]` / `[1, 1, h, w]`.
    Segmentation,
}

/// How a segmentation head's coarse output reaches the frame's resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Upsample {
    /// Bilinear interpolation of the logits, then argmax.
    Bilinear,
    /// Argmax at the output's resolution, then nearest neighbour.
    Nearest,
}

/// One segmentation head: an output of the model, its class names, colours and opacity.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHead {
    /// The output's name in the model.
    pub output: String,
    pub classes: Option<Vec<String>>,
    /// Per class: `[r, g, b]`, or null to leave the class unpainted.
    pub colors: Option<Vec<Option<[u8; 3]>>>,
    /// Opacity of the painted classes, 0..1.
    pub alpha: Option<f32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub path: String,
    pub format: DetectFormat,
    /// Class names: a list, or the path of a file with one name a line. Default: the ONNX metadata.
    pub classes: Option<RawClasses>,
    #[serde(default)]
    pub input: RawInput,
    pub score_threshold: Option<f32>,
    pub mask_threshold: Option<f32>,
    pub nms_iou: Option<f32>,
    pub agnostic_nms: Option<bool>,
    pub max_detections: Option<usize>,
    /// Keep only these class names.
    pub keep_classes: Option<Vec<String>>,
    /// Execution providers in order of preference: `tensorrt`, `cuda`, `cpu`.
    pub providers: Option<Vec<Provider>>,
    pub device_id: Option<i32>,
    /// Intra-op threads (default: all cores).
    pub threads: Option<usize>,
    /// YOLOX only: boxes already decoded in the graph (default: found out at load).
    pub decoded_in_graph: Option<bool>,
    /// Frames per inference call, for models with a dynamic batch axis (default 1).
    pub batch_size: Option<usize>,
    /// How long the first frame of a batch waits for the others, in milliseconds (default 5).
    pub max_batch_wait_ms: Option<u64>,
    /// TensorRT settings (used when `tensorrt` is among the providers).
    pub tensorrt: Option<RawTensorrt>,
    /// Segmentation only: the heads to read, in drawing order (default: every output).
    pub heads: Option<Vec<RawHead>>,
    /// Segmentation only: `bilinear` (default) or `nearest`.
    pub upsample: Option<Upsample>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTensorrt {
    /// Build FP16 engines (default true).
    pub fp16: Option<bool>,
    /// Folder of built engines, reused across restarts (default: `$CACHE_DIRECTORY/tensorrt`
    /// under systemd, else `~/.cache/perceptd/tensorrt`).
    pub engine_cache: Option<String>,
    /// Builder workspace limit in MiB (default: TensorRT's).
    pub workspace_mb: Option<usize>,
    /// Optimisation profile of the batch axis for models with a dynamic batch: the engine
    /// serves `min_batch..=max_batch`, tuned for `opt_batch` (default 1, batch_size, batch_size).
    pub min_batch: Option<usize>,
    pub opt_batch: Option<usize>,
    pub max_batch: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawClasses {
    List(Vec<String>),
    File(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Tensorrt,
    Cuda,
    Cpu,
}

pub use crate::frame::geometry::ResizeMode;

/// How the frame is resampled to the model's input size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interpolation {
    /// Bilinear (OpenCV `INTER_LINEAR`): what most exporters' demos use.
    Linear,
    /// Pixel-area averaging (OpenCV `INTER_AREA`): FastestDet's reference; every source pixel
    /// counts when shrinking, so small objects keep their contrast.
    Area,
    /// Nearest neighbour.
    Nearest,
    /// Bicubic.
    Cubic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColorOrder {
    Rgb,
    Bgr,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInput {
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
