//! omsd under a service manager, end to end with the real binary against the simulator:
//! `systemd-analyze verify` accepts the unit; READY=1 arrives only after start-up
//! reconciliation, then WATCHDOG=1 pings, which stop while the order processor is wedged on a
//! locked store and resume once it is free; SIGTERM during order flow exits 0 within the
//! grace period and the restarted daemon's store equals the venue; a stop that cannot finish
//! within the grace period exits non-zero and names what it abandoned; cancel-on-shutdown
//! cancels open orders at the venue and new orders meanwhile get 503 (without it, open orders
//! stay open).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::consistency::converge;
use common::daemon::{Daemon, child_config, free_port, log_tail};
use common::store_view::read_orders;
use common::venue::{SignedVenue, VenueTruth};
use common::workload::{Ledger, Rng, client, limit_body};
use common::{Backend, Stack};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::Connection;

const READY_DEADLINE: Duration = Duration::from_secs(60);
const SYMBOLS: [&str; 2] = ["BTCUSDT", "ETHUSDT"];

fn tool_missing(tool: &str) -> bool {
    let found = std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but {tool} is not installed"
        );
        eprintln!("skipping: {tool} is not installed");
    }
    !found
}

#[test]
fn systemd_accepts_the_unit_and_its_stop_timeout_covers_the_grace_period() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let unit = std::fs::read_to_string(root.join("config/omsd.service")).expect("unit file");
    for line in [
        "Type=notify",
        "NotifyAccess=main",
        "EnvironmentFile=",
        "Restart=on-failure",
    ] {
        assert!(unit.contains(line), "the unit has {line}");
    }
    let seconds = |key: &str| -> u64 {
        let line = unit
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("the unit sets {key}"));
        line.trim().parse().expect("whole seconds")
    };
    assert!(seconds("WatchdogSec") >= 2);
    let config = omsd::config::Config::load(&root.join("config/default.toml")).expect("config");
    assert!(
        seconds("TimeoutStopSec") * 1000 > config.shutdown.grace_ms,
        "TimeoutStopSec must exceed shutdown.grace_ms, or systemd kills a stop still in grace"
    );
    if tool_missing("systemd-analyze") {
        return;
    }
    // Verify a copy whose paths name things that exist here: the built binary, a config and
    // an environment file.
    let dir = common::tempdir::TempDir::new("omsd-unit");
    let (config_path, env_path) = (dir.path().join("omsd.toml"), dir.path().join("omsd.env"));
    std::fs::write(&config_path, "").expect("config");
    std::fs::write(&env_path, "").expect("env file");
    let copy = unit
        .replace("/usr/local/bin/omsd", env!("CARGO_BIN_EXE_omsd"))
        .replace("/etc/omsd/omsd.toml", &config_path.display().to_string())
        .replace("/etc/omsd/omsd.env", &env_path.display().to_string());
    assert!(!copy.contains("/usr/local/bin/omsd") && !copy.contains("/etc/omsd/"));
    let path = dir.path().join("omsd.service");
    std::fs::write(&path, copy).expect("unit copy");
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("run systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Unknown keys are only warnings: any line about the unit fails the test too.
    let about_unit: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("omsd.service"))
        .collect();
    assert!(
        out.status.success() && about_unit.is_empty(),
        "systemd-analyze verify: {}\n{stderr}",
        out.status
    );
}

/// The datagrams omsd sends to the notify socket, with when each arrived.
struct Notifications {
    socket: tokio::net::UnixDatagram,
    seen: Vec<(Instant, String)>,
}

impl Notifications {
    /// The next datagram, or `None` after `wait`.
    async fn next(&mut self, wait: Duration) -> Option<String> {
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(wait, self.socket.recv(&mut buf))
            .await
            .ok()?
            .ok()?;
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        self.seen.push((Instant::now(), text.clone()));
        Some(text)
    }

    /// Waits for a datagram holding `what`.
    async fn until(&mut self, what: &str, wait: Duration) -> bool {
        let end = Instant::now() + wait;
        while Instant::now() < end {
            match self.next(end - Instant::now()).await {
                Some(text) if text.lines().any(|l| l == what) => return true,
                Some(_) => {}
                None => return false,
            }
        }
        false
    }

