//! REST-side faults over real sockets, each shown on the wire and then turned off: the control
//! API itself, 5xx (with and without execution), hangs, latency, forced 429/418, clock skew,
//! downtime and swallowed order acks.

mod common;
mod faults_common;

use std::time::Duration;

use common::*;
use exchange_sim::faults::{Downtime, FaultSpec, Latency, Target};
use faults_common::*;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::time::Instant;

#[tokio::test]
async fn control_api_lists_clears_and_rejects_bad_requests() {
    let (sim, client) = start(config()).await;
    let latency = inject(
        &client,
        json!({ "fault": "latency", "params": { "mean_ms": 1, "target": "streams" } }),
    )
    .await;
    let skew = FaultSpec::ClockSkew(Default::default());
    let from_library = sim.faults().inject(skew).unwrap();
    let listed = client.public("/_sim/faults", &[]).await;
    let listed = listed.ok().as_array().unwrap().clone();
    let names: Vec<(&Value, &Value)> = listed.iter().map(|f| (&f["id"], &f["fault"])).collect();
    assert_eq!(
        names,
        [
            (&json!(latency), &json!("latency")),
            (&json!(from_library.0), &json!("clock_skew"))
        ]
    );
    assert_eq!(listed[0]["params"]["mean_ms"], 1);
    assert_eq!(listed[0]["remaining_ms"], Value::Null);

    clear(&client, latency).await;
    let again = format!("/_sim/faults/{latency}");
    let missing = client.raw(Method::DELETE, &again, "", "", None).await;
    missing.expect_error(404, -2013, "Fault does not exist.");
    assert_eq!(sim.faults().active().len(), 1);
    inject(
        &client,
        json!({ "fault": "force_429", "params": { "duration_ms": 60000 } }),
    )
    .await;
    let cleared = client
        .raw(Method::DELETE, "/_sim/faults", "", "", None)
        .await;
    assert_eq!(cleared.ok()["cleared"], 2);
    assert!(sim.faults().active().is_empty());
    client.public("/api/v3/ping", &[]).await.ok();

    let bad = [
        "not json",
        r#"{"fault":"meteor_strike","params":{}}"#,
        r#"{"params":{}}"#,
        r#"{"fault":"latency","params":{"mean":5}}"#,
        r#"{"fault":"rest_errors","params":{"status":404}}"#,
        r#"{"fault":"duplicate_user_events","params":{"rate":1.5}}"#,
        r#"{"fault":"downtime","params":{}}"#,
        r#"{"fault":"silence_streams","params":{"symbols":["NOPEUSDT"]}}"#,
        r#"{"fault":"clock_skew","params":{"offset_ms":"soon"}}"#,
    ];
    for body in bad {
        let reply = client
            .raw(Method::POST, "/_sim/faults", "", body, None)
            .await;
        assert_eq!(reply.status, 400, "{body}: {reply:?}");
        assert_eq!(reply.body["code"], -1100, "{body}: {reply:?}");
        let msg = reply.body["msg"].as_str().unwrap();
        assert!(msg.starts_with("Invalid fault request: "), "{msg}");
    }
    let reply = client
        .raw(Method::DELETE, "/_sim/faults/abc", "", "", None)
        .await;
    assert_eq!(
        (reply.status.as_u16(), &reply.body["code"]),
        (400, &json!(-1100))
    );
    let reply = client.raw(Method::PUT, "/_sim/faults", "", "", None).await;
    assert_eq!(reply.status, 405, "{reply:?}");
    assert!(reply.body["code"].is_i64(), "{reply:?}");
    assert!(sim.faults().active().is_empty(), "nothing bad was injected");
    assert_eq!(fault_stats(&client, "latency").await.0, 1);
    assert_eq!(fault_stats(&client, "force_429").await.0, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn rest_errors_answer_5xx_with_and_without_execution() {
    let (sim, client) = start(calm_config()).await;
    let id = inject(&client, json!({ "fault": "rest_errors", "params": { "status": 503, "paths": ["/api/v3/order"], "methods": ["POST"] } })).await;
    let reply = client.place(&resting_order("BTCUSDT", "err-1")).await;
    reply.expect_error(503, -1007, "Timeout waiting for response from backend server. Send status unknown; execution status unknown.");
    let lookup = order_by_client_id(&client, "BTCUSDT", "err-1").await;
    lookup.expect_error(400, -2013, "Order does not exist.");
    client.public("/api/v3/time", &[]).await.ok();
    clear(&client, id).await;

    let spec = json!({ "fault": "rest_errors", "params": { "status": 500, "execute": true } });
    let id = inject(&client, spec).await;
    let reply = client.place(&resting_order("BTCUSDT", "err-2")).await;
    reply.expect_error(
        500,
        -1000,
        "An unknown error occurred while processing the request.",
    );
    client.public("/api/v3/time", &[]).await.expect_error(
        500,
        -1000,
        "An unknown error occurred while processing the request.",
    );
    clear(&client, id).await;
    let found = order_by_client_id(&client, "BTCUSDT", "err-2").await;
    assert_eq!(found.ok()["status"], "NEW", "executed behind the 5xx");

    let placed = client.place(&resting_order("BTCUSDT", "err-3")).await;
    assert_eq!(placed.ok()["clientOrderId"], "err-3");
    assert_eq!(fault_stats(&client, "rest_errors").await, (2, 3));
    sim.shutdown().await;
}

#[tokio::test]
async fn rest_hang_holds_past_the_deadline_until_cleared() {
    let (sim, client) = start(calm_config()).await;
    let spec = json!({ "fault": "rest_hang", "params": { "duration_ms": 60000, "paths": ["/api/v3/order"], "methods": ["POST"], "execute": true } });
    let id = inject(&client, spec).await;
    let order = resting_order("BTCUSDT", "hang-1");
    let deadline = Duration::from_millis(500);
    let outcome =
        signed_with_deadline(&client, Method::POST, "/api/v3/order", &order, deadline).await;
    assert_eq!(outcome, Err(()), "no response within the client's deadline");
    let found = order_by_client_id(&client, "BTCUSDT", "hang-1").await;
    assert_eq!(found.ok()["status"], "NEW", "executed although unanswered");
    clear(&client, id).await;
    let order = resting_order("BTCUSDT", "hang-2");
    let outcome =
        signed_with_deadline(&client, Method::POST, "/api/v3/order", &order, DEADLINE).await;
    assert_eq!(outcome, Ok(reqwest::StatusCode::OK));

    let spec = json!({ "fault": "rest_hang", "params": { "duration_ms": 300, "paths": ["/api/v3/time"] } });
    let id = inject(&client, spec).await;
    let started = Instant::now();
    let reply = client.public("/api/v3/time", &[]).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    reply.expect_error(503, -1007, "Timeout waiting for response from backend server. Send status unknown; execution status unknown.");
    clear(&client, id).await;
    client.public("/api/v3/time", &[]).await.ok();
    assert_eq!(fault_stats(&client, "rest_hang").await, (2, 2));
    sim.shutdown().await;
}

#[tokio::test]
async fn latency_delays_rest_responses() {
    let (sim, client) = start(config()).await;
    let spec = FaultSpec::Latency(Latency {
        mean_ms: 400,
        jitter_ms: 100,
        target: Target::Rest,
        duration_ms: None,
    });
    let id = sim.faults().inject(spec).unwrap();
    for _ in 0..3 {
        let started = Instant::now();
        client.public("/api/v3/ping", &[]).await.ok();
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "{:?}",
            started.elapsed()
        );
    }
    let started = Instant::now();
    client.public("/_sim/stats", &[]).await.ok();
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "control API not delayed"
    );
    assert!(sim.faults().clear(id));
    let started = Instant::now();
    client.public("/api/v3/ping", &[]).await.ok();
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(fault_stats(&client, "latency").await, (1, 3));
    sim.shutdown().await;
}

