//! Venue calls made on behalf of the OMS, each in its own tracked task that reports back to
//! the actor: sending an order, cancelling one, and resolving an unknown outcome by asking the
//! venue (never guessing, DESIGN invariant 3).

use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use exchange_core::{Exchange, ExchangeError, Fill, NewOrder, OrderSnapshot};

use super::actor::{Oms, now_ms};
use super::{Command, Observation};
use crate::store::OrderRecord;
use crate::telemetry;
use crate::venues::Venue;

/// After this long past its creation, an order the venue does not know was never accepted: the
/// venue refuses any request older than its receive window.
fn acceptance_window(venue: &Venue) -> i64 {
    venue.config.recv_window_ms as i64 + 5_000
}

pub(super) async fn with_deadline<T>(
    deadline: Duration,
    call: impl Future<Output = Result<T, ExchangeError>>,
) -> Result<T, ExchangeError> {
    tokio::time::timeout(deadline, call)
        .await
        .unwrap_or_else(|_| {
            Err(ExchangeError::unknown(format!(
                "no answer within {deadline:?}"
            )))
        })
}

pub(super) fn spawn_place(oms: &Oms, venue: &Arc<Venue>, order: &OrderRecord) {
    let new_order = NewOrder {
        client_order_id: order.client_order_id.clone(),
        venue_symbol: order.venue_symbol.clone(),
        side: order.side,
        order_type: order.order_type,
        time_in_force: order.time_in_force,
        quantity: order.quantity,
        price: order.price,
    };
    let (exchange, cmd_tx, deadline, order_id) = (
        venue.exchange.clone(),
        oms.cmd_tx.clone(),
        oms.request_timeout,
        order.id,
    );
    let venue_name = venue.name().to_string();
    oms.tasks.spawn(async move {
        let started = Instant::now();
        let result = with_deadline(deadline, exchange.place_order(&new_order)).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.kind(),
        };
        telemetry::order_sent(&venue_name, started.elapsed(), outcome);
        let _ = cmd_tx.send(Command::Placed { order_id, result }).await;
    });
}

pub(super) fn spawn_cancel(oms: &Oms, venue: &Arc<Venue>, order: &OrderRecord) {
    let (exchange, cmd_tx, deadline, order_id) = (
        venue.exchange.clone(),
        oms.cmd_tx.clone(),
        oms.request_timeout,
        order.id,
    );
    let (symbol, client_order_id) = (order.venue_symbol.clone(), order.client_order_id.clone());
    oms.tasks.spawn(async move {
        let result =
            with_deadline(deadline, exchange.cancel_order(&symbol, &client_order_id)).await;
        let _ = cmd_tx
            .send(Command::CancelAnswered { order_id, result })
            .await;
    });
}

/// What one query of an order found.
pub(super) enum Lookup {
    Found(OrderSnapshot, Vec<Fill>),
    /// Not on the venue, and too old to still arrive there.
    NeverAccepted,
    /// Not on the venue yet, but a send may still be in flight.
    NotYet,
}

/// Queries an order and, when it has executions, its fills.
pub(super) async fn lookup(
    exchange: &dyn Exchange,
    venue: &Venue,
    order: &OrderRecord,
    deadline: Duration,
) -> Result<Lookup, ExchangeError> {
    match with_deadline(
        deadline,
        exchange.query_order(&order.venue_symbol, &order.client_order_id),
    )
    .await
    {
        Ok(snapshot) => {
            let fills = if snapshot.filled_quantity > order.filled_quantity {
                with_deadline(
                    deadline,
                    exchange.order_fills(&order.venue_symbol, &snapshot.venue_order_id),
                )
                .await?
            } else {
                Vec::new()
            };
            Ok(Lookup::Found(snapshot, fills))
        }
        Err(ExchangeError::NotFound { .. })
            if now_ms() - order.created_at_ms > acceptance_window(venue) =>
        {
            Ok(Lookup::NeverAccepted)
        }
        Err(ExchangeError::NotFound { .. }) => Ok(Lookup::NotYet),
        Err(e) => Err(e),
    }
}

pub(super) fn observed(
    order_id: i64,
    snapshot: &OrderSnapshot,
    fills: Vec<Fill>,
    kind: &'static str,
) -> Command {
    Command::Observed {
        order_id,
        obs: Observation {
            status: snapshot.status,
            filled_quantity: snapshot.filled_quantity,
            cumulative_quote: snapshot.cumulative_quote,
            venue_order_id: Some(snapshot.venue_order_id.clone()),
            reject_reason: None,
            authoritative: true,
        },
        fills,
        kind,
    }
}

/// Asks the venue about an order until it gives a definite answer (or shutdown).
pub(super) fn spawn_resolve(oms: &Oms, venue: &Arc<Venue>, order: &OrderRecord) {
    let (venue, order, cmd_tx, deadline) = (
        venue.clone(),
        order.clone(),
        oms.cmd_tx.clone(),
        oms.request_timeout,
    );
    let shutdown = oms.shutdown.clone();
    oms.tasks.spawn(async move {
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(5))
            .with_jitter()
            .without_max_times()
            .build();
        loop {
            let cmd = tokio::select! {
                () = shutdown.cancelled() => return,
                found = lookup(venue.exchange.as_ref(), &venue, &order, deadline) => match found {
                    Ok(Lookup::Found(snapshot, fills)) => {
                        telemetry::unknown_resolved(venue.name(), order.id, "found");
                        Some(observed(order.id, &snapshot, fills, "resolved"))
                    }
                    Ok(Lookup::NeverAccepted) => Some(Command::NotOnVenue { order_id: order.id }),
                    Ok(Lookup::NotYet) => None,
                    Err(e) => {
                        tracing::debug!(order_id = order.id, error = %e, "order query failed; retrying");
                        None
                    }
                },
            };
            if let Some(cmd) = cmd {
                let _ = cmd_tx.send(cmd).await;
                return;
            }
            let delay = delays.next().unwrap_or(Duration::from_secs(5));
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
            }
        }
    });
}
