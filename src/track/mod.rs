//! Multi-object tracking (issue 5, in progress): the optimal assignment that matches tracks and
//! detections, and the Kalman filter with time in seconds. The tracker itself (ByteTrack, SORT)
//! and its stage come next.

pub mod assign;
pub mod kalman;
