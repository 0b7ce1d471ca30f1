//! The TimescaleDB path, on a TimescaleDB-enabled server (`OMSD_TIMESCALE_DATABASE_URL`, the
//! WASM build `scripts/timescale-harness.sh` serves): the migrations make trades and snapshots
//! hypertables with compression and retention policies and the candles a continuous
//! aggregate; compressed chunks stay readable and take replays; the policies' jobs run; the
//! configured intervals replace the migration's.
//!
//! The harness serves one connection at a time and one database, so the case runs in its own
//! schema over a single connection, as one test. Without the variable it is skipped with a
//! note, except under `CI`, where it fails.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use sqlx::Row;

use super::market::{query, trade};
use super::support::unique_name;
use crate::store::market::fold_candles;
use crate::store::{MarketBatch, MarketPolicies, PostgresStore, Store, StoreError};

const DAY_MS: i64 = 86_400_000;

fn server_url() -> Option<String> {
    match std::env::var("OMSD_TIMESCALE_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "OMSD_TIMESCALE_DATABASE_URL is not set: CI must run the TimescaleDB case \
                 (eval \"$(scripts/timescale-harness.sh start)\" and export it)"
            );
            eprintln!("skipped: no OMSD_TIMESCALE_DATABASE_URL (see scripts/timescale-harness.sh)");
            None
        }
    }
}

/// `url` with `search_path` set to `schema` first (the extension lives in `public`).
pub(crate) fn in_schema(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-csearch_path%3D{schema}%2Cpublic")
}

async fn texts(store: &PostgresStore, sql: &str, schema: &str) -> Vec<String> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(schema)
        .fetch_all(&store.reader)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.iter().map(|r| r.get::<String, _>(0)).collect()
}

async fn exec(store: &PostgresStore, sql: String) -> Result<(), StoreError> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&store.reader)
        .await?;
    Ok(())
}

#[tokio::test]
async fn timescale_path_hypertables_policies_and_continuous_aggregate() {
    let Some(server) = server_url() else { return };
    let schema = unique_name("omsd_ts");
    let store = PostgresStore::connect_with(&in_schema(&server, &schema), 1)
        .await
        .expect("connect");
    exec(&store, format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let outcome = std::panic::AssertUnwindSafe(check(&store, &schema));
    let result = futures_util::FutureExt::catch_unwind(outcome).await;
    let _ = exec(&store, format!("DROP SCHEMA {schema} CASCADE")).await;
    store.close().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

async fn check(store: &PostgresStore, schema: &str) {
    store.migrate().await.expect("migrate");
    assert!(
        !store.rollup_kept().await.unwrap(),
        "candles are the aggregate's"
    );

    let hypertables = texts(
        store,
        "SELECT hypertable_name::TEXT FROM timescaledb_information.hypertables \
         WHERE hypertable_schema = $1 AND compression_enabled ORDER BY 1",
        schema,
    )
    .await;
    assert_eq!(hypertables, ["book_snapshots", "trades"]);
    let aggregates = texts(
        store,
        "SELECT view_name::TEXT FROM timescaledb_information.continuous_aggregates \
         WHERE view_schema = $1 AND NOT materialized_only",
        schema,
    )
    .await;
    assert_eq!(aggregates, ["candles_1m"]);
    let jobs_sql = "SELECT proc_name || ' ' || hypertable_name || ' ' || \
         COALESCE(config->>'compress_after', config->>'drop_after', 'refresh') \
         FROM timescaledb_information.jobs WHERE hypertable_schema = $1 ORDER BY 1";
    let jobs = texts(store, jobs_sql, schema).await;
    assert_eq!(
        jobs.iter()
            .filter(|j| !j.starts_with("policy_refresh"))
            .count(),
        4,
        "{jobs:?}"
    );
    assert!(
        jobs.contains(&"policy_compression trades 7 days".to_string()),
        "{jobs:?}"
    );
    assert!(
        jobs.contains(&"policy_retention trades 90 days".to_string()),
        "{jobs:?}"
    );
    assert!(
        jobs.iter()
            .any(|j| j.starts_with("policy_refresh_continuous_aggregate")),
        "{jobs:?}"
    );

    // The configured intervals replace the migration's.
    let policies = MarketPolicies {
        trades_retention_days: 40,
        snapshots_retention_days: 20,
        compress_after_days: 3,
    };
    assert!(store.apply_market_policies(&policies).await.unwrap());
    let jobs = texts(store, jobs_sql, schema).await;
    for want in [
        "policy_compression trades 3 days",
        "policy_compression book_snapshots 3 days",
        "policy_retention trades 40 days",
        "policy_retention book_snapshots 20 days",
    ] {
        assert!(jobs.contains(&want.to_string()), "{want} in {jobs:?}");
    }

    // Ten days of trades (ten chunks) relative to now, and one beyond the retention.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let start = now - 10 * DAY_MS;
    let trades: Vec<_> = (1..=40u64)
        .map(|id| {
            trade(
                id + 100,
                start + id as i64 * DAY_MS / 4,
                dec!(30000.10) + Decimal::from(id),
                dec!(0.5) + Decimal::from(id % 3),
            )
        })
        .collect();
    let ancient = trade(1, now - 60 * DAY_MS, dec!(1), dec!(2));
    let mut batch = MarketBatch {
        trades: trades.clone(),
        ..MarketBatch::default()
    };
    batch.trades.push(ancient.clone());
    assert_eq!(
        store.write_market(&batch).await.unwrap().trades_inserted,
        41
    );

    // Compress every chunk; everything stays readable and a replay into them is a no-op.
    exec(
        store,
        format!(
            "SELECT compress_chunk(c, if_not_compressed => true) \
             FROM show_chunks('{schema}.trades') c"
        ),
    )
    .await
    .unwrap();
    let compressed = texts(
        store,
        "SELECT count(*)::TEXT FROM timescaledb_information.chunks \
         WHERE hypertable_schema = $1 AND hypertable_name = 'trades' AND is_compressed",
        schema,
    )
    .await;
    assert!(
        compressed[0].parse::<i64>().unwrap() >= 10,
        "{compressed:?}"
    );
    let mut want = batch.trades.clone();
    want.sort_by_key(|t| std::cmp::Reverse(t.time_ms));
    assert_eq!(store.trades(&query(1000)).await.unwrap(), want);
    let replay = store.write_market(&batch).await.unwrap();
    assert_eq!(
        replay.trades_inserted, 0,
        "a replay into compressed chunks stores nothing"
    );

    // Candles: the real-time aggregate equals the trades folded, before and after a refresh.
    let mut candles = fold_candles(&batch.trades);
    candles.reverse();
    assert_eq!(store.candles(&query(1000)).await.unwrap(), candles);
    let ids = |proc: &'static str| async move {
        let sql = format!(
            "SELECT job_id::TEXT FROM timescaledb_information.jobs \
             WHERE hypertable_schema = $1 AND proc_name = '{proc}'"
        );
        texts(store, &sql, schema).await
    };
    for id in ids("policy_refresh_continuous_aggregate").await {
        exec(store, format!("CALL run_job({id})")).await.unwrap();
    }
    assert_eq!(store.candles(&query(1000)).await.unwrap(), candles);

    // The retention job drops the trade older than 40 days, and nothing else.
    for id in ids("policy_retention").await {
        exec(store, format!("CALL run_job({id})")).await.unwrap();
    }
    let kept = store.trades(&query(1000)).await.unwrap();
    assert_eq!(kept.len(), 40);
    assert!(!kept.contains(&ancient));
}
