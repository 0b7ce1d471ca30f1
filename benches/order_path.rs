//! Load driver of the order path over loopback, for SQLite and (with
//! `OMSD_BENCH_DATABASE_URL`) PostgreSQL, each against baselines measured in the same run:
//!
//! - one fsync'd small write (write + fdatasync) in the store's directory, p50/p99;
//! - a bare signed REST order straight to the simulator (one client, sequential, keep-alive;
//!   an IOC limit buy far below the market, so it expires at once), p50/p99;
//! - one order's intent committed by the store alone (`write_batch` of one new order, outside
//!   omsd), p50/p99: the part of the overhead that is the store's;
//! - the same order through omsd's control port (`POST /v1/orders`), p50/p99, and the
//!   overhead (omsd − bare) at p50 next to the target "one fsync + 150 µs";
//! - orders/s of 16 concurrent clients through the control port next to the same 16 clients
//!   sending signed orders straight to the simulator, and the ratio (target ≥ 0.5), each with
//!   the process's CPU time per order (clients, omsd and simulator share this process and the
//!   machine's cores, so CPU per order bounds the rate once the cores are busy).
//!
//! `cargo bench --bench order_path` (`scripts/bench.sh` adds a durable PostgreSQL cluster).
//! The simulator runs on its own runtime with rate limits that never throttle; omsd runs
//! in-process. Every loop is bounded in count and time; loopback only.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "../tests/common/mod.rs"]
mod common;

use common::venue::SignedVenue;

const SEQUENTIAL: usize = 400;
const SEQUENTIAL_LIMIT: Duration = Duration::from_secs(20);
const FSYNCS: usize = 300;
const CONCURRENT: usize = 16;
const THROUGHPUT_WINDOW: Duration = Duration::from_secs(4);
/// Between the two resting maker orders the driver places (29700 / 30300, mid 30000): an IOC
/// buy there crosses nothing and expires at once, and it lies inside the 2 % price band.
const PRICE: &str = "29800";
/// The quiet book the driver makes: one bid and one ask around the simulator's initial mid.
const MAKERS: [(&str, &str); 2] = [("BUY", "29700"), ("SELL", "30300")];
const QTY: &str = "0.001";
const STORE_COMMITS: usize = 300;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// p50 and p99 of `samples`.
fn p50_p99(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    (percentile(&samples, 0.50), percentile(&samples, 0.99))
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// `FSYNCS` small writes, each followed by fdatasync, in `dir`.
fn fsync_latency(dir: &Path) -> (Duration, Duration) {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path).expect("create fsync probe");
    let mut samples = Vec::with_capacity(FSYNCS);
    for i in 0..FSYNCS {
        let start = Instant::now();
        file.write_all(format!("{i:063}\n").as_bytes())
            .expect("write");
        file.sync_data().expect("fdatasync");
        samples.push(start.elapsed());
    }
    let _ = std::fs::remove_file(&path);
    p50_p99(samples)
}

/// `STORE_COMMITS` one-order intent batches written by a store of its own at `url`.
async fn store_commit_latency(url: &str) -> (Duration, Duration) {
    let store = omsd::store::open(url).await.expect("probe store opens");
    store.migrate().await.expect("probe store migrates");
    let mut samples = Vec::with_capacity(STORE_COMMITS);
    for i in 0..STORE_COMMITS {
        let order = omsd::store::NewOrderRecord {
            venue: "probe".into(),
            account: "main".into(),
            symbol: "BTC-USDT".into(),
            venue_symbol: "BTCUSDT".into(),
            client_order_id: format!("probe-{i}"),
            side: exchange_core::Side::Buy,
            order_type: exchange_core::OrderType::Limit,
            time_in_force: exchange_core::TimeInForce::Ioc,
            quantity: rust_decimal::Decimal::new(1, 3),
            price: Some(rust_decimal::Decimal::from(29_800)),
            idempotency_key: format!("probe-key-{i}"),
            request_hash: "probe".into(),
            created_at_ms: 1_700_000_000_000 + i as i64,
        };
        let batch = omsd::store::WriteBatch {
            new_orders: vec![order],
            ..Default::default()
        };
        let start = Instant::now();
        store
            .write_batch(&batch)
            .await
            .expect("probe batch written");
        samples.push(start.elapsed());
    }
    store.close().await;
    p50_p99(samples)
}

/// CPU time (user + system) this process has used so far, from `/proc/self/stat`.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name; the kernel
    // counts them in USER_HZ, 100 on Linux.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Rests one bid and one ask (once per run) so that the book has a mid for the price band.
async fn place_makers(venue: &SignedVenue, label: &str) {
    for (side, price) in MAKERS {
        let params = [
            ("symbol", "BTCUSDT".to_string()),
            ("side", side.to_string()),
            ("type", "LIMIT".to_string()),
            ("timeInForce", "GTC".to_string()),
            ("quantity", "1".to_string()),
            ("price", price.to_string()),
            ("newClientOrderId", format!("bench-maker-{label}-{side}")),
        ];
        let answer = venue
            .send(reqwest::Method::POST, "/api/v3/order", &params)
            .await;
        assert!(
            matches!(&answer, Ok((200, _))),
            "maker order not placed: {answer:?}"
        );
    }
}

