//! End-to-end: omsd against omsd-sim over real sockets, on SQLite and on PostgreSQL.
//! A crossing limit order is filled with its fills within 2 s and stored; idempotency keys
//! never create a second order; malformed requests never reach the venue; cancels work;
//! a restart keeps everything.

mod common;

use std::time::{Duration, Instant};

use common::{Backend, Stack, crossing_buy, poll};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::Row;

fn crossing_price(best_ask: Decimal) -> Decimal {
    (best_ask * Decimal::new(101, 2)).round_dp(2)
}

/// Reads the order's status and its fill count straight from the database file or server.
async fn stored_rows(stack: &Stack, order_id: i64) -> (String, i64) {
    use sqlx::Connection;
    macro_rules! read {
        ($conn:ty, $p:literal) => {{
            let mut conn = <$conn>::connect(&stack.store_url)
                .await
                .expect("open the database");
            let status_sql = concat!("SELECT status FROM orders WHERE id = ", $p);
            let fills_sql = concat!("SELECT COUNT(*) FROM fills WHERE order_id = ", $p);
            let status: String = sqlx::query(status_sql)
                .bind(order_id)
                .fetch_one(&mut conn)
                .await
                .unwrap()
                .get(0);
            let fills: i64 = sqlx::query(fills_sql)
                .bind(order_id)
                .fetch_one(&mut conn)
                .await
                .unwrap()
                .get(0);
            (status, fills)
        }};
    }
    if stack.store_url.starts_with("sqlite:") {
        read!(sqlx::SqliteConnection, "?")
    } else {
        read!(sqlx::PgConnection, "$1")
    }
}

