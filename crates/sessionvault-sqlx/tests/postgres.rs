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

#[tokio::test]
async fn a_version_1_table_is_migrated_and_its_json_rows_read_touched_and_saved_compactly() {
    use jiff::SignedDuration;
    use sessionvault::EndReason;
    use sessionvault::store::SessionStore;
    if skipped() {
        return;
    }
    let (admin, schema, pool) = new_schema().await;
    let record = sessionvault_testkit::conformance::record(Some("alice"));
    // The schema as version 1 made it, with one row in its JSONB column.
    for statement in [
        format!("CREATE TABLE {schema}.sessionvault_schema (version BIGINT NOT NULL)"),
        format!("INSERT INTO {schema}.sessionvault_schema (version) VALUES (1)"),
        format!(
            "CREATE TABLE {schema}.sessionvault_sessions (key BYTEA PRIMARY KEY,
                version BIGINT NOT NULL, live BOOLEAN NOT NULL, user_id TEXT,
                expires_at BIGINT NOT NULL, record JSONB NOT NULL)"
        ),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&pool)
            .await
            .expect("version 1 schema");
    }
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {schema}.sessionvault_sessions
         (key, version, live, user_id, expires_at, record)
         VALUES ($1, 0, true, 'alice', $2, $3::jsonb)"
    )))
    .bind(&record.key.as_bytes()[..])
    .bind(record.expires_at.as_microsecond())
    .bind(serde_json::to_string(&record).expect("JSON"))
    .execute(&pool)
    .await
    .expect("a version 1 row");

    let store = PgStore::connect_with(admin.options([("search_path", schema.as_str())]))
        .await
        .expect("migrate");
    assert_eq!(
        store.load(&record.key).await.expect("load"),
        Some(record.clone())
    );
    assert_eq!(
        store.sessions_for_user("alice").await.expect("index"),
        std::slice::from_ref(&record)
    );

    // A touch moves the two times beside the JSON, which it leaves as it is.
    let mut touched = record.clone();
    touched.last_seen += SignedDuration::from_secs(60);
    touched.idle_deadline += SignedDuration::from_secs(60);
    let moved = store
        .touch_if_live(&record.key, touched.last_seen, touched.idle_deadline)
        .await
        .expect("touch");
    assert!(moved);
    assert_eq!(
        store.load(&record.key).await.expect("load"),
        Some(touched.clone())
    );

    // The next save writes the record compactly and clears the touch.
    let mut saved = touched.clone();
    saved.version += 1;
    saved.data.insert("n".into(), serde_json::json!(1));
    assert!(store.save_if(&saved, 0).await.expect("save"));
    assert_eq!(
        store.load(&record.key).await.expect("load"),
        Some(saved.clone())
    );
    let row: (String, bool, bool) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT record::text, compact_record IS NOT NULL, touched_seen IS NULL
         FROM {schema}.sessionvault_sessions"
    )))
    .fetch_one(&pool)
    .await
    .expect("row");
    assert_eq!(row, ("null".to_owned(), true, true));

    // Code of version 1 still running beside it writes the row's JSON and leaves the compact
    // record stale: the JSON is what the row means, so the logout holds.
    let ended = saved
        .clone()
        .into_tombstone(EndReason::Logout, saved.last_seen);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {schema}.sessionvault_sessions
         SET version = $1, live = false, user_id = NULL, record = $2::jsonb"
    )))
    .bind(ended.version as i64)
    .bind(serde_json::to_string(&ended).expect("JSON"))
    .execute(&pool)
    .await
    .expect("a version 1 write");
    assert_eq!(store.load(&record.key).await.expect("load"), Some(ended));

    let version: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT max(version) FROM {schema}.sessionvault_schema"
    )))
    .fetch_one(&pool)
    .await
    .expect("version");
    assert_eq!(version, 2);
}

#[tokio::test]
async fn a_read_on_connections_the_server_just_cut_goes_again_on_a_new_one() {
    use sessionvault::store::SessionStore;
    if skipped() {
        return;
    }
    let (admin, schema, pool) = new_schema().await;
    // Named, so that only this store's connections are cut.
    let name = format!("{schema}_store");
    let store = PgStore::connect_with(
        admin
            .options([("search_path", schema.as_str())])
            .application_name(&name),
    )
    .await
    .expect("open the store");
    let record = sessionvault_testkit::conformance::record(Some("alice"));
    assert!(store.create(&record).await.expect("create"));
    let (a, b, c) = tokio::join!(
        store.load(&record.key),
        store.load(&record.key),
        store.load(&record.key)
    );
    for loaded in [a, b, c] {
        assert_eq!(loaded.expect("load"), Some(record.clone()));
    }

    let cut: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(&name)
    .fetch_one(&pool)
    .await
    .expect("terminate");
    assert!(cut > 0, "the store had no connection to cut");
    for _ in 0..100 {
        let left: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1")
                .bind(&name)
                .fetch_one(&pool)
                .await
                .expect("count");
        if left == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // The pool hands out its dead connections unchecked (they were idle for less than a
    // second): each read fails on one, which is dropped, and goes again.
    for _ in 0..4 {
        assert_eq!(
            store.load(&record.key).await.expect("a read after the cut"),
            Some(record.clone())
        );
    }
    assert_eq!(
        store.sessions_for_user("alice").await.expect("a listing"),
        [record]
    );
}
