//! `type: console`: feeds the live web console on the metrics port (`/`): every `every_s` the
//! latest annotated frame of each stream as a JPEG (GStreamer's `jpegenc`), each frame's zone
//! and line counts, and every event (warnings, zone and line events). The page and its JSON API
//! are in [`crate::telemetry::console`]; the state they share in [`crate::console`].

use super::SinkError;
use super::annotate::Trails;
use crate::console::Console;
use crate::frame::Frame;
use crate::stage::{BuildCx, CompileCx, Kind, SinkKind, Stage, StageError, of_stream, trail_ok};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Seconds between two JPEGs of a stream (default 1).
    pub every_s: Option<f64>,
    /// JPEG quality, 1 to 100 (default 80).
    pub quality: Option<u32>,
    /// Seconds of path drawn behind each tracked object (default 1).
    pub trail_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub every_s: f64,
    pub quality: u32,
    pub trail_s: f64,
    path: PathBuf,
}

impl Kind for Spec {
    const TYPE: &'static str = "console";
    type Config = Config;
    fn compile(cfg: Config, key: &str, cx: &mut CompileCx) -> Option<Spec> {
        let mut ok = trail_ok(cfg.trail_s, key, cx.diag);
        let every_s = cfg.every_s.unwrap_or(1.0);
        if !(every_s.is_finite() && (0.04..=60.0).contains(&every_s)) {
            cx.diag.error(
                format!("{key}.every_s"),
                format!("{every_s} is out of range; give seconds between frames, 0.04 to 60"),
            );
            ok = false;
        }
        let quality = cfg.quality.unwrap_or(80);
        if !(1..=100).contains(&quality) {
            cx.diag.error(
                format!("{key}.quality"),
                format!("{quality} is out of range; give a JPEG quality from 1 to 100"),
            );
            ok = false;
        }
        ok.then(|| Spec {
            every_s,
            quality,
            trail_s: cfg.trail_s.unwrap_or(1.0),
            path: PathBuf::from("console (the metrics port, /)"),
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
        3
    }
    fn writes_file(&self) -> bool {
        false
    }
    fn live_only(&self) -> bool {
        true
    }
    fn relocate(&mut self, _into: &dyn Fn(&Path) -> PathBuf) {}
    fn wrote_output(&self, _frames: u64) -> bool {
        false
    }
    fn build(&self, cx: &BuildCx) -> Result<Box<dyn Stage>, StageError> {
        let console = cx.metrics.console.clone();
        console.set_pipeline(cx.pipeline);
        for s in cx.streams {
            console.add_stream(s);
        }
        Ok(Box::new(ConsoleSink {
            console,
            every: Duration::from_secs_f64(self.every_s),
            quality: self.quality,
            streams: cx
                .streams
                .iter()
                .map(|s| (s.clone(), PerStream::new(self.trail_s)))
                .collect(),
            label: String::with_capacity(64),
        }))
    }
}

struct PerStream {
    trails: Trails,
    last_jpeg: Option<Instant>,
    encoder: Option<Jpeg>,
}

impl PerStream {
    fn new(trail_s: f64) -> PerStream {
        PerStream {
            trails: Trails::new(trail_s),
            last_jpeg: None,
            encoder: None,
        }
    }
}

/// `appsrc ! videoconvert ! jpegenc ! appsink` for one frame size.
struct Jpeg {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    sink: gst_app::AppSink,
    size: (u32, u32),
}

impl Jpeg {
    fn new(width: u32, height: u32, quality: u32) -> Result<Jpeg, String> {
        crate::source::init().map_err(|e| e.to_string())?;
        let desc = format!(
            "appsrc name=src format=time caps=video/x-raw,format=BGR,width={width},height={height},framerate=0/1 ! videoconvert ! jpegenc quality={quality} ! appsink name=sink sync=false max-buffers=1 drop=true"
        );
        let pipeline = gst::parse::launch(&desc)
            .map_err(|e| format!("cannot build the JPEG encoder: {e}"))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| "the JPEG encoder is not a pipeline".to_string())?;
        let get = |n: &str| {
            pipeline
                .by_name(n)
                .ok_or(format!("no `{n}` in the JPEG encoder"))
        };
        let src = get("src")?
            .downcast::<gst_app::AppSrc>()
            .map_err(|_| "src is no appsrc")?;
        let sink = get("sink")?
            .downcast::<gst_app::AppSink>()
            .map_err(|_| "sink is no appsink")?;
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| format!("cannot start the JPEG encoder: {e}"))?;
        Ok(Jpeg {
            pipeline,
            src,
            sink,
            size: (width, height),
        })
    }

    fn encode(&self, bgr: &[u8]) -> Result<Vec<u8>, String> {
        self.src
            .push_buffer(gst::Buffer::from_slice(bgr.to_vec()))
            .map_err(|e| format!("JPEG encoder refused the frame: {e:?}"))?;
        let sample = self
            .sink
            .try_pull_sample(gst::ClockTime::from_seconds(2))
            .ok_or("the JPEG encoder gave nothing within 2 s")?;
        let buf = sample.buffer().ok_or("a JPEG sample without a buffer")?;
        let map = buf.map_readable().map_err(|e| e.to_string())?;
        Ok(map.as_slice().to_vec())
    }
}

impl Drop for Jpeg {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

pub struct ConsoleSink {
    console: Arc<Console>,
    every: Duration,
    quality: u32,
    streams: Vec<(Arc<str>, PerStream)>,
    label: String,
}

impl Stage for ConsoleSink {
    fn name(&self) -> &str {
        Spec::TYPE
    }
    fn process(&mut self, mut frame: Frame) -> Result<Option<Frame>, StageError> {
        for e in frame.events() {
            self.console
                .event(serde_json::to_value(e).expect("events serialise"));
        }
        let s = of_stream(&mut self.streams, &frame.stream)?;
        super::annotate::draw(&mut frame, &mut self.label, &mut s.trails)
            .map_err(SinkError::from)?;
        let due = s.last_jpeg.is_none_or(|t| t.elapsed() >= self.every);
        let mut jpeg = None;
        if due {
            s.last_jpeg = Some(Instant::now());
            if s.encoder.as_ref().map(|e| e.size) != Some((frame.width, frame.height)) {
                s.encoder = Some(
                    Jpeg::new(frame.width, frame.height, self.quality)
                        .map_err(StageError::Other)?,
                );
            }
            let enc = s.encoder.as_ref().expect("made");
            match enc.encode(frame.image.as_slice()) {
                Ok(j) => jpeg = Some((frame.seq, j)),
                Err(e) => {
                    tracing::warn!(stream = %frame.stream, error = %e, "console: no JPEG of this frame")
                }
            }
        }
        let analytics = frame
            .analytics
            .as_deref()
            .map(|a| serde_json::to_value(a).expect("analytics serialise"));
        self.console
            .frame(&frame.stream, frame.time_s(), analytics, jpeg);
        Ok(Some(frame))
    }
}
