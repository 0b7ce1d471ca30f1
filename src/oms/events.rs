//! The live order events: what the actor broadcasts once a batch is committed, and what a
//! replay rebuilds from the store. Both paths build an [`OrderEvent`] from the same stored
//! form ([`SequencedEvent`]), so a subscriber cannot tell a replayed event from a live one.
//!
//! Sequence: each event's `seq` is its `order_events` id. The actor writes one batch at a
//! time and broadcasts a batch's events, in id order, only after it committed, so subscribers
//! see sequences strictly increasing and every committed event (ids of a batch that was
//! rolled back are never used: the sequence may have gaps, never a missing event).

use std::collections::HashSet;

use exchange_core::OrderStatus;
use rust_decimal::Decimal;
use serde::Serialize;

use super::actor::Oms;
use super::commit::Turn;
use crate::store::{self, BatchOutcome, FillRecord, OrderEventRecord, OrderRecord, SequencedEvent};

/// One stored change of an order, as live subscribers receive it.
///
/// ```json
/// {"seq": 42, "order_id": 7, "venue": "binance", "symbol": "BTC-USDT",
///  "client_order_id": "omsd-...", "kind": "execution_report", "status": "partially_filled",
///  "filled_quantity": "0.002", "time_ms": 1764806400000,
///  "fills": [{"trade_id": "981", "price": "64000.1", "quantity": "0.002", "fee": "0.0000002",
///             "fee_asset": "BTC", "is_maker": false, "time_ms": 1764806399990}]}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OrderEvent {
    /// The `order_events` id.
    pub seq: i64,
    pub order_id: i64,
    pub venue: String,
    pub symbol: String,
    pub client_order_id: String,
    /// What happened (`created`, `ack`, `execution_report`, `cancel_requested`, ...).
    pub kind: String,
    /// The order's status after the event.
    pub status: OrderStatus,
    /// The order's filled quantity after the event (`None` for events stored before it was
    /// recorded with them).
    pub filled_quantity: Option<Decimal>,
    pub time_ms: i64,
    /// Fills this event stored; an event with fills is a `fill` event.
    pub fills: Vec<EventFill>,
}

/// A fill carried by an [`OrderEvent`] (and shown with an order); decimals normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct EventFill {
    pub trade_id: String,
    pub price: Decimal,
    pub quantity: Decimal,
    pub fee: Decimal,
    pub fee_asset: Option<String>,
    pub is_maker: bool,
    pub time_ms: i64,
}

impl From<&FillRecord> for EventFill {
    fn from(f: &FillRecord) -> EventFill {
        EventFill {
            trade_id: f.trade_id.clone(),
            price: f.price.normalize(),
            quantity: f.quantity.normalize(),
            fee: f.fee.normalize(),
            fee_asset: f.fee_asset.clone(),
            is_maker: f.is_maker,
            time_ms: f.time_ms,
        }
    }
}

impl OrderEvent {
    /// The event a stored row describes; `fills` are fills of its order, of which those the
    /// row names (`detail.new_fills`) are carried.
    pub fn from_stored(stored: &SequencedEvent, fills: &[FillRecord]) -> OrderEvent {
        let event = &stored.event;
        let named: HashSet<&str> = event.detail["new_fills"]
            .as_array()
            .map(|ids| ids.iter().filter_map(|id| id.as_str()).collect())
            .unwrap_or_default();
        let filled_quantity = match event.detail["filled_quantity"].as_str() {
            Some(text) => text.parse().ok(),
            // A new order row starts with nothing filled.
            None if event.kind == "created" => Some(Decimal::ZERO),
            None => None,
        };
        OrderEvent {
            seq: stored.seq,
            order_id: event.order_id,
            venue: stored.venue.clone(),
            symbol: stored.symbol.clone(),
            client_order_id: stored.client_order_id.clone(),
            kind: event.kind.clone(),
            status: event.status,
            filled_quantity,
            time_ms: event.time_ms,
            fills: fills
                .iter()
                .filter(|f| f.order_id == event.order_id && named.contains(f.trade_id.as_str()))
                .map(EventFill::from)
                .collect(),
        }
    }

    /// `fill` when the event stored fills, `order` otherwise (the SSE event name).
    pub fn name(&self) -> &'static str {
        if self.fills.is_empty() {
            "order"
        } else {
            "fill"
        }
    }
}

/// Who a change in a pending batch is about (its order may leave memory before the batch is
/// committed and broadcast).
pub(super) struct Subject {
    venue: String,
    symbol: String,
    client_order_id: String,
}

impl Subject {
    pub fn of(order: &OrderRecord) -> Subject {
        Subject {
            venue: order.venue.clone(),
            symbol: order.symbol.clone(),
            client_order_id: order.client_order_id.clone(),
        }
    }

    fn sequenced(&self, seq: i64, event: OrderEventRecord) -> SequencedEvent {
        SequencedEvent {
            seq,
            venue: self.venue.clone(),
            symbol: self.symbol.clone(),
            client_order_id: self.client_order_id.clone(),
            event,
        }
    }
}

impl Oms {
    /// Broadcasts the events of a committed batch, in sequence order: the created orders'
    /// events first, then one per change (the order [`store::BatchOutcome::event_seqs`] has).
    pub(super) fn publish_committed(&self, outcome: &BatchOutcome, turn: &Turn) {
        if self.events_tx.receiver_count() == 0 {
            return;
        }
        let mut seqs = outcome.event_seqs.iter().copied();
        let mut events = Vec::with_capacity(outcome.event_seqs.len());
        for order in outcome.created.iter().flatten() {
            let Some(seq) = seqs.next() else { break };
            let stored = Subject::of(order).sequenced(seq, store::created_event(order));
            events.push(OrderEvent::from_stored(&stored, &[]));
        }
        for (change, subject) in turn.batch.changes.iter().zip(&turn.subjects) {
            let Some(seq) = seqs.next() else { break };
            let stored = subject.sequenced(seq, store::change_event(change));
            events.push(OrderEvent::from_stored(&stored, &change.fills));
        }
        let written = outcome.created.iter().flatten().count() + turn.batch.changes.len();
        if events.len() != written || seqs.next().is_some() {
            tracing::error!(
                written,
                sequences = outcome.event_seqs.len(),
                "a committed batch's event sequences do not match its events: not broadcast (a subscriber resuming from the store reads them)"
            );
            return;
        }
        for event in events {
            let _ = self.events_tx.send(event);
        }
    }
}
