//! omsd as a child process (the real binary, `omsd run --config FILE`), so a test can kill it
//! with SIGKILL at any moment and start it again on the same store. The child is killed when
//! the guard drops, whatever the test does.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// The daemon configuration of a child pointing at `sim`: control port on `port`, metrics off.
pub fn child_config(sim: &exchange_sim::SimHandle, store_url: &str, port: u16) -> String {
    format!(
        r#"
control = {{ listen = "127.0.0.1:{port}" }}
metrics = {{ enabled = false }}
log = {{ format = "human", level = "info" }}
store = {{ url = "{store_url}" }}
oms = {{ request_timeout_ms = 3000, submit_wait_ms = 3000 }}
[[venues]]
name = "binance"
kind = "binance"
rest_url = "{rest}"
stream_url = "{stream}"
ws_api_url = "{ws_api}"
credentials = "sim-demo"
symbols = ["BTC-USDT", "ETH-USDT"]
"#,
        rest = sim.rest_url(),
        stream = sim.stream_url(),
        ws_api = sim.ws_api_url(),
    )
}

/// A running omsd child; SIGKILLed on drop.
pub struct Daemon {
    child: tokio::process::Child,
    port: u16,
    log: PathBuf,
}

impl Daemon {
    /// Writes the config for a fresh port into `dir` and starts the binary, appending its
    /// stdout and stderr to `dir/omsd.log`.
    pub fn spawn(dir: &Path, sim: &exchange_sim::SimHandle, store_url: &str) -> Daemon {
        let port = free_port();
        Daemon::spawn_config(dir, child_config(sim, store_url, port), port)
    }

    /// Starts the binary with `config` (whose control port is `port`) written into `dir`.
    pub fn spawn_config(dir: &Path, config_text: String, port: u16) -> Daemon {
        Daemon::spawn_env(dir, config_text, port, &[])
    }

    /// [`Daemon::spawn_config`] with extra environment variables.
    pub fn spawn_env(dir: &Path, config_text: String, port: u16, env: &[(&str, &str)]) -> Daemon {
        let config = dir.join("omsd.toml");
        std::fs::write(&config, config_text).expect("write config");
        let log = dir.join("omsd.log");
        let mut out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open log");
        let _ = writeln!(out, "----- omsd starts, control port {port} -----");
        let err = out.try_clone().expect("clone log handle");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_omsd"))
            .arg("run")
            .arg("--config")
            .arg(&config)
            .envs(env.iter().copied())
            .env_remove("OMSD_CONFIG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true)
            .spawn()
            .expect("spawn omsd");
        Daemon { child, port, log }
    }

    /// `http://127.0.0.1:PORT` of the control port.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The log file shared by every run of the child.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Waits until `/readyz` answers 200; `Err` with the reason when the child exits or
    /// `deadline` passes.
    pub async fn wait_ready(
        &mut self,
        http: &reqwest::Client,
        deadline: Duration,
    ) -> Result<Duration, String> {
        let start = Instant::now();
        let url = format!("{}/readyz", self.base());
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("omsd exited before it was ready: {status}"));
            }
            if let Ok(resp) = http.get(&url).send().await
                && resp.status().as_u16() == 200
            {
                return Ok(start.elapsed());
            }
            if start.elapsed() > deadline {
                return Err(format!("omsd not ready within {deadline:?}"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The child's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Sends SIGTERM (as systemd stops a unit).
    pub fn terminate(&self) {
        let pid = self.pid().expect("omsd is running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {pid}: {status}");
    }

    /// Waits for the child to exit; `None` when it still runs after `deadline`.
    pub async fn wait_exit(&mut self, deadline: Duration) -> Option<std::process::ExitStatus> {
        tokio::time::timeout(deadline, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// SIGKILL, then reap.
    pub async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// The last `lines` lines of a log file (for failure messages).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A demo simulator and a ready omsd child on an SQLite file, in a fresh directory.
pub struct Running {
    pub sim: exchange_sim::SimHandle,
    pub dir: super::tempdir::TempDir,
    pub daemon: Daemon,
}

/// Starts a demo simulator and an omsd child on it whose configuration is
/// [`child_config`] passed through `tweak`; waits until it is ready.
pub async fn start_ready(prefix: &str, tweak: impl FnOnce(String) -> String) -> Running {
    let sim = exchange_sim::start(exchange_sim::SimConfig::demo())
        .await
        .expect("simulator");
    let dir = super::tempdir::TempDir::new(prefix);
    let store = format!("sqlite:{}", dir.path().join("omsd.db").display());
    let port = free_port();
    let config = tweak(child_config(&sim, &store, port));
    let mut daemon = Daemon::spawn_config(dir.path(), config, port);
    let http = reqwest::Client::new();
    if let Err(e) = daemon.wait_ready(&http, Duration::from_secs(60)).await {
        panic!("{e}: {}", log_tail(daemon.log_path(), 30));
    }
    Running { sim, dir, daemon }
}
