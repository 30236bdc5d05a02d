//! One integration-test binary: real GStreamer, real ONNX Runtime, real files and HTTP.

mod batching;
mod common;
mod config;
mod decoders;
mod errors;
mod pipeline;
mod segmentation;
mod sources;
