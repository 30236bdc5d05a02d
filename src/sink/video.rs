//! Annotated frames -> `appsrc ! videoconvert ! videoscale ! I420 ! x264enc ! mp4mux ! filesink`.
//! The frame's pooled image becomes the GStreamer buffer (no copy, its packed row stride given
//! by a `VideoMeta`) and returns to its pool when the encoder is done with it. `finish()` sends
//! end of stream and waits for the muxer, so the file is finalised — also after a signal.

use super::SinkError;
use super::annotate::Trails;
use crate::config::diag::resolve;
use crate::config::spec::SupportPriority;
use crate::frame::Frame;
use crate::stage::{BuildCx, CompileCx, Kind, SinkKind, Stage, StageError};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long pushing waits for an encoder that takes no frame at all.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// How long `finish()` waits for the muxer to write the file's index.
const FINISH_TIMEOUT: Duration = Duration::from_secs(120);

pub struct VideoSink {
    path: PathBuf,
    speed_preset: String,
    bitrate_kbps: u32,
    priority: SupportPriority,
    running: Option<Running>,
    /// PTS of the last buffer pushed, to keep timestamps increasing.
    last_pts: Option<u64>,
    frame_ns: u64,
    pushed: u64,
    /// The encoder reported an error: no end-of-stream wait, no more frames.
    failed: bool,
}

struct Running {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    width: u32,
    height: u32,
    /// Queue bound in bytes: pushing waits while the encoder is this far behind.
    max_bytes: u64,
}

/// The GStreamer elements the encoder needs, with the Debian package of each.
const ELEMENTS: &[(&str, &str)] = &[
    ("appsrc", "gstreamer1.0-plugins-base"),
    ("videoconvert", "gstreamer1.0-plugins-base"),
    ("videoscale", "gstreamer1.0-plugins-base"),
    ("x264enc", "gstreamer1.0-plugins-ugly"),
    ("h264parse", "gstreamer1.0-plugins-bad"),
    ("mp4mux", "gstreamer1.0-plugins-good"),
    ("filesink", "gstreamer1.0"),
];

/// Checks that every element of the encoder is installed (GStreamer must be initialised).
pub fn check_elements() -> Result<(), String> {
    crate::source::init().map_err(|e| e.to_string())?;
    let missing: Vec<String> = ELEMENTS
        .iter()
        .filter(|(e, _)| gst::ElementFactory::find(e).is_none())
        .map(|(e, pkg)| format!("{e} (package {pkg})"))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "GStreamer elements missing for the video sink: {}; install them",
            missing.join(", ")
        ))
    }
}

