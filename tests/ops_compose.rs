//! Static checks of docker-compose.yml and everything it mounts (there is no Docker engine on
//! CI), one test each: the omsd configuration validates with the compose environment, bind
//! mounts exist and parse, images are pinned by tag, published ports are on loopback and agree
//! with the configurations, services and their dependencies are consistent.

mod ops;

use std::collections::{BTreeMap, HashMap};

use omsd::config::Config;
use ops::compose::{
    binds, command, compose, compose_defaults, environment, port_of, published, services,
};
use serde_json::Value;

/// The `OMSD_*` environment that docker-compose.yml gives the `omsd` service.
fn compose_omsd_env() -> HashMap<String, String> {
    ops::read("docker-compose.yml")
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
    let mut config = Config::from_toml(&ops::read("config/compose.toml"))
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

#[test]
fn compose_has_the_whole_stack() {
    let services = services();
    for name in ["timescaledb", "sim", "omsd", "prometheus", "grafana"] {
        assert!(services.contains_key(name), "no service {name}");
    }
}

#[test]
fn compose_bind_mounts_exist_and_parse() {
    let mut problems = Vec::new();
    for (name, service) in services() {
        for (src, dst) in binds(&service) {
            let path = ops::repo_file(&src);
            if !path.exists() {
                problems.push(format!("{name}: {src} (mounted at {dst}) does not exist"));
                continue;
            }
            let files: Vec<_> = if path.is_dir() {
                std::fs::read_dir(&path)
                    .expect("dir")
                    .flatten()
                    .flat_map(|e| {
                        let p = e.path();
                        if p.is_dir() {
                            std::fs::read_dir(&p)
                                .expect("dir")
                                .flatten()
                                .map(|e| e.path())
                                .collect()
                        } else {
                            vec![p]
                        }
                    })
                    .collect()
            } else {
                vec![path]
            };
            for file in files {
                let text = std::fs::read_to_string(&file).unwrap_or_default();
                let parsed = match file.extension().and_then(|e| e.to_str()) {
                    Some("yml" | "yaml") => serde_norway::from_str::<Value>(&text)
                        .err()
                        .map(|e| e.to_string()),
                    Some("json") => serde_json::from_str::<Value>(&text)
                        .err()
                        .map(|e| e.to_string()),
                    Some("toml") => text.parse::<toml::Table>().err().map(|e| e.to_string()),
                    _ => None,
                };
                if let Some(e) = parsed {
                    problems.push(format!("{name}: {} does not parse: {e}", file.display()));
                }
            }
        }
        for volume in service["volumes"].as_array().into_iter().flatten() {
            let v = volume.as_str().unwrap_or_default();
            let src = v.split(':').next().unwrap_or_default();
            if !src.starts_with("./") && compose()["volumes"].get(src).is_none() {
                problems.push(format!("{name}: volume {src} is not declared"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn compose_images_are_pinned_by_tag() {
    for (name, service) in services() {
        let image = service["image"].as_str().unwrap_or_default();
        if service.get("build").is_some() {
            assert_eq!(image, "omsd:local", "{name}: the locally built image");
            continue;
        }
        let (_, tag) = image
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("{name}: image {image} has no tag"));
        assert!(
            tag.chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit() || c == 'v')
                && !tag.contains("latest"),
            "{name}: image {image} is not pinned to a version tag"
        );
    }
}

#[test]
fn compose_ports_are_on_loopback_unique_and_agree_with_the_configs() {
    let services = services();
    let mut host_ports = BTreeMap::new();
    for (name, service) in &services {
        for port in service["ports"].as_array().into_iter().flatten() {
            let host = compose_defaults(port.as_str().unwrap_or_default());
            let host = host.split(':').nth(1).unwrap_or_default().to_string();
            if let Some(other) = host_ports.insert(host.clone(), name.clone()) {
                panic!("host port {host} published by {name} and {other}");
            }
        }
        published(service);
    }
    let omsd_env = environment(&services["omsd"]);
    let metrics_port = port_of(&omsd_env["OMSD_METRICS_LISTEN"]);
    let control_port = port_of(&omsd_env["OMSD_CONTROL_LISTEN"]);
    let omsd_ports = published(&services["omsd"]);
    assert!(omsd_ports.contains(&metrics_port) && omsd_ports.contains(&control_port));
    let toml = Config::from_toml(&ops::read("config/compose.toml")).expect("compose.toml");
    assert_eq!(
        toml.metrics.listen.port(),
        metrics_port,
        "compose.toml metrics port"
    );
    assert_eq!(
        toml.control.listen.port(),
        control_port,
        "compose.toml control port"
    );

    let sim_cmd = command(&services["sim"]);
    let sim_listen = sim_cmd
        .iter()
        .position(|a| a == "--listen")
        .and_then(|i| sim_cmd.get(i + 1))
        .expect("omsd-sim --listen ADDR");
    assert!(
        sim_listen.starts_with("0.0.0.0:"),
        "sim must listen on all container addresses"
    );
    let sim_port = port_of(sim_listen);
    assert!(published(&services["sim"]).contains(&sim_port));
    for (key, value) in omsd_env
        .iter()
        .filter(|(k, _)| k.starts_with("OMSD_VENUE_"))
    {
        assert!(
            value.contains(&format!("://sim:{sim_port}")),
            "{key}={value} is not the sim service"
        );
    }

    // Prometheus scrapes the omsd service on its metrics port; Grafana reads that Prometheus.
    let prometheus = ops::yaml("config/prometheus.yml");
    let targets: Vec<String> = prometheus["scrape_configs"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|job| {
            job["static_configs"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .flat_map(|sc| sc["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect();
    assert!(
        targets.contains(&format!("omsd:{metrics_port}")),
        "{targets:?}"
    );
    for target in &targets {
        let host = target.split(':').next().unwrap_or_default();
        assert!(
            host == "localhost" || services.contains_key(host),
            "target {target} is no service"
        );
    }
    let prom_port = published(&services["prometheus"]);
    let datasource = ops::yaml("grafana/provisioning/datasources/prometheus.yml");
    let url = datasource["datasources"][0]["url"]
        .as_str()
        .expect("datasource url");
    assert!(
        prom_port
            .iter()
            .any(|p| url == format!("http://prometheus:{p}")),
        "datasource {url} is not the prometheus service ({prom_port:?})"
    );
}

#[test]
fn compose_dependencies_and_healthchecks_are_consistent() {
    let services = services();
    for (name, service) in &services {
        for (dep, spec) in service["depends_on"].as_object().into_iter().flatten() {
            assert!(
                services.contains_key(dep) && dep != name,
                "{name}: depends on {dep}"
            );
            if spec["condition"] == "service_healthy" {
                assert!(
                    services[dep].get("healthcheck").is_some(),
                    "{name}: {dep} has no healthcheck"
                );
            }
        }
        for dep in service["depends_on"].as_array().into_iter().flatten() {
            assert!(
                services.contains_key(dep.as_str().unwrap_or_default()),
                "{name}: {dep}"
            );
        }
    }
    let omsd = &services["omsd"];
    assert_eq!(
        omsd["depends_on"]["timescaledb"]["condition"],
        "service_healthy"
    );
    assert!(omsd["depends_on"].get("sim").is_some());
    // The store URL carries the credentials the database service is created with.
    let db_env = environment(&services["timescaledb"]);
    let url = &environment(omsd)["OMSD_STORE_URL"];
    let expected = format!(
        "postgres://{}:{}@timescaledb:5432/{}",
        db_env["POSTGRES_USER"], db_env["POSTGRES_PASSWORD"], db_env["POSTGRES_DB"]
    );
    assert_eq!(url, &expected);
}

#[test]
fn compose_mounts_the_configs_where_the_services_read_them() {
    let services = services();
    let at = |service: &str, dst: &str| {
        binds(&services[service])
            .into_iter()
            .find(|(_, d)| d == dst)
            .map(|(s, _)| s)
            .unwrap_or_else(|| panic!("{service}: nothing mounted at {dst}"))
    };
    let omsd_cmd = command(&services["omsd"]);
    assert_eq!(omsd_cmd[..2], ["omsd", "run"]);
    let config = omsd_cmd
        .iter()
        .position(|a| a == "--config")
        .and_then(|i| omsd_cmd.get(i + 1))
        .expect("omsd run --config FILE");
    assert_eq!(at("omsd", config), "config/compose.toml");
    let prom_cmd = command(&services["prometheus"]);
    let prom_config = prom_cmd
        .iter()
        .find_map(|a| a.strip_prefix("--config.file="))
        .expect("--config.file");
    assert_eq!(at("prometheus", prom_config), "config/prometheus.yml");
    let dir = prom_config.rsplit_once('/').map(|(d, _)| d).unwrap_or(".");
    for rule_file in ops::yaml("config/prometheus.yml")["rule_files"]
        .as_array()
        .expect("rules")
    {
        let rule_file = rule_file.as_str().expect("rule file");
        assert_eq!(
            at("prometheus", &format!("{dir}/{rule_file}")),
            format!("config/{rule_file}")
        );
    }
    assert_eq!(
        at("grafana", "/etc/grafana/provisioning"),
        "grafana/provisioning"
    );
    let provider = ops::yaml("grafana/provisioning/dashboards/omsd.yml");
    let path = provider["providers"][0]["options"]["path"]
        .as_str()
        .expect("provider path");
    assert_eq!(at("grafana", path), "grafana/dashboards");
    let grafana_env = environment(&services["grafana"]);
    let home = &grafana_env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"];
    let file = home
        .strip_prefix(&format!("{path}/"))
        .expect("home dashboard under the provider path");
    assert!(
        ops::repo_file(&format!("grafana/dashboards/{file}")).is_file(),
        "{home}"
    );
    assert_eq!(grafana_env["GF_AUTH_ANONYMOUS_ENABLED"], "false");
}
