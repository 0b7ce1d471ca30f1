//! Market data: one combined-stream connection carrying `<symbol>@depth@100ms` and
//! `<symbol>@trade` for every symbol (reference §7), with one [`DepthSync`] per symbol.
//!
//! Snapshots are fetched by child tasks so that the socket keeps being read (and pinged) while
//! REST answers; they die with the connection. Every symbol's snapshot is requested as soon as
//! the connection is up, concurrently. On disconnect every book is reported out of sync, and the
//! procedure restarts on the new connection. Planned replacements (maximum age,
//! `serverShutdown`) hand the books over without losing sync (see `rotation`).
//!
//! Trades are numbered per symbol without gaps, so a missed trade shows: a trade whose id
//! skips past the last one published, or a reconnect after trades were published. The missed
//! ones are fetched (`historicalTrades` from the first missing id, by child tasks that outlive
//! the connection) and published after the live ones; consumers key trades by id, so order
//! and the odd repeat do not matter, and none is lost while the venue still keeps it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use exchange_core::{BookDelta, BookSnapshot, BookUpdate, ExchangeError, Lane, MarketEvent, Trade};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::depth_sync::{DepthSync, REFETCH_DELAY, SyncAction};
use super::{
    BACKOFF_BASE, Backoff, Heartbeat, Session, WsError, connect_within_budget, deliver,
    sleep_or_shutdown, stream_backoff,
};
use crate::model::{BinanceDepthUpdate, BinanceStreamFrame, BinanceTrade};
use crate::{Shared, parse, urls};

mod rotation;

/// What a data frame carried.
enum Data {
    Depth(BookDelta),
    Trade(Trade),
    /// The venue is about to close the connection.
    ServerShutdown,
}

/// Diff events kept per symbol while a snapshot is on its way.
const MAX_BUFFERED_EVENTS: usize = 10_000;
/// Trades per `historicalTrades` page (the venue's maximum).
const BACKFILL_PAGE: u32 = 1000;
/// Pages one gap may take; a longer gap is filled this far and the rest reported lost.
const BACKFILL_MAX_PAGES: usize = 20;
/// Failed attempts at one page before a gap is given up.
const BACKFILL_ATTEMPTS: u32 = 5;

/// Runs the market stream until `shutdown` fires or the receiver is dropped.
pub(crate) async fn run(
    shared: Arc<Shared>,
    venue_symbols: Vec<String>,
    events_tx: mpsc::Sender<MarketEvent>,
    shutdown: CancellationToken,
) {
    let mut symbols: Vec<String> = venue_symbols
        .iter()
        .map(|s| s.to_ascii_uppercase())
        .collect();
    symbols.sort();
    symbols.dedup();
    if symbols.is_empty() {
        tracing::warn!("binance market stream started without symbols");
        return;
    }
    let mut stream = MarketStream {
        books: symbols
            .iter()
            .map(|s| (s.clone(), DepthSync::new(s, MAX_BUFFERED_EVENTS)))
            .collect(),
        pending_snapshots: HashMap::new(),
        snapshots: JoinSet::new(),
        resyncing: HashMap::new(),
        lag_since: None,
        last_trade: HashMap::new(),
        backfills: JoinSet::new(),
        url: urls::combined_stream_url(&shared.config.stream_url, &symbols),
        shared,
        events_tx,
        shutdown,
    };
    stream
        .shared
        .counters
        .market
        .events
        .watch(&stream.events_tx);
    let mut backoff = stream_backoff(&stream.shared.config);
    loop {
        let err = match stream.session(&mut backoff).await {
            Err(WsError::Shutdown | WsError::ReceiverGone) => {
                stream.shared.counters.market.set_connected(false);
                return;
            }
            Err(err) => err,
            Ok(never) => match never {},
        };
        let counters = &stream.shared.counters;
        counters.reconnect(&counters.market, err.reason(), &err);
        // A planned rotation reconnects at once; anything else backs off.
        let delay = match err {
            WsError::MaxAge => {
                backoff.connection_ended();
                Duration::ZERO
            }
            _ => backoff.next_delay(),
        };
        if stream.reset_books(&err.to_string()).await.is_err()
            || !sleep_or_shutdown(delay, &stream.shutdown).await
        {
            return;
        }
    }
}

