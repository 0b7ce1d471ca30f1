//! The order processor end to end, against omsd-sim over real sockets: a late send failure
//! after the stream reported the order, risk refusals and the kill switch over HTTP,
//! balances, a PostgreSQL outage during order flow, and a task panic.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Backend, Stack, crossing_buy, poll};
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// A limit buy resting a little below the market (inside the default 2 % band).
fn resting_buy(best_ask: Decimal) -> Value {
    let mut body = crossing_buy((best_ask * Decimal::new(99, 2)).round_dp(2));
    body["time_in_force"] = json!("gtc");
    body
}

#[tokio::test]
async fn a_send_that_fails_after_the_stream_reported_the_fill_keeps_the_fill() {
    let Some(stack) = Stack::start(Backend::Sqlite).await else {
        return;
    };
    let ask = stack.best_ask().await;
    // The venue executes the order and holds its answer past the adapter's deadline.
    let fault = stack.inject(json!({
        "fault": "rest_hang",
        "params": {"duration_ms": 20000, "paths": ["/api/v3/order"], "methods": ["POST"], "execute": true}
    }));
    let body = crossing_buy((ask * Decimal::new(101, 2)).round_dp(2));
    let (status, order) = stack.post_order(Some("late-fill-1"), &body).await;
    assert!(status == 201 || status == 200, "{status} {order}");
    let id = order["id"].as_i64().expect("id");
    let filled = poll(Duration::from_secs(20), || async {
        let (_, o) = stack.get_json(&format!("/v1/orders/{id}")).await;
        (o["status"] == json!("filled")).then_some(o)
    })
    .await
    .expect("the stream reports the fill");
    // Wait out the failed send, then check the state was kept.
    tokio::time::sleep(Duration::from_secs(4)).await;
    stack.sim.faults().clear(fault);
    let (_, after) = stack.get_json(&format!("/v1/orders/{id}")).await;
    assert_eq!(after["status"], json!("filled"), "{after}");
    assert_eq!(after["fills"], filled["fills"], "{after}");
    stack.assert_orders_match_venue().await;
    stack.stop().await;
}

#[tokio::test]
async fn risk_refusals_and_the_kill_switch_over_http() {
    let Some(stack) = Stack::start_with(Backend::Sqlite, exchange_sim::SimConfig::demo(), |c| {
        c.venues[0].risk.price_band_pct = Decimal::new(2, 0);
    })
    .await
    else {
        return;
    };
    let ask = stack.best_ask().await;
    let far = crossing_buy((ask * Decimal::new(110, 2)).round_dp(2));
    let (status, body) = stack.post_order(Some("band-1"), &far).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], json!("price_outside_band"), "{body}");
    assert!(body["error"]["limit"].is_string(), "{body}");
    let sent_before = stack.sim_orders_received();

    let (status, open) = stack.post_order(Some("ks-open"), &resting_buy(ask)).await;
    assert_eq!(status, 201, "{open}");
    let ks = stack
        .http
        .post(stack.url("/v1/kill-switch"))
        .json(&json!({"engaged": true, "reason": "drill", "cancel_open_orders": true}))
        .send()
        .await
        .expect("kill switch");
    assert_eq!(ks.status(), 200);
    let ks: Value = ks.json().await.expect("json");
    assert_eq!(ks["engaged"], json!(true), "{ks}");
    assert_eq!(ks["cancels_requested"], json!(1), "{ks}");
    let (status, body) = stack
        .post_order(Some("ks-refused"), &resting_buy(ask))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["error"]["code"],
        json!("kill_switch_engaged"),
        "{body}"
    );
    // A replay of a key used before the switch is still answered with its order.
    let (status, replay) = stack.post_order(Some("ks-open"), &resting_buy(ask)).await;
    assert_eq!((status, &replay["id"]), (200, &open["id"]), "{replay}");
    let id = open["id"].as_i64().expect("id");
    poll(Duration::from_secs(10), || async {
        let (_, o) = stack.get_json(&format!("/v1/orders/{id}")).await;
        (o["status"] == json!("canceled")).then_some(())
    })
    .await
    .expect("the open order is canceled");
    let (status, state) = stack.get_json("/v1/kill-switch").await;
    assert_eq!((status, &state["engaged"]), (200, &json!(true)), "{state}");
    assert_eq!(stack.sim_orders_received(), sent_before + 1);
    stack.stop().await;
}

