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
    /// Requests refused with HTTP 429 (request weight, raw requests or orders; REST and
    /// WebSocket API).
    #[serde(default)]
    pub rate_limited_total: u64,
    /// Requests refused with HTTP 418 (IP banned), including the one that started the ban.
    #[serde(default)]
    pub banned_total: u64,
    /// WebSocket connections the server closed for a venue limit (incoming message rate,
    /// maximum connection age).
    #[serde(default)]
    pub ws_limit_closes_total: u64,
    /// Per fault name: times injected and times it took effect (every fault is listed).
    #[serde(default)]
    pub faults: std::collections::BTreeMap<String, crate::faults::FaultCount>,
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
    RateLimited,
    Banned,
    WsLimitCloses,
}

/// Number of [`Counter`] variants.
const COUNTERS: usize = 10;

#[derive(Debug, Default)]
pub(crate) struct Stats {
    counters: [AtomicU64; COUNTERS],
    /// Fault counters, kept by `crate::faults`.
    pub faults: crate::faults::FaultCounters,
}

impl Stats {
    /// Counts a refused request by its HTTP status (429 or 418).
    pub fn count_refusal(&self, status: u16) {
        match status {
            418 => self.count(Counter::Banned, 1),
            429 => self.count(Counter::RateLimited, 1),
            _ => {}
        }
    }

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
            rate_limited_total: get(Counter::RateLimited),
            banned_total: get(Counter::Banned),
            ws_limit_closes_total: get(Counter::WsLimitCloses),
            faults: self.faults.snapshot(),
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
