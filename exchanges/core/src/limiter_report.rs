//! The rate limiter's venue feedback (usage reports, 429 pauses, 418 bans), connection
//! permits and health report (split from `limiter` to keep
//! files small; same type, same lock).

use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use std::time::Duration;

use super::{ConnectBudget, Lane, MAX_PAUSE, RateLimiter, roll};
use crate::error::ExchangeError;
use crate::health::{ConnectHealth, LimiterHealth, ScopeHealth};

impl RateLimiter {
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
        let pause = retry_after
            .unwrap_or(self.config.default_pause)
            .min(MAX_PAUSE);
        let mut state = self.lock();
        state.throttled += 1;
        let until = later(pause);
        state.paused_until = Some(state.paused_until.map_or(until, |t| t.max(until)));
        pause
    }

    /// A 418: halt every lane until the ban ends.
    pub fn banned(&self, retry_after: Option<Duration>) -> Duration {
        let ban = retry_after
            .unwrap_or(self.config.default_ban)
            .min(MAX_PAUSE);
        let mut state = self.lock();
        state.banned += 1;
        let until = later(ban);
        state.banned_until = Some(state.banned_until.map_or(until, |t| t.max(until)));
        ban
    }

    /// Permission to open one connection to the venue: within the connection budget, not while
    /// the venue is paused or banned, and charged `costs` (e.g. the weight of a WebSocket API
    /// connect) in `lane`. A refusal carries when to try again; nothing is to be sent then.
    pub async fn connect(&self, lane: Lane, costs: &[(&str, u32)]) -> Result<(), ExchangeError> {
        // Refuse before charging anything when the budget is used up.
        self.connect_budget_free()?;
        self.acquire(lane, costs).await?;
        let now = Instant::now();
        let taken = self.lock().connects.try_take(now);
        taken.map_err(|until| self.connect_refusal(until, now))
    }

    fn connect_budget_free(&self) -> Result<(), ExchangeError> {
        let now = Instant::now();
        let mut state = self.lock();
        if state.connects.next_free(now).is_none() {
            return Ok(());
        }
        // Budget used up: this counts the refusal.
        let refused = state.connects.try_take(now);
        drop(state);
        refused.map_err(|until| self.connect_refusal(until, now))
    }

    fn connect_refusal(&self, until: Instant, now: Instant) -> ExchangeError {
        let (budget, window) = self.lock().connects.budget();
        ExchangeError::unavailable(
            format!("connection budget of {budget} attempts per {window:?} used up"),
            Some(until.saturating_duration_since(now)),
        )
    }

    pub fn health(&self) -> LimiterHealth {
        let mut state = self.lock();
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
            connect: connect_health(&mut state.connects, now),
        }
    }
}

fn connect_health(budget: &mut ConnectBudget, now: Instant) -> ConnectHealth {
    let (attempts, window) = budget.budget();
    let (total, refused) = budget.totals();
    ConnectHealth {
        budget: attempts,
        window_ms: crate::health::duration_ms(window),
        in_window: budget.in_window(now),
        attempts_total: total,
        refused_total: refused,
    }
}

/// The wall-clock Unix milliseconds at a tokio instant.
pub(super) fn unix_ms_at(at: Instant) -> i64 {
    let ahead = at.saturating_duration_since(Instant::now()).min(MAX_PAUSE);
    let now = SystemTime::now();
    let wall = now.checked_add(ahead).unwrap_or(now);
    wall.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
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

/// `now + wait`, saturating far in the future instead of overflowing.
fn later(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait.min(MAX_PAUSE)).unwrap_or(now)
}
