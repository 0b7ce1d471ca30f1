//! The REST executor against a scripted mock venue on loopback: 429 pauses, 418 halts, the
//! order-class breaker, lane priority, usage-header correction, `-1021` clock resyncs and
//! periodic clock re-measurement. Each test scripts every answer and checks what reached the
//! server, and when.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{HttpReply, HttpRequest, http_mock, now_ms};
use exchange_binance::{ApiSecret, BinanceConfig, BinanceExchange};
use exchange_core::{
    BreakerState, Exchange, ExchangeError, NewOrder, OrderType, Side, TimeInForce,
};
use rust_decimal_macros::dec;
use serde_json::json;

type Seen = HttpRequest;

struct Mock {
    url: String,
    log: Arc<Mutex<Vec<Seen>>>,
}

impl Mock {
    fn seen(&self) -> Vec<Seen> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn count(&self, path: &str) -> usize {
        self.seen().iter().filter(|s| s.path == path).count()
    }
}

const ORDER: &str = "/api/v3/order";
const DEPTH: &str = "/api/v3/depth";
const TIME: &str = "/api/v3/time";

/// Logs every request and answers with `handler`, given the request and how many earlier
/// requests had the same path; `/api/v3/time` is always answered.
async fn mock(handler: impl Fn(&Seen, usize) -> HttpReply + Send + Sync + 'static) -> Mock {
    let log = Arc::new(Mutex::new(Vec::<Seen>::new()));
    let server_log = log.clone();
    let url = http_mock(move |seen| {
        let n = {
            let mut log = server_log.lock().unwrap_or_else(|e| e.into_inner());
            log.push(seen.clone());
            log.iter().filter(|s| s.path == seen.path).count() - 1
        };
        if seen.path == TIME {
            ok(json!({ "serverTime": now_ms() }).to_string())
        } else {
            handler(seen, n)
        }
    })
    .await;
    Mock { url, log }
}

fn ok(body: String) -> HttpReply {
    HttpReply::ok(body)
}

fn depth_body() -> String {
    include_str!("../test_data/http_get_depth.json").to_owned()
}

fn order_body() -> String {
    include_str!("../test_data/http_post_order_full.json").to_owned()
}

fn error(status: u16, code: i64, retry_after: Option<u64>) -> HttpReply {
    let headers = retry_after
        .map(|s| vec![("Retry-After", s.to_string())])
        .unwrap_or_default();
    let body = json!({ "code": code, "msg": "scripted" }).to_string();
    HttpReply(status, headers, body)
}

fn config(url: &str) -> BinanceConfig {
    let mut config = BinanceConfig::new(
        "mock",
        url,
        "ws://127.0.0.1:9",
        "ws://127.0.0.1:9/ws-api/v3",
        "key",
        ApiSecret::new("secret"),
    );
    config.limiter.order_max_wait = Duration::from_millis(300);
    config.limiter.data_max_wait = Duration::from_secs(5);
    config.retry.min_delay = Duration::from_millis(10);
    config.retry.max_delay = Duration::from_millis(40);
    config
}

async fn adapter(config: BinanceConfig) -> BinanceExchange {
    let exchange = match BinanceExchange::new(config) {
        Ok(ex) => ex,
        Err(e) => panic!("adapter: {e}"),
    };
    if let Err(e) = exchange.sync_clock().await {
        panic!("clock: {e}");
    }
    exchange
}

fn order(id: &str) -> NewOrder {
    NewOrder {
        client_order_id: id.to_owned(),
        venue_symbol: "BTCUSDT".into(),
        side: Side::Buy,
        order_type: OrderType::Limit,
        time_in_force: TimeInForce::Gtc,
        quantity: dec!(0.001),
        price: Some(dec!(100)),
    }
}

fn is_unavailable<T: std::fmt::Debug>(result: &Result<T, ExchangeError>) -> bool {
    matches!(result, Err(ExchangeError::Unavailable { .. }))
}

#[tokio::test]
async fn throttled_429_pauses_every_request_until_retry_after() {
    let venue = mock(|seen, n| match (seen.path.as_str(), n) {
        (DEPTH, 0) => error(429, -1003, Some(1)),
        (DEPTH, _) => ok(depth_body()),
        _ => ok(order_body()),
    })
    .await;
    let exchange = adapter(config(&venue.url)).await;
    let first = exchange.depth_snapshot("BTCUSDT", 100).await;
    assert!(
        matches!(first, Err(ExchangeError::RateLimited { banned: false, .. })),
        "{first:?}"
    );
    // The order lane fails fast while paused; nothing is sent.
    let placed = exchange.place_order(&order("o-1")).await;
    assert!(is_unavailable(&placed), "{placed:?}");
    assert_eq!(venue.count(ORDER), 0);
    // The data lane waits out the pause.
    let second = exchange.depth_snapshot("BTCUSDT", 100).await;
    assert!(second.is_ok(), "{second:?}");
    let depth: Vec<Seen> = venue
        .seen()
        .into_iter()
        .filter(|s| s.path == DEPTH)
        .collect();
    assert_eq!(depth.len(), 2);
    let gap = depth[1].at.duration_since(depth[0].at);
    assert!(
        gap >= Duration::from_millis(990),
        "second request after {gap:?}"
    );
    assert_eq!(exchange.health().limiter.throttled_429_total, 1);
}

