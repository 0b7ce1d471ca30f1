//! Retries and reconnect delays on backon: exponential, jittered, capped.
//!
//! [`retry_idempotent`] is for calls that are safe to repeat: reads (order status, open orders,
//! trades, depth, instruments, server time) and cancels by client order id (a repeated cancel
//! is at worst refused as "unknown order"). Only outcome-unknown failures (timeouts, 5xx,
//! resets) are retried; a definitive answer or a local refusal is returned at once.
//!
//! **Never retry a new-order placement automatically.** On Binance the client order id is
//! unique only among *open* orders: if the first attempt reached the venue and filled at once,
//! a retry with the same id is a brand-new order. An unknown placement outcome is resolved by
//! querying the venue for the client order id instead (DESIGN invariant 3).

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder, Retryable};

use crate::error::ExchangeError;

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay before the first retry.
    pub min_delay: Duration,
    /// No single delay exceeds this, jitter included.
    pub max_delay: Duration,
    /// Retries after the first attempt.
    pub max_retries: usize,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
            max_retries: 3,
        }
    }
}

impl RetryPolicy {
    /// The backon builder. backon's jitter adds up to 100 % on top of the exponential delay,
    /// so the exponential part is capped at half of `max_delay`.
    pub fn builder(&self) -> ExponentialBuilder {
        let half_cap = (self.max_delay / 2).max(Duration::from_millis(1));
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay.min(half_cap))
            .with_max_delay(half_cap)
            .with_max_times(self.max_retries)
            .with_jitter()
    }
}

/// True for failures worth another attempt of an idempotent call.
pub fn is_retriable(err: &ExchangeError) -> bool {
    matches!(err, ExchangeError::Unknown { .. })
}

/// Runs an idempotent call, retrying outcome-unknown failures under `policy`. `what` names the
/// call in logs.
pub async fn retry_idempotent<T, F, Fut>(
    policy: &RetryPolicy,
    what: &'static str,
    call: F,
) -> Result<T, ExchangeError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ExchangeError>>,
{
    call.retry(policy.builder())
        .sleep(tokio::time::sleep)
        .when(is_retriable)
        .notify(|err, delay| {
            tracing::debug!(call = what, error = %err, ?delay, "retrying idempotent venue call");
        })
        .await
}

/// Reconnect delays that never run out: after a healthy connection the first reconnect is
/// immediate (at most once per [`IMMEDIATE_SPACING`], so a flapping venue is not hammered),
/// then exponential from `min` to `max` (jitter included).
///
/// A connection counts as healthy only once it has stayed up for `min_healthy` after
/// [`Backoff::healthy`] was called: one that subscribes and dies at once keeps backing off.
/// [`Backoff::reset`] starts over unconditionally.
#[derive(Debug)]
pub struct Backoff {
    builder: ExponentialBuilder,
    delays: ExponentialBackoff,
    /// No delay has been drawn since the last reset.
    fresh: bool,
    last_immediate: Option<Instant>,
    min_healthy: Duration,
    /// When the current connection became healthy (subscribed, data flowing).
    healthy_since: Option<Instant>,
}

