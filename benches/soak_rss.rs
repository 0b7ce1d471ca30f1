//! Memory over time: the omsd binary (a child process) with 50 symbols streaming from the
//! simulator, its resident set size sampled every 10 s. After a 2-minute warm-up it should stay
//! flat: the run prints every sample, the growth from the end of warm-up to the end, and the
//! slope per minute.
//!
//! Bounded: `OMSD_SOAK_MINUTES` (default 10) minutes, loopback only.
//!
//!   cargo bench --bench soak_rss

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::daemon::{Daemon, child_config, free_port};

const SYMBOLS: usize = 50;
const SAMPLE: Duration = Duration::from_secs(10);
const WARM_UP: Duration = Duration::from_secs(120);

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let minutes: u64 = std::env::var("OMSD_SOAK_MINUTES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (sim_config, names) = common::sim_with_symbols(SYMBOLS);
        let symbols: Vec<String> = names.iter().map(|s| format!("\"{s}\"")).collect();
        let sim = exchange_sim::start(sim_config).await.expect("simulator");
        let dir = common::tempdir::TempDir::new("omsd-soak");
        let store = format!("sqlite:{}", dir.path().join("omsd.db").display());
        let port = free_port();
        let config = child_config(&sim, &store, port).replace(
            "symbols = [\"BTC-USDT\", \"ETH-USDT\"]",
            &format!("symbols = [{}]", symbols.join(", ")),
        );
        let mut daemon = Daemon::spawn_config(dir.path(), config, port);
        let http = reqwest::Client::new();
        daemon
            .wait_ready(&http, Duration::from_secs(120))
            .await
            .expect("omsd ready");
        let pid = daemon.pid().expect("running");
        let started = Instant::now();
        let mut samples = Vec::new();
        println!("soak_rss: {SYMBOLS} symbols, {minutes} min, RSS every {SAMPLE:?}");
        while started.elapsed() < Duration::from_secs(minutes * 60) {
            tokio::time::sleep(SAMPLE).await;
            let Some(kib) = rss_kib(pid) else {
                panic!("omsd exited: {}", common::daemon::log_tail(daemon.log_path(), 20));
            };
            let at = started.elapsed();
            println!("{:>6.0} s {:>8} KiB", at.as_secs_f64(), kib);
            samples.push((at, kib));
        }
        let warm = samples
            .iter()
            .find(|(at, _)| *at >= WARM_UP)
            .copied()
            .unwrap_or(samples[0]);
        let last = *samples.last().expect("samples");
        let growth = last.1 as f64 - warm.1 as f64;
        let minutes_after = (last.0 - warm.0).as_secs_f64() / 60.0;
        let peak = samples.iter().map(|s| s.1).max().unwrap_or(0);
        println!(
            "after warm-up: {} KiB at {:.0} s -> {} KiB at {:.0} s: {:+.0} KiB ({:+.1} KiB/min), peak {} KiB",
            warm.1,
            warm.0.as_secs_f64(),
            last.1,
            last.0.as_secs_f64(),
            growth,
            growth / minutes_after.max(1.0 / 60.0),
            peak
        );
        daemon.kill().await;
        sim.shutdown().await;
    });
}
