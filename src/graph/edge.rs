//! A bounded edge between two stages, with its when-full policy; every drop is counted.

use crate::config::WhenFull;
use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use prometheus::{IntCounter, IntGauge};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The sending end of an edge.
pub struct EdgeTx<T> {
    tx: Sender<T>,
    /// Kept only under `drop_oldest`, to pop the oldest item (under `block` it would keep the
    /// channel open after the receiver has gone, and a full edge would block for ever).
    rx: Option<Receiver<T>>,
    rx_alive: Arc<AtomicBool>,
    policy: WhenFull,
    dropped: IntCounter,
    depth: IntGauge,
}

/// The receiving end of an edge.
pub struct EdgeRx<T> {
    rx: Receiver<T>,
    depth: IntGauge,
    alive: Arc<AtomicBool>,
}

impl<T> Drop for EdgeRx<T> {
    fn drop(&mut self) {
        self.alive.store(false, Ordering::Release);
    }
}

/// The receiver has gone: the stage downstream stopped.
#[derive(Debug)]
pub struct Disconnected;

pub fn edge<T>(
    capacity: usize,
    policy: WhenFull,
    dropped: IntCounter,
    depth: IntGauge,
) -> (EdgeTx<T>, EdgeRx<T>) {
    let (tx, rx) = bounded(capacity.max(1));
    let alive = Arc::new(AtomicBool::new(true));
    let keep = (policy == WhenFull::DropOldest).then(|| rx.clone());
    let tx = EdgeTx {
        tx,
        rx: keep,
        rx_alive: alive.clone(),
        policy,
        dropped,
        depth: depth.clone(),
    };
    (tx, EdgeRx { rx, depth, alive })
}

impl<T> EdgeTx<T> {
    /// Sends under the edge's policy: `block` waits for room; `drop_oldest` discards the oldest
    /// waiting item to make room, counting it.
    pub fn send(&self, mut item: T) -> Result<(), Disconnected> {
        match self.policy {
            WhenFull::Block => self.tx.send(item).map_err(|_| Disconnected)?,
            WhenFull::DropOldest => loop {
                if !self.rx_alive.load(Ordering::Acquire) {
                    return Err(Disconnected);
                }
                match self.tx.try_send(item) {
                    Ok(()) => break,
                    Err(TrySendError::Disconnected(_)) => return Err(Disconnected),
                    Err(TrySendError::Full(back)) => {
                        item = back;
                        if self.rx.as_ref().is_some_and(|rx| rx.try_recv().is_ok()) {
                            self.dropped.inc();
                        }
                    }
                }
            },
        }
        self.depth.set(self.tx.len() as i64);
        Ok(())
    }
}

/// What waiting on an edge until a deadline gave.
#[derive(Debug, PartialEq)]
pub enum Recv<T> {
    Item(T),
    /// Nothing arrived in time.
    Timeout,
    /// Every sender is gone and the edge is empty.
    Closed,
}

impl<T> EdgeRx<T> {
    /// The next item; `None` once every sender is gone and the edge is empty.
    pub fn recv(&self) -> Option<T> {
        let item = self.rx.recv().ok();
        self.depth.set(self.rx.len() as i64);
        item
    }

    /// The next item if one is waiting (`Timeout` when none is).
    pub fn try_recv(&self) -> Recv<T> {
        let r = match self.rx.try_recv() {
            Ok(item) => Recv::Item(item),
            Err(crossbeam_channel::TryRecvError::Empty) => Recv::Timeout,
            Err(crossbeam_channel::TryRecvError::Disconnected) => Recv::Closed,
        };
        self.depth.set(self.rx.len() as i64);
        r
    }

    /// The channel, for waiting on several edges at once (`crossbeam_channel::Select`); take
    /// the item with [`EdgeRx::try_recv`].
    pub fn receiver(&self) -> &Receiver<T> {
        &self.rx
    }

    /// The next item if one arrives before `deadline`.
    pub fn recv_deadline(&self, deadline: std::time::Instant) -> Recv<T> {
        let r = match self.rx.recv_deadline(deadline) {
            Ok(item) => Recv::Item(item),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => Recv::Timeout,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => Recv::Closed,
        };
        self.depth.set(self.rx.len() as i64);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> (IntCounter, IntGauge) {
        (
            IntCounter::new("d", "d").unwrap(),
            IntGauge::new("q", "q").unwrap(),
        )
    }

    #[test]
    fn drop_oldest_keeps_the_newest_and_counts() {
        let (d, q) = metrics();
        let (tx, rx) = edge(2, WhenFull::DropOldest, d.clone(), q.clone());
        for i in 0..5 {
            tx.send(i).unwrap();
        }
        assert_eq!(d.get(), 3);
        assert_eq!(q.get(), 2);
        drop(tx);
        assert_eq!(rx.recv(), Some(3));
        assert_eq!(rx.recv(), Some(4));
        assert_eq!(rx.recv(), None);
    }

    #[test]
    fn block_is_lossless() {
        let (d, q) = metrics();
        let (tx, rx) = edge(1, WhenFull::Block, d.clone(), q);
        let t = std::thread::spawn(move || {
            for i in 0..100 {
                tx.send(i).unwrap();
            }
        });
        let got: Vec<i32> = std::iter::from_fn(|| rx.recv()).collect();
        t.join().unwrap();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        assert_eq!(d.get(), 0);
    }

    #[test]
    fn recv_deadline_tells_timeout_from_closed() {
        let (d, q) = metrics();
        let (tx, rx) = edge(2, WhenFull::Block, d, q);
        let soon = || std::time::Instant::now() + std::time::Duration::from_millis(5);
        assert_eq!(rx.recv_deadline(soon()), Recv::Timeout);
        tx.send(7).unwrap();
        assert_eq!(rx.recv_deadline(soon()), Recv::Item(7));
        drop(tx);
        assert_eq!(rx.recv_deadline(soon()), Recv::Closed);
    }

    #[test]
    fn send_after_receiver_gone_fails_under_both_policies() {
        for policy in [WhenFull::Block, WhenFull::DropOldest] {
            let (d, q) = metrics();
            let (tx, rx) = edge::<u8>(1, policy, d, q);
            tx.send(1).unwrap();
            drop(rx);
            // The edge is full and nobody reads it: this must fail, not hang.
            assert!(tx.send(2).is_err(), "{policy:?}");
        }
    }
}
