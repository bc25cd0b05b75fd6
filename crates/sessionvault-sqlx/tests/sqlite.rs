//! The SQLite store against the conformance suite, on a fresh database file per test.

use sessionvault_sqlx::SqliteStore;

async fn fresh() -> SqliteStore {
    // Each test gets its own file, removed with the directory when the process exits.
    let dir = Box::leak(Box::new(tempfile::tempdir().expect("temp dir")));
    let path = dir.path().join("sessions.db");
    SqliteStore::open(path.to_str().expect("UTF-8 path"))
        .await
        .expect("open")
}

sessionvault_testkit::store_conformance!(fresh());

#[tokio::test]
async fn the_schema_is_applied_once_and_reopening_keeps_sessions() {
    use sessionvault::store::SessionStore;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.db");
    let path = path.to_str().expect("UTF-8");
    let record = sessionvault_testkit::conformance::record(Some("alice"));
    {
        let store = SqliteStore::open(path).await.expect("open");
        assert!(store.create(&record).await.expect("create"));
    }
    let again = SqliteStore::open(path).await.expect("reopen");
    assert_eq!(again.load(&record.key).await.expect("load"), Some(record));
}

#[tokio::test]
async fn an_unwritable_path_is_an_error_not_a_panic() {
    assert!(SqliteStore::open("/proc/no/such/dir/db").await.is_err());
}

/// A database at `path` as older code made it: its `schema` statements, then `record` as a
/// JSON row by `insert` (which binds the key, `expires_at` and the JSON).
async fn database_made_by(
    path: &std::path::Path,
    schema: &[&str],
    insert: &str,
    record: &sessionvault::store::Record,
) -> sqlx::SqlitePool {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.expect("pool");
    for &statement in schema {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&pool)
            .await
            .expect(statement);
    }
    sqlx::query(sqlx::AssertSqlSafe(insert))
        .bind(&record.key.as_bytes()[..])
        .bind(record.expires_at.as_microsecond())
        .bind(serde_json::to_string(record).expect("JSON"))
        .execute(&pool)
        .await
        .expect("an older row");
    pool
}

#[tokio::test]
async fn a_version_1_database_is_migrated_and_keeps_its_sessions() {
    use sessionvault::store::SessionStore;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("v1.db");
    let record = sessionvault_testkit::conformance::record(Some("alice"));
    // The schema as version 1 made it, with the user column called `user`.
    let pool = database_made_by(
        &path,
        &[
            "CREATE TABLE sessionvault_schema (version INTEGER NOT NULL)",
            "INSERT INTO sessionvault_schema (version) VALUES (1)",
            "CREATE TABLE sessionvault_sessions (key BLOB PRIMARY KEY NOT NULL,
                version INTEGER NOT NULL, live INTEGER NOT NULL, user TEXT,
                expires_at INTEGER NOT NULL, record TEXT NOT NULL) WITHOUT ROWID",
            "CREATE INDEX sessionvault_sessions_user
                ON sessionvault_sessions (user) WHERE user IS NOT NULL AND live = 1",
        ],
        "INSERT INTO sessionvault_sessions (key, version, live, user, expires_at, record)
         VALUES (?, 0, 1, 'alice', ?, ?)",
        &record,
    )
    .await;
    pool.close().await;
    let path = path.to_str().expect("UTF-8");
    let store = SqliteStore::open(path).await.expect("migrate");
    assert_eq!(
        store.load(&record.key).await.expect("load"),
        Some(record.clone())
    );
    assert_eq!(
        store.sessions_for_user("alice").await.expect("index"),
        std::slice::from_ref(&record)
    );
    drop(store);
    // Reopening a migrated database changes nothing.
    let store = SqliteStore::open(path).await.expect("reopen");
    assert_eq!(
        store.sessions_for_user("alice").await.expect("index"),
        [record]
    );
}

#[tokio::test]
async fn a_version_2_database_is_migrated_and_its_json_rows_read_touched_and_saved_compactly() {
    use jiff::SignedDuration;
    use sessionvault::EndReason;
    use sessionvault::store::SessionStore;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("v2.db");
    let record = sessionvault_testkit::conformance::record(Some("alice"));
    // The schema as version 2 made it, with one row in its JSON column.
    let pool = database_made_by(
        &path,
        &[
            "CREATE TABLE sessionvault_schema (version INTEGER NOT NULL)",
            "INSERT INTO sessionvault_schema (version) VALUES (1), (2)",
            "CREATE TABLE sessionvault_sessions (key BLOB PRIMARY KEY NOT NULL,
                version INTEGER NOT NULL, live INTEGER NOT NULL, user_id TEXT,
                expires_at INTEGER NOT NULL, record TEXT NOT NULL) WITHOUT ROWID",
        ],
        "INSERT INTO sessionvault_sessions (key, version, live, user_id, expires_at, record)
         VALUES (?, 0, 1, 'alice', ?, ?)",
        &record,
    )
    .await;

    let store = SqliteStore::open(path.to_str().expect("UTF-8"))
        .await
        .expect("migrate");
    assert_eq!(
        store.load(&record.key).await.expect("load"),
        Some(record.clone())
    );

    // A touch moves the two times beside the JSON; the next save writes the record compactly.
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
    let mut saved = touched;
    saved.version += 1;
    assert!(store.save_if(&saved, 0).await.expect("save"));
    assert_eq!(
        store.load(&record.key).await.expect("load"),
        Some(saved.clone())
    );
    let row: (String, bool, bool) = sqlx::query_as(
        "SELECT record, compact_record IS NOT NULL, touched_seen IS NULL
         FROM sessionvault_sessions",
    )
    .fetch_one(&pool)
    .await
    .expect("row");
    assert_eq!(row, ("null".to_owned(), true, true));

    // Code of version 2 still running beside it writes the row's JSON and leaves the compact
    // record stale: the JSON is what the row means, so the logout holds.
    let ended = saved
        .clone()
        .into_tombstone(EndReason::Logout, saved.last_seen);
    sqlx::query(
        "UPDATE sessionvault_sessions SET version = ?, live = 0, user_id = NULL, record = ?",
    )
    .bind(ended.version as i64)
    .bind(serde_json::to_string(&ended).expect("JSON"))
    .execute(&pool)
    .await
    .expect("a version 2 write");
    assert_eq!(store.load(&record.key).await.expect("load"), Some(ended));
    let version: i64 = sqlx::query_scalar("SELECT max(version) FROM sessionvault_schema")
        .fetch_one(&pool)
        .await
        .expect("version");
    assert_eq!(version, 3);
}
