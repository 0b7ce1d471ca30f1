//! Ed25519 keys over real sockets: `session.logon` (and its refusal of HMAC keys), requests
//! without signatures on a logged-on connection, `userDataStream.subscribe`, and
//! `session.logout` ending the subscription with `eventStreamTerminated`; plus a REST request
//! signed with the Ed25519 key.

mod common;

use base64::Engine as _;
use common::*;
use ed25519_dalek::pkcs8::EncodePublicKey;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};

const ED_KEY: &str = "test-ed25519-key";

fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

fn ed_config() -> exchange_sim::SimConfig {
    let mut config = calm_config();
    let pem = signing_key()
        .verifying_key()
        .to_public_key_pem(Default::default())
        .unwrap();
    config.ed25519_api_key = ED_KEY.into();
    config.ed25519_public_key = Some(pem);
    config
}

fn sign_ed(payload: &str) -> String {
    let signature = signing_key().sign(payload.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(signature.to_bytes())
}

/// Params signed the WebSocket API way (sorted `k=v&...`) with the Ed25519 key.
fn sign_ws_ed(mut params: Value) -> Value {
    let map = params.as_object_mut().unwrap();
    map.insert("apiKey".into(), json!(ED_KEY));
    map.insert("timestamp".into(), json!(now_ms()));
    let signature = sign_ed(&ws_sign_payload(map));
    map.insert("signature".into(), json!(signature));
    params
}

#[tokio::test]
async fn ed25519_logon_subscribe_and_logout() {
    let (sim, client) = start(ed_config()).await;
    let mut ws = connect(&sim.ws_api_url()).await;
    let hmac = ws_request(
        &mut ws,
        json!(1),
        "session.logon",
        sign_ws(json!({}), &client.key, &client.secret),
    )
    .await;
    assert_eq!(hmac["error"]["code"], -4056, "{hmac}");
    let early = ws_request(&mut ws, json!(2), "userDataStream.subscribe", json!({})).await;
    assert_eq!(early["status"], 401, "{early}");
    let bad = {
        let mut params = sign_ws_ed(json!({}));
        params["timestamp"] = json!(params["timestamp"].as_i64().unwrap() - 1000);
        ws_request(&mut ws, json!(3), "session.logon", params).await
    };
    assert_eq!(bad["error"]["code"], -1022, "{bad}");

    let logon = ws_request(&mut ws, json!(4), "session.logon", sign_ws_ed(json!({}))).await;
    assert_eq!(logon["status"], 200, "{logon}");
    assert_eq!(logon["result"]["apiKey"], ED_KEY);
    assert!(logon["result"]["authorizedSince"].as_i64().unwrap() > 0);
    assert_eq!(logon["result"]["userDataStream"], false);
    let status = ws_request(&mut ws, json!(5), "session.status", json!({})).await;
    assert_eq!(status["result"]["apiKey"], ED_KEY);

    let subscribed = ws_request(&mut ws, json!(6), "userDataStream.subscribe", json!({})).await;
    let sub_id = subscribed["result"]["subscriptionId"].clone();
    assert!(sub_id.is_u64(), "{subscribed}");
    let order = json!({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                       "quantity": "0.001", "price": "20000", "timestamp": now_ms()});
    let placed = ws_request(&mut ws, json!(7), "order.place", order).await;
    assert_eq!(placed["result"]["status"], "NEW", "{placed}");
    let report = next_matching(&mut ws, |v| v["event"]["e"] == "executionReport").await;
    assert_eq!(report["subscriptionId"], sub_id);

    let logout = ws_request(&mut ws, json!(8), "session.logout", json!({})).await;
    assert_eq!(logout["result"]["apiKey"], Value::Null, "{logout}");
    let ended = next_matching(&mut ws, |v| v["event"]["e"] == "eventStreamTerminated").await;
    assert_eq!(ended["subscriptionId"], sub_id);
    assert!(ended["event"]["E"].as_i64().unwrap() > 0);
    let unsigned = ws_request(
        &mut ws,
        json!(9),
        "openOrders.status",
        json!({"symbol": "BTCUSDT"}),
    )
    .await;
    assert_eq!(unsigned["status"], 400, "{unsigned}");
    let again = ws_request(&mut ws, json!(10), "userDataStream.subscribe", json!({})).await;
    assert_eq!(again["status"], 401, "{again}");
    sim.shutdown().await;
}

#[tokio::test]
async fn rest_accepts_ed25519_signatures() {
    let (sim, client) = start(ed_config()).await;
    let query = encode(&[("timestamp", &now_ms().to_string())]);
    let signature = encode(&[("signature", &sign_ed(&query))]);
    let url = format!("{}/api/v3/account?{query}&{signature}", client.base);
    let reply = client
        .http
        .get(url)
        .header("X-MBX-APIKEY", ED_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let forged = format!(
        "{}/api/v3/account?{query}&{}",
        client.base,
        encode(&[("signature", &sign_ed("timestamp=1"))])
    );
    let reply = client
        .http
        .get(forged)
        .header("X-MBX-APIKEY", ED_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 400);
    sim.shutdown().await;
}
