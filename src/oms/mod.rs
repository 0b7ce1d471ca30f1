//! The order-management system: one actor that owns every order change.
//!
//! Memory is the working set, the store is the durable log (DESIGN "Order processor"). The
//! actor holds every live order with its fills and the idempotency keys it needs; each turn it
//! takes every command that is ready (submits, cancels, venue answers, execution reports,
//! reconciliation results), applies them in memory through the state machine in [`state`],
//! writes all their rows in one transaction (group commit, [`commit`]), and only after that
//! commit sends the venue requests the turn produced and answers its callers. Venue calls run
//! in tracked tasks that report back ([`resolve`], [`reconcile`]), so a slow venue never blocks
//! the queue.
//!
//! Layout: `actor` (the loop and the turn), `commit` (group commit and store outages),
//! `working` (the in-memory working set), `submit` (submits, cancels, the kill switch),
//! `amend` (quantity amends),
//! `apply` (observations, fills, revisions), `resolve` (venue calls for one order),
//! `reconcile` (whole-venue reconciliation), `risk` and `limits` (pre-trade checks), `state`
//! (the pure state machine), `ids` (deterministic client order ids).

mod actor;
mod amend;
mod answers;
mod apply;
mod commit;
mod events;
pub mod ids;
pub mod limits;
mod reconcile;
mod resolve;
pub mod risk;
mod shutdown;
pub mod state;
mod submit;
#[cfg(test)]
mod tests;
mod working;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use exchange_core::{OrderType, Side, TimeInForce, UserEvent};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::store::{BalanceRecord, FillRecord, OrderRecord, Store, StoreError};

pub(crate) use actor::Command;
pub use actor::{Oms, OmsSettings};
pub use events::{EventFill, OrderEvent};
pub use shutdown::CancelOpen;
pub use state::Observation;

/// A validated order request from the control port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitRequest {
    pub venue: String,
    /// Canonical instrument name.
    pub symbol: String,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    pub quantity: Decimal,
    pub price: Option<Decimal>,
    pub client_order_id: Option<String>,
    pub idempotency_key: String,
}

/// An order with its fills, as the OMS knows it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderDetail {
    pub order: OrderRecord,
    pub fills: Vec<FillRecord>,
}

/// The answer to a submit.
#[derive(Debug)]
pub enum Submitted {
    /// A new order was made durable and is being sent; `answered` yields the order once the
    /// venue has answered the send (or the send failed).
    Created {
        order_id: i64,
        answered: oneshot::Receiver<OrderDetail>,
    },
    /// The idempotency key was used before for the same request: that order.
    Existing(i64),
}

/// Why the OMS refused a request. Each maps to one HTTP status in the control port.
#[derive(Debug, thiserror::Error)]
pub enum OmsError {
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// A pre-trade risk limit refused the order; `limit` is the configured value it hit.
    #[error("{message}")]
    Risk {
        code: &'static str,
        message: String,
        limit: String,
    },
    #[error("order {0} not found")]
    NotFound(i64),
    #[error("{message}")]
    Unavailable { code: &'static str, message: String },
    #[error("storage failure: {0}")]
    Store(#[from] StoreError),
}

impl OmsError {
    fn shutting_down() -> Self {
        OmsError::Unavailable {
            code: "shutting_down",
            message: "omsd is shutting down".into(),
        }
    }

    fn store_unavailable() -> Self {
        OmsError::Unavailable {
            code: "store_unavailable",
            message: "the order store is unavailable, so a new order cannot be made durable; \
                      retry shortly"
                .into(),
        }
    }
}

/// Summary of one reconciliation run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReconcileReport {
    pub checked: usize,
    pub changed: usize,
    pub failed: usize,
}

/// The kill switch: while engaged, every new order is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KillSwitch {
    pub engaged: bool,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub changed_at_ms: i64,
}

/// A request to flip the kill switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KillSwitchRequest {
    pub engaged: bool,
    pub reason: Option<String>,
    /// Also cancel every open order (when engaging).
    pub cancel_open_orders: bool,
}

/// What flipping the kill switch did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct KillSwitchOutcome {
    #[serde(flatten)]
    pub state: KillSwitch,
    /// Orders a cancel was requested for.
    pub cancels_requested: usize,
}

/// A cheap, cloneable handle to the OMS actor.
#[derive(Clone)]
pub struct OmsHandle {
    cmd_tx: mpsc::Sender<Command>,
    events_tx: broadcast::Sender<OrderEvent>,
    store: Arc<dyn Store>,
    store_up: Arc<AtomicBool>,
    /// Cleared when the daemon starts stopping: new orders are refused from then on.
    intake_open: Arc<AtomicBool>,
}

impl OmsHandle {
    /// Validates, checks, records and sends an order.
    pub async fn submit(&self, req: SubmitRequest) -> Result<Submitted, OmsError> {
        if !self.intake_open.load(Ordering::Relaxed) {
            return Err(OmsError::shutting_down());
        }
        let (reply, rx) = oneshot::channel();
        self.request(Command::Submit { req, reply }, rx).await
    }

