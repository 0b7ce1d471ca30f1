//! Done-means of the logs: omsd (the real binary) runs end to end against the simulator with
//! faults (dropped connections, 5xx on order sends, 429, a clock jump, a 418 ban) and JSON logs
//! at debug level, with API credentials of recognizable values; everything it logged is read
//! back and contains no API key, no secret, no request signature (every signature the
//! simulator accepted is recorded by it and searched for) and no control token.

mod common;

use std::time::Duration;

use common::daemon::{Daemon, free_port};
use common::poll;
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// Canary credentials: found anywhere in the logs, they leaked.
const API_KEY: &str = "omsdCanaryApiKey7Qx9Zr2Lm4Np8Tv1Wc";
const API_SECRET: &str = "omsdCanaryApiSecret3Hf6Jk1Wd5Ys0Bu9Pe";

/// Control-port tokens as `(name, scopes, secret)`; each is configured as
/// `[[control.tokens]]` with its secret in the environment, and requests use the first.
const CONTROL_TOKENS: &[(&str, &str, &str)] = &[];

/// The daemon configuration of the run: the shared child configuration with JSON logs at
/// debug level, credentials from the environment, short venue deadlines, and the tokens.
fn config(sim: &exchange_sim::SimHandle, dir: &std::path::Path, port: u16) -> String {
    let store = format!("sqlite:{}", dir.join("omsd.db").display());
    let mut text = common::daemon::child_config(sim, &store, port);
    for (from, to) in [
        (
            r#"log = { format = "human", level = "info" }"#,
            r#"log = { format = "json", level = "debug" }"#,
        ),
        (
            r#"credentials = "sim-demo""#,
            "credentials = \"env\"\napi_key_env = \"OMSD_CANARY_API_KEY\"\n\
             api_secret_env = \"OMSD_CANARY_API_SECRET\"\nrecv_window_ms = 1000",
        ),
    ] {
        assert!(text.contains(from), "child config has no {from}");
        text = text.replace(from, to);
    }
    text.push_str(
        "[venues.tuning]\nrequest_timeout_ms = 1000\nbreaker_failures = 3\nbreaker_open_delay_ms = 500\n",
    );
    let listen = format!(r#"control = {{ listen = "127.0.0.1:{port}" }}"#);
    assert!(text.contains(&listen), "child config has no {listen}");
    text.replace(&listen, &control_line(port, CONTROL_TOKENS))
}

/// The `control` table with `tokens` (inline, as the shared child configuration writes
/// `control` inline): each token's secret comes from `OMSD_CANARY_TOKEN_<i>`.
fn control_line(port: u16, tokens: &[(&str, &str, &str)]) -> String {
    let tokens: Vec<String> = tokens
        .iter()
        .enumerate()
        .map(|(i, (name, scopes, _))| {
            let scopes: Vec<_> = scopes.split(',').map(|s| format!("\"{s}\"")).collect();
            format!(
                r#"{{ name = "{name}", scopes = [{}], secret_env = "OMSD_CANARY_TOKEN_{i}" }}"#,
                scopes.join(", ")
            )
        })
        .collect();
    if tokens.is_empty() {
        format!(r#"control = {{ listen = "127.0.0.1:{port}" }}"#)
    } else {
        format!(
            r#"control = {{ listen = "127.0.0.1:{port}", tokens = [{}] }}"#,
            tokens.join(", ")
        )
    }
}

#[test]
fn control_tokens_are_written_as_valid_toml() {
    let line = control_line(
        8080,
        &[("desk", "read,trade", "s1"), ("ops", "admin", "s2")],
    );
    let table: toml::Table = line.parse().expect("valid TOML");
    let tokens = table["control"]["tokens"].as_array().expect("tokens");
    assert_eq!(tokens.len(), 2);
    assert_eq!(
        tokens[1]["secret_env"].as_str(),
        Some("OMSD_CANARY_TOKEN_1")
    );
    assert_eq!(tokens[0]["scopes"].as_array().map(Vec::len), Some(2));
}

/// A control-port client that sends the first configured token, if any.
struct Control {
    http: reqwest::Client,
    base: String,
}

impl Control {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match CONTROL_TOKENS.first() {
            Some((_, _, secret)) => request.bearer_auth(secret),
            None => request,
        }
    }

    async fn get(&self, path: &str) -> Option<Value> {
        let resp = self.request(reqwest::Method::GET, path).send().await.ok()?;
        resp.json().await.ok()
    }

    async fn order(&self, key: &str, price: Decimal) -> u16 {
        let body = common::crossing_buy(price);
        self.request(reqwest::Method::POST, "/v1/orders")
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_of_a_faulty_run_hold_no_credential_signature_or_token() {
    let mut sim_config = exchange_sim::SimConfig::demo();
    sim_config.api_key = API_KEY.to_owned();
    sim_config.api_secret = API_SECRET.to_owned();
    let sim = exchange_sim::start(sim_config).await.expect("simulator");
    let dir = common::tempdir::TempDir::new("omsd-secrets");
    let port = free_port();
    // The child gets the credentials from its environment, as in production.
    let mut env = vec![
        ("OMSD_CANARY_API_KEY".to_string(), API_KEY.to_string()),
        ("OMSD_CANARY_API_SECRET".to_string(), API_SECRET.to_string()),
    ];
    for (i, (_, _, secret)) in CONTROL_TOKENS.iter().enumerate() {
        env.push((format!("OMSD_CANARY_TOKEN_{i}"), secret.to_string()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut daemon = Daemon::spawn_env(dir.path(), config(&sim, dir.path(), port), port, &env);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    daemon
        .wait_ready(&http, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", common::daemon::log_tail(daemon.log_path(), 40)));
    let control = Control {
        http,
        base: daemon.base(),
    };
    let ask = poll(Duration::from_secs(10), || async {
        let book = control.get("/v1/books/binance/BTC-USDT?depth=1").await?;
        book["asks"][0]["price"].as_str()?.parse::<Decimal>().ok()
    })
    .await
    .expect("book in sync");
    let price = (ask * Decimal::new(101, 2)).round_dp(2);

    let faults = [
        json!({"fault": "drop_connections", "params": {"target": "all"}}),
        json!({"fault": "rest_errors", "params": {"status": 503, "rate": 0.5}}),
        json!({"fault": "force_429", "params": {"retry_after_s": 1}}),
        json!({"fault": "clock_skew", "params": {"offset_ms": 5000}}),
        json!({"fault": "force_418", "params": {"retry_after_s": 1}}),
    ];
    let mut submitted = 0;
    for (round, fault) in faults.into_iter().enumerate() {
        for i in 0..2 {
            submitted += u32::from(control.order(&format!("ok-{round}-{i}"), price).await == 201);
        }
        let spec: exchange_sim::FaultSpec = serde_json::from_value(fault).expect("fault spec");
        let id = sim.faults().inject(spec).expect("fault accepted");
        for i in 0..2 {
            control.order(&format!("fault-{round}-{i}"), price).await;
        }
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        sim.faults().clear(id);
    }
    // Once the venue is healthy again, orders go through.
    let resumed = poll(Duration::from_secs(15), || async {
        (control
            .order(&format!("after-{}", rand_suffix()), price)
            .await
            == 201)
            .then_some(())
    })
    .await;
    assert!(resumed.is_some(), "orders resume after the faults");
    let _ = control.get("/v1/orders?limit=100").await;
    let _ = control.get("/v1/venues").await;
    let log_path = daemon.log_path().to_path_buf();
    daemon.kill().await;

    let log = std::fs::read_to_string(&log_path).expect("omsd log");
    let json_lines = log.lines().filter(|l| l.starts_with('{')).count();
    assert!(json_lines > 50, "only {json_lines} JSON log lines:\n{log}");
    assert!(
        submitted >= 5,
        "only {submitted} orders accepted while healthy"
    );
    let stats = json!(sim.stats());
    for fault in [
        "drop_connections",
        "rest_errors",
        "force_429",
        "clock_skew",
        "force_418",
    ] {
        assert!(
            stats["faults"][fault]["triggered"].as_u64() > Some(0),
            "fault {fault} never met a request: {stats}"
        );
    }
    let signatures = sim.signatures_seen();
    assert!(
        signatures.len() >= 10,
        "the simulator accepted only {} signed requests",
        signatures.len()
    );
    let mut secrets: Vec<(String, String)> = vec![
        ("API key".into(), API_KEY.into()),
        ("API secret".into(), API_SECRET.into()),
    ];
    secrets.extend(
        signatures
            .into_iter()
            .map(|s| ("request signature".into(), s)),
    );
    for (name, _, secret) in CONTROL_TOKENS {
        secrets.push((format!("control token {name}"), secret.to_string()));
    }
    let lower = log.to_ascii_lowercase();
    let leaks: Vec<_> = secrets
        .iter()
        .filter(|(_, secret)| lower.contains(&secret.to_ascii_lowercase()))
        .map(|(what, secret)| format!("{what} {secret}"))
        .collect();
    assert!(leaks.is_empty(), "omsd logged secrets: {leaks:?}");
    sim.shutdown().await;
}

/// A suffix that differs between calls, for idempotency keys.
fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}
