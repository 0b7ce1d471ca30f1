//! End-to-end resilience: omsd against omsd-sim over real sockets while the venue's links go
//! silent, its REST API fails or hangs, it throttles or bans us, or its clock jumps. Each test
//! has orders resting and in flight and ends with the daemon's state equal to the venue's.

mod common;

use std::time::{Duration, Instant};

use common::{Backend, Stack, crossing_buy, poll};
use omsd::config::Config;
use rust_decimal::Decimal;
use serde_json::{Value, json};

fn price_above(best_ask: Decimal) -> Decimal {
    (best_ask * Decimal::new(101, 2)).round_dp(2)
}

fn price_below(best_ask: Decimal) -> Decimal {
    (best_ask * Decimal::new(90, 2)).round_dp(2)
}

/// Short deadlines so that faults are detected within a test's patience.
fn fast_tuning(config: &mut Config) {
    let venue = &mut config.venues[0];
    venue.recv_window_ms = 1_000;
    venue.tuning.request_timeout_ms = Some(1_000);
    venue.tuning.ping_interval_ms = Some(500);
    venue.tuning.pong_timeout_ms = Some(500);
    venue.tuning.market_data_timeout_ms = Some(1_000);
    venue.tuning.breaker_failures = Some(3);
    venue.tuning.breaker_open_delay_ms = Some(1_000);
    config.oms.request_timeout_ms = 4_000;
    config.oms.poll_interval_ms = 200;
}

async fn start(sim_config: exchange_sim::SimConfig) -> Option<Stack> {
    Stack::start_with(Backend::Sqlite, sim_config, fast_tuning).await
}

/// The adapter's health of the `binance` venue, from `/v1/venues`.
async fn health(stack: &Stack) -> Value {
    let (_, venues) = stack.get_json("/v1/venues").await;
    venues[0]["health"].clone()
}

fn reconnects(health: &Value, stream: &str, reason: &str) -> u64 {
    health["streams"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["kind"] == stream))
        .and_then(|s| s["reconnects_total"][reason].as_u64())
        .unwrap_or(0)
}

/// Waits until no order is left in a non-final local state, then checks the venue's truth.
async fn settle_and_compare(stack: &Stack) {
    let settled = poll(Duration::from_secs(20), || async {
        let (_, orders) = stack.get_json("/v1/orders?limit=1000").await;
        let pending = orders.as_array()?.iter().any(|o| {
            ["pending_new", "unknown", "pending_cancel"]
                .contains(&o["status"].as_str().unwrap_or(""))
        });
        (!pending).then_some(())
    })
    .await;
    assert!(settled.is_some(), "orders settle once the venue recovers");
    stack.assert_orders_match_venue().await;
}

/// 2. A silent market stream (socket open, pongs answered) and a user stream whose pongs stop
/// are both detected within their deadlines and reconnected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_streams_and_missing_pongs_are_detected() {
    let Some(stack) = start(exchange_sim::SimConfig::demo()).await else {
        return;
    };
    let best_ask = stack.best_ask().await;
    stack
        .post_order(Some("silent-rest"), &crossing_buy(price_below(best_ask)))
        .await;

    let before = health(&stack).await;
    let silence =
        stack.inject(json!({"fault": "silence_streams", "params": {"target": "streams"}}));
    let started = Instant::now();
    let stale = poll(Duration::from_secs(5), || async {
        let h = health(&stack).await;
        (reconnects(&h, "market", "stale") > reconnects(&before, "market", "stale")).then_some(())
    })
    .await;
    let detected_in = started.elapsed();
    assert!(stale.is_some(), "silent market stream detected");
    // Deadline 1 s of silence, plus the 100 ms depth interval and polling slack.
    assert!(
        detected_in < Duration::from_millis(2_500),
        "detected after {detected_in:?}"
    );
    stack.sim.faults().clear(silence);

    let before = health(&stack).await;
    let deaf = stack.inject(json!({"fault": "ignore_pongs", "params": {"target": "ws_api"}}));
    let started = Instant::now();
    let timed_out = poll(Duration::from_secs(5), || async {
        let h = health(&stack).await;
        (reconnects(&h, "user", "ping_timeout") > reconnects(&before, "user", "ping_timeout"))
            .then_some(())
    })
    .await;
    let detected_in = started.elapsed();
    assert!(
        timed_out.is_some(),
        "missing pongs on the user stream detected"
    );
    assert!(
        detected_in < Duration::from_millis(2_000),
        "detected after {detected_in:?}"
    );
    stack.sim.faults().clear(deaf);

    // An order while the user stream recovers; everything ends equal to the venue.
    stack
        .post_order(Some("silent-fill"), &crossing_buy(price_above(best_ask)))
        .await;
    let up = poll(Duration::from_secs(10), || async {
        let (_, venues) = stack.get_json("/v1/venues").await;
        let book_ok = venues[0]["books"]
            .as_array()?
            .iter()
            .all(|b| b["in_sync"] == json!(true));
        (venues[0]["user_stream_connected"] == json!(true) && book_ok).then_some(())
    })
    .await;
    assert!(up.is_some(), "streams reconnected and books in sync");
    settle_and_compare(&stack).await;
    stack.stop().await;
}

