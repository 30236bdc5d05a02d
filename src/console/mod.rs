//! The live web console's shared state (issue 20): what the `console` sink saw last of each
//! stream (its annotated frame as a JPEG, its zone and line counts, its frame rate) and the
//! recent events of every stream, numbered so that a page can ask for those `since` the last
//! it showed. The HTTP side ([`crate::telemetry::console`]) reads it; the page itself
//! (`page.html`) ships in the binary: no CDN, no file to install.

use serde::Serialize;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The page, served at `/`.
pub const PAGE: &str = include_str!("page.html");

/// Events kept for the page.
pub const EVENTS_KEPT: usize = 500;

/// One stream as the console sink last saw it.
#[derive(Debug, Clone, Default)]
pub struct StreamView {
    pub stream: Arc<str>,
    pub frames: u64,
    /// Frames a second over the last two seconds or so.
    pub fps: Option<f64>,
    pub last_frame: Option<Instant>,
    pub pts_s: Option<f64>,
    /// The latest annotated frame, JPEG, and the frame number it shows.
    pub jpeg: Option<Arc<Vec<u8>>>,
    pub jpeg_frame: u64,
    /// Zone occupancy and line counts (`analytics` in the JSONL), as JSON.
    pub analytics: Option<serde_json::Value>,
    fps_mark: Option<(Instant, u64)>,
}

/// An event as the page lists it: the events sink's line with a number.
#[derive(Debug, Clone, Serialize)]
pub struct Numbered {
    pub id: u64,
    #[serde(flatten)]
    pub event: serde_json::Value,
}

#[derive(Default)]
struct State {
    streams: Vec<StreamView>,
    events: VecDeque<Numbered>,
    next_id: u64,
}

/// Shared between the console sink (writer) and the HTTP thread (reader).
#[derive(Default)]
pub struct Console {
    state: Mutex<State>,
    pipeline: Mutex<String>,
}

impl Console {
    pub fn set_pipeline(&self, name: &str) {
        *self.pipeline.lock().expect("console pipeline") = name.to_string();
    }

    pub fn pipeline(&self) -> String {
        self.pipeline.lock().expect("console pipeline").clone()
    }

    /// Makes sure `stream` is listed (before its first frame).
    pub fn add_stream(&self, stream: &Arc<str>) {
        let mut s = self.state.lock().expect("console state");
        if !s.streams.iter().any(|v| v.stream == *stream) {
            s.streams.push(StreamView {
                stream: stream.clone(),
                ..StreamView::default()
            });
        }
    }

    /// A frame reached the console sink: counts, rate and analytics; `jpeg` when one was made.
    pub fn frame(
        &self,
        stream: &Arc<str>,
        pts_s: f64,
        analytics: Option<serde_json::Value>,
        jpeg: Option<(u64, Vec<u8>)>,
    ) {
        self.add_stream(stream);
        let mut s = self.state.lock().expect("console state");
        let v = s
            .streams
            .iter_mut()
            .find(|v| v.stream == *stream)
            .expect("added");
        let now = Instant::now();
        v.frames += 1;
        v.last_frame = Some(now);
        v.pts_s = Some(pts_s);
        if analytics.is_some() {
            v.analytics = analytics;
        }
        match v.fps_mark {
            None => v.fps_mark = Some((now, v.frames)),
            Some((t, n)) => {
                let dt = now.duration_since(t).as_secs_f64();
                if dt >= 2.0 {
                    v.fps = Some((v.frames - n) as f64 / dt);
                    v.fps_mark = Some((now, v.frames));
                }
            }
        }
        if let Some((frame, bytes)) = jpeg {
            v.jpeg = Some(Arc::new(bytes));
            v.jpeg_frame = frame;
        }
    }

    /// Adds an event (a JSON object) to the recent ones.
    pub fn event(&self, event: serde_json::Value) {
        let mut s = self.state.lock().expect("console state");
        let id = s.next_id;
        s.next_id += 1;
        s.events.push_back(Numbered { id, event });
        if s.events.len() > EVENTS_KEPT {
            s.events.pop_front();
        }
    }

    /// The streams, in the order they were added.
    pub fn streams(&self) -> Vec<StreamView> {
        self.state.lock().expect("console state").streams.clone()
    }

    /// The events numbered `since` or later (all kept when `None`), oldest first.
    pub fn events_since(&self, since: Option<u64>) -> Vec<Numbered> {
        let s = self.state.lock().expect("console state");
        s.events
            .iter()
            .filter(|e| since.is_none_or(|n| e.id >= n))
            .cloned()
            .collect()
    }

    /// The latest JPEG of `stream`.
    pub fn jpeg(&self, stream: &str) -> Option<Arc<Vec<u8>>> {
        let s = self.state.lock().expect("console state");
        s.streams
            .iter()
            .find(|v| &*v.stream == stream)
            .and_then(|v| v.jpeg.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_numbered_and_the_oldest_go_first() {
        let c = Console::default();
        for k in 0..(EVENTS_KEPT + 10) {
            c.event(serde_json::json!({"kind": "line_cross", "k": k}));
        }
        let all = c.events_since(None);
        assert_eq!(all.len(), EVENTS_KEPT);
        assert_eq!(all[0].id, 10);
        let recent = c.events_since(Some(EVENTS_KEPT as u64 + 8));
        assert_eq!(recent.iter().map(|e| e.id).collect::<Vec<_>>(), [508, 509]);
        assert_eq!(recent[1].event["k"], 509);
    }
}
