//! A signed REST client of the simulator's demo account that reads the venue's truth the way
//! any Binance client would (`allOrders`, `myTrades`) and sends bare orders, with no omsd code
//! in between, so the tests and the bench judge omsd against an independent view.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use rust_decimal::Decimal;
use serde_json::Value;
use sha2::Sha256;

/// Page size of `allOrders` and `myTrades` (the venue's maximum).
const PAGE: usize = 1000;

/// The demo account's signed REST client.
#[derive(Clone)]
pub struct SignedVenue {
    http: reqwest::Client,
    base: String,
    key: String,
    secret: String,
}

/// One order as `allOrders` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueOrder {
    pub symbol: String,
    pub order_id: i64,
    pub client_order_id: String,
    /// The venue's status word (`NEW`, `FILLED`, ...).
    pub status: String,
    pub executed_qty: Decimal,
}

/// One of our trades as `myTrades` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueTrade {
    pub symbol: String,
    pub id: i64,
    pub order_id: i64,
    pub qty: Decimal,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn decimal(v: &Value, field: &str) -> Result<Decimal, String> {
    v[field]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{field} is not a decimal string in {v}"))
}

fn integer(v: &Value, field: &str) -> Result<i64, String> {
    v[field]
        .as_i64()
        .ok_or_else(|| format!("{field} is not an integer in {v}"))
}

impl SignedVenue {
    /// A client of the demo account of `sim` (keep-alive connections are reused).
    pub fn for_sim(sim: &exchange_sim::SimHandle) -> SignedVenue {
        SignedVenue::for_sim_from(sim, std::net::Ipv4Addr::LOCALHOST)
    }

    /// Like [`SignedVenue::for_sim`], sending from another loopback address: the venue meters
    /// request weight per IP, so a checker on 127.0.0.2 does not spend the daemon's budget.
    pub fn for_sim_from(sim: &exchange_sim::SimHandle, source: std::net::Ipv4Addr) -> SignedVenue {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .local_address(std::net::IpAddr::V4(source))
            .build()
            .expect("http client");
        SignedVenue {
            http,
            base: sim.rest_url(),
            key: sim.api_key().to_string(),
            secret: sim.api_secret().to_string(),
        }
    }