/// 5. REST 5xx and hangs open the order breaker; new orders then get a fast 503 that never
/// reaches the venue; the breaker closes once the venue recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_rest_opens_the_breaker_and_recovery_closes_it() {
    let Some(stack) = start(exchange_sim::SimConfig::demo()).await else {
        return;
    };
    let best_ask = stack.best_ask().await;
    let (_, resting) = stack
        .post_order(Some("cb-rest"), &crossing_buy(price_below(best_ask)))
        .await;
    assert_eq!(resting["status"], json!("new"), "{resting}");

    let errors = stack.inject(json!({"fault": "rest_errors",
        "params": {"status": 503, "paths": ["/api/v3/order"], "methods": ["POST"]}}));
    let hang = stack.inject(json!({"fault": "rest_hang",
        "params": {"duration_ms": 3000, "paths": ["/api/v3/order"], "methods": ["POST"], "rate": 0.5}}));
    for i in 0..3 {
        let (status, order) = stack
            .post_order(
                Some(&format!("cb-fail-{i}")),
                &crossing_buy(price_above(best_ask)),
            )
            .await;
        assert_eq!(status, 201, "{order}");
        assert_eq!(
            order["status"],
            json!("unknown"),
            "a 5xx or a timeout is an unknown outcome: {order}"
        );
    }
    let received = stack.sim_orders_received();
    let started = Instant::now();
    let (status, refused) = stack
        .post_order(Some("cb-refused"), &crossing_buy(price_above(best_ask)))
        .await;
    assert_eq!(status, 503, "{refused}");
    assert_eq!(
        refused["error"]["code"],
        json!("venue_unavailable"),
        "{refused}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "fails fast: {:?}",
        started.elapsed()
    );
    assert_eq!(
        stack.sim_orders_received(),
        received,
        "nothing reaches the venue"
    );
    let (_, state) = stack.get_json("/v1/venues").await;
    let orders_breaker = state[0]["health"]["breakers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["class"] == "orders")
        .cloned();
    assert_eq!(
        orders_breaker.map(|b| b["state"].clone()),
        Some(json!("open")),
        "{state}"
    );

    stack.sim.faults().clear(errors);
    stack.sim.faults().clear(hang);
    let recovered = poll(Duration::from_secs(10), || async {
        let (status, order) = stack
            .post_order(Some("cb-after"), &crossing_buy(price_above(best_ask)))
            .await;
        (status == 201 && order["status"] == json!("filled")).then_some(order)
    })
    .await;
    assert!(
        recovered.is_some(),
        "orders go through again after the half-open probe"
    );
    let (_, canceled) = stack
        .delete_json(&format!("/v1/orders/{}", resting["id"]))
        .await;
    assert_eq!(canceled["status"], json!("canceled"), "{canceled}");
    settle_and_compare(&stack).await;
    stack.stop().await;
}

/// 6. A flood of orders never draws a 429 from the venue: local limits are stricter, and
/// orders beyond them are refused locally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_never_exceeds_the_venue_limits() {
    let mut sim_config = exchange_sim::SimConfig::demo();
    sim_config.limits.orders_per_10s = 10;
    sim_config.limits.request_weight_per_minute = 600;
    let Some(stack) = start(sim_config).await else {
        return;
    };
    let best_ask = stack.best_ask().await;
    let stack_ref = &stack;
    let flood: Vec<_> = (0..30)
        .map(|i| {
            let body = crossing_buy(price_below(best_ask) - Decimal::from(i));
            let key = format!("flood-{i}");
            async move { stack_ref.post_order(Some(&key), &body).await }
        })
        .collect();
    let answers = futures_util::future::join_all(flood).await;
    let placed = answers
        .iter()
        .filter(|(_, o)| o["status"] == json!("new"))
        .count();
    assert!(placed >= 5, "some orders go through: {placed}");
    assert!(
        placed <= 10,
        "never more than the venue's order limit: {placed}"
    );
    let stats = stack.sim.stats();
    assert_eq!(
        (stats.rate_limited_total, stats.banned_total),
        (0, 0),
        "the venue never had to throttle us"
    );
    settle_and_compare(&stack).await;
    stack.stop().await;
}

