//! Test support for the behaviour suite: a fresh, migrated store per test on each backend, and
//! the fixtures the cases share.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use exchange_core::{OrderStatus, OrderType, Side, TimeInForce};
use futures_util::FutureExt;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::json;
use sqlx::Connection;

use crate::store::{
    self, BalanceRecord, BatchOutcome, ChangeOutcome, CreateOutcome, FillRecord, NewOrderRecord,
    OrderChange, OrderFilter, OrderRecord, Store, UnmatchedFillRecord, Watermark, WriteBatch,
};

/// A store on a fresh database, and what to remove afterwards.
pub(super) struct TestDb {
    store: Arc<dyn Store>,
    cleanup: Cleanup,
}

enum Cleanup {
    Nothing,
    Dir(PathBuf),
    Database { server_url: String, name: String },
}

/// A name no other test (in this or a concurrent run) uses.
pub(super) fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_{}_{n}_{nanos}", std::process::id())
}

/// `url` with its database (the path) replaced by `name`.
pub(super) fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    format!("{}/{name}{query}", &base[..path])
}

impl TestDb {
    async fn migrated(url: &str, cleanup: Cleanup) -> Self {
        let store = store::open(url).await.expect("open the store");
        store.migrate().await.expect("migrate");
        Self { store, cleanup }
    }

    /// A file in a directory that does not exist yet (`open` creates it).
    pub(super) async fn sqlite() -> Option<Self> {
        let dir = std::env::temp_dir().join(unique_name("omsd_store"));
        let url = format!("sqlite://{}", dir.join("nested/omsd.db").display());
        Some(Self::migrated(&url, Cleanup::Dir(dir)).await)
    }

    pub(super) async fn sqlite_memory() -> Option<Self> {
        Some(Self::migrated("sqlite::memory:", Cleanup::Nothing).await)
    }

    /// A fresh database on the server `OMSD_TEST_DATABASE_URL` names.
    pub(super) async fn postgres() -> Option<Self> {
        let (server_url, name) = postgres_database("omsd_test").await?;
        let url = with_database(&server_url, &name);
        Some(Self::migrated(&url, Cleanup::Database { server_url, name }).await)
    }

    async fn finish(self) {
        self.store.close().await;
        match self.cleanup {
            Cleanup::Nothing => {}
            Cleanup::Dir(dir) => std::fs::remove_dir_all(dir).expect("remove the test directory"),
            Cleanup::Database { server_url, name } => {
                on_server(&server_url, format!("DROP DATABASE {name} WITH (FORCE)")).await;
            }
        }
    }
}

/// Creates a fresh database named from `prefix` on the server `OMSD_TEST_DATABASE_URL` names
/// and answers `(server_url, name)`; `None`, after saying so, where no server is named (which
/// CI must not allow).
pub(super) async fn postgres_database(prefix: &str) -> Option<(String, String)> {
    let Ok(server_url) = std::env::var("OMSD_TEST_DATABASE_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "OMSD_TEST_DATABASE_URL is not set: CI must run the PostgreSQL store suite \
             (eval \"$(scripts/pg-test-cluster.sh start)\" and export it)"
        );
        eprintln!("skipped: no OMSD_TEST_DATABASE_URL (see scripts/pg-test-cluster.sh)");
        return None;
    };
    let name = unique_name(prefix);
    on_server(&server_url, format!("CREATE DATABASE {name}")).await;
    Some((server_url, name))
}

/// Runs one statement on the test server's maintenance database.
pub(super) async fn on_server(server_url: &str, sql: String) {
    let mut admin = sqlx::PgConnection::connect(server_url)
        .await
        .expect("connect to server");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut admin)
        .await
        .expect("admin statement");
    admin.close().await.expect("disconnect");
}

