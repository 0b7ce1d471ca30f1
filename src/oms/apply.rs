//! Applying one change to one order: run the state machine, drop fills already stored, write
//! order row + event row + new fills in one transaction, count, and broadcast.

use exchange_core::{ExecutionKind, ExecutionReport, Fill, OrderSnapshot, OrderStatus};
use rust_decimal::Decimal;
use serde_json::json;

use super::OrderEvent;
use super::actor::{Oms, now_ms};
use super::state::{NextState, Observation, next_state};
use crate::store::{FillRecord, OrderChange, OrderRecord, StoreError};
use crate::telemetry;

/// What a change asks for: a venue observation through the state machine, or a local status.
pub(super) enum Target {
    Observed(Observation),
    Local(OrderStatus),
    /// Only fills (a backfill); the order's state is left as it is.
    Fills,
}

/// One change to apply, with the fills it reports and a short event kind for the audit row.
pub(super) struct Change {
    target: Target,
    fills: Vec<Fill>,
    kind: &'static str,
}

impl Change {
    pub(super) fn new(obs: Observation, fills: Vec<Fill>, kind: &'static str) -> Change {
        Change {
            target: Target::Observed(obs),
            fills,
            kind,
        }
    }

    pub(super) fn from_snapshot(
        s: &OrderSnapshot,
        authoritative: bool,
        kind: &'static str,
    ) -> Change {
        Change::new(
            Observation {
                status: s.status,
                filled_quantity: s.filled_quantity,
                cumulative_quote: s.cumulative_quote,
                venue_order_id: Some(s.venue_order_id.clone()),
                reject_reason: None,
                authoritative,
            },
            s.fills.clone(),
            kind,
        )
    }

    pub(super) fn from_report(r: &ExecutionReport) -> Change {
        let reject_reason = (r.kind == ExecutionKind::Rejected)
            .then(|| r.reject_reason.clone())
            .flatten();
        Change::new(
            Observation {
                status: r.status,
                filled_quantity: r.filled_quantity,
                cumulative_quote: r.cumulative_quote,
                venue_order_id: Some(r.venue_order_id.clone()),
                reject_reason,
                authoritative: false,
            },
            r.fill.clone().into_iter().collect(),
            "execution",
        )
    }

    /// Replaces the fills this change reports.
    pub(super) fn set_fills(&mut self, fills: Vec<Fill>) {
        self.fills = fills;
    }

    pub(super) fn rejected(reason: String, kind: &'static str) -> Change {
        Change::new(
            Observation {
                status: OrderStatus::Rejected,
                filled_quantity: Decimal::ZERO,
                cumulative_quote: Decimal::ZERO,
                venue_order_id: None,
                reject_reason: Some(reason),
                authoritative: false,
            },
            Vec::new(),
            kind,
        )
    }

    pub(super) fn fills(fills: Vec<Fill>) -> Change {
        Change {
            target: Target::Fills,
            fills,
            kind: "backfill",
        }
    }

    pub(super) fn local(status: OrderStatus, kind: &'static str) -> Change {
        Change {
            target: Target::Local(status),
            fills: Vec::new(),
            kind,
        }
    }
}

impl Oms {
    /// Applies a venue observation; returns `applied`, `duplicate` or `stale` for metrics.
    pub(super) async fn observe(
        &mut self,
        order_id: i64,
        change: Change,
    ) -> Result<&'static str, StoreError> {
        let Some(order) = self.store.get_order(order_id).await? else {
            return Ok("unknown_order");
        };
        let next = match &change.target {
            Target::Observed(obs) => next_state(&order, obs),
            Target::Local(_) | Target::Fills => None,
        };
        let new_fills = if change.fills.is_empty() {
            Vec::new()
        } else {
            let stored = self.store.fills_for_order(order.id).await?;
            change
                .fills
                .iter()
                .filter(|f| !stored.iter().any(|s| s.trade_id == f.trade_id))
                .map(|f| fill_record(&order, f))
                .collect()
        };
        if next.is_none() && new_fills.is_empty() {
            return Ok(if change.fills.is_empty() {
                "stale"
            } else {
                "duplicate"
            });
        }
        self.write(&order, change, next, new_fills).await?;
        Ok("applied")
    }

    /// Writes the change in one transaction, then counts and broadcasts it.
    pub(super) async fn write(
        &mut self,
        order: &OrderRecord,
        change: Change,
        next: Option<NextState>,
        fills: Vec<FillRecord>,
    ) -> Result<(), StoreError> {
        let (status, filled_quantity, cumulative_quote) = match (&change.target, next) {
            (_, Some(n)) => (n.status, n.filled_quantity, n.cumulative_quote),
            (Target::Local(status), None) => {
                (*status, order.filled_quantity, order.cumulative_quote)
            }
            (Target::Observed(_) | Target::Fills, None) => {
                (order.status, order.filled_quantity, order.cumulative_quote)
            }
        };
        let (venue_order_id, reject_reason, detail) = match &change.target {
            Target::Observed(obs) => (
                obs.venue_order_id.clone(),
                obs.reject_reason.clone(),
                json!({
                    "venue_status": obs.status,
                    "venue_filled_quantity": obs.filled_quantity.to_string(),
                    "authoritative": obs.authoritative,
                    "reason": obs.reject_reason,
                    "new_fills": fills.iter().map(|f| f.trade_id.clone()).collect::<Vec<_>>(),
                }),
            ),
            Target::Local(_) => (None, None, json!({ "from": order.status })),
            Target::Fills => (
                None,
                None,
                json!({ "new_fills": fills.iter().map(|f| f.trade_id.clone()).collect::<Vec<_>>() }),
            ),
        };
        let fill_count = fills.len();
        let db_change = OrderChange {
            order_id: order.id,
            status,
            filled_quantity,
            cumulative_quote,
            venue_order_id,
            reject_reason,
            event_kind: change.kind.to_string(),
            event_detail: detail,
            fills,
            time_ms: now_ms(),
        };
        let outcome = self.store.apply_change(&db_change).await?;
        telemetry::fills_stored(&order.venue, outcome.fills_inserted);
        if status != order.status {
            telemetry::order_transition(
                &order.venue,
                order.id,
                order.status.as_str(),
                status.as_str(),
            );
        }
        if fill_count != outcome.fills_inserted {
            tracing::debug!(order_id = order.id, "some fills were already stored");
        }
        let mut updated = order.clone();
        updated.status = status;
        updated.filled_quantity = filled_quantity;
        self.publish(&updated, change.kind);
        Ok(())
    }

    pub(super) fn publish(&self, order: &OrderRecord, kind: &str) {
        let _ = self.events_tx.send(OrderEvent {
            order_id: order.id,
            venue: order.venue.clone(),
            symbol: order.symbol.clone(),
            client_order_id: order.client_order_id.clone(),
            status: order.status,
            filled_quantity: order.filled_quantity,
            kind: kind.to_string(),
        });
    }
}

fn fill_record(order: &OrderRecord, f: &Fill) -> FillRecord {
    FillRecord {
        order_id: order.id,
        venue: order.venue.clone(),
        venue_symbol: order.venue_symbol.clone(),
        trade_id: f.trade_id.clone(),
        side: order.side,
        price: f.price,
        quantity: f.quantity,
        fee: f.fee,
        fee_asset: f.fee_asset.clone(),
        is_maker: f.is_maker,
        time_ms: f.time_ms,
    }
}
