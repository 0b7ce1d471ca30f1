//! Commits are durable whatever the database's defaults say: SQLite syncs every commit
//! (`synchronous=FULL`) and PostgreSQL waits for the WAL flush (`synchronous_commit=on`).

use sqlx::{Connection, PgConnection, Row};

use super::support::{on_server, postgres_database, unique_name, with_database};
use crate::store::{PostgresStore, SqliteStore};

#[tokio::test]
async fn sqlite_syncs_every_commit() {
    let dir = std::env::temp_dir().join(unique_name("omsd_durable"));
    let url = format!("sqlite://{}", dir.join("omsd.db").display());
    let store = SqliteStore::connect(&url).await.expect("open");
    let row = sqlx::query("PRAGMA synchronous")
        .fetch_one(&store.writer)
        .await
        .expect("pragma");
    let level: i64 = row.get(0);
    store.writer.close().await;
    store.reader.close().await;
    std::fs::remove_dir_all(&dir).expect("remove the test directory");
    assert_eq!(level, 2, "FULL");
}

#[tokio::test]
async fn postgres_commits_wait_for_the_wal_even_when_the_database_says_otherwise() {
    let Some((server_url, name)) = postgres_database("omsd_durable").await else {
        return;
    };
    on_server(
        &server_url,
        format!("ALTER DATABASE {name} SET synchronous_commit = off"),
    )
    .await;
    let url = with_database(&server_url, &name);
    let show = "SHOW synchronous_commit";
    let mut plain = PgConnection::connect(&url).await.expect("connect");
    let default: String = sqlx::query(show)
        .fetch_one(&mut plain)
        .await
        .expect("show")
        .get(0);
    plain.close().await.expect("disconnect");
    let store = PostgresStore::connect(&url).await.expect("open");
    let ours: String = sqlx::query(show)
        .fetch_one(&store.writer)
        .await
        .expect("show")
        .get(0);
    store.writer.close().await;
    on_server(&server_url, format!("DROP DATABASE {name} WITH (FORCE)")).await;
    assert_eq!((default.as_str(), ours.as_str()), ("off", "on"));
}
