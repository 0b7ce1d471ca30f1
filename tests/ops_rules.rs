//! Static checks of the Prometheus configuration and alert rules, one test each: promtool
//! accepts them, the rule unit tests pass and cover every alert both ways, every alert is
//! actionable (for, severity, annotations), and every metric and label name is in the metrics
//! catalogue.

mod ops;

use std::collections::BTreeSet;

use ops::{assets, prometheus, promql};

/// What an operator must act on; each has an alert (DESIGN.md "Observability and operations").
const REQUIRED_ALERTS: &[&str] = &[
    "OmsdVenueStreamStale",
    "OmsdMarketStreamDown",
    "OmsdUserStreamDown",
    "OmsdVenueBanned",
    "OmsdVenueHalted",
    "OmsdOrderBreakerOpen",
    "OmsdVenueBreakerOpenTooLong",
    "OmsdUnknownOrdersUnresolved",
    "OmsdReconciliationIncomplete",
    "OmsdOrderDiscrepancy",
    "OmsdMarketDataWriterDropping",
    "OmsdVenueClockNearRecvWindow",
    "OmsdNotReady",
    "OmsdOrderRateLimitTripped",
];

fn promtool(args: &[&str]) {
    prometheus::ensure_installed();
    if let Err(e) = prometheus::promtool(&ops::repo_file("config"), args) {
        panic!("{e}");
    }
}

#[test]
fn promtool_checks_the_prometheus_config() {
    promtool(&["check", "config", "prometheus.yml"]);
}

#[test]
fn promtool_checks_the_rules() {
    promtool(&["check", "rules", "prometheus-rules.yml"]);
}

#[test]
fn promtool_rule_unit_tests_pass() {
    promtool(&["test", "rules", "prometheus-rules.test.yml"]);
}

#[test]
fn prometheus_config_loads_the_rules_and_scrapes_omsd() {
    let config = ops::yaml("config/prometheus.yml");
    let rule_files: Vec<_> = config["rule_files"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(rule_files, [&serde_json::json!("prometheus-rules.yml")]);
    let omsd = config["scrape_configs"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|job| job["job_name"] == "omsd")
        .expect("a scrape job named omsd (the alerts select job=\"omsd\")");
    assert!(
        omsd["metrics_path"].is_null() || omsd["metrics_path"] == "/metrics",
        "omsd serves /metrics: {omsd}"
    );
    let tests = ops::yaml("config/prometheus-rules.test.yml");
    assert_eq!(
        tests["rule_files"],
        serde_json::json!(["prometheus-rules.yml"])
    );
}

#[test]
fn every_alert_has_for_severity_and_useful_annotations() {
    let mut names = BTreeSet::new();
    let mut problems = Vec::new();
    for rule in assets::rules().iter().filter(|r| r.alert) {
        let name = &rule.name;
        if !names.insert(name.clone()) {
            problems.push(format!("{name}: defined twice"));
        }
        if rule.raw["for"].as_str().is_none() {
            problems.push(format!(
                "{name}: no `for` (write `for: 0s` to fire at once)"
            ));
        }
        let severity = rule.raw["labels"]["severity"].as_str().unwrap_or_default();
        if !["critical", "warning", "info"].contains(&severity) {
            problems.push(format!("{name}: severity {severity:?}"));
        }
        for key in ["summary", "description"] {
            let text = rule.raw["annotations"][key].as_str().unwrap_or_default();
            if text.trim().len() < 20 {
                problems.push(format!("{name}: no useful {key}"));
            }
        }
    }
    for required in REQUIRED_ALERTS {
        if !names.contains(*required) {
            problems.push(format!("missing alert {required}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_alert_fires_and_stays_silent_in_a_unit_test() {
    let tests = ops::yaml("config/prometheus-rules.test.yml");
    let (mut fires, mut silent) = (BTreeSet::new(), BTreeSet::new());
    for test in tests["tests"].as_array().expect("tests") {
        for case in test["alert_rule_test"].as_array().into_iter().flatten() {
            let name = case["alertname"].as_str().unwrap_or_default().to_string();
            let expected = case["exp_alerts"].as_array().is_some_and(|a| !a.is_empty());
            if expected { &mut fires } else { &mut silent }.insert(name);
        }
    }
    let alerts: BTreeSet<_> = assets::rules()
        .into_iter()
        .filter(|r| r.alert)
        .map(|r| r.name)
        .collect();
    let mut problems = Vec::new();
    for name in &alerts {
        if !fires.contains(name) {
            problems.push(format!("no unit test in which {name} fires"));
        }
        if !silent.contains(name) {
            problems.push(format!("no unit test in which {name} stays silent"));
        }
    }
    for name in fires.union(&silent).filter(|n| !alerts.contains(*n)) {
        problems.push(format!("unit test of an alert that does not exist: {name}"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn rule_metric_and_label_names_are_in_the_catalogue() {
    let mut problems = Vec::new();
    let rules = assets::rules();
    let records: BTreeSet<_> = rules.iter().filter(|r| !r.alert).map(|r| &r.name).collect();
    for rule in &rules {
        let expr = &rule.expr;
        if promql::metric_names(expr).is_empty() {
            problems.push(format!("{}: uses no omsd metric", rule.name));
        }
        problems.extend(promql::problems(&rule.name, expr));
        // Labels the annotations use must be labels of the alert.
        let mut available: Vec<String> = promql::TARGET_LABELS
            .iter()
            .map(|s| s.to_string())
            .collect();
        for name in promql::metric_names(expr) {
            available.extend(
                promql::labels_of(&name)
                    .unwrap_or_default()
                    .iter()
                    .map(|s| s.to_string()),
            );
        }
        for text in rule.raw["annotations"].as_object().into_iter().flatten() {
            let text = text.1.as_str().unwrap_or_default();
            for part in text.split("$labels.").skip(1) {
                let label: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !available.contains(&label) {
                    problems.push(format!("{}: annotation uses $labels.{label}", rule.name));
                }
            }
        }
        // Recording rules are level:metric:operation of a catalogue metric.
        if !rule.alert {
            let parts: Vec<_> = rule.name.split(':').collect();
            if parts.len() != 3 || promql::spec_of(parts[1]).is_none() {
                problems.push(format!(
                    "{}: not level:<catalogue metric>:operation",
                    rule.name
                ));
            }
        }
        for token in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')) {
            if token.matches(':').count() == 2 && !records.contains(&token.to_string()) {
                problems.push(format!(
                    "{}: uses {token}, which no recording rule defines",
                    rule.name
                ));
            }
        }
    }
    let tests = ops::yaml("config/prometheus-rules.test.yml");
    for test in tests["tests"].as_array().expect("tests") {
        for series in test["input_series"].as_array().into_iter().flatten() {
            let series = series["series"].as_str().unwrap_or_default();
            problems.extend(promql::problems(
                &format!("unit test series {series}"),
                series,
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
