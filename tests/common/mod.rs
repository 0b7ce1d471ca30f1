//! Shared harness of the end-to-end tests: a real `omsd-sim` server and a real omsd daemon
//! talking over loopback sockets, on SQLite or on a throwaway PostgreSQL database.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use omsd::app::App;
use omsd::config::Config;
use serde_json::{Value, json};

pub mod consistency;
pub mod daemon;
pub mod sse;
pub mod store_view;
pub mod venue;
pub mod venue_state;
pub mod workload;

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    /// A TimescaleDB-enabled server (`OMSD_TIMESCALE_DATABASE_URL`), one schema per test,
    /// one connection (the harness serves one at a time).
    Timescale,
}

/// A simulator and a daemon wired together, with an HTTP client for the control port.
pub struct Stack {
    pub sim: exchange_sim::SimHandle,
    pub app: Option<App>,
    pub config: Config,
    pub http: reqwest::Client,
    pub store_url: String,
    _dir: tempdir::TempDir,
}

pub mod tempdir {
    //! A temporary directory removed on drop.
    use std::path::{Path, PathBuf};

    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new(prefix: &str) -> TempDir {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            let path =
                std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&path).expect("create temp dir");
            TempDir(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The PostgreSQL server URL for tests, or `None` to skip (outside CI only).
pub fn postgres_server_url() -> Option<String> {
    match std::env::var("OMSD_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!(
                "CI is set but OMSD_TEST_DATABASE_URL is not: run the suite with scripts/test.sh"
            )
        }
        _ => {
            eprintln!("skipping: OMSD_TEST_DATABASE_URL is not set (scripts/test.sh sets it)");
            None
        }
    }
}

/// The TimescaleDB server URL for tests, or `None` to skip (outside CI only).
pub fn timescale_server_url() -> Option<String> {
    match std::env::var("OMSD_TIMESCALE_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!(
                "CI is set but OMSD_TIMESCALE_DATABASE_URL is not: run the suite with scripts/test.sh"
            )
        }
        _ => {
            eprintln!("skipping: OMSD_TIMESCALE_DATABASE_URL is not set (scripts/test.sh sets it)");
            None
        }
    }
}

