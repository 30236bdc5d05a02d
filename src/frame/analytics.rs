//! What the analytics stage learns about a frame, as plain data: per zone the tracked objects
//! inside it now, per counting line the crossings so far, and the zone and line events this
//! frame decided. Source-frame pixels, seconds on the stream's clock.

use serde::Serialize;
use serde::ser::SerializeMap;
use std::sync::Arc;

/// Counts per class: the zone's or line's classes in their order, then any other class seen
/// (when it counts every class).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClassCounts {
    pub classes: Vec<Arc<str>>,
    pub counts: Vec<u64>,
}

impl ClassCounts {
    /// Every class at 0.
    pub fn new(classes: &[Arc<str>]) -> ClassCounts {
        ClassCounts {
            classes: classes.to_vec(),
            counts: vec![0; classes.len()],
        }
    }

    /// The count of `class`, added at 0 when new.
    pub fn entry(&mut self, class: &Arc<str>) -> &mut u64 {
        let i = match self.classes.iter().position(|c| c == class) {
            Some(i) => i,
            None => {
                self.classes.push(class.clone());
                self.counts.push(0);
                self.classes.len() - 1
            }
        };
        &mut self.counts[i]
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The count of `class` (0 for a class not counted here).
    pub fn get(&self, class: &str) -> u64 {
        self.classes
            .iter()
            .position(|c| **c == *class)
            .map_or(0, |i| self.counts[i])
    }
}

/// `{"car": 2, "person": 0}`.
impl Serialize for ClassCounts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.classes.len()))?;
        for (c, n) in self.classes.iter().zip(&self.counts) {
            m.serialize_entry(&**c, n)?;
        }
        m.end()
    }
}

/// A tracked object inside a zone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Occupant {
    pub track_id: u64,
    #[serde(serialize_with = "as_str")]
    pub class: Arc<str>,
    pub entered_pts_s: f64,
    /// Its box on the last frame it was seen.
    pub bbox: [f32; 4],
}

/// A zone on this frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZoneState {
    #[serde(serialize_with = "as_str")]
    pub name: Arc<str>,
    /// Tracked objects inside now (entered and not yet left).
    pub objects: u64,
    pub by_class: ClassCounts,
    /// Entries since the stream began.
    pub entries: u64,
    /// The objects inside, in the order they entered.
    pub inside: Vec<Occupant>,
    /// The polygon in source pixels, for drawing.
    #[serde(skip)]
    pub polygon_px: Arc<[[f32; 2]]>,
}

/// A counting line on this frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineState {
    #[serde(serialize_with = "as_str")]
    pub name: Arc<str>,
    /// Crossings since the stream began, from side A to side B and back (A is on the left
    /// walking along the line from its first point to its last, as seen on the image).
    pub a_to_b: ClassCounts,
    pub b_to_a: ClassCounts,
    /// The polyline in source pixels, for drawing.
    #[serde(skip)]
    pub points_px: Arc<[[f32; 2]]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    ZoneEnter,
    ZoneExit,
    LineCross,
}

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            EventKind::ZoneEnter => "zone_enter",
            EventKind::ZoneExit => "zone_exit",
            EventKind::LineCross => "line_cross",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    AToB,
    BToA,
}

impl Direction {
    pub fn name(self) -> &'static str {
        match self {
            Direction::AToB => "a_to_b",
            Direction::BToA => "b_to_a",
        }
    }
}

/// A zone entry or exit, or a line crossing, as the events sink writes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnalyticsEvent {
    pub kind: EventKind,
    #[serde(serialize_with = "as_str")]
    pub stream: Arc<str>,
    /// The time of the frame that decided it.
    pub at_pts_s: f64,
    /// The zone's or line's name.
    #[serde(serialize_with = "as_str")]
    pub name: Arc<str>,
    pub track_id: u64,
    #[serde(serialize_with = "as_str")]
    pub class: Arc<str>,
    /// Zone events: when the object was first seen inside.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entered_pts_s: Option<f64>,
    /// Exits: seconds from entry to the last frame seen inside.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dwell_s: Option<f64>,
    /// Crossings: which way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// The object's box (source pixels) on the deciding frame, or its last one seen.
    pub bbox: [f32; 4],
}

/// Everything the analytics stage says about one frame.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct AnalyticsState {
    pub zones: Vec<ZoneState>,
    pub lines: Vec<LineState>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<AnalyticsEvent>,
}

fn as_str<S: serde::Serializer>(v: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v)
}
