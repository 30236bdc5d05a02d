//! One integration-test binary: real GStreamer, real ONNX Runtime, real files and HTTP.

mod adas;
mod analytics;
mod architecture;
mod batching;
mod bench_streams;
mod common;
mod config;
mod daemon;
mod decoders;
mod deploy;
mod errors;
mod eval_adas;
mod eval_det;
mod eval_seg;
mod fastestdet_clip;
mod mot_eval;
mod mqtt;
mod pipeline;
mod replay;
mod rtsp;
mod rtsp_server;
mod sample;
mod segmentation;
mod sources;
mod streams;
mod tracking;
