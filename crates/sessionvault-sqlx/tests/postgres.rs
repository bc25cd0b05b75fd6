//! The PostgreSQL store against the conformance suite, on a real server: the one named by
//! `SESSIONVAULT_POSTGRES_URL` (./scripts/test.sh provides one). Each test works in a schema
//! of its own (`sv_test_*`), so tests run in parallel; ./scripts/test.sh drops them afterwards.

use sessionvault_sqlx::PgStore;
use sqlx::postgres::PgConnectOptions;

fn url() -> String {
    std::env::var("SESSIONVAULT_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "SESSIONVAULT_POSTGRES_URL is not set: run ./scripts/test.sh, which starts \
             PostgreSQL when none answers, or point it at a server (postgres://USER@HOST:PORT/DB)"
        )
    })
}

/// A new, empty schema: the server's options, the schema's name, and an admin pool.
async fn new_schema() -> (PgConnectOptions, String, sqlx::PgPool) {
    let mut suffix = [0u8; 6];
    getrandom::fill(&mut suffix).expect("OS RNG");
    let schema = format!("sv_test_{}", hex::encode(suffix));
    let admin: PgConnectOptions = url().parse().expect("a postgres:// URL");
    let pool = sqlx::PgPool::connect_with(admin.clone())
        .await
        .expect("connect");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&pool)
        .await
        .expect("schema");
    (admin, schema, pool)
}

async fn fresh() -> PgStore {
    let (admin, schema, pool) = new_schema().await;
    pool.close().await;
    PgStore::connect_with(admin.options([("search_path", schema.as_str())]))
        .await
        .expect("open the store")
}

sessionvault_testkit::store_conformance!(service = "postgres", fresh());

fn skipped() -> bool {
    sessionvault_testkit::skip_requested("postgres")
}

#[tokio::test]
async fn a_dead_server_is_an_error_within_seconds() {
    // Needs no server: always runs.
    let started = std::time::Instant::now();
    let err = PgStore::connect("postgres://nobody@127.0.0.1:1/none").await;
    assert!(err.is_err());
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[tokio::test]
async fn migrations_run_concurrently_without_conflict() {
    if skipped() {
        return;
    }
    let (admin, schema, pool) = new_schema().await;
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let options = admin.clone().options([("search_path", schema.as_str())]);
            tokio::spawn(async move { PgStore::connect_with(options).await })
        })
        .collect();
    for open in opens {
        open.await.expect("task").expect("migrate");
    }
    let versions: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {schema}.sessionvault_schema"
    )))
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(versions, 1, "the schema version is recorded once");
}