    /// The pings that arrive within `wait`, by arrival time.
    async fn pings(&mut self, wait: Duration) -> Vec<Instant> {
        let end = Instant::now() + wait;
        let mut pings = Vec::new();
        while Instant::now() < end {
            match self.next(end - Instant::now()).await {
                Some(text) if text.lines().any(|l| l == "WATCHDOG=1") => pings.push(Instant::now()),
                Some(_) => {}
                None => break,
            }
        }
        pings
    }
}

/// The longest stretch without a ping between `from`, the pings and `to`.
fn longest_silence(from: Instant, pings: &[Instant], to: Instant) -> Duration {
    let mut marks = vec![from];
    marks.extend_from_slice(pings);
    marks.push(to);
    marks
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default()
}

/// Places an order of ours at the venue behind omsd's back: start-up reconciliation must
/// find and adopt it before omsd reports ready.
async fn place_behind_omsd(sim: &exchange_sim::SimHandle, client_order_id: &str) {
    let book: Value = reqwest::get(format!(
        "{}/api/v3/depth?symbol=BTCUSDT&limit=5",
        sim.rest_url()
    ))
    .await
    .expect("depth")
    .json()
    .await
    .expect("depth json");
    let bid: Decimal = book["bids"][0][0]
        .as_str()
        .expect("a bid")
        .parse()
        .expect("price");
    let price = (bid * Decimal::new(95, 2)).round_dp(2);
    let venue = SignedVenue::for_sim(sim);
    let (status, body) = venue
        .send(
            reqwest::Method::POST,
            "/api/v3/order",
            &[
                ("symbol", "BTCUSDT".into()),
                ("side", "BUY".into()),
                ("type", "LIMIT".into()),
                ("timeInForce", "GTC".into()),
                ("quantity", "0.001".into()),
                ("price", price.to_string()),
                ("newClientOrderId", client_order_id.into()),
            ],
        )
        .await
        .expect("venue answers");
    assert_eq!(status, 200, "{body}");
}

/// Holds the store's write lock from outside omsd until dropped (SQLite: an exclusive
/// transaction; PostgreSQL: an exclusive lock on `orders`).
enum StoreLock {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl StoreLock {
    async fn take(store_url: &str) -> StoreLock {
        if store_url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(store_url)
                .await
                .expect("sqlite");
            sqlx::query("BEGIN EXCLUSIVE")
                .execute(&mut conn)
                .await
                .expect("lock");
            StoreLock::Sqlite(conn)
        } else {
            let mut conn = sqlx::PgConnection::connect(store_url)
                .await
                .expect("postgres");
            sqlx::query("BEGIN")
                .execute(&mut conn)
                .await
                .expect("begin");
            sqlx::query("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
                .execute(&mut conn)
                .await
                .expect("lock");
            StoreLock::Postgres(conn)
        }
    }

