//! Store against venue: every disagreement between what the simulator holds for our account
//! and what omsd stored, in both directions (the crash and shutdown tests' verdict).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::store_view::{StoredOrder, read_orders};
use super::venue::{SignedVenue, VenueTruth};

/// The store's status word for a venue status word.
fn store_status(venue: &str) -> &'static str {
    match venue {
        "NEW" => "new",
        "PARTIALLY_FILLED" => "partially_filled",
        "FILLED" => "filled",
        "CANCELED" => "canceled",
        "PENDING_CANCEL" => "pending_cancel",
        "REJECTED" => "rejected",
        "EXPIRED" | "EXPIRED_IN_MATCH" => "expired",
        _ => "?",
    }
}

/// Reason texts omsd writes itself when it concludes the venue never accepted an order.
fn is_inferred_reason(reason: &str) -> bool {
    reason == "not_accepted_by_venue" || reason.contains("never accepted")
}

/// Every disagreement between the venue and the store, one line each (empty: consistent).
pub fn diff(truth: &VenueTruth, stored: &BTreeMap<String, StoredOrder>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut at_venue: BTreeMap<&str, Vec<_>> = BTreeMap::new();
    for order in truth.orders.values() {
        if order.client_order_id.starts_with("omsd-") {
            at_venue
                .entry(order.client_order_id.as_str())
                .or_default()
                .push(order);
        }
    }
    // a. Venue -> store.
    for (coid, orders) in &at_venue {
        if orders.len() > 1 {
            let ids: Vec<i64> = orders.iter().map(|o| o.order_id).collect();
            problems.push(format!(
                "a: venue holds {} orders {ids:?} with client order id {coid}",
                orders.len()
            ));
        }
        let v = orders[0];
        let Some(s) = stored.get(*coid) else {
            problems.push(format!(
                "a: venue order {coid} ({} #{} {} filled {}) is not in the store",
                v.symbol, v.order_id, v.status, v.executed_qty
            ));
            continue;
        };
        let want = store_status(&v.status);
        if s.status != want || s.filled_quantity != v.executed_qty {
            problems.push(format!(
                "a: order {} {coid}: store says {} filled {}, venue says {} filled {}",
                s.id, s.status, s.filled_quantity, v.status, v.executed_qty
            ));
        }
        if s.venue_symbol != v.symbol
            || s.venue_order_id
                .as_deref()
                .is_some_and(|id| id != v.order_id.to_string())
        {
            problems.push(format!(
                "a: order {} {coid}: store has {} #{:?}, venue has {} #{}",
                s.id, s.venue_symbol, s.venue_order_id, v.symbol, v.order_id
            ));
        }
        let mut want_fills: Vec<(String, _)> = truth
            .trades_of(&v.symbol, v.order_id)
            .iter()
            .map(|t| (t.id.to_string(), t.qty.normalize()))
            .collect();
        let mut got_fills: Vec<(String, _)> = s
            .fills
            .iter()
            .map(|(id, q)| (id.clone(), q.normalize()))
            .collect();
        want_fills.sort();
        got_fills.sort();
        if want_fills != got_fills {
            problems.push(format!(
                "a: order {} {coid}: stored fills {got_fills:?}, venue trades {want_fills:?}",
                s.id
            ));
        }
        let sum: rust_decimal::Decimal = s.fills.iter().map(|(_, q)| *q).sum();
        if sum != s.filled_quantity {
            problems.push(format!(
                "a: order {} {coid}: stored fills add up to {sum}, filled quantity is {}",
                s.id, s.filled_quantity
            ));
        }
    }
    // b. Store -> venue, and c. nothing left in flight.
    for s in stored.values() {
        if matches!(
            s.status.as_str(),
            "pending_new" | "unknown" | "pending_cancel"
        ) {
            problems.push(format!(
                "c: order {} {} is left {}",
                s.id, s.client_order_id, s.status
            ));
        }
        if at_venue.contains_key(s.client_order_id.as_str()) {
            continue;
        }
        let reason = s.reject_reason.as_deref().unwrap_or("");
        let ok = s.status == "rejected"
            && s.filled_quantity.is_zero()
            && s.fills.is_empty()
            && match s.status_inferred {
                Some(true) => reason == "not_accepted_by_venue",
                Some(false) => !reason.is_empty() && !is_inferred_reason(reason),
                // Without the column an inferred status cannot be told apart: only a reason
                // the venue stated is acceptable.
                None => !reason.is_empty() && !is_inferred_reason(reason),
            };
        if !ok {
            problems.push(format!(
                "b: order {} {} ({}) is not at the venue: status {} filled {} inferred {:?} reason {:?}",
                s.id, s.client_order_id, s.venue_symbol, s.status, s.filled_quantity,
                s.status_inferred, s.reject_reason
            ));
        }
    }
    problems
}

/// Polls venue and store until they agree or the deadline passes; the last diff on failure.
pub async fn converge(
    venue: &SignedVenue,
    truth: &mut VenueTruth,
    store_url: &str,
    symbols: &[&str],
    deadline: Duration,
) -> Result<(Duration, usize, usize), Vec<String>> {
    let start = Instant::now();
    loop {
        let problems = match (
            truth.refresh(venue, symbols).await,
            read_orders(store_url).await,
        ) {
            (Ok(()), Ok(stored)) => {
                let problems = diff(truth, &stored);
                if problems.is_empty() {
                    return Ok((start.elapsed(), truth.orders.len(), stored.len()));
                }
                problems
            }
            (Err(e), _) => vec![format!("venue read failed: {e}")],
            (_, Err(e)) => vec![format!("store read failed: {e}")],
        };
        if start.elapsed() > deadline {
            return Err(problems);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
