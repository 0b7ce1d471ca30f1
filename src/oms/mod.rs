//! The order-management system: one actor that owns every order state change.
//!
//! Traders' submits and cancels, venue answers, execution reports and reconciliation results all
//! arrive as [`Command`]s on one queue and are applied in order through the state machine in
//! [`state`]. The order intent is durable (`pending_new`) before any byte goes to the venue;
//! venue calls run in tracked tasks that report back to the actor, so a slow venue never blocks
//! the queue. Applied changes are broadcast as [`OrderEvent`]s for waiting requests and live
//! subscribers.

mod actor;
mod apply;
pub mod ids;
mod reconcile;
mod resolve;
pub mod risk;
pub mod state;

use std::sync::Arc;

use exchange_core::{
    ExchangeError, Fill, OrderSnapshot, OrderStatus, OrderType, Side, TimeInForce, UserEvent,
};
use rust_decimal::Decimal;
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::store::{Store, StoreError};

pub use actor::{Oms, OmsSettings, SEND_ANSWERED};
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

/// The answer to a submit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    /// A new order was written and is being sent.
    Created(i64),
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
}

/// A change applied to an order, broadcast to waiters and live subscribers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderEvent {
    pub order_id: i64,
    pub venue: String,
    pub symbol: String,
    pub client_order_id: String,
    pub status: OrderStatus,
    pub filled_quantity: Decimal,
    pub kind: String,
}

/// Summary of one reconciliation run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReconcileReport {
    pub checked: usize,
    pub changed: usize,
    pub failed: usize,
}

/// Messages to the OMS actor.
pub(crate) enum Command {
    Submit {
        req: SubmitRequest,
        reply: oneshot::Sender<Result<Submitted, OmsError>>,
    },
    Cancel {
        order_id: i64,
        reply: oneshot::Sender<Result<(), OmsError>>,
    },
    /// The venue's answer to a place request.
    Placed {
        order_id: i64,
        result: Result<OrderSnapshot, ExchangeError>,
    },
    /// The venue's answer to a cancel request.
    CancelAnswered {
        order_id: i64,
        result: Result<OrderSnapshot, ExchangeError>,
    },
    /// What a query found out about an order (resolution or reconciliation).
    Observed {
        order_id: i64,
        obs: Observation,
        fills: Vec<Fill>,
        kind: &'static str,
    },
    /// Fills of one order found by a backfill; those not stored yet are stored.
    Backfill { order_id: i64, fills: Vec<Fill> },
    /// An order open on the venue under our prefix that the store does not know.
    Adopt {
        venue: String,
        snapshot: OrderSnapshot,
        fills: Vec<Fill>,
    },
    /// The venue has definitely never accepted this order (not found after its receive window).
    NotOnVenue { order_id: i64 },
    /// An event of a venue's user-data stream.
    User { venue: String, event: UserEvent },
    /// Start reconciling a venue (pauses its submissions until done).
    Reconcile {
        venue: String,
        reply: Option<oneshot::Sender<ReconcileReport>>,
    },
    /// Reconciliation of a venue finished; sent after all its `Observed` commands.
    Reconciled {
        venue: String,
        report: ReconcileReport,
        reply: Option<oneshot::Sender<ReconcileReport>>,
    },
}

/// A cheap, cloneable handle to the OMS actor.
#[derive(Clone)]
pub struct OmsHandle {
    cmd_tx: mpsc::Sender<Command>,
    events_tx: broadcast::Sender<OrderEvent>,
    store: Arc<dyn Store>,
}

impl OmsHandle {
    /// Validates, records and sends an order.
    pub async fn submit(&self, req: SubmitRequest) -> Result<Submitted, OmsError> {
        let (reply, rx) = oneshot::channel();
        self.request(Command::Submit { req, reply }, rx).await
    }

    /// Requests the cancellation of an order.
    pub async fn cancel(&self, order_id: i64) -> Result<(), OmsError> {
        let (reply, rx) = oneshot::channel();
        self.request(Command::Cancel { order_id, reply }, rx).await
    }

    /// Reconciles a venue's open orders with the venue; returns when the results are applied.
    pub async fn reconcile(&self, venue: &str) -> Result<ReconcileReport, OmsError> {
        let (reply, rx) = oneshot::channel();
        self.cmd_tx
            .send(Command::Reconcile {
                venue: venue.to_string(),
                reply: Some(reply),
            })
            .await
            .map_err(|_| OmsError::shutting_down())?;
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

    /// Live order events.
    pub fn subscribe(&self) -> broadcast::Receiver<OrderEvent> {
        self.events_tx.subscribe()
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    async fn request<T>(
        &self,
        cmd: Command,
        rx: oneshot::Receiver<Result<T, OmsError>>,
    ) -> Result<T, OmsError> {
        self.cmd_tx
            .send(cmd)
            .await
            .map_err(|_| OmsError::shutting_down())?;
        rx.await.map_err(|_| OmsError::shutting_down())?
    }
}
