//! Venue rate limits in the venue's fixed windows: request weight per IP per minute
//! (`X-MBX-USED-WEIGHT-1M`), raw requests per IP per 5 minutes, and new orders per account per
//! 10 s and per day (`X-MBX-ORDER-COUNT-10S` / `-1D`). The order counts are unfilled order
//! counts: an order's first fill takes it off the count of the windows it was counted in.
//!
//! An IP over a limit gets HTTP 429 with `Retry-After`; one that keeps sending while limited
//! (more than `ban_after_rejections` refusals in a window) is banned with HTTP 418, for
//! `ban_initial_ms` the first time and twice as long each time after, up to `ban_max_ms`.
//! A plain mutex is enough here: the critical sections are a few integer updates, never held
//! across an await.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use axum::http::StatusCode;

use crate::config::LimitConfig;
use crate::engine::AccountId;
use crate::errors::ApiError;

const MINUTE_MS: i64 = 60_000;
const FIVE_MINUTES_MS: i64 = 300_000;
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

    fn get(&self, index: i64) -> u64 {
        if self.index == index { self.count } else { 0 }
    }

    fn sub(&mut self, index: i64, amount: u64) -> u64 {
        if self.index == index {
            self.count = self.count.saturating_sub(amount);
        }
        self.get(index)
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct IpState {
    weight: Window,
    raw: Window,
    /// Requests refused while limited, in the window of `rejected.index`.
    rejected: Window,
    banned_until: i64,
    bans: u32,
}

#[derive(Debug, Default)]
struct State {
    ips: HashMap<IpAddr, IpState>,
    orders: HashMap<AccountId, (Window, Window)>,
}

/// Counts and enforces the venue's limits.
#[derive(Debug)]
pub(crate) struct Limits {
    config: LimitConfig,
    state: Mutex<State>,
}

impl Default for Limits {
    fn default() -> Self {
        Self::new(LimitConfig::default())
    }
}

/// Why a request is refused before it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Over REQUEST_WEIGHT (429).
    Weight { until: i64 },
    /// Over RAW_REQUESTS (429).
    Raw { until: i64 },
    /// Banned (418).
    Banned { until: i64 },
}

impl Limits {
    pub fn new(config: LimitConfig) -> Self {
        Self {
            config,
            state: Mutex::default(),
        }
    }