#[tokio::test]
async fn banned_418_halts_the_venue_until_the_ban_ends() {
    let venue = mock(|_, _| error(418, -1003, Some(30))).await;
    let mut config = config(&venue.url);
    config.limiter.data_max_wait = Duration::from_millis(300);
    let exchange = adapter(config).await;
    let first = exchange.depth_snapshot("BTCUSDT", 100).await;
    assert!(
        matches!(first, Err(ExchangeError::RateLimited { banned: true, .. })),
        "{first:?}"
    );
    let seen_before = venue.seen().len();
    let placed = exchange.place_order(&order("o-1")).await;
    let depth = exchange.depth_snapshot("BTCUSDT", 100).await;
    for result in [placed.map(|_| ()), depth.map(|_| ())] {
        match result {
            Err(ExchangeError::Unavailable {
                retry_after: Some(wait),
                ..
            }) => assert!(wait > Duration::from_secs(25), "{wait:?}"),
            other => panic!("expected a local refusal, got {other:?}"),
        }
    }
    assert_eq!(venue.seen().len(), seen_before, "nothing sent while banned");
    let limiter = exchange.health().limiter;
    assert_eq!(limiter.banned_418_total, 1);
    assert!(
        limiter
            .banned_until_ms
            .is_some_and(|t| t > now_ms() + 25_000)
    );
}

