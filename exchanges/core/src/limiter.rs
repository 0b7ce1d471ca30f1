//! The venue rate limiter: one bucket per scope the venue meters (request weight per minute,
//! orders per 10 s, orders per day, raw requests...), two lanes, a venue-wide pause, and a cap
//! on unacknowledged orders in flight.
//!
//! Each scope holds itself to `venue limit × safety margin` with two meters:
//! - a governor GCRA bucket (burst = effective limit, refilled over the interval) that paces
//!   weighted costs;
//! - a fixed-window counter aligned to the venue's window, corrected by the usage the venue
//!   reports (`observe_usage`): when the venue says more is used than we counted (another
//!   process on the same IP, a restart), we believe it and wait for the window to roll.
//!
//! Lanes: the order lane (new orders, cancels) always goes first. A data-lane caller (market
//! data, reconciliation) waits while any order-lane caller is waiting, and may only use
//! `1 - data_reserve` of each window, so depth snapshots during a resync storm can never
//! starve orders (DESIGN invariant 7).
//!
//! Every wait has a deadline: a permit that cannot be granted within the lane's `max_wait`
//! fails with [`ExchangeError::Unavailable`] (nothing was sent) carrying when to retry.
//! Time is `tokio::time::Instant` throughout (governor reads it through [`TokioClock`]), so
//! tests run on paused time.
//!
//! A caveat of governor: it cannot test a bucket without taking from it, so when a request
//! spans several scopes and a later scope's bucket refuses, the earlier buckets have already
//! been charged. That only ever makes us slower, never faster than the venue allows.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter as Gcra};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::error::ExchangeError;
use crate::health::{LimiterHealth, ScopeHealth};

/// Which lane a request travels in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// New orders and cancels: always first.
    Order,
    /// Market data and reconciliation queries.
    Data,
}

/// A scope the venue meters: at most `limit` units per `interval`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeLimit {
    pub scope: &'static str,
    pub limit: u32,
    pub interval: Duration,
}

/// Tuning of a [`RateLimiter`].
#[derive(Debug, Clone, PartialEq)]
pub struct LimiterConfig {
    /// Share of each venue limit we allow ourselves (0..=1).
    pub safety_margin: f64,
    /// Share of each effective limit the data lane may not touch (0..1).
    pub data_reserve: f64,
    /// Longest an order-lane caller waits for a permit.
    pub order_max_wait: Duration,
    /// Longest a data-lane caller waits for a permit.
    pub data_max_wait: Duration,
    /// Orders sent and not yet answered, at most.
    pub max_in_flight_orders: u32,
    /// Pause after a 429 without `Retry-After`, and ban length after a 418 without it.
    pub default_pause: Duration,
    pub default_ban: Duration,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        LimiterConfig {
            safety_margin: 0.8,
            data_reserve: 0.2,
            order_max_wait: Duration::from_secs(2),
            data_max_wait: Duration::from_secs(70),
            max_in_flight_orders: 20,
            default_pause: Duration::from_secs(10),
            default_ban: Duration::from_secs(120),
        }
    }
}

/// governor's view of `tokio::time::Instant` (so that paused test time drives the buckets).
#[derive(Debug, Clone)]
pub struct TokioClock {
    base: Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;
    fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.base)
    }
}

type Bucket = Gcra<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

struct Scope {
    limit: ScopeLimit,
    effective: u32,
    bucket: Bucket,
    window_end: Instant,
    used: u64,
    venue_reported: Option<u64>,
    waits: u64,
    wait_seconds: f64,
    rejected: u64,
}

#[derive(Default)]
struct State {
    scopes: Vec<Scope>,
    paused_until: Option<Instant>,
    banned_until: Option<Instant>,
    order_waiting: usize,
    throttled: u64,
    banned: u64,
}

