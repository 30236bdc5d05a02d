//! The stages a pipeline is made of. Each owns its state and runs on its own thread.

use crate::config::SupportPriority;
use crate::frame::{Frame, ModelInput};
use crate::model::preprocess::{InputSpec, PreprocessError, Preprocessor};
use crate::model::{Detector, ModelError};
use crate::pool::{Pool, Pooled};
use crate::segment::{HeadStyle, SegMap, Segmenter, fractions};
use crate::sink::SinkError;
use crate::sink::annotate::Trails;
use crate::sink::jsonl::JsonlSink;
use crate::sink::mask::MaskSink;
use crate::sink::mot::MotSink;
use crate::sink::video::VideoSink;
use crate::track::{StreamTrackers, TrackOptions};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error(transparent)]
    Preprocess(#[from] PreprocessError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("{0}")]
    Other(String),
}

pub trait Stage: Send {
    fn name(&self) -> &str;
    /// Inference keeps normal priority; every other stage yields to it.
    fn is_inference(&self) -> bool {
        false
    }
    /// Works on one frame; returns it for the next stage, or `None` when the stage consumed it.
    fn process(&mut self, frame: Frame) -> Result<Option<Frame>, StageError>;
    /// Frames this stage takes per call and how long the first of them waits for the others;
    /// `None` (the default): one at a time.
    fn batching(&self) -> Option<(usize, Duration)> {
        None
    }
    /// Works on the frames of one batch, in order, moving them to `out` (only called when
    /// `batching` says so).
    fn process_batch(
        &mut self,
        frames: &mut Vec<Frame>,
        out: &mut Vec<Frame>,
    ) -> Result<(), StageError> {
        for f in frames.drain(..) {
            if let Some(f) = self.process(f)? {
                out.push(f);
            }
        }
        Ok(())
    }
    /// After the last frame: flush and finalise.
    fn finish(&mut self) -> Result<(), StageError> {
        Ok(())
    }
}

pub struct Preprocess {
    name: String,
    pre: Preprocessor,
    tensors: Pool<Vec<f32>>,
}

impl Preprocess {
    pub fn new(model: &str, spec: InputSpec) -> Preprocess {
        Preprocess {
            name: format!("preprocess:{model}"),
            pre: Preprocessor::new(spec),
            tensors: Pool::default(),
        }
    }
}

impl Stage for Preprocess {
    fn name(&self) -> &str {
        &self.name
    }
    fn process(&mut self, mut frame: Frame) -> Result<Option<Frame>, StageError> {
        let len = self.pre.spec().tensor_len(frame.width, frame.height);
        let mut tensor = self.tensors.take(|| vec![0f32; len]);
        tensor.resize(len, 0.0);
        let geometry = self
            .pre
            .run(&frame.image, frame.width, frame.height, &mut tensor)?;
        frame.input = Some(ModelInput { tensor, geometry });
        Ok(Some(frame))
    }
}

pub struct Detect {
    name: String,
    det: Detector,
    max_wait: Duration,
    /// The inputs of the batch being run (reused).
    inputs: Vec<ModelInput>,
}

impl Detect {
    pub fn new(model: &str, det: Detector, max_wait: Duration) -> Detect {
        Detect {
            name: format!("detect:{model}"),
            inputs: Vec::with_capacity(det.max_batch),
            det,
            max_wait,
        }
    }
}

fn missing_input() -> StageError {
    StageError::Other("frame reached detection without a preprocessed input".into())
}

impl Stage for Detect {
    fn name(&self) -> &str {
        &self.name
    }
    fn is_inference(&self) -> bool {
        true
    }
    fn process(&mut self, mut frame: Frame) -> Result<Option<Frame>, StageError> {
        let input = frame.input.take().ok_or_else(missing_input)?;
        self.det
            .infer(&input.tensor, &input.geometry, &mut frame.detections)?;
        Ok(Some(frame))
    }
    fn batching(&self) -> Option<(usize, Duration)> {
        (self.det.max_batch > 1).then_some((self.det.max_batch, self.max_wait))
    }
    fn process_batch(
        &mut self,
        frames: &mut Vec<Frame>,
        out: &mut Vec<Frame>,
    ) -> Result<(), StageError> {
        self.inputs.clear();
        for f in frames.iter_mut() {
            self.inputs.push(f.input.take().ok_or_else(missing_input)?);
        }
        let r = self
            .det
            .infer_batch(&self.inputs, |i, d| frames[i].detections.push(d));
        // The tensors go back to the preprocessing pool.
        self.inputs.clear();
        r?;
        out.append(frames);
        Ok(())
    }
}

/// Runs a segmentation model; each head's class map (at the frame's resolution, in a pooled
/// buffer) and class fractions join the frame.
pub struct Segment {
    name: String,
    seg: Segmenter,
    styles: Vec<Arc<HeadStyle>>,
    maps: Pool<Vec<u8>>,
    /// The maps of the frame being worked on (reused).
    scratch: Vec<Pooled<Vec<u8>>>,
}