    pub fn config(&self) -> &LimitConfig {
        &self.config
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Admits one request from `ip` (counting it as a raw request) or says why not. Refusals
    /// count towards a ban.
    pub fn admit(&self, ip: IpAddr, now_ms: i64) -> Result<(), Refusal> {
        let c = &self.config;
        let mut state = self.lock();
        if state.ips.len() > PRUNE_AT {
            let minute = now_ms.div_euclid(MINUTE_MS);
            state
                .ips
                .retain(|_, s| s.weight.index == minute || s.banned_until > now_ms);
        }
        let s = state.ips.entry(ip).or_default();
        if s.banned_until > now_ms {
            return Err(Refusal::Banned {
                until: s.banned_until,
            });
        }
        let five = now_ms.div_euclid(FIVE_MINUTES_MS);
        let minute = now_ms.div_euclid(MINUTE_MS);
        let refusal = if s.raw.add(five, 1) > c.raw_requests_per_5m {
            Refusal::Raw {
                until: (five + 1) * FIVE_MINUTES_MS,
            }
        } else if s.weight.get(minute) >= c.request_weight_per_minute {
            Refusal::Weight {
                until: (minute + 1) * MINUTE_MS,
            }
        } else {
            return Ok(());
        };
        Err(escalate(c, s, refusal, now_ms))
    }

    /// Charges `weight` to an admitted request before it runs, unless it would take the
    /// minute's weight past the limit: then nothing is charged and the request is refused
    /// (counted towards a ban like any refusal).
    pub fn reserve_weight(&self, ip: IpAddr, weight: u32, now_ms: i64) -> Result<(), Refusal> {
        let c = &self.config;
        let minute = now_ms.div_euclid(MINUTE_MS);
        let mut state = self.lock();
        let s = state.ips.entry(ip).or_default();
        if s.weight.get(minute).saturating_add(u64::from(weight)) <= c.request_weight_per_minute {
            s.weight.add(minute, u64::from(weight));
            return Ok(());
        }
        let refusal = Refusal::Weight {
            until: (minute + 1) * MINUTE_MS,
        };
        Err(escalate(c, s, refusal, now_ms))
    }

    /// Gives back weight reserved beyond what a request cost; returns the minute's weight.
    pub fn refund_weight(&self, ip: IpAddr, weight: u32, now_ms: i64) -> u64 {
        let minute = now_ms.div_euclid(MINUTE_MS);
        let mut state = self.lock();
        let s = state.ips.entry(ip).or_default();
        s.weight.sub(minute, u64::from(weight))
    }

    /// Adds request weight for an IP; returns the weight used in the current minute.
    pub fn add_weight(&self, ip: IpAddr, weight: u32, now_ms: i64) -> u64 {
        let minute = now_ms.div_euclid(MINUTE_MS);
        let mut state = self.lock();
        let s = state.ips.entry(ip).or_default();
        s.weight.add(minute, u64::from(weight))
    }

    /// Refuses a new order when the account is at its ORDERS limit (`-1015`, HTTP 429), else
    /// counts it, under one lock so concurrent placements cannot all pass the check before
    /// any is counted. Returns the counts including this order; [`Limits::unrecord_order`]
    /// takes it back if the engine rejects the order.
    pub fn check_and_record_order(
        &self,
        account: AccountId,
        now_ms: i64,
    ) -> Result<(u64, u64), ApiError> {
        let mut state = self.lock();
        let (short, day) = state.orders.entry(account).or_default();
        let counts = (
            short.get(now_ms.div_euclid(TEN_SECONDS_MS)),
            day.get(now_ms.div_euclid(DAY_MS)),
        );
        self.order_limit_error(counts, now_ms)?;
        let short = short.add(now_ms.div_euclid(TEN_SECONDS_MS), 1);
        Ok((short, day.add(now_ms.div_euclid(DAY_MS), 1)))
    }

    /// Takes back one order counted at `placed_ms`, in the windows that are still current:
    /// a rejected placement, or an order that filled (the venue decrements the unfilled
    /// order count when an order fills). Accounts never counted are left alone.
    pub fn unrecord_order(&self, account: AccountId, placed_ms: i64, now_ms: i64) {
        let mut state = self.lock();
        let Some((short, day)) = state.orders.get_mut(&account) else {
            return;
        };
        for (window, length) in [(short, TEN_SECONDS_MS), (day, DAY_MS)] {
            let index = now_ms.div_euclid(length);
            if window.index == index && placed_ms.div_euclid(length) == index {
                window.count = window.count.saturating_sub(1);
            }
        }
    }

    /// `-1015` when either ORDERS count is at its limit.
    fn order_limit_error(&self, (short, day): (u64, u64), now_ms: i64) -> Result<(), ApiError> {
        let c = &self.config;
        let (limit, interval, until) = if short >= c.orders_per_10s {
            let window = now_ms.div_euclid(TEN_SECONDS_MS);
            (c.orders_per_10s, "10 SECOND", (window + 1) * TEN_SECONDS_MS)
        } else if day >= c.orders_per_day {
            let window = now_ms.div_euclid(DAY_MS);
            (c.orders_per_day, "1 DAY", (window + 1) * DAY_MS)
        } else {
            return Ok(());
        };
        let msg = format!("Too many new orders; current limit is {limit} orders per {interval}.");
        Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, -1015, msg).retry_at(until, now_ms))
    }

    /// Refuses a new order when the account is at its ORDERS limit, without counting it.
    #[cfg(test)]
    pub fn check_order(&self, account: AccountId, now_ms: i64) -> Result<(), ApiError> {
        self.order_limit_error(self.order_counts(account, now_ms), now_ms)
    }

    /// Counts an accepted order; returns the account's counts in the 10 s and 1 day windows.
    #[cfg(test)]
    pub fn record_order(&self, account: AccountId, now_ms: i64) -> (u64, u64) {
        let mut state = self.lock();
        let (short, day) = state.orders.entry(account).or_default();
        let short = short.add(now_ms.div_euclid(TEN_SECONDS_MS), 1);
        (short, day.add(now_ms.div_euclid(DAY_MS), 1))
    }

    /// The account's order counts in the current 10 s and 1 day windows.
    pub fn order_counts(&self, account: AccountId, now_ms: i64) -> (u64, u64) {
        let state = self.lock();
        state.orders.get(&account).map_or((0, 0), |(short, day)| {
            (
                short.get(now_ms.div_euclid(TEN_SECONDS_MS)),
                day.get(now_ms.div_euclid(DAY_MS)),
            )
        })
    }
}

/// Counts a refusal; one too many in the minute turns it into a ban that doubles each time.
fn escalate(c: &LimitConfig, s: &mut IpState, refusal: Refusal, now_ms: i64) -> Refusal {
    let minute = now_ms.div_euclid(MINUTE_MS);
    if s.rejected.add(minute, 1) > u64::from(c.ban_after_rejections) {
        let doubling = 2_u64.saturating_pow(s.bans.min(32));
        let length = c.ban_initial_ms.saturating_mul(doubling).min(c.ban_max_ms);
        s.banned_until = now_ms.saturating_add(i64::try_from(length).unwrap_or(i64::MAX));
        s.bans = s.bans.saturating_add(1);
        s.rejected = Window::default();
        return Refusal::Banned {
            until: s.banned_until,
        };
    }
    refusal
}

