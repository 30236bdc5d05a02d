//! The drive's video: `appsrc (BGR) ! videoconvert ! I420 ! x264enc ! h264parse ! mp4mux !
//! filesink`, as the video sink (`sink/video.rs`) encodes. For the same frames the file is the
//! same byte for byte: x264 runs in one thread without lookahead (see the note on its
//! settings below), and the creation and modification times that `mp4mux` takes from the wall
//! clock are set to zero (1904-01-01, the format's epoch) once the file is complete.

use super::SampleError;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long pushing waits for an encoder that takes no frame at all.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `finish()` waits for the muxer to write the file's index.
const FINISH_TIMEOUT: Duration = Duration::from_secs(120);
/// x264's constant-quality factor (its CRF). With the settings below, a 960x540 drive of 300
/// frames is about 0.75 MB and decodes at 34.9 dB PSNR against the lossless frames; most of the
/// difference is the sensor noise, which the encoder smooths away (the noise alone is 40.5 dB).
pub const QUALITY: u32 = 23;
/// x264's threads: fixed, as its output depends on their number; one keeps up with the drawing.
const THREADS: u32 = 1;
// Also no lookahead, no B-frames and no macroblock tree: with them, x264's choices for a frame
// depend on how many later frames it holds when the encoder base class drains it, which varies
// with thread timing (two encodings of the same frames in one process differed one time in four
// even with one thread); without them every frame is coded from the frames before it alone, and
// 24 of 24 encodings in one process were identical. The cost is a file about twice as large at
// the same quality, for which the higher CRF compensates.

pub struct Mp4Writer {
    path: PathBuf,
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    width: u32,
    height: u32,
    frame_ns: u64,
    pushed: u64,
    max_bytes: u64,
    done: bool,
}

impl Mp4Writer {
    /// Starts the encoder for `width` x `height` (even) BGR frames at `fps`.
    pub fn create(
        path: &Path,
        width: u32,
        height: u32,
        fps: u32,
    ) -> Result<Mp4Writer, SampleError> {
        let err = |reason: String| SampleError::Video {
            path: path.to_path_buf(),
            reason,
        };
        crate::sink::video::check_elements().map_err(err)?;
        let max_bytes = width as u64 * height as u64 * 3 * 4;
        let launch = format!(
            "appsrc name=src format=time is-live=false block=false max-bytes={max_bytes} \
             caps=video/x-raw,format=BGR,width={width},height={height},framerate={fps}/1 \
             ! videoconvert ! video/x-raw,format=I420,width={width},height={height} \
             ! x264enc speed-preset=veryfast pass=qual quantizer={QUALITY} threads={THREADS} \
               rc-lookahead=0 bframes=0 mb-tree=false key-int-max={key} \
             ! video/x-h264,stream-format=avc,alignment=au,profile=high \
             ! h264parse ! mp4mux ! filesink location=\"{loc}\"",
            key = 2 * fps,
            loc = path.to_string_lossy().replace('"', "\\\""),
        );
        let pipeline = gst::parse::launch(&launch)
            .map_err(|e| err(format!("cannot build the encoder: {e}")))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| err("not a pipeline".into()))?;
        let src = pipeline
            .by_name("src")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .ok_or_else(|| err("no appsrc".into()))?;
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| err(format!("cannot start the encoder: {e}")))?;
        Ok(Mp4Writer {
            path: path.to_path_buf(),
            pipeline,
            src,
            width,
            height,
            frame_ns: 1_000_000_000 / fps as u64,
            pushed: 0,
            max_bytes,
            done: false,
        })
    }

    fn err(&self, reason: impl std::fmt::Display) -> SampleError {
        SampleError::Video {
            path: self.path.clone(),
            reason: reason.to_string(),
        }
    }

    fn check_bus(&self) -> Result<(), SampleError> {
        match crate::sink::video::pop_error(&self.pipeline) {
            Some(e) => Err(self.err(e)),
            None => Ok(()),
        }
    }

    /// Encodes one frame (BGR, rows packed); the frame is copied.
    pub fn push(&mut self, bgr: &[u8]) -> Result<(), SampleError> {
        let (w, h) = (self.width, self.height);
        if bgr.len() != w as usize * h as usize * 3 {
            return Err(self.err(format!("a frame of {} bytes is not {w}x{h} BGR", bgr.len())));
        }
        // Lossless backpressure that cannot hang on a dead encoder (as the video sink does).
        let mut level = self.src.current_level_bytes();
        let mut since = Instant::now();
        while level >= self.max_bytes {
            self.check_bus()?;
            std::thread::sleep(Duration::from_millis(2));
            let now = self.src.current_level_bytes();
            if now < level {
                since = Instant::now();
            } else if since.elapsed() > STALL_TIMEOUT {
                return Err(self.err(format!(
                    "the encoder took no frame for {} s",
                    STALL_TIMEOUT.as_secs()
                )));
            }
            level = now;
        }
        self.check_bus()?;
        let buffer = crate::sink::video::packed_bgr_buffer(
            bgr.to_vec(),
            w,
            h,
            self.pushed * self.frame_ns,
            self.frame_ns,
        )
        .map_err(|e| self.err(e))?;
        self.src
            .push_buffer(buffer)
            .map_err(|e| self.err(format!("the encoder refused a frame: {e:?}")))?;
        self.pushed += 1;
        Ok(())
    }

    /// Ends the stream, waits for the muxer to finalise the file, zeroes its wall-clock times;
    /// the frames written.
    pub fn finish(mut self) -> Result<u64, SampleError> {
        self.done = true;
        let _ = self.src.end_of_stream();
        let result = match crate::sink::video::wait_for_eos(&self.pipeline, FINISH_TIMEOUT) {
            Some(Ok(())) => Ok(self.pushed),
            Some(Err(e)) => Err(self.err(e)),
            None => Err(self.err(format!(
                "the encoder did not finish within {} s",
                FINISH_TIMEOUT.as_secs()
            ))),
        };
        let _ = self.pipeline.set_state(gst::State::Null);
        let n = result?;
        zero_times(&self.path)
            .map_err(|e| self.err(format!("cannot set the file's times: {e}")))?;
        Ok(n)
    }
}

