//! The running pipeline: one thread per stage, each owning its state, joined by bounded edges.
//! A stop request ends the source; every stage then drains what is queued and finishes (the MP4
//! is finalised, the JSONL complete) before `run` returns.

pub mod edge;
pub mod priority;
pub mod progress;

pub use crate::stage::{Stage, StageError};

use crate::config::PipelineSpec;
use crate::frame::Frame;
use crate::model::ModelError;
use crate::source::{Input, SourceError, SourceHealth};
use crate::stage::BuildCx;
use crate::telemetry::{Metrics, PerStream};
use edge::{EdgeRx, EdgeTx};
use progress::Progress;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("stage {stage}: {source}")]
    Stage {
        stage: String,
        source: Box<StageError>,
    },
    #[error("stage {0} panicked")]
    Panic(String),
}

/// Timings of one stage over a run.
#[derive(Debug, Clone, Default)]
pub struct StageReport {
    pub name: String,
    pub frames: u64,
    /// Seconds per frame, in arrival order.
    pub durations: Vec<f32>,
}

#[derive(Debug, Clone, Default)]
pub struct RunReport {
    pub frames: u64,
    pub elapsed: Duration,
    pub stages: Vec<StageReport>,
    /// Source capture to the last stage done, seconds.
    pub latencies: Vec<f32>,
    /// Models and the provider each runs on.
    pub providers: Vec<(String, &'static str)>,
    /// Streams of a multi-stream pipeline that ended with an error (the others went on).
    pub stream_errors: Vec<String>,
}

impl RunReport {
    pub fn fps(&self) -> f64 {
        self.frames as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The `p`-quantile (0..1) of `v` by nearest rank; NaN when empty.
pub fn quantile(v: &[f32], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f32::total_cmp);
    let i = ((p * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1;
    s[i] as f64
}

/// Everything a pipeline needs, loaded and checked, before any frame flows: the source is open,
/// every model loaded and warmed up, every sink created.
pub struct Prepared {
    spec: PipelineSpec,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
    /// One input per stream, in the file's order.
    sources: Vec<(Arc<str>, Input)>,
    /// Per model stage: its preprocessing and inference stages.
    branches: Vec<Vec<Box<dyn Stage>>>,
    /// The sinks, in order.
    sinks: Vec<Box<dyn Stage>>,
    providers: Vec<(String, &'static str)>,
    progress: Arc<Progress>,
}

impl Prepared {
    pub fn new(
        spec: &PipelineSpec,
        metrics: Arc<Metrics>,
        stop: Arc<AtomicBool>,
    ) -> Result<Prepared, PipelineError> {
        let streams: Vec<Arc<str>> = spec
            .sources
            .iter()
            .map(|s| Arc::from(s.stream.as_str()))
            .collect();
        let cx = BuildCx {
            pipeline: &spec.name,
            streams: &streams,
            metrics: &metrics,
            priority: spec.support_priority,
            models: &spec.models,
            ort_library: &spec.ort_library,
            cuda_libraries: &spec.cuda_libraries,
        };
        let failed = |stage: &str, e: StageError| match e {
            StageError::Model(e) => PipelineError::Model(e),
            e => PipelineError::Stage {
                stage: stage.into(),
                source: Box::new(e),
            },
        };
        let mut branches: Vec<Vec<Box<dyn Stage>>> = vec![];
        let mut providers = vec![];
        for st in spec.model_stages() {
            let built = st
                .get()
                .build(&cx)
                .map_err(|e| failed(st.get().kind(), e))?;
            providers.extend(built.provider);
            branches.push(built.stages);
        }
        // The source opens before any sink truncates its file: a source that cannot start
        // leaves the previous run's results in place.
        let mut sources = vec![];
        for src in &spec.sources {
            let health = SourceHealth::new(&metrics, &spec.name, &src.stream);
            let input = Input::open(src, stop.clone(), spec.support_priority, health)?;
            sources.push((Arc::from(src.stream.as_str()), input));
        }
        let mut stage_list: Vec<Box<dyn Stage>> = vec![];
        for st in spec.serial_stages() {
            let built = st
                .get()
                .build(&cx)
                .map_err(|e| failed(st.get().kind(), e))?;
            stage_list.extend(built.stages);
        }
        for s in spec.sinks_in_order() {
            stage_list.push(s.get().build(&cx).map_err(|e| failed(s.get().kind(), e))?);
        }
        Ok(Prepared {
            spec: spec.clone(),
            metrics,
            stop,
            sources,
            branches,
            sinks: stage_list,
            providers,
            progress: Arc::new(Progress::default()),
        })
    }

    /// The running pipeline's heartbeats and frame count, for a watchdog.
    pub fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }

    /// Runs to the end of the stream or until `stop` is set, then drains and finishes every stage.
    ///
    /// One model stage runs in line: source -> preprocess -> infer -> sinks. Several run as
    /// parallel branches on copies of each frame that share its image: the source fans out, and
    /// a join puts each branch's results back on the frame, by sequence number, before the sinks.
    pub fn run(self) -> Result<RunReport, PipelineError> {
        let Prepared {
            spec,
            metrics,
            stop,
            mut sources,
            mut branches,
            sinks,
            providers,
            progress,
        } = self;
        let started = Instant::now();
        let w = Wiring {
            pipeline: spec.name.clone(),
            // Shared edges carry every stream: their series are labelled `all`.
            stream: match &sources[..] {
                [(one, _)] => one.to_string(),
                _ => "all".into(),
            },
            metrics: metrics.clone(),
            spec: spec.clone(),
            latencies: Arc::new(std::sync::Mutex::new(Vec::new())),
            stream_errors: Arc::new(std::sync::Mutex::new(Vec::new())),
            progress,
        };
        let mut handles: Vec<(String, JoinHandle<Result<StageReport, PipelineError>>)> = vec![];
        // The one ordered flow of frames: the source itself, or a mux of several.
        let mut feed = |w: &Wiring,
                        handles: &mut Vec<Handle>,
                        main: Option<EdgeTx<Frame>>,
                        branches: Vec<EdgeTx<Frame>>| {
            let out = Fanout::new(main, branches, w.done());
            if sources.len() == 1 {
                let (_, input) = sources.pop().expect("one source");
                handles.push(w.spawn_source(input, out, stop.clone(), false));
            } else {
                let mut rxs = vec![];
                for (stream, input) in sources.drain(..) {
                    let (tx, rx) = w.entrance(&stream);
                    rxs.push(rx);
                    let to_mux = Fanout::new(Some(tx), vec![], w.done());
                    handles.push(w.spawn_source(input, to_mux, stop.clone(), true));
                }
                handles.push(w.spawn_mux(rxs, out));
            }
        };

        if branches.len() <= 1 {
            // In line: one chain from the source to the last sink.
            let mut chain: Vec<Box<dyn Stage>> = branches.pop().unwrap_or_default();
            chain.extend(sinks);
            let first = chain.first().map(|s| s.name().to_string());
            let (tx, mut rx) = match &first {
                Some(n) => {
                    let (t, r) = w.edge(w.feed_name(), n);
                    (Some(t), Some(r))
                }
                None => (None, None),
            };
            feed(&w, &mut handles, tx, vec![]);
            w.spawn_chain(chain, rx.take(), None, &mut handles);
        } else {
            // Fan-out, one chain per model, join, then the sinks.
            let (main_tx, main_rx) = w.edge(w.feed_name(), "join");
            let mut branch_txs = vec![];
            let mut join_rxs = vec![];
            let models: Vec<Arc<str>> = spec
                .model_stages()
                .filter_map(|s| s.get().model().map(Arc::from))
                .collect();
            for chain in branches {
                let first = chain[0].name().to_string();
                let last = chain[chain.len() - 1].name().to_string();
                let (tx, rx) = w.edge(w.feed_name(), &first);
                branch_txs.push(tx);
                let (jtx, jrx) = w.edge(&last, "join");
                join_rxs.push(jrx);
                w.spawn_chain(chain, Some(rx), Some(jtx), &mut handles);
            }
            feed(&w, &mut handles, Some(main_tx), branch_txs);
            let (sink_tx, sink_rx) = match sinks.first() {
                Some(s) => {
                    let (t, r) = w.edge("join", s.name());
                    (Some(t), Some(r))
                }
                None => (None, None),
            };
            handles.push(w.spawn_join(main_rx, join_rxs, models, sink_tx));
            w.spawn_chain(sinks, sink_rx, None, &mut handles);
        }

        let mut first_err = None;
        let mut report = RunReport {
            providers,
            ..Default::default()
        };
        for (name, h) in handles {
            match h.join() {
                Ok(Ok(rep)) => report.stages.push(rep),
                Ok(Err(e)) => {
                    tracing::error!(stage = %name, error = %e, "stage failed");
                    stop.store(true, Ordering::Relaxed);
                    first_err.get_or_insert(e);
                }
                Err(_) => {
                    stop.store(true, Ordering::Relaxed);
                    first_err.get_or_insert(PipelineError::Panic(name));
                }
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        report.elapsed = started.elapsed();
        // Frames that reached the end: the last stage of the graph (the sinks, else the join,
        // else the only chain).
        report.frames = report.stages.last().map_or(0, |s| s.frames);
        report.latencies = std::mem::take(&mut *w.latencies.lock().expect("latency lock"));
        report.stream_errors = std::mem::take(&mut *w.stream_errors.lock().expect("errors lock"));
        Ok(report)
    }
}

type Handle = (String, JoinHandle<Result<StageReport, PipelineError>>);

/// What every thread of a running pipeline shares: names, metrics, edge settings.
struct Wiring {
    pipeline: String,
    /// The label of shared edges: the stream id, or `all` with several streams.
    stream: String,
    metrics: Arc<Metrics>,
    spec: PipelineSpec,
    /// Source capture to the end of the graph, seconds, per frame.
    latencies: Arc<std::sync::Mutex<Vec<f32>>>,
    /// Streams that ended with an error while the others went on.
    stream_errors: Arc<std::sync::Mutex<Vec<String>>>,
    progress: Arc<Progress>,
}

/// A stage's timings: the Prometheus series (per stream) and the run's report, fed together.
struct Meter {
    series: PerStream<(prometheus::Histogram, prometheus::IntCounter)>,
    report: StageReport,
}

impl Meter {
    /// One frame of `stream` done in `d` seconds.
    fn record(&mut self, stream: &Arc<str>, d: f32) {
        let (hist, count) = self.series.get(stream);
        hist.observe(d as f64);
        count.inc();
        self.report.durations.push(d);
        self.report.frames += 1;
    }
}

/// Records the end-to-end latency of frames leaving the graph, per stream.
struct Done {
    series: PerStream<prometheus::Histogram>,
    latencies: Arc<std::sync::Mutex<Vec<f32>>>,
    progress: Arc<Progress>,
}

impl Done {
    fn record(&mut self, stream: &Arc<str>, captured: Instant) {
        let l = captured.elapsed().as_secs_f32();
        self.series.get(stream).observe(l as f64);
        self.latencies.lock().expect("latency lock").push(l);
        self.progress.frame_out();
    }
}

/// Where the one ordered flow of frames goes: each frame numbered (`order`) and sent to the
/// main edge (or out of the graph when there is none), and a copy to each branch (sent after
/// the frame itself, so that the join, which takes frames in order, is never waiting for a
/// frame stuck behind a full branch).
struct Fanout {
    main: Option<EdgeTx<Frame>>,
    branches: Vec<EdgeTx<Frame>>,
    copies: Vec<Frame>,
    next: u64,
    done: Done,
}

impl Fanout {
    fn new(main: Option<EdgeTx<Frame>>, branches: Vec<EdgeTx<Frame>>, done: Done) -> Fanout {
        Fanout {
            copies: Vec::with_capacity(branches.len()),
            main,
            branches,
            next: 0,
            done,
        }
    }

    fn send(&mut self, mut frame: Frame) -> Result<(), edge::Disconnected> {
        frame.order = self.next;
        self.next += 1;
        self.copies.clear();
        self.copies
            .extend(self.branches.iter().map(|_| frame.branch()));
        match &self.main {
            Some(tx) => tx.send(frame)?,
            None => self.done.record(&frame.stream, frame.captured),
        }
        for (tx, copy) in self.branches.iter().zip(self.copies.drain(..)) {
            tx.send(copy)?;
        }
        Ok(())
    }
}

impl Wiring {
    fn meter(&self, stage: &str) -> Meter {
        let (m, p, st) = (
            self.metrics.clone(),
            self.pipeline.clone(),
            stage.to_string(),
        );
        Meter {
            series: PerStream::new(move |stream| {
                let labels = [p.as_str(), stream, st.as_str()];
                (
                    m.stage_duration.with_label_values(&labels),
                    m.frames.with_label_values(&labels),
                )
            }),
            report: StageReport {
                name: stage.into(),
                ..Default::default()
            },
        }
    }

    /// The edge `from -> to`, with the settings of the edge into `to`.
    fn edge(&self, from: &str, to: &str) -> (EdgeTx<Frame>, EdgeRx<Frame>) {
        let e = self.spec.edges.into_stage(to);
        self.edge_with(from, to, &self.stream, e.capacity, e.when_full)
    }

    fn edge_with(
        &self,
        from: &str,
        to: &str,
        stream: &str,
        capacity: usize,
        when_full: crate::config::WhenFull,
    ) -> (EdgeTx<Frame>, EdgeRx<Frame>) {
        let name = format!("{from}->{to}");
        let dropped =
            self.metrics
                .dropped
                .with_label_values(&[&self.pipeline, stream, &name, "full"]);
        let depth = self
            .metrics
            .queue_depth
            .with_label_values(&[&self.pipeline, &name]);
        edge::edge(capacity, when_full, dropped, depth)
    }

    /// A stream's own edge into the mux, under its source's mode: a live stream drops its own
    /// oldest frames there, a replayed one waits; neither costs another stream anything.
    fn entrance(&self, stream: &str) -> (EdgeTx<Frame>, EdgeRx<Frame>) {
        let mode = self
            .spec
            .sources
            .iter()
            .find(|s| s.stream == stream)
            .map(|s| s.mode);
        let live = mode == Some(crate::config::SourceMode::Live);
        let policy = if live {
            crate::config::WhenFull::DropOldest
        } else {
            crate::config::WhenFull::Block
        };
        // A live stream holds one frame (its newest) unless `edges.into.mux` says otherwise.
        let capacity = match self.spec.edges.into.get("mux") {
            Some(e) => e.capacity,
            None if live => 1,
            None => self.spec.edges.default.capacity,
        };
        self.edge_with(&format!("source:{stream}"), "mux", stream, capacity, policy)
    }

    /// The stage the first shared edge starts from.
    fn feed_name(&self) -> &'static str {
        if self.spec.sources.len() > 1 {
            "mux"
        } else {
            "source"
        }
    }

    fn done(&self) -> Done {
        let (m, p) = (self.metrics.clone(), self.pipeline.clone());
        Done {
            series: PerStream::new(move |stream| m.frame_latency.with_label_values(&[&p, stream])),
            latencies: self.latencies.clone(),
            progress: self.progress.clone(),
        }
    }

    /// A source thread: reads its input into `out`. With `isolated` (one of several streams),
    /// an error ends this stream only: it is logged and reported, and the others go on.
    fn spawn_source(
        &self,
        mut source: Input,
        mut out: Fanout,
        stop: Arc<AtomicBool>,
        isolated: bool,
    ) -> Handle {
        let nice = self.spec.support_priority;
        let mut meter = self.meter("source");
        let errors = self.stream_errors.clone();
        let name = match &source {
            Input::Once { source, .. } => source.stream.to_string(),
            Input::Supervised(_) => "source".into(),
        };
        // A source read must end with a frame within the stall limit: a file read that hangs,
        // or a camera without `reconnect` that went silent, is a stuck stage (a restart is its
        // only cure). A supervised source may wait as long as it likes: it reconnects itself.
        let beat = match &source {
            Input::Once { .. } => Some(self.progress.beat(&format!("source:{name}"))),
            Input::Supervised(_) => None,
        };
        let h = std::thread::Builder::new()
            .name("source".into())
            .spawn(move || {
                priority::lower_current_thread(nice);
                loop {
                    let t0 = Instant::now();
                    if let Some(b) = &beat {
                        b.busy();
                    }
                    let next = source.next_frame();
                    if let Some(b) = &beat {
                        b.idle();
                    }
                    let frame = match next {
                        Ok(Some(f)) => f,
                        Ok(None) => break,
                        Err(e) if isolated => {
                            tracing::error!(error = %e, "stream ended with an error; the other streams go on");
                            errors.lock().expect("errors lock").push(e.to_string());
                            break;
                        }
                        Err(e) => return Err(e.into()),
                    };
                    meter.record(&frame.stream, t0.elapsed().as_secs_f32());
                    if out.send(frame).is_err() {
                        break;
                    }
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
                Ok(meter.report)
            })
            .expect("spawn source thread");
        (format!("source {name}"), h)
    }

    /// Merges the streams' entrance edges into the one ordered flow, taking whichever stream
    /// has a frame ready (fairly, at random among the ready ones), until every stream ended.
    fn spawn_mux(&self, mut inputs: Vec<EdgeRx<Frame>>, mut out: Fanout) -> Handle {
        let nice = self.spec.support_priority;
        let mut meter = self.meter("mux");
        let h = std::thread::Builder::new()
            .name("mux".into())
            .spawn(move || {
                priority::lower_current_thread(nice);
                while !inputs.is_empty() {
                    let mut sel = crossbeam_channel::Select::new();
                    for rx in &inputs {
                        sel.recv(rx.receiver());
                    }
                    let i = sel.ready();
                    match inputs[i].try_recv() {
                        edge::Recv::Item(f) => {
                            let t0 = Instant::now();
                            let stream = f.stream.clone();
                            if out.send(f).is_err() {
                                break;
                            }
                            meter.record(&stream, t0.elapsed().as_secs_f32());
                        }
                        edge::Recv::Closed => {
                            inputs.swap_remove(i);
                        }
                        edge::Recv::Timeout => {}
                    }
                }
                Ok(meter.report)
            })
            .expect("spawn mux thread");
        ("mux".into(), h)
    }

    /// One thread per stage of `chain`, joined by edges; the chain reads `rx` and its last stage
    /// sends to `out` (or the frames leave the graph there).
    fn spawn_chain(
        &self,
        chain: Vec<Box<dyn Stage>>,
        mut rx: Option<EdgeRx<Frame>>,
        out: Option<EdgeTx<Frame>>,
        handles: &mut Vec<Handle>,
    ) {
        let n = chain.len();
        let mut out = out;
        let names: Vec<String> = chain.iter().map(|s| s.name().to_string()).collect();
        for (i, stage) in chain.into_iter().enumerate() {
            let (tx, next_rx) = if i + 1 < n {
                let (t, r) = self.edge(&names[i], &names[i + 1]);
                (Some(t), Some(r))
            } else {
                (out.take(), None)
            };
            let this_rx = rx.take().expect("an edge into every stage");
            let leaves_graph = i + 1 == n && tx.is_none();
            handles.push(self.spawn_stage(stage, this_rx, tx, leaves_graph));
            rx = next_rx;
        }
    }

    fn spawn_stage(
        &self,
        mut stage: Box<dyn Stage>,
        rx: EdgeRx<Frame>,
        tx: Option<EdgeTx<Frame>>,
        leaves_graph: bool,
    ) -> Handle {
        let m = self.metrics.clone();
        let (p, s) = (self.pipeline.clone(), self.stream.clone());
        let name = stage.name().to_string();
        let label = name.clone();
        let mut done = self.done();
        let mut meter = self.meter(&name);
        let beat = self.progress.beat(&name);
        let nice = if stage.is_inference() {
            crate::config::SupportPriority::Normal
        } else {
            self.spec.support_priority
        };
        let h = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                priority::lower_current_thread(nice);
                let fail = |e: StageError| PipelineError::Stage {
                    stage: name.clone(),
                    source: Box::new(e),
                };
                let (max_batch, max_wait) = stage
                    .batching()
                    .filter(|(n, _)| *n > 1)
                    .unwrap_or((1, Duration::ZERO));
                let batch_hist =
                    (max_batch > 1).then(|| m.batch_size.with_label_values(&[&p, &s, &name]));
                let mut batch: Vec<Frame> = Vec::with_capacity(max_batch);
                let mut finished: Vec<Frame> = Vec::with_capacity(max_batch);
                let mut captured = Vec::with_capacity(max_batch);
                let mut closed = false;
                while !closed {
                    // One frame, then as many more as arrive before the batch's deadline.
                    let Some(first) = rx.recv() else {
                        break;
                    };
                    batch.push(first);
                    let deadline = Instant::now() + max_wait;
                    while batch.len() < max_batch {
                        match rx.recv_deadline(deadline) {
                            edge::Recv::Item(f) => batch.push(f),
                            edge::Recv::Timeout => break,
                            edge::Recv::Closed => {
                                closed = true;
                                break;
                            }
                        }
                    }
                    let n = batch.len();
                    captured.clear();
                    captured.extend(batch.iter().map(|f| (f.stream.clone(), f.captured)));
                    let t0 = Instant::now();
                    beat.busy();
                    let result = if max_batch == 1 {
                        let frame = batch.pop().expect("one frame");
                        stage.process(frame).map(|out| finished.extend(out))
                    } else {
                        if let Some(h) = &batch_hist {
                            h.observe(n as f64);
                        }
                        stage.process_batch(&mut batch, &mut finished)
                    };
                    beat.idle();
                    if let Err(e) = result {
                        // Drop the receiver first so upstream stops, then finish what was done.
                        drop(rx);
                        let _ = stage.finish();
                        return Err(fail(e));
                    }
                    // Each frame of a batch is charged its share of the call.
                    let d = t0.elapsed().as_secs_f32() / n as f32;
                    for (stream, c) in &captured {
                        meter.record(stream, d);
                        if leaves_graph {
                            done.record(stream, *c);
                        }
                    }
                    batch.clear();
                    let mut gone = false;
                    for frame in finished.drain(..) {
                        if let Some(tx) = &tx
                            && tx.send(frame).is_err()
                        {
                            gone = true;
                            break;
                        }
                    }
                    if gone {
                        break;
                    }
                }
                drop(tx);
                // Finishing (an encoder's drain, a file's flush) must end too.
                beat.busy();
                stage.finish().map_err(fail)?;
                beat.idle();
                Ok(meter.report)
            })
            .expect("spawn stage thread");
        (label, h)
    }

    /// The join: takes the frames in order from `main` and, for each, the result of every
    /// branch with the same sequence number. A branch that has moved past a frame (it dropped
    /// it under a live policy) or has ended leaves that frame without its results; results of
    /// frames the main edge dropped are discarded. It holds at most one frame and one result
    /// per branch beyond what its edges hold, so it stays bounded and never waits on a frame
    /// that cannot come.
    fn spawn_join(
        &self,
        main: EdgeRx<Frame>,
        branches: Vec<EdgeRx<Frame>>,
        models: Vec<Arc<str>>,
        out: Option<EdgeTx<Frame>>,
    ) -> Handle {
        let nice = self.spec.support_priority;
        let mut done = self.done();
        let late = self.metrics.dropped.with_label_values(&[
            &self.pipeline,
            &self.stream,
            "branch->join",
            "branch_missed",
        ]);
        let mut meter = self.meter("join");
        let h = std::thread::Builder::new()
            .name("join".into())
            .spawn(move || {
                priority::lower_current_thread(nice);
                let nb = branches.len();
                let mut queues: Vec<std::collections::VecDeque<Frame>> =
                    (0..nb).map(|_| Default::default()).collect();
                let mut closed = vec![false; nb];
                let mut main_closed = false;
                let mut current: Option<Frame> = None;
                loop {
                    if let Some(order) = current.as_ref().map(|f| f.order) {
                        // Results of frames before this one will never be needed.
                        for q in &mut queues {
                            while q.front().is_some_and(|r| r.order < order) {
                                q.pop_front();
                            }
                        }
                        let ready = (0..nb).all(|b| closed[b] || !queues[b].is_empty());
                        if ready {
                            let t0 = Instant::now();
                            let mut frame = current.take().expect("checked above");
                            for (q, model) in queues.iter_mut().zip(&models) {
                                match q.front() {
                                    Some(r) if r.order == order => {
                                        let r = q.pop_front().expect("front exists");
                                        frame.merge(r);
                                    }
                                    _ => {
                                        late.inc();
                                        frame.missing.push(model.clone());
                                    }
                                }
                            }
                            let d = t0.elapsed().as_secs_f32();
                            meter.record(&frame.stream, d);
                            match &out {
                                Some(tx) => {
                                    if tx.send(frame).is_err() {
                                        break;
                                    }
                                }
                                None => done.record(&frame.stream, frame.captured),
                            }
                            continue;
                        }
                    } else if main_closed {
                        break;
                    }
                    // Wait for whichever input can move things on.
                    let mut sel = crossbeam_channel::Select::new();
                    let mut ids: Vec<Option<usize>> = vec![];
                    if current.is_none() && !main_closed {
                        sel.recv(main.receiver());
                        ids.push(None);
                    }
                    for (b, rx) in branches.iter().enumerate() {
                        if !closed[b] {
                            sel.recv(rx.receiver());
                            ids.push(Some(b));
                        }
                    }
                    // A frame that is not ready has an open branch to wait on; without a frame
                    // the main edge is open (else the loop ended above).
                    assert!(!ids.is_empty(), "the join has nothing to wait on");
                    let i = sel.ready();
                    match ids[i] {
                        None => match main.try_recv() {
                            edge::Recv::Item(f) => current = Some(f),
                            edge::Recv::Closed => main_closed = true,
                            edge::Recv::Timeout => {}
                        },
                        Some(b) => match branches[b].try_recv() {
                            edge::Recv::Item(f) => queues[b].push_back(f),
                            edge::Recv::Closed => closed[b] = true,
                            edge::Recv::Timeout => {}
                        },
                    }
                }
                Ok(meter.report)
            })
            .expect("spawn join thread");
        ("join".into(), h)
    }
}
