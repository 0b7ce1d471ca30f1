//! What venues tell the OMS: answers to sends and cancels, "not found" answers, user-stream
//! events, balances, adopted orders and fills that match no order.
//!
//! A failed call never overwrites a state the venue reported (only `pending_new` and
//! `pending_cancel` may become `unknown`); `-2010 Duplicate order sent.` means the order exists
//! and is resolved by asking, never rejected; "not found" becomes an inferred rejection only
//! when the last send can no longer be accepted and two answers spaced in time agree.

use exchange_core::{
    Balance, ExchangeError, Fill, OrderSnapshot, OrderStatus, Placement, UserEvent,
};
use tokio::sync::oneshot;

use super::actor::{Oms, now_ms};
use super::apply::{Change, NOT_ACCEPTED, is_waiting};
use super::commit::Effect;
use super::ids::CLIENT_ID_PREFIX;
use super::state::may_become_unknown;
use crate::store::{BalanceRecord, NewOrderRecord, UnmatchedFillRecord};
use crate::telemetry;

/// Clock uncertainty allowed on top of the receive window before "not found" means "never".
const INFERENCE_MARGIN_MS: i64 = 1_000;
/// Least spacing of the two "not found" answers an inference needs.
const CONFIRMATION_SPACING_MS: i64 = 1_000;

impl Oms {
    pub(super) fn on_placed(&mut self, order_id: i64, placement: Placement, bound_venue_ms: i64) {
        let Some(live) = self.work.get_mut(order_id) else {
            return;
        };
        let status = live.order.status;
        let venue = live.order.venue.clone();
        // The send is signed at or before this venue time; nothing later can be accepted.
        live.send_bound_venue_ms = Some(placement.signed_timestamp_ms.unwrap_or(bound_venue_ms));
        match placement.result {
            Ok(snapshot) => {
                self.observe(order_id, Change::from_snapshot(&snapshot, false, "ack"));
            }
            Err(ExchangeError::Duplicate { message }) => {
                // The venue already has this client order id: the order exists. Ask for it.
                tracing::info!(order_id, %message, "venue reports a duplicate client order id; resolving");
                if may_become_unknown(status) {
                    self.observe(order_id, Change::local(OrderStatus::Unknown, "duplicate"));
                } else {
                    super::resolve::spawn_resolve(self, order_id);
                }
            }
            Err(
                e @ (ExchangeError::Rejected { .. }
                | ExchangeError::Auth { .. }
                | ExchangeError::NotFound { .. }
                | ExchangeError::Unavailable { .. }),
            ) if is_waiting(status) => {
                // Definitive: the venue refused it, or it was never sent (breaker open, venue
                // paused or banned, in-flight cap reached).
                telemetry::order_rejected(&venue, e.kind(), &e.to_string());
                self.observe(order_id, Change::rejected(e.to_string(), "rejected", false));
            }
            Err(e) if may_become_unknown(status) => {
                tracing::warn!(order_id, %venue, error = %e, "order outcome unknown; asking the venue");
                self.observe(
                    order_id,
                    Change::local(OrderStatus::Unknown, "send_unknown"),
                );
            }
            Err(e) => {
                // The venue already reported this order (the stream was faster): a late
                // failure of the call changes nothing.
                telemetry::late_send_failure(&venue);
                tracing::info!(order_id, %venue, %status, error = %e, "send failed after the venue reported the order; state kept");
            }
        }
        if let Some(live) = self.work.get_mut(order_id) {
            live.wake_senders();
        }
    }

    pub(super) fn on_cancel_answered(
        &mut self,
        order_id: i64,
        result: Result<OrderSnapshot, ExchangeError>,
    ) {
        match result {
            Ok(snapshot) => {
                let change = Change::from_snapshot(&snapshot, true, "cancel_ack");
                self.observe(order_id, change);
            }
            Err(e) => {
                // Refused, unknown or lost: the venue's own answer decides the state.
                tracing::info!(order_id, error = %e, "cancel not confirmed; querying the order");
                super::resolve::spawn_resolve(self, order_id);
            }
        }
    }

    /// A query found no such order at venue time `venue_ms`.
    pub(super) fn on_not_found(&mut self, order_id: i64, venue_ms: i64) {
        let Some(live) = self.work.get_mut(order_id) else {
            return;
        };
        if !is_waiting(live.order.status) {
            return;
        }
        let Some(bound) = live.send_bound_venue_ms else {
            return; // a send is still in flight: it may yet be signed and accepted
        };
        let Some(venue) = self.venues.get(&live.order.venue) else {
            return;
        };
        let window = venue.config.recv_window_ms as i64 + INFERENCE_MARGIN_MS;
        if venue_ms <= bound + window {
            return;
        }
        live.not_found_at.push(venue_ms);
        let first = live.not_found_at.first().copied().unwrap_or(venue_ms);
        if venue_ms - first < CONFIRMATION_SPACING_MS {
            return;
        }
        if let Some(resolver) = live.resolver.take() {
            resolver.cancel();
        }
        let venue_name = live.order.venue.clone();
        telemetry::unknown_resolved(&venue_name, order_id, "not_on_venue");
        tracing::warn!(order_id, venue = %venue_name, "order not found on the venue twice after it could no longer be accepted: recorded as an inferred rejection");
        self.observe(
            order_id,
            Change::rejected(NOT_ACCEPTED.into(), "inferred_not_accepted", true),
        );
    }