/// Runs one case on one backend (if that backend is available), removing its database even
/// when the case fails.
pub(super) async fn run<Open, Case, F>(open: impl FnOnce() -> Open, case: Case)
where
    Open: Future<Output = Option<TestDb>>,
    Case: FnOnce(Arc<dyn Store>) -> F,
    F: Future<Output = ()>,
{
    let Some(db) = open().await else { return };
    let outcome = AssertUnwindSafe(case(db.store.clone()))
        .catch_unwind()
        .await;
    db.finish().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

pub(super) const T0: i64 = 1_763_900_000_123;

pub(super) fn new_order(key: &str) -> NewOrderRecord {
    NewOrderRecord {
        venue: "sim".into(),
        account: "main".into(),
        symbol: "BTC-USDT".into(),
        venue_symbol: "BTCUSDT".into(),
        client_order_id: format!("omsd-{key}"),
        side: Side::Buy,
        order_type: OrderType::Limit,
        time_in_force: TimeInForce::Gtc,
        quantity: dec!(0.5),
        price: Some(dec!(30000.10)),
        idempotency_key: key.into(),
        request_hash: format!("hash-{key}"),
        created_at_ms: T0,
    }
}

pub(super) async fn create(store: &dyn Store, order: &NewOrderRecord) -> OrderRecord {
    match store.create_order(order).await.expect("create_order") {
        CreateOutcome::Created(record) => record,
        CreateOutcome::Existing(record) => panic!("expected a new order, got existing {record:?}"),
    }
}

pub(super) fn change(order_id: i64, status: OrderStatus, time_ms: i64) -> OrderChange {
    OrderChange {
        order_id,
        status,
        filled_quantity: Decimal::ZERO,
        cumulative_quote: Decimal::ZERO,
        quantity: None,
        venue_order_id: None,
        reject_reason: None,
        event_kind: "ack".into(),
        event_detail: json!({}),
        fills: vec![],
        time_ms,
        status_inferred: false,
    }
}

pub(super) fn fill(order_id: i64, trade_id: &str, price: Decimal, quantity: Decimal) -> FillRecord {
    FillRecord {
        order_id,
        venue: "sim".into(),
        venue_symbol: "BTCUSDT".into(),
        trade_id: trade_id.into(),
        side: Side::Buy,
        price,
        quantity,
        fee: dec!(0.00001),
        fee_asset: Some("BNB".into()),
        is_maker: true,
        time_ms: T0 + 7,
    }
}

/// Applies a change; how many fills it inserted.
pub(super) async fn apply(store: &dyn Store, change: &OrderChange) -> usize {
    let outcome: ChangeOutcome = store.apply_change(change).await.expect("apply_change");
    outcome.fills_inserted
}

pub(super) fn filter(
    venue: Option<&str>,
    symbol: Option<&str>,
    status: Option<OrderStatus>,
    limit: i64,
) -> OrderFilter {
    let (venue, symbol) = (venue.map(str::to_owned), symbol.map(str::to_owned));
    OrderFilter {
        venue,
        symbol,
        status,
        limit,
    }
}

/// The idempotency keys of the orders a filter lists, in order.
pub(super) async fn keys(store: &dyn Store, filter: OrderFilter) -> Vec<String> {
    let orders = store.list_orders(&filter).await.expect("list_orders");
    orders
        .into_iter()
        .map(|order| order.idempotency_key)
        .collect()
}

/// Writes a batch that must succeed.
pub(super) async fn write(store: &dyn Store, batch: &WriteBatch) -> BatchOutcome {
    store.write_batch(batch).await.expect("write_batch")
}

/// A fill on `sim` `BTCUSDT` that no stored order claims yet.
pub(super) fn unmatched(venue_order_id: &str, trade_id: &str, time_ms: i64) -> UnmatchedFillRecord {
    UnmatchedFillRecord {
        venue: "sim".into(),
        venue_symbol: "BTCUSDT".into(),
        venue_order_id: venue_order_id.into(),
        client_order_id: String::new(),
        trade_id: trade_id.into(),
        side: Side::Sell,
        price: dec!(30000.5),
        quantity: dec!(0.125),
        fee: dec!(0.01),
        fee_asset: None,
        is_maker: false,
        time_ms,
    }
}

pub(super) fn balance(venue: &str, asset: &str, free: Decimal, at: i64) -> BalanceRecord {
    BalanceRecord {
        venue: venue.into(),
        account: "main".into(),
        asset: asset.into(),
        free,
        locked: dec!(0.5),
        updated_at_ms: at,
    }
}

pub(super) fn watermark(venue: &str, venue_symbol: &str, kind: &str, value: &str) -> Watermark {
    Watermark {
        venue: venue.into(),
        venue_symbol: venue_symbol.into(),
        kind: kind.into(),
        value: value.into(),
    }
}