/// The market-stream actor's state across connections.
struct MarketStream {
    shared: Arc<Shared>,
    url: String,
    books: HashMap<String, DepthSync>,
    /// Symbol of each snapshot task in flight (at most one per symbol).
    pending_snapshots: HashMap<tokio::task::Id, String>,
    snapshots: JoinSet<BookSnapshot>,
    /// When each out-of-sync book lost sync, to measure the time to resync.
    resyncing: HashMap<String, Instant>,
    /// When events were first seen lagging the venue clock, while they still do.
    lag_since: Option<Instant>,
    /// The id of the last trade published per symbol.
    last_trade: HashMap<String, u64>,
    /// Fetches of missed trades in flight (they survive reconnects).
    backfills: JoinSet<Vec<Trade>>,
    events_tx: mpsc::Sender<MarketEvent>,
    shutdown: CancellationToken,
}

impl MarketStream {
    /// One connection; only returns with the reason it ended.
    async fn session(
        &mut self,
        backoff: &mut Backoff,
    ) -> Result<std::convert::Infallible, WsError> {
        let config = &self.shared.config;
        let heartbeat = Heartbeat::from_config(config, Some(config.market_data_timeout));
        // Market streams weigh nothing, but count against the connection budget.
        let mut session = connect_within_budget(
            &self.shared,
            &self.url,
            heartbeat,
            (Lane::Data, &[]),
            &self.shutdown,
        )
        .await?;
        self.lag_since = None;
        self.shared.counters.market.set_connected(true);
        tracing::info!(
            symbols = self.books.len(),
            "binance market stream connected"
        );
        if let Err(err) = self.start_books().await {
            session.close().await;
            return Err(err);
        }
        loop {
            match self.pump(&mut session, backoff).await {
                Err(WsError::MaxAge | WsError::ServerShutdown) => {
                    // Make-before-break: the replacement takes over every book in sync.
                    session = self.rotate(session).await?;
                }
                result => {
                    session.close().await;
                    return result;
                }
            }
        }
    }

    async fn pump(
        &mut self,
        session: &mut Session,
        backoff: &mut Backoff,
    ) -> Result<std::convert::Infallible, WsError> {
        loop {
            tokio::select! {
                text = session.next_text(&self.shutdown) => {
                    let text = text?.ok_or(WsError::Shutdown)?;
                    if self.handle_frame(&text).await? {
                        backoff.healthy();
                    }
                }
                Some(joined) = self.snapshots.join_next_with_id(), if !self.snapshots.is_empty() => {
                    self.snapshot_joined(joined).await?;
                }
                Some(joined) = self.backfills.join_next(), if !self.backfills.is_empty() => {
                    for trade in joined.unwrap_or_default() {
                        self.send_trade(trade)?;
                    }
                }
            }
        }
    }

    /// A snapshot task ended: its snapshot goes to its book.
    async fn snapshot_joined(
        &mut self,
        joined: Result<(tokio::task::Id, BookSnapshot), tokio::task::JoinError>,
    ) -> Result<(), WsError> {
        match joined {
            Ok((id, snapshot)) => {
                let Some(symbol) = self.pending_snapshots.remove(&id) else {
                    return Ok(());
                };
                let actions = match self.books.get_mut(&symbol) {
                    Some(book) => book.on_snapshot(snapshot),
                    None => Vec::new(),
                };
                self.apply(&symbol, actions).await
            }
            Err(e) => {
                // Should not happen (the task cannot panic); never leave a book waiting for a
                // snapshot nobody fetches.
                tracing::error!(error = %e, "binance snapshot task failed");
                if let Some(symbol) = self.pending_snapshots.remove(&e.id()) {
                    self.fetch_snapshot(&symbol, REFETCH_DELAY);
                }
                Ok(())
            }
        }
    }

