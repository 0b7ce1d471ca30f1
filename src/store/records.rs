//! The records the store reads and writes, and the batch one OMS turn commits.

use exchange_core::{OrderStatus, OrderType, Side, TimeInForce};
use rust_decimal::Decimal;
use serde::Serialize;

/// An order as stored: the current state plus its identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderRecord {
    pub id: i64,
    pub venue: String,
    pub account: String,
    /// Canonical instrument name, e.g. `BTC-USDT`.
    pub symbol: String,
    pub venue_symbol: String,
    pub client_order_id: String,
    pub venue_order_id: Option<String>,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    pub quantity: Decimal,
    pub price: Option<Decimal>,
    pub status: OrderStatus,
    pub filled_quantity: Decimal,
    pub cumulative_quote: Decimal,
    pub reject_reason: Option<String>,
    pub idempotency_key: String,
    /// Hash of the request body that created the order (to refuse a reused key with a new body).
    pub request_hash: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// The current status was inferred by omsd, not stated by the venue: the order stays in the
    /// working set ([`super::Store::live_orders`]) until the venue shows it.
    pub status_inferred: bool,
}

/// A new order intent, written as `pending_new` before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrderRecord {
    pub venue: String,
    pub account: String,
    pub symbol: String,
    pub venue_symbol: String,
    pub client_order_id: String,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    pub quantity: Decimal,
    pub price: Option<Decimal>,
    pub idempotency_key: String,
    pub request_hash: String,
    pub created_at_ms: i64,
}

/// Outcome of [`super::Store::create_order`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    /// A new order row was written (status `pending_new`).
    Created(OrderRecord),
    /// The idempotency key (or the client order id) was already used: the existing order.
    Existing(OrderRecord),
}

/// A fill as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FillRecord {
    pub order_id: i64,
    pub venue: String,
    pub venue_symbol: String,
    pub trade_id: String,
    pub side: Side,
    pub price: Decimal,
    pub quantity: Decimal,
    pub fee: Decimal,
    pub fee_asset: Option<String>,
    pub is_maker: bool,
    pub time_ms: i64,
}

/// One change to an order decided by the OMS: the new current state, an audit event and any
/// fills. Written in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderChange {
    pub order_id: i64,
    pub status: OrderStatus,
    pub filled_quantity: Decimal,
    pub cumulative_quote: Decimal,
    /// The order's new quantity after an amend; `None` leaves it as stored.
    pub quantity: Option<Decimal>,
    pub venue_order_id: Option<String>,
    pub reject_reason: Option<String>,
    /// Short bounded event kind for the audit row, e.g. `ack`, `execution`, `cancel_requested`.
    pub event_kind: String,
    /// Free-form JSON detail for the audit row.
    pub event_detail: serde_json::Value,
    pub fills: Vec<FillRecord>,
    pub time_ms: i64,
    /// Sets `status_inferred`: `status` is omsd's inference, not the venue's word.
    pub status_inferred: bool,
}

/// What [`super::Store::apply_change`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeOutcome {
    /// Fills newly inserted; the rest were already stored (duplicates).
    pub fills_inserted: usize,
}

/// Filters for listing orders. `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    pub venue: Option<String>,
    pub symbol: Option<String>,
    pub status: Option<OrderStatus>,
    /// Maximum rows, newest first.
    pub limit: i64,
}

/// An audit event as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderEventRecord {
    pub order_id: i64,
    pub kind: String,
    pub status: OrderStatus,
    pub detail: serde_json::Value,
    pub time_ms: i64,
}

/// A stored audit event with its sequence (the `order_events` id) and the order it is about,
/// as the live event feed replays it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SequencedEvent {
    /// The `order_events` id: increasing in commit order (ids of a rolled-back batch are never
    /// used, so the sequence may have gaps).
    pub seq: i64,
    pub venue: String,
    pub symbol: String,
    pub client_order_id: String,
    pub event: OrderEventRecord,
}

/// A venue account's balance of one asset, as last reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BalanceRecord {
    pub venue: String,
    pub account: String,
    pub asset: String,
    pub free: Decimal,
    pub locked: Decimal,
    pub updated_at_ms: i64,
}

/// A fill the venue reported that matches no stored order, kept until an order adopts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnmatchedFillRecord {
    pub venue: String,
    pub venue_symbol: String,
    pub venue_order_id: String,
    /// Empty when the venue did not say.
    pub client_order_id: String,
    pub trade_id: String,
    pub side: Side,
    pub price: Decimal,
    pub quantity: Decimal,
    pub fee: Decimal,
    pub fee_asset: Option<String>,
    pub is_maker: bool,
    pub time_ms: i64,
}

/// How far a backfill of one venue symbol has read: `kind` is `trades` or `orders`, `value`
/// the last venue id seen (as the venue writes it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Watermark {
    pub venue: String,
    pub venue_symbol: String,
    pub kind: String,
    pub value: String,
}

/// An idempotency key and the order it created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdempotencyKeyRecord {
    pub key: String,
    pub order_id: i64,
    pub request_hash: String,
}

/// Everything one OMS turn writes, in ONE transaction (group commit).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteBatch {
    /// New orders (`pending_new`) with their idempotency key and `created` event; an entry whose
    /// idempotency key or (venue, account, client order id) is taken writes nothing.
    pub new_orders: Vec<NewOrderRecord>,
    /// Changes to stored orders, in order (several may name the same order: the row ends as the
    /// last one says; every change appends its event; fills already stored are skipped).
    pub changes: Vec<OrderChange>,
    /// Upserts.
    pub balances: Vec<BalanceRecord>,
    /// Inserted unless stored.
    pub unmatched_fills: Vec<UnmatchedFillRecord>,
    /// Unmatched fills now attached to an order: deleted, by (venue, venue_symbol, venue_order_id).
    pub claimed_unmatched: Vec<(String, String, String)>,
    /// Upserts.
    pub watermarks: Vec<Watermark>,
    /// Upserts of `settings` (key, JSON value).
    pub settings: Vec<(String, serde_json::Value)>,
}

impl WriteBatch {
    /// Whether the batch writes nothing at all.
    pub fn is_empty(&self) -> bool {
        self.new_orders.is_empty()
            && self.changes.is_empty()
            && self.balances.is_empty()
            && self.unmatched_fills.is_empty()
            && self.claimed_unmatched.is_empty()
            && self.watermarks.is_empty()
            && self.settings.is_empty()
    }
}

/// What [`super::Store::write_batch`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// One per `new_orders` entry, same order: `Some(stored order)` when written, `None` when
    /// its key or client order id was taken (nothing written for it).
    pub created: Vec<Option<OrderRecord>>,
    /// Fills newly inserted by `changes` (the rest were already stored).
    pub fills_inserted: usize,
    /// The `order_events` ids the batch wrote, ascending, in the order of its events: one per
    /// created order (in `new_orders` order, `None` entries of `created` have none), then one
    /// per entry of `changes`.
    pub event_seqs: Vec<i64>,
}
