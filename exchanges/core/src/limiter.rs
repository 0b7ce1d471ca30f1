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
//! Lanes: the order lane (new orders, cancels, and the queries that resolve unknown orders)
//! goes first, scope by scope. A data-lane caller (market data, balances) waits while an
//! order-lane caller waits for a scope the data caller also needs, and may only use
//! `1 - data_reserve` of each window, so depth snapshots during a resync storm can never
//! starve orders (DESIGN invariant 7). Priority is per scope so that order flow held back by
//! the orders-per-10 s scope does not hold back a depth snapshot that needs only weight.
//!
//! Connection attempts (every WebSocket the adapter opens to the venue) draw on a separate
//! sliding-window budget ([`ConnectBudget`]) through [`RateLimiter::connect`], which also
//! honours the venue-wide pause and ban.
//!
//! A venue's `Retry-After` is clamped to [`MAX_PAUSE`], so no answer can overflow an instant.
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
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter as Gcra};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

pub use crate::connect::ConnectBudget;
use crate::error::ExchangeError;

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
    /// WebSocket connection attempts allowed in any `connect_window` (every connection to the
    /// venue counts: market streams and WebSocket API). Binance allows 300 per 5 minutes per
    /// IP; the default keeps well inside that.
    pub connect_budget: u32,
    pub connect_window: Duration,
}

/// The longest pause or ban a venue answer can impose (Binance bans last 3 days at most);
/// longer or absurd `Retry-After` values are clamped to it.
pub const MAX_PAUSE: Duration = Duration::from_secs(3 * 86_400);

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
            connect_budget: 100,
            connect_window: Duration::from_secs(300),
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
    /// Order-lane callers waiting for this scope: data-lane callers needing it wait too.
    order_waiting: usize,
    waits: u64,
    wait_seconds: f64,
    rejected: u64,
}

#[derive(Default)]
struct State {
    scopes: Vec<Scope>,
    paused_until: Option<Instant>,
    banned_until: Option<Instant>,
    connects: ConnectBudget,
    throttled: u64,
    banned: u64,
}

/// Why a permit cannot be granted now.
enum Block {
    /// Not before this instant; the index of the scope that blocks, if one does.
    Until(Instant, Option<usize>, &'static str),
    /// An order-lane caller is waiting for a scope this data caller needs: data waits for it.
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

/// Registers an order-lane waiter on the scopes that hold it back, for as long as it lives;
/// data callers needing those scopes wait meanwhile.
struct OrderWaiting<'a> {
    limiter: &'a RateLimiter,
    scopes: Vec<usize>,
}

impl OrderWaiting<'_> {
    /// Adds `scope` to the scopes this waiter holds (once).
    fn register(&mut self, scope: usize) {
        if self.scopes.contains(&scope) {
            return;
        }
        if let Some(s) = self.limiter.lock().scopes.get_mut(scope) {
            s.order_waiting += 1;
            self.scopes.push(scope);
        }
    }
}

impl Drop for OrderWaiting<'_> {
    fn drop(&mut self) {
        if self.scopes.is_empty() {
            return;
        }
        let mut state = self.limiter.lock();
        for i in &self.scopes {
            if let Some(s) = state.scopes.get_mut(*i) {
                s.order_waiting = s.order_waiting.saturating_sub(1);
            }
        }
        drop(state);
        self.limiter.changed.notify_waiters();
    }
}

impl RateLimiter {
    /// A limiter over `scopes` (more can be added or resized later with [`Self::configure`]).
    pub fn new(config: LimiterConfig, scopes: &[ScopeLimit]) -> Self {
        let connects = ConnectBudget::new(config.connect_budget, config.connect_window);
        let limiter = RateLimiter {
            in_flight: Arc::new(Semaphore::new(config.max_in_flight_orders as usize)),
            config,
            clock: TokioClock {
                base: Instant::now(),
            },
            state: Mutex::new(State {
                connects,
                ..State::default()
            }),
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
                    order_waiting: 0,
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
        let mut waiting = OrderWaiting {
            limiter: self,
            scopes: Vec::new(),
        };
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
            let block_scope = match &block {
                Block::Until(_, scope, _) => *scope,
                _ => None,
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
            if lane == Lane::Order {
                // Held by a scope: that scope goes to us first. Held by a pause or ban: every
                // scope we need does, once it ends.
                let held = match block_scope {
                    Some(i) => vec![i],
                    None => self.scope_indices(costs),
                };
                for i in held {
                    waiting.register(i);
                }
            }
            tracing::trace!(?lane, why, "waiting for a rate-limit permit");
            tokio::select! {
                _ = tokio::time::sleep_until(until) => {}
                _ = &mut notified => {}
            }
        }
    }

    /// The indices of the known scopes `costs` charges.
    fn scope_indices(&self, costs: &[(&str, u32)]) -> Vec<usize> {
        let state = self.lock();
        costs
            .iter()
            .filter(|(_, cost)| *cost > 0)
            .filter_map(|(name, _)| state.scopes.iter().position(|s| s.limit.scope == *name))
            .collect()
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
        let mut charged = Vec::with_capacity(costs.len());
        for (name, cost) in costs {
            let Some(i) = state.scopes.iter().position(|s| s.limit.scope == *name) else {
                continue;
            };
            let Some(cost) = NonZeroU32::new(*cost) else {
                continue;
            };
            let scope = &mut state.scopes[i];
            if lane == Lane::Data && scope.order_waiting > 0 {
                return Err(Block::OrderFirst);
            }
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

#[path = "limiter_report.rs"]
mod report;
pub use report::aligned_reset;

#[cfg(test)]
#[path = "limiter_tests.rs"]
mod tests;
