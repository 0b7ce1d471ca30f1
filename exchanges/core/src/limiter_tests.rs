//! Tests of the rate limiter on paused tokio time.

use std::sync::Mutex as StdMutex;

use super::report::unix_ms_at;
use super::*;

const MINUTE: Duration = Duration::from_secs(60);
const W: &str = "request_weight";
const O: &str = "orders";

fn limiter(limit: u32, margin: f64, reserve: f64) -> Arc<RateLimiter> {
    let config = LimiterConfig {
        safety_margin: margin,
        data_reserve: reserve,
        max_in_flight_orders: 2,
        ..LimiterConfig::default()
    };
    let scopes = [
        ScopeLimit {
            scope: W,
            limit,
            interval: MINUTE,
        },
        ScopeLimit {
            scope: O,
            limit: 5,
            interval: Duration::from_secs(10),
        },
    ];
    Arc::new(RateLimiter::new(config, &scopes))
}

fn elapsed(start: Instant) -> u64 {
    Instant::now().duration_since(start).as_secs()
}

fn retry_secs(err: &ExchangeError) -> Option<u64> {
    match err {
        ExchangeError::Unavailable { retry_after, .. } => retry_after.map(|d| d.as_secs()),
        _ => None,
    }
}

#[tokio::test(start_paused = true)]
async fn windows_margin_and_lanes_table() {
    // (name, limit, margin, reserve, pre-used by lane, request lane, cost,
    //  Ok(waited seconds) or Err(retry seconds))
    type Case = (
        &'static str,
        u32,
        f64,
        f64,
        Vec<(Lane, u32)>,
        Lane,
        u32,
        Result<u64, u64>,
    );
    let cases: Vec<Case> = vec![
        ("fits", 100, 0.8, 0.0, vec![], Lane::Order, 80, Ok(0)),
        (
            "margin: 81 of 100 never fits",
            100,
            0.8,
            0.0,
            vec![],
            Lane::Order,
            81,
            Err(0),
        ),
        (
            "window full: order fails fast",
            100,
            0.8,
            0.0,
            vec![(Lane::Order, 80)],
            Lane::Order,
            1,
            Err(60),
        ),
        (
            "window full: data waits for the next window",
            100,
            0.8,
            0.0,
            vec![(Lane::Order, 80)],
            Lane::Data,
            1,
            Ok(60),
        ),
        (
            "data may not use the reserve",
            100,
            0.8,
            0.2,
            vec![(Lane::Data, 64)],
            Lane::Data,
            1,
            Ok(60),
        ),
        (
            "orders may use the reserve",
            100,
            0.8,
            0.2,
            vec![(Lane::Data, 64)],
            Lane::Order,
            16,
            Ok(0),
        ),
        (
            "data cost above its budget never fits",
            100,
            0.8,
            0.2,
            vec![],
            Lane::Data,
            65,
            Err(0),
        ),
    ];
    for (name, limit, margin, reserve, pre, lane, cost, want) in cases {
        let limiter = limiter(limit, margin, reserve);
        for (pre_lane, pre_cost) in pre {
            let taken = limiter.acquire(pre_lane, &[(W, pre_cost)]).await;
            assert!(taken.is_ok(), "{name}: pre {taken:?}");
        }
        let start = Instant::now();
        let got = limiter.acquire(lane, &[(W, cost)]).await;
        let got = got
            .map(|()| elapsed(start))
            .map_err(|e| retry_secs(&e).unwrap_or(0));
        assert_eq!(got, want, "{name}");
    }
}

#[tokio::test(start_paused = true)]
async fn orders_scope_and_unknown_scopes() {
    let limiter = limiter(1000, 1.0, 0.0);
    for _ in 0..5 {
        let ok = limiter
            .acquire(Lane::Order, &[(W, 1), (O, 1), ("nope", 9)])
            .await;
        assert!(ok.is_ok());
    }
    let sixth = limiter.acquire(Lane::Order, &[(W, 1), (O, 1)]).await;
    assert_eq!(
        sixth.as_ref().map_err(retry_secs),
        Err(Some(10)),
        "{sixth:?}"
    );
    let health = limiter.health();
    let orders = health.scopes.iter().find(|s| s.scope == O);
    assert_eq!(orders.map(|s| (s.used, s.rejected_total)), Some((5, 1)));
}

