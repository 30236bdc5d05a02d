//! One JSON object per frame, written and flushed as each frame finishes, so a crash or a
//! signal never leaves a half-written line behind the last complete one.

use super::SinkError;
use crate::frame::Frame;
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
}

pub struct JsonlSink {
    path: PathBuf,
    file: File,
    pipeline: String,
    line: Vec<u8>,
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
                })
                .collect(),
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