    pub(super) fn on_user_event(&mut self, venue: &str, event: UserEvent) {
        let Some(v) = self.venues.get(venue).cloned() else {
            return;
        };
        match event {
            UserEvent::Connected => {
                v.set_user_stream_up(true);
                telemetry::user_stream_connected(venue);
                self.start_reconcile(venue, None);
            }
            UserEvent::Disconnected { reason } => {
                let was_up = v.user_stream_up();
                v.set_user_stream_up(false);
                telemetry::user_stream_disconnected(venue, &reason);
                if was_up {
                    super::reconcile::spawn_poller(self, &v, self.poll_interval);
                }
            }
            UserEvent::Gap { reason } => {
                // An execution report we could not read may carry a fill: ask the venue now.
                telemetry::user_stream_gap(venue);
                tracing::warn!(venue, %reason, "unreadable execution report: reconciling");
                self.start_reconcile(venue, None);
            }
            UserEvent::Execution(report) => {
                match self
                    .work
                    .revive_by_client_id(venue, &report.client_order_id)
                {
                    Some(id) => {
                        let outcome = self.observe(id, Change::from_report(&report));
                        telemetry::execution_report(venue, outcome);
                    }
                    None => {
                        telemetry::execution_report(venue, "not_in_memory");
                        super::resolve::spawn_report_lookup(self, &v, report);
                    }
                }
            }
            UserEvent::Balances(balances) => self.on_balances(venue, balances, false),
        }
    }

    /// Balances from the stream (changed assets only) or a full REST snapshot (`full`).
    pub(super) fn on_balances(&mut self, venue: &str, balances: Vec<Balance>, full: bool) {
        let Some(v) = self.venues.get(venue) else {
            return;
        };
        let account = v.config.account.clone();
        if full {
            self.balances_known.insert(venue.to_string());
        }
        let time_ms = now_ms();
        for b in balances {
            let record = BalanceRecord {
                venue: venue.to_string(),
                account: account.clone(),
                asset: b.asset.clone(),
                free: b.free,
                locked: b.locked,
                updated_at_ms: time_ms,
            };
            self.commit.pending().balances.push(record.clone());
            self.balances.insert((venue.to_string(), b.asset), record);
        }
    }

    /// Records an order of ours the venue has and the store does not, then applies its state.
    pub(super) fn adopt(
        &mut self,
        venue: &str,
        snapshot: OrderSnapshot,
        fills: Vec<Fill>,
        done: Option<oneshot::Sender<()>>,
    ) {
        if let Some(id) = self
            .work
            .revive_by_client_id(venue, &snapshot.client_order_id)
        {
            let mut change = Change::from_snapshot(&snapshot, true, "reconciled");
            change.set_fills(fills);
            self.observe(id, change);
            self.commit.after(Effect::done(done));
            return;
        }
        let Some(v) = self.venues.get(venue).cloned() else {
            return;
        };
        let symbol = v
            .instrument_by_venue_symbol(&snapshot.venue_symbol)
            .map(|i| i.name.clone())
            .unwrap_or_else(|| snapshot.venue_symbol.clone());
        let record = NewOrderRecord {
            venue: venue.to_string(),
            account: v.config.account.clone(),
            symbol,
            venue_symbol: snapshot.venue_symbol.clone(),
            client_order_id: snapshot.client_order_id.clone(),
            side: snapshot.side,
            order_type: snapshot.order_type,
            time_in_force: snapshot.time_in_force,
            quantity: snapshot.quantity,
            price: snapshot.price,
            idempotency_key: format!("adopted:{venue}:{}", snapshot.client_order_id),
            request_hash: "adopted".into(),
            created_at_ms: now_ms(),
        };
        self.queue_adoption(record, snapshot, fills, done);
    }

    /// Fills no stored order has: applied if a live order has them, else kept for adoption.
    pub(super) fn keep_unmatched(
        &mut self,
        venue: &str,
        fills: Vec<Fill>,
        done: Option<oneshot::Sender<()>>,
    ) {
        let mut kept = 0;
        for fill in fills {
            if let Some(id) =
                self.work
                    .by_venue_order_id(venue, &fill.venue_symbol, &fill.venue_order_id)
            {
                self.observe(id, Change::fills(vec![fill]));
                continue;
            }
            kept += 1;
            self.commit
                .pending()
                .unmatched_fills
                .push(UnmatchedFillRecord {
                    venue: venue.to_string(),
                    venue_symbol: fill.venue_symbol.clone(),
                    venue_order_id: fill.venue_order_id.clone(),
                    client_order_id: fill.client_order_id.clone(),
                    trade_id: fill.trade_id.clone(),
                    side: fill.side,
                    price: fill.price,
                    quantity: fill.quantity,
                    fee: fill.fee,
                    fee_asset: fill.fee_asset.clone(),
                    is_maker: fill.is_maker,
                    time_ms: fill.time_ms,
                });
            if fill.client_order_id.starts_with(CLIENT_ID_PREFIX) {
                tracing::warn!(venue, trade_id = %fill.trade_id, "a fill of ours matches no stored order; kept for adoption");
            }
        }
        if kept > 0 {
            telemetry::unmatched_fills(venue, kept);
        }
        self.commit.after(Effect::done(done));
    }
}
