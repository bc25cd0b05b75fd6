//! The Redis store against the conformance suite, on a real single server
//! (`SESSIONVAULT_REDIS_URL`) and a real cluster of at least three masters
//! (`SESSIONVAULT_REDIS_CLUSTER`, `redis-cluster://HOST:PORT,...`). ./scripts/test.sh provides
//! both. Each test works under a key prefix of its own.

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
    RedisStore::connect_url(&env("SESSIONVAULT_REDIS_URL"))
        .await
        .expect("connect")
        .with_prefix(&prefix())
        .expect("prefix")
}

async fn cluster() -> RedisStore {
    RedisStore::connect_url(&env("SESSIONVAULT_REDIS_CLUSTER"))
        .await
        .expect("connect to the cluster")
        .with_prefix(&prefix())
        .expect("prefix")
}

mod single_server {
    sessionvault_testkit::store_conformance!(service = "redis", super::single());
}

mod cluster_of_three {
    sessionvault_testkit::store_conformance!(service = "redis-cluster", super::cluster());
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
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}
