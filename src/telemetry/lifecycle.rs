//! Events of the daemon's life: live event subscribers, the systemd watchdog, shutdowns.

use metrics::{counter, gauge};

use super::*;

/// A live event subscriber connected (`+1`) or left (`-1`).
pub fn events_subscribers(delta: f64) {
    gauge!(EVENTS_SUBSCRIBERS).increment(delta);
}

/// omsd ended a live event stream; `last_event_id` is the last event it delivered.
pub fn events_cut_off(reason: &'static str, last_event_id: Option<i64>) {
    if reason == "shutting_down" {
        tracing::debug!(reason, ?last_event_id, "live event stream ended");
    } else {
        tracing::warn!(reason, ?last_event_id, "live event subscriber cut off");
    }
    counter!(EVENTS_CUTOFFS, "reason" => reason).increment(1);
}

/// A watchdog tick found loops without recent progress: no systemd ping is sent.
pub fn watchdog_stale(stale: &[(&'static str, std::time::Duration)]) {
    for (name, age) in stale {
        tracing::error!(
            task = name,
            since_progress = ?age,
            "loop made no progress within the watchdog interval: watchdog ping withheld"
        );
        counter!(WATCHDOG_STALE, "loop" => *name).increment(1);
    }
}

/// A stop of the daemon ended; `clean` when it finished within the grace period.
pub fn shutdown_finished(clean: bool, took: std::time::Duration) {
    let outcome = if clean { "clean" } else { "grace_exceeded" };
    if clean {
        tracing::info!(?took, "shutdown finished within the grace period");
    } else {
        tracing::error!(?took, "shutdown exceeded its grace period");
    }
    counter!(SHUTDOWNS, "outcome" => outcome).increment(1);
}
