//! Trader commands: submit (replay first, then validation, venue state, risk, and the intent
//! queued for the next group commit), cancel, and the kill switch; plus loading the working
//! set at start-up.

use std::collections::HashMap;

use exchange_core::{OrderStatus, Side};
use rust_decimal::Decimal;
use tokio::sync::oneshot;

use super::actor::{Oms, now_ms};
use super::apply::Change;
use super::commit::{Create, Effect, PendingKey};
use super::limits::{self, Exposure, RiskRefusal};
use super::working::{KnownKey, LiveOrder, MAX_KEYS};
use super::{
    KillSwitch, KillSwitchOutcome, KillSwitchRequest, OmsError, OrderDetail, SubmitRequest,
    Submitted, ids, risk, state,
};
use crate::store::{FillRecord, NewOrderRecord, StoreError};
use crate::telemetry;

/// The `settings` key the kill switch is stored under.
const KILL_SWITCH_KEY: &str = "kill_switch";

type SubmitReply = oneshot::Sender<Result<Submitted, OmsError>>;

impl Oms {
    pub(super) fn submit(&mut self, req: SubmitRequest, reply: SubmitReply) {
        let hash = ids::request_hash(&req);
        // An idempotent replay is answered before anything else is checked.
        if let Some(known) = self.work.key(&req.idempotency_key) {
            let _ = reply.send(same_request(known.order_id, &known.request_hash, &hash));
            return;
        }
        if let Some(pending) = self.pending_keys.get_mut(&req.idempotency_key) {
            if pending.request_hash == hash {
                pending.replays.push(reply);
            } else {
                let _ = reply.send(Err(key_reused()));
            }
            return;
        }
        match self.admit(&req, hash.clone()) {
            Ok(record) => self.queue_create(record, reply),
            Err(refusal) if !self.work.keys_complete() => {
                // The key may belong to an order older than the keys kept in memory.
                spawn_refusal_lookup(self, req.idempotency_key, hash, refusal, reply);
            }
            Err(refusal) => {
                let _ = reply.send(Err(refusal));
            }
        }
    }

    /// Every check a new order must pass, in order; the record to write when it passes.
    fn admit(&mut self, req: &SubmitRequest, hash: String) -> Result<NewOrderRecord, OmsError> {
        let venue = self
            .venues
            .get(&req.venue)
            .cloned()
            .ok_or_else(|| OmsError::Invalid {
                code: "unknown_venue",
                message: format!("venue '{}' is not configured", req.venue),
            })?;
        let instrument = risk::check(&venue, req)?;
        risk::venue_accepts_orders(&venue)?;
        if venue.reconciling() {
            return Err(OmsError::Unavailable {
                code: "venue_reconciling",
                message: format!(
                    "venue '{}' is reconciling with the exchange; retry shortly",
                    req.venue
                ),
            });
        }
        if !self.commit.store_up() {
            return Err(OmsError::store_unavailable());
        }
        if self.kill_switch.engaged {
            return Err(self.refused(&req.venue, limits::kill_switch_refusal()));
        }
        let book = self
            .mids
            .borrow()
            .get(&(req.venue.clone(), instrument.venue_symbol.clone()))
            .cloned();
        let exposure = self.exposure(&req.venue, &instrument.base);
        if let Some(limits) = self.limits.get(&req.venue) {
            limits::check_order(limits, req, &instrument, book.as_ref(), &exposure)
                .map_err(|r| self.refused(&req.venue, r))?;
        }
        if let Some(window) = self.rate_windows.get_mut(&req.venue)
            && let Err(refusal) = window.admit(now_ms())
        {
            return Err(self.refused(&req.venue, refusal));
        }
        let client_order_id = req.client_order_id.clone().unwrap_or_else(|| {
            ids::client_order_id(&req.venue, &venue.config.account, &req.idempotency_key)
        });
        Ok(NewOrderRecord {
            venue: req.venue.clone(),
            account: venue.config.account.clone(),
            symbol: req.symbol.clone(),
            venue_symbol: instrument.venue_symbol.clone(),
            client_order_id,
            side: req.side,
            order_type: req.order_type,
            time_in_force: req.time_in_force,
            quantity: req.quantity,
            price: req.price,
            idempotency_key: req.idempotency_key.clone(),
            request_hash: hash,
            created_at_ms: now_ms(),
        })
    }

    fn refused(&self, venue: &str, refusal: RiskRefusal) -> OmsError {
        telemetry::risk_refused(venue, refusal.code, &refusal.message);
        OmsError::Risk {
            code: refusal.code,
            message: refusal.message,
            limit: refusal.limit,
        }
    }

