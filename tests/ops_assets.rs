//! The operator-facing assets checked from the test suite: the compose configuration parses and
//! validates with the daemon's own schema, every metric of `src/telemetry.rs` is on a dashboard
//! or in an alert rule, and `scripts/check-ops.sh` (promtool, dashboards, docker-compose.yml)
//! passes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use omsd::config::Config;

fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(repo_file(relative))
        .unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}

/// Compose-style interpolation of `${VAR:-default}` with the defaults only, so the test does not
/// depend on the caller's environment.
fn compose_defaults(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('}') else {
            panic!("unterminated ${{ in {value}");
        };
        let inner = &rest[start + 2..start + len];
        let (_, default) = inner
            .split_once(":-")
            .unwrap_or_else(|| panic!("{value}: ${{{inner}}} has no default"));
        out.push_str(default);
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

/// The `OMSD_*` environment that docker-compose.yml gives the `omsd` service.
fn compose_omsd_env() -> HashMap<String, String> {
    read("docker-compose.yml")
        .lines()
        .filter_map(|line| {
            let (key, value) = line.trim().split_once(':')?;
            let key = key.trim();
            (key.starts_with("OMSD_") && key.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
                .then(|| (key.to_string(), compose_defaults(value.trim())))
        })
        .collect()
}

#[test]
fn compose_config_parses_and_validates() {
    let mut config = Config::from_toml(&read("config/compose.toml"))
        .unwrap_or_else(|e| panic!("config/compose.toml: {e}"));
    config
        .validate()
        .unwrap_or_else(|e| panic!("config/compose.toml: {e}"));
    assert!(!config.venues.is_empty());
    for venue in &config.venues {
        assert!(
            !venue.embedded_sim,
            "{}: compose runs the sim as a service",
            venue.name
        );
    }

    // The overrides docker-compose.yml sets must name the configured venues and keep the
    // configuration valid.
    let env = compose_omsd_env();
    for venue in &config.venues {
        let prefix = format!(
            "OMSD_VENUE_{}",
            venue.name.to_ascii_uppercase().replace('-', "_")
        );
        for suffix in ["REST_URL", "STREAM_URL", "WS_API_URL"] {
            let key = format!("{prefix}_{suffix}");
            assert!(
                env.contains_key(&key),
                "docker-compose.yml does not set {key}"
            );
        }
    }
    config
        .apply_env(|name| env.get(name).cloned())
        .unwrap_or_else(|e| panic!("docker-compose.yml environment: {e}"));
    config
        .validate()
        .unwrap_or_else(|e| panic!("compose.toml with the compose environment: {e}"));
    assert!(
        config.store.url.starts_with("postgres://") && config.store.url.contains("@timescaledb:"),
        "store must be the timescaledb service: {}",
        config.store.url
    );
    assert_eq!(config.log.format, "json");
    assert!(config.control.listen.ip().is_unspecified());
    assert!(config.metrics.enabled && config.metrics.listen.ip().is_unspecified());
    for venue in &config.venues {
        for url in [&venue.rest_url, &venue.stream_url, &venue.ws_api_url] {
            let url = url.as_deref().unwrap_or_default();
            assert!(
                url.contains("://sim:"),
                "{}: {url} is not the sim service",
                venue.name
            );
        }
    }
}

/// `(constant, metric name)` for every metric declared in src/telemetry.rs.
fn telemetry_metrics() -> Vec<(String, String)> {
    read("src/telemetry.rs")
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("pub const ")?;
            let (constant, rest) = rest.split_once(": &str = \"")?;
            let (name, _) = rest.split_once('"')?;
            Some((constant.to_string(), name.to_string()))
        })
        .collect()
}

/// Whether `text` uses metric `name` as a whole series name (or a histogram series of it).
fn mentions(text: &str, name: &str) -> bool {
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    text.match_indices(name).any(|(at, _)| {
        let before_ok = !text[..at].ends_with(is_name_char);
        let after = &text[at + name.len()..];
        let after = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| after.strip_prefix(suffix))
            .unwrap_or(after);
        before_ok && !after.starts_with(is_name_char)
    })
}

