//! Class maps as indexed PNGs: every `every`-th frame, one file per segmentation head, named by
//! stream, head and frame number, with the head's colours as the palette (pixel value = class).

use super::SinkError;
use crate::config::diag::resolve;
use crate::frame::Frame;
use crate::stage::{BuildCx, CompileCx, Kind, SinkKind, Stage, StageError};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

pub struct MaskSink {
    dir: PathBuf,
    every: u64,
    palette: Vec<u8>,
}

impl MaskSink {
    pub fn create(dir: &Path, every: u64) -> Result<MaskSink, SinkError> {
        std::fs::create_dir_all(dir).map_err(|e| SinkError::Io {
            path: dir.display().to_string(),
            reason: format!("cannot create the mask folder: {e}"),
        })?;
        Ok(MaskSink {
            dir: dir.to_path_buf(),
            every: every.max(1),
            palette: Vec::with_capacity(256 * 3),
        })
    }

    /// The file of one head's map of frame `seq`.
    pub fn file_name(stream: &str, head: &str, seq: u64) -> String {
        format!("{stream}-{head}-{seq:06}.png")
    }

    pub fn write(&mut self, f: &Frame) -> Result<(), SinkError> {
        if !f.seq.is_multiple_of(self.every) {
            return Ok(());
        }
        for s in &f.segmentation {
            let path = self
                .dir
                .join(Self::file_name(&f.stream, &s.style.name, f.seq));
            let io = |e: &dyn std::fmt::Display| SinkError::Io {
                path: path.display().to_string(),
                reason: format!("cannot write the mask: {e}"),
            };
            // Unpainted classes are black in the palette; the pixel value is the class either way.
            self.palette.clear();
            for c in s.style.colors.iter().take(256) {
                self.palette.extend_from_slice(&c.unwrap_or([0, 0, 0]));
            }
            if self.palette.is_empty() {
                self.palette.extend_from_slice(&[0, 0, 0]);
            }
            let file = std::fs::File::create(&path).map_err(|e| io(&e))?;
            let mut enc = png::Encoder::new(BufWriter::new(file), f.width, f.height);
            enc.set_color(png::ColorType::Indexed);
            enc.set_depth(png::BitDepth::Eight);
            enc.set_palette(self.palette.as_slice());
            enc.set_compression(png::Compression::Fast);
            let mut w = enc.write_header().map_err(|e| io(&e))?;
            w.write_image_data(&s.map).map_err(|e| io(&e))?;
            w.finish().map_err(|e| io(&e))?;
        }
        Ok(())
    }
}

/// `type: mask`: every `every`-th frame, each segmentation head's class map as an indexed PNG
/// in the folder `path` (`<stream>-<head>-<frame>.png`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub path: String,
    pub every: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub path: PathBuf,
    pub every: u64,
}

impl Kind for Spec {
    const TYPE: &'static str = "mask";
    type Config = Config;
    fn compile(cfg: Config, key: &str, cx: &mut CompileCx) -> Option<Spec> {
        let dir = resolve(cx.base, &cfg.path);
        let mut ok = true;
        if dir.is_file() {
            cx.diag.error(
                format!("{key}.path"),
                format!("{} is a file; name a folder for the PNGs", dir.display()),
            );
            ok = false;
        }
        if cfg.every == Some(0) {
            cx.diag.error(
                format!("{key}.every"),
                "must be 1 or more (1 writes every frame)",
            );
            ok = false;
        }
        ok.then(|| Spec {
            path: dir,
            every: cfg.every.unwrap_or(1),
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
        1
    }
    fn writes_file(&self) -> bool {
        false
    }
    fn relocate(&mut self, into: &dyn Fn(&Path) -> PathBuf) {
        self.path = into(&self.path);
    }
    fn build(&self, _cx: &BuildCx) -> Result<Box<dyn Stage>, StageError> {
        Ok(Box::new(Mask {
            sink: MaskSink::create(&self.path, self.every)?,
        }))
    }
}

struct Mask {
    sink: MaskSink,
}

impl Stage for Mask {
    fn name(&self) -> &str {
        Spec::TYPE
    }
    fn process(&mut self, frame: Frame) -> Result<Option<Frame>, StageError> {
        self.sink.write(&frame)?;
        Ok(Some(frame))
    }
}
