//! WebSocket and event faults over real sockets, each shown on the wire and then turned off:
//! dropped connections, silenced streams, stopped pings, ignored pongs, depth sequence gaps,
//! duplicated and reordered user events, and latency on stream frames.

mod common;
mod faults_common;

use std::time::Duration;

use common::*;
use exchange_sim::SimConfig;
use exchange_sim::faults::{FaultSpec, KeepaliveFault, Latency, Target};
use faults_common::*;
use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// Demo config with fast server pings and a pong timeout of `pong_timeout_ms`.
fn pinging(pong_timeout_ms: u64) -> SimConfig {
    let mut config = config();
    config.streams.ping_interval_ms = 100;
    config.streams.pong_timeout_ms = pong_timeout_ms;
    // The client answers every server ping; keep the venue's incoming-message limit out of it.
    config.streams.max_incoming_per_sec = 1000;
    config
}

fn count(frames: &[Frame], pred: impl Fn(&Frame) -> bool) -> usize {
    frames.iter().filter(|f| pred(f)).count()
}

fn stream_of(frame: &Frame) -> Option<&str> {
    match frame {
        Frame::Json(v) => v["stream"].as_str(),
        _ => None,
    }
}

#[tokio::test]
async fn drop_connections_cuts_matching_sockets_only() {
    let (sim, client) = start(config()).await;
    let url = format!("{}/ws/btcusdt@trade", sim.stream_url());
    let (mut a, mut b) = (connect(&url).await, connect(&url).await);
    let mut api = connect(&sim.ws_api_url()).await;
    inject(
        &client,
        json!({ "fault": "drop_connections", "params": { "target": "streams" } }),
    )
    .await;
    for ws in [&mut a, &mut b] {
        assert!(
            matches!(until_closed(ws).await, Frame::Gone),
            "no close frame"
        );
    }
    send_json(&mut api, &json!({ "id": 1, "method": "ping" })).await;
    assert_eq!(next_json(&mut api).await["status"], 200, "ws-api kept");
    assert!(sim.faults().active().is_empty(), "one-shot");

    let mut fresh = connect(&format!(
        "{}/stream?streams=btcusdt@depth@100ms",
        sim.stream_url()
    ))
    .await;
    let update = next_json(&mut fresh).await;
    assert_eq!(update["data"]["e"], "depthUpdate", "new connections work");
    assert_eq!(fault_stats(&client, "drop_connections").await, (1, 2));
    sim.shutdown().await;
}

