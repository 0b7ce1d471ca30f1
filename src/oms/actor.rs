//! The OMS actor: owns the command queue and applies every order change in arrival order.

use std::sync::Arc;
use std::time::Duration;

use exchange_core::{ExchangeError, OrderStatus, UserEvent};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::apply::Change;
use super::{
    Command, OmsError, OmsHandle, ReconcileReport, SubmitRequest, Submitted, ids, reconcile,
    resolve, risk,
};
use crate::store::{CreateOutcome, NewOrderRecord, OrderRecord, Store};
use crate::telemetry;
use crate::venues::Venues;

const COMMAND_QUEUE: usize = 4096;
const EVENT_FANOUT: usize = 4096;

/// Event kind published once the venue answered (or failed to answer) an order send.
pub const SEND_ANSWERED: &str = "send_answered";

/// Timing settings of the OMS.
#[derive(Debug, Clone, Copy)]
pub struct OmsSettings {
    /// Deadline of one venue call.
    pub request_timeout: Duration,
    /// How often open orders are polled while a venue's user stream is down.
    pub poll_interval: Duration,
}

/// The OMS actor. Create with [`Oms::new`], then drive it with [`Oms::run`].
pub struct Oms {
    pub(super) store: Arc<dyn Store>,
    pub(super) venues: Arc<Venues>,
    pub(super) cmd_tx: mpsc::Sender<Command>,
    cmd_rx: mpsc::Receiver<Command>,
    pub(super) events_tx: broadcast::Sender<super::OrderEvent>,
    pub(super) tasks: TaskTracker,
    pub(super) shutdown: CancellationToken,
    pub(super) request_timeout: Duration,
    pub(super) poll_interval: Duration,
}

impl Oms {
    /// Builds the actor and its handle. Venue tasks it spawns stop when `shutdown` fires.
    pub fn new(
        store: Arc<dyn Store>,
        venues: Arc<Venues>,
        settings: OmsSettings,
        shutdown: CancellationToken,
    ) -> (Oms, OmsHandle) {
        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
        let (events_tx, _) = broadcast::channel(EVENT_FANOUT);
        let handle = OmsHandle {
            cmd_tx: cmd_tx.clone(),
            events_tx: events_tx.clone(),
            store: store.clone(),
        };
        let oms = Oms {
            store,
            venues,
            cmd_tx,
            cmd_rx,
            events_tx,
            tasks: TaskTracker::new(),
            shutdown,
            request_timeout: settings.request_timeout,
            poll_interval: settings.poll_interval,
        };
        (oms, handle)
    }

    /// Processes commands until shutdown, then drains: venue calls already in flight are
    /// awaited (up to the request timeout) and their answers recorded before returning.
    pub async fn run(mut self) {
        loop {
            tokio::select! {
                cmd = self.cmd_rx.recv() => match cmd {
                    Some(cmd) => self.handle(cmd).await,
                    None => break,
                },
                () = self.shutdown.cancelled() => break,
            }
        }
        self.tasks.close();
        let deadline = tokio::time::Instant::now() + self.request_timeout + Duration::from_secs(1);
        while !self.tasks.is_empty() {
            match tokio::time::timeout_at(deadline, self.cmd_rx.recv()).await {
                Ok(Some(cmd)) => self.handle_during_drain(cmd).await,
                Ok(None) | Err(_) => break,
            }
        }
        while let Ok(cmd) = self.cmd_rx.try_recv() {
            self.handle_during_drain(cmd).await;
        }
        tracing::info!(in_flight = self.tasks.len(), "order processor stopped");
    }

    async fn handle_during_drain(&mut self, cmd: Command) {
        match cmd {
            Command::Submit { reply, .. } => {
                let _ = reply.send(Err(OmsError::shutting_down()));
            }
            Command::Cancel { reply, .. } => {
                let _ = reply.send(Err(OmsError::shutting_down()));
            }
            other => self.handle(other).await,
        }
    }

