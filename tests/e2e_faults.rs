//! End-to-end fault tests: omsd against omsd-sim over real sockets while the simulator
//! misbehaves, with orders resting and in flight; each ends with the daemon's orders, fills and
//! books equal to the simulator's truth.

mod common;

use std::time::Duration;

use common::{Backend, Stack, crossing_buy, poll};
use rust_decimal::Decimal;
use serde_json::{Value, json};

fn price_above(best_ask: Decimal) -> Decimal {
    (best_ask * Decimal::new(101, 2)).round_dp(2)
}

fn price_below(best_ask: Decimal) -> Decimal {
    (best_ask * Decimal::new(90, 2)).round_dp(2)
}

/// Waits until the daemon's BTCUSDT book has resynced more than `before` times and is in sync.
async fn wait_resynced(stack: &Stack, before: u64) -> Value {
    poll(Duration::from_secs(10), || async {
        let book = stack.book_status("BTCUSDT").await;
        let resyncs = book["resyncs"].as_u64().unwrap_or(0);
        (resyncs > before && book["in_sync"] == json!(true)).then_some(book)
    })
    .await
    .expect("book resynced and in sync within 10 s")
}

/// Asserts the daemon's BTCUSDT book equals the simulator's REST depth at the same update id.
async fn assert_book_matches_venue(stack: &Stack) {
    let http = &stack.http;
    let matched = poll(Duration::from_secs(10), || async {
        let (_, ours) = stack.get_json("/v1/books/binance/BTC-USDT?depth=20").await;
        let url = format!(
            "{}/api/v3/depth?symbol=BTCUSDT&limit=20",
            stack.sim.rest_url()
        );
        let theirs: Value = http.get(url).send().await.ok()?.json().await.ok()?;
        if ours["last_update_id"] != theirs["lastUpdateId"] || ours["in_sync"] != json!(true) {
            return None;
        }
        let levels = |v: &Value, key: &str, price: &str, qty: &str| -> Vec<(Decimal, Decimal)> {
            v[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| {
                    let p = if l.is_array() { &l[0] } else { &l[price] };
                    let q = if l.is_array() { &l[1] } else { &l[qty] };
                    (
                        p.as_str().unwrap().parse().unwrap(),
                        q.as_str().unwrap().parse().unwrap(),
                    )
                })
                .collect()
        };
        let same = levels(&ours, "bids", "price", "quantity") == levels(&theirs, "bids", "", "")
            && levels(&ours, "asks", "price", "quantity") == levels(&theirs, "asks", "", "");
        Some(same)
    })
    .await;
    assert_eq!(
        matched,
        Some(true),
        "the daemon's book must equal the venue's depth"
    );
}

/// 1. Dropped connections: while the user stream is silent and order answers are swallowed,
/// an order fills unseen; after the connections drop, the daemon reconnects, resubscribes,
/// resyncs its books and recovers the fills that happened during the gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_recover_fills_and_books() {
    let Some(stack) = Stack::start(Backend::Sqlite).await else {
        return;
    };
    let best_ask = stack.best_ask().await;
    let (_, resting) = stack
        .post_order(Some("drop-rest"), &crossing_buy(price_below(best_ask)))
        .await;
    assert_eq!(resting["status"], json!("new"), "{resting}");
    let resyncs_before = stack.book_status("BTCUSDT").await["resyncs"]
        .as_u64()
        .unwrap_or(0);

    let silence = stack.inject(json!({"fault": "silence_streams", "params": {"target": "ws_api"}}));
    let swallow = stack.inject(json!({"fault": "swallow_order_acks", "params": {}}));
    let (status, in_flight) = stack
        .post_order(Some("drop-fill"), &crossing_buy(price_above(best_ask)))
        .await;
    assert_eq!(status, 201, "{in_flight}");
    assert_ne!(
        in_flight["status"],
        json!("filled"),
        "nothing can have told the daemon yet"
    );
    stack.sim.faults().clear(swallow);
    stack.sim.faults().clear(silence);
    stack.inject(json!({"fault": "drop_connections", "params": {"target": "all"}}));

    let id = in_flight["id"].as_i64().unwrap();
    let filled = poll(Duration::from_secs(15), || async {
        let (_, order) = stack.get_json(&format!("/v1/orders/{id}")).await;
        (order["status"] == json!("filled") && !order["fills"].as_array()?.is_empty())
            .then_some(order)
    })
    .await;
    assert!(filled.is_some(), "the fill during the gap is recovered");
    wait_resynced(&stack, resyncs_before).await;
    let user_stream = poll(Duration::from_secs(10), || async {
        let (_, venues) = stack.get_json("/v1/venues").await;
        (venues[0]["user_stream_connected"] == json!(true)).then_some(())
    })
    .await;
    assert!(user_stream.is_some(), "user stream resubscribed");
    stack.assert_orders_match_venue().await;
    assert_book_matches_venue(&stack).await;
    stack.stop().await;
}

/// 3. A depth sequence gap: the book is marked out of sync, resynced from a fresh snapshot,
/// and equals the venue's depth afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depth_gap_resyncs_the_book() {
    let Some(stack) = Stack::start(Backend::Sqlite).await else {
        return;
    };
    stack.best_ask().await;
    let before = stack.book_status("BTCUSDT").await["resyncs"]
        .as_u64()
        .unwrap_or(0);
    stack.inject(json!({"fault": "depth_gap", "params": {"symbols": ["BTCUSDT"], "skip": 3}}));
    wait_resynced(&stack, before).await;
    assert_book_matches_venue(&stack).await;
    let eth = stack.book_status("ETHUSDT").await;
    assert_eq!(eth["resyncs"], json!(0), "other books are untouched: {eth}");
    stack.stop().await;
}

/// 4. Duplicated and reordered execution reports leave state and fills unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_and_reordered_reports_change_nothing() {
    let Some(stack) = Stack::start(Backend::Postgres).await else {
        return;
    };
    let best_ask = stack.best_ask().await;
    stack.inject(json!({"fault": "duplicate_user_events", "params": {"rate": 1.0}}));
    stack.inject(json!({"fault": "reorder_user_events", "params": {"window": 3}}));
    let (_, filled) = stack
        .post_order(Some("dup-fill"), &crossing_buy(price_above(best_ask)))
        .await;
    let (_, resting) = stack
        .post_order(Some("dup-rest"), &crossing_buy(price_below(best_ask)))
        .await;
    let resting_id = resting["id"].as_i64().unwrap();
    let (_, canceled) = stack.delete_json(&format!("/v1/orders/{resting_id}")).await;
    assert_eq!(canceled["status"], json!("canceled"), "{canceled}");
    // Let every duplicated report arrive, then compare with the venue.
    let id = filled["id"].as_i64().unwrap();
    poll(Duration::from_secs(5), || async {
        let (_, order) = stack.get_json(&format!("/v1/orders/{id}")).await;
        (order["status"] == json!("filled")).then_some(())
    })
    .await
    .expect("filled");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stack.assert_orders_match_venue().await;
    let (_, order) = stack.get_json(&format!("/v1/orders/{id}")).await;
    let qty: Decimal = order["fills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["quantity"].as_str().unwrap().parse::<Decimal>().unwrap())
        .sum();
    assert_eq!(qty, Decimal::new(1, 3), "each fill stored once: {order}");
    stack.stop().await;
}
