//! A seeded random order workload through the control port: concurrent clients sending resting
//! limit orders a little away from the book mid, crossing limit orders, IOC orders and cancels
//! of resting ones, each order with its own `Idempotency-Key`. Every submission is recorded
//! (key, body, answer) so that a test can replay keys later.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Value, json};

/// A small seeded generator (SplitMix64): reproducible from the seed alone.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (`hi` exclusive, `hi > lo`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.range(0, 100) < percent
    }
}

/// One `POST /v1/orders` as sent and as answered.
#[derive(Debug, Clone)]
pub struct Submission {
    pub key: String,
    pub body: Value,
    /// HTTP status, `None` when no answer came (connection cut by the crash).
    pub status: Option<u16>,
    /// The order id of a 200/201 answer.
    pub id: Option<i64>,
    pub iteration: usize,
}

/// What all clients share: the submission log and the pool of resting orders to cancel.
#[derive(Debug, Default)]
pub struct Ledger {
    pub submissions: Mutex<Vec<Submission>>,
    pub resting: Mutex<Vec<i64>>,
    /// Answers by kind (`201`, `409`, `error`, `cancel 200`, ...), for the summary line.
    pub counts: Mutex<BTreeMap<String, u64>>,
}

impl Ledger {
    fn count(&self, what: String) {
        *self
            .counts
            .lock()
            .expect("counts lock")
            .entry(what)
            .or_default() += 1;
    }

    /// `201:40 200:1 error:2 ...` since the last call, then resets the counts.
    pub fn take_counts(&self) -> String {
        let counts = std::mem::take(&mut *self.counts.lock().expect("counts lock"));
        counts
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The book mid of `symbol` from the daemon, `None` while its book is out of sync.
pub async fn mid(http: &reqwest::Client, base: &str, symbol: &str) -> Option<Decimal> {
    let book: Value = http
        .get(format!("{base}/v1/books/binance/{symbol}?depth=1"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let price = |side: &str| -> Option<Decimal> { book[side][0]["price"].as_str()?.parse().ok() };
    Some(((price("bids")? + price("asks")?) / Decimal::TWO).round_dp(2))
}

/// A limit order body.
pub fn limit_body(symbol: &str, side: &str, qty: Decimal, price: Decimal, tif: &str) -> Value {
    json!({
        "venue": "binance",
        "symbol": symbol,
        "side": side,
        "type": "limit",
        "quantity": qty.to_string(),
        "price": price.round_dp(2).to_string(),
        "time_in_force": tif,
    })
}

/// Posts an order; `(status, body)` or `None` when no answer came.
pub async fn post_order(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    body: &Value,
) -> Option<(u16, Value)> {
    let resp = http
        .post(format!("{base}/v1/orders"))
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .ok()?;
    let status = resp.status().as_u16();
    Some((status, resp.json().await.unwrap_or(Value::Null)))
}

/// One client: random actions with short pauses until `stop` is set.
pub async fn client(
    http: reqwest::Client,
    base: String,
    mut rng: Rng,
    tag: String,
    iteration: usize,
    ledger: Arc<Ledger>,
    stop: Arc<AtomicBool>,
) {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(rng.range(5, 30))).await;
        let roll = rng.range(0, 100);
        if roll < 25 {
            let victim = {
                let mut pool = ledger.resting.lock().expect("pool lock");
                (!pool.is_empty()).then(|| {
                    let i = rng.range(0, pool.len() as u64) as usize;
                    pool.swap_remove(i)
                })
            };
            if let Some(id) = victim {
                let answer = http
                    .delete(format!("{base}/v1/orders/{id}"))
                    .send()
                    .await
                    .map(|r| r.status().as_u16().to_string())
                    .unwrap_or_else(|_| "error".into());
                ledger.count(format!("cancel:{answer}"));
                continue;
            }
        }
        let (symbol, unit) = if rng.chance(25) {
            ("ETH-USDT", Decimal::new(1, 2))
        } else {
            ("BTC-USDT", Decimal::new(1, 3))
        };
        let Some(mid) = mid(&http, &base, symbol).await else {
            continue;
        };
        let buy = rng.chance(50);
        let side = if buy { "buy" } else { "sell" };
        let qty = unit * Decimal::from(rng.range(1, 5));
        // Offsets in basis points: resting 10..100 away, crossing 50 through, IOC either way.
        let (bps, tif, resting) = match roll {
            0..=54 => (-(rng.range(10, 100) as i64), "gtc", true),
            55..=74 => (50, "gtc", false),
            _ => (rng.range(0, 80) as i64 - 30, "ioc", false),
        };
        let signed = if buy { bps } else { -bps };
        let price = mid * (Decimal::ONE + Decimal::new(signed, 4));
        let body = limit_body(symbol, side, qty, price, tif);
        let key = format!("{tag}-{n}");
        n += 1;
        let answer = post_order(&http, &base, &key, &body).await;
        let (status, id) = match &answer {
            Some((status, order)) => (Some(*status), order["id"].as_i64()),
            None => (None, None),
        };
        ledger.count(status.map_or_else(|| "error".into(), |s| s.to_string()));
        if let (true, Some(id), Some((_, order))) = (resting, id, &answer)
            && matches!(order["status"].as_str(), Some("new" | "partially_filled"))
        {
            ledger.resting.lock().expect("pool lock").push(id);
        }
        ledger
            .submissions
            .lock()
            .expect("log lock")
            .push(Submission {
                key,
                body,
                status,
                id,
                iteration,
            });
    }
}
