//! The maintenance controls over real sockets: `POST /_sim/maintenance` sends `serverShutdown`
//! (raw, combined and WS API shapes) before closing connections of the chosen target, and
//! `POST /_sim/userDataStream/terminate` ends WS API subscriptions with `eventStreamTerminated`.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn maintenance_sends_server_shutdown_then_closes() {
    let (sim, client) = start(config()).await;
    let mut raw = connect(&format!("{}/ws/btcusdt@trade", sim.stream_url())).await;
    let mut combined = connect(&format!(
        "{}/stream?streams=btcusdt@trade",
        sim.stream_url()
    ))
    .await;
    let mut api = connect(&sim.ws_api_url()).await;
    let subscribed = ws_request(
        &mut api,
        json!(1),
        "userDataStream.subscribe.signature",
        sign_ws(json!({}), &client.key, &client.secret),
    )
    .await;
    let sub_id = subscribed["result"]["subscriptionId"].clone();

    let bad = client
        .raw(
            reqwest::Method::POST,
            "/_sim/maintenance",
            "target=fix",
            "",
            None,
        )
        .await;
    assert_eq!(bad.status, 400, "{bad:?}");
    let streams = client
        .raw(
            reqwest::Method::POST,
            "/_sim/maintenance",
            "target=streams",
            "",
            None,
        )
        .await;
    assert!(streams.ok()["notified"].as_u64().unwrap() >= 3);
    let event = next_matching(&mut raw, |v| v["e"] == "serverShutdown").await;
    assert!(event["E"].as_i64().unwrap() > 0);
    expect_close(&mut raw).await;
    let wrapped = next_matching(&mut combined, |v| v.get("stream").is_some()).await;
    assert_eq!(wrapped["stream"], "!serverShutdown");
    assert_eq!(wrapped["data"]["e"], "serverShutdown");
    expect_close(&mut combined).await;

    let pong = ws_request(&mut api, json!(2), "ping", json!({})).await;
    assert_eq!(pong["status"], 200, "the WS API stays up: {pong}");
    client
        .raw(
            reqwest::Method::POST,
            "/_sim/userDataStream/terminate",
            "",
            "",
            None,
        )
        .await
        .ok();
    let ended = next_matching(&mut api, |v| v["event"]["e"] == "eventStreamTerminated").await;
    assert_eq!(ended["subscriptionId"], sub_id);
    let listed = ws_request(&mut api, json!(3), "session.subscriptions", json!({})).await;
    assert_eq!(listed["result"], json!([]));

    client
        .raw(reqwest::Method::POST, "/_sim/maintenance", "", "", None)
        .await
        .ok();
    let shutdown = next_matching(&mut api, |v| v.get("event").is_some()).await;
    assert_eq!(shutdown["event"]["e"], "serverShutdown", "{shutdown}");
    assert!(shutdown.get("subscriptionId").is_none());
    expect_close(&mut api).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn with_a_grace_period_the_notified_connection_keeps_serving_until_it_ends() {
    let (sim, client) = start(config()).await;
    let mut api = connect(&sim.ws_api_url()).await;
    for bad in ["grace_ms=soon", "grace_ms=-1", "grace_ms=600001"] {
        let answer = client
            .raw(reqwest::Method::POST, "/_sim/maintenance", bad, "", None)
            .await;
        assert_eq!(answer.status, 400, "{bad}: {answer:?}");
    }
    let notice = client
        .raw(
            reqwest::Method::POST,
            "/_sim/maintenance",
            "target=ws_api&grace_ms=1500",
            "",
            None,
        )
        .await;
    assert_eq!(notice.ok()["notified"], 1);
    let shutdown = next_matching(&mut api, |v| v.get("event").is_some()).await;
    assert_eq!(shutdown["event"]["e"], "serverShutdown", "{shutdown}");
    // Still open and answering during the grace period; a connection opened after the notice
    // is not affected.
    let pong = ws_request(&mut api, json!(1), "ping", json!({})).await;
    assert_eq!(pong["status"], 200, "{pong}");
    let mut replacement = connect(&sim.ws_api_url()).await;
    let started = std::time::Instant::now();
    expect_close(&mut api).await;
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(500),
        "closed before its grace period ended"
    );
    let pong = ws_request(&mut replacement, json!(2), "ping", json!({})).await;
    assert_eq!(pong["status"], 200, "the replacement stays up: {pong}");
    sim.shutdown().await;
}
