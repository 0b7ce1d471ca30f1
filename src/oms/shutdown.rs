//! Cancelling every open order when the daemon stops (`shutdown.cancel_open_orders`).

use exchange_core::OrderStatus;
use tokio::sync::oneshot;

use super::actor::Oms;
use super::commit::Effect;
use super::{OrderDetail, state};

/// What a request to cancel every open order did.
#[derive(Debug)]
pub struct CancelOpen {
    /// One per order a cancel is under way for: yields the order once the venue answered.
    pub answers: Vec<oneshot::Receiver<OrderDetail>>,
    /// No new order was being written when the cancels were requested: none can appear
    /// later (intake is closed first). When false, the caller asks again shortly.
    pub settled: bool,
}

impl Oms {
    pub(super) fn cancel_open(&mut self, reply: oneshot::Sender<CancelOpen>) {
        let cancellable: Vec<i64> = self
            .work
            .iter()
            .filter(|l| {
                state::cancellable(l.order.status) || l.order.status == OrderStatus::PendingCancel
            })
            .map(|l| l.order.id)
            .collect();
        // A batch being written may hold new orders: they are live only once it committed.
        let settled = !self.commit.writing() && self.commit.turn().creates.is_empty();
        let mut answers = Vec::new();
        for id in cancellable {
            match self.request_cancel(id) {
                Ok(Some(rx)) => answers.push(rx),
                Ok(None) => {
                    let (tx, rx) = oneshot::channel();
                    if let Some(live) = self.work.get_mut(id) {
                        live.cancel_waiters.push(tx);
                    }
                    answers.push(rx);
                }
                Err(e) => {
                    tracing::warn!(order_id = id, error = %e, "cannot cancel an open order at shutdown")
                }
            }
        }
        tracing::info!(
            cancels = answers.len(),
            settled,
            "shutdown: canceling every open order"
        );
        let outcome = CancelOpen { answers, settled };
        self.commit.after(Some(Effect::Reply(Box::new(move || {
            let _ = reply.send(outcome);
        }))));
    }
}
