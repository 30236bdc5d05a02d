//! Where results go: JSON Lines, driver-assistance and zone / line events, class-map PNGs, MOTChallenge tracks,
//! annotated video, RTSP.

pub mod annotate;
pub mod console;
pub mod events;
pub mod hud;
pub mod jsonl;
pub mod mask;
pub mod mot;
pub mod mqtt;
pub mod rtsp;
pub mod video;
pub mod zones;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    #[error("drawing: {0}")]
    Draw(#[from] opencv::Error),
    #[error("video {path}: {reason}")]
    Video { path: String, reason: String },
}
