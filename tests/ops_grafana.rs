//! Static checks of the Grafana provisioning and dashboards, one test each: the datasource and
//! dashboard providers are complete, dashboards and panels are well-formed and use the
//! provisioned datasource, every query parses (promtool) and uses only catalogue names, and
//! every catalogue metric is on a dashboard or in an alert rule.

mod ops;

use std::collections::BTreeSet;

use omsd::telemetry::CATALOGUE;
use ops::{assets, prometheus, promql};

/// `(file, datasource)` of every provisioned datasource.
fn datasources() -> Vec<(String, serde_json::Value)> {
    provisioned("grafana/provisioning/datasources", "datasources")
}

fn provisioned(dir: &str, key: &str) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(ops::repo_file(dir)).expect(dir) {
        let path = entry.expect("entry").path();
        let name = format!(
            "{dir}/{}",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        if name.ends_with(".yml") || name.ends_with(".yaml") {
            let file = ops::yaml(&name);
            assert_eq!(file["apiVersion"], 1, "{name}: apiVersion");
            for item in file[key].as_array().into_iter().flatten() {
                out.push((name.clone(), item.clone()));
            }
        }
    }
    assert!(!out.is_empty(), "nothing provisioned under {dir}");
    out
}

fn datasource_uids() -> BTreeSet<String> {
    datasources()
        .iter()
        .filter_map(|(_, ds)| ds["uid"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn provisioned_datasource_is_complete() {
    for (file, ds) in datasources() {
        for key in ["name", "type", "uid", "url"] {
            assert!(
                ds[key].as_str().is_some_and(|v| !v.is_empty()),
                "{file}: no {key}"
            );
        }
        assert_eq!(ds["type"], "prometheus", "{file}");
    }
}

#[test]
fn dashboard_providers_read_files() {
    for (file, provider) in provisioned("grafana/provisioning/dashboards", "providers") {
        assert_eq!(provider["type"], "file", "{file}");
        assert!(
            provider["options"]["path"].as_str().is_some(),
            "{file}: options.path"
        );
    }
}

#[test]
fn dashboards_have_uid_title_schema_and_venue_variable() {
    let uids = datasource_uids();
    let mut dashboard_uids = BTreeSet::new();
    for (file, dash) in assets::dashboards() {
        for key in ["uid", "title"] {
            assert!(
                dash[key].as_str().is_some_and(|v| !v.is_empty()),
                "{file}: {key}"
            );
        }
        assert!(
            dashboard_uids.insert(dash["uid"].to_string()),
            "{file}: uid used twice"
        );
        let schema = dash["schemaVersion"].as_i64().unwrap_or_default();
        assert!(
            (36..=41).contains(&schema),
            "{file}: schemaVersion {schema}"
        );
        let vars = dash["templating"]["list"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let venue = vars
            .iter()
            .find(|v| v["name"] == "venue")
            .expect("a venue variable");
        assert_eq!(
            venue["query"]["query"], "label_values(omsd_orders_submitted_total, venue)",
            "{file}"
        );
        for var in vars.iter().filter(|v| v["type"] == "query") {
            let uid = var["datasource"]["uid"].as_str().unwrap_or_default();
            assert!(
                uids.contains(uid),
                "{file}: variable {} uses datasource {uid}",
                var["name"]
            );
        }
    }
}

/// The areas an operator looks at, each a row of the dashboard.
const ROWS: &[&str] = &[
    "Overview",
    "Orders",
    "Venue streams and market data",
    "Control port",
    "Venue resilience",
    "Risk limits",
    "Order processor",
    "Connections, clock and queues",
    "Market data",
    "Process health",
];

#[test]
fn dashboard_rows_cover_every_area() {
    let rows: Vec<_> = assets::panels()
        .into_iter()
        .filter(|p| p.kind == "row")
        .map(|p| p.title)
        .collect();
    assert_eq!(rows, ROWS);
}

#[test]
fn panels_have_unique_ids_a_grid_place_and_the_provisioned_datasource() {
    let uids = datasource_uids();
    let mut problems = Vec::new();
    let mut ids = BTreeSet::new();
    let mut boxes: Vec<(String, [i64; 4])> = Vec::new();
    for panel in assets::panels() {
        let at = format!("{} panel {} {:?}", panel.file, panel.id, panel.title);
        if !ids.insert((panel.file.clone(), panel.id)) {
            problems.push(format!("{at}: duplicate id"));
        }
        let g = &panel.raw["gridPos"];
        let grid = ["x", "y", "w", "h"].map(|k| g[k].as_i64().unwrap_or(-1));
        let [x, y, w, h] = grid;
        if x < 0 || y < 0 || w <= 0 || h <= 0 || x + w > 24 {
            problems.push(format!("{at}: bad gridPos {g}"));
        }
        for (other, [ox, oy, ow, oh]) in boxes.iter().filter(|(o, _)| o.starts_with(&panel.file)) {
            if x < ox + ow && *ox < x + w && y < oy + oh && *oy < y + h {
                problems.push(format!("{at}: overlaps {other}"));
            }
        }
        boxes.push((at.clone(), grid));
        if panel.kind == "row" || panel.kind == "text" {
            continue;
        }
        let known = [
            "timeseries",
            "stat",
            "gauge",
            "bargauge",
            "table",
            "heatmap",
        ];
        if !known.contains(&panel.kind.as_str()) {
            problems.push(format!("{at}: panel type {}", panel.kind));
        }
        if panel.title.is_empty() {
            problems.push(format!("{at}: no title"));
        }
        let uid = panel.raw["datasource"]["uid"].as_str().unwrap_or_default();
        if !uids.contains(uid) {
            problems.push(format!("{at}: datasource {uid:?} is not provisioned"));
        }
        if panel.targets.is_empty() {
            problems.push(format!("{at}: no queries"));
        }
        for target in panel.raw["targets"].as_array().into_iter().flatten() {
            let uid = target["datasource"]["uid"].as_str().unwrap_or(uid);
            if !uids.contains(uid) {
                problems.push(format!(
                    "{at}: target datasource {uid:?} is not provisioned"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn dashboard_metric_and_label_names_are_in_the_catalogue() {
    let mut problems = Vec::new();
    for panel in assets::panels() {
        for (ref_id, expr) in &panel.targets {
            let at = format!("{} {:?} {ref_id}", panel.file, panel.title);
            if promql::metric_names(expr).is_empty() {
                problems.push(format!("{at}: uses no omsd metric"));
            }
            problems.extend(promql::problems(&at, expr));
        }
        // Legend labels must be labels of the panel's metrics.
        for target in panel.raw["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap_or_default();
            let mut available: Vec<&str> = promql::TARGET_LABELS.to_vec();
            for name in promql::metric_names(expr) {
                available.extend(promql::labels_of(&name).unwrap_or_default());
            }
            let legend = target["legendFormat"].as_str().unwrap_or_default();
            for part in legend.split("{{").skip(1) {
                let label = part.split("}}").next().unwrap_or_default().trim();
                if !available.contains(&label) {
                    problems.push(format!(
                        "{} {:?}: legend label {label}",
                        panel.file, panel.title
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_dashboard_query_parses() {
    prometheus::ensure_installed();
    let rules: Vec<_> = assets::panels()
        .iter()
        .flat_map(|p| p.targets.iter().map(|(_, e)| assets::substitute(e, "5m")))
        .enumerate()
        .map(|(i, expr)| serde_json::json!({"record": format!("dashboard:query_{i}:check"), "expr": expr}))
        .collect();
    assert!(rules.len() > 20, "{} queries", rules.len());
    let dir = std::env::temp_dir().join(format!("omsd-dashboard-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("dashboard-queries.yml");
    // JSON is YAML: promtool reads it as a rules file.
    let doc = serde_json::json!({"groups": [{"name": "dashboard", "rules": rules}]});
    std::fs::write(&file, doc.to_string()).expect("write");
    let result = prometheus::promtool(&dir, &["check", "rules", "dashboard-queries.yml"]);
    let _ = std::fs::remove_dir_all(&dir);
    result.unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn every_catalogue_metric_is_on_a_dashboard_or_in_a_rule() {
    let mut used = BTreeSet::new();
    for panel in assets::panels() {
        for (_, expr) in &panel.targets {
            used.extend(
                promql::metric_names(expr)
                    .iter()
                    .filter_map(|n| promql::spec_of(n))
                    .map(|s| s.name),
            );
        }
    }
    for rule in assets::rules() {
        used.extend(
            promql::metric_names(&rule.expr)
                .iter()
                .filter_map(|n| promql::spec_of(n))
                .map(|s| s.name),
        );
    }
    let missing: Vec<_> = CATALOGUE
        .iter()
        .filter(|s| !used.contains(s.name))
        .map(|s| s.name)
        .collect();
    assert!(
        missing.is_empty(),
        "metrics on no dashboard panel and in no rule (add a panel to grafana/dashboards/omsd.json): {missing:?}"
    );
}