async fn crossing_order_is_filled_and_stored(backend: Backend) {
    let Some(stack) = Stack::start(backend).await else {
        return;
    };
    let (status, ready) = stack.get_json("/readyz").await;
    assert_eq!(
        (status, &ready["status"]),
        (200, &json!("ready")),
        "{ready}"
    );

    let price = crossing_price(stack.best_ask().await);
    let started = Instant::now();
    let (status, order) = stack
        .post_order(Some("e2e-fill-1"), &crossing_buy(price))
        .await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(
        order["status"],
        json!("filled"),
        "the venue's first answer fills it: {order}"
    );
    let id = order["id"].as_i64().expect("order id");
    let filled = poll(Duration::from_secs(2), || async {
        let (_, order) = stack.get_json(&format!("/v1/orders/{id}")).await;
        (order["status"] == json!("filled")
            && !order["fills"].as_array().is_some_and(Vec::is_empty))
        .then_some(order)
    })
    .await;
    let order = filled.unwrap_or_else(|| panic!("order {id} not filled with fills within 2 s"));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(order["filled_quantity"], json!("0.001"));
    assert_eq!(order["client_order_id"].as_str().map(str::len), Some(32));
    let fills = order["fills"].as_array().unwrap();
    let fill_qty: Decimal = fills
        .iter()
        .map(|f| f["quantity"].as_str().unwrap().parse::<Decimal>().unwrap())
        .sum();
    assert_eq!(fill_qty, Decimal::new(1, 3));
    for fill in fills {
        let px: Decimal = fill["price"].as_str().unwrap().parse().unwrap();
        assert!(px <= price, "buy filled above its limit: {px} > {price}");
    }

    // The venue's answer is served from memory; its rows are durable one group commit later.
    let stored = poll(Duration::from_secs(2), || async {
        let (db_status, db_fills) = stored_rows(&stack, id).await;
        (db_status == "filled" && db_fills == fills.len() as i64).then_some(())
    })
    .await;
    assert!(
        stored.is_some(),
        "order {id} and its fills not stored within 2 s"
    );
    assert_eq!(stack.sim_orders_received(), 1);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossing_order_is_filled_and_stored_sqlite() {
    crossing_order_is_filled_and_stored(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossing_order_is_filled_and_stored_postgres() {
    crossing_order_is_filled_and_stored(Backend::Postgres).await;
}

async fn idempotency_key_never_creates_a_second_order(backend: Backend) {
    let Some(stack) = Stack::start(backend).await else {
        return;
    };
    let body = crossing_buy(crossing_price(stack.best_ask().await));
    let (first_status, first) = stack.post_order(Some("idem-1"), &body).await;
    assert_eq!(first_status, 201, "{first}");
    let (second_status, second) = stack.post_order(Some("idem-1"), &body).await;
    assert_eq!(second_status, 200, "{second}");
    assert_eq!(first["id"], second["id"]);
    assert_eq!(first["client_order_id"], second["client_order_id"]);

    let mut other = body.clone();
    other["quantity"] = json!("0.002");
    let (conflict_status, conflict) = stack.post_order(Some("idem-1"), &other).await;
    assert_eq!(conflict_status, 409, "{conflict}");
    assert_eq!(conflict["error"]["code"], json!("idempotency_key_reused"));

    // Concurrent replays of one key still make one order.
    let replays: Vec<_> = (0..5)
        .map(|_| stack.post_order(Some("idem-2"), &body))
        .collect();
    let ids: Vec<Value> = futures_util::future::join_all(replays)
        .await
        .into_iter()
        .map(|(_, o)| o["id"].clone())
        .collect();
    assert!(ids.iter().all(|id| id == &ids[0] && id.is_i64()), "{ids:?}");

    assert_eq!(
        stack.sim_orders_received(),
        2,
        "the simulator must see exactly one order per key"
    );
    let (_, list) = stack
        .get_json("/v1/orders?venue=binance&symbol=BTC-USDT")
        .await;
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_never_creates_a_second_order_sqlite() {
    idempotency_key_never_creates_a_second_order(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_never_creates_a_second_order_postgres() {
    idempotency_key_never_creates_a_second_order(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_4xx_json_and_never_reach_the_venue() {
    let Some(stack) = Stack::start(Backend::Sqlite).await else {
        return;
    };
    let good = crossing_buy(Decimal::new(3000000, 2));
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };
    let cases: Vec<(&str, Option<&str>, String, u16, &str)> = vec![
        (
            "bad json",
            Some("k1"),
            "{\"venue\": ".into(),
            400,
            "invalid_request",
        ),
        (
            "not an object",
            Some("k2"),
            "[1,2]".into(),
            400,
            "invalid_request",
        ),
        (
            "unknown field",
            Some("k3"),
            with("leverage", json!("10")).to_string(),
            400,
            "invalid_request",
        ),
        (
            "unknown symbol",
            Some("k4"),
            with("symbol", json!("DOGE-EUR")).to_string(),
            400,
            "unknown_symbol",
        ),
        (
            "unknown venue",
            Some("k5"),
            with("venue", json!("nyse")).to_string(),
            400,
            "unknown_venue",
        ),
        (
            "negative quantity",
            Some("k6"),
            with("quantity", json!("-1")).to_string(),
            400,
            "invalid_quantity",
        ),
        (
            "zero quantity",
            Some("k7"),
            with("quantity", json!("0")).to_string(),
            400,
            "invalid_quantity",
        ),
        (
            "quantity not a decimal",
            Some("k8"),
            with("quantity", json!("lots")).to_string(),
            400,
            "invalid_decimal",
        ),
        (
            "quantity as a number",
            Some("k9"),
            with("quantity", json!(0.1)).to_string(),
            400,
            "invalid_request",
        ),
        (
            "price off tick",
            Some("k10"),
            with("price", json!("30000.001")).to_string(),
            400,
            "invalid_price",
        ),
        (
            "limit without price",
            Some("k11"),
            with("price", Value::Null).to_string(),
            400,
            "invalid_price",
        ),
        (
            "bad side",
            Some("k12"),
            with("side", json!("BUY")).to_string(),
            400,
            "invalid_request",
        ),
        (
            "quantity off step",
            Some("k13"),
            with("quantity", json!("0.0000001")).to_string(),
            400,
            "invalid_quantity",
        ),
        (
            "tiny notional",
            Some("k14"),
            with("quantity", json!("0.00001")).to_string(),
            400,
            "invalid_notional",
        ),
        (
            "bad client id",
            Some("k15"),
            with("client_order_id", json!("has space")).to_string(),
            400,
            "invalid_client_order_id",
        ),
        (
            "no idempotency key",
            None,
            good.to_string(),
            400,
            "idempotency_key_required",
        ),
    ];
    for (name, key, body, want_status, want_code) in cases {
        let mut req = stack
            .http
            .post(stack.url("/v1/orders"))
            .header("content-type", "application/json")
            .body(body);
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let json: Value = resp
            .json()
            .await
            .unwrap_or_else(|e| panic!("{name}: body is not JSON: {e}"));
        assert_eq!(status, want_status, "{name}: {json}");
        assert_eq!(json["error"]["code"], json!(want_code), "{name}: {json}");
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{name}: {json}"
        );
    }
    for (path, want) in [
        ("/v1/orders/abc", 400),
        ("/v1/orders/999999", 404),
        ("/v1/nope", 404),
        ("/v1/orders?status=done", 400),
    ] {
        let (status, json) = stack.get_json(path).await;
        assert_eq!(status, want, "{path}: {json}");
        assert!(json["error"]["code"].is_string(), "{path}: {json}");
    }
    assert_eq!(
        stack.sim_orders_received(),
        0,
        "nothing may reach the simulator"
    );
    let (_, list) = stack.get_json("/v1/orders").await;
    assert_eq!(list, json!([]));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resting_order_cancels_and_survives_restart() {
    let Some(mut stack) = Stack::start(Backend::Sqlite).await else {
        return;
    };
    let best_ask = stack.best_ask().await;
    let resting = (best_ask * Decimal::new(90, 2)).round_dp(2);
    let (status, order) = stack
        .post_order(Some("rest-1"), &crossing_buy(resting))
        .await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["status"], json!("new"), "{order}");
    let id = order["id"].as_i64().unwrap();

    stack.restart().await;
    let (_, after) = stack.get_json(&format!("/v1/orders/{id}")).await;
    assert_eq!(
        after["status"],
        json!("new"),
        "reconciled after restart: {after}"
    );

    let (status, canceled) = stack.delete_json(&format!("/v1/orders/{id}")).await;
    assert_eq!(status, 200, "{canceled}");
    assert_eq!(canceled["status"], json!("canceled"), "{canceled}");
    let (status, again) = stack.delete_json(&format!("/v1/orders/{id}")).await;
    assert_eq!(status, 409, "{again}");
    let (_, open) = stack.get_json("/v1/orders?status=new").await;
    assert_eq!(open, json!([]));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amend_lowers_a_resting_order_in_place_until_the_venue_refuses() {
    use exchange_core::Exchange;
    let Some(mut stack) = Stack::start(Backend::Sqlite).await else {
        return;
    };
    let resting = (stack.best_ask().await * Decimal::new(90, 2)).round_dp(2);
    let body = json!({
        "venue": "binance", "symbol": "BTC-USDT", "side": "buy", "type": "limit",
        "quantity": "0.02", "price": resting.to_string(), "time_in_force": "gtc",
    });
    let (status, order) = stack.post_order(Some("amend-e2e-1"), &body).await;
    assert_eq!((status, &order["status"]), (201, &json!("new")), "{order}");
    let id = order["id"].as_i64().unwrap();
    let path = format!("/v1/orders/{id}");
    let venue_order = order["venue_order_id"].clone();

    // Refused locally: not lower, off the lot step, malformed, unknown fields, unknown order.
    for (body, code) in [
        (json!({"quantity": "0.02"}), "invalid_quantity"),
        (json!({"quantity": "0.000001"}), "invalid_quantity"),
        (json!({"quantity": "-1"}), "invalid_quantity"),
        (json!({"quantity": "abc"}), "invalid_decimal"),
        (json!({"quantity": "0.01", "price": "1"}), "invalid_request"),
    ] {
        let (status, answer) = stack.patch_json(&path, &body).await;
        assert_eq!(
            (status, &answer["error"]["code"]),
            (400, &json!(code)),
            "{body}: {answer}"
        );
    }
    let (status, answer) = stack
        .patch_json("/v1/orders/987654", &json!({"quantity": "0.01"}))
        .await;
    assert_eq!(status, 404, "{answer}");

    // The venue allows ten amends per order; each keeps the order id and client order id.
    let mut quantity = Decimal::new(20, 3);
    for _ in 0..10 {
        quantity -= Decimal::new(1, 3);
        let (status, amended) = stack
            .patch_json(&path, &json!({"quantity": quantity.to_string()}))
            .await;
        assert_eq!(status, 200, "{amended}");
        assert_eq!(
            amended["quantity"],
            json!(quantity.normalize().to_string()),
            "{amended}"
        );
        assert_eq!(amended["status"], json!("new"), "{amended}");
        assert_eq!(amended["venue_order_id"], venue_order, "{amended}");
        assert_eq!(amended["client_order_id"], order["client_order_id"]);
    }
    let (status, refused) = stack.patch_json(&path, &json!({"quantity": "0.005"})).await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (409, &json!("amend_rejected")),
        "{refused}"
    );
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("MAX_NUM_ORDER_AMENDS"),
        "{refused}"
    );

    // The venue holds the amended quantity, and so does omsd after a restart.
    let venue = stack
        .venue_client()
        .query_order("BTCUSDT", order["client_order_id"].as_str().unwrap())
        .await
        .expect("venue order");
    assert_eq!(venue.quantity, quantity);
    stack.restart().await;
    let (_, after) = stack.get_json(&path).await;
    assert_eq!(
        after["quantity"],
        json!(quantity.normalize().to_string()),
        "{after}"
    );
    stack.assert_orders_match_venue().await;
    let (status, canceled) = stack.delete_json(&path).await;
    assert_eq!((status, &canceled["status"]), (200, &json!("canceled")));
    let (status, late) = stack.patch_json(&path, &json!({"quantity": "0.001"})).await;
    assert_eq!(
        (status, &late["error"]["code"]),
        (409, &json!("order_not_amendable")),
        "{late}"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_open_on_the_venue_under_our_prefix_are_adopted() {
    use exchange_core::{Exchange, NewOrder};
    let Some(mut stack) = Stack::start(Backend::Sqlite).await else {
        return;
    };
    let resting = (stack.best_ask().await * Decimal::new(90, 2)).round_dp(2);
    // Another process on the same account sends an order with our prefix.
    let other = stack.venue_client();
    let ours = NewOrder {
        client_order_id: "omsd-adopt-me-1".into(),
        ..placed_order(resting)
    };
    let placed = other.place_order(&ours).await.unwrap();
    // And one without our prefix, which is not ours to adopt.
    let foreign = NewOrder {
        client_order_id: "someone-else-1".into(),
        ..placed_order(resting)
    };
    other.place_order(&foreign).await.unwrap();

    stack.restart().await;
    let (_, orders) = stack.get_json("/v1/orders?status=new").await;
    let orders = orders.as_array().unwrap();
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(orders[0]["client_order_id"], json!("omsd-adopt-me-1"));
    assert_eq!(orders[0]["symbol"], json!("BTC-USDT"));
    assert_eq!(orders[0]["quantity"], json!("0.002"));
    assert_eq!(orders[0]["venue_order_id"], json!(placed.venue_order_id));

    // Once adopted, it is managed like any other order.
    let id = orders[0]["id"].as_i64().unwrap();
    let (status, canceled) = stack.delete_json(&format!("/v1/orders/{id}")).await;
    assert_eq!(
        (status, &canceled["status"]),
        (200, &json!("canceled")),
        "{canceled}"
    );
    stack.stop().await;
}

fn placed_order(price: Decimal) -> exchange_core::NewOrder {
    exchange_core::NewOrder {
        client_order_id: String::new(),
        venue_symbol: "BTCUSDT".into(),
        side: exchange_core::Side::Buy,
        order_type: exchange_core::OrderType::Limit,
        time_in_force: exchange_core::TimeInForce::Gtc,
        quantity: Decimal::new(2, 3),
        price: Some(price),
    }
}
