//! Group commit: every turn's rows go into one pending batch; one batch at a time is written in
//! one transaction while the actor keeps applying the next turn; the effects a batch produced
//! (venue requests, replies) run only once it is committed.
//!
//! A batch of venue facts alone (acks, reports, balances: nothing waits for it) lingers for up to
//! [`FACT_LINGER`] before it is written, so that it rides with the next order's intent instead
//! of costing a commit of its own that the intent would queue behind: one sequential order then
//! costs one commit, not two. A fact is never lost by lingering: until it is written it is in
//! memory, and after a crash reconciliation reads it from the venue again.
//!
//! A store outage is a pause, not a loss: a failed batch is kept (in front of the newer rows,
//! so order is preserved) and retried with a capped backoff; its new orders are refused with a
//! 503 (their intent was not made durable, so they were never sent), while venue facts stay in
//! memory and are written when the store is back. The backlog is bounded: past
//! [`MAX_BACKLOG`] rows the actor stops taking commands until a write succeeds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::actor::Oms;
use super::working::{KnownKey, LiveOrder};
use super::{OmsError, Submitted};
use crate::store::{BatchOutcome, NewOrderRecord, Store, StoreError, WriteBatch};
use crate::telemetry;

/// Most rows kept unwritten while the store is down before the actor stops taking commands.
pub(super) const MAX_BACKLOG: usize = 200_000;
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);
/// Longest a batch of venue facts alone waits for an intent to share its commit.
pub(super) const FACT_LINGER: Duration = Duration::from_millis(5);
/// A batch of facts this large is written at once.
const LINGER_MAX_ROWS: usize = 1024;

/// Work that must wait until the rows before it are durable.
pub(super) enum Effect {
    /// Send a cancel of the order.
    Cancel(i64),
    /// Send an amend of the order to this quantity.
    Amend(i64, rust_decimal::Decimal),
    /// Answer a caller.
    Reply(Box<dyn FnOnce() + Send>),
}

impl Effect {
    /// Fires `done` (if any) once everything before it is durable.
    pub fn done(done: Option<oneshot::Sender<()>>) -> Option<Effect> {
        done.map(|tx| {
            Effect::Reply(Box::new(move || {
                let _ = tx.send(());
            }))
        })
    }
}

/// A submit whose order row is in a batch: who waits for it (replays of the same key while
/// it is being written wait in [`PendingKey`]).
pub(super) struct Create {
    pub venue: String,
    /// The submitter; `None` for an adopted order.
    pub waiter: Option<oneshot::Sender<Result<Submitted, OmsError>>>,
    /// For an order adopted from the venue: its state there, applied once it is stored.
    pub adopted: Option<Adopted>,
}

/// What the venue showed of an order being adopted.
pub(super) struct Adopted {
    pub snapshot: exchange_core::OrderSnapshot,
    pub fills: Vec<exchange_core::Fill>,
    pub done: Option<oneshot::Sender<()>>,
}

/// An idempotency key whose order is being written.
pub(super) struct PendingKey {
    pub request_hash: String,
    pub replays: Vec<oneshot::Sender<Result<Submitted, OmsError>>>,
}

/// The rows and effects of one or more turns.
#[derive(Default)]
pub(super) struct Turn {
    pub batch: WriteBatch,
    /// Parallel to `batch.new_orders`.
    pub creates: Vec<Create>,
    pub effects: Vec<Effect>,
    /// Orders with a change in `batch.changes`, one entry per change.
    pub touched: Vec<i64>,
    /// Who each change in `batch.changes` is about, one entry per change.
    pub subjects: Vec<super::events::Subject>,
}

impl Turn {
    fn rows(&self) -> usize {
        let b = &self.batch;
        b.new_orders.len()
            + b.changes.len()
            + b.balances.len()
            + b.unmatched_fills.len()
            + b.watermarks.len()
            + b.settings.len()
    }

    fn is_empty(&self) -> bool {
        self.batch.is_empty() && self.effects.is_empty() && self.creates.is_empty()
    }