#[tokio::test]
async fn forced_429_and_418_carry_retry_after() {
    let (sim, client) = start(config()).await;
    let id = inject(
        &client,
        json!({ "fault": "force_429", "params": { "retry_after_s": 7 } }),
    )
    .await;
    let reply = client.public("/api/v3/time", &[]).await;
    reply.expect_error(429, -1003, "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.");
    assert_eq!(reply.headers["retry-after"], "7");
    client.public("/_sim/stats", &[]).await.ok();
    clear(&client, id).await;
    client.public("/api/v3/time", &[]).await.ok();

    let id = inject(
        &client,
        json!({ "fault": "force_418", "params": { "retry_after_s": 120 } }),
    )
    .await;
    let before = now_ms();
    let reply = client.public("/api/v3/exchangeInfo", &[]).await;
    assert_eq!(
        (reply.status.as_u16(), &reply.body["code"]),
        (418, &json!(-1003))
    );
    assert_eq!(reply.headers["retry-after"], "120");
    let msg = reply.body["msg"].as_str().unwrap();
    let until: i64 = msg
        .strip_prefix("Way too much request weight used; IP banned until ")
        .and_then(|rest| rest.split('.').next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("{msg}"));
    assert!((until - before - 120_000).abs() < 5_000, "{until} {before}");
    clear(&client, id).await;
    client.public("/api/v3/exchangeInfo", &[]).await.ok();
    assert_eq!(fault_stats(&client, "force_429").await, (1, 1));
    assert_eq!(fault_stats(&client, "force_418").await, (1, 1));
    sim.shutdown().await;
}

