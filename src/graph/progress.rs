//! Liveness of a running pipeline, readable from outside its threads: which stage is busy on a
//! frame and since when, and how many frames have left the graph. The daemon's watchdog reads
//! it: a stage busy on one frame for too long is stuck; a stage waiting for input is not.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One stage's heartbeat: the time it took its current frame, or idle.
pub struct Beat {
    pub name: String,
    /// Milliseconds after `Progress::epoch` plus one when the stage took its frame; 0 = idle.
    busy_since: AtomicU64,
    epoch: Instant,
}

impl Beat {
    /// The stage took a frame (or started a blocking read that must end).
    pub fn busy(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64 + 1;
        self.busy_since.store(ms, Ordering::Relaxed);
    }

    /// The stage is done with it and waits for the next.
    pub fn idle(&self) {
        self.busy_since.store(0, Ordering::Relaxed);
    }

    /// How long the stage has been busy on its current frame; `None` while idle.
    pub fn busy_for(&self) -> Option<Duration> {
        match self.busy_since.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(
                self.epoch
                    .elapsed()
                    .saturating_sub(Duration::from_millis(ms - 1)),
            ),
        }
    }
}

/// Every stage's heartbeat and the count of frames out of the graph.
pub struct Progress {
    epoch: Instant,
    beats: Mutex<Vec<Arc<Beat>>>,
    frames_out: AtomicU64,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            epoch: Instant::now(),
            beats: Mutex::new(vec![]),
            frames_out: AtomicU64::new(0),
        }
    }
}

impl Progress {
    /// A heartbeat for stage `name`.
    pub fn beat(&self, name: &str) -> Arc<Beat> {
        let b = Arc::new(Beat {
            name: name.into(),
            busy_since: AtomicU64::new(0),
            epoch: self.epoch,
        });
        self.beats.lock().expect("beats lock").push(b.clone());
        b
    }

    pub(crate) fn frame_out(&self) {
        self.frames_out.fetch_add(1, Ordering::Relaxed);
    }

    /// Frames that have left the graph so far.
    pub fn frames_out(&self) -> u64 {
        self.frames_out.load(Ordering::Relaxed)
    }

    /// The stage busy on one frame the longest, if longer than `limit`.
    pub fn stuck(&self, limit: Duration) -> Option<(String, Duration)> {
        self.beats
            .lock()
            .expect("beats lock")
            .iter()
            .filter_map(|b| b.busy_for().map(|d| (d, b)))
            .filter(|(d, _)| *d > limit)
            .max_by_key(|(d, _)| *d)
            .map(|(d, b)| (b.name.clone(), d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_is_stuck_only_while_busy_past_the_limit() {
        let p = Progress::default();
        let a = p.beat("a");
        let b = p.beat("b");
        assert!(
            p.stuck(Duration::ZERO).is_none(),
            "idle stages are not stuck"
        );
        a.busy();
        std::thread::sleep(Duration::from_millis(30));
        b.busy();
        let (name, d) = p.stuck(Duration::from_millis(10)).expect("a is stuck");
        assert_eq!(name, "a");
        assert!(d >= Duration::from_millis(30));
        assert!(p.stuck(Duration::from_secs(5)).is_none());
        a.idle();
        b.idle();
        assert!(p.stuck(Duration::ZERO).is_none());
    }
}
