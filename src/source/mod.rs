//! GStreamer sources ending in an `appsink` that hands out packed BGR frames (I420 from the
//! decoder is converted by [`yuv`], bit-exact with FFmpeg / OpenCV; anything else by `videoconvert`).
//!
//! file: `filesrc ! decodebin` (video pad only; audio is left unlinked and ignored);
//! test: `videotestsrc`; launch: any fragment that ends in raw video; rtsp: `rtspsrc`, its
//! video stream only, credentials set as properties (never in the launch line), supervised by
//! [`supervise::Supervised`], which reconnects it.

pub mod supervise;
pub mod yuv;
pub use supervise::{Input, SourceHealth};

use crate::config::{SourceKind, SourceSpec, SupportPriority};
use crate::frame::Frame;
use crate::pool::Pool;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("GStreamer could not start: {0}; install the GStreamer packages the README lists")]
    Init(String),
    #[error("source {stream}: cannot build the GStreamer pipeline `{launch}`: {reason}")]
    Build {
        stream: String,
        launch: String,
        reason: String,
    },
    #[error("source {stream}: {element}: {message}{hint}")]
    Stream {
        stream: String,
        element: String,
        message: String,
        hint: &'static str,
    },
    #[error("source {stream}: {0}", stream = .1)]
    Frame(String, String),
    #[error(
        "source {stream}: the file ends at {at_s:.2} s of the {duration_s:.2} s its header declares: it is truncated (an interrupted copy or recording?); the frames before were processed"
    )]
    Truncated {
        stream: String,
        at_s: f64,
        duration_s: f64,
    },
    #[error(
        "source {stream}: the file gave no frame, end of stream or error for {secs} s after {at_s:.2} s of video: GStreamer is stuck on it (a damaged file?); the frames before were processed"
    )]
    Stalled {
        stream: String,
        secs: u64,
        at_s: f64,
    },
}

/// A local file gives its frames as fast as they decode, so this long without one, an end of
/// stream or an error means GStreamer lost the end: seen once on a truncated MP4 (89 frames
/// out, then qtdemux and decodebin idle, no EOS at the appsink, the run hung). The source then
/// decides itself: truncated if it stopped short of the duration its header declares, a plain
/// end if it reached it, stalled if the file declares none.
const FILE_STALL: Duration = Duration::from_secs(15);