/// One bare signed IOC order to the simulator; true when it expired as expected.
async fn bare_order(venue: &SignedVenue, coid: &str) -> bool {
    let params = [
        ("symbol", "BTCUSDT".to_string()),
        ("side", "BUY".to_string()),
        ("type", "LIMIT".to_string()),
        ("timeInForce", "IOC".to_string()),
        ("quantity", QTY.to_string()),
        ("price", PRICE.to_string()),
        ("newClientOrderId", coid.to_string()),
        ("newOrderRespType", "FULL".to_string()),
    ];
    matches!(
        venue.send(reqwest::Method::POST, "/api/v3/order", &params).await,
        Ok((200, body)) if body["status"] == "EXPIRED"
    )
}

fn omsd_body() -> Value {
    json!({"venue": "binance", "symbol": "BTC-USDT", "side": "buy", "type": "limit",
        "quantity": QTY, "price": PRICE, "time_in_force": "ioc"})
}

/// One order through the control port; true when it came back 201 and expired.
async fn omsd_order(http: &reqwest::Client, base: &str, key: &str) -> bool {
    let resp = http
        .post(format!("{base}/v1/orders"))
        .header("Idempotency-Key", key)
        .json(&omsd_body())
        .send()
        .await;
    match resp {
        Ok(r) if r.status().as_u16() == 201 => matches!(
            r.json::<Value>().await, Ok(order) if order["status"] == "expired"),
        _ => false,
    }
}

/// Sequential latency of `order(i)`: at most `SEQUENTIAL` calls or `SEQUENTIAL_LIMIT`.
async fn sequential<F, Fut>(name: &str, mut order: F) -> (Duration, Duration)
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = bool>,
{
    let begin = Instant::now();
    let mut samples = Vec::with_capacity(SEQUENTIAL);
    let mut failed = 0;
    for i in 0..SEQUENTIAL {
        let start = Instant::now();
        if order(i).await {
            samples.push(start.elapsed());
        } else {
            failed += 1;
        }
        if begin.elapsed() > SEQUENTIAL_LIMIT {
            break;
        }
    }
    if failed > 0 {
        eprintln!("{name}: {failed} order(s) did not come back as expected");
    }
    p50_p99(samples)
}

