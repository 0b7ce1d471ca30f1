//! The market-data writer: one bounded, batched writer task per store (DESIGN "Storage").
//!
//! The book keeper offers trades and sampled snapshots without waiting; the writer gathers
//! them and writes a flush (one transaction, see [`Store::write_market`]) when `flush_rows` are
//! waiting or `flush_interval` has passed. When its queue is full, market data is dropped and
//! counted by kind (invariant 6): a slow store never slows the books or the order path, and
//! orders and fills never go through here. A failed flush is kept and retried at the next
//! interval, in order; rows arriving meanwhile wait behind it up to the queue's bound. The
//! writer ends when its last handle is gone (the book keeper stopped), after writing
//! everything queued once more.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::heartbeat::{HEARTBEAT_TICK, Heartbeat};
use crate::queues::QueueProbe;
use crate::store::{BookSnapshotRecord, MarketBatch, Store, TradeRecord};
use crate::telemetry;

/// How the writer batches.
#[derive(Debug, Clone, Copy)]
pub struct WriterSettings {
    /// Rows the queue holds (and a failed flush may keep) before market data is dropped.
    pub queue: usize,
    /// A flush starts once this many rows wait.
    pub flush_rows: usize,
    /// ... or once the oldest waiting row is this old.
    pub flush_interval: Duration,
}

/// One row offered to the writer.
#[derive(Debug)]
pub enum MarketRow {
    Trade(TradeRecord),
    Snapshot(BookSnapshotRecord),
}

impl MarketRow {
    fn kind(&self) -> &'static str {
        match self {
            MarketRow::Trade(_) => "trade",
            MarketRow::Snapshot(_) => "snapshot",
        }
    }
}

/// Offers rows to the writer; cheap to clone.
#[derive(Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<MarketRow>,
    dropped: Arc<AtomicU64>,
}

impl WriterHandle {
    /// Queues a row, or drops and counts it when the queue is full. Never waits.
    pub fn offer(&self, row: MarketRow) {
        let kind = row.kind();
        if self.tx.try_send(row).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            telemetry::market_row_dropped(kind);
        }
    }

    /// Rows dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// A probe of the writer's queue, for its depth gauge and `GET /v1/status`.
    pub fn queue(&self) -> QueueProbe {
        QueueProbe::of("market_writer", None, &self.tx).with_drops(self.dropped.clone())
    }
}

/// The writer task's state.
pub struct MarketWriter {
    store: Arc<dyn Store>,
    rx: mpsc::Receiver<MarketRow>,
    settings: WriterSettings,
    pending: MarketBatch,
    /// When the oldest pending row arrived.
    oldest: Option<Instant>,
    /// After failed flushes: when the next attempt may run, and how many failed in a row.
    retry_at: Option<Instant>,
    failures: u32,
    /// Stamped each time round the loop (the watchdog's view of the writer).
    heartbeat: Heartbeat,
}

/// The longest wait between attempts at a failing flush.
const RETRY_MAX: Duration = Duration::from_secs(5);

impl MarketWriter {
    pub fn new(store: Arc<dyn Store>, settings: WriterSettings) -> (MarketWriter, WriterHandle) {
        let (tx, rx) = mpsc::channel(settings.queue.max(1));
        let writer = MarketWriter {
            store,
            rx,
            settings,
            pending: MarketBatch::default(),
            oldest: None,
            retry_at: None,
            failures: 0,
            heartbeat: Heartbeat::detached("market_writer"),
        };
        for kind in ["trade", "snapshot"] {
            telemetry::market_rows_registered(kind);
        }
        let dropped = Arc::new(AtomicU64::new(0));
        (writer, WriterHandle { tx, dropped })
    }

    /// Reports the writer's progress to `heartbeat` (the systemd watchdog's view of it).
    pub fn watched(mut self, heartbeat: Heartbeat) -> MarketWriter {
        self.heartbeat = heartbeat;
        self
    }

    /// Writes until every [`WriterHandle`] is dropped, then writes what is left and returns.
    pub async fn run(mut self) {
        let mut idle = tokio::time::interval(HEARTBEAT_TICK);
        idle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.heartbeat.beat();
            let full = self.pending.len() >= self.settings.flush_rows
                || self.pending.len() >= self.settings.queue;
            if full && self.may_retry() {
                self.flush().await;
            }
            let room = self.pending.len() < self.settings.queue;
            let deadline = self.deadline();
            tokio::select! {
                row = self.rx.recv(), if room => match row {
                    Some(row) => {
                        self.take(row);
                        while self.pending.len() < self.settings.flush_rows.min(self.settings.queue) {
                            match self.rx.try_recv() {
                                Ok(row) => self.take(row),
                                Err(_) => break,
                            }
                        }
                    }
                    None => break,
                },
                () = sleep_until_opt(deadline) => {
                    if self.may_retry() {
                        self.flush().await;
                    }
                }
                _ = idle.tick() => {}
            }
        }
        self.retry_at = None;
        self.flush().await;
        if !self.pending.is_empty() {
            tracing::warn!(
                rows = self.pending.len(),
                "market data not written at shutdown"
            );
        }
    }

    /// When the pending rows are next due a flush: the end of a failed flush's backoff, or
    /// the oldest row's interval.
    fn deadline(&self) -> Option<tokio::time::Instant> {
        let at = match (self.retry_at, self.oldest) {
            (Some(retry), _) => retry,
            (None, Some(oldest)) => oldest + self.settings.flush_interval,
            (None, None) => return None,
        };
        Some(at.into())
    }

    fn take(&mut self, row: MarketRow) {
        self.oldest.get_or_insert_with(Instant::now);
        match row {
            MarketRow::Trade(t) => self.pending.trades.push(t),
            MarketRow::Snapshot(s) => self.pending.snapshots.push(s),
        }
    }

    /// No failed flush is waiting out its backoff.
    fn may_retry(&self) -> bool {
        self.retry_at.is_none_or(|at| Instant::now() >= at)
    }

    /// Writes the pending rows; on failure keeps them for the next attempt.
    async fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let started = Instant::now();
        match self.store.write_market(&self.pending).await {
            Ok(outcome) => {
                telemetry::market_flush(
                    &self.pending,
                    outcome.trades_inserted,
                    outcome.snapshots_inserted,
                    started.elapsed(),
                );
                self.pending = MarketBatch::default();
                self.oldest = None;
                self.retry_at = None;
                self.failures = 0;
            }
            Err(e) => {
                self.failures += 1;
                let delay = self
                    .settings
                    .flush_interval
                    .saturating_mul(1 << self.failures.min(6))
                    .min(RETRY_MAX);
                self.retry_at = Some(Instant::now() + delay);
                telemetry::market_flush_failed(self.pending.len(), &e.to_string());
            }
        }
    }
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
