//! Load driver: how long books are out of sync and new orders are paused for reconciliation
//! when omsd's WebSocket connections to omsd-sim (over loopback) are replaced, for three
//! causes on the same stack shape:
//! - baseline, break-before-make: every connection is dropped (`drop_connections`), the daemon
//!   detects it, reconnects, resyncs the books from fresh snapshots and reconciles;
//! - the venue's `serverShutdown` notice (`/_sim/maintenance`, connections closed 1 s later):
//!   omsd opens and syncs the replacement first, then lets the old connection go;
//! - a short maximum connection age (1.5 s): the same make-before-break, planned by omsd.
//!
//! Out-of-sync time is sampled from `/v1/venues` every millisecond and confirmed by the
//! daemon's own counters (book resyncs, reconciliations), which catch a blip shorter than a
//! sample. Printed per cause, as totals and as a ratio to the baseline of the same run.
//!
//! `cargo bench --bench rotation` (`EVENTS=N`, default 10). Bounded: each event is watched for
//! at most 10 s; loopback only.

use std::time::{Duration, Instant};

use serde_json::json;

#[path = "../tests/common/mod.rs"]
mod common;

use common::venue_state::{Seen, ms, seen, venues};
use common::{Backend, Stack};

const STEP: Duration = Duration::from_millis(1);
/// Quiet time before each event, so that the backoff and the books start from a steady state.
const SETTLE: Duration = Duration::from_millis(1_100);
const PER_EVENT_LIMIT: Duration = Duration::from_secs(10);
/// Time between the `serverShutdown` notice and the venue closing the connections.
const GRACE: Duration = Duration::from_secs(1);
/// Maximum connection age in the third phase.
const MAX_AGE: Duration = Duration::from_millis(1_500);

/// What one phase measured.
#[derive(Default)]
struct Phase {
    events: usize,
    /// Sampled time with some book not in sync.
    out_of_sync: Duration,
    /// Sampled time with the user stream down or the venue reconciling (new orders refused).
    paused: Duration,
    resyncs: u64,
    reconciliations: u64,
    rotations: u64,
    reconnects: u64,
    failures: usize,
}

impl Phase {
    fn print(&self, name: &str, baseline: Option<&Phase>) {
        let ratio = |value: Duration, base: Duration| match baseline {
            Some(_) if base > Duration::ZERO => {
                format!(
                    " ({:.3}x baseline)",
                    value.as_secs_f64() / base.as_secs_f64()
                )
            }
            _ => String::new(),
        };
        let (base_sync, base_pause) = baseline
            .map(|b| (b.out_of_sync, b.paused))
            .unwrap_or_default();
        println!(
            "{name:<34} events {:>3}  out of sync {:>9.2} ms{}  orders paused {:>9.2} ms{}  \
             book resyncs {:>3}  reconciliations {:>3}  rotations {:>3}  reconnects {:>3}  \
             failed {}",
            self.events,
            ms(self.out_of_sync),
            ratio(self.out_of_sync, base_sync),
            ms(self.paused),
            ratio(self.paused, base_pause),
            self.resyncs,
            self.reconciliations,
            self.rotations,
            self.reconnects,
            self.failures,
        );
    }
}

/// Waits until every book is in sync and the user stream is up and reconciled.
async fn steady(http: &reqwest::Client, base: &str) -> Result<Seen, String> {
    tokio::time::sleep(SETTLE).await;
    let start = Instant::now();
    loop {
        let s = seen(&venues(http, base).await);
        if s.all_books_in_sync && s.user_up_and_reconciled {
            return Ok(s);
        }
        if start.elapsed() > PER_EVENT_LIMIT {
            return Err("never steady".into());
        }
        tokio::time::sleep(STEP).await;
    }
}

/// Samples the venue from `t0` until `done` holds (and the venue is steady again), adding the
/// out-of-sync and paused time to `phase`.
async fn watch(
    http: &reqwest::Client,
    base: &str,
    before: Seen,
    phase: &mut Phase,
    limit: Duration,
    done: impl Fn(&Seen, Duration) -> bool,
) -> Result<(), String> {
    let t0 = Instant::now();
    let mut last = t0;
    loop {
        let now = seen(&venues(http, base).await);
        let at = Instant::now();
        let span = at - last;
        last = at;
        if !now.all_books_in_sync {
            phase.out_of_sync += span;
        }
        if !now.user_up_and_reconciled {
            phase.paused += span;
        }
        let elapsed = t0.elapsed();
        if done(&now, elapsed) && now.all_books_in_sync && now.user_up_and_reconciled {
            phase.resyncs += now.resyncs - before.resyncs;
            phase.reconciliations += now.reconciliations - before.reconciliations;
            phase.rotations += now.rotations - before.rotations;
            phase.reconnects += now.reconnects - before.reconnects;
            phase.events += 1;
            return Ok(());
        }
        if elapsed > limit {
            return Err(format!("not settled: {now:?}"));
        }
        tokio::time::sleep(STEP).await;
    }
}

