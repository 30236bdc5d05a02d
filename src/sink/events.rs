//! `type: events`: the driver-assistance warnings as they happen, one JSON object per start and
//! per end (`{"kind":"forward_collision","edge":"start","stream":...,"at_pts_s":...,
//! "start_pts_s":...,"severity":...,"track_id":...}`, an end with `end_pts_s` and `peak`),
//! each line written and flushed on the frame that decides it. Warnings still open when the
//! stream ends get their end then, with `"reason":"stream ended"`. With an `analytics` stage,
//! its zone entries and exits and line crossings too (`{"kind":"zone_enter","stream":...,
//! "at_pts_s":...,"name":"crosswalk","track_id":...,"class":"person",...}`); objects still in
//! a zone when the stream ends get their `zone_exit` then, with the same reason.

use super::SinkError;
use crate::config::diag::resolve;
use crate::frame::adas::{ActiveWarning, AdasEvent};
use crate::frame::analytics::{AnalyticsEvent, EventKind, Occupant};
use crate::frame::{EventRef, Frame};
use crate::stage::{BuildCx, CompileCx, Kind, SinkKind, Stage, StageError};
use serde::Serialize;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub path: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub path: PathBuf,
}

impl Kind for Spec {
    const TYPE: &'static str = "events";
    type Config = Config;
    fn compile(cfg: Config, key: &str, cx: &mut CompileCx) -> Option<Spec> {
        if !cx.upstream.has(crate::stage::adas::Spec::TYPE)
            && !cx.upstream.has(crate::stage::analytics::Spec::TYPE)
        {
            cx.diag.error(
                key.to_string(),
                "events come from driver assistance or zones and lines: add a `type: adas` or `type: analytics` stage (after `track`)",
            );
            return None;
        }
        Some(Spec {
            path: resolve(cx.base, &cfg.path),
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
        0
    }
    fn relocate(&mut self, into: &dyn Fn(&Path) -> PathBuf) {
        self.path = into(&self.path);
    }
    fn build(&self, _cx: &BuildCx) -> Result<Box<dyn Stage>, StageError> {
        Ok(Box::new(EventsSink::create(&self.path)?))
    }
}

/// An event written with why it ended (`"reason":"stream ended"`).
#[derive(Serialize)]
pub struct EndLine<'a, E> {
    #[serde(flatten)]
    pub event: &'a E,
    pub reason: &'static str,
}

/// A stream's last frame: its time, open warnings and zone occupants.
struct Open {
    stream: Arc<str>,
    t: f64,
    active: Vec<ActiveWarning>,
    /// Per zone: its name, and who is inside (track, class, entry time, box).
    inside: Vec<(Arc<str>, Vec<Occupant>)>,
}

/// What is still open on each stream (warnings under way, objects inside zones), so that the
/// stream's end can close it: every start gets its end, every entry its exit.
#[derive(Default)]
pub struct StillOpen {
    open: Vec<Open>,
}

/// An end decided by the stream ending.
pub enum Ending {
    Warning(AdasEvent),
    Zone(AnalyticsEvent),
}

impl Ending {
    pub fn as_event(&self) -> EventRef<'_> {
        match self {
            Ending::Warning(e) => EventRef::Warning(e),
            Ending::Zone(e) => EventRef::Analytics(e),
        }
    }
}

impl StillOpen {
    pub fn update(&mut self, f: &Frame) {
        let i = match self.open.iter().position(|o| o.stream == f.stream) {
            Some(i) => i,
            None => {
                self.open.push(Open {
                    stream: f.stream.clone(),
                    t: 0.0,
                    active: vec![],
                    inside: vec![],
                });
                self.open.len() - 1
            }
        };
        let o = &mut self.open[i];
        o.t = f.time_s();
        o.active.clear();
        if let Some(a) = f.adas.as_deref() {
            o.active.extend_from_slice(&a.active);
        }
        if let Some(a) = f.analytics.as_deref() {
            o.inside.resize_with(a.zones.len(), || ("".into(), vec![]));
            for (z, (name, inside)) in a.zones.iter().zip(&mut o.inside) {
                name.clone_from(&z.name);
                inside.clone_from(&z.inside);
            }
        }
    }

    /// The ends of everything still open, at each stream's last frame; forgets them.
    pub fn end_all(&mut self) -> Vec<Ending> {
        let mut out = vec![];
        for Open {
            stream,
            t,
            active,
            inside,
        } in std::mem::take(&mut self.open)
        {
            for (zone, occupants) in inside {
                for o in occupants {
                    out.push(Ending::Zone(AnalyticsEvent {
                        kind: EventKind::ZoneExit,
                        stream: stream.clone(),
                        at_pts_s: t,
                        name: zone.clone(),
                        track_id: o.track_id,
                        class: o.class,
                        entered_pts_s: Some(o.entered_pts_s),
                        dwell_s: Some(t - o.entered_pts_s),
                        direction: None,
                        bbox: o.bbox,
                    }));
                }
            }
            for w in active {
                out.push(Ending::Warning(AdasEvent {
                    kind: w.kind,
                    edge: "end",
                    stream: stream.clone(),
                    at_pts_s: t,
                    start_pts_s: w.start_pts_s,
                    end_pts_s: Some(t),
                    severity: w.severity,
                    track_id: w.track_id,
                    peak: Some(w.peak),
                }));
            }
        }
        out
    }
}

pub struct EventsSink {
    path: PathBuf,
    file: File,
    line: Vec<u8>,
    open: StillOpen,
}

impl EventsSink {
    pub fn create(path: &Path) -> Result<EventsSink, SinkError> {
        let io = |e: std::io::Error| SinkError::Io {
            path: path.display().to_string(),
            reason: format!("cannot create: {e}"),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        Ok(EventsSink {
            path: path.to_path_buf(),
            file: File::create(path).map_err(io)?,
            line: Vec::with_capacity(512),
            open: StillOpen::default(),
        })
    }

    fn put(&mut self, v: &impl Serialize) -> Result<(), SinkError> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, v).expect("events serialise");
        self.line.push(b'\n');
        self.file
            .write_all(&self.line)
            .and_then(|_| self.file.flush())
            .map_err(|e| SinkError::Io {
                path: self.path.display().to_string(),
                reason: format!("write failed: {e}"),
            })
    }

    pub fn write(&mut self, f: &Frame) -> Result<(), SinkError> {
        if f.adas.is_none() && f.analytics.is_none() {
            return Ok(());
        }
        for e in f.events() {
            self.put(&e)?;
        }
        self.open.update(f);
        Ok(())
    }

    /// Ends every warning still open and every zone visit (the stream ended).
    pub fn close(&mut self) -> Result<(), SinkError> {
        for e in self.open.end_all() {
            self.put(&EndLine {
                event: &e.as_event(),
                reason: "stream ended",
            })?;
        }
        Ok(())
    }
}

impl Stage for EventsSink {
    fn name(&self) -> &str {
        Spec::TYPE
    }
    fn process(&mut self, frame: Frame) -> Result<Option<Frame>, StageError> {
        self.write(&frame)?;
        Ok(Some(frame))
    }
    fn finish(&mut self) -> Result<(), StageError> {
        Ok(self.close()?)
    }
}
