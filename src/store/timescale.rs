//! What TimescaleDB manages on PostgreSQL, where the extension is there: whether the candles
//! are its continuous aggregate (so the store keeps no rollup), and the retention and
//! compression policies of the market-data hypertables.

use sqlx::Row;

use super::StoreError;
use super::market::MarketPolicies;
use super::postgres::PostgresStore;

impl PostgresStore {
    /// True when `candles_1m` is a table here (not TimescaleDB's continuous aggregate).
    pub(crate) async fn candles_are_a_table(&self) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT table_type::TEXT FROM information_schema.tables \
             WHERE table_name = 'candles_1m' AND table_schema = current_schema()",
        )
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.is_none_or(|r| r.get::<String, _>(0) == "BASE TABLE"))
    }

    /// Replaces the TimescaleDB policies of `trades` and `book_snapshots` (in this schema);
    /// false, changing nothing, where they are plain tables.
    pub(crate) async fn timescale_policies(&self, p: &MarketPolicies) -> Result<bool, StoreError> {
        // The information views exist only with the extension: ask for it first.
        let extension: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'")
                .fetch_one(&self.reader)
                .await?;
        if extension == 0 {
            return Ok(false);
        }
        let hypertables: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM timescaledb_information.hypertables \
             WHERE hypertable_schema = current_schema() AND hypertable_name = 'trades'",
        )
        .fetch_one(&self.reader)
        .await?;
        if hypertables == 0 {
            return Ok(false);
        }
        let tables = [
            ("trades", p.trades_retention_days),
            ("book_snapshots", p.snapshots_retention_days),
        ];
        let mut tx = self.writer.begin().await?;
        for (table, retention_days) in tables {
            for statement in [
                "SELECT remove_compression_policy($1::REGCLASS, if_exists => true)",
                "SELECT remove_retention_policy($1::REGCLASS, if_exists => true)",
            ] {
                sqlx::query(statement).bind(table).execute(&mut *tx).await?;
            }
            let policies = [
                (
                    "SELECT add_compression_policy($1::REGCLASS, make_interval(days => $2))",
                    p.compress_after_days,
                ),
                (
                    "SELECT add_retention_policy($1::REGCLASS, make_interval(days => $2))",
                    retention_days,
                ),
            ];
            for (statement, days) in policies {
                let days = i32::try_from(days).unwrap_or(i32::MAX);
                sqlx::query(statement)
                    .bind(table)
                    .bind(days)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }
}