#[tokio::test]
async fn silence_streams_holds_data_but_keeps_the_socket_alive() {
    let (sim, client) = start(pinging(60_000)).await;
    let url = format!(
        "{}/stream?streams=btcusdt@depth@100ms/ethusdt@depth@100ms",
        sim.stream_url()
    );
    let mut ws = connect(&url).await;
    let spec = json!({ "fault": "silence_streams", "params": { "symbols": ["BTCUSDT"], "target": "streams" } });
    let id = inject(&client, spec).await;
    stream_marker(&mut ws, 1).await;
    ws.send(Message::Ping("hi".into())).await.unwrap();
    let frames = frames_during(&mut ws, Duration::from_millis(1500)).await;
    let btc = count(&frames, |f| stream_of(f) == Some("btcusdt@depth@100ms"));
    let eth = count(&frames, |f| stream_of(f) == Some("ethusdt@depth@100ms"));
    assert_eq!(btc, 0, "BTCUSDT silenced");
    assert!(eth > 0, "ETHUSDT still flows");
    assert!(
        count(&frames, |f| matches!(f, Frame::Ping)) > 0,
        "server pings continue"
    );
    assert_eq!(
        count(&frames, |f| matches!(f, Frame::Pong)),
        1,
        "client ping answered"
    );
    assert_eq!(
        count(&frames, |f| matches!(f, Frame::Close | Frame::Gone)),
        0
    );
    clear(&client, id).await;
    next_matching(&mut ws, |v| v["stream"] == "btcusdt@depth@100ms").await;
    assert!(fault_stats(&client, "silence_streams").await.1 > 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn stop_pings_suppresses_server_pings_until_cleared() {
    let (sim, client) = start(pinging(60_000)).await;
    let mut ws = connect(&format!("{}/ws", sim.stream_url())).await;
    assert!(matches!(
        frame_within(&mut ws, DEADLINE).await,
        Some(Frame::Ping)
    ));
    let spec = FaultSpec::StopPings(KeepaliveFault {
        target: Target::Streams,
        duration_ms: None,
    });
    let id = sim.faults().inject(spec).unwrap();
    stream_marker(&mut ws, 1).await;
    let frames = frames_during(&mut ws, Duration::from_millis(800)).await;
    assert!(frames.is_empty(), "no pings and nothing else: {frames:?}");
    stream_marker(&mut ws, 2).await;
    assert!(sim.faults().clear(id));
    assert!(matches!(
        frame_within(&mut ws, DEADLINE).await,
        Some(Frame::Ping)
    ));
    assert!(fault_stats(&client, "stop_pings").await.1 >= 5);
    sim.shutdown().await;
}

#[tokio::test]
async fn ignore_pongs_leaves_pings_unanswered_and_times_the_socket_out() {
    let (sim, client) = start(pinging(600)).await;
    let url = format!("{}/ws", sim.stream_url());
    let mut ws = connect(&url).await;
    let id = inject(
        &client,
        json!({ "fault": "ignore_pongs", "params": { "target": "streams" } }),
    )
    .await;
    ws.send(Message::Ping("hello".into())).await.unwrap();
    let frames = frames_during(&mut ws, DEADLINE).await;
    assert_eq!(
        count(&frames, |f| matches!(f, Frame::Pong)),
        0,
        "{frames:?}"
    );
    assert!(
        matches!(frames.last(), Some(Frame::Close)),
        "pong timeout: {frames:?}"
    );
    clear(&client, id).await;

    let mut ws = connect(&url).await;
    ws.send(Message::Ping("hello".into())).await.unwrap();
    let frames = frames_during(&mut ws, Duration::from_millis(1500)).await;
    assert_eq!(
        count(&frames, |f| matches!(f, Frame::Pong)),
        1,
        "{frames:?}"
    );
    assert_eq!(
        count(&frames, |f| matches!(f, Frame::Close | Frame::Gone)),
        0,
        "pongs count again"
    );
    assert_eq!(fault_stats(&client, "ignore_pongs").await, (1, 1));
    sim.shutdown().await;
}

#[tokio::test]
async fn depth_gap_skips_update_ids_and_rest_depth_stays_consistent() {
    let (sim, client) = start(config()).await;
    let mut ws = connect(&format!("{}/ws/btcusdt@depth@100ms", sim.stream_url())).await;
    let first = next_matching(&mut ws, |v| v["e"] == "depthUpdate").await;
    let mut last = first["u"].as_u64().unwrap();
    inject(
        &client,
        json!({ "fault": "depth_gap", "params": { "symbols": ["BTCUSDT"], "skip": 1000 } }),
    )
    .await;
    let gapped = loop {
        let event = next_matching(&mut ws, |v| v["e"] == "depthUpdate").await;
        let (from, to) = (event["U"].as_u64().unwrap(), event["u"].as_u64().unwrap());
        if from != last + 1 {
            break (from, to, last);
        }
        last = to;
    };
    assert_eq!(gapped.0, gapped.2 + 1 + 1000, "U jumps by skip");
    assert!(sim.faults().active().is_empty(), "one-shot");
    let mut last = gapped.1;
    for _ in 0..3 {
        let event = next_matching(&mut ws, |v| v["e"] == "depthUpdate").await;
        assert_eq!(event["U"].as_u64().unwrap(), last + 1, "contiguous again");
        last = event["u"].as_u64().unwrap();
    }
    let depth = client
        .public("/api/v3/depth", &[("symbol", "BTCUSDT")])
        .await;
    let snapshot = depth.ok()["lastUpdateId"].as_u64().unwrap();
    assert!(
        snapshot >= last,
        "snapshot in the shifted counter: {snapshot} < {last}"
    );
    let bridging = next_matching(&mut ws, |v| v["u"].as_u64() > Some(snapshot)).await;
    assert!(
        bridging["U"].as_u64().unwrap() <= snapshot + 1,
        "resync possible"
    );
    assert_eq!(fault_stats(&client, "depth_gap").await, (1, 1));
    sim.shutdown().await;
}

/// Places a resting order and returns this order's user events that arrive within a window
/// after its balance update, in order, as `(event type, client order id)`.
async fn events_of_one_order(
    client: &Client,
    user: &mut Ws,
    client_id: &str,
) -> Vec<(String, String)> {
    client
        .place(&resting_order("BTCUSDT", client_id))
        .await
        .ok();
    let frames = frames_during(user, Duration::from_millis(1000)).await;
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Json(v) if v.get("event").is_some() => Some(&v["event"]),
            _ => None,
        })
        .map(|e| {
            let kind = e["e"].as_str().unwrap_or_default().to_owned();
            (kind, e["c"].as_str().unwrap_or_default().to_owned())
        })
        .collect()
}

fn report(client_id: &str) -> (String, String) {
    ("executionReport".into(), client_id.into())
}

fn position() -> (String, String) {
    ("outboundAccountPosition".into(), String::new())
}

