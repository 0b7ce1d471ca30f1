//! Bounded crash test: omsd runs as a child process against an in-process simulator; each
//! iteration runs a seeded random workload (optionally under a simulator fault), SIGKILLs the
//! daemon at a random moment, restarts it and checks, in both directions, that the store
//! agrees with the venue: every venue order of ours is stored with the venue's status, filled
//! quantity and fills; every stored order exists at the venue or was rejected (by the venue,
//! or inferred as never accepted and marked so); nothing is left pending or unknown. Replayed
//! idempotency keys return the same order and never create a second venue order.
//!
//! `OMSD_CRASH_ITERATIONS` (default 20), `OMSD_CRASH_SEED` (replay), `OMSD_CRASH_KEEP_GOING=1`
//! (report every failing iteration instead of stopping at the first). With
//! `OMSD_TEST_DATABASE_URL`, a shorter second run uses a fresh PostgreSQL database.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::consistency::converge;
use common::daemon::{Daemon, log_tail};
use common::venue::{SignedVenue, VenueTruth};
use common::workload::{Ledger, Rng, client, post_order};
use serde_json::{Value, json};

const SYMBOLS: [&str; 2] = ["BTCUSDT", "ETHUSDT"];
const CLIENTS: usize = 3;
const READY_DEADLINE: Duration = Duration::from_secs(30);
const CONSISTENT_DEADLINE: Duration = Duration::from_secs(20);

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// The simulator: demo market with agents, rate limits far above what the test sends.
fn sim_config(seed: u64) -> exchange_sim::SimConfig {
    let mut config = exchange_sim::SimConfig::demo();
    config.seed = seed;
    config.limits.request_weight_per_minute = 10_000_000;
    config.limits.raw_requests_per_5m = 10_000_000;
    config.limits.orders_per_10s = 1_000_000;
    config.limits.orders_per_day = 100_000_000;
    config
}

/// A fault for this iteration, or none (about half of the iterations).
fn pick_fault(rng: &mut Rng) -> Option<Value> {
    let order = json!(["/api/v3/order"]);
    let post = json!(["POST"]);
    let faults = [
        json!({"fault": "latency", "params": {"mean_ms": 40, "jitter_ms": 40, "target": "rest"}}),
        json!({"fault": "rest_errors", "params": {"rate": 0.3, "status": 503, "paths": order,
            "methods": post, "execute": rng.chance(50)}}),
        json!({"fault": "drop_connections", "params": {"target": "ws_api"}}),
        json!({"fault": "silence_streams", "params": {"target": "ws_api"}}),
        json!({"fault": "swallow_order_acks", "params": {"rate": 0.3, "target": "rest",
            "hold_ms": 1500}}),
        json!({"fault": "duplicate_user_events", "params": {"rate": 0.5}}),
        json!({"fault": "reorder_user_events", "params": {"window": 4}}),
        json!({"fault": "rest_hang", "params": {"duration_ms": 2500, "rate": 0.3,
            "paths": order, "methods": post, "execute": true}}),
    ];
    rng.chance(50)
        .then(|| faults[rng.range(0, faults.len() as u64) as usize].clone())
}

/// Re-posts a few earlier keys with their bodies: each must answer 200 with the same order
/// (a retryable 503 is retried for a few seconds first).
async fn replay(
    http: &reqwest::Client,
    base: &str,
    ledger: &Ledger,
    rng: &mut Rng,
    iteration: usize,
) -> Vec<String> {
    let known: Vec<_> = ledger
        .submissions
        .lock()
        .expect("log lock")
        .iter()
        .filter(|s| s.iteration < iteration && s.id.is_some())
        .cloned()
        .collect();
    let mut problems = Vec::new();
    for _ in 0..known.len().min(3) {
        let s = &known[rng.range(0, known.len() as u64) as usize];
        let end = Instant::now() + Duration::from_secs(5);
        let answer = loop {
            let answer = post_order(http, base, &s.key, &s.body).await;
            match &answer {
                Some((503, _)) if Instant::now() < end => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                _ => break answer,
            }
        };
        match answer {
            Some((200, order)) if order["id"].as_i64() == s.id => {}
            other => problems.push(format!(
                "replay: key {} (order {:?}) answered {other:?}, want 200 with the same order",
                s.key, s.id
            )),
        }
    }
    problems
}

