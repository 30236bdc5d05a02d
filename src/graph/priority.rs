//! Inference owns the cores: every other thread (decode, conversion, preprocessing, drawing,
//! encoding, GStreamer's streaming threads and the codec threads they start) is scheduled below
//! it, so that work fills the gaps inference leaves instead of stretching every inference.
//!
//! Nothing can starve for good: when inference waits for a frame, its core is idle and the
//! support threads that make the frame run.

use crate::config::SupportPriority;
use gstreamer as gst;
use gstreamer::prelude::*;

/// Lowers the calling thread's scheduling to `p` (never raises it: that needs privileges).
/// Threads it creates afterwards inherit it.
pub fn lower_current_thread(p: SupportPriority) {
    // SAFETY: plain syscalls on the calling thread's own id.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        let nice = match p {
            SupportPriority::Normal => return,
            SupportPriority::Low => 10,
            SupportPriority::Idle => 19,
        };
        if libc::getpriority(libc::PRIO_PROCESS, tid) < nice
            && libc::setpriority(libc::PRIO_PROCESS, tid, nice) != 0
        {
            tracing::debug!("setpriority: {}", std::io::Error::last_os_error());
        }
        if p == SupportPriority::Idle {
            // Unprivileged threads may move themselves to SCHED_IDLE.
            let param = libc::sched_param { sched_priority: 0 };
            if libc::sched_setscheduler(tid as libc::pid_t, libc::SCHED_IDLE, &param) != 0 {
                tracing::debug!("SCHED_IDLE: {}", std::io::Error::last_os_error());
            }
        }
    }
}

/// Makes every streaming thread of `pipeline` lower its own scheduling as it starts (GStreamer
/// posts STREAM_STATUS Enter synchronously from the new thread); codec threads it starts inherit.
pub fn lower_streaming_threads(pipeline: &gst::Pipeline, p: SupportPriority) {
    if p == SupportPriority::Normal {
        return;
    }
    if let Some(bus) = pipeline.bus() {
        bus.set_sync_handler(move |_, msg| {
            if let gst::MessageView::StreamStatus(s) = msg.view()
                && s.get().0 == gst::StreamStatusType::Enter
            {
                lower_current_thread(p);
            }
            gst::BusSyncReply::Pass
        });
    }
}

/// The calling thread's scheduling: `(policy, nice)`.
pub fn current() -> (i32, i32) {
    // SAFETY: as above.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        (
            libc::sched_getscheduler(tid as libc::pid_t),
            libc::getpriority(libc::PRIO_PROCESS, tid),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_and_low_apply_to_the_calling_thread_only() {
        let before = current();
        let (idle, low) = std::thread::scope(|s| {
            let idle = s.spawn(|| {
                lower_current_thread(SupportPriority::Idle);
                // A thread started from here inherits it.
                let inner = std::thread::spawn(current).join().unwrap();
                (current(), inner)
            });
            let low = s.spawn(|| {
                lower_current_thread(SupportPriority::Low);
                current()
            });
            (idle.join().unwrap(), low.join().unwrap())
        });
        // Relative to wherever the test runs (it may itself run under `nice`).
        assert_eq!(idle.0, (libc::SCHED_IDLE, 19));
        assert_eq!(idle.1, (libc::SCHED_IDLE, 19), "inherited by new threads");
        assert_eq!(low.1, before.1.max(10));
        assert_eq!(low.0, before.0);
        assert_eq!(current(), before, "the caller is untouched");
    }
}