impl Refusal {
    /// The venue error for this refusal (429 or 418), with its retry time.
    pub fn error(self, config: &LimitConfig, now_ms: i64) -> ApiError {
        let tail = "Please use WebSocket Streams for live updates to avoid polling the API.";
        let (status, msg, until) = match self {
            Refusal::Weight { until } => (
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Too much request weight used; current limit is {} request weight per 1 MINUTE. {tail}",
                    config.request_weight_per_minute
                ),
                until,
            ),
            Refusal::Raw { until } => (
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Too many requests; current limit is {} requests per 5 MINUTE. {tail}",
                    config.raw_requests_per_5m
                ),
                until,
            ),
            Refusal::Banned { until } => (
                StatusCode::IM_A_TEAPOT,
                format!(
                    "Way too much request weight used; IP banned until {until}. Please use WebSocket Streams for live updates to avoid bans."
                ),
                until,
            ),
        };
        ApiError::new(status, -1003, msg).retry_at(until, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn limits(weight: u64, ban_after: u32) -> Limits {
        Limits::new(LimitConfig {
            request_weight_per_minute: weight,
            ban_after_rejections: ban_after,
            ban_initial_ms: 1_000,
            ban_max_ms: 3_000,
            ..LimitConfig::default()
        })
    }

    #[test]
    fn weight_resets_each_minute_per_ip() {
        let limits = Limits::default();
        let b = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(limits.add_weight(A, 20, 60_000), 20);
        assert_eq!(limits.add_weight(A, 5, 119_999), 25);
        assert_eq!(limits.add_weight(b, 1, 119_999), 1);
        assert_eq!(limits.add_weight(A, 1, 120_000), 1);
    }

    #[test]
    fn over_the_weight_limit_429_then_ban_that_escalates() {
        let limits = limits(10, 2);
        assert_eq!(limits.admit(A, 60_000), Ok(()));
        limits.add_weight(A, 10, 60_000);
        let refused = limits.admit(A, 60_500);
        assert_eq!(refused, Err(Refusal::Weight { until: 120_000 }));
        let error = refused.unwrap_err().error(limits.config(), 60_500);
        assert_eq!((error.status.as_u16(), error.code), (429, -1003));
        assert_eq!(error.retry, Some((60, 120_000)));
        assert!(limits.admit(A, 60_600).is_err());
        assert_eq!(
            limits.admit(A, 60_700),
            Err(Refusal::Banned { until: 61_700 })
        );
        assert_eq!(
            limits.admit(A, 61_000),
            Err(Refusal::Banned { until: 61_700 })
        );
        // After the ban the IP is still over the minute's weight; the next ban lasts twice as long.
        for _ in 0..2 {
            assert!(matches!(
                limits.admit(A, 61_800),
                Err(Refusal::Weight { .. })
            ));
        }
        assert_eq!(
            limits.admit(A, 61_800),
            Err(Refusal::Banned { until: 63_800 })
        );
        // A new minute starts clean once the ban is over.
        assert_eq!(limits.admit(A, 120_000), Ok(()));
    }

    #[test]
    fn order_counts_use_10s_and_day_windows_and_limit() {
        let limits = Limits::new(LimitConfig {
            orders_per_10s: 2,
            ..LimitConfig::default()
        });
        let account = AccountId(0);
        assert_eq!(limits.record_order(account, 1_000), (1, 1));
        assert!(limits.check_order(account, 1_000).is_ok());
        assert_eq!(limits.record_order(account, 9_999), (2, 2));
        let error = limits.check_order(account, 9_999).unwrap_err();
        assert_eq!(
            (error.status.as_u16(), error.code, error.msg.as_ref()),
            (
                429,
                -1015,
                "Too many new orders; current limit is 2 orders per 10 SECOND."
            )
        );
        assert_eq!(limits.record_order(account, 10_000), (1, 3));
        assert_eq!(limits.order_counts(account, 10_000), (1, 3));
        // A fill of the order placed at 10 000 takes it back; one from an older window only
        // leaves the day count.
        limits.unrecord_order(account, 10_000, 10_500);
        limits.unrecord_order(account, 9_999, 10_500);
        assert_eq!(limits.order_counts(account, 10_500), (0, 1));
        assert_eq!(
            limits.check_and_record_order(account, 10_600).unwrap(),
            (1, 2)
        );
        assert_eq!(
            limits.check_and_record_order(account, 10_600).unwrap(),
            (2, 3)
        );
        assert_eq!(
            limits
                .check_and_record_order(account, 10_600)
                .unwrap_err()
                .code,
            -1015
        );
        assert_eq!(limits.order_counts(account, 10_600), (2, 3));
    }
}