fn collect_exprs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(panels) = map.get("panels") {
                collect_exprs(panels, out);
            }
            if let Some(serde_json::Value::Array(targets)) = map.get("targets") {
                out.extend(
                    targets
                        .iter()
                        .filter_map(|t| t.get("expr")?.as_str().map(str::to_string)),
                );
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_exprs(i, out)),
        _ => {}
    }
}

/// The `expr:` values of a Prometheus rules file, including folded multi-line ones.
fn rule_exprs(rules: &str) -> Vec<String> {
    let mut exprs = Vec::new();
    let mut lines = rules.lines().peekable();
    while let Some(line) = lines.next() {
        let indent = line.len() - line.trim_start().len();
        let Some(first) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let mut expr = first.to_string();
        while let Some(next) = lines.peek() {
            let next_indent = next.len() - next.trim_start().len();
            if !next.trim().is_empty() && next_indent <= indent {
                break;
            }
            expr.push('\n');
            expr.push_str(next);
            lines.next();
        }
        exprs.push(expr);
    }
    exprs
}

#[test]
fn every_metric_is_on_a_dashboard_or_in_a_rule() {
    let mut exprs = Vec::new();
    let dashboards = repo_file("grafana/dashboards");
    for entry in std::fs::read_dir(&dashboards).expect("grafana/dashboards") {
        let path = entry.expect("dashboard entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).expect("dashboard");
            let json: serde_json::Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            collect_exprs(&json, &mut exprs);
        }
    }
    let dashboard_count = exprs.len();
    assert!(
        dashboard_count > 10,
        "only {dashboard_count} dashboard queries"
    );
    exprs.extend(rule_exprs(&read("config/prometheus-rules.yml")));
    assert!(
        exprs.len() > dashboard_count + 10,
        "too few rule expressions"
    );

    let metrics = telemetry_metrics();
    assert!(
        metrics.len() >= 10,
        "telemetry.rs parsed badly: {metrics:?}"
    );
    let missing: Vec<_> = metrics
        .iter()
        .filter(|(_, name)| !exprs.iter().any(|e| mentions(e, name)))
        .map(|(constant, name)| format!("{constant} ({name})"))
        .collect();
    assert!(
        missing.is_empty(),
        "metrics on no dashboard panel and in no rule (add a panel to grafana/dashboards/omsd.json): {missing:?}"
    );
}

#[test]
fn mentions_matches_whole_series_names_only() {
    assert!(mentions("rate(omsd_fills_total[5m])", "omsd_fills_total"));
    assert!(mentions(
        "rate(omsd_x_seconds_bucket{le=\"1\"}[5m])",
        "omsd_x_seconds"
    ));
    assert!(!mentions("omsd_fills_total_extra", "omsd_fills_total"));
    assert!(!mentions(
        "venue:omsd_fills_total:rate5m",
        "omsd_fills_total"
    ));
    assert!(!mentions("xomsd_ready", "omsd_ready"));
}

/// Exit status of scripts/check-ops.sh when promtool or PyYAML is missing and cannot be
/// installed (not root).
const TOOLS_MISSING: i32 = 3;

#[test]
fn check_ops_script_passes() {
    let output = Command::new("bash")
        .arg(repo_file("scripts/check-ops.sh"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run scripts/check-ops.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() == Some(TOOLS_MISSING) && std::env::var_os("CI").is_none() {
        eprintln!("skipping: {}", stderr.trim());
        return;
    }
    assert!(
        output.status.success(),
        "scripts/check-ops.sh failed:\n{stdout}\n{stderr}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    let passed: u32 = last
        .strip_prefix("ops-checks: ")
        .and_then(|rest| rest.strip_suffix(" passed, 0 failed"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected closing line {last:?}"));
    assert!(passed >= 10, "only {passed} checks ran:\n{stdout}");
}