    /// Only venue facts: no new order and nothing waiting for the rows to be durable.
    fn facts_only(&self) -> bool {
        self.creates.is_empty() && self.effects.is_empty() && !self.batch.is_empty()
    }

    /// Appends `later` after this turn's rows and effects.
    fn append(&mut self, later: Turn) {
        let (b, l) = (&mut self.batch, later.batch);
        b.new_orders.extend(l.new_orders);
        b.changes.extend(l.changes);
        b.balances.extend(l.balances);
        b.unmatched_fills.extend(l.unmatched_fills);
        b.claimed_unmatched.extend(l.claimed_unmatched);
        b.watermarks.extend(l.watermarks);
        b.settings.extend(l.settings);
        self.creates.extend(later.creates);
        self.effects.extend(later.effects);
        self.touched.extend(later.touched);
        self.subjects.extend(later.subjects);
    }
}

type Written = (Result<BatchOutcome, StoreError>, Turn);

/// The pending batch, the batch being written, and the store's health.
pub(super) struct Committer {
    store: Arc<dyn Store>,
    store_up: Arc<AtomicBool>,
    pending: Turn,
    in_flight: Option<JoinHandle<Written>>,
    retry_at: Option<Instant>,
    failures: u32,
    /// When the pending batch of facts alone is written at the latest.
    linger_until: Option<Instant>,
    /// False while draining: everything is written at once.
    lingering: bool,
}

impl Committer {
    pub fn new(store: Arc<dyn Store>, store_up: Arc<AtomicBool>) -> Committer {
        Committer {
            store,
            store_up,
            pending: Turn::default(),
            in_flight: None,
            retry_at: None,
            failures: 0,
            linger_until: None,
            lingering: true,
        }
    }

    /// When a lingering batch of facts is due (`None` when none lingers, or when a write in
    /// flight or a retry decides when the next one starts).
    pub fn linger_until(&self) -> Option<Instant> {
        if self.in_flight.is_some() || self.retry_at.is_some() {
            return None;
        }
        self.linger_until
    }

    /// Writes every batch at once from now on (shutdown).
    pub fn stop_lingering(&mut self) {
        self.lingering = false;
    }

    /// The batch this turn writes into.
    pub fn pending(&mut self) -> &mut WriteBatch {
        &mut self.pending.batch
    }

    pub fn turn(&mut self) -> &mut Turn {
        &mut self.pending
    }

    /// Queues an effect behind every row queued so far.
    pub fn after(&mut self, effect: Option<Effect>) {
        if let Some(effect) = effect {
            self.pending.effects.push(effect);
        }
    }

    pub fn store_up(&self) -> bool {
        self.store_up.load(Ordering::Relaxed)
    }

    /// Too much is unwritten: stop taking commands until the store is back.
    pub fn backlogged(&self) -> bool {
        self.pending.rows() > MAX_BACKLOG
    }

    pub fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    pub fn retry_now(&mut self) {
        self.retry_at = None;
    }

    /// A batch is being written.
    pub fn writing(&self) -> bool {
        self.in_flight.is_some()
    }

    pub fn idle_and_empty(&self) -> bool {
        self.in_flight.is_none() && self.pending.is_empty()
    }

    /// New orders queued or being written, per venue (they count as open for risk).
    pub fn creating(&self, venue: &str) -> usize {
        self.pending
            .creates
            .iter()
            .filter(|c| c.venue == venue)
            .count()
    }

    /// Waits for the batch in flight (forever when there is none).
    pub async fn finished(&mut self) -> Written {
        match self.in_flight.as_mut() {
            Some(handle) => {
                let joined = handle.await;
                self.in_flight = None;
                match joined {
                    Ok(written) => written,
                    Err(e) => (
                        Err(StoreError::Corrupt {
                            table: "batch",
                            message: format!("the write task failed: {e}"),
                        }),
                        Turn::default(),
                    ),
                }
            }
            None => std::future::pending().await,
        }
    }