    /// What the venue's open orders and balances amount to, for the risk limits.
    fn exposure(&self, venue: &str, base: &str) -> Exposure {
        let instruments = self.venues.get(venue).map(|v| v.instruments());
        let mut open_orders_venue = self.commit.creating(venue);
        let mut open_buy_base_quantity = Decimal::ZERO;
        for live in self.work.iter() {
            let o = &live.order;
            if o.venue != venue || o.status.is_terminal() {
                continue;
            }
            open_orders_venue += 1;
            let same_base = instruments
                .as_ref()
                .and_then(|i| i.get(&o.symbol))
                .is_some_and(|i| i.base == base);
            if o.side == Side::Buy && same_base {
                open_buy_base_quantity += o.quantity - o.filled_quantity;
            }
        }
        let base_holdings = self.balances_known.contains(venue).then(|| {
            self.balances
                .get(&(venue.to_string(), base.to_string()))
                .map(|b| b.free + b.locked)
                .unwrap_or_default()
        });
        Exposure {
            open_orders_venue,
            base_holdings,
            open_buy_base_quantity,
        }
    }

    fn queue_create(&mut self, record: NewOrderRecord, waiter: SubmitReply) {
        self.pending_keys.insert(
            record.idempotency_key.clone(),
            PendingKey {
                request_hash: record.request_hash.clone(),
                replays: Vec::new(),
            },
        );
        let turn = self.commit.turn();
        turn.creates.push(Create {
            venue: record.venue.clone(),
            waiter: Some(waiter),
            adopted: None,
        });
        turn.batch.new_orders.push(record);
    }

    pub(super) fn cancel(
        &mut self,
        order_id: i64,
        reply: oneshot::Sender<Result<oneshot::Receiver<OrderDetail>, OmsError>>,
    ) {
        let _ = match self.request_cancel(order_id) {
            Ok(Some(rx)) => reply.send(Ok(rx)),
            Ok(None) => {
                // Answered once the cancel request is durable (see `request_cancel`).
                let (tx, rx) = oneshot::channel();
                if let Some(live) = self.work.get_mut(order_id) {
                    live.cancel_waiters.push(tx);
                }
                self.commit.after(Some(Effect::Reply(Box::new(move || {
                    let _ = reply.send(Ok(rx));
                }))));
                Ok(())
            }
            Err(e) => reply.send(Err(e)),
        };
    }

    /// Marks a live order `pending_cancel` and queues the cancel behind that write. `Some`
    /// when a cancel is already under way (the receiver yields its outcome).
    pub(super) fn request_cancel(
        &mut self,
        order_id: i64,
    ) -> Result<Option<oneshot::Receiver<OrderDetail>>, OmsError> {
        let live = self
            .work
            .get_mut(order_id)
            .ok_or(OmsError::NotFound(order_id))?;
        let status = live.order.status;
        if status == OrderStatus::PendingCancel {
            let (tx, rx) = oneshot::channel();
            live.cancel_waiters.push(tx);
            return Ok(Some(rx));
        }
        if !state::cancellable(status) {
            return Err(OmsError::Conflict {
                code: "order_not_cancellable",
                message: format!("order {order_id} is {status} and cannot be canceled"),
            });
        }
        if !self.commit.store_up() {
            return Err(OmsError::store_unavailable());
        }
        self.observe(
            order_id,
            Change::local(OrderStatus::PendingCancel, "cancel_requested"),
        );
        self.commit.after(Some(Effect::Cancel(order_id)));
        Ok(None)
    }

    pub(super) fn set_kill_switch(
        &mut self,
        req: KillSwitchRequest,
        reply: oneshot::Sender<Result<KillSwitchOutcome, OmsError>>,
    ) {
        if !self.commit.store_up() {
            let _ = reply.send(Err(OmsError::store_unavailable()));
            return;
        }
        let state = KillSwitch {
            engaged: req.engaged,
            reason: req.reason,
            changed_at_ms: now_ms(),
        };
        self.kill_switch = state.clone();
        telemetry::kill_switch(state.engaged);
        tracing::warn!(engaged = state.engaged, reason = ?state.reason, "kill switch changed");
        let value = serde_json::to_value(&state).unwrap_or_default();
        self.commit
            .pending()
            .settings
            .push((KILL_SWITCH_KEY.to_string(), value));
        let mut cancels_requested = 0;
        if req.engaged && req.cancel_open_orders {
            let cancellable: Vec<i64> = self
                .work
                .iter()
                .filter(|l| state::cancellable(l.order.status))
                .map(|l| l.order.id)
                .collect();
            for id in cancellable {
                if self.request_cancel(id).is_ok() {
                    cancels_requested += 1;
                }
            }
        }
        let outcome = KillSwitchOutcome {
            state,
            cancels_requested,
        };
        self.commit.after(Some(Effect::Reply(Box::new(move || {
            let _ = reply.send(Ok(outcome));
        }))));
    }
}

