//! Inference owns the cores: every other thread (decode, conversion, preprocessing, drawing,
//! encoding, GStreamer's streaming threads and the codec threads they start) runs at a higher
//! nice value, so it fills the gaps inference leaves instead of stretching every inference.

use gstreamer as gst;
use gstreamer::prelude::*;

/// Raises the calling thread's nice value to `nice` (never lowers it: that needs privileges).
/// Threads it creates afterwards inherit it.
pub fn lower_current_thread(nice: i32) {
    if nice <= 0 {
        return;
    }
    // SAFETY: plain syscalls on the calling thread's own id.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        let current = libc::getpriority(libc::PRIO_PROCESS, tid);
        if current < nice && libc::setpriority(libc::PRIO_PROCESS, tid, nice) != 0 {
            tracing::debug!("setpriority failed: {}", std::io::Error::last_os_error());
        }
    }
}

/// Makes every streaming thread of `pipeline` lower its own priority as it starts (GStreamer
/// posts STREAM_STATUS Enter synchronously from the new thread).
pub fn lower_streaming_threads(pipeline: &gst::Pipeline, nice: i32) {
    if nice <= 0 {
        return;
    }
    if let Some(bus) = pipeline.bus() {
        bus.set_sync_handler(move |_, msg| {
            if let gst::MessageView::StreamStatus(s) = msg.view()
                && s.get().0 == gst::StreamStatusType::Enter
            {
                lower_current_thread(nice);
            }
            gst::BusSyncReply::Pass
        });
    }
}

/// The calling thread's nice value.
pub fn current_nice() -> i32 {
    // SAFETY: as above.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::getpriority(libc::PRIO_PROCESS, tid)
    }
}