/// Why a permit cannot be granted now.
enum Block {
    /// Not before this instant; the index of the scope that blocks, if one does.
    Until(Instant, Option<usize>, &'static str),
    /// An order-lane caller is waiting: data waits for it.
    OrderFirst,
    /// Never: the cost exceeds what the lane may ever use.
    Never(String),
}

/// The rate limiter of one venue. Cheap to share behind an `Arc`.
pub struct RateLimiter {
    config: LimiterConfig,
    clock: TokioClock,
    state: Mutex<State>,
    changed: Notify,
    in_flight: Arc<Semaphore>,
}

/// A slot for one unacknowledged order; dropping it frees the slot.
#[derive(Debug)]
pub struct InFlightGuard {
    _permit: OwnedSemaphorePermit,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Registers an order-lane waiter for as long as it lives; data waits meanwhile.
struct OrderWaiting<'a>(&'a RateLimiter);

impl Drop for OrderWaiting<'_> {
    fn drop(&mut self) {
        self.0.lock().order_waiting -= 1;
        self.0.changed.notify_waiters();
    }
}

impl RateLimiter {
    /// A limiter over `scopes` (more can be added or resized later with [`Self::configure`]).
    pub fn new(config: LimiterConfig, scopes: &[ScopeLimit]) -> Self {
        let limiter = RateLimiter {
            in_flight: Arc::new(Semaphore::new(config.max_in_flight_orders as usize)),
            config,
            clock: TokioClock {
                base: Instant::now(),
            },
            state: Mutex::new(State::default()),
            changed: Notify::new(),
        };
        limiter.configure(scopes);
        limiter
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds scopes or resizes existing ones (e.g. from the venue's published limits). Usage
    /// counted so far in the current window is kept.
    pub fn configure(&self, scopes: &[ScopeLimit]) {
        let mut state = self.lock();
        for limit in scopes {
            let effective = ((f64::from(limit.limit) * self.config.safety_margin).floor() as u32)
                .max(1)
                .min(limit.limit.max(1));
            let bucket = self.bucket(effective, limit.interval);
            match state
                .scopes
                .iter_mut()
                .find(|s| s.limit.scope == limit.scope)
            {
                Some(scope) if scope.limit == *limit => {}
                Some(scope) => {
                    scope.limit = limit.clone();
                    scope.effective = effective;
                    scope.bucket = bucket;
                }
                None => state.scopes.push(Scope {
                    limit: limit.clone(),
                    effective,
                    bucket,
                    window_end: Instant::now() + limit.interval,
                    used: 0,
                    venue_reported: None,
                    waits: 0,
                    wait_seconds: 0.0,
                    rejected: 0,
                }),
            }
        }
        drop(state);
        self.changed.notify_waiters();
    }

    fn bucket(&self, effective: u32, interval: Duration) -> Bucket {
        let burst = NonZeroU32::new(effective).unwrap_or(NonZeroU32::MIN);
        let period = (interval / burst.get()).max(Duration::from_nanos(1));
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(burst))
            .allow_burst(burst);
        Gcra::direct_with_clock(quota, self.clock.clone())
    }

    /// Waits for a permit costing `costs` (units per scope; unknown scopes and zero costs are
    /// ignored) in `lane`, at most the lane's `max_wait`.
    pub async fn acquire(&self, lane: Lane, costs: &[(&str, u32)]) -> Result<(), ExchangeError> {
        let max_wait = match lane {
            Lane::Order => self.config.order_max_wait,
            Lane::Data => self.config.data_max_wait,
        };
        let start = Instant::now();
        let deadline = start + max_wait;
        let mut waiting: Option<OrderWaiting<'_>> = None;
        let mut blocked_on: Vec<usize> = Vec::new();
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = Instant::now();
            let block = {
                let mut state = self.lock();
                match self.try_take(&mut state, lane, costs, now) {
                    Ok(()) => {
                        let waited = now.saturating_duration_since(start);
                        if !waited.is_zero() {
                            for i in &blocked_on {
                                if let Some(scope) = state.scopes.get_mut(*i) {
                                    scope.waits += 1;
                                    scope.wait_seconds += waited.as_secs_f64();
                                }
                            }
                        }
                        return Ok(());
                    }
                    Err(block) => block,
                }
            };
            let (until, why) = match block {
                Block::Never(message) => return Err(self.refuse(&blocked_on, message, None)),
                Block::OrderFirst if now >= deadline => {
                    let message =
                        format!("order traffic goes first; no permit within {max_wait:?}");
                    return Err(self.refuse(&blocked_on, message, None));
                }
                Block::OrderFirst => (deadline, "order traffic goes first"),
                Block::Until(until, scope, why) => {
                    if let Some(i) = scope.filter(|i| !blocked_on.contains(i)) {
                        blocked_on.push(i);
                    }
                    if until > deadline {
                        let message = format!("rate limit: {why}; no permit within {max_wait:?}");
                        let retry = until.saturating_duration_since(now);
                        return Err(self.refuse(&blocked_on, message, Some(retry)));
                    }
                    (until, why)
                }
            };
            if lane == Lane::Order && waiting.is_none() {
                self.lock().order_waiting += 1;
                waiting = Some(OrderWaiting(self));
            }
            tracing::trace!(?lane, why, "waiting for a rate-limit permit");
            tokio::select! {
                _ = tokio::time::sleep_until(until) => {}
                _ = &mut notified => {}
            }
        }
    }

