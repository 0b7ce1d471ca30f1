//! exchange-binance: the Binance Spot adapter behind [`exchange_core::Exchange`].
//!
//! Layout (the same in every adapter crate):
//! - [`config`]: [`BinanceConfig`], URLs and tuning, secrets redacted;
//! - [`urls`]: hosts, paths and stream names;
//! - `auth`: HMAC signing and the venue clock;
//! - `rest`: the signed REST client behind the venue executor (breaker per endpoint class,
//!   rate-limit permit per lane, in-flight order cap, retries of idempotent calls, usage
//!   headers, 429/418 and `-1021` handling);
//! - `limits`: the venue's metered scopes, endpoint weights, lanes and breaker classes;
//! - `ws`: user-data stream (WebSocket API), market streams and the book sync state machine;
//! - `model`: raw payloads (private); `parse`: pure raw → core mapping;
//! - [`error`]: [`BinanceError`] and its classification into [`ExchangeError`].
//!
//! Orders go over REST (`newOrderRespType=FULL`); order updates arrive on the WebSocket API
//! user-data subscription; books follow the venue's documented sync procedure.

mod auth;
pub mod config;
pub mod error;
mod limits;
mod model;
mod parse;
mod rest;
pub mod urls;
mod ws;

use std::fmt::Display;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use exchange_core::health::{BookRecorder, StreamRecorder};
use exchange_core::{
    Balance, BookSnapshot, Exchange, ExchangeError, Fill, Instrument, MarketEvent, NewOrder,
    OrderSnapshot, Placement, ReconnectReason, UserEvent, VenueHealth, VenueId,
};
use rust_decimal::Decimal;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::{ApiSecret, BinanceConfig};
pub use error::BinanceError;

use crate::model::BinanceOrder;
use crate::rest::RestClient;

/// The Binance Spot adapter. Cheap to share behind an `Arc`; streams run as spawned tasks.
pub struct BinanceExchange {
    shared: Arc<Shared>,
}

/// State shared by the adapter and its stream tasks.
pub(crate) struct Shared {
    pub(crate) config: BinanceConfig,
    pub(crate) rest: RestClient,
    pub(crate) counters: Counters,
    /// Order updates the user stream owes.
    pub(crate) owed: ws::expect::Owed,
}

/// Counters updated by the adapter and read by [`Exchange::health`]; each notable event logs
/// and counts in one place.
#[derive(Debug)]
pub(crate) struct Counters {
    malformed: AtomicU64,
    pub(crate) user: StreamRecorder,
    pub(crate) market: StreamRecorder,
    pub(crate) books: BookRecorder,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            malformed: AtomicU64::new(0),
            user: StreamRecorder::new("user"),
            market: StreamRecorder::new("market"),
            books: BookRecorder::default(),
        }
    }
}

impl Counters {
    /// A venue message we could not understand: counted, logged, skipped.
    pub(crate) fn malformed(&self, source: &'static str, error: &dyn Display) {
        let total = self.malformed.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::warn!(source, malformed_total = total, %error, "skipping malformed binance message");
    }

    /// A market event the consumer had no room for.
    pub(crate) fn dropped_market_event(&self) {
        self.market.events.dropped();
        let total = self.books.dropped();
        if total.is_power_of_two() {
            tracing::warn!(
                dropped_total = total,
                "market event consumer is slow, dropping trades"
            );
        }
    }

    /// A stream session ended and will be reconnected.
    pub(crate) fn reconnect(
        &self,
        stream: &StreamRecorder,
        reason: ReconnectReason,
        detail: &dyn Display,
    ) {
        stream.reconnect(reason);
        match reason {
            ReconnectReason::Rotation => {
                tracing::info!(reason = reason.as_str(), %detail, "binance stream rotated")
            }
            _ => {
                tracing::warn!(reason = reason.as_str(), %detail, "binance stream lost, reconnecting")
            }
        }
    }

    /// A book lost continuity.
    pub(crate) fn book_resync(&self, symbol: &str, reason: &str) {
        self.books.resync_started();
        tracing::warn!(symbol, reason, "binance book out of sync, resyncing");
    }
}

