//! Reading PNG class maps: indexed (1, 2, 4, 8 bits) or 8-bit grayscale, into reused buffers.

use super::data::SegError;
use std::io::BufReader;
use std::path::Path;

/// One decoded class map: `width * height` class indices, row by row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassMap {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

/// Reads an indexed (1, 2, 4 or 8-bit) or 8-bit grayscale PNG as class indices.
pub fn read_class_map(path: &Path) -> Result<ClassMap, SegError> {
    let mut map = ClassMap::default();
    let mut scratch = vec![];
    read_class_map_into(path, &mut map, &mut scratch)?;
    Ok(map)
}

/// [`read_class_map`] into reused buffers.
pub(super) fn read_class_map_into(
    path: &Path,
    map: &mut ClassMap,
    scratch: &mut Vec<u8>,
) -> Result<(), SegError> {
    let file = std::fs::File::open(path).map_err(|error| SegError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    let decode = |e: png::DecodingError| match e {
        png::DecodingError::IoError(error) if error.kind() != std::io::ErrorKind::UnexpectedEof => {
            SegError::Read {
                path: path.to_path_buf(),
                error,
            }
        }
        e => SegError::Decode {
            path: path.to_path_buf(),
            reason: e.to_string(),
        },
    };
    let mut reader = png::Decoder::new(BufReader::with_capacity(1 << 16, file))
        .read_info()
        .map_err(decode)?;
    let (color, depth) = {
        let info = reader.info();
        (info.color_type, info.bit_depth)
    };
    let bits = match (color, depth) {
        (png::ColorType::Indexed, d) => d as u8,
        (png::ColorType::Grayscale, png::BitDepth::Eight) => 8,
        (png::ColorType::Grayscale, d) => {
            return Err(SegError::Format {
                path: path.to_path_buf(),
                kind: format!("{}-bit grayscale", d as u8),
                hint: "; save it as 8-bit grayscale (Pillow mode `L`) or indexed (mode `P`)",
            });
        }
        (c, d) => {
            let hint = match c {
                png::ColorType::Rgb | png::ColorType::Rgba => {
                    "; a colour-coded mask must first be converted to class indices (one index per colour)"
                }
                _ => "",
            };
            return Err(SegError::Format {
                path: path.to_path_buf(),
                kind: format!("{c:?} {}-bit", d as u8),
                hint,
            });
        }
    };
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| SegError::Decode {
            path: path.to_path_buf(),
            reason: "image too large".into(),
        })?;
    let (w, h) = (reader.info().width, reader.info().height);
    let npx = w as usize * h as usize;
    if bits == 8 {
        map.pixels.resize(size.max(npx), 0);
        let out = reader.next_frame(&mut map.pixels).map_err(decode)?;
        if out.line_size != w as usize {
            return Err(SegError::Decode {
                path: path.to_path_buf(),
                reason: format!("unexpected row size {} for width {w}", out.line_size),
            });
        }
        map.pixels.truncate(npx);
    } else {
        scratch.resize(size, 0);
        let out = reader.next_frame(scratch).map_err(decode)?;
        map.pixels.clear();
        map.pixels.reserve(npx);
        let per_byte = 8 / usize::from(bits);
        let mask = (1u8 << bits) - 1;
        for row in scratch.chunks_exact(out.line_size).take(h as usize) {
            for x in 0..w as usize {
                let byte = row[x / per_byte];
                let shift = 8 - usize::from(bits) * (x % per_byte + 1);
                map.pixels.push((byte >> shift) & mask);
            }
        }
    }
    map.width = w;
    map.height = h;
    Ok(())
}
