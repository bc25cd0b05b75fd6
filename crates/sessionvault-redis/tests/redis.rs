//! The Redis store against the conformance suite, on a real single server
//! (`SESSIONVAULT_REDIS_URL`), a real cluster of at least three masters
//! (`SESSIONVAULT_REDIS_CLUSTER`, `redis-cluster://HOST:PORT,...`) and a real master with a
//! replica behind three Sentinels (`SESSIONVAULT_REDIS_SENTINEL`,
//! `redis+sentinel://HOST:PORT,.../MASTER_NAME`), there with every write waiting for the
//! replica. ./scripts/test.sh provides all three. Each test works under a key prefix of its own.

use std::time::Duration;

use sessionvault::store::SessionStore;

use sessionvault_redis::RedisStore;

fn prefix() -> String {
    let mut suffix = [0u8; 6];
    getrandom::fill(&mut suffix).expect("OS RNG");
    format!("sv-test-{}", hex::encode(suffix))
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run ./scripts/test.sh, which starts Redis when none answers")
    })
}

async fn single() -> RedisStore {
    RedisStore::connect(&env("SESSIONVAULT_REDIS_URL"))
        .await
        .expect("connect")
        .with_prefix(&prefix())
        .expect("prefix")
}

async fn cluster() -> RedisStore {
    RedisStore::connect(&env("SESSIONVAULT_REDIS_CLUSTER"))
        .await
        .expect("connect to the cluster")
        .with_prefix(&prefix())
        .expect("prefix")
}

async fn sentinel() -> RedisStore {
    RedisStore::connect(&format!(
        "{}?replica_acks=1",
        env("SESSIONVAULT_REDIS_SENTINEL")
    ))
    .await
    .expect("connect through the Sentinels")
    .with_prefix(&prefix())
    .expect("prefix")
}

mod single_server {
    sessionvault_testkit::store_conformance!(service = "redis", super::single());
}

mod cluster_of_three {
    sessionvault_testkit::store_conformance!(service = "redis-cluster", super::cluster());
}

mod sentinel {
    sessionvault_testkit::store_conformance!(service = "redis-sentinel", super::sentinel());
}

fn record() -> sessionvault::store::Record {
    sessionvault_testkit::conformance::record(None)
}

#[tokio::test]
async fn a_write_no_replica_acknowledged_is_a_failed_save() {
    if sessionvault_testkit::skip_requested("redis") {
        return;
    }
    // The single test server has no replica.
    let store = single()
        .await
        .with_min_replica_acks(1, Duration::from_millis(50));
    let err = store
        .create(&record())
        .await
        .expect_err("no replica to acknowledge");
    let source = std::error::Error::source(&err).expect("the cause");
    assert!(
        source
            .to_string()
            .contains("only 0 of 1 replicas acknowledged"),
        "{source}"
    );
    // Zero turns the wait off again.
    let store = store.with_min_replica_acks(0, Duration::from_millis(50));
    assert!(store.create(&record()).await.expect("saved"));
}

#[tokio::test]
async fn replica_acks_from_the_url_reach_the_store() {
    if sessionvault_testkit::skip_requested("redis") {
        return;
    }
    let url = format!(
        "{}?replica_acks=1&replica_ack_timeout_ms=50",
        env("SESSIONVAULT_REDIS_URL")
    );
    let store = RedisStore::connect(&url).await.expect("connect");
    assert!(store.create(&record()).await.is_err());
}

#[tokio::test]
async fn a_malformed_url_is_a_typed_error_naming_no_password() {
    let err = RedisStore::connect("redis+sentinel://:hunter2@127.0.0.1:1")
        .await
        .expect_err("no master name");
    assert!(err.is_invalid_url());
    let message = err.to_string();
    assert!(
        message.contains("master's name") && !message.contains("hunter2"),
        "{message}"
    );
}

#[tokio::test]
async fn no_sentinel_listening_is_an_error_within_seconds() {
    let started = std::time::Instant::now();
    let err = RedisStore::connect("redis+sentinel://127.0.0.1:1,127.0.0.1:2/mymaster")
        .await
        .expect_err("nothing listens");
    assert!(!err.is_invalid_url());
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn braces_in_the_prefix_are_refused() {
    if sessionvault_testkit::skip_requested("redis") {
        return;
    }
    assert!(single().await.with_prefix("a{b").is_err());
}

#[tokio::test]
async fn nothing_listening_is_an_error_within_seconds() {
    let started = std::time::Instant::now();
    assert!(RedisStore::connect("redis://127.0.0.1:1").await.is_err());
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// A session saved by a version that kept the record's full JSON in the hash's `r` field is
/// read as it was, its touched times included, and rewritten compact by its next save.
#[tokio::test]
async fn a_record_in_the_earlier_json_layout_is_read_and_saved_on() {
    if sessionvault_testkit::skip_requested("redis") {
        return;
    }
    let url = env("SESSIONVAULT_REDIS_URL");
    let prefix = prefix();
    let store = RedisStore::connect(&url)
        .await
        .expect("connect")
        .with_prefix(&prefix)
        .expect("prefix");
    let r = sessionvault_testkit::conformance::record(Some("alice"));
    let hash = format!("{prefix}:s:{{{}}}", r.key.to_hex());
    let mut con = redis::Client::open(url.as_str())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let seen = r.last_seen + jiff::SignedDuration::from_secs(60);
    let idle = r.idle_deadline + jiff::SignedDuration::from_secs(60);
    let _: i64 = redis::cmd("HSET")
        .arg(&hash)
        .arg("r")
        .arg(serde_json::to_string(&r).expect("json"))
        .arg("v")
        .arg(r.version)
        .arg("l")
        .arg("1")
        .arg("u")
        .arg("alice")
        .arg("ls")
        .arg(seen.to_string())
        .arg("id")
        .arg(idle.to_string())
        .query_async(&mut con)
        .await
        .expect("write the earlier layout");
    let mut expected = r.clone();
    expected.last_seen = seen;
    expected.idle_deadline = idle;
    assert_eq!(
        store.load(&r.key).await.expect("load"),
        Some(expected.clone())
    );

    let mut next = expected.clone();
    next.version += 1;
    next.data.insert("n".into(), serde_json::json!(1));
    assert!(store.save_if(&next, r.version).await.expect("save"));
    assert_eq!(store.load(&r.key).await.expect("load"), Some(next));
    let fields: Vec<String> = redis::cmd("HKEYS")
        .arg(&hash)
        .query_async(&mut con)
        .await
        .expect("fields");
    let mut fields = fields;
    fields.sort_unstable();
    assert_eq!(fields, ["d", "l", "u", "v"], "the earlier fields are gone");
}
