//! Applying one change to one live order in memory: run the state machine, keep each fill once,
//! queue the order row, its event row and its new fills for the next group commit, count,
//! broadcast, and check that the fills add up.

use exchange_core::{ExecutionKind, ExecutionReport, Fill, OrderSnapshot, OrderStatus};
use rust_decimal::Decimal;
use serde_json::json;

use super::actor::{Oms, now_ms};
use super::state::{NextState, Observation, amended_quantity, next_state};
use crate::store::{FillRecord, OrderChange, OrderRecord};
use crate::telemetry;

/// Reason recorded for an order omsd inferred the venue never accepted.
pub(super) const NOT_ACCEPTED: &str = "not_accepted_by_venue";

/// Most trade fetches for one order whose fills do not add up, before an operator must look.
const MAX_FILL_FETCHES: u32 = 3;

/// What a change asks for: a venue observation through the state machine, or a local status.
pub(super) enum Target {
    Observed(Observation),
    Local(OrderStatus),
    /// Only fills (a backfill); the order's state is left as it is.
    Fills,
    /// No change, only an audit event with this detail (an amend asked for or refused).
    Note(serde_json::Value),
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
        Change::new(observation(s, authoritative), s.fills.clone(), kind)
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
                quantity: Some(r.quantity),
                authoritative: false,
                inferred: false,
            },
            r.fill.clone().into_iter().collect(),
            "execution",
        )
    }

    /// Replaces the fills this change reports.
    pub(super) fn set_fills(&mut self, fills: Vec<Fill>) {
        self.fills = fills;
    }

    /// A rejection: stated by the venue (`inferred` false) or inferred by omsd.
    pub(super) fn rejected(reason: String, kind: &'static str, inferred: bool) -> Change {
        Change::new(
            Observation {
                status: OrderStatus::Rejected,
                filled_quantity: Decimal::ZERO,
                cumulative_quote: Decimal::ZERO,
                venue_order_id: None,
                reject_reason: Some(reason),
                quantity: None,
                authoritative: false,
                inferred,
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

    /// An audit event about the order that changes nothing in it.
    pub(super) fn note(kind: &'static str, detail: serde_json::Value) -> Change {
        Change {
            target: Target::Note(detail),
            fills: Vec::new(),
            kind,
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

/// A venue snapshot as an observation.
pub(super) fn observation(s: &OrderSnapshot, authoritative: bool) -> Observation {
    Observation {
        status: s.status,
        filled_quantity: s.filled_quantity,
        cumulative_quote: s.cumulative_quote,
        venue_order_id: Some(s.venue_order_id.clone()),
        reject_reason: None,
        quantity: Some(s.quantity),
        authoritative,
        inferred: false,
    }
}

impl Oms {
    /// Applies a change to a live order; returns `applied`, `duplicate`, `stale` or
    /// `unknown_order` for metrics.
    pub(super) fn observe(&mut self, order_id: i64, change: Change) -> &'static str {
        let Some(live) = self.work.get_mut(order_id) else {
            return "unknown_order";
        };
        let current = &live.order;
        let mut next = match &change.target {
            Target::Observed(obs) => next_state(current, obs),
            Target::Local(status) => (*status != current.status).then_some(NextState {
                status: *status,
                filled_quantity: current.filled_quantity,
                cumulative_quote: current.cumulative_quote,
                status_inferred: false,
                revised: false,
            }),
            Target::Fills | Target::Note(_) => None,
        };
        let amended = match &change.target {
            Target::Observed(obs) => amended_quantity(current, obs),
            _ => None,
        };
        let mut new_fills: Vec<FillRecord> = Vec::new();
        for fill in &change.fills {
            let seen = live.fills.iter().any(|s| s.trade_id == fill.trade_id)
                || new_fills.iter().any(|s| s.trade_id == fill.trade_id);
            if !seen {
                new_fills.push(fill_record(current, fill));
            }
        }
        if next.is_none() && current.status_inferred && !new_fills.is_empty() {
            // A trade of an order omsd thought the venue never accepted: venue truth. Its
            // state is asked for next (after_change sees `unknown` and queries).
            next = Some(NextState {
                status: OrderStatus::Unknown,
                filled_quantity: current.filled_quantity,
                cumulative_quote: current.cumulative_quote,
                status_inferred: false,
                revised: true,
            });
        }
        let note = matches!(change.target, Target::Note(_));
        if next.is_none() && new_fills.is_empty() && amended.is_none() && !note {
            self.work.evict_if_done(order_id);
            return if change.fills.is_empty() {
                "stale"
            } else {
                "duplicate"
            };
        }
        let before = live.order.clone();
        let order = &mut live.order;
        if let Some(n) = &next {
            order.status = n.status;
            order.filled_quantity = n.filled_quantity;
            order.cumulative_quote = n.cumulative_quote;
            order.status_inferred = n.status_inferred;
        }
        if let Some(quantity) = amended {
            order.quantity = quantity;
        }
        let mut detail = match &change.target {
            Target::Observed(obs) => {
                if obs.venue_order_id.is_some() {
                    order.venue_order_id.clone_from(&obs.venue_order_id);
                }
                if next.is_some() && obs.reject_reason.is_some() {
                    order.reject_reason.clone_from(&obs.reject_reason);
                }
                json!({
                    "venue_status": obs.status,
                    "venue_filled_quantity": obs.filled_quantity.to_string(),
                    "authoritative": obs.authoritative,
                    "inferred": obs.inferred,
                    "reason": obs.reject_reason,
                    "amended_quantity": amended.map(|q| q.to_string()),
                    "new_fills": new_fills.iter().map(|f| f.trade_id.clone()).collect::<Vec<_>>(),
                })
            }
            Target::Local(_) => json!({ "from": before.status }),
            Target::Fills => {
                json!({ "new_fills": new_fills.iter().map(|f| f.trade_id.clone()).collect::<Vec<_>>() })
            }
            Target::Note(detail) => detail.clone(),
        };
        // Recorded with every event, so that a replay of the event feed shows it as it was.
        if let Some(fields) = detail.as_object_mut() {
            fields.insert(
                "filled_quantity".into(),
                order.filled_quantity.to_string().into(),
            );
        }
        let revised = next.as_ref().is_some_and(|n| n.revised);
        let time_ms = now_ms();
        order.updated_at_ms = time_ms;
        telemetry::fills_stored(&order.venue, new_fills.len());
        live.fills.extend(new_fills.iter().cloned());
        if before.filled_quantity != order.filled_quantity {
            live.fill_fetches = 0;
        }
        live.unwritten += 1;
        let row = OrderChange {
            order_id,
            status: order.status,
            filled_quantity: order.filled_quantity,
            cumulative_quote: order.cumulative_quote,
            quantity: amended,
            venue_order_id: order.venue_order_id.clone(),
            reject_reason: order.reject_reason.clone(),
            event_kind: if revised { "revised" } else { change.kind }.to_string(),
            event_detail: detail,
            fills: new_fills,
            time_ms,
            status_inferred: order.status_inferred,
        };
        let order = order.clone();
        if order.status != OrderStatus::PendingCancel {
            live.wake_cancellers();
        }
        let turn = self.commit.turn();
        turn.batch.changes.push(row);
        turn.touched.push(order_id);
        turn.subjects.push(super::events::Subject::of(&order));
        if order.status != before.status {
            telemetry::order_transition(
                &order.venue,
                order.id,
                before.status.as_str(),
                order.status.as_str(),
            );
        }
        if revised {
            self.count_discrepancy(&order, "inferred_revised");
        }
        self.after_change(order_id);
        "applied"
    }

    /// Follow-ups of a change: fetch trades when the fills do not add up, ask the venue when
    /// the state is unknown or the fills show more than the state, and let a finished order
    /// leave memory.
    pub(super) fn after_change(&mut self, order_id: i64) {
        enum Next {
            Resolve,
            FetchFills,
            Nothing,
        }
        let Some(live) = self.work.get_mut(order_id) else {
            return;
        };
        let by_fills = live.filled_by_fills();
        let filled = live.order.filled_quantity;
        let unknown = live.order.status == OrderStatus::Unknown;
        let next = if (by_fills > filled || unknown)
            && live.resolver.is_none()
            && live.send_bound_venue_ms.is_some()
        {
            Next::Resolve
        } else if by_fills < filled && !live.fetching_fills && live.order.venue_order_id.is_some() {
            live.fill_fetches += 1;
            match live.fill_fetches.cmp(&(MAX_FILL_FETCHES + 1)) {
                std::cmp::Ordering::Less => Next::FetchFills,
                std::cmp::Ordering::Equal => {
                    telemetry::fills_incomplete(&live.order.venue);
                    tracing::error!(order_id, %filled, %by_fills, "an order's fills do not add up to its filled quantity after fetching its trades");
                    Next::Nothing
                }
                std::cmp::Ordering::Greater => Next::Nothing,
            }
        } else {
            Next::Nothing
        };
        match next {
            Next::Resolve => super::resolve::spawn_resolve(self, order_id),
            Next::FetchFills => super::resolve::spawn_fetch_fills(self, order_id),
            Next::Nothing => {}
        }
        self.work.evict_if_done(order_id);
    }
}

/// A state in which omsd waits for the venue's word.
pub(super) fn is_waiting(status: OrderStatus) -> bool {
    matches!(
        status,
        OrderStatus::PendingNew | OrderStatus::Unknown | OrderStatus::PendingCancel
    )
}

pub(super) fn fill_record(order: &OrderRecord, f: &Fill) -> FillRecord {
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
