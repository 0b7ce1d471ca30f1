//! The order processor against a scripted venue and a real SQLite store: state transitions
//! (late failures, duplicates), inference and its revision, unreadable reports, fills
//! completeness, restarts, idempotent replays and every pre-trade risk rule.

mod amends;
mod fake;
mod risk_rules;
mod transitions;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use exchange_core::{
    ExecutionKind, ExecutionReport, Fill, OrderStatus, OrderType, Side, TimeInForce,
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::limits::BookMid;
use super::{Oms, OmsError, OmsHandle, OmsSettings, OrderDetail, SubmitRequest, Submitted, ids};
use crate::config::Config;
use crate::market::MidTable;
use crate::store::{self, Store};
use crate::venues::{Venue, Venues};
pub(crate) use fake::{Amend, FakeVenue, Send};

/// A running order processor on the fake venue.
pub(crate) struct Harness {
    pub venue: Arc<FakeVenue>,
    pub oms: OmsHandle,
    pub store: Arc<dyn Store>,
    pub mids: watch::Sender<MidTable>,
    shutdown: CancellationToken,
    run: JoinHandle<()>,
    pub dir: std::path::PathBuf,
    risk: String,
}

fn temp_dir() -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("omsd-oms-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn config(risk: &str) -> Config {
    let text = format!(
        r#"
        [[venues]]
        name = "fake"
        kind = "binance"
        rest_url = "http://127.0.0.1:9"
        stream_url = "ws://127.0.0.1:9"
        ws_api_url = "ws://127.0.0.1:9"
        symbols = ["BTC-USDT"]
        recv_window_ms = 1000
        [venues.risk]
        {risk}
        "#
    );
    Config::from_toml(&text).expect("test config")
}

impl Harness {
    /// Starts on a fresh store with the given `[venues.risk]` body.
    pub async fn start(risk: &str) -> Harness {
        Harness::start_in(temp_dir(), Arc::new(FakeVenue::new()), risk).await
    }

    async fn start_in(dir: std::path::PathBuf, venue: Arc<FakeVenue>, risk: &str) -> Harness {
        let url = format!("sqlite:{}", dir.join("omsd.db").display());
        let store = store::open(&url).await.expect("store");
        store.migrate().await.expect("migrate");
        let config = config(risk);
        let connected = Venue::connect(config.venues[0].clone(), venue.clone(), &store)
            .await
            .expect("venue");
        let mut venues = Venues::default();
        venues.insert(connected);
        let mut table = HashMap::new();
        table.insert(
            ("fake".to_string(), "BTCUSDT".to_string()),
            BookMid {
                in_sync: true,
                mid: Some(dec!(100)),
            },
        );
        let (mids, mids_rx) = watch::channel(Arc::new(table));
        let shutdown = CancellationToken::new();
        let settings = OmsSettings {
            request_timeout: Duration::from_secs(2),
            poll_interval: Duration::from_millis(200),
        };
        let (mut oms, handle) = Oms::new(
            store.clone(),
            Arc::new(venues),
            mids_rx,
            settings,
            shutdown.clone(),
        );
        oms.load().await.expect("load");
        let run = tokio::spawn(oms.run());
        let report = handle
            .reconcile("fake")
            .await
            .expect("start-up reconciliation");
        assert_eq!(report.failed, 0, "{report:?}");
        Harness {
            venue,
            oms: handle,
            store,
            mids,
            shutdown,
            run,
            dir,
            risk: risk.to_string(),
        }
    }

    /// Stops the processor (draining) and starts a new one on the same store and venue.
    pub async fn restart(self) -> Harness {
        let (dir, venue, risk) = (self.dir.clone(), self.venue.clone(), self.risk.clone());
        self.stop().await;
        Harness::start_in(dir, venue, &risk).await
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.run.await;
        self.store.close().await;
    }

    pub async fn submit(
        &self,
        key: &str,
        side: Side,
        quantity: Decimal,
        price: Decimal,
    ) -> Result<Submitted, OmsError> {
        self.oms.submit(request(key, side, quantity, price)).await
    }

    /// Submits and waits for the venue's answer; the order's id.
    pub async fn placed(&self, key: &str, quantity: Decimal) -> OrderDetail {
        match self
            .submit(key, Side::Buy, quantity, dec!(100))
            .await
            .expect("submit")
        {
            Submitted::Created { answered, .. } => answered.await.expect("answered"),
            Submitted::Existing(id) => panic!("key {key} already used by order {id}"),
        }
    }

    /// Polls the order until `check` holds (5 s deadline).
    pub async fn until(&self, id: i64, check: impl Fn(&OrderDetail) -> bool) -> OrderDetail {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let detail = self.oms.get(id).await.expect("get").expect("order exists");
            if check(&detail) {
                return detail;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "condition never held: {detail:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls the stored row (what survives a crash) until `check` holds.
    pub async fn until_stored(&self, id: i64, check: impl Fn(&OrderDetail) -> bool) -> OrderDetail {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let order = self
                .store
                .get_order(id)
                .await
                .expect("read")
                .expect("stored");
            let fills = self.store.fills_for_order(id).await.expect("fills");
            let detail = OrderDetail { order, fills };
            if check(&detail) {
                return detail;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "stored row never held: {detail:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn user(&self, event: exchange_core::UserEvent) {
        assert!(self.oms.user_event("fake", event).await);
    }
}

pub(crate) fn request(key: &str, side: Side, quantity: Decimal, price: Decimal) -> SubmitRequest {
    SubmitRequest {
        venue: "fake".into(),
        symbol: "BTC-USDT".into(),
        side,
        order_type: OrderType::Limit,
        time_in_force: TimeInForce::Gtc,
        quantity,
        price: Some(price),
        client_order_id: None,
        idempotency_key: key.into(),
    }
}

/// The client order id omsd derives for a key on the fake venue.
pub(crate) fn cid(key: &str) -> String {
    ids::client_order_id("fake", "main", key)
}

/// An execution report as the venue's stream would send it.
pub(crate) fn report(
    detail: &OrderDetail,
    status: OrderStatus,
    filled: Decimal,
    fill: Option<Fill>,
) -> ExecutionReport {
    let order = &detail.order;
    ExecutionReport {
        venue_symbol: order.venue_symbol.clone(),
        client_order_id: order.client_order_id.clone(),
        venue_order_id: order.venue_order_id.clone().unwrap_or_else(|| "0".into()),
        kind: if fill.is_some() {
            ExecutionKind::Trade
        } else {
            ExecutionKind::New
        },
        status,
        side: order.side,
        quantity: order.quantity,
        filled_quantity: filled,
        cumulative_quote: filled * dec!(100),
        fill,
        reject_reason: None,
        event_time_ms: 1,
    }
}

pub(crate) fn fills_sum(detail: &OrderDetail) -> Decimal {
    detail.fills.iter().map(|f| f.quantity).sum()
}
