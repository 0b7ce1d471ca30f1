//! A circuit breaker per venue and endpoint class: Closed → Open on N consecutive failures or
//! an error rate over a rolling window; Open → HalfOpen after a delay; HalfOpen lets exactly
//! one probe through; its success closes, its failure re-opens with the delay doubled (capped).
//!
//! Only failures that leave the outcome unknown (timeouts, 5xx, resets) count. A definitive
//! answer, even a rejection, proves the venue is up and counts as a success; a call refused
//! locally ([`ExchangeError::Unavailable`]) never reached the venue and counts as nothing.
//!
//! Why not the `failsafe` crate (1.3): its clock is a thread-local mock (`failsafe::clock::freeze`)
//! or `std::time::Instant`, so it cannot follow tokio's paused time or be injected per breaker
//! on a multi-threaded runtime; its half-open state admits every call instead of one probe; and
//! it has no side-effect-free way to read the state or the time left open (needed for a
//! `Retry-After` on the fast-fail and for health snapshots). This breaker is ~200 lines on
//! `tokio::time::Instant`, so tests drive it with `start_paused` time.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::error::ExchangeError;
use crate::health::BreakerHealth;

/// Rolling-window entries kept at most (oldest dropped first).
const MAX_WINDOW_ENTRIES: usize = 1024;

/// The state of a breaker.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }

    /// The gauge value: 0 closed, 1 half open, 2 open.
    pub fn gauge(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        }
    }
}

/// When a breaker opens and how long it stays open.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    pub consecutive_failures: u32,
    /// Failure share (0..=1) over the window that opens the breaker...
    pub failure_rate: f64,
    /// ...once the window holds at least this many calls.
    pub min_calls: u32,
    pub window: Duration,
    /// First open period; doubled after each failed probe up to `max_open_delay`.
    pub open_delay: Duration,
    pub max_open_delay: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            consecutive_failures: 5,
            failure_rate: 0.5,
            min_calls: 20,
            window: Duration::from_secs(30),
            open_delay: Duration::from_secs(2),
            max_open_delay: Duration::from_secs(60),
        }
    }
}

/// What a call's result means for the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The venue answered (success or definitive refusal).
    Success,
    /// The outcome is unknown: timeout, 5xx, reset.
    Failure,
    /// Nothing reached the venue.
    Ignored,
}

impl Outcome {
    /// Classifies a call result.
    pub fn of<T>(result: &Result<T, ExchangeError>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(ExchangeError::Unknown { .. }) => Outcome::Failure,
            Err(ExchangeError::Unavailable { .. }) => Outcome::Ignored,
            Err(_) => Outcome::Success,
        }
    }
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    consecutive: u32,
    /// (when, failed) of recent calls.
    window: VecDeque<(Instant, bool)>,
    open_until: Instant,
    delay: Duration,
    probe_out: bool,
    transitions: u64,
    rejected: u64,
}

/// A circuit breaker for one endpoint class of one venue.
#[derive(Debug)]
pub struct CircuitBreaker {
    class: &'static str,
    config: BreakerConfig,
    inner: Mutex<Inner>,
}

/// Permission for one call; report its result with [`BreakerPermit::record`]. Dropping it
/// unrecorded (a cancelled call) records nothing and frees the half-open probe slot.
#[derive(Debug)]
#[must_use = "record the call's outcome"]
pub struct BreakerPermit<'a> {
    breaker: &'a CircuitBreaker,
    probe: bool,
    done: bool,
}

impl BreakerPermit<'_> {
    /// Records the outcome of the call this permit allowed.
    pub fn record(mut self, outcome: Outcome) {
        self.done = true;
        self.breaker.record(self.probe, outcome);
    }
}

impl Drop for BreakerPermit<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.breaker.record(self.probe, Outcome::Ignored);
        }
    }
}

