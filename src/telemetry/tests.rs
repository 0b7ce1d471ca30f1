//! Tests of the metrics the event functions emit.

use super::*;

/// The health of an unconnected adapter of venue `bin` with a connection budget of 42 and a
/// `depth_buffer` queue on its market stream.
fn bin_health(depth: u64, capacity: u64, dropped_total: u64) -> exchange_core::VenueHealth {
    let mut config = exchange_binance::BinanceConfig::new(
        "bin",
        "http://127.0.0.1:1",
        "ws://127.0.0.1:1",
        "ws://127.0.0.1:1",
        "k",
        exchange_binance::ApiSecret::new("s".to_owned()),
    );
    config.limiter.connect_budget = 42;
    let adapter = exchange_binance::BinanceExchange::new(config).expect("adapter");
    let mut health = exchange_core::Exchange::health(&adapter);
    health.streams[1].queues.push(exchange_core::QueueHealth {
        queue: "depth_buffer".into(),
        depth,
        capacity,
        dropped_total,
    });
    health
}

#[test]
fn venue_health_exports_clock_connection_budget_and_queues() {
    let health = bin_health(3, 20_000, 5);
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || venue_health(&health));
    let text = handle.render();
    for line in [
        "omsd_venue_clock_uncertainty_seconds{venue=\"bin\"} 0",
        "omsd_venue_clock_synced{venue=\"bin\"} 0",
        "omsd_venue_connect_budget{venue=\"bin\"} 42",
        "omsd_venue_connect_attempts_in_window{venue=\"bin\"} 0",
        "omsd_venue_connect_attempts_total{venue=\"bin\",outcome=\"refused\"} 0",
        "omsd_venue_queue_depth{venue=\"bin\",stream=\"market\",queue=\"depth_buffer\"} 3",
        "omsd_venue_queue_capacity{venue=\"bin\",stream=\"market\",queue=\"depth_buffer\"} 20000",
        "omsd_venue_queue_dropped_total{venue=\"bin\",stream=\"market\",queue=\"depth_buffer\"} 5",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}

/// One series of a rendered scrape: metric name (without a histogram's suffix) and label names.
fn series(text: &str) -> Vec<(String, Vec<String>)> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let name_end = line.find(['{', ' ']).unwrap_or(line.len());
            let name = &line[..name_end];
            let labels = line[name_end..]
                .strip_prefix('{')
                .and_then(|rest| rest.split_once('}'))
                .map(|(inside, _)| {
                    inside
                        .split("\",")
                        .filter_map(|pair| pair.split_once('=').map(|(k, _)| k.to_string()))
                        .filter(|k| k != "le" && k != "quantile")
                        .collect()
                })
                .unwrap_or_default();
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| {
                    let base = name.strip_suffix(suffix)?;
                    CATALOGUE
                        .iter()
                        .any(|s| s.name == base && s.kind == MetricType::Histogram)
                        .then_some(base)
                })
                .unwrap_or(name);
            (base.to_string(), labels)
        })
        .collect()
}

