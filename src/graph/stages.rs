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
    /// Per stream: its active-tracks gauge and started-tracks counter.
    series: super::PerStream<(prometheus::IntGauge, prometheus::IntCounter)>,
}

impl Track {
    pub fn new(
        opts: TrackOptions,
        metrics: Arc<crate::telemetry::Metrics>,
        pipeline: &str,
    ) -> Track {
        let pipeline = pipeline.to_string();
        Track {
            trackers: StreamTrackers::new(opts),
            series: super::PerStream::new(move |stream| {
                let l = [pipeline.as_str(), stream];
                (
                    metrics.tracks_active.with_label_values(&l),
                    metrics.tracks_started.with_label_values(&l),
                )
            }),
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
        let (active, started) = self.series.get(&frame.stream);
        active.set(s.active as i64);
        started.inc_by(s.started as u64);
        Ok(Some(frame))
    }
}

/// The output of a per-stream sink for a frame's stream.
fn of_stream<'a, T>(
    outs: &'a mut [(Arc<str>, T)],
    stream: &Arc<str>,
) -> Result<&'a mut T, StageError> {
    outs.iter_mut()
        .find(|(s, _)| s == stream)
        .map(|(_, t)| t)
        .ok_or_else(|| StageError::Other(format!("no output for stream {stream}")))
}

/// Writes tracked detections as MOTChallenge text, one file per stream.
pub struct Mot {
    sinks: Vec<(Arc<str>, MotSink)>,
}

impl Mot {
    /// `paths`: each stream's file.
    pub fn new(paths: &[(Arc<str>, std::path::PathBuf)]) -> Result<Mot, SinkError> {
        let mut sinks = vec![];
        for (stream, path) in paths {
            sinks.push((stream.clone(), MotSink::create(path)?));
        }
        Ok(Mot { sinks })
    }
}

impl Stage for Mot {
    fn name(&self) -> &str {
        "mot"
    }
    fn process(&mut self, frame: Frame) -> Result<Option<Frame>, StageError> {
        of_stream(&mut self.sinks, &frame.stream)?.write(&frame)?;
        Ok(Some(frame))
    }
}

/// Serves the annotated frames over RTSP (drawing them, unless an earlier sink did).
pub struct RtspServe {
    out: crate::sink::rtsp_out::RtspOut,
    trails: Vec<(Arc<str>, Trails)>,
    label: String,
}

impl RtspServe {
    pub fn new(
        address: std::net::SocketAddr,
        streams: &[Arc<str>],
        trail_s: f64,
    ) -> Result<RtspServe, SinkError> {
        Ok(RtspServe {
            out: crate::sink::rtsp_out::RtspOut::start(address, streams)?,
            trails: streams
                .iter()
                .map(|s| (s.clone(), Trails::new(trail_s)))
                .collect(),
            label: String::with_capacity(64),
        })
    }
}

impl Stage for RtspServe {
    fn name(&self) -> &str {
        "rtsp"
    }
    fn process(&mut self, mut frame: Frame) -> Result<Option<Frame>, StageError> {
        let trails = of_stream(&mut self.trails, &frame.stream)?;
        crate::sink::annotate::draw(&mut frame, &mut self.label, trails)
            .map_err(SinkError::from)?;
        self.out.push(&frame)?;
        Ok(Some(frame))
    }
    fn finish(&mut self) -> Result<(), StageError> {
        self.out.stop();
        Ok(())
    }
}

/// Draws the results and encodes the frame into its stream's video; consumes it (its image
/// becomes the encoder's buffer).
pub struct Video {
    outs: Vec<(Arc<str>, (VideoSink, Trails))>,
    label: String,
}

impl Video {
    /// `paths`: each stream's file.
    pub fn new(
        paths: &[(Arc<str>, std::path::PathBuf)],
        preset: &str,
        bitrate_kbps: u32,
        trail_s: f64,
        priority: SupportPriority,
    ) -> Result<Video, SinkError> {
        let mut outs = vec![];
        for (stream, path) in paths {
            let sink = VideoSink::new(path, preset, bitrate_kbps, priority)?;
            outs.push((stream.clone(), (sink, Trails::new(trail_s))));
        }
        Ok(Video {
            outs,
            label: String::with_capacity(64),
        })
    }
}

impl Stage for Video {
    fn name(&self) -> &str {
        "video"
    }
    fn process(&mut self, mut frame: Frame) -> Result<Option<Frame>, StageError> {
        let (sink, trails) = of_stream(&mut self.outs, &frame.stream)?;
        crate::sink::annotate::draw(&mut frame, &mut self.label, trails)
            .map_err(SinkError::from)?;
        sink.push(frame)?;
        Ok(None)
    }
    fn finish(&mut self) -> Result<(), StageError> {
        // Every stream's file is finalised, even when one fails.
        let mut first = Ok(());
        for (_, (sink, _)) in &mut self.outs {
            if let Err(e) = sink.finish() {
                first = first.and(Err(e));
            }
        }
        first?;
        Ok(())
    }
}
