//! The pipeline file as written: serde types, one per YAML mapping, unknown keys rejected.
//!
//! These types hold exactly what the user wrote (after `${VAR}` expansion). `compile` turns them
//! into a checked [`crate::config::PipelineSpec`]; nothing else in the crate reads them.

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPipeline {
    /// Pipeline name; the `pipeline` label of every metric.
    pub name: String,
    #[serde(default)]
    pub runtime: RawRuntime,
    /// Stream id -> source.
    pub sources: BTreeMap<String, RawSource>,
    #[serde(default)]
    pub models: BTreeMap<String, RawModel>,
    /// The stages after the source, in order.
    #[serde(default)]
    pub stages: Vec<RawStage>,
    #[serde(default)]
    pub sinks: Vec<RawSink>,
    #[serde(default)]
    pub edges: RawEdges,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRuntime {
    /// Path of `libonnxruntime.so`; else `ORT_DYLIB_PATH`; else the setup command's install path.
    pub onnxruntime: Option<String>,
    /// Address of the `/metrics` HTTP server; `off` disables it.
    pub metrics_addr: Option<String>,
    /// Scheduling of every thread that is not inference (decode, preprocessing, drawing,
    /// encoding, and GStreamer's threads for them): `idle` (default), `low` or `normal`.
    pub support_priority: Option<SupportPriority>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEdges {
    /// Frames an edge holds before its when-full policy applies (default 4).
    pub capacity: Option<usize>,
    /// `block` (lossless) or `drop_oldest` (live); default from the source's `mode`.
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceMode {
    /// Lossless: every edge blocks when full.
    Replay,
    /// Newest frames win: every edge drops its oldest frame when full.
    Live,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawSource {
    /// A video file (MP4, MKV, MOV; H.264 or H.265); audio is ignored.
    File {
        path: String,
        mode: Option<SourceMode>,
    },
    /// GStreamer's `videotestsrc`.
    Test {
        pattern: Option<String>,
        num_frames: Option<u64>,
        width: Option<u32>,
        height: Option<u32>,
        fps: Option<u32>,
        mode: Option<SourceMode>,
    },
    /// Any `gst-launch-1.0` fragment that ends in raw video.
    Launch {
        launch: String,
        mode: Option<SourceMode>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectFormat {
    /// Ultralytics YOLOv8 / YOLO11: `[1, 4+nc, N]` or `[1, N, 4+nc]`.
    Yolov8,
    /// FastestDet's S x S grid: `[1, 5+nc, S, S]`.
    Fastestdet,
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
    pub nms_iou: Option<f32>,
    pub max_detections: Option<usize>,
    /// Keep only these class names.
    pub keep_classes: Option<Vec<String>>,
    /// Execution providers in order of preference: `tensorrt`, `cuda`, `cpu`.
    pub providers: Option<Vec<Provider>>,
    pub device_id: Option<i32>,
    /// Intra-op threads (default: all cores).
    pub threads: Option<usize>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResizeMode {
    /// Keep the aspect ratio, pad the rest (centred).
    Letterbox,
    /// Stretch to the input size.
    Stretch,
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
    pub pad_value: Option<u8>,
    pub color: Option<ColorOrder>,
    pub scale: Option<f32>,
    pub mean: Option<[f32; 3]>,
    pub std: Option<[f32; 3]>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawStage {
    /// Run a detector model on every frame.
    Detect { model: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawSink {
    /// Annotated video: boxes drawn with OpenCV, encoded with x264 into MP4.
    Video {
        path: String,
        /// x264 `speed-preset` (default `ultrafast`: the encoder must not take cores from inference).
        speed_preset: Option<String>,
        /// x264 bitrate in kbit/s (default 4000).
        bitrate_kbps: Option<u32>,
    },
    /// One JSON object per frame, flushed line by line.
    Jsonl { path: String },
}