/// Calls every event function once (with each label shape it produces).
fn emit_every_event() {
    let mut health = bin_health(1, 10, 0);
    health.streams[1].reconnects_total.insert("stale".into(), 1);
    let ms = Duration::from_millis(3);
    order_submitted("bin", "BTC-USDT", "c1");
    events_subscribers(1.0);
    events_cut_off("lagged", Some(7));
    watchdog_stale(&[("order_processor", ms)]);
    shutdown_finished(true, ms);
    order_rejected("bin", "filter", "too small");
    order_transition("bin", 1, "pending_new", "unknown");
    order_transition("bin", 1, "unknown", "new");
    execution_report("bin", "applied");
    fills_stored("bin", 2);
    order_sent("bin", ms, "ok");
    queue_depth("oms_commands", None, 1, 10);
    queue_depth("user_events", Some("bin"), 1, 10);
    queue_dropped("market_events", None, 0);
    queue_dropped("market_stream", Some("bin"), 0);
    order_amend("bin", "amended");
    unknown_resolved("bin", 1, "found");
    order_adopted("bin", 2, "c2");
    order_poll("bin", 1, 0);
    reconciliation("bin", 1, 0, "ok");
    user_stream_connected("bin");
    user_stream_disconnected("bin", "test");
    book_update("bin", "BTC-USDT", "snapshot", true);
    book_resynced("bin", "BTC-USDT", ms);
    market_trades("bin", 3);
    instruments_stale("bin", false, "", 1);
    market_rows_registered("trade");
    market_row_dropped("trade");
    market_flush(&crate::store::MarketBatch::default(), 0, 0, ms);
    market_flush_failed(1, "test");
    market_events_dropped("bin", 1);
    http_request("/v1/orders", 200, ms);
    ready(true);
    venue_health(&health);
    venue_recv_window("bin", 5000);
    order_discrepancy("bin", "inferred_revised");
    late_send_failure("bin");
    fills_incomplete("bin");
    unmatched_fills("bin", 1);
    user_stream_gap("bin");
    store_available(true);
    batch_committed(3);
    task_failed("oms", "test");
    risk_refused("bin", crate::oms::limits::code::ORDER_RATE, "too fast");
    kill_switch(false);
}

/// The catalogue says what the code emits: every series has a declared name, declared labels
/// only and the declared type; every declared metric is emitted by some event function.
#[test]
fn catalogue_matches_what_the_event_functions_emit() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, emit_every_event);
    let text = handle.render();
    let mut seen = std::collections::BTreeSet::new();
    for (name, labels) in series(&text) {
        let spec = CATALOGUE
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name} is emitted but not in the catalogue"));
        for label in &labels {
            assert!(
                spec.labels.contains(&label.as_str()),
                "{name} carries label {label}, the catalogue says {:?}",
                spec.labels
            );
        }
        seen.insert(name);
    }
    for line in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let (name, kind) = line.split_once(' ').expect("TYPE line");
        let spec = CATALOGUE.iter().find(|s| s.name == name).expect("declared");
        // Histograms without explicit buckets render as summaries; the exporter sets buckets.
        let kind = if kind == "summary" { "histogram" } else { kind };
        assert_eq!(kind, spec.kind.as_str(), "{name}");
    }
    let missing: Vec<_> = CATALOGUE
        .iter()
        .filter(|s| !seen.contains(s.name))
        .map(|s| s.name)
        .collect();
    assert!(
        missing.is_empty(),
        "declared but never emitted: {missing:?}"
    );
}

/// Labels whose values come from bounded sets (configuration, enums, endpoint templates).
const BOUNDED_LABELS: &[&str] = &[
    "venue", "symbol", "endpoint", "stream", "status", "reason", "outcome", "kind", "scope",
    "queue", "task", "rule", "loop",
];

#[test]
fn catalogue_names_are_unique_and_follow_the_naming_rules() {
    let mut names = std::collections::BTreeSet::new();
    for spec in CATALOGUE {
        assert!(names.insert(spec.name), "{} declared twice", spec.name);
        assert!(spec.name.starts_with("omsd_"), "{}", spec.name);
        assert_eq!(
            spec.kind == MetricType::Counter,
            spec.name.ends_with("_total"),
            "{}: counters and only counters end in _total",
            spec.name
        );
        assert_eq!(
            spec.kind == MetricType::Histogram,
            spec.buckets.is_some(),
            "{}: histograms and only histograms have explicit buckets",
            spec.name
        );
        assert!(!spec.help().is_empty(), "{} has no doc comment", spec.name);
        for label in spec.labels {
            assert!(
                BOUNDED_LABELS.contains(label),
                "{}: label {label} is not from a bounded set",
                spec.name
            );
        }
    }
    assert_eq!(ORDERS_SUBMITTED, CATALOGUE[0].name);
}
