//! The queries of the operator assets: every panel target of the Grafana dashboards and every
//! rule of the Prometheus rules file.

use serde_json::Value;

/// One dashboard panel with queries.
#[derive(Debug, Clone)]
pub struct Panel {
    pub file: String,
    pub id: i64,
    pub title: String,
    pub kind: String,
    /// `(refId, expr)` of each target.
    pub targets: Vec<(String, String)>,
    pub raw: Value,
}

/// `(file name, parsed JSON)` of every dashboard under grafana/dashboards.
pub fn dashboards() -> Vec<(String, Value)> {
    let dir = super::repo_file("grafana/dashboards");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .expect("grafana/dashboards")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let name = format!(
                "grafana/dashboards/{}",
                p.file_name().unwrap_or_default().to_string_lossy()
            );
            (name.clone(), super::json(&name))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!out.is_empty(), "no dashboards in grafana/dashboards");
    out
}

fn collect(file: &str, panels: &Value, out: &mut Vec<Panel>) {
    for p in panels.as_array().into_iter().flatten() {
        let targets = p["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| {
                let expr = t["expr"].as_str()?;
                Some((
                    t["refId"].as_str().unwrap_or("?").to_string(),
                    expr.to_string(),
                ))
            })
            .collect();
        out.push(Panel {
            file: file.to_string(),
            id: p["id"].as_i64().unwrap_or(-1),
            title: p["title"].as_str().unwrap_or_default().to_string(),
            kind: p["type"].as_str().unwrap_or_default().to_string(),
            targets,
            raw: p.clone(),
        });
        collect(file, &p["panels"], out);
    }
}

/// Every panel (rows included, nested ones too) of every dashboard.
pub fn panels() -> Vec<Panel> {
    let mut out = Vec::new();
    for (file, dash) in dashboards() {
        collect(&file, &dash["panels"], &mut out);
    }
    out
}

/// `expr` with Grafana's variables replaced so that Prometheus can evaluate it: `$venue` (and
/// every other dashboard variable) matches everything, the interval variables become `window`.
pub fn substitute(expr: &str, window: &str) -> String {
    let mut out = expr.to_string();
    for var in [
        "${__rate_interval}",
        "$__rate_interval",
        "$__interval",
        "$__range",
    ] {
        out = out.replace(var, window);
    }
    out.replace("${venue}", ".*").replace("$venue", ".*")
}

/// One rule of config/prometheus-rules.yml.
#[derive(Debug, Clone)]
pub struct Rule {
    pub group: String,
    /// The alert or record name.
    pub name: String,
    pub alert: bool,
    pub expr: String,
    pub raw: Value,
}

/// Every rule of config/prometheus-rules.yml.
pub fn rules() -> Vec<Rule> {
    let file = super::yaml("config/prometheus-rules.yml");
    let mut out = Vec::new();
    for group in file["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            let (name, alert) = match (rule["alert"].as_str(), rule["record"].as_str()) {
                (Some(a), _) => (a, true),
                (None, Some(r)) => (r, false),
                _ => panic!("rule without alert or record: {rule}"),
            };
            out.push(Rule {
                group: group["name"].as_str().unwrap_or_default().to_string(),
                name: name.to_string(),
                alert,
                expr: rule["expr"].as_str().expect("expr").to_string(),
                raw: rule.clone(),
            });
        }
    }
    out
}
