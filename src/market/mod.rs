//! Market data: one actor keeps a local book per venue symbol from the adapters' events and
//! answers top-of-book queries. A book that is out of sync is reported as such and never
//! served as a price (DESIGN invariant 5).
//!
//! The same actor feeds the market-data writer ([`writer`]): every public trade, and top-N
//! snapshots sampled on each book's own interval, only while the book is in sync.

pub mod writer;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use exchange_core::{BookUpdate, Level, MarketEvent, OrderBook};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::clock::now_ms;
use crate::heartbeat::{HEARTBEAT_TICK, Heartbeat};
use crate::oms::limits::BookMid;
use crate::store::{BookSnapshotRecord, TradeRecord};
use crate::telemetry;
use writer::{MarketRow, WriterHandle};

/// How often the book keeper looks for books due a snapshot (the finest interval allowed).
pub const SAMPLE_TICK: Duration = Duration::from_millis(100);

/// How one book is sampled into `book_snapshots`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleSpec {
    /// Levels per side.
    pub depth: usize,
    /// Time between snapshots.
    pub interval: Duration,
}

/// Where the book keeper's market data goes: the writer, and each book's sampling (books
/// not listed are not sampled).
#[derive(Clone, Default)]
pub struct Recording {
    pub writer: Option<WriterHandle>,
    pub samples: HashMap<(String, String), SampleSpec>,
}

/// Every book's sync state and mid, published for the pre-trade price band.
pub type MidTable = Arc<HashMap<(String, String), BookMid>>;

/// Bound of the queue between adapters and the book keeper; data beyond it is dropped, counted.
pub const MARKET_QUEUE: usize = 8192;

/// The top of one book as served to traders.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct TopOfBook {
    pub venue: String,
    pub venue_symbol: String,
    pub in_sync: bool,
    pub last_update_id: u64,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
}

/// Sync state of one book, for `/v1/venues`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct BookStatus {
    pub venue_symbol: String,
    pub in_sync: bool,
    pub last_update_id: u64,
    /// Times the book lost sync and was rebuilt from a fresh snapshot.
    pub resyncs: u64,
}

/// A local book with its sync history.
#[derive(Default)]
struct TrackedBook {
    book: OrderBook,
    /// When the book lost sync, to measure the time to a consistent book again.
    lost_sync_at: Option<Instant>,
    resyncs: u64,
    /// When the book is next due a snapshot.
    next_sample: Option<Instant>,
}

enum Query {
    Top {
        venue: String,
        venue_symbol: String,
        depth: usize,
        reply: oneshot::Sender<Option<TopOfBook>>,
    },
    Status {
        venue: String,
        reply: oneshot::Sender<Vec<BookStatus>>,
    },
}

/// Handle to the book keeper.
#[derive(Clone)]
pub struct MarketHandle {
    events_tx: mpsc::Sender<(String, MarketEvent)>,
    query_tx: mpsc::Sender<Query>,
    mids_rx: watch::Receiver<MidTable>,
}

impl MarketHandle {
    /// The sender adapters' events are forwarded into, tagged with the venue name.
    pub fn events_tx(&self) -> mpsc::Sender<(String, MarketEvent)> {
        self.events_tx.clone()
    }

    /// Book mids and sync states, updated whenever one changes.
    pub fn mids(&self) -> watch::Receiver<MidTable> {
        self.mids_rx.clone()
    }

    /// The best `depth` levels of a book, or `None` if the book is unknown.
    pub async fn top(&self, venue: &str, venue_symbol: &str, depth: usize) -> Option<TopOfBook> {
        let (reply, rx) = oneshot::channel();
        let query = Query::Top {
            venue: venue.into(),
            venue_symbol: venue_symbol.into(),
            depth,
            reply,
        };
        self.query_tx.send(query).await.ok()?;
        rx.await.ok().flatten()
    }