/// Minimum time between two immediate reconnects.
pub const IMMEDIATE_SPACING: Duration = Duration::from_secs(1);

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        let policy = RetryPolicy {
            min_delay: min,
            max_delay: max,
            max_retries: 0,
        };
        let builder = policy.builder().without_max_times();
        Backoff {
            delays: builder.build(),
            builder,
            fresh: true,
            last_immediate: None,
            min_healthy: Duration::ZERO,
            healthy_since: None,
        }
    }

    /// Resets only after connections that stayed healthy for `min_healthy`.
    pub fn with_min_healthy(mut self, min_healthy: Duration) -> Self {
        self.min_healthy = min_healthy;
        self
    }

    /// The current connection works (subscribed, or data arrived). The next delay starts over
    /// if it is still up `min_healthy` from now when it ends.
    pub fn healthy(&mut self) {
        self.healthy_since.get_or_insert_with(Instant::now);
    }

    /// The connection ended: one that stayed healthy for `min_healthy` starts the delays
    /// over. Called by [`Backoff::next_delay`]; call it directly when reconnecting without a
    /// delay (a planned rotation), so the next connection is judged on its own.
    pub fn connection_ended(&mut self) {
        if let Some(since) = self.healthy_since.take()
            && since.elapsed() >= self.min_healthy
        {
            self.reset();
        }
    }

    /// The delay before the next attempt; the connection that just ended is judged first.
    pub fn next_delay(&mut self) -> Duration {
        self.connection_ended();
        if std::mem::take(&mut self.fresh) {
            let now = Instant::now();
            if self
                .last_immediate
                .is_none_or(|t| now.duration_since(t) >= IMMEDIATE_SPACING)
            {
                self.last_immediate = Some(now);
                return Duration::ZERO;
            }
        }
        // Without a maximum number of times the iterator never ends; fall back to the builder
        // cap regardless.
        self.delays.next().unwrap_or(Duration::from_secs(1))
    }

    /// Back to the first delay.
    pub fn reset(&mut self) {
        self.delays = self.builder.build();
        self.fresh = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn reconnect_backoff_grows_jittered_capped_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        // (low, high) bounds in ms: base doubles from 100 up to the half cap of 500; jitter adds
        // up to as much again.
        let bounds = [(100, 200), (200, 400), (400, 800), (500, 1000), (500, 1000)];
        let mut draws = Vec::new();
        for _ in 0..20 {
            tokio::time::advance(IMMEDIATE_SPACING).await;
            assert_eq!(
                backoff.next_delay(),
                Duration::ZERO,
                "first reconnect is immediate"
            );
            for (low, high) in bounds {
                let d = backoff.next_delay();
                assert!(
                    d >= Duration::from_millis(low) && d <= Duration::from_millis(high),
                    "{d:?} not in [{low}, {high}] ms"
                );
                draws.push(d);
            }
            backoff.reset();
        }
        draws.sort();
        draws.dedup();
        assert!(draws.len() > 10, "jitter varies: {draws:?}");
        // Flapping: a second reset within the spacing backs off at once.
        backoff.reset();
        assert!(backoff.next_delay() >= Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_resets_only_after_the_minimum_healthy_time() {
        let min_healthy = Duration::from_secs(5);
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(60))
            .with_min_healthy(min_healthy);
        assert_eq!(backoff.next_delay(), Duration::ZERO);
        let mut last = Duration::ZERO;
        // Connections that become healthy and die within the minimum keep backing off.
        for _ in 0..5 {
            backoff.healthy();
            tokio::time::advance(min_healthy / 2).await;
            let delay = backoff.next_delay();
            assert!(delay >= Duration::from_millis(100), "{delay:?}");
            last = delay;
        }
        assert!(last >= Duration::from_millis(1600), "grew: {last:?}");
        // One that stays up long enough starts over at once.
        backoff.healthy();
        tokio::time::advance(min_healthy).await;
        assert_eq!(backoff.next_delay(), Duration::ZERO);
        // Without healthy() the connection is never judged healthy.
        tokio::time::advance(min_healthy * 2).await;
        assert!(backoff.next_delay() >= Duration::from_millis(100));
        // A rotation ends a connection without a delay; the next one is judged on its own.
        backoff.healthy();
        backoff.connection_ended();
        backoff.healthy();
        assert!(backoff.next_delay() >= Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_only_unknown_outcomes() {
        let policy = RetryPolicy::default();
        type Case = (&'static str, Vec<ExchangeError>, u32, &'static str);
        let rejected = ExchangeError::Rejected {
            code: Some(-2011),
            message: "x".into(),
        };
        let cases: Vec<Case> = vec![
            ("success first", vec![], 1, "ok"),
            (
                "two timeouts then success",
                vec![ExchangeError::unknown("t"); 2],
                3,
                "ok",
            ),
            (
                "gives up after the retries",
                vec![ExchangeError::unknown("t"); 9],
                4,
                "unknown",
            ),
            (
                "definitive answers are final",
                vec![rejected],
                1,
                "rejected",
            ),
            (
                "local refusals are final",
                vec![ExchangeError::unavailable("open", None)],
                1,
                "unavailable",
            ),
        ];
        for (name, errors, want_calls, want) in cases {
            let calls = AtomicU32::new(0);
            let start = tokio::time::Instant::now();
            let result = retry_idempotent(&policy, "test", || {
                let n = calls.fetch_add(1, Ordering::Relaxed) as usize;
                let answer = errors.get(n).cloned().map_or(Ok(()), Err);
                async move { answer }
            })
            .await;
            let got = result.map(|()| "ok").unwrap_or_else(|e| e.kind());
            assert_eq!(
                (calls.load(Ordering::Relaxed), got),
                (want_calls, want),
                "{name}"
            );
            let waited = start.elapsed();
            assert!(waited <= policy.max_delay * 3, "{name}: waited {waited:?}");
        }
    }
}
