//! The order state machine, as pure functions: given the stored order and what the venue says,
//! decide the next state or that the report is stale. State only moves forward and the filled
//! quantity never decreases (DESIGN invariant 4).

use exchange_core::OrderStatus;
use rust_decimal::Decimal;

use crate::store::OrderRecord;

/// What the venue reported about an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub status: OrderStatus,
    pub filled_quantity: Decimal,
    pub cumulative_quote: Decimal,
    pub venue_order_id: Option<String>,
    pub reject_reason: Option<String>,
    /// A direct answer to a query (REST) rather than a streamed event: it may correct a local
    /// state such as `pending_cancel` or `unknown` even when that looks like a step back.
    pub authoritative: bool,
}

/// The state an observation moves an order to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextState {
    pub status: OrderStatus,
    pub filled_quantity: Decimal,
    pub cumulative_quote: Decimal,
}

/// Progress rank: a report may only move an order to a higher rank (local states share the rank
/// of the venue state they stand in for).
fn rank(status: OrderStatus) -> u8 {
    match status {
        OrderStatus::PendingNew | OrderStatus::Unknown => 0,
        OrderStatus::New | OrderStatus::PendingCancel => 1,
        OrderStatus::PartiallyFilled => 2,
        OrderStatus::Filled
        | OrderStatus::Canceled
        | OrderStatus::Rejected
        | OrderStatus::Expired => 3,
    }
}

fn is_local(status: OrderStatus) -> bool {
    matches!(
        status,
        OrderStatus::PendingNew | OrderStatus::Unknown | OrderStatus::PendingCancel
    )
}

/// Decides the next state, or `None` when the observation is stale or a duplicate.
pub fn next_state(current: &OrderRecord, obs: &Observation) -> Option<NextState> {
    let more_filled = obs.filled_quantity > current.filled_quantity;
    let (filled_quantity, cumulative_quote) = if more_filled {
        (obs.filled_quantity, obs.cumulative_quote)
    } else {
        (current.filled_quantity, current.cumulative_quote)
    };
    let status = if current.status.is_terminal() {
        // A terminal order changes only if the venue shows executions we had not seen.
        if more_filled && obs.status.is_terminal() {
            obs.status
        } else {
            current.status
        }
    } else if obs.filled_quantity < current.filled_quantity {
        current.status
    } else if rank(obs.status) > rank(current.status)
        || (obs.authoritative && !is_local(obs.status))
    {
        obs.status
    } else {
        current.status
    };
    let changed = status != current.status || filled_quantity != current.filled_quantity;
    changed.then_some(NextState {
        status,
        filled_quantity,
        cumulative_quote,
    })
}

/// Whether a cancel may be requested for an order in this state.
pub fn cancellable(status: OrderStatus) -> bool {
    matches!(
        status,
        OrderStatus::New
            | OrderStatus::PartiallyFilled
            | OrderStatus::Unknown
            | OrderStatus::PendingNew
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;
    use exchange_core::{OrderType, Side, TimeInForce};
    use rust_decimal_macros::dec;

    fn order(status: OrderStatus, filled: Decimal) -> OrderRecord {
        OrderRecord {
            id: 1,
            venue: "binance".into(),
            account: "main".into(),
            symbol: "BTC-USDT".into(),
            venue_symbol: "BTCUSDT".into(),
            client_order_id: "c".into(),
            venue_order_id: None,
            side: Side::Buy,
            order_type: OrderType::Limit,
            time_in_force: TimeInForce::Gtc,
            quantity: dec!(1),
            price: Some(dec!(100)),
            status,
            filled_quantity: filled,
            cumulative_quote: filled * dec!(100),
            reject_reason: None,
            idempotency_key: "k".into(),
            request_hash: "h".into(),
            created_at_ms: 0,
            updated_at_ms: 0,
        }
    }

    fn obs(status: OrderStatus, filled: Decimal, authoritative: bool) -> Observation {
        Observation {
            status,
            filled_quantity: filled,
            cumulative_quote: filled * dec!(100),
            venue_order_id: Some("1".into()),
            reject_reason: None,
            authoritative,
        }
    }

    #[test]
    fn transition_table() {
        // (current, current filled, observed, observed filled, authoritative) -> expected
        let cases: Vec<(
            OrderStatus,
            Decimal,
            OrderStatus,
            Decimal,
            bool,
            Option<OrderStatus>,
        )> = vec![
            (PendingNew, dec!(0), New, dec!(0), false, Some(New)),
            (PendingNew, dec!(0), Filled, dec!(1), false, Some(Filled)),
            (Unknown, dec!(0), New, dec!(0), false, Some(New)),
            (New, dec!(0), New, dec!(0), false, None),
            (
                New,
                dec!(0),
                PartiallyFilled,
                dec!(0.4),
                false,
                Some(PartiallyFilled),
            ),
            (
                PartiallyFilled,
                dec!(0.4),
                PartiallyFilled,
                dec!(0.6),
                false,
                Some(PartiallyFilled),
            ),
            (
                PartiallyFilled,
                dec!(0.6),
                PartiallyFilled,
                dec!(0.4),
                false,
                None,
            ),
            (PartiallyFilled, dec!(0.6), New, dec!(0), true, None),
            (Filled, dec!(1), New, dec!(0), false, None),
            (Filled, dec!(1), PartiallyFilled, dec!(0.5), false, None),
            (Canceled, dec!(0), New, dec!(0), true, None),
            (PendingCancel, dec!(0), New, dec!(0), false, None),
            (PendingCancel, dec!(0), New, dec!(0), true, Some(New)),
            (
                PendingCancel,
                dec!(0),
                Canceled,
                dec!(0),
                false,
                Some(Canceled),
            ),
            (PendingCancel, dec!(0), Filled, dec!(1), false, Some(Filled)),
            (New, dec!(0), Expired, dec!(0), false, Some(Expired)),
            (Rejected, dec!(0), Filled, dec!(1), true, Some(Filled)),
        ];
        for (cur, cur_filled, seen, seen_filled, auth, want) in cases {
            let got = next_state(&order(cur, cur_filled), &obs(seen, seen_filled, auth))
                .map(|n| n.status);
            assert_eq!(
                got, want,
                "{cur:?}({cur_filled}) + {seen:?}({seen_filled}, auth={auth})"
            );
        }
    }

    #[test]
    fn filled_quantity_never_decreases() {
        for cur in OrderStatus::ALL {
            for seen in OrderStatus::ALL {
                for auth in [false, true] {
                    let current = order(cur, dec!(0.5));
                    if let Some(next) = next_state(&current, &obs(seen, dec!(0.2), auth)) {
                        assert!(next.filled_quantity >= dec!(0.5), "{cur:?} -> {seen:?}");
                    }
                }
            }
        }
    }
}