impl BinanceExchange {
    /// Validates the configuration and builds the HTTP client. Makes no request: the venue
    /// clock is measured on the first signed call (or with [`BinanceExchange::sync_clock`]).
    pub fn new(config: BinanceConfig) -> Result<Self, BinanceError> {
        // Several crates may race to install the process-wide provider; any winner is fine.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let problems = config.validate();
        if !problems.is_empty() {
            return Err(BinanceError::Config(problems));
        }
        let rest = RestClient::new(&config)?;
        Ok(BinanceExchange {
            shared: Arc::new(Shared {
                config,
                rest,
                counters: Counters::default(),
                owed: ws::expect::Owed::default(),
            }),
        })
    }

    /// The configuration this adapter runs with.
    pub fn config(&self) -> &BinanceConfig {
        &self.shared.config
    }

    /// Measures the offset to the venue clock now; returns it in milliseconds.
    pub async fn sync_clock(&self) -> Result<i64, ExchangeError> {
        self.shared.rest.sync_clock().await
    }

    /// A REST depth snapshot (`GET /api/v3/depth`) with `limit` levels per side.
    pub async fn depth_snapshot(
        &self,
        venue_symbol: &str,
        limit: u32,
    ) -> Result<BookSnapshot, ExchangeError> {
        let raw = self.shared.rest.depth(venue_symbol, limit).await?;
        Ok(parse::book_snapshot(venue_symbol, raw))
    }

    /// Maps an order answer; an answer we cannot read leaves the outcome unknown.
    fn snapshot(&self, raw: BinanceOrder) -> Result<OrderSnapshot, ExchangeError> {
        parse::order_snapshot(raw).map_err(|e| {
            self.shared.counters.malformed("rest_order", &e);
            ExchangeError::unknown(format!("unreadable order answer: {e}"))
        })
    }
}

/// A venue trade id as Binance numbers it; anything else is refused locally.
fn trade_id(id: &str) -> Result<u64, ExchangeError> {
    id.parse::<u64>().map_err(|_| ExchangeError::Rejected {
        code: None,
        message: format!("binance trade ids are integers, got '{id}'"),
    })
}

/// A venue order id as Binance numbers it; anything else is refused locally.
fn order_id(id: &str) -> Result<u64, ExchangeError> {
    id.parse::<u64>().map_err(|_| ExchangeError::Rejected {
        code: None,
        message: format!("binance order ids are integers, got '{id}'"),
    })
}

impl std::fmt::Debug for BinanceExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BinanceExchange")
            .field("config", &self.shared.config)
            .finish()
    }
}

#[async_trait]
impl Exchange for BinanceExchange {
    fn venue(&self) -> &VenueId {
        &self.shared.config.venue
    }

    async fn instruments(&self) -> Result<Vec<Instrument>, ExchangeError> {
        let info = self.shared.rest.exchange_info().await?;
        Ok(parse::instruments(&self.shared.config.venue, info))
    }

    async fn submit_order(&self, order: &NewOrder) -> Placement {
        let (result, signed_timestamp_ms) = self.shared.rest.place_order(order).await;
        if result.is_ok() {
            self.shared.owed.owe(&order.client_order_id);
        }
        Placement {
            result: result.and_then(|raw| self.snapshot(raw)),
            signed_timestamp_ms,
        }
    }

    fn venue_time_ms(&self) -> i64 {
        self.shared
            .rest
            .clock
            .now_ms()
            .unwrap_or_else(auth::local_now_ms)
    }

    async fn cancel_order(
        &self,
        venue_symbol: &str,
        client_order_id: &str,
    ) -> Result<OrderSnapshot, ExchangeError> {
        let raw = self
            .shared
            .rest
            .cancel_order(venue_symbol, client_order_id)
            .await?;
        self.shared.owed.owe(client_order_id);
        self.snapshot(raw)
    }

    async fn amend_order(
        &self,
        venue_symbol: &str,
        client_order_id: &str,
        new_quantity: Decimal,
    ) -> Result<OrderSnapshot, ExchangeError> {
        let raw = self
            .shared
            .rest
            .amend_order(venue_symbol, client_order_id, new_quantity)
            .await?;
        // The venue reports the amend on the user stream (`REPLACED`).
        self.shared.owed.owe(client_order_id);
        self.snapshot(raw)
    }

    async fn query_order(
        &self,
        venue_symbol: &str,
        client_order_id: &str,
    ) -> Result<OrderSnapshot, ExchangeError> {
        let raw = self
            .shared
            .rest
            .query_order(venue_symbol, client_order_id, false)
            .await?;
        self.snapshot(raw)
    }

