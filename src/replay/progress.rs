//! Progress of a replay: a bar redrawn in place on a terminal, plain lines otherwise (logs, CI).

use crate::graph::progress::Progress;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A bar redrawn with `\r` (stderr is a terminal).
    Bar,
    /// A line every few seconds.
    Lines,
    Off,
}

impl Style {
    pub fn auto() -> Style {
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            Style::Bar
        } else {
            Style::Lines
        }
    }
}

/// Watches one drive's run; `finish` returns frames done per elapsed second, sampled.
pub struct Reporter {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<(f32, u64)>>>,
}

const LINE_EVERY: Duration = Duration::from_secs(5);

impl Reporter {
    /// `label` names the drive (`2/5 drive.mp4`); `total` is the expected frame count.
    pub fn start(
        progress: Arc<Progress>,
        style: Style,
        label: String,
        total: Option<u64>,
    ) -> Reporter {
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        let thread = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                let t0 = Instant::now();
                let mut samples = vec![(0.0f32, 0u64)];
                let mut last_line = Instant::now();
                loop {
                    let finished = d.load(Ordering::Relaxed);
                    let n = progress.frames_out();
                    let t = t0.elapsed();
                    samples.push((t.as_secs_f32(), n));
                    let fps = n as f64 / t.as_secs_f64().max(1e-3);
                    let text = describe(&label, n, total, fps, finished);
                    match style {
                        Style::Bar => {
                            let mut e = std::io::stderr().lock();
                            let _ = write!(e, "\r\x1b[2K{text}");
                            if finished {
                                let _ = writeln!(e);
                            }
                            let _ = e.flush();
                        }
                        Style::Lines if finished || last_line.elapsed() >= LINE_EVERY => {
                            eprintln!("{text}");
                            last_line = Instant::now();
                        }
                        _ => {}
                    }
                    if finished {
                        return samples;
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
            })
            .expect("spawn progress thread");
        Reporter {
            done,
            thread: Some(thread),
        }
    }

    /// Stops the display; the `(seconds, frames done)` samples, every 0.25 s.
    pub fn finish(mut self) -> Vec<(f32, u64)> {
        self.done.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `[#######.......] 120/221 frames  43.1 frames/s  2.3 s left  1/3 drive.mp4`
fn describe(label: &str, n: u64, total: Option<u64>, fps: f64, finished: bool) -> String {
    const WIDTH: usize = 24;
    match total.filter(|&t| t > 0) {
        Some(t) => {
            let frac = (n as f64 / t as f64).min(1.0);
            let filled = (frac * WIDTH as f64).round() as usize;
            let left = if finished || fps <= 0.0 {
                "done".to_string()
            } else {
                format!("{:.1} s left", t.saturating_sub(n) as f64 / fps)
            };
            format!(
                "[{}{}] {n}/{t} frames  {fps:.1} frames/s  {left}  {label}",
                "#".repeat(filled),
                ".".repeat(WIDTH - filled)
            )
        }
        None => format!("{n} frames  {fps:.1} frames/s  {label}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_shows_frames_rate_and_time_left() {
        let s = describe("1/2 a.mp4", 50, Some(100), 25.0, false);
        assert!(
            s.starts_with("[############............] 50/100 frames"),
            "{s}"
        );
        assert!(
            s.contains("25.0 frames/s") && s.contains("2.0 s left"),
            "{s}"
        );
        assert!(describe("x", 100, Some(100), 25.0, true).contains("done"));
        assert_eq!(
            describe("x", 7, None, 1.0, false),
            "7 frames  1.0 frames/s  x"
        );
    }
}