    /// Requests the cancellation of an order; the receiver yields the order once the venue
    /// answered the cancel.
    pub async fn cancel(&self, order_id: i64) -> Result<oneshot::Receiver<OrderDetail>, OmsError> {
        let (reply, rx) = oneshot::channel();
        self.request(Command::Cancel { order_id, reply }, rx).await
    }

    /// Amends an open order's quantity down, keeping its queue priority; the receiver yields
    /// the order once the venue answered the amend (or why it was not amended).
    pub async fn amend(
        &self,
        order_id: i64,
        quantity: Decimal,
    ) -> Result<oneshot::Receiver<Result<OrderDetail, OmsError>>, OmsError> {
        let (reply, rx) = oneshot::channel();
        self.request(
            Command::Amend {
                order_id,
                quantity,
                reply,
            },
            rx,
        )
        .await
    }

    /// One order with its fills: live orders from memory, the others from the store.
    pub async fn get(&self, order_id: i64) -> Result<Option<OrderDetail>, OmsError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Get {
            ids: vec![order_id],
            reply,
        })
        .await?;
        let mut live = rx.await.map_err(|_| OmsError::shutting_down())?;
        if let Some(Some(detail)) = live.pop() {
            return Ok(Some(detail));
        }
        let Some(order) = self.store.get_order(order_id).await? else {
            return Ok(None);
        };
        let fills = self.store.fills_for_order(order_id).await?;
        Ok(Some(OrderDetail { order, fills }))
    }

    /// The live version of each order that is live; `None` for the others.
    pub async fn live(&self, ids: Vec<i64>) -> Result<Vec<Option<OrderDetail>>, OmsError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Get { ids, reply }).await?;
        rx.await.map_err(|_| OmsError::shutting_down())
    }

    /// Reconciles a venue with the exchange; returns when the results are durable.
    pub async fn reconcile(&self, venue: &str) -> Result<ReconcileReport, OmsError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Reconcile {
            venue: venue.to_string(),
            reply: Some(reply),
        })
        .await?;
        rx.await.map_err(|_| OmsError::shutting_down())
    }

    /// Forwards a user-data stream event of a venue to the actor.
    pub async fn user_event(&self, venue: &str, event: UserEvent) -> bool {
        self.cmd_tx
            .send(Command::User {
                venue: venue.to_string(),
                event,
            })
            .await
            .is_ok()
    }

    /// Engages or releases the kill switch; the new state is durable when this returns.
    pub async fn set_kill_switch(
        &self,
        req: KillSwitchRequest,
    ) -> Result<KillSwitchOutcome, OmsError> {
        let (reply, rx) = oneshot::channel();
        self.request(Command::SetKillSwitch { req, reply }, rx)
            .await
    }

    /// The kill switch as it is now.
    pub async fn kill_switch(&self) -> Result<KillSwitch, OmsError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::GetKillSwitch { reply }).await?;
        rx.await.map_err(|_| OmsError::shutting_down())
    }

    /// Balances as last reported by the venues.
    pub async fn balances(&self) -> Result<Vec<BalanceRecord>, OmsError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::GetBalances { reply }).await?;
        rx.await.map_err(|_| OmsError::shutting_down())
    }

    /// A probe of the actor's command queue, for its depth gauge.
    pub fn command_queue(&self) -> crate::queues::QueueProbe {
        crate::queues::QueueProbe::of("oms_commands", None, &self.cmd_tx)
    }

    /// Live order events.
    pub fn subscribe(&self) -> broadcast::Receiver<OrderEvent> {
        self.events_tx.subscribe()
    }

    /// Refuses every new order from now on (503 `shutting_down`); cancels and reads go on.
    pub fn close_intake(&self) {
        self.intake_open.store(false, Ordering::Relaxed);
    }

    /// Requests the cancellation of every open order. Answers, once the requests are durable,
    /// a receiver per order that yields it once the venue answered the cancel, and how many
    /// orders could not be canceled yet because the venue has not acknowledged them.
    pub async fn cancel_open(&self) -> Result<CancelOpen, OmsError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::CancelOpen { reply }).await?;
        rx.await.map_err(|_| OmsError::shutting_down())
    }

    /// Whether the store took the last write (false while it is down).
    pub fn store_up(&self) -> bool {
        self.store_up.load(Ordering::Relaxed)
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    async fn send(&self, cmd: Command) -> Result<(), OmsError> {
        self.cmd_tx
            .send(cmd)
            .await
            .map_err(|_| OmsError::shutting_down())
    }

    async fn request<T>(
        &self,
        cmd: Command,
        rx: oneshot::Receiver<Result<T, OmsError>>,
    ) -> Result<T, OmsError> {
        self.send(cmd).await?;
        rx.await.map_err(|_| OmsError::shutting_down())?
    }
}
