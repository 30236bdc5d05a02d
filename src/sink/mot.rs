//! Tracks as MOTChallenge text, as TrackEval and py-motmetrics read them:
//! `frame,id,x,y,w,h,score,-1,-1,-1`, frames 1-based, one line per tracked detection.
//! Written and flushed frame by frame, like the JSONL.

use super::SinkError;
use crate::frame::Frame;
use std::fmt::Write as _;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct MotSink {
    path: PathBuf,
    file: File,
    text: String,
}

/// One MOTChallenge line for a box `[x1, y1, x2, y2]` in frame `frame` (1-based).
pub fn write_line(out: &mut String, frame: u64, id: u64, bbox: [f32; 4], score: f32) {
    let [x1, y1, x2, y2] = bbox;
    let _ = writeln!(
        out,
        "{frame},{id},{x1:.2},{y1:.2},{:.2},{:.2},{score:.4},-1,-1,-1",
        x2 - x1,
        y2 - y1
    );
}

impl MotSink {
    pub fn create(path: &Path) -> Result<MotSink, SinkError> {
        let io = |e: std::io::Error| SinkError::Io {
            path: path.display().to_string(),
            reason: format!("cannot create: {e}"),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        Ok(MotSink {
            path: path.to_path_buf(),
            file: File::create(path).map_err(io)?,
            text: String::with_capacity(4096),
        })
    }

    pub fn write(&mut self, f: &Frame) -> Result<(), SinkError> {
        self.text.clear();
        for d in &f.detections {
            if let Some(id) = d.track_id {
                write_line(&mut self.text, f.seq + 1, id, d.bbox, d.score);
            }
        }
        if self.text.is_empty() {
            return Ok(());
        }
        self.file
            .write_all(self.text.as_bytes())
            .map_err(|e| SinkError::Io {
                path: self.path.display().to_string(),
                reason: format!("write failed: {e}"),
            })
    }
}
