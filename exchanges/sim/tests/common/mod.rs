//! Shared helpers for the socket-level tests: start a simulator on 127.0.0.1:0, sign REST and
//! WebSocket API requests the way clients do (computed here, independently of the simulator),
//! and read WebSocket frames with deadlines.

#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use exchange_sim::{SimConfig, SimHandle};
use futures_util::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use rust_decimal::Decimal;
use serde_json::Value;
use sha2::Sha256;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long any single wait on the simulator may take.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Demo config on an ephemeral port.
pub fn config() -> SimConfig {
    SimConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..SimConfig::demo()
    }
}

/// Demo config with a still mid (the taker agent still trades), so a crossing order placed at
/// the best ask plus a few ticks is certain to find the maker's quote.
pub fn calm_config() -> SimConfig {
    let mut config = config();
    for symbol in &mut config.symbols {
        symbol.volatility_ticks = 0;
    }
    config
}

pub async fn start(config: SimConfig) -> (SimHandle, Client) {
    let sim = exchange_sim::start(config).await.expect("simulator starts");
    let client = Client {
        http: reqwest::Client::new(),
        base: sim.rest_url(),
        key: sim.api_key().to_owned(),
        secret: sim.api_secret().to_owned(),
    };
    (sim, client)
}

/// Sleeps until just after the next minute starts (a new weight window).
pub async fn sleep_into_next_minute() {
    let into_minute = now_ms().rem_euclid(60_000) as u64;
    tokio::time::sleep(Duration::from_millis(60_000 - into_minute + 100)).await;
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

pub fn hmac_hex(secret: &str, payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(payload.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A response: status, headers and the JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// Asserts a venue error body and returns it for further checks.
    pub fn expect_error(&self, status: u16, code: i64, msg: &str) {
        assert_eq!(self.status.as_u16(), status, "{self:?}");
        assert_eq!(self.body["code"], code, "{self:?}");
        assert_eq!(self.body["msg"], msg, "{self:?}");
        let content_type = self.headers["content-type"].to_str().unwrap();
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
    }

    pub fn ok(&self) -> &Value {
        assert_eq!(self.status, StatusCode::OK, "{self:?}");
        &self.body
    }
}

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub key: String,
    pub secret: String,
}

pub fn encode(params: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(params).unwrap()
}

/// The params of a limit buy, in the order clients send them.
pub fn limit_buy<'a>(
    symbol: &'a str,
    time_in_force: &'a str,
    quantity: &'a str,
    price: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("symbol", symbol),
        ("side", "BUY"),
        ("type", "LIMIT"),
        ("timeInForce", time_in_force),
        ("quantity", quantity),
        ("price", price),
    ]
}

impl Client {
    pub async fn public(&self, path: &str, params: &[(&str, &str)]) -> Reply {
        let url = format!("{}{path}?{}", self.base, encode(params));
        self.send(self.http.get(url)).await
    }

    /// A signed request with every parameter in the query string (binance-connector style).
    pub async fn signed(
        &self,
        method: reqwest::Method,
        path: &str,
        params: &[(&str, &str)],
    ) -> Reply {
        self.send(self.signed_request(method, path, params)).await
    }

    /// A signed request, not yet sent: every parameter, `timestamp` (now) and `signature` in
    /// the query string, the key in `X-MBX-APIKEY`.
    pub fn signed_request(
        &self,
        method: reqwest::Method,
        path: &str,
        params: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        let ts = now_ms().to_string();
        let mut all = params.to_vec();
        all.push(("timestamp", &ts));
        let query = encode(&all);
        let signature = hmac_hex(&self.secret, &query);
        let url = format!("{}{path}?{query}&signature={signature}", self.base);
        self.http
            .request(method, url)
            .header("X-MBX-APIKEY", &self.key)
    }