pub fn init() -> Result<(), SourceError> {
    gst::init().map_err(|e| SourceError::Init(e.to_string()))
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The launch line for a source, without the appsink.
pub fn launch_line(spec: &SourceSpec) -> String {
    let live = spec.mode == crate::config::SourceMode::Live;
    match &spec.kind {
        SourceKind::File(p) => format!(
            "filesrc location={} ! decodebin name=perceptd_dec ! queue max-size-buffers=4 ! videoconvert",
            quote(&p.to_string_lossy())
        ),
        // decodebin picks jpegdec or pngdec; imagefreeze repeats the one decoded frame.
        SourceKind::Image { path, repeat, fps } => format!(
            "filesrc location={} ! decodebin name=perceptd_dec ! videoconvert ! imagefreeze num-buffers={repeat} ! video/x-raw,framerate={fps}/1 ! videoconvert",
            quote(&path.to_string_lossy())
        ),
        SourceKind::Test {
            pattern,
            num_frames,
            width,
            height,
            fps,
        } => format!(
            // Live: frames come at the frame rate, as from a camera.
            "videotestsrc pattern={pattern} is-live={live} {} ! video/x-raw,width={width},height={height},framerate={fps}/1 ! videoconvert",
            num_frames
                .map(|n| format!("num-buffers={n}"))
                .unwrap_or_default()
        ),
        SourceKind::Launch(l) => format!("{l} ! queue max-size-buffers=4 ! videoconvert"),
        SourceKind::Uri(u) => format!(
            "uridecodebin name=perceptd_uri uri={} ! queue max-size-buffers=4 ! videoconvert",
            quote(&u.url)
        ),
        SourceKind::V4l2 {
            device,
            width,
            height,
            fps,
        } => {
            // Raw or MJPEG, whichever the camera offers at that size and rate.
            let mut fields = String::new();
            for (k, v) in [("width", width), ("height", height)] {
                if let Some(v) = v {
                    fields.push_str(&format!(",{k}={v}"));
                }
            }
            if let Some(f) = fps {
                fields.push_str(&format!(",framerate={f}/1"));
            }
            format!(
                "v4l2src device={} ! video/x-raw{fields};image/jpeg{fields} ! decodebin name=perceptd_dec ! queue max-size-buffers=4 ! videoconvert",
                quote(&device.to_string_lossy())
            )
        }
        SourceKind::Rtsp(r) => format!(
            "rtspsrc name=perceptd_rtsp location={} protocols={} latency={} ! application/x-rtp,media=video ! decodebin name=perceptd_dec ! queue max-size-buffers=4 ! videoconvert",
            quote(&r.url),
            match r.transport {
                crate::config::RtspTransport::Tcp => "tcp",
                crate::config::RtspTransport::Udp => "udp",
            },
            r.latency_ms
        ),
    }
}

/// What one pull from a source gave.
// Frames move by value through the whole pipeline; boxing one here would allocate per frame.
#[allow(clippy::large_enum_variant)]
pub enum Pull {
    Frame(Frame),
    /// End of stream.
    Eos,
    /// Nothing within the wait.
    Idle,
}

/// A running source. `next()` blocks for the next frame; `None` at end of stream.
pub struct Source {
    pub stream: Arc<str>,
    pipeline: gst::Pipeline,
    sink: gst_app::AppSink,
    pool: Pool<Vec<u8>>,
    seq: u64,
    stop: Arc<AtomicBool>,
    launch: String,
    /// File sources: the end of the last frame read (PTS + duration), ns.
    end_ns: Option<u64>,
    is_file: bool,
    /// A local file (`type: file`): subject to [`FILE_STALL`].
    local_file: bool,
    /// When the last frame (or the start) was.
    last_sample: Instant,
}

impl Source {
    /// Opens and starts the source; its streaming threads run at `priority`.
    pub fn open(
        spec: &SourceSpec,
        stop: Arc<AtomicBool>,
        priority: SupportPriority,
    ) -> Result<Source, SourceError> {
        init()?;
        let launch = format!(
            "{} ! video/x-raw,format={{ I420, BGR }} ! appsink name=perceptd_sink sync=false max-buffers=4 drop=false emit-signals=false",
            launch_line(spec)
        );
        let build_err = |reason: String| SourceError::Build {
            stream: spec.stream.clone(),
            launch: launch.clone(),
            reason,
        };
        let pipeline = gst::parse::launch(&launch)
            .map_err(|e| build_err(e.to_string()))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| build_err("not a pipeline".into()))?;
        let sink = pipeline
            .by_name("perceptd_sink")
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .ok_or_else(|| build_err("no appsink".into()))?;
        if let SourceKind::Rtsp(r) = &spec.kind
            && let Some(rtsp) = pipeline.by_name("perceptd_rtsp")
        {
            if let Some(u) = &r.username {
                rtsp.set_property("user-id", u);
            }
            if let Some(p) = &r.password {
                rtsp.set_property("user-pw", &p.0);
            }
        }
        if let SourceKind::Uri(u) = &spec.kind
            && (u.username.is_some() || u.password.is_some())
            && let Some(dec) = pipeline.by_name("perceptd_uri")
        {
            // uridecodebin makes its source (souphttpsrc for HTTP) itself: hand it the
            // credentials there.
            let (user, pw) = (u.username.clone(), u.password.clone());
            dec.connect("source-setup", false, move |args| {
                if let Ok(src) = args[1].get::<gst::Element>() {
                    if let Some(u) = &user
                        && src.has_property("user-id")
                    {
                        src.set_property("user-id", u);
                    }
                    if let Some(p) = &pw
                        && src.has_property("user-pw")
                    {
                        src.set_property("user-pw", &p.0);
                    }
                }
                None
            });
        }
        let src = Source {
            stream: spec.stream.as_str().into(),
            pipeline,
            sink,
            pool: Pool::default(),
            seq: 0,
            stop,
            launch: launch.clone(),
            end_ns: None,
            is_file: matches!(spec.kind, SourceKind::File(_))
                || matches!(&spec.kind, SourceKind::Uri(_) if spec.mode == crate::config::SourceMode::Replay),
            local_file: matches!(spec.kind, SourceKind::File(_)),
            last_sample: Instant::now(),
        };
        crate::graph::priority::lower_streaming_threads(&src.pipeline, priority);
        if let Err(e) = src.pipeline.set_state(gst::State::Playing) {
            return Err(src
                .bus_error()
                .unwrap_or_else(|| build_err(format!("cannot start: {e}"))));
        }
        Ok(src)
    }

    pub fn launch(&self) -> &str {
        &self.launch
    }

    /// The first error on the bus, as a source error that names the element.
    fn bus_error(&self) -> Option<SourceError> {
        let bus = self.pipeline.bus()?;
        while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(err) = msg.view() {
                let element = err
                    .src()
                    .map(|s| s.path_string().to_string())
                    .unwrap_or_default();
                let message = format!("{} ({})", err.error(), err.debug().unwrap_or_default());
                let hint = if message.contains("no suitable plugins") || message.contains("missing")
                {
                    "; a decoder is missing: install gstreamer1.0-libav and gstreamer1.0-plugins-{good,bad,ugly}"
                } else if element.contains("filesrc")
                    || message.contains("not-linked")
                    || element.contains("perceptd_dec")
                {
                    "; check that the file exists and is a video (MP4/MKV/MOV, H.264 or H.265)"
                } else {
                    ""
                };
                return Some(SourceError::Stream {
                    stream: self.stream.to_string(),
                    element,
                    message,
                    hint,
                });
            }
        }
        None
    }

    /// The next frame; `Ok(None)` at end of stream or when a stop was asked for.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            match self.pull(Duration::from_millis(100))? {
                Pull::Frame(f) => return Ok(Some(f)),
                Pull::Eos => return Ok(None),
                Pull::Idle => {}
            }
        }
    }

    /// Waits up to `wait` for a frame.
    pub fn pull(&mut self, wait: Duration) -> Result<Pull, SourceError> {
        match self
            .sink
            .try_pull_sample(gst::ClockTime::from_nseconds(wait.as_nanos() as u64))
        {
            Some(sample) => {
                // The bus is read at every frame too: messages left on it would pile up for
                // as long as the stream runs (pop_filtered discards what is not an error).
                if let Some(e) = self.bus_error() {
                    return Err(e);
                }
                self.last_sample = Instant::now();
                self.make_frame(&sample).map(Pull::Frame)
            }
            None => {
                if let Some(e) = self.bus_error() {
                    return Err(e);
                }
                if self.sink.is_eos() {
                    self.check_complete()?;
                    return Ok(Pull::Eos);
                }
                if self.local_file && self.last_sample.elapsed() >= FILE_STALL {
                    return self.lost_end();
                }
                Ok(Pull::Idle)
            }
        }
    }

    /// A file that stops before the duration its header declares is truncated: an error, not
    /// a quiet end (GStreamer itself just ends the stream).
    fn check_complete(&self) -> Result<(), SourceError> {
        if !self.is_file {
            return Ok(());
        }
        let Some(duration) = self.pipeline.query_duration::<gst::ClockTime>() else {
            return Ok(());
        };
        let (end, dur) = (self.end_ns.unwrap_or(0), duration.nseconds());
        // Half a second of slack: container durations round, and the last frame's own
        // duration may be missing.
        if end + 500_000_000 < dur {
            return Err(SourceError::Truncated {
                stream: self.stream.to_string(),
                at_s: end as f64 / 1e9,
                duration_s: dur as f64 / 1e9,
            });
        }
        Ok(())
    }

    /// A local file stuck for [`FILE_STALL`]: truncated, ended, or stalled.
    fn lost_end(&self) -> Result<Pull, SourceError> {
        self.check_complete()?;
        let at_s = self.end_ns.unwrap_or(0) as f64 / 1e9;
        if self.pipeline.query_duration::<gst::ClockTime>().is_some() {
            tracing::warn!(
                stream = %self.stream,
                at_s,
                "no end of stream came after the file's last frame; ending it here"
            );
            return Ok(Pull::Eos);
        }
        Err(SourceError::Stalled {
            stream: self.stream.to_string(),
            secs: FILE_STALL.as_secs(),
            at_s,
        })
    }

    /// Numbers the next frame `seq` (a reconnected source goes on counting).
    pub fn continue_from(&mut self, seq: u64) {
        self.seq = seq;
    }

    fn make_frame(&mut self, sample: &gst::Sample) -> Result<Frame, SourceError> {
        let err = |m: String| SourceError::Frame(m, self.stream.to_string());
        let caps = sample
            .caps()
            .ok_or_else(|| err("sample without caps".into()))?;
        let info =
            gst_video::VideoInfo::from_caps(caps).map_err(|e| err(format!("bad caps: {e}")))?;
        let buffer = sample
            .buffer()
            .ok_or_else(|| err("sample without buffer".into()))?;
        let vframe = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info)
            .map_err(|e| err(format!("cannot map frame: {e}")))?;
        let (w, h) = (info.width() as usize, info.height() as usize);
        let row = w * 3;
        let mut image = self.pool.take(|| Vec::with_capacity(row * h));
        image.clear();
        let plane = |i: u32| {
            vframe
                .plane_data(i)
                .map(|d| (d, vframe.plane_stride()[i as usize] as usize))
                .map_err(|e| err(format!("cannot read frame: {e}")))
        };
        if info.format() == gst_video::VideoFormat::I420 {
            // Decoders hand out I420: converted here as FFmpeg does (see `yuv`).
            yuv::i420_to_bgr(
                &yuv::I420 {
                    y: plane(0)?,
                    u: plane(1)?,
                    v: plane(2)?,
                    width: w,
                    height: h,
                },
                &mut image,
            );
        } else {
            let (data, stride) = plane(0)?;
            if stride == row {
                image.extend_from_slice(&data[..row * h]);
            } else {
                for y in 0..h {
                    image.extend_from_slice(&data[y * stride..y * stride + row]);
                }
            }
        }
        let fps = info.fps();
        if let Some(pts) = buffer.pts() {
            let d = buffer.duration().map_or(0, |d| d.nseconds());
            self.end_ns = Some(pts.nseconds() + d);
        }
        let seq = self.seq;
        self.seq += 1;
        Ok(Frame {
            stream: self.stream.clone(),
            seq,
            order: seq,
            pts_ns: buffer.pts().map(|t| t.nseconds()),
            captured: Instant::now(),
            captured_wall: SystemTime::now(),
            width: w as u32,
            height: h as u32,
            fps: (fps.numer() > 0).then(|| (fps.numer(), fps.denom())),
            image: Arc::new(image),
            input: None,
            detections: Vec::new(),
            segmentation: Vec::new(),
            missing: Vec::new(),
            adas: None,
            analytics: None,
            annotated: false,
        })
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// A file's frame count from its declared duration and frame rate (for progress bars); `None`
/// when the file declares neither.
pub fn estimate_frames(spec: &SourceSpec) -> Option<u64> {
    let mut src = Source::open(
        spec,
        Arc::new(AtomicBool::new(false)),
        SupportPriority::Normal,
    )
    .ok()?;
    let (num, den) = src.next_frame().ok()??.fps?;
    let dur = src.pipeline.query_duration::<gst::ClockTime>()?.nseconds();
    Some((dur as f64 / 1e9 * num as f64 / den.max(1) as f64).round() as u64)
}

/// How long a source may take to deliver its first frame before `check` gives up on it.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a source and reads one frame: proves a launch fragment or file really yields video.
pub fn probe(spec: &SourceSpec) -> Result<(u32, u32), SourceError> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut src = Source::open(spec, stop.clone(), SupportPriority::Normal)?;
    let deadline = Instant::now() + PROBE_TIMEOUT;
    let timer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
            }
            stop.store(true, Ordering::Relaxed);
        })
    };
    let r = src.next_frame();
    stop.store(true, Ordering::Relaxed);
    let _ = timer.join();
    match r? {
        Some(f) => Ok((f.width, f.height)),
        None => Err(SourceError::Frame(
            "no frame arrived (empty stream, or nothing within 10 s)".into(),
            spec.stream.clone(),
        )),
    }
}
