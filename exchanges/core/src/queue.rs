//! [`QueueRecorder`]: the fill level and drops of one bounded queue (DESIGN invariant 6: every
//! queue is bounded, and its depth and drops are visible), read into [`QueueHealth`].
//!
//! A channel is watched through a weak sender, so the recorder never keeps it open; other
//! queues (buffers inside a stream task) report their level as it changes.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use tokio::sync::mpsc;

/// One bounded queue at one moment.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct QueueHealth {
    /// `events` (the channel to the consumer) or `depth_buffer` (diff events held while
    /// snapshots are fetched).
    pub queue: String,
    /// Items in the queue.
    pub depth: u64,
    /// Items it holds at most.
    pub capacity: u64,
    /// Items dropped because it was full.
    pub dropped_total: u64,
}

/// Reads a watched channel's (depth, capacity); `None` once it is closed.
struct Probe(Box<dyn Fn() -> Option<(u64, u64)> + Send + Sync>);

impl fmt::Debug for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Probe")
    }
}

/// The level and drops of one queue, shared between the task that fills it and `health()`.
#[derive(Debug)]
pub struct QueueRecorder {
    name: &'static str,
    probe: Mutex<Option<Probe>>,
    depth: AtomicU64,
    capacity: AtomicU64,
    dropped: AtomicU64,
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl QueueRecorder {
    pub fn new(name: &'static str) -> Self {
        QueueRecorder {
            name,
            probe: Mutex::new(None),
            depth: AtomicU64::new(0),
            capacity: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Reads the level of the channel behind `tx` from now on.
    pub fn watch<T: Send + 'static>(&self, tx: &mpsc::Sender<T>) {
        let weak = tx.downgrade();
        let probe = Probe(Box::new(move || {
            let tx = weak.upgrade()?;
            let capacity = tx.max_capacity();
            Some((to_u64(capacity - tx.capacity()), to_u64(capacity)))
        }));
        *self.probe.lock().unwrap_or_else(|e| e.into_inner()) = Some(probe);
    }

    /// The queue now holds `depth` of at most `capacity` items.
    pub fn set_level(&self, depth: usize, capacity: usize) {
        self.depth.store(to_u64(depth), Ordering::Relaxed);
        self.capacity.store(to_u64(capacity), Ordering::Relaxed);
    }

    /// One item was dropped; returns the total.
    pub fn dropped(&self) -> u64 {
        self.dropped.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Items dropped so far, counted by the queue itself.
    pub fn set_dropped_total(&self, total: u64) {
        self.dropped.store(total, Ordering::Relaxed);
    }

    /// True once the queue has a known capacity (it is in use).
    pub fn in_use(&self) -> bool {
        self.snapshot().capacity > 0
    }

    pub fn snapshot(&self) -> QueueHealth {
        let probed = self
            .probe
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(|probe| (probe.0)());
        let (depth, capacity) = probed.unwrap_or_else(|| {
            (
                self.depth.load(Ordering::Relaxed),
                self.capacity.load(Ordering::Relaxed),
            )
        });
        QueueHealth {
            queue: self.name.to_owned(),
            depth,
            capacity,
            dropped_total: self.dropped.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_watched_channel_reports_its_level_without_keeping_it_open() {
        let recorder = QueueRecorder::new("events");
        assert!(!recorder.in_use());
        let (tx, mut rx) = mpsc::channel::<u32>(4);
        recorder.watch(&tx);
        for n in 0..3 {
            tx.try_send(n).unwrap_or_default();
        }
        assert_eq!(recorder.dropped(), 1);
        let health = recorder.snapshot();
        assert_eq!(
            (health.depth, health.capacity, health.dropped_total),
            (3, 4, 1)
        );
        drop(tx);
        // The recorder holds no sender: the channel closes once drained.
        for _ in 0..3 {
            assert!(rx.recv().await.is_some());
        }
        assert!(rx.recv().await.is_none());
        let buffer = QueueRecorder::new("depth_buffer");
        buffer.set_level(7, 100);
        buffer.set_dropped_total(2);
        assert_eq!(
            buffer.snapshot(),
            QueueHealth {
                queue: "depth_buffer".into(),
                depth: 7,
                capacity: 100,
                dropped_total: 2
            }
        );
    }
}