/// Orders/s of `CONCURRENT` clients calling `order` for `THROUGHPUT_WINDOW`, and the process's
/// CPU time per order meanwhile.
async fn throughput<F, Fut>(order: F) -> (f64, Duration)
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let order = Arc::new(order);
    let done = Arc::new(AtomicU64::new(0));
    let cpu_before = process_cpu();
    let start = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENT)
        .map(|c| {
            let (order, done) = (Arc::clone(&order), Arc::clone(&done));
            tokio::spawn(async move {
                let mut n = 0u64;
                while start.elapsed() < THROUGHPUT_WINDOW {
                    if order(c, n).await {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    n += 1;
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let orders = done.load(Ordering::Relaxed);
    let cpu = process_cpu().saturating_sub(cpu_before);
    let per_order = cpu.checked_div(orders.max(1) as u32).unwrap_or_default();
    (orders as f64 / start.elapsed().as_secs_f64(), per_order)
}

fn sim_config() -> exchange_sim::SimConfig {
    let mut config = exchange_sim::SimConfig::demo();
    // No market agents: the book stays empty, so every IOC buy expires and nothing else
    // competes for the CPU.
    config.market.enabled = false;
    config.limits.request_weight_per_minute = 100_000_000;
    config.limits.raw_requests_per_5m = 100_000_000;
    config.limits.orders_per_10s = 100_000_000;
    config.limits.orders_per_day = 1_000_000_000;
    config.balances.insert(
        "USDT".into(),
        rust_decimal::Decimal::from(1_000_000_000_i64),
    );
    config
}

/// Measures one backend and prints its table.
async fn bench_backend(
    label: &str,
    sim: &exchange_sim::SimHandle,
    store_url: &str,
    probe_url: &str,
    fsync_dir: &Path,
) {
    let venue = SignedVenue::for_sim(sim);
    place_makers(&venue, label).await;
    let (fsync50, fsync99) = fsync_latency(fsync_dir);
    let (commit50, commit99) = store_commit_latency(probe_url).await;
    let (bare50, bare99) = sequential("bare", |i| {
        let venue = venue.clone();
        async move { bare_order(&venue, &format!("bench-{label}-seq-{i}")).await }
    })
    .await;
    let config = common::app_config(sim, store_url);
    let app = omsd::app::App::start(config).await.expect("omsd starts");
    let base = format!("http://{}", app.control_addr());
    let http = reqwest::Client::new();
    let ready = common::poll(Duration::from_secs(30), || async {
        let r = http.get(format!("{base}/readyz")).send().await.ok()?;
        (r.status().as_u16() == 200).then_some(())
    })
    .await;
    assert!(ready.is_some(), "omsd not ready within 30 s");
    let book = common::poll(Duration::from_secs(30), || async {
        let r = http
            .get(format!("{base}/v1/books/binance/BTC-USDT?depth=1"))
            .send()
            .await
            .ok()?;
        let book: Value = r.json().await.ok()?;
        (book["in_sync"] == json!(true) && book["asks"][0].is_object()).then_some(())
    })
    .await;
    assert!(book.is_some(), "omsd's book not in sync within 30 s");
    let (omsd50, omsd99) = sequential("omsd", |i| {
        let (http, base) = (http.clone(), base.clone());
        async move { omsd_order(&http, &base, &format!("bench-{label}-seq-{i}")).await }
    })
    .await;
    let (omsd_rate, omsd_cpu) = {
        let (http, base) = (http.clone(), base.clone());
        let label = label.to_string();
        throughput(move |c, n| {
            let (http, base, key) = (
                http.clone(),
                base.clone(),
                format!("bench-{label}-par-{c}-{n}"),
            );
            async move { omsd_order(&http, &base, &key).await }
        })
        .await
    };
    app.stop().await;
    let (bare_rate, bare_cpu) = {
        let label = label.to_string();
        throughput(move |c, n| {
            let (venue, coid) = (venue.clone(), format!("bench-{label}-bare-{c}-{n}"));
            async move { bare_order(&venue, &coid).await }
        })
        .await
    };
    let overhead = omsd50.saturating_sub(bare50);
    let target = fsync50 + Duration::from_micros(150);
    println!(
        "\norder_path [{label}] store {}",
        if store_url.starts_with("sqlite:") {
            "sqlite"
        } else {
            "postgres"
        }
    );
    println!("{:<44} {:>12} {:>12}", "measure", "p50 µs", "p99 µs");
    println!(
        "{:<44} {:>12.0} {:>12.0}",
        "fsync'd small write (store dir)",
        us(fsync50),
        us(fsync99)
    );
    println!(
        "{:<44} {:>12.0} {:>12.0}",
        "bare signed REST order to simulator",
        us(bare50),
        us(bare99)
    );
    println!(
        "{:<44} {:>12.0} {:>12.0}",
        "one-order intent commit, store alone",
        us(commit50),
        us(commit99)
    );
    println!(
        "{:<44} {:>12.0} {:>12.0}",
        "order through omsd control port",
        us(omsd50),
        us(omsd99)
    );
    println!(
        "{:<44} {:>12.0}   target {:.0} µs (fsync + 150 µs): {:.2}x target",
        "omsd − bare at p50",
        us(overhead),
        us(target),
        us(overhead) / us(target)
    );
    println!(
        "{:<44} {:>12.0} orders/s {:>8.0} µs CPU/order",
        format!("{CONCURRENT} clients through omsd"),
        omsd_rate,
        us(omsd_cpu)
    );
    println!(
        "{:<44} {:>12.0} orders/s {:>8.0} µs CPU/order",
        format!("{CONCURRENT} clients straight to simulator"),
        bare_rate,
        us(bare_cpu)
    );
    println!(
        "{:<44} {:>12.2}   target >= 0.50: {}",
        "ratio omsd / bare",
        omsd_rate / bare_rate,
        if omsd_rate / bare_rate >= 0.5 {
            "met"
        } else {
            "NOT met"
        }
    );
}

fn main() {
    let sim_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("sim")
        .enable_all()
        .build()
        .expect("simulator runtime");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let dir = common::tempdir::TempDir::new("omsd-bench");
    {
        let sim = sim_runtime
            .block_on(exchange_sim::start(sim_config()))
            .expect("simulator starts");
        let store = format!("sqlite:{}", dir.path().join("omsd.db").display());
        let probe = format!("sqlite:{}", dir.path().join("probe.db").display());
        runtime.block_on(bench_backend("sqlite", &sim, &store, &probe, dir.path()));
        sim_runtime.block_on(sim.shutdown());
    }
    match std::env::var("OMSD_BENCH_DATABASE_URL") {
        Ok(server) if !server.is_empty() => {
            let sim = sim_runtime
                .block_on(exchange_sim::start(sim_config()))
                .expect("simulator starts");
            let fsync_dir = std::env::var_os("OMSD_BENCH_FSYNC_DIR")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| dir.path().to_path_buf());
            runtime.block_on(async {
                let store = common::fresh_postgres_database(&server).await;
                let probe = common::fresh_postgres_database(&server).await;
                bench_backend("postgres", &sim, &store, &probe, &fsync_dir).await;
            });
            sim_runtime.block_on(sim.shutdown());
        }
        _ => println!(
            "\norder_path [postgres] skipped: OMSD_BENCH_DATABASE_URL is not set (scripts/bench.sh sets it)"
        ),
    }
    println!("\norder_path finished in {:.1?}", started.elapsed());
}