impl VideoSink {
    /// The encoder's threads run at `priority`. Fails at once when an element is missing, not
    /// at the first frame.
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
        check_elements().map_err(|reason| SinkError::Video {
            path: path.display().to_string(),
            reason,
        })?;
        Ok(VideoSink {
            path: path.to_path_buf(),
            speed_preset: speed_preset.into(),
            bitrate_kbps,
            priority,
            running: None,
            last_pts: None,
            frame_ns: 0,
            pushed: 0,
            failed: false,
        })
    }

    fn err(&self, reason: impl std::fmt::Display) -> SinkError {
        SinkError::Video {
            path: self.path.display().to_string(),
            reason: reason.to_string(),
        }
    }

    /// Builds the encoder for the first frame's size and rate. x264 needs even sizes for 4:2:0:
    /// an odd width or height is scaled to the even size below it.
    fn start(&mut self, f: &Frame) -> Result<(), SinkError> {
        let (num, den) = f.fps.unwrap_or((30, 1));
        self.frame_ns = (1_000_000_000u64 * den as u64) / num.max(1) as u64;
        let (ew, eh) = ((f.width & !1).max(2), (f.height & !1).max(2));
        let max_bytes = (f.width * f.height * 3 * 4) as u64;
        let launch = format!(
            "appsrc name=src format=time is-live=false block=false max-bytes={max_bytes} \
             caps=video/x-raw,format=BGR,width={w},height={h},framerate={num}/{den} \
             ! videoconvert ! videoscale ! video/x-raw,format=I420,width={ew},height={eh} \
             ! x264enc speed-preset={preset} bitrate={br} key-int-max=60 \
             ! h264parse ! mp4mux ! filesink location=\"{loc}\"",
            w = f.width,
            h = f.height,
            preset = self.speed_preset,
            br = self.bitrate_kbps,
            loc = self.path.to_string_lossy().replace('"', "\\\""),
        );
        let pipeline = gst::parse::launch(&launch)
            .map_err(|e| {
                self.err(format!(
                    "cannot build the encoder: {e}; install gstreamer1.0-plugins-ugly (x264enc)"
                ))
            })?
            .downcast::<gst::Pipeline>()
            .map_err(|_| self.err("not a pipeline"))?;
        let src = pipeline
            .by_name("src")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .ok_or_else(|| self.err("no appsrc"))?;
        crate::graph::priority::lower_streaming_threads(&pipeline, self.priority);
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| self.err(format!("cannot start the encoder: {e}")))?;
        self.running = Some(Running {
            pipeline,
            src,
            width: f.width,
            height: f.height,
            max_bytes,
        });
        Ok(())
    }

    /// Pushes the frame's image to the encoder; the image goes with it.
    pub fn push(&mut self, f: Frame) -> Result<(), SinkError> {
        if self.failed {
            return Err(self.err("the encoder failed earlier"));
        }
        if self.running.is_none() {
            self.start(&f)?;
        }
        let r = self.running.as_ref().expect("started above");
        if (f.width, f.height) != (r.width, r.height) {
            return Err(self.err(format!(
                "the frame size changed from {}x{} to {}x{} mid-stream; one video sink encodes one size",
                r.width, r.height, f.width, f.height
            )));
        }
        let (src, max_bytes) = (r.src.clone(), r.max_bytes);
        // Lossless backpressure without `block=true`, which would hang for ever on a dead encoder;
        // an encoder that takes no frame for STALL_TIMEOUT is an error, not a silent hang.
        let mut level = src.current_level_bytes();
        let mut since = std::time::Instant::now();
        while level >= max_bytes {
            self.check_bus()?;
            std::thread::sleep(Duration::from_millis(2));
            let now = src.current_level_bytes();
            if now < level {
                since = std::time::Instant::now();
            } else if since.elapsed() > STALL_TIMEOUT {
                self.failed = true;
                return Err(self.err(format!(
                    "the encoder took no frame for {} s",
                    STALL_TIMEOUT.as_secs()
                )));
            }
            level = now;
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
        let (w, h) = (f.width, f.height);
        let image = std::sync::Arc::try_unwrap(f.image)
            .map_err(|_| self.err("the frame's image is still shared with a model branch"))?;
        let buffer = packed_bgr_buffer(image, w, h, pts, self.frame_ns).map_err(|e| self.err(e))?;
        if let Err(e) = src.push_buffer(buffer) {
            self.failed = true;
            return Err(self.err(format!("the encoder refused a frame: {e:?}")));
        }
        self.pushed += 1;
        Ok(())
    }

    fn check_bus(&mut self) -> Result<(), SinkError> {
        let Some(r) = &self.running else {
            return Ok(());
        };
        if let Some(e) = pop_error(&r.pipeline) {
            self.failed = true;
            return Err(self.err(e));
        }
        Ok(())
    }

    /// Ends the stream and waits until the MP4 is finalised; the frames written.
    pub fn finish(&mut self) -> Result<u64, SinkError> {
        let Some(r) = self.running.take() else {
            return Ok(0);
        };
        let result = if self.failed {
            Err(self.err("the encoder failed; the file is incomplete and may not play"))
        } else {
            let _ = r.src.end_of_stream();
            match wait_for_eos(&r.pipeline, FINISH_TIMEOUT) {
                Some(Ok(())) => Ok(self.pushed),
                Some(Err(e)) => Err(self.err(e)),
                None => Err(self.err(format!(
                    "the encoder did not finish within {} s; the file may be incomplete",
                    FINISH_TIMEOUT.as_secs()
                ))),
            }
        };
        let _ = r.pipeline.set_state(gst::State::Null);
        if result.is_ok() {
            tracing::info!(path = %self.path.display(), frames = self.pushed, "video finalised");
        }
        result
    }
}

/// A GStreamer buffer of one packed BGR frame (rows of `w * 3` bytes) at `pts_ns`, wrapping
/// `image` without a copy; shared with the sample-drive encoder.
pub(crate) fn packed_bgr_buffer<T: AsMut<[u8]> + Send + 'static>(
    image: T,
    w: u32,
    h: u32,
    pts_ns: u64,
    duration_ns: u64,
) -> Result<gst::Buffer, String> {
    let mut buffer = gst::Buffer::from_mut_slice(image);
    {
        let b = buffer.get_mut().expect("new buffer is writable");
        b.set_pts(gst::ClockTime::from_nseconds(pts_ns));
        b.set_duration(gst::ClockTime::from_nseconds(duration_ns));
        // Rows are packed (w * 3 bytes); GStreamer's default BGR stride rounds up to 4.
        gst_video::VideoMeta::add_full(
            b,
            gst_video::VideoFrameFlags::empty(),
            gst_video::VideoFormat::Bgr,
            w,
            h,
            &[0],
            &[(w * 3) as i32],
        )
        .map_err(|e| format!("video meta: {e}"))?;
    }
    Ok(buffer)
}

/// The first error message on `pipeline`'s bus, as `element: error (debug)`; other messages
/// before it are dropped.
pub(crate) fn pop_error(pipeline: &gst::Pipeline) -> Option<String> {
    let msg = pipeline.bus()?.pop_filtered(&[gst::MessageType::Error])?;
    let gst::MessageView::Error(e) = msg.view() else {
        return None;
    };
    let element = e
        .src()
        .map(|s| s.path_string().to_string())
        .unwrap_or_default();
    Some(format!(
        "{element}: {} ({})",
        e.error(),
        e.debug().unwrap_or_default()
    ))
}