    async fn handle(&mut self, cmd: Command) {
        let result = match cmd {
            Command::Submit { req, reply } => {
                let _ = reply.send(self.submit(req).await);
                Ok(())
            }
            Command::Cancel { order_id, reply } => {
                let _ = reply.send(self.cancel(order_id).await);
                Ok(())
            }
            Command::Placed { order_id, result } => self.on_placed(order_id, result).await,
            Command::CancelAnswered { order_id, result } => {
                self.on_cancel_answered(order_id, result).await
            }
            Command::Observed {
                order_id,
                obs,
                fills,
                kind,
            } => self
                .observe(order_id, Change::new(obs, fills, kind))
                .await
                .map(|_| ()),
            Command::NotOnVenue { order_id } => self.on_not_on_venue(order_id).await,
            Command::Backfill { order_id, fills } => {
                let outcome = self.observe(order_id, Change::fills(fills)).await;
                outcome.map(|_| ())
            }
            Command::Adopt {
                venue,
                snapshot,
                fills,
            } => self.adopt(&venue, snapshot, fills).await,
            Command::User { venue, event } => self.on_user_event(&venue, event).await,
            Command::Reconcile { venue, reply } => {
                self.start_reconcile(&venue, reply);
                Ok(())
            }
            Command::Reconciled {
                venue,
                report,
                reply,
            } => {
                if let Some(v) = self.venues.get(&venue) {
                    v.reconciled();
                }
                let outcome = if report.failed == 0 {
                    "ok"
                } else {
                    "incomplete"
                };
                telemetry::reconciliation(&venue, report.checked, report.changed, outcome);
                if let Some(reply) = reply {
                    let _ = reply.send(report);
                }
                Ok(())
            }
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "order processor could not record a change; the next reconciliation repairs it");
        }
    }

    async fn submit(&mut self, req: SubmitRequest) -> Result<Submitted, OmsError> {
        let venue = self
            .venues
            .get(&req.venue)
            .cloned()
            .ok_or_else(|| OmsError::Invalid {
                code: "unknown_venue",
                message: format!("venue '{}' is not configured", req.venue),
            })?;
        let instrument = risk::check(&venue, &req)?.clone();
        let hash = ids::request_hash(&req);
        if let Some(existing) = self
            .store
            .find_order_by_idempotency_key(&req.idempotency_key)
            .await?
        {
            return same_request(existing, &hash).map(Submitted::Existing);
        }
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
        let client_order_id = req.client_order_id.clone().unwrap_or_else(|| {
            ids::client_order_id(&req.venue, &venue.config.account, &req.idempotency_key)
        });
        let record = NewOrderRecord {
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
            request_hash: hash.clone(),
            created_at_ms: now_ms(),
        };
        match self.store.create_order(&record).await? {
            CreateOutcome::Existing(existing) => {
                same_request(existing, &hash).map(Submitted::Existing)
            }
            CreateOutcome::Created(order) => {
                telemetry::order_submitted(&order.venue, &order.symbol, &order.client_order_id);
                self.publish(&order, "created");
                resolve::spawn_place(self, &venue, &order);
                Ok(Submitted::Created(order.id))
            }
        }
    }

    async fn cancel(&mut self, order_id: i64) -> Result<(), OmsError> {
        let order = self
            .store
            .get_order(order_id)
            .await?
            .ok_or(OmsError::NotFound(order_id))?;
        if order.status == OrderStatus::PendingCancel {
            return Ok(());
        }
        if !super::state::cancellable(order.status) {
            return Err(OmsError::Conflict {
                code: "order_not_cancellable",
                message: format!(
                    "order {order_id} is {} and cannot be canceled",
                    order.status
                ),
            });
        }
        let venue =
            self.venues
                .get(&order.venue)
                .cloned()
                .ok_or_else(|| OmsError::Unavailable {
                    code: "unknown_venue",
                    message: format!("venue '{}' is no longer configured", order.venue),
                })?;
        let changed = self
            .force_status(&order, OrderStatus::PendingCancel, "cancel_requested")
            .await?;
        resolve::spawn_cancel(self, &venue, &changed);
        Ok(())
    }

    async fn on_placed(
        &mut self,
        order_id: i64,
        result: Result<exchange_core::OrderSnapshot, ExchangeError>,
    ) -> Result<(), crate::store::StoreError> {
        let Some(order) = self.store.get_order(order_id).await? else {
            return Ok(());
        };
        match result {
            Ok(snapshot) => {
                let change = Change::from_snapshot(&snapshot, false, "ack");
                self.observe(order_id, change).await?;
            }
            Err(
                e @ (ExchangeError::Rejected { .. }
                | ExchangeError::Auth { .. }
                | ExchangeError::NotFound { .. }
                | ExchangeError::Unavailable { .. }),
            ) => {
                // Definitive: the venue refused it, or it was never sent (breaker open,
                // venue paused or banned, in-flight cap reached).
                telemetry::order_rejected(&order.venue, e.kind(), &e.to_string());
                self.observe(order_id, Change::rejected(e.to_string(), "rejected"))
                    .await?;
            }
            Err(e) => {
                tracing::warn!(order_id, venue = %order.venue, error = %e, "order outcome unknown; asking the venue");
                let order = self
                    .force_status(&order, OrderStatus::Unknown, "send_unknown")
                    .await?;
                if let Some(venue) = self.venues.get(&order.venue).cloned() {
                    resolve::spawn_resolve(self, &venue, &order);
                }
            }
        }
        // Whatever the answer changed (possibly nothing: the stream may have been faster),
        // tell waiting submitters that the venue has answered.
        if let Some(order) = self.store.get_order(order_id).await? {
            self.publish(&order, SEND_ANSWERED);
        }
        Ok(())
    }

    async fn on_cancel_answered(
        &mut self,
        order_id: i64,
        result: Result<exchange_core::OrderSnapshot, ExchangeError>,
    ) -> Result<(), crate::store::StoreError> {
        match result {
            Ok(snapshot) => self
                .observe(
                    order_id,
                    Change::from_snapshot(&snapshot, true, "cancel_ack"),
                )
                .await
                .map(|_| ()),
            Err(e) => {
                // Refused, unknown or lost: the venue's own answer decides the state.
                tracing::info!(order_id, error = %e, "cancel not confirmed; querying the order");
                if let Some(order) = self.store.get_order(order_id).await?
                    && let Some(venue) = self.venues.get(&order.venue).cloned()
                {
                    resolve::spawn_resolve(self, &venue, &order);
                }
                Ok(())
            }
        }
    }

    async fn on_not_on_venue(&mut self, order_id: i64) -> Result<(), crate::store::StoreError> {
        if let Some(order) = self.store.get_order(order_id).await? {
            telemetry::unknown_resolved(&order.venue, order_id, "not_on_venue");
            let reason =
                "not found on the venue after its receive window: never accepted".to_string();
            self.observe(order_id, Change::rejected(reason, "resolved_not_on_venue"))
                .await?;
        }
        Ok(())
    }

    async fn on_user_event(
        &mut self,
        venue: &str,
        event: UserEvent,
    ) -> Result<(), crate::store::StoreError> {
        let Some(v) = self.venues.get(venue).cloned() else {
            return Ok(());
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
                    reconcile::spawn_poller(self, &v, self.poll_interval);
                }
            }
            UserEvent::Execution(report) => {
                let Some(order) = self
                    .store
                    .find_order_by_client_id(venue, &v.config.account, &report.client_order_id)
                    .await?
                else {
                    telemetry::execution_report(venue, "unknown_order");
                    return Ok(());
                };
                let outcome = self.observe(order.id, Change::from_report(&report)).await?;
                telemetry::execution_report(venue, outcome);
            }
            UserEvent::Balances(_) => {}
        }
        Ok(())
    }

    /// Records an order found open on the venue under our prefix, then applies its state.
    async fn adopt(
        &mut self,
        venue: &str,
        snapshot: exchange_core::OrderSnapshot,
        fills: Vec<exchange_core::Fill>,
    ) -> Result<(), crate::store::StoreError> {
        let Some(v) = self.venues.get(venue).cloned() else {
            return Ok(());
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
        let order = match self.store.create_order(&record).await? {
            CreateOutcome::Created(order) | CreateOutcome::Existing(order) => order,
        };
        telemetry::order_adopted(venue, order.id, &order.client_order_id);
        let mut change = Change::from_snapshot(&snapshot, true, "adopted");
        change.set_fills(fills);
        self.observe(order.id, change).await.map(|_| ())
    }

    fn start_reconcile(&mut self, venue: &str, reply: Option<oneshot::Sender<ReconcileReport>>) {
        let Some(v) = self.venues.get(venue).cloned() else {
            if let Some(reply) = reply {
                let _ = reply.send(ReconcileReport::default());
            }
            return;
        };
        v.set_reconciling(true);
        reconcile::spawn_reconcile(self, &v, reply);
    }

    /// Sets a local status (`pending_cancel`, `unknown`) decided by the OMS itself.
    async fn force_status(
        &mut self,
        order: &OrderRecord,
        status: OrderStatus,
        kind: &'static str,
    ) -> Result<OrderRecord, crate::store::StoreError> {
        self.write(order, Change::local(status, kind), None, Vec::new())
            .await?;
        Ok(self
            .store
            .get_order(order.id)
            .await?
            .unwrap_or_else(|| order.clone()))
    }
}

fn same_request(existing: OrderRecord, hash: &str) -> Result<i64, OmsError> {
    if existing.request_hash == hash {
        Ok(existing.id)
    } else {
        Err(OmsError::Conflict {
            code: "idempotency_key_reused",
            message:
                "this Idempotency-Key (or client_order_id) was already used for a different order"
                    .into(),
        })
    }
}

pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