    /// Takes the pending turn for writing when nothing is in flight. Returns it instead when
    /// it has no rows (its effects can run at once).
    fn take_if_idle(&mut self) -> Option<Turn> {
        if self.in_flight.is_some() || self.retry_at.is_some() || self.pending.is_empty() {
            return None;
        }
        if self.lingering && self.pending.facts_only() && self.pending.rows() < LINGER_MAX_ROWS {
            let now = Instant::now();
            let due = *self.linger_until.get_or_insert(now + FACT_LINGER);
            if now < due {
                return None;
            }
        }
        self.linger_until = None;
        let turn = std::mem::take(&mut self.pending);
        if turn.batch.is_empty() && self.store_up() {
            return Some(turn);
        }
        let store = self.store.clone();
        self.in_flight = Some(tokio::spawn(async move {
            let result = if turn.batch.is_empty() {
                // Nothing to write while the store is down: a ping tells when it is back.
                store.ping().await.map(|()| BatchOutcome {
                    created: Vec::new(),
                    fills_inserted: 0,
                    event_seqs: Vec::new(),
                })
            } else {
                store.write_batch(&turn.batch).await
            };
            (result, turn)
        }));
        None
    }

    fn failed(&mut self) -> Duration {
        self.failures += 1;
        self.store_up.store(false, Ordering::Relaxed);
        let delay = RETRY_MIN
            .saturating_mul(1 << self.failures.min(5))
            .min(RETRY_MAX);
        self.retry_at = Some(Instant::now() + delay);
        delay
    }

    fn succeeded(&mut self) -> bool {
        let was_down = self.failures > 0;
        self.failures = 0;
        self.store_up.store(true, Ordering::Relaxed);
        was_down
    }

    /// Writes whatever is left, once, at shutdown; answers the batches written (the one in
    /// flight, then the rest), for their events to be broadcast.
    pub async fn flush_on_shutdown(&mut self) -> Vec<(BatchOutcome, Turn)> {
        let mut written = Vec::new();
        if let Some(handle) = self.in_flight.take()
            && let Ok((Ok(outcome), turn)) = handle.await
        {
            written.push((outcome, turn));
        }
        let mut turn = std::mem::take(&mut self.pending);
        if !turn.batch.is_empty() {
            match self.store.write_batch(&turn.batch).await {
                Ok(outcome) => {
                    let effects = std::mem::take(&mut turn.effects);
                    written.push((outcome, turn));
                    run_replies(effects);
                    return written;
                }
                Err(e) => {
                    tracing::error!(error = %e, "changes not written at shutdown; reconciliation repairs them at the next start");
                }
            }
        }
        run_replies(turn.effects);
        written
    }
}

/// Answers the callers among `effects` (at shutdown no venue request is sent any more).
fn run_replies(effects: Vec<Effect>) {
    for effect in effects {
        if let Effect::Reply(reply) = effect {
            reply();
        }
    }
}

impl Oms {
    /// Starts writing the pending batch if nothing is being written.
    pub(super) fn start_commit_if_idle(&mut self) {
        if let Some(turn) = self.commit.take_if_idle() {
            self.run_effects(turn.effects);
        }
    }

    /// A batch was written (or failed).
    pub(super) fn on_commit(&mut self, (result, mut turn): Written) {
        match result {
            Ok(outcome) => {
                if self.commit.succeeded() {
                    tracing::warn!("store is back: writes resumed");
                    telemetry::store_available(true);
                }
                telemetry::batch_committed(turn.touched.len() + turn.creates.len());
                self.publish_committed(&outcome, &turn);
                let news = std::mem::take(&mut turn.batch.new_orders);
                let creates = std::mem::take(&mut turn.creates);
                for ((record, create), created) in
                    news.into_iter().zip(creates).zip(outcome.created)
                {
                    self.created(record, create, created);
                }
                for id in turn.touched {
                    if let Some(live) = self.work.get_mut(id) {
                        live.unwritten = live.unwritten.saturating_sub(1);
                    }
                    self.work.evict_if_done(id);
                }
                self.run_effects(turn.effects);
            }
            Err(e) => {
                let delay = self.commit.failed();
                telemetry::store_available(false);
                tracing::error!(error = %e, retry_in = ?delay, "store write failed: new orders are refused, changes are kept and retried");
                // New orders were not made durable: they were never sent; refuse them.
                for create in std::mem::take(&mut turn.creates) {
                    if let Some(waiter) = create.waiter {
                        let _ = waiter.send(Err(OmsError::store_unavailable()));
                    }
                    // An adoption not written is found again by the next reconciliation.
                    drop(create.adopted);
                }
                for record in std::mem::take(&mut turn.batch.new_orders) {
                    if let Some(pending) = self.pending_keys.remove(&record.idempotency_key) {
                        for replay in pending.replays {
                            let _ = replay.send(Err(OmsError::store_unavailable()));
                        }
                    }
                }
                let newer = std::mem::take(self.commit.turn());
                turn.append(newer);
                *self.commit.turn() = turn;
            }
        }
    }

