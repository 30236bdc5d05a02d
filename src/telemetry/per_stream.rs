//! Metric series of each stream, looked up once and kept.

use std::sync::Arc;

/// Series looked up once per stream, then reused (streams are few; a scan beats a hash).
pub struct PerStream<T> {
    make: Box<dyn Fn(&str) -> T + Send>,
    known: Vec<(Arc<str>, T)>,
}

impl<T> PerStream<T> {
    pub fn new(make: impl Fn(&str) -> T + Send + 'static) -> PerStream<T> {
        PerStream {
            make: Box::new(make),
            known: vec![],
        }
    }

    pub fn get(&mut self, stream: &Arc<str>) -> &T {
        let i = match self.known.iter().position(|(s, _)| s == stream) {
            Some(i) => i,
            None => {
                self.known.push((stream.clone(), (self.make)(stream)));
                self.known.len() - 1
            }
        };
        &self.known[i].1
    }
}
