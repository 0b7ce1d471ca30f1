//! Reads the daemon's store straight from its tables (SQLite file or PostgreSQL database), so
//! a check sees what survived on disk rather than what a running daemon says.

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use sqlx::{ColumnIndex, Decode, Row, Type};

/// One stored order with its fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOrder {
    pub id: i64,
    pub venue: String,
    pub venue_symbol: String,
    pub client_order_id: String,
    pub venue_order_id: Option<String>,
    pub status: String,
    pub filled_quantity: Decimal,
    pub reject_reason: Option<String>,
    /// `None` when the store has no `status_inferred` column.
    pub status_inferred: Option<bool>,
    /// (trade id, quantity).
    pub fills: Vec<(String, Decimal)>,
}

fn dec(raw: &str) -> Decimal {
    Decimal::from_str(raw).unwrap_or_else(|_| panic!("stored decimal '{raw}'"))
}

/// Every order of the store, by client order id.
pub async fn read_orders(store_url: &str) -> Result<BTreeMap<String, StoredOrder>, String> {
    if store_url.starts_with("sqlite:") {
        read_sqlite(store_url).await
    } else {
        read_postgres(store_url).await
    }
}

fn select(has_inferred: bool, cast: &str) -> String {
    let inferred = if has_inferred {
        "status_inferred"
    } else {
        "NULL"
    };
    format!(
        "SELECT id, venue, venue_symbol, client_order_id, venue_order_id, status, \
         filled_quantity{cast}, reject_reason, {inferred} FROM orders"
    )
}

async fn read_sqlite(store_url: &str) -> Result<BTreeMap<String, StoredOrder>, String> {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(store_url)
        .await
        .map_err(|e| format!("open {store_url}: {e}"))?;
    let has_inferred =
        sqlx::query("SELECT 1 FROM pragma_table_info('orders') WHERE name = 'status_inferred'")
            .fetch_optional(&mut conn)
            .await
            .map_err(|e| e.to_string())?
            .is_some();
    let rows = sqlx::query(sqlx::AssertSqlSafe(select(has_inferred, "")))
        .fetch_all(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let fills = sqlx::query("SELECT order_id, trade_id, quantity FROM fills ORDER BY id")
        .fetch_all(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let _ = conn.close().await;
    Ok(assemble(&rows, &fills))
}

async fn read_postgres(store_url: &str) -> Result<BTreeMap<String, StoredOrder>, String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(store_url)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let has_inferred = sqlx::query(
        "SELECT 1 FROM information_schema.columns \
         WHERE table_name = 'orders' AND column_name = 'status_inferred'",
    )
    .fetch_optional(&mut conn)
    .await
    .map_err(|e| e.to_string())?
    .is_some();
    let query = select(has_inferred, "::text").replace("NULL FROM", "NULL::boolean FROM");
    let rows = sqlx::query(sqlx::AssertSqlSafe(query))
        .fetch_all(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let fills = sqlx::query("SELECT order_id, trade_id, quantity::text FROM fills ORDER BY id")
        .fetch_all(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let _ = conn.close().await;
    Ok(assemble(&rows, &fills))
}

/// Orders by client order id, each with its fills, from rows in the shape of [`select`] and
/// `order_id, trade_id, quantity` fill rows (decimals as text on both backends).
fn assemble<R>(rows: &[R], fills: &[R]) -> BTreeMap<String, StoredOrder>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
{
    let mut orders = BTreeMap::new();
    let mut by_id = BTreeMap::new();
    for r in rows {
        let order = StoredOrder {
            id: r.get(0),
            venue: r.get(1),
            venue_symbol: r.get(2),
            client_order_id: r.get(3),
            venue_order_id: r.get(4),
            status: r.get(5),
            filled_quantity: dec(&r.get::<String, _>(6)),
            reject_reason: r.get(7),
            status_inferred: r.get::<Option<bool>, _>(8),
            fills: Vec::new(),
        };
        by_id.insert(order.id, order.client_order_id.clone());
        orders.insert(order.client_order_id.clone(), order);
    }
    for f in fills {
        let order_id: i64 = f.get(0);
        if let Some(order) = by_id.get(&order_id).and_then(|c| orders.get_mut(c)) {
            order.fills.push((f.get(1), dec(&f.get::<String, _>(2))));
        }
    }
    orders
}
