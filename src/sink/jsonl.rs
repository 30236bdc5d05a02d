//! One JSON object per frame, written and flushed as each frame finishes, so a crash or a
//! signal never leaves a half-written line behind the last complete one.

use super::SinkError;
use crate::config::diag::resolve;
use crate::frame::Frame;
use crate::stage::{BuildCx, CompileCx, Kind, SinkKind, Stage, StageError};
use serde::Serialize;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Serialize)]
struct DetectionRecord<'a> {
    class_id: u32,
    label: &'a str,
    score: f32,
    bbox: [f32; 4],
    /// The confirmed track, null when untracked.
    track_id: Option<u64>,
    /// The track's filtered box, only when tracked.
    #[serde(skip_serializing_if = "Option::is_none")]
    track_bbox: Option<[f32; 4]>,
    /// The instance mask, only from a model with a mask head.
    #[serde(skip_serializing_if = "Option::is_none")]
    mask: Option<MaskRecord>,
}

/// COCO's compressed RLE over the whole frame (`pycocotools.mask.decode` reads it as is), and
/// the mask's pixel count.
#[derive(Serialize)]
struct MaskRecord {
    size: [u32; 2],
    counts: String,
    area: u64,
}

#[derive(Serialize)]
struct FrameRecord<'a> {
    pipeline: &'a str,
    stream: &'a str,
    frame: u64,
    pts_ns: Option<u64>,
    width: u32,
    height: u32,
    detections: Vec<DetectionRecord<'a>>,
    #[serde(skip_serializing_if = "Segmentation::is_empty")]
    segmentation: Segmentation<'a>,
    /// Models whose branch dropped this frame under the live policy.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    missing: Vec<&'a str>,
    /// The driver-assistance results, when an `adas` stage ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    adas: Option<&'a crate::frame::adas::AdasState>,
    /// Zone occupancy and line counts, when an `analytics` stage ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    analytics: Option<&'a crate::frame::analytics::AnalyticsState>,
}

/// `{"<head>": {"<class>": fraction_of_pixels, ...}, ...}`, heads in pipeline order.
struct Segmentation<'a>(&'a [crate::segment::SegMap]);

impl Segmentation<'_> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Segmentation<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        struct Classes<'b>(&'b crate::segment::SegMap);
        impl Serialize for Classes<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(self.0.fractions.len()))?;
                for (name, f) in self.0.style.classes.iter().zip(&self.0.fractions) {
                    m.serialize_entry(&**name, f)?;
                }
                m.end()
            }
        }
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for head in self.0 {
            m.serialize_entry(&*head.style.name, &Classes(head))?;
        }
        m.end()
    }
}

pub struct JsonlSink {
    path: PathBuf,
    file: File,
    pipeline: String,
    line: Vec<u8>,
    /// Run lengths of the mask being encoded.
    runs: Vec<u32>,
}

impl JsonlSink {
    pub fn create(path: &Path, pipeline: &str) -> Result<JsonlSink, SinkError> {
        let io = |e: std::io::Error| SinkError::Io {
            path: path.display().to_string(),
            reason: format!("cannot create: {e}"),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = File::create(path).map_err(io)?;
        Ok(JsonlSink {
            path: path.to_path_buf(),
            file,
            pipeline: pipeline.to_string(),
            line: Vec::with_capacity(4096),
            runs: Vec::new(),
        })
    }

    pub fn write(&mut self, f: &Frame) -> Result<(), SinkError> {
        let rec = FrameRecord {
            pipeline: &self.pipeline,
            stream: &f.stream,
            frame: f.seq,
            pts_ns: f.pts_ns,
            width: f.width,
            height: f.height,
            detections: f
                .detections
                .iter()
                .map(|d| DetectionRecord {
                    class_id: d.class_id,
                    label: &d.label,
                    score: d.score,
                    bbox: d.bbox,
                    track_id: d.track_id,
                    track_bbox: d.track_box,
                    mask: d.mask.as_ref().map(|m| {
                        m.rle_counts(f.width, f.height, &mut self.runs);
                        MaskRecord {
                            size: [f.height, f.width],
                            counts: crate::frame::mask::rle_to_string(&self.runs),
                            area: m.area(),
                        }
                    }),
                })
                .collect(),
            segmentation: Segmentation(&f.segmentation),
            missing: f.missing.iter().map(|m| &**m).collect(),
            adas: f.adas.as_deref(),
            analytics: f.analytics.as_deref(),
        };
        self.line.clear();
        serde_json::to_writer(&mut self.line, &rec).expect("records serialise");
        self.line.push(b'\n');
        // One write per line: a reader never sees a partial record before the newline lands.
        self.file.write_all(&self.line).map_err(|e| SinkError::Io {
            path: self.path.display().to_string(),
            reason: format!("write failed: {e}"),
        })
    }
}

/// `type: jsonl`: one JSON object per frame, flushed line by line.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub path: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub path: PathBuf,
}

impl Kind for Spec {
    const TYPE: &'static str = "jsonl";
    type Config = Config;
    fn compile(cfg: Config, _key: &str, cx: &mut CompileCx) -> Option<Spec> {
        Some(Spec {
            path: resolve(cx.base, &cfg.path),
        })
    }
}

impl SinkKind for Spec {
    fn kind(&self) -> &'static str {
        Self::TYPE
    }
    fn path(&self) -> &Path {
        &self.path
    }
    fn rank(&self) -> u8 {
        0
    }
    fn relocate(&mut self, into: &dyn Fn(&Path) -> PathBuf) {
        self.path = into(&self.path);
    }
    fn build(&self, cx: &BuildCx) -> Result<Box<dyn Stage>, StageError> {
        Ok(Box::new(Jsonl {
            sink: JsonlSink::create(&self.path, cx.pipeline)?,
        }))
    }
}

struct Jsonl {
    sink: JsonlSink,
}

impl Stage for Jsonl {
    fn name(&self) -> &str {
        Spec::TYPE
    }
    fn process(&mut self, frame: Frame) -> Result<Option<Frame>, StageError> {
        self.sink.write(&frame)?;
        Ok(Some(frame))
    }
}
