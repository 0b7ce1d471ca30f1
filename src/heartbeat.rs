//! Progress stamps of the daemon's main loops, and the systemd watchdog that pings only while
//! every one of them is fresh.
//!
//! A loop stamps its [`Heartbeat`] each time round, idle ticks included, so a quiet daemon
//! stays fresh; a loop stuck in an `await` that never returns (a store that hangs) stops
//! stamping. The watchdog task then withholds `WATCHDOG=1`, logs which loop is stale, and
//! systemd restarts the daemon once `WatchdogSec` passes (the state is durable, so a restart
//! is recovery). A loop that ended (shutdown) drops its heartbeat and is no longer watched.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::telemetry;

/// How often an idle loop stamps its heartbeat.
pub const HEARTBEAT_TICK: Duration = Duration::from_millis(250);
/// A loop is never judged stale sooner than this, whatever the watchdog interval.
const MIN_STALE_AFTER: Duration = Duration::from_secs(1);

struct Stamp {
    name: &'static str,
    /// Milliseconds since the registry's epoch at the last stamp.
    at_ms: AtomicU64,
}

/// One loop's progress stamp; cheap to stamp, dropped when the loop ends.
pub struct Heartbeat {
    epoch: Instant,
    stamp: Arc<Stamp>,
}

impl Heartbeat {
    /// A heartbeat nobody watches (a loop run outside the daemon, in tests).
    pub fn detached(name: &'static str) -> Heartbeat {
        Heartbeats::default().register(name)
    }

    /// The loop made progress now.
    pub fn beat(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.stamp.at_ms.store(ms, Ordering::Relaxed);
    }
}

/// Every watched loop's heartbeat.
pub struct Heartbeats {
    epoch: Instant,
    stamps: Mutex<Vec<Weak<Stamp>>>,
}

impl Default for Heartbeats {
    fn default() -> Self {
        Heartbeats {
            epoch: Instant::now(),
            stamps: Mutex::new(Vec::new()),
        }
    }
}

impl Heartbeats {
    /// Watches a new loop, fresh as of now.
    pub fn register(&self, name: &'static str) -> Heartbeat {
        let stamp = Arc::new(Stamp {
            name,
            at_ms: AtomicU64::new(self.epoch.elapsed().as_millis() as u64),
        });
        if let Ok(mut stamps) = self.stamps.lock() {
            stamps.retain(|s| s.strong_count() > 0);
            stamps.push(Arc::downgrade(&stamp));
        }
        Heartbeat {
            epoch: self.epoch,
            stamp,
        }
    }

    /// The live loops whose last stamp is older than `after`, with how old it is.
    pub fn stale(&self, after: Duration) -> Vec<(&'static str, Duration)> {
        self.stale_at(self.epoch.elapsed(), after)
    }

    /// [`Heartbeats::stale`] at `now` (time since the registry's epoch).
    fn stale_at(&self, now: Duration, after: Duration) -> Vec<(&'static str, Duration)> {
        let Ok(stamps) = self.stamps.lock() else {
            return Vec::new();
        };
        stamps
            .iter()
            .filter_map(Weak::upgrade)
            .filter_map(|s| {
                let age =
                    now.saturating_sub(Duration::from_millis(s.at_ms.load(Ordering::Relaxed)));
                (age > after).then_some((s.name, age))
            })
            .collect()
    }
}

/// When systemd asked for a watchdog (`WATCHDOG_USEC`, for this process): pings it every
/// half interval while no loop is stale, until `stop` fires (its task is not one the stop
/// waits for: it pings through the whole stop). A loop is stale after half the
/// interval without progress (at least [`MIN_STALE_AFTER`]), so a wedge is seen before
/// systemd's deadline.
pub fn spawn_watchdog(
    heartbeats: Arc<Heartbeats>,
    stop: CancellationToken,
) -> Option<JoinHandle<()>> {
    let timeout = sd_notify::watchdog_enabled()?;
    let every = (timeout / 2).max(Duration::from_millis(10));
    let stale_after = (timeout / 2).max(MIN_STALE_AFTER);
    tracing::info!(?timeout, ?every, "systemd watchdog enabled");
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let stale = heartbeats.stale(stale_after);
            if stale.is_empty() {
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
            } else {
                telemetry::watchdog_stale(&stale);
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loops_are_stale_once_their_stamp_is_old_and_forgotten_once_they_end() {
        let heartbeats = Heartbeats::default();
        let first = heartbeats.register("first");
        let _second = heartbeats.register("second");
        drop(heartbeats.register("ended"));
        let names = |now_ms: u64| -> Vec<&'static str> {
            let now = Duration::from_millis(now_ms);
            let stale = heartbeats.stale_at(now, Duration::from_secs(1));
            stale.into_iter().map(|(name, _)| name).collect()
        };
        assert!(names(500).is_empty());
        assert_eq!(names(5_000), ["first", "second"]);
        drop(first);
        assert_eq!(names(5_000), ["second"]);
    }
}