/// What one event of a repeated phase does to the connections.
enum Trigger {
    /// Drop every connection (break-before-make).
    Drop,
    /// Announce maintenance at this URL (make-before-break).
    Notice(String),
}

impl Trigger {
    async fn fire(&self, stack: &Stack) -> Result<(), String> {
        match self {
            Trigger::Drop => {
                stack.inject(json!({"fault": "drop_connections", "params": {"target": "all"}}));
                Ok(())
            }
            Trigger::Notice(url) => {
                let answer = stack
                    .http
                    .post(url)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if answer.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("maintenance refused: {}", answer.status()))
                }
            }
        }
    }

    /// Whether the event is over: the drop recovered (reconnected, resynced, reconciled), or
    /// the old connections are gone and both streams were replaced.
    fn over(&self, before: &Seen, now: &Seen, elapsed: Duration) -> bool {
        match self {
            Trigger::Drop => {
                now.reconnects > before.reconnects
                    && now.resyncs > before.resyncs
                    && now.reconciliations > before.reconciliations
            }
            Trigger::Notice(_) => {
                elapsed > GRACE + Duration::from_millis(200)
                    && now.rotations >= before.rotations + 2
            }
        }
    }
}

/// `events` events of `trigger`, each from a steady state.
async fn repeated(stack: &Stack, events: usize, trigger: Trigger) -> Phase {
    let (http, base) = (&stack.http, stack.url(""));
    let mut phase = Phase::default();
    for _ in 0..events {
        let outcome = async {
            let before = steady(http, &base).await?;
            trigger.fire(stack).await?;
            let over = |now: &Seen, elapsed| trigger.over(&before, now, elapsed);
            watch(http, &base, before, &mut phase, PER_EVENT_LIMIT, over).await
        };
        if let Err(why) = outcome.await {
            eprintln!("event not settled: {why}");
            phase.failures += 1;
        }
    }
    phase
}

async fn max_age(stack: &Stack, events: usize) -> Phase {
    let (http, base) = (&stack.http, stack.url(""));
    let mut phase = Phase::default();
    let outcome = async {
        let before = steady(http, &base).await?;
        // Both streams rotate once per MAX_AGE: `events` rounds of both.
        let want = before.rotations + 2 * events as u64;
        let limit = MAX_AGE * (events as u32 + 3);
        watch(http, &base, before, &mut phase, limit, |now, _| {
            now.rotations >= want
        })
        .await
    };
    if let Err(why) = outcome.await {
        eprintln!("max age: {why}");
        phase.failures += 1;
    }
    // One watched window; an event is one rotation of both streams.
    phase.events = (phase.rotations / 2) as usize;
    phase
}

fn main() {
    let events: usize = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        // As in the drop-recovery driver: each drop costs request weight and connection
        // attempts, so the simulator advertises a larger weight budget and the daemon treats
        // a 0.5 s healthy connection as recovered, to measure recovery rather than the limits.
        let sim_config = || {
            let mut config = exchange_sim::SimConfig::demo();
            config.limits.request_weight_per_minute = 1_000_000;
            config.limits.raw_requests_per_5m = 10_000_000;
            config
        };
        let tune = |max_age: Option<Duration>| {
            move |config: &mut omsd::config::Config| {
                for venue in &mut config.venues {
                    venue.tuning.reconnect_min_healthy_ms = Some(500);
                    venue.tuning.connect_budget = Some(300);
                    venue.tuning.max_connection_age_ms = max_age.map(|a| a.as_millis() as u64);
                }
            }
        };
        let stack = Stack::start_with(Backend::Sqlite, sim_config(), tune(None))
            .await
            .expect("simulator and omsd start");
        let drops = repeated(&stack, events, Trigger::Drop).await;
        let notice = format!(
            "{}/_sim/maintenance?target=all&grace_ms={}",
            stack.sim.rest_url(),
            GRACE.as_millis()
        );
        let notices = repeated(&stack, events, Trigger::Notice(notice)).await;
        stack.stop().await;
        let stack = Stack::start_with(Backend::Sqlite, sim_config(), tune(Some(MAX_AGE)))
            .await
            .expect("simulator and omsd start");
        let aged = max_age(&stack, events).await;
        stack.stop().await;

        println!(
            "rotation: every WebSocket connection replaced, per cause (loopback, SQLite store)"
        );
        drops.print("baseline: drop and reconnect", None);
        notices.print("serverShutdown, make-before-break", Some(&drops));
        aged.print("max age 1.5 s, make-before-break", Some(&drops));
    });
}
