//! Tracks as MOTChallenge text, as TrackEval and py-motmetrics read them:
//! `frame,id,x,y,w,h,score,-1,-1,-1`, frames 1-based, one line per tracked detection.
//! Written and flushed frame by frame, like the JSONL.

use super::SinkError;
use crate::config::diag::resolve;
use crate::frame::Frame;
use crate::stage::{BuildCx, CompileCx, Kind, SinkKind, Stage, StageError};
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
                write_line(&mut self.text, f.seq + 1, id, d.shown_box(), d.score);
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

/// `type: mot`: the tracks as MOTChallenge text, `frame,id,x,y,w,h,score,-1,-1,-1` (frames
/// 1-based), one line per tracked detection; needs a `track` stage.
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
    const TYPE: &'static str = "mot";
    type Config = Config;
    fn compile(cfg: Config, key: &str, cx: &mut CompileCx) -> Option<Spec> {
        if !cx.upstream.has(crate::stage::track::Spec::TYPE) {
            cx.diag.error(
                key.to_string(),
                "a `mot` sink writes tracks, and this pipeline has none: add `- type: track` at the end of `stages`",
            );
            return None;
        }
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
        2
    }
    fn per_stream(&self) -> bool {
        true
    }
    fn relocate(&mut self, into: &dyn Fn(&Path) -> PathBuf) {
        self.path = into(&self.path);
    }
    fn build(&self, cx: &BuildCx) -> Result<Box<dyn Stage>, StageError> {
        let mut sinks = vec![];
        for (stream, path) in cx.per_stream(&self.path) {
            sinks.push((stream, MotSink::create(&path)?));
        }
        Ok(Box::new(Mot { sinks }))
    }
}

/// One file per stream.
struct Mot {
    sinks: Vec<(std::sync::Arc<str>, MotSink)>,
}

impl Stage for Mot {
    fn name(&self) -> &str {
        Spec::TYPE
    }
    fn process(&mut self, frame: Frame) -> Result<Option<Frame>, StageError> {
        crate::stage::of_stream(&mut self.sinks, &frame.stream)?.write(&frame)?;
        Ok(Some(frame))
    }
}