    /// Sync state of every book of a venue.
    pub async fn status(&self, venue: &str) -> Vec<BookStatus> {
        let (reply, rx) = oneshot::channel();
        if self
            .query_tx
            .send(Query::Status {
                venue: venue.into(),
                reply,
            })
            .await
            .is_err()
        {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }
}

/// The book keeper actor.
pub struct MarketData {
    books: HashMap<(String, String), TrackedBook>,
    events_rx: mpsc::Receiver<(String, MarketEvent)>,
    query_rx: mpsc::Receiver<Query>,
    mids_tx: watch::Sender<MidTable>,
    recording: Recording,
    /// Stamped each time round the loop (the watchdog's view of the book keeper).
    heartbeat: Heartbeat,
}

impl MarketData {
    pub fn new(recording: Recording) -> (MarketData, MarketHandle) {
        let (events_tx, events_rx) = mpsc::channel(MARKET_QUEUE);
        let (query_tx, query_rx) = mpsc::channel(64);
        let (mids_tx, mids_rx) = watch::channel(MidTable::default());
        (
            MarketData {
                books: HashMap::new(),
                events_rx,
                query_rx,
                mids_tx,
                recording,
                heartbeat: Heartbeat::detached("market_data"),
            },
            MarketHandle {
                events_tx,
                query_tx,
                mids_rx,
            },
        )
    }

    /// Reports the book keeper's progress to `heartbeat` (the systemd watchdog's view of it).
    pub fn watched(mut self, heartbeat: Heartbeat) -> MarketData {
        self.heartbeat = heartbeat;
        self
    }

    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut sample = tokio::time::interval(SAMPLE_TICK);
        sample.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut idle = tokio::time::interval(HEARTBEAT_TICK);
        idle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.heartbeat.beat();
            tokio::select! {
                () = shutdown.cancelled() => break,
                Some((venue, event)) = self.events_rx.recv() => self.apply(&venue, event),
                Some(query) = self.query_rx.recv() => self.answer(query),
                _ = sample.tick(), if !self.recording.samples.is_empty() => self.sample(),
                // With every sender gone (and nothing to sample) the book keeper is done.
                _ = idle.tick() => if self.events_rx.is_closed()
                    && self.query_rx.is_closed()
                    && self.events_rx.is_empty()
                    && self.query_rx.is_empty()
                    && self.recording.samples.is_empty()
                {
                    break;
                },
            }
        }
    }

    /// Offers a snapshot of every in-sync book that is due one; a book out of sync is skipped
    /// (invariant 5) and sampled again one interval later.
    fn sample(&mut self) {
        let Some(writer) = &self.recording.writer else {
            return;
        };
        let now = Instant::now();
        for ((venue, symbol), tracked) in &mut self.books {
            let Some(spec) = self.recording.samples.get(&(venue.clone(), symbol.clone())) else {
                continue;
            };
            if tracked.next_sample.is_some_and(|at| now < at) {
                continue;
            }
            tracked.next_sample = Some(now + spec.interval);
            if !tracked.book.in_sync() {
                continue;
            }
            let (bids, asks) = tracked.book.top(spec.depth);
            writer.offer(MarketRow::Snapshot(BookSnapshotRecord {
                venue: venue.clone(),
                venue_symbol: symbol.clone(),
                time_ms: now_ms(),
                update_id: tracked.book.last_update_id(),
                bids,
                asks,
            }));
        }
    }

    fn apply(&mut self, venue: &str, event: MarketEvent) {
        match event {
            MarketEvent::Trade(trade) => {
                telemetry::market_trades(venue, 1);
                if let Some(writer) = &self.recording.writer {
                    writer.offer(MarketRow::Trade(TradeRecord {
                        venue: venue.to_string(),
                        venue_symbol: trade.venue_symbol,
                        trade_id: trade.trade_id,
                        price: trade.price,
                        quantity: trade.quantity,
                        taker_side: trade.taker_side,
                        time_ms: trade.time_ms,
                        received_ms: now_ms(),
                    }));
                }
            }
            MarketEvent::Book(update) => {
                let (symbol, kind) = match &update {
                    BookUpdate::Snapshot(s) => (&s.venue_symbol, "snapshot"),
                    BookUpdate::Delta(d) => (&d.venue_symbol, "delta"),
                    BookUpdate::OutOfSync { venue_symbol, .. } => (venue_symbol, "out_of_sync"),
                };
                let tracked = self
                    .books
                    .entry((venue.to_string(), symbol.clone()))
                    .or_default();
                match &update {
                    BookUpdate::OutOfSync { .. } if tracked.lost_sync_at.is_none() => {
                        tracked.lost_sync_at = Some(Instant::now());
                    }
                    BookUpdate::Snapshot(_) => {
                        if let Some(since) = tracked.lost_sync_at.take() {
                            tracked.resyncs += 1;
                            telemetry::book_resynced(venue, symbol, since.elapsed());
                        }
                    }
                    _ => {}
                }
                tracked.book.apply(&update);
                telemetry::book_update(venue, symbol, kind, tracked.book.in_sync());
                let mid = book_mid(&tracked.book);
                let key = (venue.to_string(), symbol.clone());
                if self.mids_tx.borrow().get(&key) != Some(&mid) {
                    self.mids_tx.send_modify(|table| {
                        Arc::make_mut(table).insert(key, mid);
                    });
                }
            }
        }
    }

    fn answer(&self, query: Query) {
        match query {
            Query::Top {
                venue,
                venue_symbol,
                depth,
                reply,
            } => {
                let top = self.books.get(&(venue.clone(), venue_symbol.clone())).map(
                    |TrackedBook { book, .. }| {
                        let (bids, asks) = if book.in_sync() {
                            book.top(depth)
                        } else {
                            (Vec::new(), Vec::new())
                        };
                        TopOfBook {
                            venue,
                            venue_symbol,
                            in_sync: book.in_sync(),
                            last_update_id: book.last_update_id(),
                            bids,
                            asks,
                        }
                    },
                );
                let _ = reply.send(top);
            }
            Query::Status { venue, reply } => {
                let mut status: Vec<BookStatus> = self
                    .books
                    .iter()
                    .filter(|((v, _), _)| *v == venue)
                    .map(|((_, s), tracked)| BookStatus {
                        venue_symbol: s.clone(),
                        in_sync: tracked.book.in_sync(),
                        last_update_id: tracked.book.last_update_id(),
                        resyncs: tracked.resyncs,
                    })
                    .collect();
                status.sort_by(|a, b| a.venue_symbol.cmp(&b.venue_symbol));
                let _ = reply.send(status);
            }
        }
    }
}