    /// Handles one frame; true when it carried market data.
    async fn handle_frame(&mut self, text: &str) -> Result<bool, WsError> {
        match self.read_frame(text)? {
            Some(Data::Depth(delta)) => {
                self.on_depth(delta).await?;
                Ok(true)
            }
            Some(Data::Trade(trade)) => {
                self.publish_trade(trade)?;
                Ok(true)
            }
            Some(Data::ServerShutdown) => Err(WsError::ServerShutdown),
            None => Ok(false),
        }
    }

    /// Reads one frame: its data, or `None` for frames that carry none (counted if malformed).
    fn read_frame(&mut self, text: &str) -> Result<Option<Data>, WsError> {
        self.shared.counters.market.message();
        let frame: BinanceStreamFrame = match serde_json::from_str(text) {
            Ok(frame) => frame,
            Err(e) => {
                self.shared.counters.malformed("market_stream", &e);
                return Ok(None);
            }
        };
        match frame.data.get("e").and_then(Value::as_str) {
            Some("depthUpdate") => match serde_json::from_value::<BinanceDepthUpdate>(frame.data) {
                Ok(raw) => {
                    let delta = parse::book_delta(raw);
                    self.check_lag(delta.event_time_ms)?;
                    Ok(Some(Data::Depth(delta)))
                }
                Err(e) => {
                    self.shared.counters.malformed("market_stream", &e);
                    Ok(None)
                }
            },
            Some("trade") => match serde_json::from_value::<BinanceTrade>(frame.data) {
                Ok(raw) => {
                    let trade = parse::trade(raw);
                    self.check_lag(trade.time_ms)?;
                    Ok(Some(Data::Trade(trade)))
                }
                Err(e) => {
                    self.shared.counters.malformed("market_stream", &e);
                    Ok(None)
                }
            },
            Some("serverShutdown") => Ok(Some(Data::ServerShutdown)),
            other => {
                tracing::debug!(stream = frame.stream, event = ?other, "ignoring binance stream frame");
                Ok(None)
            }
        }
    }

    /// Feeds one diff event to its symbol's book.
    async fn on_depth(&mut self, delta: BookDelta) -> Result<(), WsError> {
        let symbol = delta.venue_symbol.to_ascii_uppercase();
        let Some(book) = self.books.get_mut(&symbol) else {
            self.shared
                .counters
                .malformed("market_stream", &"depth for unknown symbol");
            return Ok(());
        };
        let actions = book.on_delta(delta);
        self.apply(&symbol, actions).await
    }

    /// The connection is up: every book fetches its snapshot now, without waiting for its first
    /// event (a symbol whose book does not change publishes none).
    async fn start_books(&mut self) -> Result<(), WsError> {
        let mut symbols: Vec<String> = self.books.keys().cloned().collect();
        symbols.sort();
        // Trades made while we were away: from the first one not published, to the newest.
        for symbol in &symbols {
            if let Some(&last) = self.last_trade.get(symbol).filter(|&&last| last != 0) {
                self.backfill(symbol, last + 1, None);
            }
        }
        for symbol in symbols {
            let actions = match self.books.get_mut(&symbol) {
                Some(book) => book.start(),
                None => Vec::new(),
            };
            self.apply(&symbol, actions).await?;
        }
        Ok(())
    }

    /// Trades may be dropped under pressure (counted); book updates never are. A trade not
    /// newer than the last one published for its symbol (the copy a replacement connection
    /// carries) is skipped.
    fn publish_trade(&mut self, trade: Trade) -> Result<(), WsError> {
        if let Ok(id) = trade.trade_id.parse::<u64>() {
            let symbol = trade.venue_symbol.to_ascii_uppercase();
            let last = self.last_trade.entry(symbol.clone()).or_insert(0);
            if id <= *last && *last != 0 {
                return Ok(());
            }
            let skipped = (*last != 0 && id > *last + 1).then(|| (*last + 1, id - 1));
            *last = id;
            if let Some((from, to)) = skipped {
                self.backfill(&symbol, from, Some(to));
            }
        }
        self.send_trade(trade)
    }

