//! Models: ONNX Runtime sessions, preprocessing, output layouts and their decoding.

pub mod detector;
pub mod inspect;
pub mod layout;
pub mod masks;
pub mod metadata;
pub mod nms;
pub mod preprocess;
pub mod session;

pub use detector::{Detector, ModelError};
