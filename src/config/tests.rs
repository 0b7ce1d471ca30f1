//! Unit tests of configuration loading, environment overrides and validation.

use super::*;

#[test]
fn shipped_configs_are_valid() {
    for file in [
        "config/default.toml",
        "config/sim-standalone.toml",
        "config/compose.toml",
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let config = Config::from_toml(&text).unwrap();
        config.validate().unwrap_or_else(|e| panic!("{file}: {e}"));
        // Every shipped configuration documents the risk limits it runs with.
        for venue in &config.venues {
            let risk = &venue.risk;
            assert!(risk.max_order_notional.is_some(), "{file}: {}", venue.name);
            assert!(risk.max_open_orders.is_some(), "{file}: {}", venue.name);
            assert!(risk.order_rate.is_some(), "{file}: {}", venue.name);
            assert!(!risk.max_position.is_empty(), "{file}: {}", venue.name);
        }
    }
}

#[test]
fn validate_reports_every_problem() {
    let config = Config::from_toml(
        r#"
        log = { format = "xml" }
        store = { url = "mysql://x" }
        [[venues]]
        name = "b"
        kind = "kraken"
        symbols = ["BTCUSDT"]
        credentials = "env"
        tuning = { rate_limit_margin = 1.5, pong_timeout_ms = 0, ping_interval_ms = 100, clock_samples = 11, connect_budget = 0, connect_window_ms = 0, reconnect_min_healthy_ms = 0, clock_resync_interval_ms = 0 }
        "#,
    )
    .unwrap();
    let err = config.validate().unwrap_err();
    let text = err.to_string();
    for needle in [
        "log.format",
        "store.url",
        "unknown kind",
        "rest_url",
        "api_key_env",
        "BTCUSDT",
        "rate_limit_margin",
        "pong_timeout_ms",
        "ping_interval_ms",
        "clock_samples",
        "tuning counts",
        "connect_window_ms",
        "reconnect_min_healthy_ms",
        "clock_resync_interval_ms",
    ] {
        assert!(text.contains(needle), "missing '{needle}' in {text}");
    }
    assert!(err.0.len() >= 7, "{err}");
}

#[test]
fn unknown_fields_are_refused() {
    assert!(Config::from_toml("[control]\nlisten = \"127.0.0.1:1\"\nport = 3\n").is_err());
}

#[test]
fn env_overrides() {
    let mut config = Config::from_toml(
        "[[venues]]\nname = \"bin-1\"\nkind = \"binance\"\nsymbols = [\"BTC-USDT\"]\n",
    )
    .unwrap();
    let env = |k: &str| match k {
        "OMSD_CONTROL_LISTEN" => Some("127.0.0.1:9000".to_string()),
        "OMSD_STORE_URL" => Some("postgres://db/omsd".to_string()),
        "OMSD_VENUE_BIN_1_REST_URL" => Some("http://127.0.0.1:1".to_string()),
        _ => None,
    };
    config.apply_env(env).unwrap();
    assert_eq!(config.control.listen.port(), 9000);
    assert_eq!(config.store.url, "postgres://db/omsd");
    assert_eq!(
        config.venues[0].rest_url.as_deref(),
        Some("http://127.0.0.1:1")
    );
    let bad = |k: &str| (k == "OMSD_METRICS_LISTEN").then(|| "nope".to_string());
    assert!(config.apply_env(bad).is_err());
}

#[test]
fn snapshot_sampling_resolves_instrument_then_venue_then_default() {
    let config = Config::from_toml(
        r#"
        market_data = { snapshots = { depth = 5, interval_ms = 2000 } }
        [[venues]]
        name = "b"
        kind = "binance"
        embedded_sim = true
        symbols = ["BTC-USDT", "ETH-USDT", "SOL-USDT"]
        snapshots = { interval_ms = 500, instruments = { "ETH-USDT" = { depth = 20 }, "SOL-USDT" = { interval_ms = 0 } } }
        "#,
    )
    .unwrap();
    config.validate().unwrap();
    let (defaults, venue) = (&config.market_data.snapshots, &config.venues[0].snapshots);
    let got: Vec<_> = ["BTC-USDT", "ETH-USDT", "SOL-USDT"]
        .iter()
        .map(|s| venue.resolve(defaults, s).map(|c| (c.depth, c.interval_ms)))
        .collect();
    assert_eq!(got, [Some((5, 500)), Some((20, 500)), None]);
}

#[test]
fn bad_market_data_settings_are_reported() {
    let config = Config::from_toml(
        r#"
        market_data = { queue = 0, flush_interval_ms = 0, snapshots = { depth = 0, interval_ms = 50 } }
        [[venues]]
        name = "b"
        kind = "binance"
        embedded_sim = true
        symbols = ["BTC-USDT"]
        snapshots = { instruments = { "XRP-USDT" = { depth = 500 } } }
        "#,
    )
    .unwrap();
    let problems = config.validate().unwrap_err().0;
    let want = [
        "market_data.queue and market_data.flush_rows must be positive",
        "market_data.flush_interval_ms must be positive",
        "market_data.snapshots: depth must be in 1..=100",
        "market_data.snapshots: interval_ms must be 0 (off) or at least 100",
        "venues[0] (b): snapshots.instruments.XRP-USDT is not in the venue's symbols",
        "venues[0] (b): snapshots.instruments.XRP-USDT: depth must be in 1..=100",
    ];
    for line in want {
        assert!(
            problems.iter().any(|p| p == line),
            "missing {line:?} in {problems:#?}"
        );
    }
}
