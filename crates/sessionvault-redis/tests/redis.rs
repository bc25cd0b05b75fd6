//! The Redis store against the conformance suite, on a real single server
//! (`SESSIONVAULT_REDIS_URL`), a real cluster of at least three masters
//! (`SESSIONVAULT_REDIS_CLUSTER`, `redis-cluster://HOST:PORT,...`) and a real master with a
//! replica behind three Sentinels (`SESSIONVAULT_REDIS_SENTINEL`,
//! `redis+sentinel://HOST:PORT,.../MASTER_NAME`), there with every write waiting for the
//! replica. ./scripts/test.sh provides all three. Each test works under a key prefix of its own.

use std::time::Duration;

use sessionvault::store::{SaveIf, SessionStore};

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

/// The single server's store under a fresh prefix, the prefix, and a plain connection to the
/// same server for looking at the keys the store writes.
async fn single_and_raw() -> (RedisStore, String, redis::aio::MultiplexedConnection) {
    let url = env("SESSIONVAULT_REDIS_URL");
    let prefix = prefix();
    let store = RedisStore::connect(&url)
        .await
        .expect("connect")
        .with_prefix(&prefix)
        .expect("prefix");
    let con = redis::Client::open(url.as_str())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    (store, prefix, con)
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

/// The name this version keeps a session under: `PREFIX:s:{…}`, the first 24 bytes of its store
/// key in base64url.
fn name_of(prefix: &str, key: &sessionvault::id::StoreKey) -> String {
    use base64::Engine as _;
    let name = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&key.as_bytes()[..24]);
    assert_eq!(name.len(), 32);
    format!("{prefix}:s:{{{name}}}")
}

/// The name earlier versions kept a session under: all 64 hex digits of its store key.
fn earlier_name_of(prefix: &str, key: &sessionvault::id::StoreKey) -> String {
    format!("{prefix}:s:{{{}}}", key.to_hex())
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

/// The store makes its own TCP connection to a single server (on a multi-thread runtime its
/// writes wait a turn, to leave together): the URL's user, password and database must reach
/// the server through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_urls_user_password_and_database_reach_the_server() {
    if sessionvault_testkit::skip_requested("redis") {
        return;
    }
    let url = env("SESSIONVAULT_REDIS_URL");
    let client = redis::Client::open(url.as_str()).expect("url");
    let redis::ConnectionAddr::Tcp(host, port) = client.get_connection_info().addr().clone() else {
        eprintln!("skipped: SESSIONVAULT_REDIS_URL is not plain TCP, which this test is about");
        return;
    };
    let mut admin = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let user = prefix();
    let mut secret = [0u8; 16];
    getrandom::fill(&mut secret).expect("OS RNG");
    let password = hex::encode(secret);
    let _: () = query(
        &mut admin,
        redis::cmd("ACL")
            .arg("SETUSER")
            .arg(&user)
            .arg("on")
            .arg(format!(">{password}"))
            .arg("~*")
            .arg("+@all"),
    )
    .await;
    let with = |password: &str| format!("redis://{user}:{password}@{host}:{port}/9");
    let prefix = prefix();
    let r = record();
    let name = name_of(&prefix, &r.key);
    let wrong = RedisStore::connect(&with("not-the-password")).await;
    let right = async {
        let store = RedisStore::connect(&with(&password))
            .await?
            .with_prefix(&prefix)
            .expect("prefix");
        assert!(store.create(&r).await.expect("create"));
        Ok::<_, sessionvault_redis::ConnectError>(store.load(&r.key).await.expect("load"))
    }
    .await;
    let _: i64 = query(&mut admin, redis::cmd("ACL").arg("DELUSER").arg(&user)).await;

    let wrong = wrong.expect_err("the server refuses the password");
    assert!(!err_mentions(&wrong, "not-the-password"), "{wrong}");
    assert_eq!(right.expect("connect as the user"), Some(r));
    let _: () = query(&mut admin, redis::cmd("SELECT").arg(9)).await;
    let in_9: i64 = query(&mut admin, redis::cmd("EXISTS").arg(&name)).await;
    let _: () = query(&mut admin, redis::cmd("DEL").arg(&name)).await;
    let _: () = query(&mut admin, redis::cmd("SELECT").arg(0)).await;
    let in_0: i64 = query(&mut admin, redis::cmd("EXISTS").arg(&name)).await;
    assert_eq!((in_9, in_0), (1, 0), "written to database 9 only");
}