#[tokio::test]
async fn clock_skew_shifts_server_time_and_rejects_timestamps() {
    let (sim, client) = start(config()).await;
    let server_time = |reply: Reply| reply.ok()["serverTime"].as_i64().unwrap();
    let id = inject(
        &client,
        json!({ "fault": "clock_skew", "params": { "offset_ms": 120000 } }),
    )
    .await;
    let skewed = server_time(client.public("/api/v3/time", &[]).await);
    assert!((skewed - now_ms() - 120_000).abs() < 5_000, "{skewed}");
    let account = client.signed(Method::GET, "/api/v3/account", &[]).await;
    account.expect_error(
        400,
        -1021,
        "Timestamp for this request is outside of the recvWindow.",
    );
    clear(&client, id).await;
    let normal = server_time(client.public("/api/v3/time", &[]).await);
    assert!((normal - now_ms()).abs() < 5_000, "{normal}");
    client
        .signed(Method::GET, "/api/v3/account", &[])
        .await
        .ok();
    sim.shutdown().await;
}

#[tokio::test]
async fn downtime_refuses_connections_until_it_ends() {
    let (sim, client) = start(config()).await;
    let addr = sim.local_addr();
    let mut stream = connect(&format!("{}/ws/btcusdt@trade", sim.stream_url())).await;
    let spec = FaultSpec::Downtime(Downtime {
        duration_ms: 600_000,
    });
    let id = sim.faults().inject(spec).unwrap();
    assert!(
        matches!(until_closed(&mut stream).await, Frame::Gone),
        "cut, no close frame"
    );
    poll("connection refused", || async {
        match tokio::net::TcpStream::connect(addr).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Some(()),
            _ => None,
        }
    })
    .await;
    assert!(sim.faults().clear(id));
    poll("listening again", || async {
        tokio::net::TcpStream::connect(addr).await.ok()
    })
    .await;
    let fresh = reqwest::Client::new();
    let ping = fresh
        .get(format!("{}/api/v3/ping", sim.rest_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status(), 200);

    let window = FaultSpec::Downtime(Downtime { duration_ms: 300 });
    sim.faults().inject(window).unwrap();
    poll("the window ends by itself", || async {
        let url = format!("{}/api/v3/ping", sim.rest_url());
        let ok = reqwest::Client::new().get(url).send().await.ok()?;
        (ok.status() == 200 && sim.faults().active().is_empty()).then_some(())
    })
    .await;
    assert_eq!(fault_stats(&client, "downtime").await, (2, 2));
    sim.shutdown().await;
}

#[tokio::test]
async fn swallowed_order_acks_execute_without_a_response() {
    let (sim, client) = start(calm_config()).await;
    let mut user = user_stream(&sim.ws_api_url(), &client).await;
    let spec = json!({ "fault": "swallow_order_acks", "params": { "symbols": ["BTCUSDT"], "target": "rest" } });
    let id = inject(&client, spec).await;
    let order = resting_order("BTCUSDT", "swallow-1");
    let deadline = Duration::from_millis(500);
    let outcome =
        signed_with_deadline(&client, Method::POST, "/api/v3/order", &order, deadline).await;
    assert_eq!(outcome, Err(()), "the ack never comes");
    let report = next_event(&mut user).await;
    assert_eq!(
        (&report["e"], &report["c"], &report["X"]),
        (
            &json!("executionReport"),
            &json!("swallow-1"),
            &json!("NEW")
        )
    );
    let found = order_by_client_id(&client, "BTCUSDT", "swallow-1").await;
    assert_eq!(found.ok()["status"], "NEW");
    let other = client.place(&resting_order("ETHUSDT", "swallow-eth")).await;
    assert_eq!(
        other.ok()["clientOrderId"],
        "swallow-eth",
        "other symbols answered"
    );

    clear(&client, id).await;
    let order = resting_order("BTCUSDT", "swallow-2");
    let outcome =
        signed_with_deadline(&client, Method::POST, "/api/v3/order", &order, DEADLINE).await;
    assert_eq!(outcome, Ok(reqwest::StatusCode::OK));
    assert_eq!(fault_stats(&client, "swallow_order_acks").await, (1, 1));
    sim.shutdown().await;
}