    fn created(
        &mut self,
        record: NewOrderRecord,
        create: Create,
        created: Option<crate::store::OrderRecord>,
    ) {
        let key = record.idempotency_key.clone();
        let replays = self
            .pending_keys
            .remove(&key)
            .map(|p| p.replays)
            .unwrap_or_default();
        let Some(order) = created else {
            if create.adopted.is_some() {
                tracing::warn!(client_order_id = %record.client_order_id, "adopted order already stored; the next reconciliation applies its state");
                return;
            }
            // The key or the client order id was taken by an order that is not in memory.
            let mut waiters: Vec<_> = create.waiter.into_iter().collect();
            waiters.extend(replays);
            super::submit::spawn_existing_lookup(self, record, waiters);
            return;
        };
        if let Some(adopted) = create.adopted {
            self.adopted(order, adopted);
            return;
        }
        let id = order.id;
        telemetry::order_submitted(&order.venue, &order.symbol, &order.client_order_id);
        self.work.remember_key(
            key,
            KnownKey {
                order_id: id,
                request_hash: order.request_hash.clone(),
            },
        );
        let mut live = LiveOrder::new(order, Vec::new());
        let (tx, rx) = oneshot::channel();
        live.send_waiters.push(tx);
        if let Some(waiter) = create.waiter {
            let _ = waiter.send(Ok(Submitted::Created {
                order_id: id,
                answered: rx,
            }));
        }
        for replay in replays {
            let _ = replay.send(Ok(Submitted::Existing(id)));
        }
        self.work.insert(live);
        super::resolve::spawn_place(self, id);
    }

    /// Queues an order found on the venue for writing; its state is applied once stored.
    pub(super) fn queue_adoption(
        &mut self,
        record: NewOrderRecord,
        snapshot: exchange_core::OrderSnapshot,
        fills: Vec<exchange_core::Fill>,
        done: Option<oneshot::Sender<()>>,
    ) {
        let turn = self.commit.turn();
        turn.creates.push(Create {
            venue: record.venue.clone(),
            waiter: None,
            adopted: Some(Adopted {
                snapshot,
                fills,
                done,
            }),
        });
        turn.batch.new_orders.push(record);
    }

    fn adopted(&mut self, order: crate::store::OrderRecord, adopted: Adopted) {
        let (id, venue) = (order.id, order.venue.clone());
        telemetry::order_adopted(&venue, id, &order.client_order_id);
        let claim = (
            venue,
            order.venue_symbol.clone(),
            adopted.snapshot.venue_order_id.clone(),
        );
        self.work.insert(LiveOrder::new(order, Vec::new()));
        let mut change = super::apply::Change::from_snapshot(&adopted.snapshot, true, "adopted");
        change.set_fills(adopted.fills);
        self.observe(id, change);
        self.commit.pending().claimed_unmatched.push(claim);
        self.commit.after(Effect::done(adopted.done));
    }

    fn run_effects(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Cancel(id) => super::resolve::spawn_cancel(self, id),
                Effect::Amend(id, quantity) => super::resolve::spawn_amend(self, id, quantity),
                Effect::Reply(reply) => reply(),
            }
        }
    }
}