    async fn open_orders(
        &self,
        venue_symbol: Option<&str>,
    ) -> Result<Vec<OrderSnapshot>, ExchangeError> {
        // One unreadable order fails the whole call: reconciliation must not miss an order.
        let raw = self.shared.rest.open_orders(venue_symbol).await?;
        raw.into_iter().map(|o| self.snapshot(o)).collect()
    }

    async fn balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        let raw = self.shared.rest.account().await?;
        Ok(parse::account_balances(raw))
    }

    async fn order_fills(
        &self,
        venue_symbol: &str,
        venue_order_id: &str,
    ) -> Result<Vec<Fill>, ExchangeError> {
        let trades = self
            .shared
            .rest
            .my_trades(venue_symbol, venue_order_id)
            .await?;
        if trades.is_empty() {
            return Ok(Vec::new());
        }
        // myTrades does not carry the client order id; the order itself does.
        let order = self
            .shared
            .rest
            .query_order(venue_symbol, venue_order_id, true)
            .await?;
        Ok(parse::my_trade_fills(trades, &order.client_order_id))
    }

    async fn fills_since(
        &self,
        venue_symbol: &str,
        after_trade_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Fill>, ExchangeError> {
        let after = after_trade_id.map(trade_id).transpose()?;
        // `fromId` is inclusive: start right after the last trade we have.
        let from_id = after.map(|id| id.saturating_add(1));
        let mut trades = self
            .shared
            .rest
            .my_trades_from(venue_symbol, from_id, limit)
            .await?;
        trades.retain(|t| after.is_none_or(|after| u64::try_from(t.id).is_ok_and(|id| id > after)));
        trades.sort_by_key(|t| t.id);
        // myTrades does not carry the client order id: the daemon matches by venue order id.
        Ok(parse::my_trade_fills(trades, ""))
    }

    async fn orders_since(
        &self,
        venue_symbol: &str,
        from_order_id: Option<&str>,
        start_time_ms: Option<i64>,
        limit: u32,
    ) -> Result<Vec<OrderSnapshot>, ExchangeError> {
        let from_id = from_order_id.map(order_id).transpose()?;
        let raw = self
            .shared
            .rest
            .all_orders(venue_symbol, from_id, start_time_ms, limit)
            .await?;
        // One unreadable order fails the whole page: the caller pages by the last id and must
        // not step over an order it could not read.
        let mut orders = raw
            .into_iter()
            .map(|o| self.snapshot(o))
            .collect::<Result<Vec<_>, _>>()?;
        orders.sort_by_key(|o| o.venue_order_id.parse::<u64>().unwrap_or(u64::MAX));
        Ok(orders)
    }

    fn health(&self) -> VenueHealth {
        let shared = &self.shared;
        let counters = &shared.counters;
        VenueHealth {
            venue: shared.config.venue.clone(),
            breakers: shared.rest.breakers.all().map(|b| b.health()).to_vec(),
            limiter: shared.rest.limiter.health(),
            clock: shared.rest.clock.health(),
            streams: vec![counters.user.snapshot(), counters.market.snapshot()],
            books: counters.books.snapshot(),
            malformed_messages_total: counters.malformed.load(Ordering::Relaxed),
        }
    }

    fn spawn_user_stream(
        &self,
        events_tx: mpsc::Sender<UserEvent>,
        shutdown: CancellationToken,
    ) -> JoinHandle<()> {
        tokio::spawn(ws::user::run(self.shared.clone(), events_tx, shutdown))
    }

    fn spawn_market_stream(
        &self,
        venue_symbols: Vec<String>,
        events_tx: mpsc::Sender<MarketEvent>,
        shutdown: CancellationToken,
    ) -> JoinHandle<()> {
        // Two streams per symbol; as many connections as the per-connection cap needs, each
        // with its own books. The returned task ends once every connection's task has.
        let per_connection = (self.shared.config.max_streams_per_connection / 2).max(1);
        let connections: Vec<JoinHandle<()>> = venue_symbols
            .chunks(per_connection)
            .map(|symbols| {
                tokio::spawn(ws::market::run(
                    self.shared.clone(),
                    symbols.to_vec(),
                    events_tx.clone(),
                    shutdown.clone(),
                ))
            })
            .collect();
        tokio::spawn(async move {
            for connection in connections {
                if let Err(e) = connection.await
                    && e.is_panic()
                {
                    std::panic::resume_unwind(e.into_panic());
                }
            }
        })
    }
}
