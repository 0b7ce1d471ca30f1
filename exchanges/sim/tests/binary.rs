//! The `omsd-sim` binary: `--help`, the three start-up lines on stdout, serving, and a clean
//! exit on SIGTERM; and the example config parses into the demo defaults.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use exchange_sim::SimConfig;

const BIN: &str = env!("CARGO_BIN_EXE_omsd-sim");

#[test]
fn help_lists_the_options() {
    let output = Command::new(BIN).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for option in ["--listen", "--config", "--seed"] {
        assert!(help.contains(option), "{help}");
    }
}

#[test]
fn example_config_parses_and_matches_the_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sim.example.toml");
    let config = SimConfig::from_toml_file(&path).unwrap();
    let demo = SimConfig::demo();
    assert_eq!(config.listen.to_string(), "127.0.0.1:18080");
    assert_eq!(config.symbols.len(), 2);
    assert_eq!(config.balances, demo.balances);
    assert_eq!(
        format!("{:?}", config.symbols),
        format!("{:?}", demo.symbols)
    );
    assert_eq!(format!("{:?}", config.market), format!("{:?}", demo.market));
    assert_eq!(
        format!("{:?}", config.streams),
        format!("{:?}", demo.streams)
    );
}

#[test]
fn bad_config_file_fails_with_every_problem() {
    let dir = std::env::temp_dir().join(format!("omsd-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "seed = 1\n[market]\ntick_interval_ms = 0\nmaker_levels = 0\n",
    )
    .unwrap();
    let error = SimConfig::from_toml_file(&path).unwrap_err().to_string();
    assert!(
        error.contains("tick_interval_ms") && error.contains("maker_levels"),
        "{error}"
    );
    std::fs::write(&path, "sede = 1\n").unwrap();
    assert!(SimConfig::from_toml_file(&path).is_err());
    let output = Command::new(BIN)
        .args(["--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn binary_prints_urls_serves_and_exits_on_sigterm() {
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--seed", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || lines.next().unwrap().unwrap();
    let (rest, stream, ws_api) = (next(), next(), next());
    let base = rest.strip_prefix("rest=http://").expect(&rest).to_owned();
    assert_eq!(stream, format!("stream=ws://{base}"));
    assert_eq!(ws_api, format!("ws-api=ws://{base}/ws-api/v3"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ping = runtime.block_on(async {
        let url = format!("http://{base}/api/v3/ping");
        reqwest::get(url).await.unwrap().text().await.unwrap()
    });
    assert_eq!(ping, "{}");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "omsd-sim did not exit on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
}