    /// Fetches trades `from..=to` (to the newest when `to` is `None`) of `symbol` in a child
    /// task; they are published when it ends.
    fn backfill(&mut self, symbol: &str, from: u64, to: Option<u64>) {
        let (shared, symbol) = (self.shared.clone(), symbol.to_owned());
        tracing::info!(symbol, from, ?to, "binance trades missed: fetching them");
        self.backfills.spawn(async move {
            let mut trades = Vec::new();
            let mut next = from;
            for _ in 0..BACKFILL_MAX_PAGES {
                let Some(page) = historical_page(&shared, &symbol, next).await else {
                    tracing::warn!(
                        symbol,
                        from = next,
                        ?to,
                        "binance trades could not be fetched: lost"
                    );
                    return trades;
                };
                let full = page.len() >= BACKFILL_PAGE as usize;
                for raw in page {
                    let id = u64::try_from(raw.id).unwrap_or(0);
                    if to.is_some_and(|to| id > to) {
                        return trades;
                    }
                    next = id + 1;
                    trades.push(parse::historical_trade(&symbol, raw));
                }
                if !full || to.is_some_and(|to| next > to) {
                    return trades;
                }
            }
            tracing::warn!(
                symbol,
                from = next,
                ?to,
                "binance trade gap longer than the backfill allows: the rest is lost"
            );
            trades
        });
    }

    fn send_trade(&mut self, trade: Trade) -> Result<(), WsError> {
        match self.events_tx.try_send(MarketEvent::Trade(trade)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                self.shared.counters.dropped_market_event();
                Ok(())
            }
            Err(TrySendError::Closed(_)) => Err(WsError::ReceiverGone),
        }
    }

    async fn apply(&mut self, symbol: &str, actions: Vec<SyncAction>) -> Result<(), WsError> {
        self.record_buffers();
        for action in actions {
            match action {
                SyncAction::Emit(update) => {
                    match &update {
                        BookUpdate::OutOfSync { reason, .. } => self.lost_sync(symbol, reason),
                        BookUpdate::Snapshot(_) => {
                            if let Some(since) = self.resyncing.remove(symbol) {
                                self.shared.counters.books.resync_completed(since.elapsed());
                            }
                        }
                        BookUpdate::Delta(_) => {}
                    }
                    deliver(&self.events_tx, MarketEvent::Book(update), &self.shutdown).await?;
                }
                SyncAction::FetchSnapshot { after } => self.fetch_snapshot(symbol, after),
            }
        }
        Ok(())
    }

    /// Reports the depth buffers' level and overflows, over every book.
    fn record_buffers(&self) {
        let buffered = self.books.values().map(DepthSync::buffered).sum();
        let overflows = self.books.values().map(|b| b.buffer_overflows).sum();
        let buffer = &self.shared.counters.market.buffer;
        buffer.set_level(buffered, MAX_BUFFERED_EVENTS * self.books.len());
        buffer.set_dropped_total(overflows);
    }

    /// Starts a snapshot fetch for `symbol` unless one is already on its way. The task retries
    /// with backoff (honouring `Retry-After`) until it succeeds or the connection ends.
    fn fetch_snapshot(&mut self, symbol: &str, after: Duration) {
        if self.pending_snapshots.values().any(|s| s == symbol) {
            return;
        }
        let shared = self.shared.clone();
        let task_symbol = symbol.to_owned();
        let handle = self.snapshots.spawn(async move {
            let symbol = task_symbol;
            tokio::time::sleep(after).await;
            let limit = shared.config.depth_snapshot_limit;
            let mut backoff = Backoff::new(BACKOFF_BASE, Duration::from_secs(10));
            loop {
                match shared.rest.depth(&symbol, limit).await {
                    Ok(raw) => return parse::book_snapshot(&symbol, raw),
                    Err(err) => {
                        let delay = retry_delay(&err, &mut backoff);
                        tracing::warn!(symbol, error = %err, ?delay, "binance depth snapshot failed");
                        tokio::time::sleep(delay).await;
                    }
                }
            }
        });
        self.pending_snapshots
            .insert(handle.id(), symbol.to_owned());
    }

    /// A book lost continuity: counted, and timed until its next snapshot.
    fn lost_sync(&mut self, symbol: &str, reason: &str) {
        self.shared.counters.book_resync(symbol, reason);
        self.resyncing
            .entry(symbol.to_owned())
            .or_insert_with(Instant::now);
    }

    /// A stream whose events are far behind the venue clock is stale (a stuck or replaying
    /// feed), even if frames keep coming. The clock is judged first: lag seen against a
    /// measurement older than the lag may be our clock's fault (a venue clock step), so the
    /// clock is measured again and only lag that persists against the fresh measurement ends
    /// the connection. Otherwise a clock step would reconnect forever with books never in sync.
    fn check_lag(&mut self, event_time_ms: i64) -> Result<(), WsError> {
        let clock = &self.shared.rest.clock;
        let Some(now_ms) = clock.now_ms() else {
            return Ok(());
        };
        if event_time_ms <= 0 {
            return Ok(());
        }
        let lag_ms = now_ms.saturating_sub(event_time_ms);
        let max = self.shared.config.max_event_lag;
        if lag_ms <= i64::try_from(max.as_millis()).unwrap_or(i64::MAX) {
            self.lag_since = None;
            return Ok(());
        }
        let measured = clock.measured_at();
        match self.lag_since {
            Some(since) if measured.is_some_and(|at| at > since) => Err(WsError::Stale(format!(
                "event time {lag_ms} ms behind the venue clock (max {max:?})"
            ))),
            // A measurement is on its way; give up on it after a few request deadlines.
            Some(since) if since.elapsed() < self.shared.config.request_timeout * 3 => Ok(()),
            _ => {
                tracing::warn!(
                    lag_ms,
                    "binance events lag the venue clock, measuring it again"
                );
                self.lag_since = Some(Instant::now());
                let shared = self.shared.clone();
                tokio::spawn(async move {
                    if let Err(err) = shared.rest.remeasure_clock().await {
                        tracing::warn!(error = %err, "binance clock re-measurement failed");
                    }
                });
                Ok(())
            }
        }
    }

    /// After a lost connection: drop in-flight snapshots (the next connection fetches anew) and
    /// report every book out of sync. A book that had not started since the previous reset is
    /// reported again (harmless: the consumer is already out of sync) but not counted again.
    async fn reset_books(&mut self, reason: &str) -> Result<(), WsError> {
        self.snapshots.abort_all();
        self.snapshots = JoinSet::new();
        self.pending_snapshots.clear();
        let mut updates = Vec::new();
        for (symbol, book) in &mut self.books {
            if book.is_started() {
                self.shared.counters.book_resync(symbol, reason);
                self.resyncing
                    .entry(symbol.clone())
                    .or_insert_with(Instant::now);
            }
            updates.push(book.reset(reason));
        }
        self.record_buffers();
        for update in updates {
            if let SyncAction::Emit(update) = update {
                deliver(&self.events_tx, MarketEvent::Book(update), &self.shutdown).await?;
            }
        }
        Ok(())
    }
}