    fn refuse(&self, scopes: &[usize], message: String, retry: Option<Duration>) -> ExchangeError {
        let mut state = self.lock();
        for i in scopes {
            if let Some(scope) = state.scopes.get_mut(*i) {
                scope.rejected += 1;
            }
        }
        ExchangeError::unavailable(message, retry)
    }

    fn try_take(
        &self,
        state: &mut State,
        lane: Lane,
        costs: &[(&str, u32)],
        now: Instant,
    ) -> Result<(), Block> {
        if let Some(until) = state.banned_until.filter(|t| *t > now) {
            return Err(Block::Until(until, None, "venue banned us (418)"));
        }
        if let Some(until) = state.paused_until.filter(|t| *t > now) {
            return Err(Block::Until(until, None, "venue throttled us (429)"));
        }
        if lane == Lane::Data && state.order_waiting > 0 {
            return Err(Block::OrderFirst);
        }
        let mut charged = Vec::with_capacity(costs.len());
        for (name, cost) in costs {
            let Some(i) = state.scopes.iter().position(|s| s.limit.scope == *name) else {
                continue;
            };
            let Some(cost) = NonZeroU32::new(*cost) else {
                continue;
            };
            let scope = &mut state.scopes[i];
            roll(scope, now);
            let cap = match lane {
                Lane::Order => scope.effective,
                Lane::Data => {
                    let share = (1.0 - self.config.data_reserve).clamp(0.0, 1.0);
                    ((f64::from(scope.effective) * share).floor() as u32).max(1)
                }
            };
            if cost.get() > cap {
                return Err(Block::Never(format!(
                    "cost {cost} exceeds the {lane:?} lane's budget of {cap} in scope {name}"
                )));
            }
            if scope.used + u64::from(cost.get()) > u64::from(cap) {
                return Err(Block::Until(scope.window_end, Some(i), "window used up"));
            }
            charged.push((i, cost));
        }
        for (i, cost) in &charged {
            let scope = &state.scopes[*i];
            match scope.bucket.check_n(*cost) {
                Ok(Ok(())) => {}
                Ok(Err(not_until)) => {
                    let wait = not_until.wait_time_from(self.clock.now());
                    return Err(Block::Until(now + wait, Some(*i), "pacing"));
                }
                Err(_) => return Err(Block::Never(format!("cost {cost} exceeds the burst"))),
            }
        }
        for (i, cost) in charged {
            state.scopes[i].used += u64::from(cost.get());
        }
        Ok(())
    }

    /// Corrects a scope from the venue's usage report: `used` units in the venue's current
    /// window, which resets in `resets_in` (when known). More than we counted slows us down.
    pub fn observe_usage(&self, scope: &str, used: u64, resets_in: Option<Duration>) {
        let mut state = self.lock();
        let Some(s) = state.scopes.iter_mut().find(|s| s.limit.scope == scope) else {
            return;
        };
        let now = Instant::now();
        roll(s, now);
        match resets_in {
            Some(resets_in) if now + resets_in > s.window_end + s.limit.interval / 2 => {
                // The venue is already in the next window: adopt its count and alignment.
                s.window_end = now + resets_in;
                s.used = used;
            }
            Some(resets_in) => {
                s.window_end = now + resets_in;
                s.used = s.used.max(used);
            }
            None => s.used = s.used.max(used),
        }
        s.venue_reported = Some(used);
    }

