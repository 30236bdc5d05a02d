//! Class maps as indexed PNGs: every `every`-th frame, one file per segmentation head, named by
//! stream, head and frame number, with the head's colours as the palette (pixel value = class).

use super::SinkError;
use crate::frame::Frame;
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
