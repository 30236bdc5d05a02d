//! One integration-test binary: real GStreamer, real ONNX Runtime, real files and HTTP.

mod batching;
mod common;
mod config;
mod daemon;
mod decoders;
mod deploy;
mod errors;
mod mot_eval;
mod pipeline;
mod rtsp;
mod rtsp_server;
mod segmentation;
mod sources;
mod streams;
mod tracking;