/// One full run on one store: `iterations` crash-restart cycles. Returns the failures.
async fn run(
    label: &str,
    store_url: &str,
    dir: &std::path::Path,
    seed: u64,
    iterations: usize,
) -> Vec<String> {
    let mut rng = Rng::new(seed);
    let sim = exchange_sim::start(sim_config(seed))
        .await
        .expect("simulator starts");
    let venue = SignedVenue::for_sim_from(&sim, std::net::Ipv4Addr::new(127, 0, 0, 2));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client");
    let ledger = Arc::new(Ledger::default());
    let mut truth = VenueTruth::default();
    let mut failures = Vec::new();
    let mut daemon = Daemon::spawn(dir, &sim, store_url);
    let log = daemon.log_path().to_path_buf();
    if let Err(e) = daemon.wait_ready(&http, READY_DEADLINE).await {
        panic!("{label}: {e}\n--- omsd log ---\n{}", log_tail(&log, 80));
    }
    for iteration in 1..=iterations {
        let run_for = Duration::from_millis(rng.range(300, 2000));
        let fault = pick_fault(&mut rng);
        let fault_name = fault
            .as_ref()
            .map_or("none".to_string(), |f| f["fault"].to_string());
        if let Some(spec) = &fault {
            let spec: exchange_sim::FaultSpec =
                serde_json::from_value(spec.clone()).expect("fault spec");
            sim.faults().inject(spec).expect("fault accepted");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                tokio::spawn(client(
                    http.clone(),
                    daemon.base(),
                    Rng::new(rng.next_u64()),
                    format!("crash-{seed:x}-{label}-{iteration}-{c}"),
                    iteration,
                    Arc::clone(&ledger),
                    Arc::clone(&stop),
                ))
            })
            .collect();
        tokio::time::sleep(run_for).await;
        daemon.kill().await;
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            let _ = c.await;
        }
        sim.faults().clear_all();
        let counts = ledger.take_counts();
        daemon = Daemon::spawn(dir, &sim, store_url);
        let ready = match daemon.wait_ready(&http, READY_DEADLINE).await {
            Ok(ready) => ready,
            Err(e) => {
                let text = format!(
                    "{label} iter {iteration}/{iterations}: ran {run_for:?} fault {fault_name} answers [{counts}]: after the restart {e} (seed {seed})\n--- omsd log (tail) ---\n{}",
                    log_tail(&log, 60)
                );
                println!("{text}");
                failures.push(text);
                break;
            }
        };
        let mut problems = Vec::new();
        if iteration % 3 == 0 {
            problems.extend(replay(&http, &daemon.base(), &ledger, &mut rng, iteration).await);
        }
        let outcome = converge(&venue, &mut truth, store_url, &SYMBOLS, CONSISTENT_DEADLINE).await;
        let summary = format!(
            "{label} iter {iteration}/{iterations}: ran {run_for:?} fault {fault_name} answers [{counts}] ready after {ready:.1?}"
        );
        match outcome {
            Ok((after, venue_orders, stored)) if problems.is_empty() => println!(
                "{summary}, consistent after {after:.1?} (venue orders {venue_orders}, stored {stored})"
            ),
            Ok(_) | Err(_) => {
                if let Err(diff) = outcome {
                    problems.extend(diff);
                }
                let total = problems.len();
                problems.truncate(40);
                let text = format!(
                    "{summary}: {total} problem(s) (seed {seed}):\n  {}\n--- omsd log (tail) ---\n{}",
                    problems.join("\n  "),
                    log_tail(&log, 60)
                );
                println!("{text}");
                failures.push(text);
                if std::env::var_os("OMSD_CRASH_KEEP_GOING").is_none() {
                    break;
                }
            }
        }
    }
    daemon.kill().await;
    sim.shutdown().await;
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loop_keeps_store_and_venue_in_agreement() {
    let iterations = env_u64("OMSD_CRASH_ITERATIONS").unwrap_or(20) as usize;
    let seed = env_u64("OMSD_CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(7)
    });
    println!("crash loop: seed {seed} (OMSD_CRASH_SEED={seed} replays), {iterations} iterations");
    let dir = common::tempdir::TempDir::new("omsd-crash");
    let sqlite_dir = dir.path().join("sqlite");
    std::fs::create_dir_all(&sqlite_dir).expect("dir");
    let store = format!("sqlite:{}", sqlite_dir.join("omsd.db").display());
    let mut failures = run("sqlite", &store, &sqlite_dir, seed, iterations).await;
    if let Some(server) = common::postgres_server_url() {
        let pg_dir = dir.path().join("postgres");
        std::fs::create_dir_all(&pg_dir).expect("dir");
        let store = common::fresh_postgres_database(&server).await;
        let short = (iterations / 4).max(5);
        failures.extend(run("postgres", &store, &pg_dir, seed ^ 0x5EED, short).await);
    }
    assert!(
        failures.is_empty(),
        "{} failing iteration(s), seed {seed}:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
