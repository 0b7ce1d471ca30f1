//! Done-means of the metrics: a real Prometheus (Debian package, installed when missing)
//! scrapes omsd running against the simulator with orders filled, loads the real rules file
//! and evaluates every dashboard query and every rule without error; the panels a running
//! system with orders must show have data; an order whose send is answered 503 is seen entering
//! and leaving `unknown`; and a real 418 ban from the venue makes `OmsdVenueBanned` fire.

mod common;
mod ops;

use std::time::Duration;

use common::{Backend, Stack, crossing_buy, daemon::free_port, poll};
use ops::{assets, prometheus};
use rust_decimal::Decimal;
use serde_json::json;

/// Scrape and evaluation interval of the test server: short, so that rates have samples and
/// alerts are evaluated within seconds.
const INTERVAL: &str = "1s";
/// The window that replaces `$__rate_interval` and `$__range` in dashboard queries.
const WINDOW: &str = "1m";

/// Panels that must have data on a running daemon with filled orders: their series are set at
/// start (readiness, store, kill switch, queues), sampled every second from the venue adapters
/// (breakers, limiter, clock, streams, connection budget, queues), or produced by the order
/// flow of the test (submissions, transitions, reports, fills, sends, control-port requests,
/// group commits) and the market data of the simulator (books, trades, the writer's registered
/// series). Every other panel counts rare events (rejections, unknown outcomes, adoptions,
/// drops, failures, discrepancies, resyncs, amends, risk refusals, polls while a stream is
/// down) whose series appear only with the first event, so it may be empty.
const PANELS_WITH_DATA: &[&str] = &[
    "Ready",
    "Scrape target",
    "User streams",
    "Books in sync",
    "Orders submitted",
    "Orders submitted and rejected",
    "Order transitions by status",
    "Execution reports by outcome",
    "Fills",
    "Order send latency p50 / p99",
    "Order sends and amends by outcome",
    "Reconciliations by status",
    "User stream up",
    "User stream connects and disconnects",
    "Book in sync by symbol",
    "Book updates by kind",
    "Requests by endpoint and status",
    "Request latency p50 / p99",
    "Circuit breaker state",
    "Breaker transitions and local rejections",
    "Venue halted (429 pause / 418 ban)",
    "Rate limiter used vs limit",
    "Rate limiter waits and rejections",
    "429 / 418 answers from the venue",
    "Orders in flight",
    "Clock offset (venue − local)",
    "Clock resyncs",
    "Venue streams connected",
    "Stale stream detections",
    "Malformed venue messages",
    "Kill switch",
    "Store up and group commits",
    "Clock uncertainty and sync",
    "Connection budget",
    "Adapter queues",
    "Daemon queues (fill ratio, drops)",
    "Market rows stored, repeated, dropped",
    "Scraped, ready, store up",
    "Clock error vs receive window",
];

fn price_above(best_ask: Decimal) -> Decimal {
    (best_ask * Decimal::new(101, 2)).round_dp(2)
}

