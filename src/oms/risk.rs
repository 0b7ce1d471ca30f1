//! Pre-trade checks: everything that can be decided locally is refused here, before the order
//! is written or sent, so bad input never reaches the venue.

use exchange_core::{BreakerState, FilterViolation, Instrument};

use super::{OmsError, SubmitRequest, ids};
use crate::venues::Venue;

/// Checks a request against its venue and instrument; returns the instrument to trade.
pub fn check(venue: &Venue, req: &SubmitRequest) -> Result<Instrument, OmsError> {
    let instrument = venue
        .instrument(&req.symbol)
        .ok_or_else(|| OmsError::Invalid {
            code: "unknown_symbol",
            message: format!(
                "symbol '{}' is not traded on venue '{}'",
                req.symbol, req.venue
            ),
        })?;
    if !instrument.trading {
        return Err(OmsError::Invalid {
            code: "symbol_not_trading",
            message: format!(
                "symbol '{}' is not trading on venue '{}'",
                req.symbol, req.venue
            ),
        });
    }
    if let Some(id) = &req.client_order_id
        && !ids::valid_client_order_id(id)
    {
        return Err(OmsError::Invalid {
            code: "invalid_client_order_id",
            message: "client_order_id must be 1 to 36 characters of [A-Za-z0-9_-]".into(),
        });
    }
    instrument
        .filters
        .check(req.order_type, req.quantity, req.price)
        .map_err(|v| OmsError::Invalid {
            code: violation_code(&v),
            message: format!("{}: {v}", req.symbol),
        })?;
    Ok(instrument)
}

/// Refuses new orders, before anything is written, while the venue's order lane cannot send:
/// its circuit breaker is open, or the venue paused (429) or banned (418) us. Fails fast with a
/// retryable 503 instead of queuing.
pub fn venue_accepts_orders(venue: &Venue) -> Result<(), OmsError> {
    if venue.instruments_stale() {
        return Err(OmsError::Unavailable {
            code: "venue_instruments_stale",
            message: format!(
                "venue '{}' has not answered since start: its instruments are the cached copy \
                 fetched at {} ms; orders resume once the venue answers",
                venue.name(),
                venue.instruments_fetched_at_ms()
            ),
        });
    }
    let health = venue.exchange.health();
    let now_ms = super::actor::now_ms();
    if let Some(until) = health.limiter.banned_until_ms.filter(|u| *u > now_ms) {
        return Err(OmsError::Unavailable {
            code: "venue_banned",
            message: format!(
                "venue '{}' banned this client (418); orders resume in {} ms",
                venue.name(),
                until - now_ms
            ),
        });
    }
    if let Some(until) = health.limiter.paused_until_ms.filter(|u| *u > now_ms) {
        return Err(OmsError::Unavailable {
            code: "venue_rate_limited",
            message: format!(
                "venue '{}' asked us to slow down (429); orders resume in {} ms",
                venue.name(),
                until - now_ms
            ),
        });
    }
    let open = health
        .breakers
        .iter()
        .any(|b| b.class == "orders" && b.state == BreakerState::Open);
    if open {
        return Err(OmsError::Unavailable {
            code: "venue_unavailable",
            message: format!(
                "venue '{}' is failing (order circuit breaker open); retry shortly",
                venue.name()
            ),
        });
    }
    Ok(())
}

pub(super) fn violation_code(v: &FilterViolation) -> &'static str {
    match v {
        FilterViolation::NonPositiveQuantity
        | FilterViolation::QuantityOffStep { .. }
        | FilterViolation::QuantityOutOfRange { .. } => "invalid_quantity",
        FilterViolation::NonPositivePrice
        | FilterViolation::MissingPrice
        | FilterViolation::UnexpectedPrice
        | FilterViolation::PriceOffTick { .. }
        | FilterViolation::PriceOutOfRange { .. } => "invalid_price",
        FilterViolation::NotionalOutOfRange { .. } => "invalid_notional",
    }
}
