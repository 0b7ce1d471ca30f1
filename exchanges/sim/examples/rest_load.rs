//! REST load driver over loopback: starts a simulator in-process (market agents on, rate
//! limits raised out of the way), then `CLIENTS` concurrent clients each place a resting LIMIT
//! order and cancel it, signed like real clients, until `ORDERS` placements or `MAX_TIME`.
//! Prints orders/s and placement latency percentiles, and the same for `GET /api/v3/ping`
//! measured in the same run as the baseline (the HTTP stack without the engine).
//!
//! Run: `cargo run --release -p exchange-sim --example rest_load`

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use exchange_sim::{SimConfig, SimHandle};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const CLIENTS: usize = 8;
const ORDERS: usize = 20_000;
const MAX_TIME: Duration = Duration::from_secs(20);

struct Run {
    per_sec: f64,
    latencies: Vec<Duration>,
}

impl Run {
    fn print(&mut self, what: &str) {
        self.latencies.sort_unstable();
        let n = self.latencies.len();
        let pct = |p: usize| self.latencies.get(n * p / 100).copied().unwrap_or_default();
        println!(
            "  {what:<28} {:>9.0}/s  p50 {:?}  p90 {:?}  p99 {:?}  ({n} requests)",
            self.per_sec,
            pct(50),
            pct(90),
            pct(99)
        );
    }
}

fn sign(secret: &str, payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(payload.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

/// One client's loop: `work` returns the latency of its timed request, `None` to stop.
async fn drive(sim: &SimHandle, total: usize, orders: bool) -> Run {
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let (http, base) = (http.clone(), sim.rest_url());
        let (key, secret) = (sim.api_key().to_owned(), sim.api_secret().to_owned());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for i in 0..total / CLIENTS {
                if started.elapsed() > MAX_TIME {
                    break;
                }
                let t = Instant::now();
                if !orders {
                    let ok = http.get(format!("{base}/api/v3/ping")).send().await.is_ok_and(|r| r.status().is_success());
                    assert!(ok, "ping failed");
                    latencies.push(t.elapsed());
                    continue;
                }
                let id = format!("load-{client}-{i}");
                let query = format!(
                    "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=20000&newClientOrderId={id}&newOrderRespType=ACK&timestamp={}",
                    now_ms()
                );
                let url = format!("{base}/api/v3/order?{query}&signature={}", sign(&secret, &query));
                let placed = http.post(url).header("X-MBX-APIKEY", &key).send().await;
                latencies.push(t.elapsed());
                assert!(placed.is_ok_and(|r| r.status().is_success()), "placement failed");
                let query = format!("symbol=BTCUSDT&origClientOrderId={id}&timestamp={}", now_ms());
                let url = format!("{base}/api/v3/order?{query}&signature={}", sign(&secret, &query));
                let canceled = http.delete(url).header("X-MBX-APIKEY", &key).send().await;
                assert!(canceled.is_ok_and(|r| r.status().is_success()), "cancel failed");
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client task"));
    }
    let per_sec = latencies.len() as f64 / started.elapsed().as_secs_f64();
    Run { per_sec, latencies }
}

#[tokio::main]
async fn main() -> Result<(), exchange_sim::SimError> {
    let mut config = SimConfig::demo();
    config.listen = "127.0.0.1:0".parse().expect("loopback address");
    config.limits.request_weight_per_minute = u64::MAX / 2;
    config.limits.raw_requests_per_5m = u64::MAX / 2;
    config.limits.orders_per_10s = u64::MAX / 2;
    config.limits.orders_per_day = u64::MAX / 2;
    let sim = exchange_sim::start(config).await?;
    println!(
        "REST over loopback, {CLIENTS} concurrent clients, at most {ORDERS} each kind, {MAX_TIME:?} cap"
    );
    let mut ping = drive(&sim, ORDERS, false).await;
    let mut orders = drive(&sim, ORDERS, true).await;
    ping.print("GET ping (baseline)");
    orders.print("POST order (+ DELETE each)");
    println!(
        "  orders / ping throughput:    {:.3}",
        orders.per_sec / ping.per_sec
    );
    sim.shutdown().await;
    Ok(())
}