/// One page of `historicalTrades` from `from`, retried with backoff; `None` when it keeps
/// failing.
async fn historical_page(
    shared: &Shared,
    symbol: &str,
    from: u64,
) -> Option<Vec<crate::model::BinanceHistoricalTrade>> {
    let mut backoff = Backoff::new(BACKOFF_BASE, Duration::from_secs(5));
    for attempt in 1..=BACKFILL_ATTEMPTS {
        match shared
            .rest
            .historical_trades(symbol, from, BACKFILL_PAGE)
            .await
        {
            Ok(page) => return Some(page),
            Err(err) => {
                let delay = retry_delay(&err, &mut backoff);
                tracing::warn!(symbol, attempt, error = %err, ?delay, "binance historicalTrades failed");
                tokio::time::sleep(delay).await;
            }
        }
    }
    None
}

/// How long a failed market-data REST call waits before it is tried again: what the venue
/// asked for, else the next backoff step.
fn retry_delay(err: &ExchangeError, backoff: &mut Backoff) -> Duration {
    match err {
        ExchangeError::RateLimited {
            retry_after: Some(wait),
            ..
        }
        | ExchangeError::Unavailable {
            retry_after: Some(wait),
            ..
        } => (*wait).max(BACKOFF_BASE),
        _ => backoff.next_delay(),
    }
}