#[tokio::test(start_paused = true)]
async fn throttle_pauses_every_lane_and_ban_halts() {
    let limiter = limiter(100, 0.8, 0.2);
    assert_eq!(
        limiter.throttled(Some(Duration::from_secs(5))),
        Duration::from_secs(5)
    );
    let order = limiter.acquire(Lane::Order, &[(W, 1)]).await;
    assert_eq!(
        order.as_ref().map_err(retry_secs),
        Err(Some(5)),
        "order fails fast"
    );
    let start = Instant::now();
    assert!(limiter.acquire(Lane::Data, &[(W, 1)]).await.is_ok());
    assert_eq!(elapsed(start), 5, "data waited out the pause");

    limiter.banned(Some(Duration::from_secs(120)));
    let health = limiter.health();
    assert_eq!(
        (health.throttled_429_total, health.banned_418_total),
        (1, 1)
    );
    assert!(health.banned_until_ms.is_some() && health.paused_until_ms.is_none());
    for lane in [Lane::Order, Lane::Data] {
        let refused = limiter.acquire(lane, &[(W, 1)]).await;
        assert_eq!(
            refused.as_ref().map_err(retry_secs),
            Err(Some(120)),
            "{lane:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn venue_reported_usage_slows_us_down() {
    let limiter = limiter(100, 0.8, 0.0);
    assert!(limiter.acquire(Lane::Data, &[(W, 10)]).await.is_ok());
    // Another client on our IP used more: the venue says 79 of its window, resetting in 30 s.
    limiter.observe_usage(W, 79, Some(Duration::from_secs(30)));
    let start = Instant::now();
    assert!(limiter.acquire(Lane::Data, &[(W, 2)]).await.is_ok());
    assert_eq!(elapsed(start), 30);
    // A report from the venue's next window replaces our count (2) instead of raising it.
    limiter.observe_usage(W, 1, Some(Duration::from_secs(95)));
    let scope = limiter.health().scopes.into_iter().find(|s| s.scope == W);
    assert_eq!(
        scope.map(|s| (s.used, s.venue_reported_used)),
        Some((1, Some(1)))
    );
}

#[tokio::test(start_paused = true)]
async fn order_lane_goes_before_a_data_caller_that_waited_longer() {
    // One unit left in the window; a data caller waits first, an order caller arrives later.
    let limiter = limiter(10, 1.0, 0.0);
    assert!(limiter.acquire(Lane::Data, &[(W, 9)]).await.is_ok());
    limiter.throttled(Some(Duration::from_secs(1)));
    let finished = Arc::new(StdMutex::new(Vec::new()));
    let spawn = |lane: Lane| {
        let (limiter, finished) = (limiter.clone(), finished.clone());
        tokio::spawn(async move {
            let result = limiter.acquire(lane, &[(W, 1)]).await;
            let mut done = finished.lock().unwrap_or_else(|e| e.into_inner());
            done.push((lane, result.is_ok(), Instant::now()));
        })
    };
    let start = Instant::now();
    let data = spawn(Lane::Data);
    tokio::task::yield_now().await;
    let order = spawn(Lane::Order);
    let _ = tokio::join!(data, order);
    let done = finished.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let summary: Vec<(Lane, bool, u64)> = done
        .iter()
        .map(|(lane, ok, at)| (*lane, *ok, at.duration_since(start).as_secs()))
        .collect();
    assert_eq!(
        summary,
        vec![(Lane::Order, true, 1), (Lane::Data, true, 60)]
    );
}

#[tokio::test(start_paused = true)]
async fn in_flight_orders_are_capped() {
    let limiter = limiter(100, 0.8, 0.2);
    let first = limiter.order_slot().await;
    let second = limiter.order_slot().await;
    assert!(first.is_ok() && second.is_ok());
    assert_eq!(limiter.health().in_flight_orders, 2);
    let start = Instant::now();
    let third = limiter.order_slot().await;
    assert!(
        matches!(third, Err(ExchangeError::Unavailable { .. })),
        "{third:?}"
    );
    assert_eq!(elapsed(start), 2, "waited the order lane's max wait");
    drop(first);
    assert!(limiter.order_slot().await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn configure_resizes_from_published_limits() {
    let limiter = limiter(100, 0.5, 0.0);
    assert_eq!(limiter.health().scopes[0].effective_limit, 50);
    limiter.configure(&[ScopeLimit {
        scope: W,
        limit: 6000,
        interval: MINUTE,
    }]);
    let scope = &limiter.health().scopes[0];
    assert_eq!((scope.venue_limit, scope.effective_limit), (6000, 3000));
    assert!(limiter.acquire(Lane::Order, &[(W, 2500)]).await.is_ok());
}

#[test]
fn aligned_reset_table() {
    let cases = [
        (0, 60_000, 60_000),
        (59_999, 60_000, 1),
        (60_000, 60_000, 60_000),
        (1_234_567, 10_000, 5_433),
    ];
    for (now, interval, want) in cases {
        assert_eq!(
            aligned_reset(now, Duration::from_millis(interval)),
            Duration::from_millis(want),
            "{now} {interval}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn order_flow_held_by_its_own_scope_does_not_starve_data_or_resolution() {
    // Heavy order flow for two minutes: the orders scope (5 per 10 s) is always used up and
    // order callers keep waiting for it (patient ones, so that they queue for the next window).
    let config = LimiterConfig {
        safety_margin: 1.0,
        order_max_wait: Duration::from_secs(30),
        ..LimiterConfig::default()
    };
    let scopes = [
        ScopeLimit {
            scope: W,
            limit: 1000,
            interval: MINUTE,
        },
        ScopeLimit {
            scope: O,
            limit: 5,
            interval: Duration::from_secs(10),
        },
    ];
    let limiter = Arc::new(RateLimiter::new(config, &scopes));
    let stop = Instant::now() + Duration::from_secs(120);
    let flow = tokio::spawn({
        let limiter = limiter.clone();
        async move {
            let mut callers = tokio::task::JoinSet::new();
            while Instant::now() < stop {
                for _ in 0..4 {
                    let limiter = limiter.clone();
                    callers.spawn(async move {
                        let _ = limiter.acquire(Lane::Order, &[(W, 1), (O, 1)]).await;
                    });
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            while callers.join_next().await.is_some() {}
        }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Book resyncs (data lane, weight only) and order-resolution queries (order lane, weight
    // only) during the flow are granted at once.
    for round in 0..20 {
        let start = Instant::now();
        let resync = limiter.acquire(Lane::Data, &[(W, 5)]).await;
        let resolve = limiter.acquire(Lane::Order, &[(W, 4)]).await;
        assert!(
            resync.is_ok() && resolve.is_ok(),
            "round {round}: {resync:?} {resolve:?}"
        );
        assert_eq!(elapsed(start), 0, "round {round} waited");
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    assert!(flow.await.is_ok());
    let orders = limiter.health().scopes.into_iter().find(|s| s.scope == O);
    assert!(
        orders.is_some_and(|s| s.waits_total > 0),
        "the flow was held back"
    );
}

#[tokio::test(start_paused = true)]
async fn huge_retry_after_is_clamped_and_never_panics() {
    // (retry after given to a 429 / 418, pause expected)
    let cases = [
        (Some(Duration::from_secs(5)), Duration::from_secs(5)),
        (None, LimiterConfig::default().default_pause),
        (Some(Duration::from_secs(u64::MAX)), MAX_PAUSE),
        (Some(Duration::MAX), MAX_PAUSE),
        (Some(MAX_PAUSE + Duration::from_nanos(1)), MAX_PAUSE),
        (Some(Duration::ZERO), Duration::ZERO),
    ];
    for (retry_after, want) in cases {
        let limiter = limiter(100, 0.8, 0.2);
        assert_eq!(limiter.throttled(retry_after), want, "429 {retry_after:?}");
        assert!(
            limiter.banned(retry_after) <= MAX_PAUSE,
            "418 {retry_after:?}"
        );
        let health = limiter.health();
        if !want.is_zero() {
            let until = health.banned_until_ms.unwrap_or(0);
            let max = unix_ms_at(Instant::now() + MAX_PAUSE);
            assert!(until > 0 && until <= max + 1000, "{retry_after:?}: {until}");
        }
        let refused = limiter.acquire(Lane::Order, &[(W, 1)]).await;
        assert_eq!(refused.is_err(), !want.is_zero(), "{retry_after:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn connection_attempts_stay_within_the_budget_and_honour_a_ban() {
    let config = LimiterConfig {
        connect_budget: 2,
        connect_window: Duration::from_secs(10),
        ..LimiterConfig::default()
    };
    let limiter = RateLimiter::new(config, &[]);
    assert!(limiter.connect(Lane::Data, &[]).await.is_ok());
    assert!(limiter.connect(Lane::Data, &[]).await.is_ok());
    let third = limiter.connect(Lane::Data, &[]).await;
    assert_eq!(
        third.as_ref().map_err(retry_secs),
        Err(Some(10)),
        "{third:?}"
    );
    tokio::time::advance(Duration::from_secs(10)).await;
    limiter.banned(Some(Duration::from_secs(60)));
    let banned = limiter.connect(Lane::Order, &[]).await;
    assert_eq!(
        banned.as_ref().map_err(retry_secs),
        Err(Some(60)),
        "{banned:?}"
    );
    let health = limiter.health().connect;
    assert_eq!(
        (
            health.budget,
            health.attempts_total,
            health.refused_total,
            health.in_window
        ),
        (2, 2, 1, 0)
    );
}
