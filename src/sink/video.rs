//! Annotated frames -> `appsrc ! videoconvert ! I420 ! x264enc ! mp4mux ! filesink`.
//! The frame's pooled image becomes the GStreamer buffer (no copy) and returns to its pool when
//! the encoder is done with it. `finish()` sends end of stream and waits for the muxer, so the
//! file is finalised — also after a signal.

use super::SinkError;
use crate::config::SupportPriority;
use crate::frame::Frame;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::path::{Path, PathBuf};

pub struct VideoSink {
    path: PathBuf,
    speed_preset: String,
    bitrate_kbps: u32,
    priority: SupportPriority,
    running: Option<(gst::Pipeline, gst_app::AppSrc)>,
    /// PTS of the last buffer pushed, to keep timestamps increasing.
    last_pts: Option<u64>,
    frame_ns: u64,
    pushed: u64,
}

impl VideoSink {
    /// The encoder's threads run at `priority`.
    pub fn new(
        path: &Path,
        speed_preset: &str,
        bitrate_kbps: u32,
        priority: SupportPriority,
    ) -> Result<VideoSink, SinkError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| SinkError::Io {
                path: path.display().to_string(),
                reason: format!("cannot create folder: {e}"),
            })?;
        }
        Ok(VideoSink {
            path: path.to_path_buf(),
            speed_preset: speed_preset.into(),
            bitrate_kbps,
            priority,
            running: None,
            last_pts: None,
            frame_ns: 0,
            pushed: 0,
        })
    }

    fn err(&self, reason: impl std::fmt::Display) -> SinkError {
        SinkError::Video {
            path: self.path.display().to_string(),
            reason: reason.to_string(),
        }
    }

    /// Builds the encoder for the first frame's size and rate.
    fn start(&mut self, f: &Frame) -> Result<(), SinkError> {
        let (num, den) = f.fps.unwrap_or((30, 1));
        self.frame_ns = (1_000_000_000u64 * den as u64) / num.max(1) as u64;
        let launch = format!(
            "appsrc name=src format=time is-live=false block=true max-bytes={max} \
             caps=video/x-raw,format=BGR,width={w},height={h},framerate={num}/{den} \
             ! videoconvert ! video/x-raw,format=I420 ! x264enc speed-preset={preset} bitrate={br} key-int-max=60 \
             ! h264parse ! mp4mux ! filesink location=\"{loc}\"",
            max = (f.width * f.height * 3 * 4) as u64,
            w = f.width,
            h = f.height,
            preset = self.speed_preset,
            br = self.bitrate_kbps,
            loc = self.path.to_string_lossy().replace('"', "\\\""),
        );
        let pipeline = gst::parse::launch(&launch)
            .map_err(|e| self.err(format!("cannot build encoder: {e}")))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| self.err("not a pipeline"))?;
        let src = pipeline
            .by_name("src")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .ok_or_else(|| self.err("no appsrc"))?;
        crate::graph::priority::lower_streaming_threads(&pipeline, self.priority);
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| self.err(format!("cannot start encoder: {e}")))?;
        self.running = Some((pipeline, src));
        Ok(())
    }

    /// Pushes the frame's image to the encoder; the image goes with it.
    pub fn push(&mut self, f: Frame) -> Result<(), SinkError> {
        if self.running.is_none() {
            self.start(&f)?;
        }
        self.check_bus()?;
        // The source's PTS when it increases; else the next slot at the stream's rate.
        let pts = match (f.pts_ns, self.last_pts) {
            (Some(p), Some(last)) if p > last => p,
            (Some(p), None) => p,
            (_, Some(last)) => last + self.frame_ns,
            (None, None) => 0,
        };
        self.last_pts = Some(pts);
        let mut buffer = gst::Buffer::from_mut_slice(f.image);
        {
            let b = buffer.get_mut().expect("new buffer is writable");
            b.set_pts(gst::ClockTime::from_nseconds(pts));
            b.set_duration(gst::ClockTime::from_nseconds(self.frame_ns));
        }
        let (_, src) = self.running.as_ref().expect("started above");
        src.push_buffer(buffer)
            .map_err(|e| self.err(format!("encoder refused a frame: {e:?}")))?;
        self.pushed += 1;
        Ok(())
    }

    fn check_bus(&self) -> Result<(), SinkError> {
        let Some((p, _)) = &self.running else {
            return Ok(());
        };
        if let Some(bus) = p.bus()
            && let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error])
            && let gst::MessageView::Error(e) = msg.view()
        {
            return Err(self.err(format!(
                "{}: {} ({})",
                e.src()
                    .map(|s| s.path_string().to_string())
                    .unwrap_or_default(),
                e.error(),
                e.debug().unwrap_or_default()
            )));
        }
        Ok(())
    }

    /// Ends the stream and waits until the MP4 is finalised.
    pub fn finish(&mut self) -> Result<u64, SinkError> {
        let Some((pipeline, src)) = self.running.take() else {
            return Ok(0);
        };
        let _ = src.end_of_stream();
        let bus = pipeline.bus().ok_or_else(|| self.err("no bus"))?;
        let mut result =
            Err(self.err("the encoder did not finish within 60 s; the file may be incomplete"));
        for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
            match msg.view() {
                gst::MessageView::Eos(_) => {
                    result = Ok(self.pushed);
                    break;
                }
                gst::MessageView::Error(e) => {
                    result =
                        Err(self.err(format!("{} ({})", e.error(), e.debug().unwrap_or_default())));
                    break;
                }
                _ => {}
            }
        }
        let _ = pipeline.set_state(gst::State::Null);
        tracing::info!(path = %self.path.display(), frames = self.pushed, "video finalised");
        result
    }
}

impl Drop for VideoSink {
    fn drop(&mut self) {
        if self.running.is_some() {
            let _ = self.finish();
        }
    }
}