/// Whether `err` or any of its causes says `text`.
fn err_mentions(err: &dyn std::error::Error, text: &str) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.to_string().contains(text) {
            return true;
        }
        next = e.source();
    }
    false
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

/// The layouts earlier versions saved a session in: a hash with the record in `d` (compact) or,
/// before that, in `r` (its full JSON), beside `v`, `l` and `u`.
#[derive(Clone, Copy, Debug)]
enum EarlierHash {
    Compact,
    FullJson,
}

/// The compact record in a value this version wrote: what follows the header
/// `VERSION|LIVE|TOUCH|USERLEN|USER`.
fn record_in(value: &[u8]) -> Vec<u8> {
    let bars: Vec<usize> = value
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'|')
        .map(|(i, _)| i)
        .take(4)
        .collect();
    let user_len: usize = std::str::from_utf8(&value[bars[2] + 1..bars[3]])
        .expect("text")
        .parse()
        .expect("a length");
    value[bars[3] + 1 + user_len..].to_vec()
}

async fn query<T: redis::FromRedisValue>(
    con: &mut redis::aio::MultiplexedConnection,
    cmd: &redis::Cmd,
) -> T {
    cmd.query_async(con).await.expect("Redis answers")
}

/// Touches `r` as a request a minute after its last one would, and returns the record that
/// should then be stored.
async fn touch_a_minute_later(
    store: &RedisStore,
    r: &sessionvault::store::Record,
) -> sessionvault::store::Record {
    let seen = r.last_seen + jiff::SignedDuration::from_secs(60);
    let idle = r.idle_deadline + jiff::SignedDuration::from_secs(60);
    assert!(
        store
            .touch_if_live(&r.key, seen, idle)
            .await
            .expect("touch")
    );
    let mut expected = r.clone();
    expected.last_seen = seen;
    expected.idle_deadline = idle;
    expected
}

/// Touches `r` a minute later, then saves a change over its version once a save over another
/// version has missed, checking what a load finds after each; returns the record saved.
async fn touch_then_save_over_its_version(
    store: &RedisStore,
    r: &sessionvault::store::Record,
    what: &str,
) -> sessionvault::store::Record {
    let touched = touch_a_minute_later(store, r).await;
    assert_eq!(
        store.load(&r.key).await.expect("load"),
        Some(touched.clone()),
        "{what}"
    );
    let mut next = touched.clone();
    next.version += 1;
    next.data.insert("n".into(), serde_json::json!(1));
    assert!(
        !store.save_if(&next, r.version + 1).await.expect("save"),
        "{what}: a save over another version misses"
    );
    assert_eq!(
        store
            .save_if_or_current(&next, r.version + 1)
            .await
            .expect("save"),
        SaveIf::Lost(Some(std::sync::Arc::new(touched))),
        "{what}: and answers the record it lost to, as a load finds it"
    );
    assert!(
        store.save_if(&next, r.version).await.expect("save"),
        "{what}"
    );
    assert_eq!(
        store.load(&r.key).await.expect("load"),
        Some(next.clone()),
        "{what}"
    );
    next
}

