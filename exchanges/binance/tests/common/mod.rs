//! Loopback mock venue shared by the adapter's tests: a scripted HTTP server (and one that
//! serves just `/api/v3/time` and `/api/v3/depth`), and a WebSocket server that hands each
//! connection to a script. Not every test file uses every helper.
#![allow(dead_code)]

pub mod sim;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use exchange_binance::{ApiSecret, BinanceConfig, BinanceExchange};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

pub const KEY: &str = "mock-key";
pub const SECRET: &str = "mock-secret";
pub const DEADLINE: Duration = Duration::from_secs(10);

/// The depth snapshots `/api/v3/depth` serves, in order (the last one repeats).
pub type Snapshots = Arc<Mutex<Vec<Value>>>;

/// One request as the mock server saw it (all our parameters travel in the query string).
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub at: tokio::time::Instant,
}

/// A scripted answer: status, extra headers, JSON body.
pub struct HttpReply(pub u16, pub Vec<(&'static str, String)>, pub String);

impl HttpReply {
    pub fn ok(body: impl ToString) -> Self {
        HttpReply(200, Vec::new(), body.to_string())
    }
}

/// An HTTP/1.1 server answering every request with `handler` (one request per connection).
pub async fn http_mock<H>(handler: H) -> String
where
    H: Fn(&HttpRequest) -> HttpReply + Send + Sync + 'static,
{
    let handler = Arc::new(handler);
    let listener = bind().await;
    let url = format!(
        "http://{}",
        listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default()
    );
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let handler = handler.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 2048];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let mut parts = head.split_whitespace();
                let method = parts.next().unwrap_or_default().to_owned();
                let target = parts.next().unwrap_or_default();
                let request = HttpRequest {
                    method,
                    path: target.split('?').next().unwrap_or_default().to_owned(),
                    at: tokio::time::Instant::now(),
                };
                let HttpReply(status, headers, body) = handler(&request);
                let mut response = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                for (name, value) in headers {
                    response.push_str(&format!("{name}: {value}\r\n"));
                }
                response.push_str("\r\n");
                response.push_str(&body);
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    url
}

/// The venue's clock and depth snapshots, nothing else.
pub async fn http_server(snapshots: Snapshots) -> String {
    http_mock(move |request| match request.path.as_str() {
        "/api/v3/time" => HttpReply::ok(json!({ "serverTime": now_ms() })),
        "/api/v3/depth" => {
            let mut list = snapshots.lock().unwrap_or_else(|e| e.into_inner());
            let next = if list.len() > 1 {
                list.remove(0)
            } else {
                list.first().cloned().unwrap_or_default()
            };
            HttpReply::ok(next)
        }
        _ => HttpReply::ok(json!({ "code": -1000, "msg": "not mocked" })),
    })
    .await
}

pub async fn bind() -> TcpListener {
    match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A WebSocket server handing each accepted connection to `script`, in order.
pub async fn ws_server<F, Fut>(script: F) -> String
where
    F: Fn(usize, tokio_tungstenite::WebSocketStream<TcpStream>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = bind().await;
    let url = format!(
        "ws://{}",
        listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default()
    );
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((socket, _)) = listener.accept().await {
            if let Ok(ws) = tokio_tungstenite::accept_async(socket).await {
                tokio::spawn(script(n, ws));
                n += 1;
            }
        }
    });
    url
}

pub fn config(rest_url: &str, ws_url: &str) -> BinanceConfig {
    BinanceConfig::new(
        "mock",
        rest_url,
        ws_url,
        format!("{ws_url}/ws-api/v3"),
        KEY,
        ApiSecret::new(SECRET),
    )
}

/// A configuration for the simulator's demo account.
pub fn sim_config(sim: &exchange_sim::SimHandle) -> BinanceConfig {
    BinanceConfig::new(
        "sim",
        sim.rest_url(),
        sim.stream_url(),
        sim.ws_api_url(),
        sim.api_key(),
        ApiSecret::new(sim.api_secret()),
    )
}

pub fn adapter(rest_url: &str, ws_url: &str) -> BinanceExchange {
    adapter_with(config(rest_url, ws_url))
}

pub fn adapter_with(config: BinanceConfig) -> BinanceExchange {
    match BinanceExchange::new(config) {
        Ok(ex) => ex,
        Err(e) => panic!("adapter: {e}"),
    }
}

pub async fn recv<T>(rx: &mut mpsc::Receiver<T>) -> T {
    match tokio::time::timeout(DEADLINE, rx.recv()).await {
        Ok(Some(v)) => v,
        Ok(None) => panic!("stream ended"),
        Err(_) => panic!("no event within {DEADLINE:?}"),
    }
}

pub fn fixture(text: &str) -> String {
    text.to_owned()
}

/// Checks the subscription like the venue: sorted params without `signature`, HMAC-SHA256.
pub fn subscription_is_valid(request: &Value) -> bool {
    let params = &request["params"];
    let payload = format!(
        "apiKey={}&recvWindow={}&timestamp={}",
        params["apiKey"].as_str().unwrap_or_default(),
        params["recvWindow"],
        params["timestamp"]
    );
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()) else {
        return false;
    };
    mac.update(payload.as_bytes());
    request["method"] == "userDataStream.subscribe.signature"
        && params["apiKey"] == KEY
        && params["signature"].as_str() == Some(hex::encode(mac.finalize().into_bytes()).as_str())
}
