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
    /// The order's quantity as the venue states it (lower than ours after an amend).
    pub quantity: Option<Decimal>,
    /// A direct answer to a query (REST) rather than a streamed event: it may correct a local
    /// state such as `pending_cancel` or `unknown` even when that looks like a step back.
    pub authoritative: bool,
    /// Not stated by the venue but inferred by omsd (for example "never accepted"): it may only
    /// settle a local state, and any later venue statement revises it.
    pub inferred: bool,
}

/// The state an observation moves an order to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextState {
    pub status: OrderStatus,
    pub filled_quantity: Decimal,
    pub cumulative_quote: Decimal,
    /// The new status is omsd's inference, not the venue's word.
    pub status_inferred: bool,
    /// The venue contradicted an inferred status: a discrepancy to count and log.
    pub revised: bool,
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
///
/// Venue truth wins over inference: an order whose status omsd inferred takes whatever the
/// venue later states (a revision), and an inferred observation only settles a local state.
pub fn next_state(current: &OrderRecord, obs: &Observation) -> Option<NextState> {
    if obs.inferred {
        return is_local(current.status).then_some(NextState {
            status: obs.status,
            filled_quantity: current.filled_quantity,
            cumulative_quote: current.cumulative_quote,
            status_inferred: true,
            revised: false,
        });
    }
    let more_filled = obs.filled_quantity > current.filled_quantity;
    let (filled_quantity, cumulative_quote) = if more_filled {
        (obs.filled_quantity, obs.cumulative_quote)
    } else {
        (current.filled_quantity, current.cumulative_quote)
    };
    if current.status_inferred {
        return Some(NextState {
            status: obs.status,
            filled_quantity,
            cumulative_quote,
            status_inferred: false,
            revised: true,
        });
    }
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
        status_inferred: false,
        revised: false,
    })
}

/// The quantity an observation amends the order to, if any. An amend only ever lowers an
/// order's quantity, and never below what executed, so a lower quantity the venue states is
/// the amended one and a higher one is a report from before the amend: the quantity, like the
/// state, never moves back.
pub fn amended_quantity(current: &OrderRecord, obs: &Observation) -> Option<Decimal> {
    let quantity = obs.quantity.filter(|_| !obs.inferred)?;
    let floor = current.filled_quantity.max(obs.filled_quantity);
    (quantity > Decimal::ZERO && quantity < current.quantity && quantity >= floor)
        .then_some(quantity)
}

/// Whether a late failure of a send may still change an order: only a state that omsd set
/// itself while waiting for the venue (`pending_new`, `pending_cancel`) may become `unknown`;
/// a state the venue reported is never overwritten by a failed call.
pub fn may_become_unknown(status: OrderStatus) -> bool {
    matches!(status, OrderStatus::PendingNew | OrderStatus::PendingCancel)
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
pub(super) mod tests {
    use super::*;
    use OrderStatus::*;
    use exchange_core::{OrderType, Side, TimeInForce};
    use rust_decimal_macros::dec;

    /// An order of `binance` with id 1 and client order id `c`.
    pub(in crate::oms) fn order(status: OrderStatus, filled: Decimal) -> OrderRecord {
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
            status_inferred: false,
        }
    }

    fn obs(status: OrderStatus, filled: Decimal, authoritative: bool) -> Observation {
        Observation {
            status,
            filled_quantity: filled,
            cumulative_quote: filled * dec!(100),
            venue_order_id: Some("1".into()),
            reject_reason: None,
            quantity: None,
            authoritative,
            inferred: false,
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
    fn quantity_only_moves_down_to_what_the_venue_amended_it_to() {
        let current = order(PartiallyFilled, dec!(0.3));
        let with = |q: Decimal, inferred: bool| Observation {
            quantity: Some(q),
            inferred,
            ..obs(PartiallyFilled, dec!(0.3), false)
        };
        assert_eq!(
            amended_quantity(&current, &with(dec!(0.5), false)),
            Some(dec!(0.5))
        );
        // A report from before the amend, the same quantity, below the executed quantity, an
        // inference or no quantity at all change nothing.
        for q in [dec!(2), current.quantity, dec!(0.2), Decimal::ZERO] {
            assert_eq!(amended_quantity(&current, &with(q, false)), None, "{q}");
        }
        assert_eq!(amended_quantity(&current, &with(dec!(0.5), true)), None);
        assert_eq!(
            amended_quantity(&current, &obs(PartiallyFilled, dec!(0.3), true)),
            None
        );
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

    #[test]
    fn venue_truth_revises_an_inferred_rejection() {
        let mut inferred = order(Rejected, dec!(0));
        inferred.status_inferred = true;
        for (seen, filled) in [(New, dec!(0)), (Filled, dec!(1)), (Canceled, dec!(0))] {
            let next = next_state(&inferred, &obs(seen, filled, false)).expect("revised");
            assert_eq!(next.status, seen);
            assert_eq!(next.filled_quantity, filled);
            assert!(next.revised && !next.status_inferred, "{seen:?}");
        }
    }

    #[test]
    fn an_inference_only_settles_local_states() {
        let mut not_accepted = obs(Rejected, dec!(0), false);
        not_accepted.inferred = true;
        for cur in OrderStatus::ALL {
            let next = next_state(&order(cur, dec!(0)), &not_accepted);
            let local = matches!(cur, PendingNew | Unknown | PendingCancel);
            assert_eq!(next.is_some(), local, "{cur:?}");
            if let Some(next) = next {
                assert!(next.status_inferred);
            }
        }
    }

    #[test]
    fn only_local_waiting_states_may_become_unknown() {
        for status in OrderStatus::ALL {
            let want = matches!(status, PendingNew | PendingCancel);
            assert_eq!(may_become_unknown(status), want, "{status:?}");
        }
    }
}