impl Drop for Mp4Writer {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.pipeline.set_state(gst::State::Null);
        }
    }
}

/// Sets the creation and modification times of the movie (`mvhd`), its tracks (`tkhd`) and
/// their media (`mdhd`) to zero, in place.
pub fn zero_times(path: &Path) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let len = f.metadata()?.len();
    let mut pos = 0u64;
    while pos + 8 <= len {
        let (size, header, kind) = atom_header(&mut f, pos, len)?;
        if &kind == b"moov" {
            let mut moov = vec![0u8; (size - header) as usize];
            f.seek(SeekFrom::Start(pos + header))?;
            f.read_exact(&mut moov)?;
            zero_in(&mut moov);
            f.seek(SeekFrom::Start(pos + header))?;
            f.write_all(&moov)?;
            return f.sync_all();
        }
        pos += size;
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "no moov atom",
    ))
}

/// `(size, header length, type)` of the atom at `pos` of a file of `len` bytes.
fn atom_header(f: &mut std::fs::File, pos: u64, len: u64) -> std::io::Result<(u64, u64, [u8; 4])> {
    let mut b = [0u8; 16];
    f.seek(SeekFrom::Start(pos))?;
    let n = (len - pos).min(16) as usize;
    f.read_exact(&mut b[..n])?;
    let kind = [b[4], b[5], b[6], b[7]];
    let (size, header) = match u32::from_be_bytes([b[0], b[1], b[2], b[3]]) {
        0 => (len - pos, 8),
        1 if n == 16 => (
            u64::from_be_bytes(b[8..16].try_into().expect("8 bytes")),
            16,
        ),
        s => (s as u64, 8),
    };
    if size < header || pos + size > len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("atom at byte {pos} has a bad size {size}"),
        ));
    }
    Ok((size, header, kind))
}

/// Zeroes the times in the atoms of `data` (the contents of a container atom), recursively.
fn zero_in(data: &mut [u8]) {
    let mut pos = 0usize;
    while pos + 8 <= data.len() {
        let size = u32::from_be_bytes(data[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        let kind: [u8; 4] = data[pos + 4..pos + 8].try_into().expect("4 bytes");
        if size < 8 || pos + size > data.len() {
            return;
        }
        let body = &mut data[pos + 8..pos + size];
        match &kind {
            b"trak" | b"mdia" => zero_in(body),
            b"mvhd" | b"tkhd" | b"mdhd" if !body.is_empty() => {
                // version, 3 bytes of flags, then creation and modification time: 32-bit
                // each in version 0, 64-bit in version 1.
                let end = if body[0] == 1 { 20 } else { 12 };
                if body.len() >= end {
                    body[4..end].fill(0);
                }
            }
            _ => {}
        }
        pos += size;
    }
}