    /// A 429: pause every lane until `retry_after` (or the default pause) has passed.
    pub fn throttled(&self, retry_after: Option<Duration>) -> Duration {
        let pause = retry_after.unwrap_or(self.config.default_pause);
        let mut state = self.lock();
        state.throttled += 1;
        let until = Instant::now() + pause;
        state.paused_until = Some(state.paused_until.map_or(until, |t| t.max(until)));
        pause
    }

    /// A 418: halt every lane until the ban ends.
    pub fn banned(&self, retry_after: Option<Duration>) -> Duration {
        let ban = retry_after.unwrap_or(self.config.default_ban);
        let mut state = self.lock();
        state.banned += 1;
        let until = Instant::now() + ban;
        state.banned_until = Some(state.banned_until.map_or(until, |t| t.max(until)));
        ban
    }

    /// Takes a slot for one unacknowledged order, waiting at most the order lane's max wait.
    pub async fn order_slot(&self) -> Result<InFlightGuard, ExchangeError> {
        let acquire = self.in_flight.clone().acquire_owned();
        match tokio::time::timeout(self.config.order_max_wait, acquire).await {
            Ok(Ok(permit)) => Ok(InFlightGuard { _permit: permit }),
            _ => Err(ExchangeError::unavailable(
                format!(
                    "{} orders already in flight without an answer",
                    self.config.max_in_flight_orders
                ),
                Some(Duration::from_secs(1)),
            )),
        }
    }

    pub fn health(&self) -> LimiterHealth {
        let state = self.lock();
        let now = Instant::now();
        let cap = self.config.max_in_flight_orders;
        let free = u32::try_from(self.in_flight.available_permits()).unwrap_or(cap);
        LimiterHealth {
            scopes: state
                .scopes
                .iter()
                .map(|s| ScopeHealth {
                    scope: s.limit.scope.to_owned(),
                    interval_ms: crate::health::duration_ms(s.limit.interval),
                    venue_limit: s.limit.limit,
                    effective_limit: s.effective,
                    used: if now >= s.window_end { 0 } else { s.used },
                    venue_reported_used: s.venue_reported,
                    waits_total: s.waits,
                    wait_seconds_total: s.wait_seconds,
                    rejected_total: s.rejected,
                })
                .collect(),
            throttled_429_total: state.throttled,
            banned_418_total: state.banned,
            paused_until_ms: state.paused_until.filter(|t| *t > now).map(unix_ms_at),
            banned_until_ms: state.banned_until.filter(|t| *t > now).map(unix_ms_at),
            in_flight_orders: cap.saturating_sub(free),
            in_flight_cap: cap,
        }
    }
}

/// Starts a new window once the current one is over (windows stay aligned to their start).
fn roll(scope: &mut Scope, now: Instant) {
    if now >= scope.window_end {
        let interval = scope.limit.interval.max(Duration::from_millis(1));
        let behind = now.saturating_duration_since(scope.window_end);
        let skip = (behind.as_nanos() / interval.as_nanos()) as u32 + 1;
        scope.window_end += interval * skip;
        scope.used = 0;
        scope.venue_reported = None;
    }
}

/// Time until the venue's current fixed window of `interval` ends, for windows aligned to
/// multiples of `interval` since the Unix epoch on the venue clock.
pub fn aligned_reset(venue_now_ms: i64, interval: Duration) -> Duration {
    let interval_ms = i64::try_from(interval.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    let left = interval_ms - venue_now_ms.rem_euclid(interval_ms);
    Duration::from_millis(u64::try_from(left).unwrap_or(0))
}

/// The wall-clock Unix milliseconds at a tokio instant.
fn unix_ms_at(at: Instant) -> i64 {
    let wall = SystemTime::now() + at.saturating_duration_since(Instant::now());
    wall.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
#[path = "limiter_tests.rs"]
mod tests;
