//! Load driver: drops every WebSocket connection between omsd and omsd-sim (over loopback) at
//! least 100 times and measures, per drop, the time until the daemon detected it, until every
//! book was consistent again (resynced from a fresh snapshot), and until the user stream was
//! back and reconciled (submissions resumed). Prints p50/p90/p99/max of each.
//!
//! `cargo bench --bench drop_recovery` (`DROPS=N` to change the count). Bounded: each drop waits
//! at most 10 s; loopback only.

use std::time::{Duration, Instant};

use serde_json::json;

#[path = "../tests/common/mod.rs"]
mod common;

use common::venue_state::{report, seen, venues};
use common::{Backend, Stack};

const STEP: Duration = Duration::from_millis(1);
/// Quiet time before each drop: drops are rare events, and the backoff starts over only after a
/// connection stayed healthy for `reconnect_min_healthy_ms` (set to 0.5 s below).
const SETTLE: Duration = Duration::from_millis(1_100);
const PER_DROP_LIMIT: Duration = Duration::from_secs(10);

struct Sample {
    detect: Duration,
    book: Duration,
    user: Duration,
}

async fn one_drop(
    sim: &exchange_sim::SimHandle,
    http: &reqwest::Client,
    base: &str,
) -> Result<Sample, String> {
    // Start from a steady state.
    tokio::time::sleep(SETTLE).await;
    let start = Instant::now();
    let before = loop {
        let s = seen(&venues(http, base).await);
        if s.all_books_in_sync && s.user_up_and_reconciled {
            break s;
        }
        if start.elapsed() > PER_DROP_LIMIT {
            return Err("never steady before the drop".into());
        }
        tokio::time::sleep(STEP).await;
    };
    let spec: exchange_sim::FaultSpec =
        serde_json::from_value(json!({"fault": "drop_connections", "params": {"target": "all"}}))
            .map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    sim.faults().inject(spec).map_err(|e| e.to_string())?;
    let (mut detect, mut book, mut user) = (None, None, None);
    while t0.elapsed() < PER_DROP_LIMIT {
        let now = seen(&venues(http, base).await);
        let elapsed = t0.elapsed();
        if detect.is_none() && now.reconnects > before.reconnects {
            detect = Some(elapsed);
        }
        if book.is_none() && now.resyncs > before.resyncs && now.all_books_in_sync {
            book = Some(elapsed);
        }
        if user.is_none()
            && now.reconciliations > before.reconciliations
            && now.user_up_and_reconciled
        {
            user = Some(elapsed);
        }
        if let (Some(detect), Some(book), Some(user)) = (detect, book, user) {
            return Ok(Sample { detect, book, user });
        }
        tokio::time::sleep(STEP).await;
    }
    Err(format!(
        "missing: detect={detect:?} book={book:?} user={user:?}"
    ))
}

fn main() {
    let drops: usize = std::env::var("DROPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        // Each drop costs about 150 request weight (two depth snapshots, reconciliation); at one
        // drop a second that is far above the venue's 6000 per minute, and the daemon would
        // rightly wait for the next minute. The simulator advertises a larger budget so that the
        // driver measures recovery latency rather than the rate limit.
        let mut sim_config = exchange_sim::SimConfig::demo();
        sim_config.limits.request_weight_per_minute = 1_000_000;
        sim_config.limits.raw_requests_per_5m = 10_000_000;
        // The same holds for the reconnect policy: a connection must stay up for
        // `reconnect_min_healthy_ms` before the next drop counts as a new episode (30 s by
        // default), and every attempt takes a token of the connection budget (100 per 5 minutes
        // by default). 100 drops a second or so apart are a flapping venue under that policy and
        // would be measured as backoff, so the driver treats a 0.5 s healthy connection as
        // recovered and allows the venue's own 300 attempts per 5 minutes.
        let tweak = |config: &mut omsd::config::Config| {
            for venue in &mut config.venues {
                venue.tuning.reconnect_min_healthy_ms = Some(500);
                venue.tuning.connect_budget = Some(300);
            }
        };
        let stack = Stack::start_with(Backend::Sqlite, sim_config, tweak)
            .await
            .expect("simulator and omsd start");
        let (sim, http, base) = (&stack.sim, &stack.http, stack.url(""));

        let mut samples = Vec::new();
        let mut timeouts = 0;
        for _ in 0..drops {
            match one_drop(sim, http, &base).await {
                Ok(sample) => samples.push(sample),
                Err(why) => {
                    eprintln!("drop not recovered: {why}");
                    timeouts += 1;
                }
            }
        }
        println!("drop_recovery: {} drops of every WebSocket connection, {timeouts} not recovered within {PER_DROP_LIMIT:?}", samples.len());
        report("time to detect", samples.iter().map(|s| s.detect).collect());
        report("time to consistent books", samples.iter().map(|s| s.book).collect());
        report("time to recovered user stream", samples.iter().map(|s| s.user).collect());
        stack.stop().await;
    });
}
