//! The order updates the user stream owes: once the venue accepted an order or a cancel over
//! REST, its `executionReport` must arrive on the user stream. One that does not within the
//! configured timeout means the stream is silent although it answers pings (a subscription the
//! venue forgot, a stuck feed); the stream is then reconnected, and the consumer reconciles.
//!
//! Only owed updates are judged, so a quiet account (nothing placed) is never reconnected,
//! and a reconnect forgives everything owed before it (the consumer's reconciliation covers
//! it), so a silence cannot cause a reconnect loop either.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Owed updates tracked at most (beyond that, new ones are not judged).
const MAX_OWED: usize = 10_000;
/// Client order ids whose update arrived, remembered for an acceptance that answers later.
const MAX_ARRIVED: usize = 4_096;

#[derive(Debug, Default)]
struct State {
    /// Client order id → when the venue accepted the request that owes an update.
    owed: HashMap<String, Instant>,
    arrived: HashSet<String>,
    arrived_order: VecDeque<String>,
}

/// Updates owed by the user stream, shared by the REST calls and the stream task.
#[derive(Debug, Default)]
pub(crate) struct Owed {
    state: Mutex<State>,
}

impl Owed {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The venue accepted a request for `client_order_id`: an update is owed, unless it came
    /// already (the stream may beat the REST answer).
    pub(crate) fn owe(&self, client_order_id: &str) {
        let mut state = self.lock();
        if state.arrived.contains(client_order_id) || state.owed.len() >= MAX_OWED {
            return;
        }
        state
            .owed
            .entry(client_order_id.to_owned())
            .or_insert_with(Instant::now);
    }

    /// An update for `client_order_id` arrived on the stream.
    pub(crate) fn arrived(&self, client_order_id: &str) {
        let mut state = self.lock();
        state.owed.remove(client_order_id);
        if state.arrived.insert(client_order_id.to_owned()) {
            state.arrived_order.push_back(client_order_id.to_owned());
            if state.arrived_order.len() > MAX_ARRIVED
                && let Some(oldest) = state.arrived_order.pop_front()
            {
                state.arrived.remove(&oldest);
            }
        }
    }

    /// The oldest update owed for longer than `timeout`, and for how long.
    pub(crate) fn overdue(&self, timeout: Duration) -> Option<(String, Duration)> {
        self.lock()
            .owed
            .iter()
            .map(|(id, since)| (id, since.elapsed()))
            .filter(|(_, owed_for)| *owed_for > timeout)
            .max_by_key(|(_, owed_for)| *owed_for)
            .map(|(id, owed_for)| (id.clone(), owed_for))
    }

    /// A new subscription: the consumer reconciles, so nothing owed before is judged.
    pub(crate) fn forgive(&self) {
        self.lock().owed.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn owed_updates_become_overdue_unless_they_arrive() {
        let owed = Owed::default();
        let timeout = Duration::from_secs(5);
        // The stream beat the REST answer: nothing is owed.
        owed.arrived("early");
        owed.owe("early");
        owed.owe("a");
        owed.owe("b");
        tokio::time::advance(Duration::from_secs(3)).await;
        owed.arrived("a");
        assert_eq!(owed.overdue(timeout), None);
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(owed.overdue(timeout).map(|o| o.0), Some("b".to_owned()));
        owed.forgive();
        assert_eq!(owed.overdue(timeout), None);
    }
}
