//! The [`Exchange`] trait: what the daemon needs from a venue, in venue-neutral terms.
//!
//! Request/response calls are async methods returning [`ExchangeError`] classified by outcome.
//! Streams are long-lived tasks the adapter spawns: they keep their connection alive (heartbeats,
//! reconnects, resync) and deliver [`UserEvent`]s or [`MarketEvent`]s on a bounded channel until
//! the cancellation token fires.

use async_trait::async_trait;
use rust_decimal::Decimal;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::book::BookUpdate;
use crate::error::ExchangeError;
use crate::health::VenueHealth;
use crate::model::{
    Balance, ExecutionReport, Fill, Instrument, NewOrder, OrderSnapshot, Trade, VenueId,
};

/// Events of the private user-data stream.
// Execution reports dominate this stream, so boxing them would only add an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserEvent {
    /// The stream is (re)established and subscribed. Events may have been missed before this:
    /// the receiver reconciles with the venue.
    Connected,
    /// The stream was lost; the adapter is reconnecting.
    Disconnected { reason: String },
    /// An order update.
    Execution(ExecutionReport),
    /// Balances that changed.
    Balances(Vec<Balance>),
    /// A frame that is (or may be) an order update could not be read, so an update may have
    /// been lost while the stream stays up: the receiver reconciles, as after `Connected`.
    Gap { reason: String },
}

/// What one placement came to: the order as the venue answered, or why not.
pub type PlaceOutcome = Result<OrderSnapshot, ExchangeError>;

/// The outcome of one order placement, with the signed timestamp of the request that went out.
///
/// The timestamp bounds when the venue could still accept the request: a request signed at `t`
/// is refused once the venue's clock passes `t + recvWindow`, so an order the venue does not
/// show long after that was never accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The venue's answer.
    pub result: PlaceOutcome,
    /// The `timestamp` parameter (venue clock, ms) of the last signed request that was sent
    /// for this order; `None` when nothing was sent (refused locally before signing).
    pub signed_timestamp_ms: Option<i64>,
}

/// Events of the public market-data streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarketEvent {
    Book(BookUpdate),
    Trade(Trade),
}

/// A venue adapter. One instance per configured venue account; cheap to share behind an `Arc`.
#[async_trait]
pub trait Exchange: Send + Sync + 'static {
    /// The configured venue name.
    fn venue(&self) -> &VenueId;

    /// Tradable instruments with their filters.
    async fn instruments(&self) -> Result<Vec<Instrument>, ExchangeError>;

    /// Sends a new order and reports the signed timestamp (see [`Placement`]). `Unknown`
    /// errors mean the order may exist, `Duplicate` that an order with this client order id
    /// already does: resolve both with [`Exchange::query_order`] using the same client order id.
    async fn submit_order(&self, order: &NewOrder) -> Placement;

    /// Sends a new order: [`Exchange::submit_order`] without the signed timestamp.
    async fn place_order(&self, order: &NewOrder) -> PlaceOutcome {
        self.submit_order(order).await.result
    }

    /// The venue's clock now, as this adapter estimates it (local clock + measured offset), ms.
    /// Before the first measurement the offset is zero.
    fn venue_time_ms(&self) -> i64;

    /// Cancels an order by client order id.
    async fn cancel_order(
        &self,
        venue_symbol: &str,
        client_order_id: &str,
    ) -> Result<OrderSnapshot, ExchangeError>;

    /// Reduces an open order's quantity to `new_quantity`, keeping its place in the queue and
    /// its client order id (Binance `order/amend/keepPriority`). `Rejected` when the venue
    /// refuses (not below the current quantity, not above what executed, too many amends),
    /// `NotFound` when it has no such open order, `Unknown` when the outcome is not known:
    /// query the order, whose quantity shows whether the amend happened.
    async fn amend_order(
        &self,
        venue_symbol: &str,
        client_order_id: &str,
        new_quantity: Decimal,
    ) -> Result<OrderSnapshot, ExchangeError>;

    /// The venue's current view of an order; `NotFound` if the venue has no such order.
    async fn query_order(
        &self,
        venue_symbol: &str,
        client_order_id: &str,
    ) -> Result<OrderSnapshot, ExchangeError>;

    /// Open orders, for one symbol or all.
    async fn open_orders(
        &self,
        venue_symbol: Option<&str>,
    ) -> Result<Vec<OrderSnapshot>, ExchangeError>;

    /// Account balances.
    async fn balances(&self) -> Result<Vec<Balance>, ExchangeError>;

    /// Every fill of one order, by the venue's order id (used to backfill fills missed while
    /// the user stream was down).
    async fn order_fills(
        &self,
        venue_symbol: &str,
        venue_order_id: &str,
    ) -> Result<Vec<Fill>, ExchangeError>;

    /// Our fills on one symbol with a venue trade id greater than `after_trade_id` (all
    /// recent ones when `None`), oldest first, at most `limit`. Used to backfill fills missed
    /// while the user stream was down: call again from the last id until fewer than `limit`
    /// come back.
    ///
    /// `Fill::client_order_id` may be empty: a venue's trade list does not always carry it
    /// (Binance `myTrades` does not). Match such fills to orders by `venue_order_id`.
    async fn fills_since(
        &self,
        venue_symbol: &str,
        after_trade_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Fill>, ExchangeError>;

    /// Orders of ours on one symbol, open and closed, ascending by venue order id: those with
    /// a venue order id >= `from_order_id` when given, else those created at or after
    /// `start_time_ms` when given (the venue may limit how far a time window reaches: no end
    /// time is sent), else the most recent; at most `limit` (venues cap it, Binance at 1000).
    /// Used to find orders a reconciliation would otherwise miss (accepted while we were not
    /// looking, already closed): call again from the last id + 1 until fewer than `limit` come
    /// back.
    async fn orders_since(
        &self,
        venue_symbol: &str,
        from_order_id: Option<&str>,
        start_time_ms: Option<i64>,
        limit: u32,
    ) -> Result<Vec<OrderSnapshot>, ExchangeError>;

    /// A snapshot of the adapter's resilience state (breakers, limiter, clock, streams,
    /// books). Cheap: no I/O.
    fn health(&self) -> VenueHealth;

    /// Spawns the user-data stream task. It sends [`UserEvent::Connected`] after every
    /// (re)subscription and runs until `shutdown` is cancelled.
    fn spawn_user_stream(
        &self,
        events_tx: mpsc::Sender<UserEvent>,
        shutdown: CancellationToken,
    ) -> JoinHandle<()>;

    /// Spawns the market-data task for the given venue symbols (books and trades).
    fn spawn_market_stream(
        &self,
        venue_symbols: Vec<String>,
        events_tx: mpsc::Sender<MarketEvent>,
        shutdown: CancellationToken,
    ) -> JoinHandle<()>;
}
