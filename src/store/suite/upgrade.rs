//! The upgrade path: a database made and filled by the first schema migrates to the current
//! one without losing a row, and then behaves like a fresh one.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use exchange_core::{OrderStatus, Side};
use futures_util::FutureExt;
use rust_decimal_macros::dec;
use serde_json::json;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, PgConnection, Postgres, Sqlite, SqliteConnection};

use super::support::{
    T0, create, fill, new_order, on_server, postgres_database, unique_name, with_database, write,
};
use crate::store::sql::Dialect;
use crate::store::{self, CreateOutcome, FillRecord, NewOrderRecord, OrderChange, WriteBatch};

/// The first schema's version: the database the upgrade starts from.
const FIRST_VERSION: i64 = 20261123000001;

/// Rows as the first schema held them: an open order with two fills, a filled order, their
/// keys and events (SQLite: times as epoch milliseconds). A fresh table numbers them 1 and 2.
const SQLITE_ROWS: &str = "
INSERT INTO orders (venue, account, symbol, venue_symbol, client_order_id, venue_order_id,
    side, order_type, time_in_force, quantity, price, status, filled_quantity, cumulative_quote,
    reject_reason, idempotency_key, request_hash, created_at, updated_at) VALUES
    ('sim', 'main', 'BTC-USDT', 'BTCUSDT', 'omsd-k1', 'V-1', 'buy', 'limit', 'gtc', '0.5',
     '30000.10', 'partially_filled', '0.2', '6000.02', NULL, 'k1', 'hash-k1',
     1763900000123, 1763900000130),
    ('sim', 'main', 'BTC-USDT', 'BTCUSDT', 'omsd-k2', 'V-2', 'buy', 'limit', 'gtc', '0.5',
     '30000.10', 'filled', '0.5', '15000.05', NULL, 'k2', 'hash-k2',
     1763900000123, 1763900000130);
INSERT INTO idempotency_keys (key, order_id, request_hash, created_at) VALUES
    ('k1', 1, 'hash-k1', 1763900000123), ('k2', 2, 'hash-k2', 1763900000123);
INSERT INTO order_events (order_id, kind, status, detail, created_at) VALUES
    (1, 'created', 'pending_new', '{}', 1763900000123),
    (2, 'created', 'pending_new', '{}', 1763900000123);
INSERT INTO fills (order_id, venue, venue_symbol, trade_id, side, price, quantity, fee,
    fee_asset, is_maker, traded_at) VALUES
    (1, 'sim', 'BTCUSDT', '9', 'buy', '30000.10', '0.1', '0.00001', 'BNB', 1, 1763900000130),
    (1, 'sim', 'BTCUSDT', '10', 'buy', '30000.10', '0.1', '0.00001', 'BNB', 1, 1763900000130);
";

/// The same rows on PostgreSQL (times as TIMESTAMPTZ, flags as BOOLEAN).
fn postgres_rows() -> String {
    SQLITE_ROWS
        .replace("1763900000123", "to_timestamp(1763900000123 / 1000.0)")
        .replace("1763900000130", "to_timestamp(1763900000130 / 1000.0)")
        .replace("'BNB', 1,", "'BNB', TRUE,")
}

/// Opens the store at `url` and upgrades it, runs the upgrade check, then closes it, even
/// when the check fails.
async fn upgraded(url: &str) -> std::thread::Result<()> {
    let store = store::open(url).await.expect("open");
    store.migrate().await.expect("upgrade");
    let outcome = AssertUnwindSafe(check_upgraded(store.clone()))
        .catch_unwind()
        .await;
    store.close().await;
    outcome
}