/// The book's mid when it is in sync and has both sides.
fn book_mid(book: &OrderBook) -> BookMid {
    let in_sync = book.in_sync();
    let mid = match (book.best_bid(), book.best_ask()) {
        (Some(bid), Some(ask)) if in_sync => {
            Some((bid.price + ask.price) / rust_decimal::Decimal::TWO)
        }
        _ => None,
    };
    BookMid { in_sync, mid }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use exchange_core::{BookSnapshot, BookUpdate, Level, MarketEvent};
    use rust_decimal_macros::dec;

    use super::writer::{MarketWriter, WriterSettings};
    use super::*;
    use crate::store::MarketQuery;

    fn snapshot(update_id: u64) -> MarketEvent {
        MarketEvent::Book(BookUpdate::Snapshot(BookSnapshot {
            venue_symbol: "BTCUSDT".into(),
            last_update_id: update_id,
            bids: vec![Level::new(dec!(99), dec!(1)), Level::new(dec!(98), dec!(2))],
            asks: vec![Level::new(dec!(101), dec!(1))],
        }))
    }

    /// Snapshots are sampled from a book only while it is in sync, at most `depth` levels.
    #[tokio::test]
    async fn books_are_sampled_only_while_in_sync() {
        let store = crate::store::open("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        let settings = WriterSettings {
            queue: 100,
            flush_rows: 100,
            flush_interval: Duration::from_secs(3600),
        };
        let (writer, handle) = MarketWriter::new(store.clone(), settings);
        let written = tokio::spawn(writer.run());
        let spec = SampleSpec {
            depth: 1,
            interval: Duration::ZERO,
        };
        let recording = Recording {
            writer: Some(handle),
            samples: [(("sim".to_string(), "BTCUSDT".to_string()), spec)].into(),
        };
        let (mut market, _handle) = MarketData::new(recording);
        market.sample();
        market.apply("sim", snapshot(7));
        market.sample();
        let out_of_sync = BookUpdate::OutOfSync {
            venue_symbol: "BTCUSDT".into(),
            reason: "gap".into(),
        };
        market.apply("sim", MarketEvent::Book(out_of_sync));
        market.sample();
        market.sample();
        market.apply("sim", snapshot(9));
        tokio::time::sleep(Duration::from_millis(2)).await;
        market.sample();
        drop(market);
        written.await.unwrap();

        let query = MarketQuery::newest("sim", "BTCUSDT", 10);
        let stored = store.book_snapshots(&query).await.unwrap();
        let ids: Vec<u64> = stored.iter().map(|s| s.update_id).collect();
        assert_eq!(
            ids,
            [9, 7],
            "one sample per in-sync period, none while out of sync"
        );
        assert!(
            stored
                .iter()
                .all(|s| s.bids.len() == 1 && s.asks.len() == 1)
        );
    }
}