#[tokio::test]
async fn order_breaker_opens_on_5xx_fails_fast_and_closes_after_recovery() {
    let healthy = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = healthy.clone();
    let venue = mock(move |seen, _| match seen.path.as_str() {
        ORDER if !flag.load(std::sync::atomic::Ordering::Relaxed) => {
            HttpReply(503, Vec::new(), "<html>unavailable</html>".into())
        }
        DEPTH => ok(depth_body()),
        _ => ok(order_body()),
    })
    .await;
    let mut config = config(&venue.url);
    config.breaker.consecutive_failures = 3;
    config.breaker.open_delay = Duration::from_millis(300);
    let exchange = adapter(config).await;
    for i in 0..3 {
        let placed = exchange.place_order(&order(&format!("o-{i}"))).await;
        assert!(
            matches!(placed, Err(ExchangeError::Unknown { .. })),
            "{placed:?}"
        );
    }
    assert_eq!(venue.count(ORDER), 3, "a placement is never retried");
    let seen = venue.seen();
    assert!(
        seen.iter()
            .filter(|s| s.path == ORDER)
            .all(|s| s.method == "POST")
    );
    let refused = exchange.place_order(&order("o-3")).await;
    assert!(is_unavailable(&refused), "{refused:?}");
    assert_eq!(venue.count(ORDER), 3, "the open breaker sent nothing");
    let health = exchange.health();
    let state = |class: &str| {
        health
            .breakers
            .iter()
            .find(|b| b.class == class)
            .map(|b| b.state)
    };
    assert_eq!(state("orders"), Some(BreakerState::Open));
    assert_eq!(state("market_data"), Some(BreakerState::Closed));
    // Other classes are untouched.
    assert!(exchange.depth_snapshot("BTCUSDT", 100).await.is_ok());

    healthy.store(true, std::sync::atomic::Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let probe = exchange.place_order(&order("o-4")).await;
    assert!(probe.is_ok(), "{probe:?}");
    let orders = exchange
        .health()
        .breakers
        .into_iter()
        .find(|b| b.class == "orders");
    assert_eq!(
        orders.map(|b| (b.state, b.transitions_total)),
        Some((BreakerState::Closed, 3))
    );
}

#[tokio::test]
async fn order_lane_goes_before_data_lane_under_contention() {
    // Weight used before the contention: time 1 + exchangeInfo 20 + the throttled depth 5.
    // The venue allows exactly two more depth(5000) snapshots (250 each) in this window.
    const LIMIT: u32 = 26 + 2 * 250;
    let venue = mock(|seen, n| match (seen.path.as_str(), n) {
        ("/api/v3/exchangeInfo", _) => ok(json!({ "rateLimits": [
            {"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":LIMIT}
        ], "symbols": [] })
        .to_string()),
        (DEPTH, 0) => error(429, -1003, Some(1)),
        (DEPTH, _) => ok(depth_body()),
        _ => ok(order_body()),
    })
    .await;
    let mut config = config(&venue.url);
    config.limiter.safety_margin = 1.0;
    config.limiter.data_reserve = 0.0;
    config.limiter.order_max_wait = Duration::from_secs(3);
    config.limiter.data_max_wait = Duration::from_secs(3);
    let exchange = Arc::new(adapter(config).await);
    assert!(exchange.instruments().await.is_ok());
    let _ = exchange.depth_snapshot("BTCUSDT", 100).await; // 429: every lane paused for 1 s
    let mut data = Vec::new();
    for _ in 0..4 {
        let ex = exchange.clone();
        data.push(tokio::spawn(async move {
            ex.depth_snapshot("BTCUSDT", 5000).await.is_ok()
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await; // the data callers wait first
    let ex = exchange.clone();
    let placed = tokio::spawn(async move { ex.place_order(&order("o-1")).await.map(|_| ()) });
    let placed = placed.await;
    assert!(
        matches!(placed, Ok(Ok(()))),
        "the order must not be starved: {placed:?}"
    );
    let mut granted = 0;
    for task in data {
        granted += usize::from(matches!(task.await, Ok(true)));
    }
    // The order took its unit first, so only one snapshot still fits in the window.
    assert_eq!(granted, 1);
    assert_eq!(venue.count(ORDER), 1);
}

#[tokio::test]
async fn usage_header_above_our_count_slows_down() {
    let venue = mock(|_, _| {
        let info = json!({ "rateLimits": [
            {"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":100}
        ], "symbols": [] });
        // Someone else on our IP used 79 of the minute's 100.
        HttpReply(
            200,
            vec![("X-MBX-USED-WEIGHT-1M", "79".into())],
            info.to_string(),
        )
    })
    .await;
    let mut config = config(&venue.url);
    config.limiter.data_max_wait = Duration::from_millis(1);
    let exchange = adapter(config).await;
    assert!(exchange.instruments().await.is_ok());
    let scope = exchange
        .health()
        .limiter
        .scopes
        .into_iter()
        .find(|s| s.scope == "request_weight_1m");
    assert_eq!(
        scope.map(|s| (s.effective_limit, s.used, s.venue_reported_used)),
        Some((80, 79, Some(79)))
    );
    let sent = venue.seen().len();
    let refused = exchange.depth_snapshot("BTCUSDT", 100).await;
    assert!(is_unavailable(&refused), "{refused:?}");
    assert_eq!(venue.seen().len(), sent, "held back locally");
}

#[tokio::test]
async fn timestamp_rejection_resyncs_the_clock_and_retries_idempotent_calls_once() {
    let venue = mock(|seen, n| match (seen.path.as_str(), n) {
        ("/api/v3/account", 0) | (ORDER, 0) => error(400, -1021, None),
        ("/api/v3/account", _) => ok(include_str!("../test_data/http_get_account.json").into()),
        _ => ok(order_body()),
    })
    .await;
    let exchange = adapter(config(&venue.url)).await;
    // Each measurement takes several samples.
    let samples = exchange.config().clock_samples as usize;
    let balances = exchange.balances().await;
    assert!(balances.is_ok(), "{balances:?}");
    assert_eq!(
        (venue.count(TIME), venue.count("/api/v3/account")),
        (2 * samples, 2)
    );
    assert_eq!(exchange.health().clock.resyncs_total, 1);
    // A placement is resynced for next time but never repeated.
    let placed = exchange.place_order(&order("o-1")).await;
    assert!(
        matches!(
            placed,
            Err(ExchangeError::Auth {
                code: Some(-1021),
                ..
            })
        ),
        "{placed:?}"
    );
    assert_eq!((venue.count(TIME), venue.count(ORDER)), (3 * samples, 1));
}

#[tokio::test]
async fn the_clock_is_measured_again_once_its_measurement_is_old() {
    let venue = mock(|_, _| ok(include_str!("../test_data/http_get_account.json").into())).await;
    let mut config = config(&venue.url);
    config.clock_resync_interval = Duration::from_millis(300);
    let samples = config.clock_samples as usize;
    let exchange = adapter(config).await;
    assert_eq!(venue.count(TIME), samples);
    assert!(exchange.balances().await.is_ok());
    assert_eq!(venue.count(TIME), samples, "a fresh measurement is reused");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(exchange.balances().await.is_ok());
    assert_eq!(venue.count(TIME), 2 * samples, "an old one is taken again");
    let clock = exchange.health().clock;
    assert_eq!((clock.synced, clock.resyncs_total), (true, 1), "{clock:?}");
}