/// 6b. Forced 429 and 418 are honoured: no request reaches the venue before `Retry-After`, new
/// orders meanwhile get a fast 503, and orders resume afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_429_and_418_are_honoured() {
    let Some(stack) = start(exchange_sim::SimConfig::demo()).await else {
        return;
    };
    let best_ask = stack.best_ask().await;
    for (fault, code) in [
        ("force_429", "venue_rate_limited"),
        ("force_418", "venue_banned"),
    ] {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let id = stack.inject(json!({"fault": fault, "params": {"retry_after_s": 2}}));
        let (_, hit) = stack
            .post_order(
                Some(&format!("{fault}-hit")),
                &crossing_buy(price_above(best_ask)),
            )
            .await;
        stack.sim.faults().clear(id);
        assert_ne!(hit["status"], json!("filled"), "{hit}");
        let before = stack.sim.stats();
        let (status, refused) = stack
            .post_order(
                Some(&format!("{fault}-refused")),
                &crossing_buy(price_above(best_ask)),
            )
            .await;
        assert_eq!(
            (status, &refused["error"]["code"]),
            (503, &json!(code)),
            "{refused}"
        );
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        let after = stack.sim.stats();
        assert_eq!(
            after.requests_total,
            before.requests_total,
            "{fault}: no request before Retry-After: {} -> {}",
            json!(before),
            json!(after)
        );
        let resumed = poll(Duration::from_secs(5), || async {
            let (status, order) = stack
                .post_order(
                    Some(&format!("{fault}-after")),
                    &crossing_buy(price_above(best_ask)),
                )
                .await;
            (status == 201).then_some(order)
        })
        .await;
        assert!(resumed.is_some(), "{fault}: orders resume after the ban");
    }
    settle_and_compare(&stack).await;
    stack.stop().await;
}

/// 7. The venue clock jumps beyond the receive window: the -1021 is detected, the clock
/// re-measured, and the next orders succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_skew_is_detected_and_corrected() {
    let Some(stack) = start(exchange_sim::SimConfig::demo()).await else {
        return;
    };
    let best_ask = stack.best_ask().await;
    stack
        .post_order(Some("skew-rest"), &crossing_buy(price_below(best_ask)))
        .await;
    stack.inject(json!({"fault": "clock_skew", "params": {"offset_ms": 30000}}));
    let (_, first) = stack
        .post_order(Some("skew-1"), &crossing_buy(price_above(best_ask)))
        .await;
    assert_eq!(
        first["status"],
        json!("rejected"),
        "timestamp outside recvWindow: {first}"
    );
    assert!(
        first["reject_reason"]
            .as_str()
            .unwrap_or("")
            .contains("1021"),
        "{first}"
    );
    let (_, second) = stack
        .post_order(Some("skew-2"), &crossing_buy(price_above(best_ask)))
        .await;
    assert_eq!(
        second["status"],
        json!("filled"),
        "the clock was re-measured: {second}"
    );
    let offset = health(&stack).await["clock"]["offset_ms"].as_i64().unwrap();
    assert!((29_000..31_000).contains(&offset), "offset {offset}");
    settle_and_compare(&stack).await;
    stack.stop().await;
}

/// While the user stream is down, open orders are polled over REST: a change made on the venue
/// (here a cancel by another client of the account) shows up within the polling interval,
/// before the stream is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_orders_are_polled_while_the_user_stream_is_down() {
    use exchange_core::Exchange;
    let Some(stack) = start(exchange_sim::SimConfig::demo()).await else {
        return;
    };
    let best_ask = stack.best_ask().await;
    let (_, order) = stack
        .post_order(Some("poll-rest"), &crossing_buy(price_below(best_ask)))
        .await;
    assert_eq!(order["status"], json!("new"), "{order}");
    let deaf = stack.inject(json!({"fault": "ignore_pongs", "params": {"target": "ws_api"}}));
    let down = poll(Duration::from_secs(5), || async {
        let (_, venues) = stack.get_json("/v1/venues").await;
        (venues[0]["user_stream_connected"] == json!(false)).then_some(())
    })
    .await;
    assert!(down.is_some(), "the user stream is declared down");

    let coid = order["client_order_id"].as_str().unwrap();
    stack
        .venue_client()
        .cancel_order("BTCUSDT", coid)
        .await
        .expect("canceled on the venue");
    let id = order["id"].as_i64().unwrap();
    let seen = poll(Duration::from_secs(3), || async {
        let (_, order) = stack.get_json(&format!("/v1/orders/{id}")).await;
        (order["status"] == json!("canceled")).then_some(())
    })
    .await;
    assert!(seen.is_some(), "the poller saw the cancel");
    let (_, venues) = stack.get_json("/v1/venues").await;
    assert_eq!(
        venues[0]["user_stream_connected"],
        json!(false),
        "learned by polling, not the stream"
    );
    stack.sim.faults().clear(deaf);
    settle_and_compare(&stack).await;
    stack.stop().await;
}
