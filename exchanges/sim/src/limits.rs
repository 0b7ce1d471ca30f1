//! Venue rate-limit bookkeeping: request weight per IP per minute (`X-MBX-USED-WEIGHT-1M`) and
//! order counts per account (`X-MBX-ORDER-COUNT-10S` / `-1D`), in the venue's fixed windows.
//!
//! Phase 1 only counts and reports; enforcement (429 with `Retry-After`, then 418 bans) reads
//! the same counters. A plain mutex is enough here: the critical sections are a few integer
//! updates, never held across an await.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::engine::AccountId;

pub(crate) const REQUEST_WEIGHT_PER_MINUTE: u64 = 6000;
pub(crate) const ORDERS_PER_10S: u64 = 50;
pub(crate) const ORDERS_PER_DAY: u64 = 160_000;
pub(crate) const RAW_REQUESTS_PER_5M: u64 = 300_000;

const MINUTE_MS: i64 = 60_000;
const TEN_SECONDS_MS: i64 = 10_000;
const DAY_MS: i64 = 86_400_000;
/// Beyond this many tracked keys, entries of past windows are dropped.
const PRUNE_AT: usize = 4096;

#[derive(Clone, Copy, Debug, Default)]
struct Window {
    index: i64,
    count: u64,
}

impl Window {
    fn add(&mut self, index: i64, amount: u64) -> u64 {
        if self.index != index {
            *self = Window { index, count: 0 };
        }
        self.count = self.count.saturating_add(amount);
        self.count
    }
}

#[derive(Debug, Default)]
struct State {
    weight: HashMap<IpAddr, Window>,
    orders: HashMap<AccountId, (Window, Window)>,
}

#[derive(Debug, Default)]
pub(crate) struct Limits {
    state: Mutex<State>,
}

impl Limits {
    /// Adds request weight for an IP; returns the weight used in the current minute.
    pub fn add_weight(&self, ip: IpAddr, weight: u32, now_ms: i64) -> u64 {
        let minute = now_ms.div_euclid(MINUTE_MS);
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if state.weight.len() > PRUNE_AT {
            state.weight.retain(|_, w| w.index == minute);
        }
        state
            .weight
            .entry(ip)
            .or_default()
            .add(minute, u64::from(weight))
    }

    /// Counts an accepted order; returns the account's counts in the 10 s and 1 day windows.
    pub fn record_order(&self, account: AccountId, now_ms: i64) -> (u64, u64) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (short, day) = state.orders.entry(account).or_default();
        let short = short.add(now_ms.div_euclid(TEN_SECONDS_MS), 1);
        (short, day.add(now_ms.div_euclid(DAY_MS), 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn weight_resets_each_minute_per_ip() {
        let limits = Limits::default();
        let a = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let b = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(limits.add_weight(a, 20, 60_000), 20);
        assert_eq!(limits.add_weight(a, 5, 119_999), 25);
        assert_eq!(limits.add_weight(b, 1, 119_999), 1);
        assert_eq!(limits.add_weight(a, 1, 120_000), 1);
    }

    #[test]
    fn order_counts_use_10s_and_day_windows() {
        let limits = Limits::default();
        let account = AccountId(0);
        assert_eq!(limits.record_order(account, 1_000), (1, 1));
        assert_eq!(limits.record_order(account, 9_999), (2, 2));
        assert_eq!(limits.record_order(account, 10_000), (1, 3));
    }
}
