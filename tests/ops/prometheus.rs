//! The Debian `prometheus` package (server and promtool), installed when missing, and a real
//! Prometheus server as a child process.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Makes sure `prometheus` and `promtool` are on PATH: installs the Debian package with
/// apt-get when they are missing and this runs as root, else panics with what to do.
pub fn ensure_installed() {
    // Tests of one binary run in parallel: one installs, the others wait for it.
    static INSTALLED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    INSTALLED.get_or_init(install);
}

fn install() {
    if have("promtool") && have("prometheus") {
        return;
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    assert!(
        root,
        "prometheus/promtool not found and not running as root: apt-get install prometheus"
    );
    for args in [
        &["update", "-qq"][..],
        &[
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            "prometheus",
        ][..],
    ] {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .expect("run apt-get");
        assert!(status.success(), "apt-get {args:?} failed: {status}");
    }
    assert!(have("promtool") && have("prometheus"), "still not on PATH");
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `promtool ARGS` in `dir`; `Err` with its output when it fails.
pub fn promtool(dir: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("run promtool: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(text)
    } else {
        Err(format!("promtool {args:?} failed:\n{text}"))
    }
}

/// A Prometheus server on a loopback port; killed on drop.
pub struct Server {
    child: std::process::Child,
    pub base: String,
    pub log: PathBuf,
}

impl Server {
    /// Starts `prometheus` with `config` (a file in `dir`) on `port`, its database in `dir`.
    pub fn start(dir: &Path, config: &Path, port: u16) -> Server {
        let log = dir.join("prometheus.log");
        let out = std::fs::File::create(&log).expect("prometheus log");
        let err = out.try_clone().expect("clone log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=1h")
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn prometheus");
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// Waits for `/-/ready`; panics with the server's log after `deadline`.
    pub async fn wait_ready(&mut self, http: &reqwest::Client, deadline: Duration) {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("prometheus exited: {status}\n{}", self.log_text());
            }
            let url = format!("{}/-/ready", self.base);
            if let Ok(resp) = http.get(&url).send().await
                && resp.status().is_success()
            {
                return;
            }
            assert!(
                start.elapsed() < deadline,
                "prometheus not ready within {deadline:?}\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `/api/v1/query`: `Ok(result array)` or `Err(error text)`.
    pub async fn query(
        &self,
        http: &reqwest::Client,
        expr: &str,
    ) -> Result<Vec<serde_json::Value>, String> {
        let resp = http
            .get(format!("{}/api/v1/query", self.base))
            .query(&[("query", expr)])
            .send()
            .await
            .map_err(|e| format!("request: {e}"))?;
        let body: serde_json::Value = resp.json().await.map_err(|e| format!("body: {e}"))?;
        if body["status"] != "success" {
            return Err(format!("{}: {}", body["errorType"], body["error"]));
        }
        let result = &body["data"]["result"];
        match body["data"]["resultType"].as_str() {
            Some("vector" | "matrix") => Ok(result.as_array().cloned().unwrap_or_default()),
            _ => Ok(vec![result.clone()]),
        }
    }

    /// `GET path` of the HTTP API: its `data`.
    pub async fn api(&self, http: &reqwest::Client, path: &str) -> serde_json::Value {
        let body: serde_json::Value = http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(body["status"], "success", "{path}: {body}");
        body["data"].clone()
    }

    /// `/api/v1/alerts`: every active alert (pending or firing).
    pub async fn alerts(&self, http: &reqwest::Client) -> Vec<serde_json::Value> {
        let body: serde_json::Value = match http
            .get(format!("{}/api/v1/alerts", self.base))
            .send()
            .await
        {
            Ok(resp) => resp.json().await.unwrap_or_default(),
            Err(_) => return Vec::new(),
        };
        body["data"]["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// `/api/v1/rules`: every rule group with its rules' health and last error.
    pub async fn rule_groups(&self, http: &reqwest::Client) -> Vec<serde_json::Value> {
        let body: serde_json::Value = http
            .get(format!("{}/api/v1/rules", self.base))
            .send()
            .await
            .expect("rules API")
            .json()
            .await
            .expect("rules JSON");
        body["data"]["groups"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