#[tokio::test]
async fn duplicate_user_events_sends_each_event_twice() {
    let (sim, client) = start(calm_config()).await;
    let mut user = user_stream(&sim.ws_api_url(), &client).await;
    let id = inject(
        &client,
        json!({ "fault": "duplicate_user_events", "params": {} }),
    )
    .await;
    let events = events_of_one_order(&client, &mut user, "dup-1").await;
    assert_eq!(
        events,
        [report("dup-1"), report("dup-1"), position(), position()]
    );
    clear(&client, id).await;
    let events = events_of_one_order(&client, &mut user, "dup-2").await;
    assert_eq!(events, [report("dup-2"), position()]);
    let (injected, triggered) = fault_stats(&client, "duplicate_user_events").await;
    assert!(injected == 1 && triggered >= 2, "{injected} {triggered}");
    sim.shutdown().await;
}

#[tokio::test]
async fn reorder_user_events_shuffles_without_losing_any() {
    let (sim, client) = start(calm_config()).await;
    let mut user = user_stream(&sim.ws_api_url(), &client).await;
    let id = inject(
        &client,
        json!({ "fault": "reorder_user_events", "params": { "window": 2 } }),
    )
    .await;
    let events = events_of_one_order(&client, &mut user, "reorder-1").await;
    assert_eq!(
        events,
        [position(), report("reorder-1")],
        "out of order, none lost"
    );
    clear(&client, id).await;
    let events = events_of_one_order(&client, &mut user, "reorder-2").await;
    assert_eq!(events, [report("reorder-2"), position()]);
    assert!(fault_stats(&client, "reorder_user_events").await.1 >= 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn latency_delays_stream_frames() {
    let (sim, _client) = start(config()).await;
    let mut ws = connect(&format!("{}/ws/btcusdt@depth@100ms", sim.stream_url())).await;
    let age = |v: &Value| now_ms() - v["E"].as_i64().unwrap();
    next_json(&mut ws).await;
    let spec = FaultSpec::Latency(Latency {
        mean_ms: 500,
        jitter_ms: 50,
        target: Target::Streams,
        duration_ms: None,
    });
    let id = sim.faults().inject(spec).unwrap();
    next_json(&mut ws).await;
    for _ in 0..3 {
        let event = next_json(&mut ws).await;
        assert!(age(&event) >= 450, "delayed: {}", age(&event));
    }
    assert!(sim.faults().clear(id));
    let prompt = tokio::time::timeout(DEADLINE, async {
        while age(&next_json(&mut ws).await) >= 200 {}
    });
    prompt.await.expect("prompt frames again");
    assert!(sim.stats().faults["latency"].triggered >= 3);
    sim.shutdown().await;
}

/// A signed WebSocket API request: string params plus `apiKey`, `timestamp`, `signature`
/// (HMAC over every param but `signature`, sorted by name).
fn ws_signed(client: &Client, id: &str, method: &str, params: &[(&str, &str)]) -> Value {
    let object: serde_json::Map<String, Value> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    let params = sign_ws(Value::Object(object), &client.key, &client.secret);
    json!({ "id": id, "method": method, "params": params })
}

/// `order.place` of a resting BTCUSDT buy.
fn ws_place(client: &Client, id: &str, client_id: &str) -> Value {
    let order = resting_order("BTCUSDT", client_id);
    ws_signed(client, id, "order.place", &order)
}

#[tokio::test]
async fn swallowed_ws_api_acks_execute_without_a_response() {
    let (sim, client) = start(calm_config()).await;
    let mut ws = user_stream(&sim.ws_api_url(), &client).await;
    let spec = json!({ "fault": "swallow_order_acks", "params": { "target": "ws_api" } });
    let id = inject(&client, spec).await;
    send_json(&mut ws, &ws_place(&client, "p1", "ws-swallow-1")).await;
    send_json(&mut ws, &json!({ "id": "m1", "method": "ping" })).await;
    let mut report = None;
    loop {
        let frame = next_json(&mut ws).await;
        assert_ne!(
            frame["id"], "p1",
            "the placement is never answered: {frame}"
        );
        if frame["event"]["c"] == "ws-swallow-1" && frame["event"]["e"] == "executionReport" {
            report = Some(frame["event"]["X"].clone());
        }
        if frame["id"] == "m1" {
            break;
        }
    }
    if report.is_none() {
        report = Some(next_event(&mut ws).await["X"].clone());
    }
    assert_eq!(report, Some(json!("NEW")), "the order executed");
    let found = order_by_client_id(&client, "BTCUSDT", "ws-swallow-1").await;
    assert_eq!(found.ok()["status"], "NEW");

    clear(&client, id).await;
    send_json(&mut ws, &ws_place(&client, "p2", "ws-swallow-2")).await;
    let reply = next_matching(&mut ws, |v| v["id"] == "p2").await;
    assert_eq!(reply["status"], 200, "{reply}");
    assert_eq!(reply["result"]["clientOrderId"], "ws-swallow-2");
    assert_eq!(fault_stats(&client, "swallow_order_acks").await, (1, 1));
    sim.shutdown().await;
}