    /// Sends a signed request: every parameter, `timestamp` and `signature` in the query string.
    /// Parameter values must be URL-safe as they are (symbols, numbers, client order ids).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<(u16, Value), String> {
        let mut query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        query.push(format!("timestamp={}", now_ms()));
        let query = query.join("&");
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.secret.as_bytes()).map_err(|e| e.to_string())?;
        mac.update(query.as_bytes());
        let signature = hex::encode(mac.finalize().into_bytes());
        let url = format!("{}{path}?{query}&signature={signature}", self.base);
        let resp = self
            .http
            .request(method, url)
            .header("X-MBX-APIKEY", &self.key)
            .send()
            .await
            .map_err(|e| format!("{path}: {e}"))?;
        let status = resp.status().as_u16();
        let body = resp.json().await.map_err(|e| format!("{path}: {e}"))?;
        Ok((status, body))
    }

    async fn get_list(&self, path: &str, params: &[(&str, String)]) -> Result<Vec<Value>, String> {
        let (status, body) = self.send(reqwest::Method::GET, path, params).await?;
        match body {
            Value::Array(list) if status == 200 => Ok(list),
            other => Err(format!("{path} answered {status}: {other}")),
        }
    }

    /// Every order of ours on `symbol` with venue order id >= `from_id`, ascending (paged).
    pub async fn all_orders(&self, symbol: &str, from_id: i64) -> Result<Vec<VenueOrder>, String> {
        let mut out = Vec::new();
        let mut from = from_id;
        loop {
            let page = self
                .get_list(
                    "/api/v3/allOrders",
                    &[
                        ("symbol", symbol.to_string()),
                        ("orderId", from.to_string()),
                        ("limit", PAGE.to_string()),
                    ],
                )
                .await?;
            let n = page.len();
            for o in page {
                out.push(VenueOrder {
                    symbol: symbol.to_string(),
                    order_id: integer(&o, "orderId")?,
                    client_order_id: o["clientOrderId"].as_str().unwrap_or_default().to_string(),
                    status: o["status"].as_str().unwrap_or_default().to_string(),
                    executed_qty: decimal(&o, "executedQty")?,
                });
            }
            match out.last() {
                Some(last) if n == PAGE => from = last.order_id + 1,
                _ => return Ok(out),
            }
        }
    }

    /// Every trade of ours on `symbol` with trade id >= `from_id`, ascending (paged).
    pub async fn my_trades(&self, symbol: &str, from_id: i64) -> Result<Vec<VenueTrade>, String> {
        let mut out: Vec<VenueTrade> = Vec::new();
        let mut from = from_id;
        loop {
            let page = self
                .get_list(
                    "/api/v3/myTrades",
                    &[
                        ("symbol", symbol.to_string()),
                        ("fromId", from.to_string()),
                        ("limit", PAGE.to_string()),
                    ],
                )
                .await?;
            let n = page.len();
            let before = out.len();
            for t in page {
                let trade = VenueTrade {
                    symbol: symbol.to_string(),
                    id: integer(&t, "id")?,
                    order_id: integer(&t, "orderId")?,
                    qty: decimal(&t, "qty")?,
                };
                // Pages restart at the last trade id seen (both sides of a trade between two
                // of our orders share it), so drop the repeated rows.
                if !out
                    .iter()
                    .rev()
                    .take_while(|o| o.id == trade.id)
                    .any(|o| o.order_id == trade.order_id)
                {
                    out.push(trade);
                }
            }
            match out.last() {
                Some(last) if n == PAGE && out.len() > before => from = last.id,
                _ => return Ok(out),
            }
        }
    }
}

/// The venue's orders and trades of the demo account, refreshed incrementally: trades never
/// change once made, and orders below the oldest open one are final.
#[derive(Debug, Default)]
pub struct VenueTruth {
    /// By (symbol, venue order id).
    pub orders: BTreeMap<(String, i64), VenueOrder>,
    /// By (symbol, trade id, venue order id): both sides of a trade between two of our orders.
    pub trades: BTreeMap<(String, i64, i64), VenueTrade>,
}

/// Whether a venue status word is final.
pub fn is_final(status: &str) -> bool {
    matches!(
        status,
        "FILLED" | "CANCELED" | "REJECTED" | "EXPIRED" | "EXPIRED_IN_MATCH"
    )
}

impl VenueTruth {
    /// Reads what changed since the last refresh on each symbol.
    pub async fn refresh(&mut self, venue: &SignedVenue, symbols: &[&str]) -> Result<(), String> {
        for &symbol in symbols {
            let mine = || self.orders.values().filter(move |o| o.symbol == symbol);
            let oldest_open = mine()
                .filter(|o| !is_final(&o.status))
                .map(|o| o.order_id)
                .min();
            let next = mine().map(|o| o.order_id + 1).max().unwrap_or(0);
            let from = oldest_open.map_or(next, |open| open.min(next));
            for order in venue.all_orders(symbol, from).await? {
                self.orders
                    .insert((symbol.to_string(), order.order_id), order);
            }
            let next_trade = self
                .trades
                .values()
                .filter(|t| t.symbol == symbol)
                .map(|t| t.id)
                .max()
                .unwrap_or(0);
            for trade in venue.my_trades(symbol, next_trade).await? {
                self.trades
                    .insert((symbol.to_string(), trade.id, trade.order_id), trade);
            }
        }
        Ok(())
    }

    /// Trades of one venue order.
    pub fn trades_of(&self, symbol: &str, order_id: i64) -> Vec<&VenueTrade> {
        self.trades
            .values()
            .filter(|t| t.symbol == symbol && t.order_id == order_id)
            .collect()
    }
}
