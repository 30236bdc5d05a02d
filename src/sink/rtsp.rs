//! Live viewing: the annotated frames of each stream served over RTSP by perceptd itself
//! (gst-rtsp-server), one mount per stream, `rtsp://ADDRESS/<stream>`.
//!
//! The server runs on its own GLib main loop thread. A stream is encoded only while a viewer
//! is connected: the mount's media (`appsrc ! x264enc ! rtph264pay`, shared by all viewers) is
//! built when the first viewer arrives and torn down after the last leaves. Frames reach it
//! through a leaky `appsrc` that keeps at most two and drops the oldest, so a viewer that is
//! slow, connecting or leaving never makes the pipeline wait.

use super::SinkError;
use super::annotate::Trails;
use crate::frame::Frame;
use crate::stage::{BuildCx, CompileCx, Kind, SinkKind, Stage, StageError, of_stream, trail_ok};
use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// The `appsrc` of a mount while a viewer watches (None otherwise).
type Slot = Arc<Mutex<Option<gst_app::AppSrc>>>;

pub struct RtspOut {
    addr: SocketAddr,
    server: rtsp::RTSPServer,
    ctx: glib::MainContext,
    source: Option<glib::SourceId>,
    main_loop: glib::MainLoop,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Per stream: its slot and the caps its frames were announced with.
    mounts: Vec<(Arc<str>, Slot)>,
    fps: (i32, i32),
}