/// Runs `CREATE <kind> <fresh name>` on the server at `server_url` and answers the name.
async fn create_fresh(server_url: &str, kind: &str) -> String {
    use sqlx::Connection;
    let name = format!(
        "omsd_e2e_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let mut conn = sqlx::PgConnection::connect(server_url)
        .await
        .expect("connect to the test server");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE {kind} {name}")))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("create {kind}: {e}"));
    conn.close().await.expect("disconnect");
    name
}

/// Creates a fresh schema on the TimescaleDB test server and returns a URL whose connections
/// use it (the extension's functions stay reachable in `public`).
pub async fn fresh_timescale_schema(server_url: &str) -> String {
    let name = create_fresh(server_url, "SCHEMA").await;
    let sep = if server_url.contains('?') { '&' } else { '?' };
    format!("{server_url}{sep}options=-csearch_path%3D{name}%2Cpublic")
}

/// Creates a fresh database on the test server and returns its URL.
pub async fn fresh_postgres_database(server_url: &str) -> String {
    let name = create_fresh(server_url, "DATABASE").await;
    let (base, _) = server_url
        .rsplit_once('/')
        .expect("server url has a database path");
    format!("{base}/{name}")
}

fn config_for(sim: &exchange_sim::SimHandle, store_url: &str) -> Config {
    let text = format!(
        r#"
        control = {{ listen = "127.0.0.1:0" }}
        metrics = {{ enabled = false }}
        store = {{ url = "{store_url}" }}
        oms = {{ request_timeout_ms = 3000, submit_wait_ms = 3000 }}
        [[venues]]
        name = "binance"
        kind = "binance"
        rest_url = "{rest}"
        stream_url = "{stream}"
        ws_api_url = "{ws_api}"
        credentials = "sim-demo"
        symbols = ["BTC-USDT", "ETH-USDT"]
        [venues.risk]
        # Wide enough for the tests' resting and crossing prices (up to 10 % from the book).
        price_band_pct = "20"
        "#,
        rest = sim.rest_url(),
        stream = sim.stream_url(),
        ws_api = sim.ws_api_url(),
    );
    let config = Config::from_toml(&text).expect("test config parses");
    config.validate().expect("test config is valid");
    config
}

/// The daemon configuration the tests use for an in-process daemon pointing at `sim`.
pub fn app_config(sim: &exchange_sim::SimHandle, store_url: &str) -> Config {
    config_for(sim, store_url)
}

impl Stack {
    /// Starts a simulator and a daemon on `backend`; `None` when PostgreSQL is not available
    /// outside CI.
    pub async fn start(backend: Backend) -> Option<Stack> {
        Stack::start_with(backend, exchange_sim::SimConfig::demo(), |_| {}).await
    }

    /// A simulator and a daemon on a fresh database of the PostgreSQL server at `server_url`.
    pub async fn start_on_server(server_url: &str) -> Option<Stack> {
        let store_url = fresh_postgres_database(server_url).await;
        Stack::start_at(
            store_url,
            tempdir::TempDir::new("omsd-e2e"),
            exchange_sim::SimConfig::demo(),
            |_| {},
        )
        .await
    }

    /// Like [`Stack::start`], with a simulator configuration and a daemon config tweak.
    pub async fn start_with(
        backend: Backend,
        sim_config: exchange_sim::SimConfig,
        tweak: impl FnOnce(&mut Config),
    ) -> Option<Stack> {
        let dir = tempdir::TempDir::new("omsd-e2e");
        let store_url = match backend {
            Backend::Sqlite => format!("sqlite:{}", dir.path().join("omsd.db").display()),
            Backend::Postgres => fresh_postgres_database(&postgres_server_url()?).await,
            Backend::Timescale => fresh_timescale_schema(&timescale_server_url()?).await,
        };
        let one_connection = backend == Backend::Timescale;
        let tweak = move |config: &mut Config| {
            if one_connection {
                config.store.max_connections = Some(1);
            }
            tweak(config);
        };
        Stack::start_at(store_url, dir, sim_config, tweak).await
    }

    async fn start_at(
        store_url: String,
        dir: tempdir::TempDir,
        sim_config: exchange_sim::SimConfig,
        tweak: impl FnOnce(&mut Config),
    ) -> Option<Stack> {
        let sim = exchange_sim::start(sim_config)
            .await
            .expect("simulator starts");
        let mut config = config_for(&sim, &store_url);
        tweak(&mut config);
        let app = App::start(config.clone()).await.expect("omsd starts");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("http client");
        Some(Stack {
            sim,
            app: Some(app),
            config,
            http,
            store_url,
            _dir: dir,
        })
    }

    fn app(&self) -> &App {
        self.app.as_ref().expect("daemon running")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.app().control_addr())
    }

    /// Stops the daemon and starts it again on the same store and simulator.
    pub async fn restart(&mut self) {
        if let Some(app) = self.app.take() {
            app.stop().await;
        }
        self.app = Some(
            App::start(self.config.clone())
                .await
                .expect("omsd restarts"),
        );
    }

    pub async fn stop(mut self) {
        if let Some(app) = self.app.take() {
            app.stop().await;
        }
        self.sim.shutdown().await;
    }

    /// Posts an order; returns the HTTP status and the JSON body.
    pub async fn post_order(&self, key: Option<&str>, body: &Value) -> (u16, Value) {
        let mut req = self.http.post(self.url("/v1/orders")).json(body);
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        let resp = req.send().await.expect("control port answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("JSON body"))
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(self.url(path))
            .send()
            .await
            .expect("control port answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("JSON body"))
    }

    pub async fn patch_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let resp = self
            .http
            .patch(self.url(path))
            .json(body)
            .send()
            .await
            .expect("control port answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("JSON body"))
    }

    pub async fn delete_json(&self, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .delete(self.url(path))
            .send()
            .await
            .expect("control port answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("JSON body"))
    }

    /// The best ask of BTC-USDT once the daemon's book is in sync.
    pub async fn best_ask(&self) -> rust_decimal::Decimal {
        let book = poll(Duration::from_secs(10), || async {
            let (status, book) = self.get_json("/v1/books/binance/BTC-USDT?depth=5").await;
            (status == 200 && book["in_sync"] == json!(true) && book["asks"][0].is_object())
                .then_some(book)
        })
        .await
        .expect("book in sync within 10 s");
        book["asks"][0]["price"]
            .as_str()
            .expect("price string")
            .parse()
            .expect("decimal")
    }

    /// Injects a simulator fault given as `{"fault": NAME, "params": {...}}`.
    pub fn inject(&self, spec: Value) -> exchange_sim::FaultId {
        let spec: exchange_sim::FaultSpec = serde_json::from_value(spec).expect("fault spec");
        self.sim.faults().inject(spec).expect("fault accepted")
    }

    /// A second client of the simulator's demo account, to read the venue's truth.
    pub fn venue_client(&self) -> exchange_binance::BinanceExchange {
        let config = exchange_binance::BinanceConfig::new(
            "binance",
            self.sim.rest_url(),
            self.sim.stream_url(),
            self.sim.ws_api_url(),
            self.sim.api_key(),
            exchange_binance::ApiSecret::new(self.sim.api_secret()),
        );
        exchange_binance::BinanceExchange::new(config).expect("venue client")
    }

    /// The daemon's view of one book of the `binance` venue (from `/v1/venues`).
    pub async fn book_status(&self, venue_symbol: &str) -> Value {
        let (_, venues) = self.get_json("/v1/venues").await;
        venues[0]["books"]
            .as_array()
            .and_then(|books| {
                books
                    .iter()
                    .find(|b| b["venue_symbol"] == venue_symbol)
                    .cloned()
            })
            .unwrap_or(Value::Null)
    }

    /// Asserts that every order the daemon knows has the venue's status, filled quantity and
    /// exactly the venue's fills (by trade id).
    pub async fn assert_orders_match_venue(&self) {
        use exchange_core::Exchange;
        let venue = self.venue_client();
        let (_, orders) = self.get_json("/v1/orders?limit=1000").await;
        for order in orders.as_array().expect("order list") {
            let coid = order["client_order_id"].as_str().expect("client order id");
            let truth = match venue.query_order("BTCUSDT", coid).await {
                Ok(truth) => truth,
                Err(exchange_core::ExchangeError::NotFound { .. }) => {
                    // Never accepted by the venue: refused locally or by the venue.
                    assert_eq!(
                        order["status"],
                        json!("rejected"),
                        "{coid} is not on the venue: {order}"
                    );
                    assert_eq!(order["filled_quantity"], json!("0"), "{order}");
                    continue;
                }
                Err(e) => panic!("venue query of {coid} failed: {e}"),
            };
            assert_eq!(
                order["status"],
                json!(truth.status),
                "status of {coid}: {order}"
            );
            let filled: rust_decimal::Decimal =
                order["filled_quantity"].as_str().unwrap().parse().unwrap();
            assert_eq!(filled, truth.filled_quantity, "filled quantity of {coid}");
            let venue_fills = venue
                .order_fills("BTCUSDT", &truth.venue_order_id)
                .await
                .unwrap();
            let mut want: Vec<String> = venue_fills.into_iter().map(|f| f.trade_id).collect();
            let mut got: Vec<String> = order["fills"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["trade_id"].as_str().unwrap().to_string())
                .collect();
            want.sort();
            got.sort();
            assert_eq!(got, want, "fills of {coid}");
        }
    }

    /// Orders the simulator received from the demo account.
    pub fn sim_orders_received(&self) -> u64 {
        self.sim.stats().orders_received
    }
}

/// Polls `check` until it returns `Some`, or `None` after `deadline`.
pub async fn poll<T, F, Fut>(deadline: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A crossing limit buy for 0.001 BTC at `price`.
pub fn crossing_buy(price: rust_decimal::Decimal) -> Value {
    json!({
        "venue": "binance",
        "symbol": "BTC-USDT",
        "side": "buy",
        "type": "limit",
        "quantity": "0.001",
        "price": price.to_string(),
        "time_in_force": "gtc",
    })
}

pub fn sqlite_path(store_url: &str) -> PathBuf {
    PathBuf::from(store_url.trim_start_matches("sqlite:"))
}

/// The demo simulator with `n` symbols: BTC-USDT, ETH-USDT and `n - 2` more like ETH-USDT
/// (`C01-USDT`, ...), each at its own price; with the canonical symbols, in that order.
pub fn sim_with_symbols(n: usize) -> (exchange_sim::SimConfig, Vec<String>) {
    let mut sim_config = exchange_sim::SimConfig::demo();
    let template = sim_config.symbols[1].clone();
    let mut symbols = vec!["BTC-USDT".to_string(), "ETH-USDT".to_string()];
    for i in 1..=n.saturating_sub(2) {
        let base = format!("C{i:02}");
        let mut symbol = template.clone();
        symbol.symbol = format!("{base}USDT");
        symbol.base_asset = base.clone();
        symbol.initial_mid = rust_decimal::Decimal::from(1000 + 10 * i as i64);
        sim_config.symbols.push(symbol);
        symbols.push(format!("{base}-USDT"));
    }
    (sim_config, symbols)
}

/// The sum of a counter's series in a Prometheus scrape, over the series whose labels contain
/// `label` (every series with `""`).
pub fn counter_sum(scrape: &str, name: &str, label: &str) -> f64 {
    scrape
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
