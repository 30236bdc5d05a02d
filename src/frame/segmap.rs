//! A segmentation head's result on a frame, as plain data: the class per pixel and how the
//! head is named and drawn.

use crate::pool::Pooled;
use std::sync::Arc;

/// How a head is named and drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadStyle {
    /// The head's name (its output's name unless the config renames it).
    pub name: Arc<str>,
    pub classes: Vec<Arc<str>>,
    /// Per class, the colour it is painted in (RGB), or `None` to leave it unpainted.
    pub colors: Vec<Option<[u8; 3]>>,
    pub alpha: f32,
}

/// One head's result on one frame.
pub struct SegMap {
    pub style: Arc<HeadStyle>,
    /// A class per source pixel, row-major, `width * height`.
    pub map: Pooled<Vec<u8>>,
    /// Fraction of the frame's pixels in each class.
    pub fractions: Vec<f32>,
}
