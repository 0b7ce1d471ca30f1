//! Counters of what the simulator saw, exposed as [`SimStats`] through `SimHandle::stats()` and
//! `GET /_sim/stats`. Each event has one counter; code calls `Stats::count`, never touches the
//! atomics directly.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// A snapshot of the simulator's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimStats {
    /// HTTP requests of any kind, plus WebSocket API requests.
    pub requests_total: u64,
    /// Order placements that passed authentication and signature checks.
    pub orders_received: u64,
    /// Placements the engine accepted (the order got an id).
    pub orders_accepted: u64,
    /// Authenticated placements refused (bad parameters, filters, balance, ...).
    pub orders_rejected: u64,
    /// Cancel requests that passed authentication and signature checks.
    pub cancels_received: u64,
    /// Trades executed, agents included.
    pub trades_total: u64,
    /// WebSocket connections accepted (market streams and WebSocket API).
    pub ws_connections_total: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Counter {
    Requests,
    OrdersReceived,
    OrdersAccepted,
    OrdersRejected,
    CancelsReceived,
    Trades,
    WsConnections,
}

#[derive(Debug, Default)]
pub(crate) struct Stats {
    counters: [AtomicU64; 7],
}

impl Stats {
    pub fn count(&self, counter: Counter, n: u64) {
        self.counters[counter as usize].fetch_add(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> SimStats {
        let get = |c: Counter| self.counters[c as usize].load(Ordering::Relaxed);
        SimStats {
            requests_total: get(Counter::Requests),
            orders_received: get(Counter::OrdersReceived),
            orders_accepted: get(Counter::OrdersAccepted),
            orders_rejected: get(Counter::OrdersRejected),
            cancels_received: get(Counter::CancelsReceived),
            trades_total: get(Counter::Trades),
            ws_connections_total: get(Counter::WsConnections),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_independent() {
        let stats = Stats::default();
        stats.count(Counter::OrdersReceived, 2);
        stats.count(Counter::WsConnections, 1);
        let snapshot = stats.snapshot();
        assert_eq!(
            (snapshot.orders_received, snapshot.ws_connections_total),
            (2, 1)
        );
        assert_eq!(snapshot.requests_total, 0);
    }
}
