//! The daemon's own bounded queues, watched (invariant 6): the order processor's command queue,
//! the book keeper's event queue, and per venue the user-event and market-event channels from
//! the adapter. Each registered queue is sampled into a depth and a capacity gauge; a queue
//! that sheds load counts what it drops. Queues whose senders wait when full (commands, user
//! events, book updates) drop nothing: a full queue shows as depth at capacity instead.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::mpsc;

use crate::telemetry;

/// One bounded queue: its name, its venue (none for daemon-wide queues) and a probe of its
/// depth that does not keep the channel open.
pub struct QueueProbe {
    pub queue: &'static str,
    pub venue: Option<String>,
    pub capacity: usize,
    depth: Box<dyn Fn() -> Option<usize> + Send + Sync>,
    /// Items the queue shed because it was full, for a queue that sheds load.
    dropped: Option<Arc<AtomicU64>>,
}

/// One queue as `GET /v1/status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct QueueStatus {
    pub queue: &'static str,
    pub venue: Option<String>,
    pub depth: usize,
    pub capacity: usize,
    /// Items shed so far (`null` for a queue whose senders wait instead).
    pub dropped: Option<u64>,
}

impl QueueProbe {
    /// A probe of the channel `tx` sends into.
    pub fn of<T: Send + 'static>(
        queue: &'static str,
        venue: Option<&str>,
        tx: &mpsc::Sender<T>,
    ) -> QueueProbe {
        let weak = tx.downgrade();
        QueueProbe {
            queue,
            venue: venue.map(str::to_owned),
            capacity: tx.max_capacity(),
            depth: Box::new(move || {
                weak.upgrade()
                    .map(|tx| tx.max_capacity().saturating_sub(tx.capacity()))
            }),
            dropped: None,
        }
    }

    /// The same probe, also reporting the count of items the queue shed.
    pub fn with_drops(mut self, dropped: Arc<AtomicU64>) -> QueueProbe {
        self.dropped = Some(dropped);
        self
    }

    /// Items queued now; `None` once every sender is gone.
    pub fn depth(&self) -> Option<usize> {
        (self.depth)()
    }
}

/// Every watched queue of the daemon.
#[derive(Clone, Default)]
pub struct Queues {
    probes: Arc<Mutex<Vec<QueueProbe>>>,
}

impl Queues {
    pub fn watch(&self, probe: QueueProbe) {
        telemetry::queue_dropped(probe.queue, probe.venue.as_deref(), 0);
        if let Ok(mut probes) = self.probes.lock() {
            probes.push(probe);
        }
    }

    /// Exports every queue's depth and capacity; forgets queues whose channel closed.
    pub fn sample(&self) {
        let Ok(mut probes) = self.probes.lock() else {
            return;
        };
        probes.retain(|p| match p.depth() {
            Some(depth) => {
                telemetry::queue_depth(p.queue, p.venue.as_deref(), depth, p.capacity);
                true
            }
            None => false,
        });
    }

    /// Every open queue as it is now.
    pub fn snapshot(&self) -> Vec<QueueStatus> {
        let Ok(probes) = self.probes.lock() else {
            return Vec::new();
        };
        probes
            .iter()
            .filter_map(|p| {
                Some(QueueStatus {
                    queue: p.queue,
                    venue: p.venue.clone(),
                    depth: p.depth()?,
                    capacity: p.capacity,
                    dropped: p.dropped.as_ref().map(|d| d.load(Ordering::Relaxed)),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_reports_depth_and_capacity_without_keeping_the_channel_open() {
        let (tx, mut rx) = mpsc::channel::<u8>(8);
        let probe = QueueProbe::of("user_events", Some("bin"), &tx);
        assert_eq!((probe.depth(), probe.capacity), (Some(0), 8));
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        assert_eq!(probe.depth(), Some(2));
        rx.try_recv().unwrap();
        assert_eq!(probe.depth(), Some(1));
        drop(tx);
        assert_eq!(probe.depth(), None);
    }

    #[test]
    fn sampling_exports_gauges_and_drops_closed_queues() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let (tx, _rx) = mpsc::channel::<u8>(4);
        let (gone, _gone_rx) = mpsc::channel::<u8>(4);
        tx.try_send(7).unwrap();
        let queues = Queues::default();
        metrics::with_local_recorder(&recorder, || {
            queues.watch(QueueProbe::of("oms_commands", None, &tx));
            queues.watch(QueueProbe::of("market_stream", Some("bin"), &gone));
            drop(gone);
            queues.sample();
            telemetry::queue_dropped("market_events", None, 3);
        });
        let text = handle.render();
        for line in [
            "omsd_queue_depth{queue=\"oms_commands\"} 1",
            "omsd_queue_capacity{queue=\"oms_commands\"} 4",
            "omsd_queue_dropped_total{queue=\"oms_commands\"} 0",
            "omsd_queue_dropped_total{queue=\"market_stream\",venue=\"bin\"} 0",
            "omsd_queue_dropped_total{queue=\"market_events\"} 3",
        ] {
            assert!(text.contains(line), "missing {line} in:\n{text}");
        }
        assert!(
            !text.contains("omsd_queue_depth{queue=\"market_stream\""),
            "{text}"
        );
        assert_eq!(queues.probes.lock().unwrap().len(), 1);
    }
}
