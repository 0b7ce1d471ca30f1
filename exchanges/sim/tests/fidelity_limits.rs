//! ORDERS (unfilled order count) over real sockets: orders that fill leave the count, and
//! concurrent placements cannot all pass the check before any is counted. REQUEST_WEIGHT: a
//! heavy request never takes the used weight past the limit.

mod common;

use common::*;
use futures_util::future::join_all;

fn few_orders() -> exchange_sim::SimConfig {
    let mut config = calm_config();
    config.limits.orders_per_10s = 3;
    config
}

#[tokio::test]
async fn filled_orders_leave_the_unfilled_order_count() {
    let (sim, client) = start(few_orders()).await;
    for round in 0..6 {
        let placed = client.take_best_ask().await;
        assert_eq!(placed["status"], "FILLED", "round {round}: {placed}");
    }
    // A resting order stays counted.
    let resting = client
        .place(&limit_buy("BTCUSDT", "GTC", "0.001", "10000"))
        .await;
    let count: u64 = resting.headers["x-mbx-order-count-10s"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(resting.status.as_u16(), 200, "{resting:?}");
    assert_eq!(count, 1, "only the resting order is unfilled");
    sim.shutdown().await;
}

#[tokio::test]
async fn concurrent_placements_respect_the_orders_limit() {
    let (sim, client) = start(few_orders()).await;
    for _ in 0..3 {
        let window = now_ms() / 10_000;
        let order = limit_buy("BTCUSDT", "GTC", "0.001", "10000");
        let replies = join_all((0..12).map(|_| client.place(&order))).await;
        if now_ms() / 10_000 != window {
            // The burst straddled a 10 s window; a new window may admit more. Try again.
            tokio::time::sleep(std::time::Duration::from_secs(10)).await;
            continue;
        }
        let accepted = replies.iter().filter(|r| r.status.as_u16() == 200).count();
        let limited = replies
            .iter()
            .filter(|r| r.status.as_u16() == 429 && r.body["code"] == -1015)
            .count();
        assert_eq!((accepted, limited), (3, 9), "{replies:?}");
        sim.shutdown().await;
        return;
    }
    panic!("every burst straddled a 10 s window");
}

fn used_weight(reply: &Reply) -> u64 {
    reply.headers["x-mbx-used-weight-1m"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_heavy_request_never_overshoots_the_weight_limit() {
    let mut config = calm_config();
    config.limits.request_weight_per_minute = 30;
    config.limits.ban_after_rejections = 100;
    let (sim, client) = start(config).await;
    for _ in 0..3 {
        let window = now_ms() / 60_000;
        // 20 of the 30 units.
        let info = client.public("/api/v3/exchangeInfo", &[]).await;
        assert_eq!(info.status.as_u16(), 200, "{info:?}");
        let base = used_weight(&info);
        // Heavier than what is left: refused before it runs, nothing charged.
        let deep = client
            .public("/api/v3/depth", &[("symbol", "BTCUSDT"), ("limit", "5000")])
            .await;
        let again = client.public("/api/v3/exchangeInfo", &[]).await;
        let account = client
            .signed(reqwest::Method::GET, "/api/v3/account", &[])
            .await;
        // What fits still runs.
        let light = client
            .public("/api/v3/depth", &[("symbol", "BTCUSDT"), ("limit", "5")])
            .await;
        if now_ms() / 60_000 != window {
            // The sequence straddled a minute; the new minute starts from zero. Try again.
            sleep_into_next_minute().await;
            continue;
        }
        for refused in [&deep, &again, &account] {
            assert_eq!(refused.status.as_u16(), 429, "{refused:?}");
            assert_eq!(refused.body["code"], -1003, "{refused:?}");
            assert!(refused.headers.contains_key("retry-after"), "{refused:?}");
            assert_eq!(
                used_weight(refused),
                base,
                "a refused request is not charged"
            );
        }
        assert_eq!(light.status.as_u16(), 200, "{light:?}");
        assert_eq!(used_weight(&light), base + 5);
        assert!(used_weight(&light) <= 30);
        sim.shutdown().await;
        return;
    }
    panic!("every sequence straddled a minute");
}