/// The scrape configuration of the test: omsd's metrics port and Prometheus itself, the real
/// rules file.
fn scrape_config(metrics_port: u16, prometheus_port: u16) -> String {
    let rules = ops::repo_file("config/prometheus-rules.yml");
    format!(
        r#"global:
  scrape_interval: {INTERVAL}
  scrape_timeout: {INTERVAL}
  evaluation_interval: {INTERVAL}
rule_files:
  - {rules}
scrape_configs:
  - job_name: omsd
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:{metrics_port}"]
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:{prometheus_port}"]
"#,
        rules = rules.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_omsd_evaluates_every_query_and_fires_on_a_ban() {
    prometheus::ensure_installed();
    let metrics_port = free_port();
    let Some(stack) =
        Stack::start_with(Backend::Sqlite, exchange_sim::SimConfig::demo(), |config| {
            config.metrics.enabled = true;
            config.metrics.listen = ([127, 0, 0, 1], metrics_port).into();
        })
        .await
    else {
        return;
    };

    // One order before Prometheus starts, so that the order-flow series exist when it first
    // scrapes and their rates see the later orders (a series' first sample has no rate).
    let best_ask = stack.best_ask().await;
    let (status, order) = stack
        .post_order(Some("prom-first"), &crossing_buy(price_above(best_ask)))
        .await;
    assert_eq!(status, 201, "{order}");

    // A real Prometheus with a generated config, checked by promtool first.
    let dir = common::tempdir::TempDir::new("omsd-prometheus");
    let prometheus_port = free_port();
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, scrape_config(metrics_port, prometheus_port)).expect("write");
    let repo = ops::repo_file(".");
    for args in [
        vec!["check", "config", config_path.to_str().expect("utf-8 path")],
        vec!["check", "config", "config/prometheus.yml"],
        vec!["check", "rules", "config/prometheus-rules.yml"],
    ] {
        prometheus::promtool(&repo, &args).unwrap_or_else(|e| panic!("{e}"));
    }
    let mut server = prometheus::Server::start(dir.path(), &config_path, prometheus_port);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    server.wait_ready(&http, Duration::from_secs(30)).await;

    let up = poll(Duration::from_secs(30), || async {
        let up = server.query(&http, r#"up{job="omsd"} == 1"#).await.ok()?;
        (!up.is_empty()).then_some(())
    })
    .await;
    assert!(
        up.is_some(),
        "omsd not scraped within 30 s:\n{}",
        server.log_text()
    );

    // Order flow once Prometheus scrapes omsd, so that rates see it: crossing orders that
    // fill, one resting order.
    for i in 0..3 {
        let (status, order) = stack
            .post_order(
                Some(&format!("prom-fill-{i}")),
                &crossing_buy(price_above(best_ask)),
            )
            .await;
        assert_eq!(status, 201, "{order}");
    }
    let resting = crossing_buy((best_ask * Decimal::new(90, 2)).round_dp(2));
    let (status, order) = stack.post_order(Some("prom-rest"), &resting).await;
    assert_eq!(status, 201, "{order}");

    // Scraped: omsd is up and the fills are in Prometheus, with enough samples for rates.
    let scraped = poll(Duration::from_secs(30), || async {
        let up = server.query(&http, r#"up{job="omsd"} == 1"#).await.ok()?;
        let fills = server
            .query(&http, "sum(omsd_fills_total) >= 3")
            .await
            .ok()?;
        let rates = server
            .query(&http, "sum(rate(omsd_orders_submitted_total[1m])) > 0")
            .await
            .ok()?;
        (!up.is_empty() && !fills.is_empty() && !rates.is_empty()).then_some(())
    })
    .await;
    assert!(
        scraped.is_some(),
        "the order flow not in Prometheus within 30 s:\n{}",
        server.log_text()
    );

    // What Prometheus scraped is what the catalogue declares: every omsd series name belongs
    // to a declared metric, with the declared type and help text.
    let names = server.api(&http, "/api/v1/label/__name__/values").await;
    let omsd_names: Vec<_> = names
        .as_array()
        .expect("names")
        .iter()
        .filter_map(|n| n.as_str())
        .filter(|n| n.starts_with("omsd_"))
        .collect();
    assert!(omsd_names.len() > 40, "{omsd_names:?}");
    for name in &omsd_names {
        assert!(
            ops::promql::spec_of(name).is_some(),
            "{name} is not in the catalogue"
        );
    }
    let metadata = server.api(&http, "/api/v1/metadata").await;
    for spec in omsd::telemetry::CATALOGUE {
        let Some(entry) = metadata[spec.name].get(0) else {
            continue;
        };
        assert_eq!(entry["type"], spec.kind.as_str(), "{}", spec.name);
        assert_eq!(entry["help"], spec.help(), "{}", spec.name);
    }
    // Histograms have the catalogue's buckets (and +Inf).
    let send = omsd::telemetry::CATALOGUE
        .iter()
        .find(|s| s.name == "omsd_order_send_duration_seconds")
        .expect("declared");
    let les = server
        .query(
            &http,
            "count by (le) (omsd_order_send_duration_seconds_bucket)",
        )
        .await
        .expect("bucket query");
    assert_eq!(
        les.len(),
        send.buckets.map_or(0, <[f64]>::len) + 1,
        "buckets: {les:?}"
    );

    // Every dashboard query evaluates; the panels of a running system have data.
    let mut errors = Vec::new();
    let mut empty = Vec::new();
    let panels = assets::panels();
    for panel in panels.iter().filter(|p| !p.targets.is_empty()) {
        let mut with_data = 0;
        for (ref_id, expr) in &panel.targets {
            match server.query(&http, &assets::substitute(expr, WINDOW)).await {
                Ok(result) if !result.is_empty() => with_data += 1,
                Ok(_) => {}
                Err(e) => errors.push(format!("panel {:?} {ref_id}: {e}: {expr}", panel.title)),
            }
        }
        if PANELS_WITH_DATA.contains(&panel.title.as_str()) && with_data == 0 {
            empty.push(panel.title.clone());
        }
    }
    for title in PANELS_WITH_DATA {
        assert!(
            panels.iter().any(|p| p.title == *title),
            "no panel titled {title:?}"
        );
    }
    assert!(
        errors.is_empty(),
        "dashboard queries failed:\n{}",
        errors.join("\n")
    );
    assert!(empty.is_empty(), "panels without data: {empty:?}");

    // Every rule expression evaluates, and the server itself reports every rule healthy.
    let rules = assets::rules();
    for rule in &rules {
        if let Err(e) = server.query(&http, &rule.expr).await {
            errors.push(format!("rule {}: {e}", rule.name));
        }
    }
    assert!(
        errors.is_empty(),
        "rule expressions failed:\n{}",
        errors.join("\n")
    );
    let loaded = poll(Duration::from_secs(10), || async {
        let groups = server.rule_groups(&http).await;
        let rules: Vec<_> = groups
            .iter()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        let evaluated = rules.iter().all(|r| r["health"] == "ok");
        (rules.len() == assets::rules().len() && evaluated).then_some(rules.len())
    })
    .await;
    assert!(loaded.is_some(), "rules not all loaded and healthy");
    let quiet: Vec<_> = server
        .alerts(&http)
        .await
        .into_iter()
        .filter(|a| a["labels"]["alertname"] == "OmsdVenueBanned")
        .collect();
    assert!(quiet.is_empty(), "banned before any ban: {quiet:?}");

    // An order send answered with a 503 has an unknown outcome; omsd resolves it by asking the
    // venue (which never saw it), and the rule for unresolved unknown orders sees it enter and
    // leave `unknown`.
    let errors = stack.inject(json!({"fault": "rest_errors", "params": {
        "status": 503, "paths": ["/api/v3/order"], "methods": ["POST"]}}));
    let (status, lost) = stack
        .post_order(Some("prom-lost"), &crossing_buy(price_above(best_ask)))
        .await;
    stack.sim.faults().clear(errors);
    assert_eq!(
        (status, &lost["status"]),
        (201, &json!("unknown")),
        "a 5xx is an unknown outcome: {lost}"
    );
    let unresolved = rules
        .iter()
        .find(|r| r.name == "OmsdUnknownOrdersUnresolved")
        .expect("rule");
    let resolved = poll(Duration::from_secs(60), || async {
        let entered = server
            .query(
                &http,
                r#"sum(omsd_order_transitions_total{status="unknown"}) >= 1"#,
            )
            .await
            .ok()?;
        let left = server
            .query(&http, "sum(omsd_order_unknown_exits_total) >= 1")
            .await
            .ok()?;
        let still = server.query(&http, &unresolved.expr).await.ok()?;
        (!entered.is_empty() && !left.is_empty() && still.is_empty()).then_some(())
    })
    .await;
    assert!(
        resolved.is_some(),
        "the unknown order was not seen entering and leaving unknown: {:?}",
        server.query(&http, &unresolved.expr).await
    );

    // A real fault: the venue bans us (HTTP 418); the next order meets the ban.
    let ban = stack.inject(json!({"fault": "force_418", "params": {"retry_after_s": 30}}));
    let (_, hit) = stack
        .post_order(Some("prom-banned"), &crossing_buy(price_above(best_ask)))
        .await;
    assert_ne!(hit["status"], json!("filled"), "{hit}");
    let firing = poll(Duration::from_secs(60), || async {
        server.alerts(&http).await.into_iter().find(|a| {
            a["labels"]["alertname"] == "OmsdVenueBanned"
                && a["labels"]["venue"] == "binance"
                && a["state"] == "firing"
        })
    })
    .await;
    stack.sim.faults().clear(ban);
    let Some(firing) = firing else {
        let alerts = server.alerts(&http).await;
        panic!("OmsdVenueBanned not firing within 60 s; active alerts: {alerts:?}");
    };
    assert_eq!(firing["labels"]["severity"], "critical", "{firing}");
    stack.stop().await;
}