impl Segment {
    pub fn new(model: &str, seg: Segmenter) -> Segment {
        Segment {
            name: format!("segment:{model}"),
            styles: seg.styles(),
            seg,
            maps: Pool::default(),
            scratch: vec![],
        }
    }
}

impl Stage for Segment {
    fn name(&self) -> &str {
        &self.name
    }
    fn is_inference(&self) -> bool {
        true
    }
    fn process(&mut self, mut frame: Frame) -> Result<Option<Frame>, StageError> {
        let input = frame.input.take().ok_or_else(|| {
            StageError::Other("frame reached segmentation without a preprocessed input".into())
        })?;
        self.scratch.clear();
        for _ in 0..self.styles.len() {
            self.scratch.push(self.maps.take(Vec::new));
        }
        self.seg
            .infer(&input.tensor, &input.geometry, &mut self.scratch)?;
        for (style, map) in self.styles.iter().zip(self.scratch.drain(..)) {
            let mut f = Vec::with_capacity(style.classes.len());
            fractions(&map, style.classes.len(), &mut f);
            frame.segmentation.push(SegMap {
                style: style.clone(),
                map,
                fractions: f,
            });
        }
        Ok(Some(frame))
    }
}

pub struct Jsonl {
    sink: JsonlSink,
}

impl Jsonl {
    pub fn new(path: &Path, pipeline: &str) -> Result<Jsonl, SinkError> {
        Ok(Jsonl {
            sink: JsonlSink::create(path, pipeline)?,
        })
    }
}

impl Stage for Jsonl {
    fn name(&self) -> &str {
        "jsonl"
    }
    fn process(&mut self, frame: Frame) -> Result<Option<Frame>, StageError> {
        self.sink.write(&frame)?;
        Ok(Some(frame))
    }
}

pub struct Mask {
    sink: MaskSink,
}

impl Mask {
    pub fn new(dir: &Path, every: u64) -> Result<Mask, SinkError> {
        Ok(Mask {
            sink: MaskSink::create(dir, every)?,
        })
    }
}

impl Stage for Mask {
    fn name(&self) -> &str {
        "mask"
    }
    fn process(&mut self, frame: Frame) -> Result<Option<Frame>, StageError> {
        self.sink.write(&frame)?;
        Ok(Some(frame))
    }
}

/// Tracks the frame's detections (ByteTrack or SORT, per stream), setting their `track_id`.
pub struct Track {
    trackers: StreamTrackers,
    active: prometheus::IntGauge,
    started: prometheus::IntCounter,
}

impl Track {
    pub fn new(
        opts: TrackOptions,
        metrics: &crate::telemetry::Metrics,
        pipeline: &str,
        stream: &str,
    ) -> Track {
        let labels = [pipeline, stream];
        Track {
            trackers: StreamTrackers::new(opts),
            active: metrics.tracks_active.with_label_values(&labels),
            started: metrics.tracks_started.with_label_values(&labels),
        }
    }
}

impl Stage for Track {
    fn name(&self) -> &str {
        "track"
    }
    fn process(&mut self, mut frame: Frame) -> Result<Option<Frame>, StageError> {
        let t = frame.time_s();
        let s = self
            .trackers
            .update(&frame.stream, frame.seq, t, &mut frame.detections);
        self.active.set(s.active as i64);
        self.started.inc_by(s.started as u64);
        Ok(Some(frame))
    }
}

/// Writes tracked detections as MOTChallenge text.
pub struct Mot {
    sink: MotSink,
}

impl Mot {
    pub fn new(path: &Path) -> Result<Mot, SinkError> {
        Ok(Mot {
            sink: MotSink::create(path)?,
        })
    }
}

impl Stage for Mot {
    fn name(&self) -> &str {
        "mot"
    }
    fn process(&mut self, frame: Frame) -> Result<Option<Frame>, StageError> {
        self.sink.write(&frame)?;
        Ok(Some(frame))
    }
}

/// Draws the results and encodes the frame; consumes it (its image becomes the encoder's buffer).
pub struct Video {
    sink: VideoSink,
    label: String,
    trails: Trails,
}

impl Video {
    pub fn new(
        path: &Path,
        preset: &str,
        bitrate_kbps: u32,
        trail_s: f64,
        priority: SupportPriority,
    ) -> Result<Video, SinkError> {
        Ok(Video {
            sink: VideoSink::new(path, preset, bitrate_kbps, priority)?,
            label: String::with_capacity(64),
            trails: Trails::new(trail_s),
        })
    }
}

impl Stage for Video {
    fn name(&self) -> &str {
        "video"
    }
    fn process(&mut self, mut frame: Frame) -> Result<Option<Frame>, StageError> {
        crate::sink::annotate::draw(&mut frame, &mut self.label, &mut self.trails)
            .map_err(SinkError::from)?;
        self.sink.push(frame)?;
        Ok(None)
    }
    fn finish(&mut self) -> Result<(), StageError> {
        self.sink.finish()?;
        Ok(())
    }
}
