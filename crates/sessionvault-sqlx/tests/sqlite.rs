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
