//! The simulator's wall clock in milliseconds: server time for `/time`, signatures' timestamp
//! window and every engine timestamp. One place, so the `clock_skew` fault shifts all of them;
//! clones share the skew.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone, Debug, Default)]
pub(crate) struct Clock {
    /// Added to the system time (the sum of active `clock_skew` faults).
    skew_ms: Arc<AtomicI64>,
}

impl Clock {
    /// Milliseconds since the Unix epoch, skew included.
    pub fn now_ms(&self) -> i64 {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let now = i64::try_from(since.as_millis()).unwrap_or(i64::MAX);
        now.saturating_add(self.skew_ms.load(Ordering::Relaxed))
    }

    /// Sets the skew every clone reports from now on.
    pub fn set_skew(&self, skew_ms: i64) {
        self.skew_ms.store(skew_ms, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_is_shared_by_clones() {
        let clock = Clock::default();
        let copy = clock.clone();
        let before = copy.now_ms();
        clock.set_skew(-3_600_000);
        let skewed = copy.now_ms();
        assert!(
            (before - skewed - 3_600_000).abs() < 1_000,
            "{before} {skewed}"
        );
    }
}
