//! Just enough PromQL reading for name checks: the metric names an expression uses, the label
//! names in its selectors and grouping clauses, and whether they exist in the catalogue.

use omsd::telemetry::{CATALOGUE, MetricSpec, MetricType};
use regex::Regex;

/// Labels Prometheus attaches at scrape time.
pub const TARGET_LABELS: &[&str] = &["job", "instance"];

/// `expr` with every string literal emptied (label values must not look like names).
pub fn without_strings(expr: &str) -> String {
    let strings = Regex::new(r#""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'"#).expect("regex");
    strings.replace_all(expr, "\"\"").into_owned()
}

/// Every `omsd_*` series name and `up` in `expr` (function names and template variables are
/// not names).
pub fn metric_names(expr: &str) -> Vec<String> {
    let text = without_strings(expr);
    let token = Regex::new(r"[A-Za-z_:$.][A-Za-z0-9_:]*").expect("regex");
    token
        .find_iter(&text)
        .filter(|m| {
            let name = m.as_str();
            let call = text[m.end()..].trim_start().starts_with('(');
            (name.starts_with("omsd_") || name == "up") && !call
        })
        .map(|m| m.as_str().to_string())
        .collect()
}

/// `(series name, label names)` of every selector `name{...}` in `expr`.
pub fn selectors(expr: &str) -> Vec<(String, Vec<String>)> {
    let selector = Regex::new(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^}]*)\}").expect("regex");
    let matcher = Regex::new(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)").expect("regex");
    selector
        .captures_iter(expr)
        .map(|c| {
            let inside = without_strings(&c[2]);
            let labels = matcher
                .captures_iter(&inside)
                .map(|m| m[1].to_string())
                .collect();
            (c[1].to_string(), labels)
        })
        .collect()
}

/// Label names in `by (...)`, `without (...)`, `on (...)`, `ignoring (...)` and
/// `group_left/right (...)`.
pub fn grouping_labels(expr: &str) -> Vec<String> {
    let grouping = Regex::new(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
        .expect("regex");
    grouping
        .captures_iter(&without_strings(expr))
        .flat_map(|c| {
            c[1].split(',')
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The declared metric a series name belongs to (`x_bucket` etc. of a histogram `x`).
pub fn spec_of(series: &str) -> Option<&'static MetricSpec> {
    CATALOGUE.iter().find(|s| s.name == series).or_else(|| {
        ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
            let base = series.strip_suffix(suffix)?;
            CATALOGUE
                .iter()
                .find(|s| s.name == base && s.kind == MetricType::Histogram)
        })
    })
}

/// Labels a series may carry: the declared ones, the target labels, and `le` for buckets.
/// `None` for a name that is not a metric of the catalogue (nor `up`).
pub fn labels_of(series: &str) -> Option<Vec<&'static str>> {
    let mut labels = TARGET_LABELS.to_vec();
    if series == "up" {
        return Some(labels);
    }
    labels.extend(spec_of(series)?.labels);
    if series.ends_with("_bucket") {
        labels.push("le");
    }
    Some(labels)
}

/// What is wrong with the names in `expr`: unknown series, labels a selector's metric does not
/// have, grouping labels that no metric of the expression has. `extra` are labels the
/// expression may also group by (e.g. labels of the rule).
pub fn problems(where_: &str, expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut available: Vec<&str> = TARGET_LABELS.to_vec();
    for name in metric_names(expr) {
        match labels_of(&name) {
            Some(labels) => available.extend(labels),
            None => out.push(format!("{where_}: {name} is not in the metrics catalogue")),
        }
    }
    for (name, labels) in selectors(expr) {
        let Some(allowed) = labels_of(&name) else {
            continue;
        };
        for label in labels {
            if !allowed.contains(&label.as_str()) {
                out.push(format!(
                    "{where_}: {name} has no label {label} (has {allowed:?})"
                ));
            }
        }
    }
    for label in grouping_labels(expr) {
        if !available.contains(&label.as_str()) {
            out.push(format!(
                "{where_}: grouping label {label} is on no metric of the expression"
            ));
        }
    }
    out
}

#[test]
fn reads_names_selectors_and_groupings() {
    let expr = r#"sum by (venue, le) (rate(omsd_order_send_duration_seconds_bucket{venue=~"$venue", status="x"}[5m])) / on (venue) up"#;
    assert_eq!(
        metric_names(expr),
        ["omsd_order_send_duration_seconds_bucket", "up"]
    );
    assert_eq!(
        selectors(expr),
        [(
            "omsd_order_send_duration_seconds_bucket".to_string(),
            vec!["venue".to_string(), "status".to_string()]
        )]
    );
    assert_eq!(grouping_labels(expr), ["venue", "le", "venue"]);
    assert!(problems("t", expr).is_empty(), "{:?}", problems("t", expr));
    let bad = r#"sum by (symbol) (omsd_fills_total{status="1"}) + omsd_nope_total"#;
    assert_eq!(problems("t", bad).len(), 3, "{:?}", problems("t", bad));
    assert!(metric_names(r#"label_replace(up, "x", "omsd_fake", "", "")"#) == ["up"]);
}