/// A session an earlier version saved is read as it was, touched in place, and rewritten in
/// this version's layout (one string) by its next save, which still compares versions.
async fn a_session_in_an_earlier_hash_is_read_touched_and_saved_on(layout: EarlierHash) {
    if sessionvault_testkit::skip_requested("redis") {
        return;
    }
    let (store, prefix, mut con) = single_and_raw().await;
    let r = sessionvault_testkit::conformance::record(Some("alice"));
    // The hashes were kept under the earlier, longer name.
    let name = earlier_name_of(&prefix, &r.key);
    let (field, bytes) = match layout {
        EarlierHash::FullJson => ("r", serde_json::to_vec(&r).expect("json")),
        EarlierHash::Compact => {
            assert!(store.create(&r).await.expect("create"));
            let value: Vec<u8> = redis::cmd("GETDEL")
                .arg(name_of(&prefix, &r.key))
                .query_async(&mut con)
                .await
                .expect("the value");
            ("d", record_in(&value))
        }
    };
    let _: i64 = redis::cmd("HSET")
        .arg(&name)
        .arg(field)
        .arg(bytes)
        .arg("v")
        .arg(r.version)
        .arg("l")
        .arg("1")
        .arg("u")
        .arg("alice")
        .query_async(&mut con)
        .await
        .expect("write the earlier layout");
    assert_eq!(store.load(&r.key).await.expect("load"), Some(r.clone()));

    touch_then_save_over_its_version(&store, &r, &format!("{layout:?}")).await;
    let kind: String = redis::cmd("TYPE")
        .arg(&name)
        .query_async(&mut con)
        .await
        .expect("type");
    assert_eq!(
        kind, "string",
        "{layout:?}: rewritten in this version's layout"
    );
    let exists: i64 = query(&mut con, redis::cmd("EXISTS").arg(name_of(&prefix, &r.key))).await;
    assert_eq!(
        exists, 0,
        "{layout:?}: saved in place, not under the shorter name"
    );
}

/// With the earlier names turned off (once everything written before the upgrade has expired),
/// a session still under one is not seen, and nothing is written beside it.
#[tokio::test]
async fn with_earlier_names_off_a_session_under_one_is_not_seen() {
    if sessionvault_testkit::skip_requested("redis") {
        return;
    }
    let (store, prefix, mut con) = single_and_raw().await;
    let url = format!("{}?earlier_names=off", env("SESSIONVAULT_REDIS_URL"));
    let without = RedisStore::connect(&url)
        .await
        .expect("connect")
        .with_prefix(&prefix)
        .expect("prefix");
    let r = sessionvault_testkit::conformance::record(None);
    let (name, earlier) = (name_of(&prefix, &r.key), earlier_name_of(&prefix, &r.key));
    assert!(store.create(&r).await.expect("create"));
    let _: () = query(&mut con, redis::cmd("RENAME").arg(&name).arg(&earlier)).await;
    assert_eq!(without.load(&r.key).await.expect("load"), None);
    assert!(
        !without
            .touch_if_live(&r.key, r.last_seen, r.idle_deadline)
            .await
            .expect("touch")
    );
    let mut next = r.clone();
    next.version += 1;
    assert!(!without.save_if(&next, r.version).await.expect("save"));
    let exists: i64 = query(&mut con, redis::cmd("EXISTS").arg(&name)).await;
    assert_eq!(exists, 0);
    // The default store still finds it, unchanged.
    assert_eq!(store.load(&r.key).await.expect("load"), Some(r));
}

/// A session the version before the shorter names saved (this layout, under all 64 hex digits
/// of its key) is read, touched, saved over its version and ended where it is: nobody is signed
/// out by the upgrade, and no write goes to the shorter name, where a second copy could drift
/// from the first.
#[tokio::test]
async fn a_session_under_the_earlier_longer_name_is_read_touched_saved_and_ended_in_place() {
    if sessionvault_testkit::skip_requested("redis") {
        return;
    }
    let (store, prefix, mut con) = single_and_raw().await;
    let r = sessionvault_testkit::conformance::record(Some("grace"));
    let (name, earlier) = (name_of(&prefix, &r.key), earlier_name_of(&prefix, &r.key));
    assert!(store.create(&r).await.expect("create, then index"));
    // What that version left: the same value, under the longer name.
    let _: () = query(&mut con, redis::cmd("RENAME").arg(&name).arg(&earlier)).await;
    assert_eq!(store.load(&r.key).await.expect("load"), Some(r.clone()));

    let next = touch_then_save_over_its_version(&store, &r, "under the longer name").await;
    assert_eq!(
        store.sessions_for_user("grace").await.expect("listed"),
        vec![next.clone()]
    );

    let ended = next
        .clone()
        .into_tombstone(sessionvault::EndReason::Logout, next.last_seen);
    assert!(store.save_if(&ended, next.version).await.expect("end"));
    let loaded = store
        .load(&r.key)
        .await
        .expect("load")
        .expect("a tombstone");
    assert!(!loaded.is_live(), "ended where it was kept");
    assert!(
        !store
            .touch_if_live(&r.key, next.last_seen, next.idle_deadline)
            .await
            .expect("touch"),
        "an ended session is not touched"
    );
    let exists: i64 = query(&mut con, redis::cmd("EXISTS").arg(&name)).await;
    assert_eq!(exists, 0, "nothing was written under the shorter name");
    let retained: i64 = query(&mut con, redis::cmd("PTTL").arg(&earlier)).await;
    assert!(retained > 0, "the tombstone keeps an expiry: {retained}");
}