/// Loads live orders with their fills, recent idempotency keys, balances and the kill switch,
/// and restarts the resolution of every order left waiting for the venue.
pub(super) async fn load_state(oms: &mut Oms) -> Result<(), StoreError> {
    let live = oms.store.live_orders().await?;
    let ids: Vec<i64> = live.iter().map(|o| o.id).collect();
    let mut fills: HashMap<i64, Vec<FillRecord>> = HashMap::new();
    for fill in oms.store.fills_for_orders(&ids).await? {
        fills.entry(fill.order_id).or_default().push(fill);
    }
    let mut waiting = Vec::new();
    for order in live {
        let order_fills = fills.remove(&order.id).unwrap_or_default();
        if matches!(
            order.status,
            OrderStatus::PendingNew | OrderStatus::Unknown | OrderStatus::PendingCancel
        ) {
            waiting.push(order.id);
        }
        oms.admit_loaded(order, order_fills);
    }
    let keys = oms.store.recent_idempotency_keys(MAX_KEYS as i64).await?;
    if keys.len() >= MAX_KEYS {
        oms.work.set_keys_incomplete();
    }
    for key in keys.into_iter().rev() {
        oms.work.remember_key(
            key.key,
            KnownKey {
                order_id: key.order_id,
                request_hash: key.request_hash,
            },
        );
    }
    for balance in oms.store.balances(None).await? {
        oms.balances
            .insert((balance.venue.clone(), balance.asset.clone()), balance);
    }
    if let Some(value) = oms.store.setting(KILL_SWITCH_KEY).await? {
        match serde_json::from_value::<KillSwitch>(value) {
            Ok(state) => oms.kill_switch = state,
            Err(e) => {
                // Refuse to trade rather than guess the operator's intent.
                tracing::error!(error = %e, "unreadable kill switch state: engaging it");
                oms.kill_switch = KillSwitch {
                    engaged: true,
                    reason: Some("unreadable stored state".into()),
                    changed_at_ms: now_ms(),
                };
            }
        }
    }
    telemetry::kill_switch(oms.kill_switch.engaged);
    tracing::info!(
        live = oms.work.len(),
        waiting = waiting.len(),
        "order working set loaded"
    );
    for id in waiting {
        super::resolve::spawn_resolve(oms, id);
    }
    Ok(())
}

impl Oms {
    /// Takes an order read from the store into memory. An order still waiting for the venue
    /// may have been sent just before the daemon stopped: its send is bounded by now.
    pub(super) fn admit_loaded(
        &mut self,
        order: crate::store::OrderRecord,
        fills: Vec<FillRecord>,
    ) {
        let bound = self.venue_now_ms(&order.venue);
        let mut live = LiveOrder::new(order, fills);
        live.send_bound_venue_ms = Some(bound);
        self.work.insert(live);
    }
}

fn same_request(order_id: i64, stored_hash: &str, hash: &str) -> Result<Submitted, OmsError> {
    if stored_hash == hash {
        Ok(Submitted::Existing(order_id))
    } else {
        Err(key_reused())
    }
}

fn key_reused() -> OmsError {
    OmsError::Conflict {
        code: "idempotency_key_reused",
        message: "this Idempotency-Key (or client_order_id) was already used for a different order"
            .into(),
    }
}

/// A refused submit whose key the memory does not hold: answer with the stored order if the
/// key has one (a replay), else with the refusal.
fn spawn_refusal_lookup(
    oms: &Oms,
    key: String,
    hash: String,
    refusal: OmsError,
    reply: SubmitReply,
) {
    let store = oms.store.clone();
    oms.tasks.spawn(async move {
        let answer = match store.find_order_by_idempotency_key(&key).await {
            Ok(Some(order)) => same_request(order.id, &order.request_hash, &hash),
            Ok(None) => Err(refusal),
            Err(e) => Err(OmsError::Store(e)),
        };
        let _ = reply.send(answer);
    });
}

/// A new order whose key or client order id the store already holds: answer every waiter
/// with that order (same request) or a conflict.
pub(super) fn spawn_existing_lookup(oms: &Oms, record: NewOrderRecord, waiters: Vec<SubmitReply>) {
    let store = oms.store.clone();
    oms.tasks.spawn(async move {
        let found = match store
            .find_order_by_idempotency_key(&record.idempotency_key)
            .await
        {
            Ok(Some(order)) => Ok(Some(order)),
            Ok(None) => {
                store
                    .find_order_by_client_id(
                        &record.venue,
                        &record.account,
                        &record.client_order_id,
                    )
                    .await
            }
            Err(e) => Err(e),
        };
        for waiter in waiters {
            let answer = match &found {
                Ok(Some(order)) => {
                    same_request(order.id, &order.request_hash, &record.request_hash)
                }
                Ok(None) => Err(OmsError::Unavailable {
                    code: "store_conflict",
                    message: "the order's key is taken but no stored order holds it; retry".into(),
                }),
                Err(e) => Err(OmsError::Unavailable {
                    code: "store_unavailable",
                    message: format!("cannot read the order store: {e}"),
                }),
            };
            let _ = waiter.send(answer);
        }
    });
}