#[tokio::test]
async fn balances_come_from_the_venue() {
    let Some(stack) = Stack::start(Backend::Sqlite).await else {
        return;
    };
    let (status, balances) = stack.get_json("/v1/balances").await;
    assert_eq!(status, 200, "{balances}");
    let usdt = balances
        .as_array()
        .and_then(|all| all.iter().find(|b| b["asset"] == json!("USDT")))
        .cloned()
        .unwrap_or_else(|| panic!("USDT balance in {balances}"));
    assert!(usdt["free"].is_string(), "{usdt}");
    stack.stop().await;
}

#[tokio::test]
async fn a_task_panic_turns_readiness_false_and_stops_the_daemon() {
    let Some(stack) = Stack::start(Backend::Sqlite).await else {
        return;
    };
    let (status, _) = stack.get_json("/readyz").await;
    assert_eq!(status, 200);
    let app = stack.app.as_ref().expect("running");
    let failed = app.failed();
    app.spawn_supervised("drill", async { panic!("drill: a task panics") });
    tokio::time::timeout(Duration::from_secs(5), failed.cancelled())
        .await
        .expect("the supervisor notices the panic");
    let (status, body) = stack.get_json("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("drill"),
        "{body}"
    );
    stack.stop().await;
}

/// A private PostgreSQL cluster this test may stop and start (the shared one must stay up).
struct Cluster {
    dir: String,
    url: String,
}

impl Cluster {
    fn start() -> Option<Cluster> {
        common::postgres_server_url()?;
        let out = Command::new("scripts/pg-test-cluster.sh")
            .arg("start")
            .output()
            .expect("run the cluster script");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .map(str::to_string)
                .expect("script output")
        };
        Some(Cluster {
            url: value("OMSD_TEST_DATABASE_URL"),
            dir: value("PGDATA_DIR"),
        })
    }

    fn run(&self, verb: &str) {
        let out = Command::new("scripts/pg-test-cluster.sh")
            .args([verb, &self.dir])
            .output()
            .expect("run the cluster script");
        assert!(
            out.status.success(),
            "{verb}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("scripts/pg-test-cluster.sh")
            .args(["stop", &self.dir])
            .output();
    }
}

#[tokio::test]
async fn a_postgres_outage_pauses_new_orders_and_loses_nothing() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let Some(stack) = Stack::start_on_server(&cluster.url).await else {
        return;
    };
    let ask = stack.best_ask().await;
    let (status, resting) = stack.post_order(Some("pg-rest-1"), &resting_buy(ask)).await;
    assert_eq!(status, 201, "{resting}");
    let id = resting["id"].as_i64().expect("id");

    cluster.run("pause");
    // New orders are refused while their intent cannot be made durable.
    let refused = poll(Duration::from_secs(30), || async {
        let key = format!("pg-down-{}", rand_suffix());
        let (status, body) = stack.post_order(Some(&key), &resting_buy(ask)).await;
        (status == 503).then_some(body)
    })
    .await
    .expect("503 while the store is down");
    assert_eq!(
        refused["error"]["code"],
        json!("store_unavailable"),
        "{refused}"
    );
    let (status, _) = stack.get_json("/readyz").await;
    assert_eq!(status, 503);
    // The venue cancels the resting order meanwhile: the report is kept in memory.
    let venue = stack.venue_client();
    let cid = resting["client_order_id"]
        .as_str()
        .expect("cid")
        .to_string();
    exchange_core::Exchange::cancel_order(&venue, "BTCUSDT", &cid)
        .await
        .expect("venue cancel");
    poll(Duration::from_secs(10), || async {
        let (_, o) = stack.get_json(&format!("/v1/orders/{id}")).await;
        (o["status"] == json!("canceled")).then_some(())
    })
    .await
    .expect("the cancel is applied in memory");

    cluster.run("resume");
    poll(Duration::from_secs(30), || async {
        let (status, _) = stack.get_json("/readyz").await;
        (status == 200).then_some(())
    })
    .await
    .expect("ready again once the store is back");
    let (status, again) = stack
        .post_order(Some("pg-after-1"), &resting_buy(ask))
        .await;
    assert_eq!(status, 201, "{again}");
    // What was applied during the outage reached the store.
    let store = omsd::store::open(&stack.store_url)
        .await
        .expect("open store");
    let stored = poll(Duration::from_secs(10), || async {
        let order = store.get_order(id).await.ok().flatten()?;
        (order.status == exchange_core::OrderStatus::Canceled).then_some(order)
    })
    .await
    .expect("the cancel is durable");
    assert_eq!(stored.client_order_id, cid);
    stack.assert_orders_match_venue().await;
    stack.stop().await;
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}
