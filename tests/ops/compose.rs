//! docker-compose.yml read as a value: services, bind mounts, environment with the compose
//! defaults, published ports, commands.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

/// Compose-style interpolation of `${VAR:-default}` with the defaults only, so the test does not
/// depend on the caller's environment.
pub fn compose_defaults(value: &str) -> String {
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

/// docker-compose.yml, merge keys applied.
pub fn compose() -> Value {
    super::yaml("docker-compose.yml")
}

/// Its services by name.
pub fn services() -> serde_json::Map<String, Value> {
    compose()["services"]
        .as_object()
        .cloned()
        .expect("services")
}

/// `(host path relative to the repository, container path)` of a service's bind mounts.
pub fn binds(service: &Value) -> Vec<(String, String)> {
    service["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let v = v.as_str()?;
            let mut parts = v.split(':');
            let (src, dst) = (parts.next()?, parts.next()?);
            src.starts_with("./")
                .then(|| (src.trim_start_matches("./").to_string(), dst.to_string()))
        })
        .collect()
}

/// The service's environment with compose defaults applied.
pub fn environment(service: &Value) -> HashMap<String, String> {
    service["environment"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let v = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            (k.clone(), compose_defaults(&v))
        })
        .collect()
}

/// `host:port` → port.
pub fn port_of(address: &str) -> u16 {
    let (_, port) = address.rsplit_once(':').expect("host:port");
    port.parse().expect("port number")
}

/// Container ports a service publishes (all must be on 127.0.0.1 of the host).
pub fn published(service: &Value) -> BTreeSet<u16> {
    service["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let p = compose_defaults(p.as_str().expect("port string"));
            let parts: Vec<_> = p.split(':').collect();
            assert!(
                parts.len() == 3 && parts[0] == "127.0.0.1",
                "port {p} is not 127.0.0.1:HOST:CONTAINER"
            );
            parts[2].parse().expect("container port")
        })
        .collect()
}

/// A service's `command` as a list.
pub fn command(service: &Value) -> Vec<String> {
    service["command"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect()
}