    async fn release(self) {
        match self {
            StoreLock::Sqlite(mut conn) => {
                sqlx::query("ROLLBACK")
                    .execute(&mut conn)
                    .await
                    .expect("unlock");
                let _ = conn.close().await;
            }
            StoreLock::Postgres(mut conn) => {
                sqlx::query("ROLLBACK")
                    .execute(&mut conn)
                    .await
                    .expect("unlock");
                let _ = conn.close().await;
            }
        }
    }
}

async fn notify_and_watchdog(backend: Backend) {
    let dir = common::tempdir::TempDir::new("omsd-notify");
    let Some(store_url) = store_for(backend, dir.path()).await else {
        return;
    };
    let sim = exchange_sim::start(exchange_sim::SimConfig::demo())
        .await
        .expect("simulator starts");
    place_behind_omsd(&sim, "omsd-placed-behind-its-back").await;

    let socket_path = dir.path().join("notify.sock");
    let socket = tokio::net::UnixDatagram::bind(&socket_path).expect("bind the notify socket");
    let mut notes = Notifications {
        socket,
        seen: Vec::new(),
    };
    let port = free_port();
    let socket_text = socket_path.display().to_string();
    let mut daemon = Daemon::spawn_env(
        dir.path(),
        child_config(&sim, &store_url, port),
        port,
        &[
            ("NOTIFY_SOCKET", &socket_text),
            ("WATCHDOG_USEC", "1000000"),
        ],
    );
    let log = daemon.log_path().to_path_buf();
    let fail = |what: String| -> ! { panic!("{what}\n--- omsd log ---\n{}", log_tail(&log, 60)) };
    if !notes.until("READY=1", READY_DEADLINE).await {
        fail(format!(
            "no READY=1 within {READY_DEADLINE:?}: {:?}",
            notes.seen
        ));
    }
    // At READY, reconciliation has run: the order placed behind omsd's back is adopted and
    // the daemon answers ready.
    let stored = read_orders(&store_url).await.expect("read the store");
    assert!(
        stored.contains_key("omsd-placed-behind-its-back"),
        "READY=1 came before start-up reconciliation adopted the venue's open order"
    );
    let http = reqwest::Client::new();
    let ready = http.get(format!("{}/readyz", daemon.base())).send().await;
    assert_eq!(ready.map(|r| r.status().as_u16()).ok(), Some(200));

    let pings = notes.pings(Duration::from_secs(3)).await;
    assert!(pings.len() >= 3, "pings after READY: {:?}", notes.seen);

    // Wedge the order processor: the next order's write waits on the lock and does not return.
    let mid = common::workload::mid(&http, &daemon.base(), "BTC-USDT").await;
    let price = mid.expect("a book") * Decimal::new(99, 2);
    let body = limit_body("BTC-USDT", "buy", Decimal::new(1, 3), price, "gtc");
    let lock = StoreLock::take(&store_url).await;
    let submit = {
        let (http, url) = (http.clone(), format!("{}/v1/orders", daemon.base()));
        tokio::spawn(async move {
            let req = http
                .post(url)
                .header("Idempotency-Key", "wedge-1")
                .json(&body);
            tokio::time::timeout(Duration::from_secs(60), req.send()).await
        })
    };
    let locked_at = Instant::now();
    let locked_pings = notes.pings(Duration::from_secs(6)).await;
    let silence = longest_silence(locked_at, &locked_pings, Instant::now());
    lock.release().await;
    assert!(
        silence >= Duration::from_millis(2500),
        "pings every 500 ms should stop while the store is locked; longest silence {silence:?}"
    );
    let resumed = notes.pings(Duration::from_secs(5)).await;
    assert!(resumed.len() >= 2, "pings resume once the store is free");
    let _ = submit.await;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.lines()
            .any(|l| l.contains("watchdog ping withheld") && l.contains("order_processor")),
        "the log names the stale loop\n{}",
        log_tail(&log, 40)
    );
    daemon.terminate();
    let status = daemon.wait_exit(Duration::from_secs(40)).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "exit after SIGTERM: {status:?}"
    );
    // What it sent meanwhile waits in the socket.
    for _ in 0..10_000 {
        if notes.next(Duration::from_millis(200)).await.is_none() {
            break;
        }
    }
    assert!(
        notes
            .seen
            .iter()
            .any(|(_, t)| t.lines().any(|l| l == "STOPPING=1")),
        "STOPPING=1 on SIGTERM"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_after_reconciliation_then_pings_that_stop_while_the_oms_is_wedged_sqlite() {
    notify_and_watchdog(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_after_reconciliation_then_pings_that_stop_while_the_oms_is_wedged_postgres() {
    notify_and_watchdog(Backend::Postgres).await;
}

/// The simulator with rate limits far above what the test sends.
fn roomy_sim() -> exchange_sim::SimConfig {
    let mut config = exchange_sim::SimConfig::demo();
    config.limits.request_weight_per_minute = 10_000_000;
    config.limits.raw_requests_per_5m = 10_000_000;
    config.limits.orders_per_10s = 1_000_000;
    config.limits.orders_per_day = 100_000_000;
    config
}

/// A fresh store of `backend` under `dir`; `None` without a PostgreSQL server (outside CI).
async fn store_for(backend: Backend, dir: &std::path::Path) -> Option<String> {
    match backend {
        Backend::Sqlite => Some(format!("sqlite:{}", dir.join("omsd.db").display())),
        _ => Some(common::fresh_postgres_database(&common::postgres_server_url()?).await),
    }
}

async fn sigterm_during_order_flow(backend: Backend) {
    const GRACE: Duration = Duration::from_secs(15);
    let dir = common::tempdir::TempDir::new("omsd-sigterm");
    let Some(store_url) = store_for(backend, dir.path()).await else {
        return;
    };
    let sim = exchange_sim::start(roomy_sim())
        .await
        .expect("simulator starts");
    let port = free_port();
    let config = format!(
        "{}\n[shutdown]\ngrace_ms = {}\n",
        child_config(&sim, &store_url, port),
        GRACE.as_millis()
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client");
    let mut daemon = Daemon::spawn_config(dir.path(), config.clone(), port);
    let log = daemon.log_path().to_path_buf();
    if let Err(e) = daemon.wait_ready(&http, READY_DEADLINE).await {
        panic!("{e}\n--- omsd log ---\n{}", log_tail(&log, 60));
    }
    let ledger = Arc::new(Ledger::default());
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..3)
        .map(|c| {
            tokio::spawn(client(
                http.clone(),
                daemon.base(),
                Rng::new(0x5167 + c),
                format!("sigterm-{c}"),
                1,
                Arc::clone(&ledger),
                Arc::clone(&stop),
            ))
        })
        .collect();
    let flowing = common::poll(Duration::from_secs(30), || {
        let ledger = Arc::clone(&ledger);
        async move {
            let n = ledger.submissions.lock().expect("log").len();
            (n >= 30).then_some(n)
        }
    })
    .await;
    assert!(flowing.is_some(), "orders flow before SIGTERM");

    // SIGTERM while the clients keep submitting and the venue keeps filling.
    daemon.terminate();
    let status = daemon.wait_exit(GRACE + Duration::from_secs(10)).await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.await;
    }
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        status.is_some_and(|s| s.success()),
        "exit status {status:?}\n--- omsd log ---\n{}",
        log_tail(&log, 60)
    );
    assert!(
        text.contains("shutdown finished within the grace period"),
        "{}",
        log_tail(&log, 30)
    );
    println!("{backend:?}: answers [{}]", ledger.take_counts());

    // Restarted on the same store, omsd agrees with the venue on every order and fill.
    let mut daemon = Daemon::spawn_config(dir.path(), config, port);
    if let Err(e) = daemon.wait_ready(&http, READY_DEADLINE).await {
        panic!("{e}\n--- omsd log ---\n{}", log_tail(&log, 60));
    }
    let venue = SignedVenue::for_sim_from(&sim, std::net::Ipv4Addr::new(127, 0, 0, 2));
    let mut truth = VenueTruth::default();
    let verdict = converge(
        &venue,
        &mut truth,
        &store_url,
        &SYMBOLS,
        Duration::from_secs(20),
    )
    .await;
    if let Err(problems) = verdict {
        panic!(
            "store and venue disagree after the restart:\n  {}\n--- omsd log ---\n{}",
            problems.join("\n  "),
            log_tail(&log, 60)
        );
    }
    daemon.kill().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_order_flow_exits_zero_within_the_grace_period_and_loses_nothing_sqlite() {
    sigterm_during_order_flow(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_order_flow_exits_zero_within_the_grace_period_and_loses_nothing_postgres() {
    sigterm_during_order_flow(Backend::Postgres).await;
}

/// Rests three buys well below the market; their order ids.
async fn rest_orders(stack: &Stack) -> Vec<i64> {
    let mid = common::workload::mid(&stack.http, &stack.url(""), "BTC-USDT").await;
    let mid = mid.expect("a book");
    let mut ids = Vec::new();
    for i in 0..3 {
        let price = mid * Decimal::new(90 - i, 2);
        let body = limit_body("BTC-USDT", "buy", Decimal::new(1, 3), price, "gtc");
        let (status, order) = stack.post_order(Some(&format!("rest-{i}")), &body).await;
        assert_eq!(status, 201, "{order}");
        assert_eq!(order["status"], "new", "{order}");
        ids.push(order["id"].as_i64().expect("id"));
    }
    ids
}

/// The venue status of each of our orders' client order ids.
async fn venue_statuses(stack: &Stack) -> Vec<String> {
    let venue = SignedVenue::for_sim(&stack.sim);
    let orders = venue.all_orders("BTCUSDT", 0).await.expect("all orders");
    orders
        .iter()
        .filter(|o| o.client_order_id.starts_with("omsd-"))
        .map(|o| o.status.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_on_shutdown_cancels_open_orders_at_the_venue_and_refuses_new_ones() {
    let Some(mut stack) = Stack::start_with(Backend::Sqlite, roomy_sim(), |c| {
        c.shutdown.cancel_open_orders = true
    })
    .await
    else {
        return;
    };
    let ids = rest_orders(&stack).await;
    // Slow the venue's engine so that the stop's cancel phase lasts long enough to be seen.
    stack.inject(json!({"fault": "latency", "params": {"mean_ms": 1500, "target": "engine"}}));
    let app = stack.app.take().expect("running");
    let submit_url = format!("http://{}/v1/orders", app.control_addr());
    let stopping = tokio::spawn(app.stop());
    let body = limit_body(
        "BTC-USDT",
        "buy",
        Decimal::new(1, 3),
        Decimal::new(1000, 0),
        "gtc",
    );
    let mut refused = None;
    for attempt in 0..200 {
        let resp = stack
            .http
            .post(&submit_url)
            .header("Idempotency-Key", format!("late-{attempt}"))
            .json(&body)
            .send()
            .await;
        let Ok(resp) = resp else { break };
        let status = resp.status().as_u16();
        let answer: Value = resp.json().await.unwrap_or(Value::Null);
        if status == 503 {
            refused = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        stopping.await.expect("stop"),
        "a clean stop within the grace period"
    );
    let refused = refused.expect("a new order refused while the daemon drains");
    assert_eq!(refused["error"]["code"], "shutting_down", "{refused}");
    stack.sim.faults().clear_all();
    assert_eq!(venue_statuses(&stack).await, ["CANCELED"; 3]);
    let stored = read_orders(&stack.store_url).await.expect("store");
    for id in ids {
        let order = stored.values().find(|o| o.id == id).expect("stored");
        assert_eq!(order.status, "canceled", "order {id}");
    }
    stack.stop().await;

    // Off by default: open orders stay working at the venue.
    let Some(mut stack) = Stack::start_with(Backend::Sqlite, roomy_sim(), |_| {}).await else {
        return;
    };
    rest_orders(&stack).await;
    let app = stack.app.take().expect("running");
    assert!(app.stop().await);
    assert_eq!(venue_statuses(&stack).await, ["NEW"; 3]);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_that_overruns_its_grace_period_exits_non_zero_and_says_what_it_abandoned() {
    let dir = common::tempdir::TempDir::new("omsd-grace");
    let store_url = format!("sqlite:{}", dir.path().join("omsd.db").display());
    let sim = exchange_sim::start(roomy_sim())
        .await
        .expect("simulator starts");
    let port = free_port();
    let config = format!(
        "{}\n[shutdown]\ngrace_ms = 1000\n",
        child_config(&sim, &store_url, port)
    );
    let http = reqwest::Client::new();
    let mut daemon = Daemon::spawn_config(dir.path(), config, port);
    let log = daemon.log_path().to_path_buf();
    if let Err(e) = daemon.wait_ready(&http, READY_DEADLINE).await {
        panic!("{e}\n--- omsd log ---\n{}", log_tail(&log, 60));
    }
    // An order whose write waits on a lock held from outside: the drain cannot finish.
    let mid = common::workload::mid(&http, &daemon.base(), "BTC-USDT").await;
    let price = mid.expect("a book") * Decimal::new(99, 2);
    let body = limit_body("BTC-USDT", "buy", Decimal::new(1, 3), price, "gtc");
    let lock = StoreLock::take(&store_url).await;
    let submit = {
        let url = format!("{}/v1/orders", daemon.base());
        let http = http.clone();
        tokio::spawn(async move {
            let req = http
                .post(url)
                .header("Idempotency-Key", "held-1")
                .json(&body);
            tokio::time::timeout(Duration::from_secs(30), req.send()).await
        })
    };
    // Writes are blocked once the store first reports the lock (after its busy timeout).
    let locked = common::poll(Duration::from_secs(15), || {
        let log = log.clone();
        async move {
            let text = std::fs::read_to_string(&log).ok()?;
            text.contains("database is locked").then_some(())
        }
    })
    .await;
    assert!(locked.is_some(), "{}", log_tail(&log, 30));
    daemon.terminate();
    let status = daemon.wait_exit(Duration::from_secs(30)).await;
    lock.release().await;
    let _ = submit.await;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        status.is_some_and(|s| !s.success()),
        "exit status {status:?}\n{}",
        log_tail(&log, 30)
    );
    assert!(
        text.contains("shutdown grace period exceeded") && text.contains("still_running"),
        "{}",
        log_tail(&log, 30)
    );
    sim.shutdown().await;
}