#[tokio::test]
async fn sqlite_database_made_by_the_first_schema_upgrades() {
    let dir = std::env::temp_dir().join(unique_name("omsd_upgrade"));
    std::fs::create_dir_all(&dir).expect("test directory");
    let url = format!("sqlite://{}", dir.join("omsd.db").display());
    let options: SqliteConnectOptions = url.parse().expect("sqlite url");
    let mut conn = SqliteConnection::connect_with(&options.create_if_missing(true))
        .await
        .expect("connect");
    let migrator = <Sqlite as Dialect>::migrator();
    migrator
        .run_to(FIRST_VERSION, &mut conn)
        .await
        .expect("first migration");
    sqlx::raw_sql(SQLITE_ROWS)
        .execute(&mut conn)
        .await
        .expect("legacy rows");
    conn.close().await.expect("disconnect");

    let outcome = upgraded(&url).await;
    std::fs::remove_dir_all(&dir).expect("remove the test directory");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test]
async fn postgres_database_made_by_the_first_schema_upgrades() {
    let Some((server_url, name)) = postgres_database("omsd_upgrade").await else {
        return;
    };
    let url = with_database(&server_url, &name);
    let mut conn = PgConnection::connect(&url).await.expect("connect");
    let migrator = <Postgres as Dialect>::migrator();
    migrator
        .run_to(FIRST_VERSION, &mut conn)
        .await
        .expect("first migration");
    sqlx::raw_sql(sqlx::AssertSqlSafe(postgres_rows()))
        .execute(&mut conn)
        .await
        .expect("legacy rows");
    conn.close().await.expect("disconnect");

    let outcome = upgraded(&url).await;
    on_server(&server_url, format!("DROP DATABASE {name} WITH (FORCE)")).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// What the upgraded store must show: every row kept, the new column defaulted, and the new
/// constraints and tables in force.
async fn check_upgraded(store: Arc<dyn store::Store>) {
    let open = store.get_order(1).await.unwrap().expect("order 1 kept");
    assert_eq!(
        (open.status, open.filled_quantity, open.status_inferred),
        (OrderStatus::PartiallyFilled, dec!(0.2), false)
    );
    assert_eq!((open.created_at_ms, open.updated_at_ms), (T0, T0 + 7));
    let want: Vec<FillRecord> = ["9", "10"]
        .iter()
        .map(|t| fill(1, t, dec!(30000.10), dec!(0.1)))
        .collect();
    assert_eq!(store.fills_for_order(1).await.unwrap(), want);
    let last = store.last_fill("sim", "BTCUSDT").await.unwrap();
    assert_eq!(last.map(|f| f.trade_id), Some("10".to_owned()));
    let live: Vec<i64> = store
        .live_orders()
        .await
        .unwrap()
        .iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(live, [1]);
    assert_eq!(store.events_for_order(2).await.unwrap().len(), 1);

    // Fills are now unique per order: the other side of trade 9 is kept, a replay is not.
    let cross = OrderChange {
        order_id: 2,
        status: OrderStatus::Filled,
        filled_quantity: dec!(0.5),
        cumulative_quote: dec!(15000.05),
        quantity: None,
        venue_order_id: None,
        reject_reason: None,
        event_kind: "execution".into(),
        event_detail: json!({}),
        fills: vec![
            FillRecord {
                side: Side::Sell,
                ..fill(2, "9", dec!(30000.10), dec!(0.1))
            },
            fill(1, "9", dec!(30000.10), dec!(0.1)),
        ],
        time_ms: T0 + 8,
        status_inferred: false,
    };
    let batch = WriteBatch {
        changes: vec![cross],
        settings: vec![("kill_switch".into(), json!(false))],
        ..WriteBatch::default()
    };
    assert_eq!(write(&*store, &batch).await.fills_inserted, 1);
    assert_eq!(
        store.setting("kill_switch").await.unwrap(),
        Some(json!(false))
    );

    // One order per key, even under a new client order id; new orders get fresh ids.
    let reused = NewOrderRecord {
        client_order_id: "omsd-new".into(),
        ..new_order("k1")
    };
    assert_eq!(
        store.create_order(&reused).await.unwrap(),
        CreateOutcome::Existing(open)
    );
    assert!(create(&*store, &new_order("k3")).await.id > 2);
}
