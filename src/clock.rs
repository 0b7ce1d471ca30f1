//! Wall-clock time as omsd stores it: epoch milliseconds.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in epoch milliseconds (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