impl CircuitBreaker {
    pub fn new(class: &'static str, config: BreakerConfig) -> Self {
        CircuitBreaker {
            class,
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                consecutive: 0,
                window: VecDeque::new(),
                open_until: Instant::now(),
                delay: config.open_delay,
                probe_out: false,
                transitions: 0,
                rejected: 0,
            }),
            config,
        }
    }

    /// The endpoint class this breaker guards.
    pub fn class(&self) -> &'static str {
        self.class
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks to make a call. Refused with [`ExchangeError::Unavailable`] while open (with the
    /// time left as `retry_after`) or while the half-open probe is out.
    pub fn permit(&self) -> Result<BreakerPermit<'_>, ExchangeError> {
        let mut inner = self.lock();
        let now = Instant::now();
        let probe = match inner.state {
            BreakerState::Closed => false,
            BreakerState::Open if now >= inner.open_until => {
                self.transit(&mut inner, BreakerState::HalfOpen);
                inner.probe_out = true;
                true
            }
            BreakerState::HalfOpen if !inner.probe_out => {
                inner.probe_out = true;
                true
            }
            BreakerState::Open | BreakerState::HalfOpen => {
                inner.rejected += 1;
                let retry_after = inner.open_until.saturating_duration_since(now);
                return Err(ExchangeError::unavailable(
                    format!(
                        "circuit breaker '{}' is {}: the venue keeps failing",
                        self.class,
                        inner.state.as_str()
                    ),
                    Some(retry_after.max(Duration::from_millis(100))),
                ));
            }
        };
        Ok(BreakerPermit {
            breaker: self,
            probe,
            done: false,
        })
    }

    fn record(&self, probe: bool, outcome: Outcome) {
        let mut inner = self.lock();
        let now = Instant::now();
        if probe {
            inner.probe_out = false;
        }
        let failed = match outcome {
            Outcome::Ignored => return,
            Outcome::Success => false,
            Outcome::Failure => true,
        };
        inner.window.push_back((now, failed));
        let horizon = now.checked_sub(self.config.window);
        while inner.window.len() > MAX_WINDOW_ENTRIES
            || inner
                .window
                .front()
                .is_some_and(|(t, _)| horizon.is_some_and(|h| *t < h))
        {
            inner.window.pop_front();
        }
        inner.consecutive = if failed { inner.consecutive + 1 } else { 0 };
        match (inner.state, failed) {
            (BreakerState::HalfOpen, false) if probe => {
                inner.delay = self.config.open_delay;
                inner.window.clear();
                self.transit(&mut inner, BreakerState::Closed);
            }
            (BreakerState::HalfOpen, true) if probe => {
                inner.delay = (inner.delay * 2).min(self.config.max_open_delay);
                inner.open_until = now + inner.delay;
                self.transit(&mut inner, BreakerState::Open);
            }
            (BreakerState::Closed, true) if self.should_open(&inner) => {
                inner.delay = self.config.open_delay;
                inner.open_until = now + inner.delay;
                self.transit(&mut inner, BreakerState::Open);
            }
            _ => {}
        }
    }

    fn should_open(&self, inner: &Inner) -> bool {
        if inner.consecutive >= self.config.consecutive_failures {
            return true;
        }
        let calls = inner.window.len();
        let failures = inner.window.iter().filter(|(_, failed)| *failed).count();
        calls >= self.config.min_calls as usize
            && failures as f64 >= self.config.failure_rate * calls as f64
    }

    fn transit(&self, inner: &mut Inner, to: BreakerState) {
        let from = inner.state;
        inner.state = to;
        inner.transitions += 1;
        match to {
            BreakerState::Open => tracing::warn!(
                class = self.class,
                from = from.as_str(),
                open_for_ms = inner.delay.as_millis() as u64,
                consecutive_failures = inner.consecutive,
                "circuit breaker opened"
            ),
            _ => tracing::info!(
                class = self.class,
                from = from.as_str(),
                to = to.as_str(),
                "circuit breaker changed state"
            ),
        }
    }

    /// The current state (an open breaker past its delay reports `Open` until the next call).
    pub fn state(&self) -> BreakerState {
        self.lock().state
    }

    /// The breaker's health. An open breaker whose delay has passed reports `HalfOpen`: its
    /// next call is the probe, so callers that check before calling (the OMS refusing new
    /// orders while the order lane is open) let that probe through instead of waiting forever.
    pub fn health(&self) -> BreakerHealth {
        let inner = self.lock();
        let state = match inner.state {
            BreakerState::Open if Instant::now() >= inner.open_until => BreakerState::HalfOpen,
            state => state,
        };
        BreakerHealth {
            class: self.class.to_owned(),
            state,
            transitions_total: inner.transitions,
            consecutive_failures: inner.consecutive,
            rejected_total: inner.rejected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BreakerConfig {
        BreakerConfig {
            consecutive_failures: 3,
            failure_rate: 0.5,
            min_calls: 6,
            window: Duration::from_secs(10),
            open_delay: Duration::from_secs(1),
            max_open_delay: Duration::from_secs(3),
        }
    }

    fn call(breaker: &CircuitBreaker, outcome: Outcome) -> bool {
        match breaker.permit() {
            Ok(permit) => {
                permit.record(outcome);
                true
            }
            Err(_) => false,
        }
    }

    #[derive(Debug, Clone, Copy)]
    enum Step {
        Call(Outcome, bool),
        Wait(u64),
        Is(BreakerState),
    }
    use Outcome::{Failure as F, Success as S};
    use Step::{Call, Is, Wait};

    #[tokio::test(start_paused = true)]
    async fn transitions_table() {
        let cases: Vec<(&str, Vec<Step>)> = vec![
            (
                "consecutive failures open; probe after the delay closes",
                vec![
                    Call(F, true),
                    Call(F, true),
                    Is(BreakerState::Closed),
                    Call(F, true),
                    Is(BreakerState::Open),
                    Call(S, false),
                    Wait(999),
                    Call(S, false),
                    Wait(2),
                    Call(S, true),
                    Is(BreakerState::Closed),
                    Call(F, true),
                    Call(F, true),
                    Is(BreakerState::Closed),
                ],
            ),
            (
                "failed probes re-open with a doubled, capped delay",
                vec![
                    Call(F, true),
                    Call(F, true),
                    Call(F, true),
                    Wait(1001),
                    Call(F, true),
                    Is(BreakerState::Open),
                    Wait(1500),
                    Call(S, false),
                    Wait(501),
                    Call(F, true),
                    Wait(2999),
                    Call(S, false),
                    Wait(2),
                    Call(F, true),
                    Wait(3001),
                    Call(S, true),
                    Is(BreakerState::Closed),
                ],
            ),
            (
                "error rate opens without consecutive failures",
                vec![
                    Call(F, true),
                    Call(S, true),
                    Call(F, true),
                    Call(S, true),
                    Call(F, true),
                    Is(BreakerState::Closed),
                    Call(F, true),
                    Is(BreakerState::Open),
                ],
            ),
            (
                "old outcomes leave the window",
                vec![
                    Call(F, true),
                    Call(S, true),
                    Call(F, true),
                    Call(S, true),
                    Wait(11_000),
                    Call(S, true),
                    Call(F, true),
                    Call(S, true),
                    Call(F, true),
                    Is(BreakerState::Closed),
                    Call(S, true),
                    Call(F, true),
                    Is(BreakerState::Open),
                ],
            ),
        ];
        for (name, steps) in cases {
            let breaker = CircuitBreaker::new("orders", config());
            for (i, step) in steps.into_iter().enumerate() {
                match step {
                    Call(outcome, allowed) => {
                        assert_eq!(call(&breaker, outcome), allowed, "{name}: step {i}")
                    }
                    Wait(ms) => tokio::time::advance(Duration::from_millis(ms)).await,
                    Is(state) => assert_eq!(breaker.state(), state, "{name}: step {i}"),
                }
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn half_open_lets_one_probe_and_a_dropped_probe_frees_the_slot() {
        let breaker = CircuitBreaker::new("orders", config());
        for _ in 0..3 {
            call(&breaker, F);
        }
        let Err(ExchangeError::Unavailable { retry_after, .. }) = breaker.permit() else {
            panic!("open breaker must refuse")
        };
        assert_eq!(retry_after, Some(Duration::from_secs(1)));
        tokio::time::advance(Duration::from_secs(2)).await;
        let probe = breaker.permit();
        assert!(probe.is_ok());
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        assert!(breaker.permit().is_err(), "second probe while one is out");
        drop(probe);
        let probe = breaker.permit();
        assert!(probe.is_ok(), "slot freed by the dropped probe");
        if let Ok(p) = probe {
            p.record(S);
        }
        let health = breaker.health();
        assert_eq!(health.state, BreakerState::Closed);
        assert_eq!(health.transitions_total, 3);
        assert_eq!(health.rejected_total, 2);
    }

    #[test]
    fn only_unknown_outcomes_are_failures() {
        let cases: Vec<(Result<(), ExchangeError>, Outcome)> = vec![
            (Ok(()), S),
            (Err(ExchangeError::unknown("timeout")), F),
            (
                Err(ExchangeError::Rejected {
                    code: Some(-2010),
                    message: "x".into(),
                }),
                S,
            ),
            (
                Err(ExchangeError::Duplicate {
                    message: "Duplicate order sent.".into(),
                }),
                S,
            ),
            (
                Err(ExchangeError::RateLimited {
                    retry_after: None,
                    banned: false,
                    message: "x".into(),
                }),
                S,
            ),
            (
                Err(ExchangeError::unavailable("open", None)),
                Outcome::Ignored,
            ),
        ];
        for (result, want) in cases {
            assert_eq!(Outcome::of(&result), want, "{result:?}");
        }
    }
}
