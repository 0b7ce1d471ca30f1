//! [`ConnectBudget`]: at most `attempts` connection attempts in any sliding window of `window`.
//!
//! Venues limit how often an IP may open connections (Binance: 300 per 5 minutes). A fixed
//! window would let twice the budget through around a window boundary; a log of the attempts
//! in the last window cannot, and it is bounded by the budget itself.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// The connection attempts of one venue in the last `window`. Not synchronised: the
/// [`RateLimiter`](crate::RateLimiter) holds it under its lock.
#[derive(Debug, Clone)]
pub struct ConnectBudget {
    attempts: usize,
    window: Duration,
    /// When each attempt in the current window was made, oldest first (at most `attempts`).
    log: VecDeque<Instant>,
    total: u64,
    refused: u64,
}

impl ConnectBudget {
    /// At most `attempts` (at least 1) attempts in any `window`.
    pub fn new(attempts: u32, window: Duration) -> Self {
        let attempts = usize::try_from(attempts).unwrap_or(usize::MAX).max(1);
        ConnectBudget {
            attempts,
            window,
            log: VecDeque::with_capacity(attempts.min(1024)),
            total: 0,
            refused: 0,
        }
    }

    fn expire(&mut self, now: Instant) {
        while self
            .log
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
        {
            self.log.pop_front();
        }
    }

    /// When the next attempt may be made, if not now.
    pub fn next_free(&mut self, now: Instant) -> Option<Instant> {
        self.expire(now);
        if self.log.len() < self.attempts {
            return None;
        }
        let oldest = self.log.front().copied().unwrap_or(now);
        Some(oldest.checked_add(self.window).unwrap_or(now))
    }

    /// Takes one attempt at `now`, or says when the oldest attempt leaves the window.
    pub fn try_take(&mut self, now: Instant) -> Result<(), Instant> {
        if let Some(until) = self.next_free(now) {
            self.refused += 1;
            return Err(until);
        }
        self.log.push_back(now);
        self.total += 1;
        Ok(())
    }

    /// Attempts in the window ending `now`.
    pub fn in_window(&mut self, now: Instant) -> u32 {
        self.expire(now);
        u32::try_from(self.log.len()).unwrap_or(u32::MAX)
    }

    /// The budget: attempts per window.
    pub fn budget(&self) -> (u32, Duration) {
        (
            u32::try_from(self.attempts).unwrap_or(u32::MAX),
            self.window,
        )
    }

    /// Attempts granted and refused since start.
    pub fn totals(&self) -> (u64, u64) {
        (self.total, self.refused)
    }
}

impl Default for ConnectBudget {
    fn default() -> Self {
        ConnectBudget::new(100, Duration::from_secs(300))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn sliding_window_never_lets_more_than_the_budget_through() {
        let window = Duration::from_secs(10);
        let mut budget = ConnectBudget::new(3, window);
        let start = Instant::now();
        // Attempt every 1.5 s for a minute: granted ones never exceed 3 in any 10 s.
        let mut granted = Vec::new();
        for _ in 0..40 {
            if budget.try_take(Instant::now()).is_ok() {
                granted.push(Instant::now());
            }
            tokio::time::advance(Duration::from_millis(1500)).await;
        }
        for (i, t) in granted.iter().enumerate() {
            let in_window = granted[i..].iter().filter(|u| **u - *t < window).count();
            assert!(
                in_window <= 3,
                "{in_window} attempts within {window:?} of {t:?}"
            );
        }
        assert!(granted.len() >= 15, "the budget refills: {}", granted.len());
        let (total, refused) = budget.totals();
        assert_eq!((total as usize, total + refused), (granted.len(), 40));
        // A refusal says when the oldest attempt leaves the window.
        let mut fresh = ConnectBudget::new(1, window);
        assert!(fresh.try_take(start).is_ok());
        assert_eq!(fresh.try_take(start), Err(start + window));
        assert_eq!(fresh.in_window(start + window), 0);
    }
}
