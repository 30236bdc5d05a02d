//! A test RTSP server (gst-rtsp-server) on 127.0.0.1, shared by the RTSP tests and the soak
//! bench (`benches/soak.rs` includes this file).

use gstreamer as gst;
use gstreamer::glib;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;
use std::time::{Duration, Instant};

/// A live H.264 test pattern served at `rtsp://127.0.0.1:<port>/cam`, which can be stopped
/// (every client dropped, the port closed) and started again on the same port.
pub struct RtspServer {
    pub port: u16,
    running: Option<Running>,
}

struct Running {
    server: rtsp::RTSPServer,
    ctx: glib::MainContext,
    source: glib::SourceId,
    main_loop: glib::MainLoop,
    thread: std::thread::JoinHandle<()>,
}

impl RtspServer {
    pub fn start(port: u16) -> RtspServer {
        let mut s = RtspServer {
            port,
            running: None,
        };
        s.resume();
        s
    }

    pub fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/cam", self.port)
    }

    pub fn resume(&mut self) {
        assert!(self.running.is_none());
        gst::init().unwrap();
        let server = rtsp::RTSPServer::new();
        server.set_address("127.0.0.1");
        server.set_service(&self.port.to_string());
        let factory = rtsp::RTSPMediaFactory::new();
        factory.set_launch(
            "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=15/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! rtph264pay name=pay0 pt=96 )",
        );
        factory.set_shared(true);
        server.mount_points().unwrap().add_factory("/cam", factory);
        let ctx = glib::MainContext::new();
        // The port may still be held for a moment by the previous server.
        let deadline = Instant::now() + Duration::from_secs(5);
        let source = loop {
            match server.attach(Some(&ctx)) {
                Ok(id) => break id,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("RTSP server cannot listen on {}: {e}", self.port),
            }
        };
        let main_loop = glib::MainLoop::new(Some(&ctx), false);
        let thread = {
            let (ctx, l) = (ctx.clone(), main_loop.clone());
            std::thread::spawn(move || {
                ctx.with_thread_default(|| l.run()).unwrap();
            })
        };
        self.running = Some(Running {
            server,
            ctx,
            source,
            main_loop,
            thread,
        });
    }

    /// Drops every client, the server staying up (they reconnect at once).
    #[allow(dead_code)]
    pub fn kick(&self) {
        if let Some(r) = &self.running {
            r.server
                .client_filter(Some(&mut |_, _| rtsp::RTSPFilterResult::Remove));
        }
    }

    /// Drops every client and closes the port.
    pub fn stop(&mut self) {
        let Some(r) = self.running.take() else {
            return;
        };
        r.server
            .client_filter(Some(&mut |_, _| rtsp::RTSPFilterResult::Remove));
        // The listening socket's source lives in the server's own context.
        if let Some(src) = r.ctx.find_source_by_id(&r.source) {
            src.destroy();
        }
        r.main_loop.quit();
        r.thread.join().unwrap();
        if let Some(pool) = r.server.session_pool() {
            pool.cleanup();
        }
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.stop();
    }
}