    /// A raw request: exact query and body, API key header optional.
    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &str,
        body: &str,
        key: Option<&str>,
    ) -> Reply {
        let mut request = self
            .http
            .request(method, format!("{}{path}?{query}", self.base));
        if let Some(key) = key {
            request = request.header("X-MBX-APIKEY", key);
        }
        if !body.is_empty() {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_owned());
        }
        self.send(request).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = tokio::time::timeout(DEADLINE, request.send())
            .await
            .unwrap()
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Best bid and ask from REST depth.
    pub async fn best(&self, symbol: &str) -> (Decimal, Decimal) {
        let depth = self
            .public("/api/v3/depth", &[("symbol", symbol), ("limit", "5")])
            .await;
        let bid = depth.body["bids"][0][0].as_str().unwrap().parse().unwrap();
        let ask = depth.body["asks"][0][0].as_str().unwrap().parse().unwrap();
        (bid, ask)
    }

    pub async fn place(&self, params: &[(&str, &str)]) -> Reply {
        self.signed(reqwest::Method::POST, "/api/v3/order", params)
            .await
    }

    /// Takes the best BTCUSDT ask (an IOC buy of 0.002 a little above it), so there is a user
    /// trade on the tape; returns the accepted order's response.
    pub async fn take_best_ask(&self) -> Value {
        let (_, ask) = self.best("BTCUSDT").await;
        let price = (ask + rust_decimal_macros::dec!(0.05)).to_string();
        let order = limit_buy("BTCUSDT", "IOC", "0.002", &price);
        self.place(&order).await.ok().clone()
    }

    /// A legacy `/api/v3/userDataStream` request with the API key and `query`.
    pub async fn listen_key_request(&self, method: reqwest::Method, query: &str) -> Reply {
        self.raw(method, "/api/v3/userDataStream", query, "", Some(&self.key))
            .await
    }
}

pub async fn connect(url: &str) -> Ws {
    let (ws, _) = tokio::time::timeout(DEADLINE, connect_async(url))
        .await
        .unwrap()
        .unwrap();
    ws
}

pub async fn send_json(ws: &mut Ws, value: &Value) {
    ws.send(Message::text(value.to_string())).await.unwrap();
}

/// The next text frame as JSON (pings and pongs skipped).
pub async fn next_json(ws: &mut Ws) -> Value {
    tokio::time::timeout(DEADLINE, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    })
    .await
    .expect("a frame before the deadline")
}

/// Reads frames until one satisfies `pred`, with a deadline.
pub async fn next_matching(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> Value {
    tokio::time::timeout(DEADLINE, async {
        loop {
            let value = next_json(ws).await;
            if pred(&value) {
                return value;
            }
        }
    })
    .await
    .expect("a matching frame before the deadline")
}

/// Signs WebSocket API params the way clients do: adds `apiKey` and `timestamp`, then HMACs
/// every param but `signature`, sorted by name, as `k=v&...`.
pub fn sign_ws(mut params: Value, key: &str, secret: &str) -> Value {
    let map = params.as_object_mut().unwrap();
    map.insert("apiKey".into(), Value::String(key.into()));
    map.insert("timestamp".into(), Value::from(now_ms()));
    let signature = hmac_hex(secret, &ws_sign_payload(map));
    map.insert("signature".into(), Value::String(signature));
    params
}

/// What a WebSocket API signature covers: every param, sorted by name, as `k=v&...`.
pub fn ws_sign_payload(map: &serde_json::Map<String, Value>) -> String {
    let mut pairs: Vec<(String, String)> = map
        .iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect();
    pairs.sort();
    let payload: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    payload.join("&")
}

/// Sends one WebSocket API request and waits for its response (events skipped).
pub async fn ws_request(ws: &mut Ws, id: Value, method: &str, params: Value) -> Value {
    let request = serde_json::json!({ "id": id, "method": method, "params": params });
    send_json(ws, &request).await;
    next_matching(ws, |v| v.get("status").is_some() && v["id"] == id).await
}

/// Waits until the server closes the socket (a close frame or the end of the stream), with a
/// deadline; data frames before it are skipped.
pub async fn expect_close(ws: &mut Ws) {
    tokio::time::timeout(DEADLINE, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await
    .expect("the server closes the connection before the deadline")
}

/// The `X-MBX-USED-WEIGHT-1M` header as a number.
pub fn used_weight(reply: &Reply) -> u64 {
    reply.headers["x-mbx-used-weight-1m"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Sending raw text frames (malformed requests).
pub trait SendText {
    async fn send_text(&mut self, text: &str);
}

impl SendText for Ws {
    async fn send_text(&mut self, text: &str) {
        self.send(Message::text(text.to_owned())).await.unwrap();
    }
}