impl RtspOut {
    /// Starts the server on `addr` with a mount per stream.
    pub fn start(addr: SocketAddr, streams: &[Arc<str>]) -> Result<RtspOut, SinkError> {
        let err = |reason: String| SinkError::Io {
            path: format!("rtsp://{addr}"),
            reason,
        };
        crate::source::init().map_err(|e| err(e.to_string()))?;
        let server = rtsp::RTSPServer::new();
        server.set_address(&addr.ip().to_string());
        server.set_service(&addr.port().to_string());
        let points = server
            .mount_points()
            .ok_or_else(|| err("the RTSP server has no mount points".into()))?;
        let mut mounts = vec![];
        for stream in streams {
            let slot: Slot = Arc::new(Mutex::new(None));
            let factory = rtsp::RTSPMediaFactory::new();
            factory.set_launch(
                "( appsrc name=src is-live=true format=time do-timestamp=true max-buffers=2 leaky-type=downstream block=false ! videoconvert ! video/x-raw,format=I420 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! rtph264pay name=pay0 pt=96 config-interval=1 )",
            );
            factory.set_shared(true);
            let s = slot.clone();
            factory.connect_media_configure(move |_, media| {
                let Some(src) = media
                    .element()
                    .downcast_ref::<gst::Bin>()
                    .and_then(|b| b.by_name_recurse_up("src"))
                    .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
                else {
                    return;
                };
                *s.lock().expect("slot lock") = Some(src);
                let s2 = s.clone();
                media.connect_unprepared(move |_| {
                    *s2.lock().expect("slot lock") = None;
                });
            });
            points.add_factory(&format!("/{stream}"), factory);
            mounts.push((stream.clone(), slot));
        }
        let ctx = glib::MainContext::new();
        let source = server.attach(Some(&ctx)).map_err(|e| {
            err(format!(
                "cannot listen: {e}; is the port in use? set another `address`"
            ))
        })?;
        let main_loop = glib::MainLoop::new(Some(&ctx), false);
        let thread = {
            let (ctx, l) = (ctx.clone(), main_loop.clone());
            std::thread::Builder::new()
                .name("rtsp-out".into())
                .spawn(move || {
                    let _ = ctx.with_thread_default(|| l.run());
                })
                .map_err(|e| err(e.to_string()))?
        };
        tracing::info!(address = %addr, mounts = streams.len(), "serving the annotated video over RTSP");
        Ok(RtspOut {
            addr,
            server,
            ctx,
            source: Some(source),
            main_loop,
            thread: Some(thread),
            mounts,
            fps: (30, 1),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Hands the (annotated) frame to its mount's viewers, if any; never waits.
    pub fn push(&mut self, f: &Frame) -> Result<(), SinkError> {
        let Some((_, slot)) = self.mounts.iter().find(|(s, _)| *s == f.stream) else {
            return Ok(());
        };
        let Some(src) = slot.lock().expect("slot lock").clone() else {
            return Ok(());
        };
        if let Some(fps) = f.fps {
            self.fps = fps;
        }
        let caps = gst::Caps::builder("video/x-raw")
            .field("format", "BGR")
            .field("width", f.width as i32)
            .field("height", f.height as i32)
            .field("framerate", gst::Fraction::new(self.fps.0, self.fps.1))
            .build();
        if src.caps().as_ref() != Some(&caps) {
            src.set_caps(Some(&caps));
        }
        // A copy: the frame's own image goes on to the video sink (or back to its pool).
        let buffer = gst::Buffer::from_slice(f.image.as_slice().to_vec());
        // A viewer leaving between the lookup and here makes the push fail: not an error.
        let _ = src.push_buffer(buffer);
        Ok(())
    }

    pub fn stop(&mut self) {
        self.server
            .client_filter(Some(&mut |_, _| rtsp::RTSPFilterResult::Remove));
        if let Some(id) = self.source.take()
            && let Some(s) = self.ctx.find_source_by_id(&id)
        {
            s.destroy();
        }
        self.main_loop.quit();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RtspOut {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `type: rtsp`: the annotated video of every stream served live over RTSP by perceptd,
/// `rtsp://ADDRESS/<stream>`, encoded only while someone watches.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `HOST:PORT` to listen on (default `127.0.0.1:8554`: this machine only).
    pub address: Option<String>,
    /// Seconds of trail behind tracked objects (default 1; 0: none).
    pub trail_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// `rtsp://ADDRESS`, for messages.
    pub path: std::path::PathBuf,
    pub address: SocketAddr,
    pub trail_s: f64,
}

impl Kind for Spec {
    const TYPE: &'static str = "rtsp";
    type Config = Config;
    fn compile(cfg: Config, key: &str, cx: &mut CompileCx) -> Option<Spec> {
        let text = cfg.address.unwrap_or_else(|| "127.0.0.1:8554".into());
        let mut ok = trail_ok(cfg.trail_s, key, cx.diag);
        let address = match text.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                cx.diag.error(
                    format!("{key}.address"),
                    format!("`{text}` is not HOST:PORT, e.g. 127.0.0.1:8554 (or 0.0.0.0:8554 to serve the network)"),
                );
                ok = false;
                None
            }
        };
        let address = address.filter(|_| ok)?;
        Some(Spec {
            path: format!("rtsp://{address}").into(),
            address,
            trail_s: cfg.trail_s.unwrap_or(1.0),
        })
    }
}

impl SinkKind for Spec {
    fn kind(&self) -> &'static str {
        Self::TYPE
    }
    fn path(&self) -> &std::path::Path {
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
    fn relocate(&mut self, _into: &dyn Fn(&std::path::Path) -> std::path::PathBuf) {}
    fn wrote_output(&self, _frames: u64) -> bool {
        false
    }
    fn build(&self, cx: &BuildCx) -> Result<Box<dyn Stage>, StageError> {
        Ok(Box::new(RtspServe {
            out: RtspOut::start(self.address, cx.streams)?,
            trails: cx
                .streams
                .iter()
                .map(|s| (s.clone(), Trails::new(self.trail_s)))
                .collect(),
            label: String::with_capacity(64),
        }))
    }
}

/// Serves the annotated frames (drawing them, unless an earlier sink did).
struct RtspServe {
    out: RtspOut,
    trails: Vec<(Arc<str>, Trails)>,
    label: String,
}

impl Stage for RtspServe {
    fn name(&self) -> &str {
        Spec::TYPE
    }
    fn process(&mut self, mut frame: Frame) -> Result<Option<Frame>, StageError> {
        let trails = of_stream(&mut self.trails, &frame.stream)?;
        super::annotate::draw(&mut frame, &mut self.label, trails).map_err(SinkError::from)?;
        self.out.push(&frame)?;
        Ok(Some(frame))
    }
    fn finish(&mut self) -> Result<(), StageError> {
        self.out.stop();
        Ok(())
    }
}