#[tokio::test]
async fn a_session_in_the_earlier_compact_hash_is_read_touched_and_saved_on() {
    a_session_in_an_earlier_hash_is_read_touched_and_saved_on(EarlierHash::Compact).await;
}

#[tokio::test]
async fn a_session_in_the_earlier_json_hash_is_read_touched_and_saved_on() {
    a_session_in_an_earlier_hash_is_read_touched_and_saved_on(EarlierHash::FullJson).await;
}

/// A small session of a browser (its User-Agent is kept for the devices list and the
/// fingerprint check) stays one compact string: a hash holding a record this long would be a
/// hash table, about 600 bytes.
#[tokio::test]
async fn every_write_loads_its_script_again_after_the_server_forgot_it() {
    if sessionvault_testkit::skip_requested("redis") {
        return;
    }
    let (store, _prefix, mut con) = single_and_raw().await;
    // What a restart of the server, or a failover to a replica that never ran the scripts,
    // leaves: `EVALSHA` answers NOSCRIPT until the script is loaded again.
    let mut forget = async || {
        let _: () = redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query_async(&mut con)
            .await
            .expect("script flush");
    };
    let r = sessionvault_testkit::conformance::record(Some("frank"));
    forget().await;
    assert!(store.create(&r).await.expect("create, then index"));
    forget().await;
    let mut next = r.clone();
    next.version += 1;
    next.data.insert("n".into(), serde_json::json!(1));
    assert!(store.save_if(&next, r.version).await.expect("save"));
    forget().await;
    let expected = touch_a_minute_later(&store, &next).await;
    let loaded = store.load(&r.key).await.expect("load").expect("found");
    assert_eq!(loaded, expected);
    let listed = store.sessions_for_user("frank").await.expect("listed");
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn a_small_browser_session_takes_at_most_250_bytes_of_redis_memory() {
    if sessionvault_testkit::skip_requested("redis") {
        return;
    }
    // The default prefix, as deployed: the key's length is part of what a session takes. The
    // key is a fresh random hash, so no other test's keys are touched.
    let (_, _, mut con) = single_and_raw().await;
    let store = RedisStore::connect(&env("SESSIONVAULT_REDIS_URL"))
        .await
        .expect("connect");
    let mut r = record();
    r.data = [("n".to_owned(), serde_json::json!(0))].into();
    r.user_agent = Some(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
         Chrome/131.0.0.0 Safari/537.36"
            .into(),
    );
    r.ip = Some("192.0.2.0/24".into());
    assert!(store.create(&r).await.expect("create"));
    let name = name_of("sv", &r.key);
    let mut usage =
        async || -> i64 { query(&mut con, redis::cmd("MEMORY").arg("USAGE").arg(&name)).await };
    let fresh = usage().await;
    // A touch writes its two times into the value's header.
    let touched = touch_a_minute_later(&store, &r).await;
    let after_touch = usage().await;
    // A save writes the record again, its times no longer whole seconds.
    let mut next = touched;
    next.version += 1;
    next.last_seen += jiff::SignedDuration::from_nanos(123_456_789);
    next.idle_deadline += jiff::SignedDuration::from_nanos(123_456_789);
    next.data = [("n".to_owned(), serde_json::json!(1))].into();
    assert!(store.save_if(&next, r.version).await.expect("save"));
    let after_save = usage().await;
    let _: i64 = query(&mut con, redis::cmd("DEL").arg(&name)).await;
    for (bytes, when) in [
        (fresh, "new"),
        (after_touch, "touched"),
        (after_save, "saved again"),
    ] {
        assert!(bytes <= 250, "{bytes} bytes for one small session, {when}");
    }
}