/// Waits up to `timeout` for the end of stream sent into `pipeline` to come out of its muxer:
/// `Some(Ok)` once the file is complete, `Some(Err)` with the error GStreamer posted, `None`
/// when the time ran out. Shared with the sample-drive encoder (`sample/mp4.rs`).
pub(crate) fn wait_for_eos(
    pipeline: &gst::Pipeline,
    timeout: Duration,
) -> Option<Result<(), String>> {
    let bus = pipeline.bus()?;
    for msg in bus.iter_timed(gst::ClockTime::from_nseconds(timeout.as_nanos() as u64)) {
        match msg.view() {
            gst::MessageView::Eos(_) => return Some(Ok(())),
            gst::MessageView::Error(e) => {
                return Some(Err(format!(
                    "{} ({})",
                    e.error(),
                    e.debug().unwrap_or_default()
                )));
            }
            _ => {}
        }
    }
    None
}

impl Drop for VideoSink {
    fn drop(&mut self) {
        if self.running.is_some() {
            let _ = self.finish();
        }
    }
}

/// x264's `speed-preset` values.
const X264_PRESETS: &[&str] = &[
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
];

/// `type: video`: annotated video, boxes drawn with OpenCV, encoded with x264 into MP4.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub path: String,
    /// x264 `speed-preset` (default `ultrafast`: the encoder must not take cores from inference).
    pub speed_preset: Option<String>,
    /// x264 bitrate in kbit/s (default 4000).
    pub bitrate_kbps: Option<u32>,
    /// Seconds of motion drawn behind each tracked object (default 1; 0: no trails).
    pub trail_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub path: PathBuf,
    pub speed_preset: String,
    pub bitrate_kbps: u32,
    /// Seconds of trail behind tracked objects (0: none).
    pub trail_s: f64,
}

impl Kind for Spec {
    const TYPE: &'static str = "video";
    type Config = Config;
    fn compile(cfg: Config, key: &str, cx: &mut CompileCx) -> Option<Spec> {
        let mut ok = crate::stage::trail_ok(cfg.trail_s, key, cx.diag);
        let preset = cfg.speed_preset.unwrap_or_else(|| "ultrafast".into());
        if let Some(b) = cfg.bitrate_kbps
            && !(1..=2_048_000).contains(&b)
        {
            cx.diag.error(
                format!("{key}.bitrate_kbps"),
                format!("{b} is out of range; x264 takes 1 to 2048000 kbit/s"),
            );
            ok = false;
        }
        if !X264_PRESETS.contains(&preset.as_str()) {
            cx.diag.error(
                format!("{key}.speed_preset"),
                format!(
                    "`{preset}` is not an x264 preset; use one of {}",
                    X264_PRESETS.join(", ")
                ),
            );
            ok = false;
        }
        ok.then(|| Spec {
            path: resolve(cx.base, &cfg.path),
            speed_preset: preset,
            bitrate_kbps: cfg.bitrate_kbps.unwrap_or(4000),
            trail_s: cfg.trail_s.unwrap_or(1.0),
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
    /// Last: it consumes the frame (its image becomes the encoder's buffer).
    fn rank(&self) -> u8 {
        u8::MAX
    }
    fn per_stream(&self) -> bool {
        true
    }
    fn relocate(&mut self, into: &dyn Fn(&Path) -> PathBuf) {
        self.path = into(&self.path);
    }
    fn wrote_output(&self, frames: u64) -> bool {
        frames > 0
    }
    fn deep_check(&self) -> Result<(), String> {
        check_elements()
    }
    fn build(&self, cx: &BuildCx) -> Result<Box<dyn Stage>, StageError> {
        let mut outs = vec![];
        for (stream, path) in cx.per_stream(&self.path) {
            let sink = VideoSink::new(&path, &self.speed_preset, self.bitrate_kbps, cx.priority)?;
            outs.push((stream, (sink, Trails::new(self.trail_s))));
        }
        Ok(Box::new(Video {
            outs,
            label: String::with_capacity(64),
        }))
    }
}

/// Draws the results and encodes the frame into its stream's video; consumes it.
struct Video {
    outs: Vec<(std::sync::Arc<str>, (VideoSink, Trails))>,
    label: String,
}

impl Stage for Video {
    fn name(&self) -> &str {
        Spec::TYPE
    }
    fn process(&mut self, mut frame: Frame) -> Result<Option<Frame>, StageError> {
        let (sink, trails) = crate::stage::of_stream(&mut self.outs, &frame.stream)?;
        super::annotate::draw(&mut frame, &mut self.label, trails).map_err(SinkError::from)?;
        sink.push(frame)?;
        Ok(None)
    }
    fn finish(&mut self) -> Result<(), StageError> {
        // Every stream's file is finalised, even when one fails.
        let mut first = Ok(());
        for (_, (sink, _)) in &mut self.outs {
            if let Err(e) = sink.finish() {
                first = first.and(Err(e));
            }
        }
        first?;
        Ok(())
    }
}
