//! Amending an open order's quantity down, keeping its place in the venue's queue.
//!
//! The request is checked locally (an amend only lowers the quantity, never to or below what
//! executed, and the new quantity must pass the instrument's filters), recorded as an audit
//! event in the next group commit, and sent only after that commit. The order's quantity
//! changes only when the venue states it: the amend's answer, a user-stream report or a query.
//! An answer that is lost leaves the outcome to a query of the order, never to a guess.

use exchange_core::{ExchangeError, OrderSnapshot, OrderStatus};
use rust_decimal::Decimal;
use serde_json::json;
use tokio::sync::oneshot;

use super::actor::Oms;
use super::apply::Change;
use super::commit::Effect;
use super::working::{AmendWaiter, PendingAmend};
use super::{OmsError, OrderDetail, risk};
use crate::telemetry;

/// What an amend request is answered with once it is durable: a receiver of the venue's
/// answer.
pub(super) type AmendReply =
    oneshot::Sender<Result<oneshot::Receiver<Result<OrderDetail, OmsError>>, OmsError>>;

impl Oms {
    pub(super) fn amend(&mut self, order_id: i64, quantity: Decimal, reply: AmendReply) {
        match self.request_amend(order_id, quantity) {
            Ok(answered) => self.commit.after(Some(Effect::Reply(Box::new(move || {
                let _ = reply.send(Ok(answered));
            })))),
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Checks an amend, records the request and queues it behind that write.
    fn request_amend(
        &mut self,
        order_id: i64,
        quantity: Decimal,
    ) -> Result<oneshot::Receiver<Result<OrderDetail, OmsError>>, OmsError> {
        let live = self
            .work
            .get(order_id)
            .ok_or(OmsError::NotFound(order_id))?;
        let order = &live.order;
        if !matches!(
            order.status,
            OrderStatus::New | OrderStatus::PartiallyFilled
        ) {
            return Err(OmsError::Conflict {
                code: "order_not_amendable",
                message: format!(
                    "order {order_id} is {} and cannot be amended; only new or partially \
                     filled orders can",
                    order.status
                ),
            });
        }
        if let Some(pending) = &live.amend {
            return Err(OmsError::Conflict {
                code: "amend_in_progress",
                message: format!(
                    "an amend of order {order_id} to {} is waiting for the venue's answer",
                    pending.quantity
                ),
            });
        }
        if quantity >= order.quantity {
            return Err(OmsError::Invalid {
                code: "invalid_quantity",
                message: format!(
                    "an amend only lowers the quantity: {quantity} is not below {}",
                    order.quantity
                ),
            });
        }
        if quantity <= order.filled_quantity {
            return Err(OmsError::Invalid {
                code: "invalid_quantity",
                message: format!(
                    "quantity {quantity} must stay above the {} already executed (cancel the \
                     order instead)",
                    order.filled_quantity
                ),
            });
        }
        let venue = self
            .venues
            .get(&order.venue)
            .ok_or(OmsError::NotFound(order_id))?;
        if let Some(instrument) = venue.instrument(&order.symbol) {
            instrument
                .filters
                .check(order.order_type, quantity, order.price)
                .map_err(|v| OmsError::Invalid {
                    code: risk::violation_code(&v),
                    message: format!("{}: {v}", order.symbol),
                })?;
        }
        risk::venue_accepts_orders(venue)?;
        if !self.commit.store_up() {
            return Err(OmsError::store_unavailable());
        }
        let from = order.quantity;
        let (tx, rx) = oneshot::channel();
        self.observe(
            order_id,
            Change::note(
                "amend_requested",
                json!({ "quantity": quantity.to_string(), "from": from.to_string() }),
            ),
        );
        if let Some(live) = self.work.get_mut(order_id) {
            live.amend = Some(PendingAmend {
                quantity,
                waiter: tx,
            });
        }
        self.commit.after(Some(Effect::Amend(order_id, quantity)));
        Ok(rx)
    }

    /// The venue's answer to an amend.
    pub(super) fn on_amend_answered(
        &mut self,
        order_id: i64,
        result: Result<OrderSnapshot, ExchangeError>,
    ) {
        let Some(pending) = self.work.get_mut(order_id).and_then(|l| l.amend.take()) else {
            return;
        };
        let venue = self
            .work
            .get(order_id)
            .map(|l| l.order.venue.clone())
            .unwrap_or_default();
        let outcome = match &result {
            Ok(_) => "amended",
            Err(ExchangeError::Rejected { .. }) => "rejected",
            Err(ExchangeError::NotFound { .. }) => "not_open",
            Err(ExchangeError::Unavailable { .. }) => "not_sent",
            Err(_) => "unknown",
        };
        telemetry::order_amend(&venue, outcome);
        match result {
            Ok(snapshot) => {
                self.observe(
                    order_id,
                    Change::from_snapshot(&snapshot, true, "amend_ack"),
                );
                self.answer_amend(order_id, pending.waiter, None);
            }
            Err(ExchangeError::Rejected { code, message }) => {
                tracing::info!(order_id, ?code, %message, "the venue refused an amend");
                let detail = json!({
                    "quantity": pending.quantity.to_string(),
                    "code": code,
                    "message": message,
                });
                self.observe(order_id, Change::note("amend_rejected", detail));
                let error = OmsError::Conflict {
                    code: "amend_rejected",
                    message: format!("the venue refused the amend: {message}"),
                };
                self.answer_amend(order_id, pending.waiter, Some(error));
            }
            Err(ExchangeError::Unavailable { message, .. }) => {
                // Refused locally, nothing was sent: the order is as it was.
                let error = OmsError::Unavailable {
                    code: "venue_unavailable",
                    message: format!("the amend was not sent: {message}"),
                };
                self.answer_amend(order_id, pending.waiter, Some(error));
            }
            Err(e) => {
                // Not open any more, or the outcome is unknown: the venue's own view decides.
                tracing::info!(order_id, error = %e, "amend not confirmed; querying the order");
                super::resolve::spawn_resolve(self, order_id);
                let error = match e {
                    ExchangeError::NotFound { .. } => OmsError::Conflict {
                        code: "order_not_amendable",
                        message: format!(
                            "the venue has no open order {order_id} any more; its final state \
                             is being read from the venue"
                        ),
                    },
                    other => OmsError::Unavailable {
                        code: "amend_unconfirmed",
                        message: format!(
                            "the venue did not confirm the amend ({other}); omsd is querying the \
                             order, whose quantity will show whether it was amended"
                        ),
                    },
                };
                self.answer_amend(order_id, pending.waiter, Some(error));
            }
        }
        self.after_change(order_id);
    }

    /// Answers the amend's caller once everything before is durable: with the order as it is
    /// now, or with `error`.
    fn answer_amend(&mut self, order_id: i64, waiter: AmendWaiter, error: Option<OmsError>) {
        let answer = match error {
            Some(error) => Err(error),
            None => match self.work.get(order_id) {
                Some(live) => Ok(live.detail()),
                None => Err(OmsError::NotFound(order_id)),
            },
        };
        self.commit.after(Some(Effect::Reply(Box::new(move || {
            let _ = waiter.send(answer);
        }))));
    }
}
