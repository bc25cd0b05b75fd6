//! The store conformance suite: what every [`SessionStore`] must do, checked the same way for
//! each. A store crate runs it with
//!
//! ```ignore
//! sessionvault_testkit::store_conformance!(async { MyStore::connect(...).await.unwrap() });
//! ```
//!
//! which expands to one `#[tokio::test]` per check, each with a fresh store from the
//! expression.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use sessionvault::id::{SessionId, StoreKey};
use sessionvault::session::IncomingCookie;
use sessionvault::store::{Record, RecordState, SessionStore};
use sessionvault::{
    EndReason, Keyring, ManualClock, RequestMeta, Session, SessionConfig, SessionManager,
};

use crate::TestStore;

/// Expands to the whole suite as tests, for a store made by `$make` (an async expression).
///
/// `store_conformance!(service = "postgres", make())` marks tests that need a server:
/// they are skipped only when `./scripts/test.sh` could not provide one (see
/// [`crate::skip_requested`]).
#[macro_export]
macro_rules! store_conformance {
    (service = $service:literal, $make:expr) => {
        $crate::store_conformance!(@all $service, $make);
    };
    ($make:expr) => {
        $crate::store_conformance!(@all "", $make);
    };
    (@all $service:literal, $make:expr) => {
        $crate::store_conformance!(@tests $service, $make;
            create_never_overwrites,
            every_load_agrees,
            save_is_compare_and_set,
            tombstones_are_final,
            touch_moves_deadlines_without_a_version,
            user_index_lists_live_sessions_only,
            sweep_forgets_only_what_has_expired,
            keys_are_opaque_hashes,
            concurrent_writers_lose_nothing,
            sessions_merge_concurrent_writes,
            logout_leaves_a_tombstone_in_flight_writes_cannot_revive,
            idle_and_absolute_expiry_hold,
            round_trips_per_request,
            review_nul_in_session_data_is_stored_faithfully,
            review_renewal_grace_keeps_parallel_reads,
            review_renewal_grace_keeps_parallel_update,
            review_write_racing_login_is_refused_without_clearing_the_cookie,
            review_revoke_all_catches_racing_id_changes,
        );
    };
    (@tests $service:literal, $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                if !$service.is_empty() && $crate::skip_requested($service) {
                    return;
                }
                $crate::logs::capture();
                let store = $make.await;
                $crate::conformance::$name(store).await;
            }
        )*
    };
}

/// The suite's "now": the real time when the process started, in whole seconds. Real, not a
/// fixed date, because stores with their own expiry (Redis TTLs) rightly drop records whose
/// retention time has passed.
fn t0() -> Timestamp {
    static START: std::sync::OnceLock<Timestamp> = std::sync::OnceLock::new();
    *START.get_or_init(|| {
        Timestamp::from_second(Timestamp::now().as_second()).unwrap_or(Timestamp::UNIX_EPOCH)
    })
}

fn fresh_key() -> StoreKey {
    let id = SessionId::generate().unwrap_or_else(|e| panic!("OS RNG: {e}"));
    let keyring = Keyring::generate().unwrap_or_else(|e| panic!("OS RNG: {e}"));
    sessionvault::tooling::IdHasher::new(&keyring).key(&id)
}

/// A live record for tests.
pub fn record(user: Option<&str>) -> Record {
    let now = t0();
    Record {
        key: fresh_key(),
        version: 0,
        state: RecordState::Live,
        data: BTreeMap::from([("k".to_owned(), serde_json::json!("v"))]),
        user: user.map(str::to_owned),
        auth_time: user.map(|_| now),
        created: now,
        id_issued: now,
        last_seen: now,
        idle_deadline: now + SignedDuration::from_mins(30),
        absolute_deadline: now + SignedDuration::from_hours(12),
        user_agent: Some("test-agent".into()),
        ip: Some("192.0.2.0/24".into()),
        expires_at: now + SignedDuration::from_hours(12),
    }
}

fn next(mut record: Record) -> Record {
    record.version += 1;
    record
}

/// `create` stores a record and never overwrites one, live or tombstone.
pub async fn create_never_overwrites(store: impl SessionStore) {
    let r = record(None);
    assert!(store.create(&r).await.expect("create"));
    assert_eq!(store.load(&r.key).await.expect("load"), Some(r.clone()));
    let mut other = r.clone();
    other
        .data
        .insert("k".into(), serde_json::json!("overwritten"));
    assert!(!store.create(&other).await.expect("create again"));
    assert_eq!(
        store
            .load(&r.key)
            .await
            .expect("load")
            .expect("present")
            .data["k"],
        "v"
    );
    assert!(
        store
            .end(&r.key, EndReason::Logout, t0(), None)
            .await
            .expect("end")
    );
    assert!(!store.create(&r).await.expect("create over tombstone"));
    assert!(
        !store
            .load(&r.key)
            .await
            .expect("load")
            .expect("tombstone")
            .is_live()
    );
    assert_eq!(store.load(&fresh_key()).await.expect("load missing"), None);
}

/// `load`, `load_shared` and, where the store answers it, `try_load_shared` see the same record
/// (live, tombstone or none) after each kind of write.
pub async fn every_load_agrees(store: impl SessionStore) {
    async fn agree(store: &impl SessionStore, key: &StoreKey) -> Option<Record> {
        let loaded = store.load(key).await.expect("load");
        let shared = store.load_shared(key).await.expect("load_shared");
        assert_eq!(shared.as_deref(), loaded.as_ref(), "load_shared");
        if let Some(now) = store.try_load_shared(key) {
            assert_eq!(
                now.expect("try_load_shared").as_deref(),
                loaded.as_ref(),
                "try_load_shared"
            );
        }
        loaded
    }
    let r = record(Some("alice"));
    assert_eq!(agree(&store, &r.key).await, None);
    store.create(&r).await.expect("create");
    assert_eq!(agree(&store, &r.key).await, Some(r.clone()));
    let mut changed = next(r.clone());
    changed
        .data
        .insert("k".into(), serde_json::json!("changed"));
    assert!(store.save_if(&changed, r.version).await.expect("save"));
    assert_eq!(agree(&store, &r.key).await, Some(changed));
    assert!(
        store
            .end(&r.key, EndReason::Logout, t0(), None)
            .await
            .expect("end")
    );
    let ended = agree(&store, &r.key).await.expect("tombstone");
    assert!(!ended.is_live());
}

/// `save_if` writes only over a live record at the expected version.
pub async fn save_is_compare_and_set(store: impl SessionStore) {
    let r = record(None);
    store.create(&r).await.expect("create");
    let mut v1 = next(r.clone());
    v1.data.insert("a".into(), serde_json::json!(1));
    assert!(store.save_if(&v1, 0).await.expect("save v1"));
    let mut stale = next(r.clone());
    stale.data.insert("b".into(), serde_json::json!(2));
    assert!(
        !store.save_if(&stale, 0).await.expect("stale save"),
        "a stale version must lose"
    );
    let loaded = store.load(&r.key).await.expect("load").expect("present");
    assert_eq!(loaded.version, 1);
    assert_eq!(loaded.data.get("a"), Some(&serde_json::json!(1)));
    assert!(!loaded.data.contains_key("b"));
    let missing = record(None);
    assert!(
        !store
            .save_if(&next(missing.clone()), 0)
            .await
            .expect("save missing")
    );
    assert_eq!(
        store.load(&missing.key).await.expect("load"),
        None,
        "save never creates"
    );
}

/// A tombstone is never brought back: not by `save_if`, `touch_if_live` or a second `end`.
pub async fn tombstones_are_final(store: impl SessionStore) {
    let r = record(Some("alice"));
    store.create(&r).await.expect("create");
    assert!(
        !store
            .end(&r.key, EndReason::Revoked, t0(), Some(7))
            .await
            .expect("end at wrong version")
    );
    assert!(
        store
            .end(&r.key, EndReason::Logout, t0(), Some(0))
            .await
            .expect("end")
    );
    let tomb = store
        .load(&r.key)
        .await
        .expect("load")
        .expect("tombstone kept");
    assert!(matches!(
        tomb.state,
        RecordState::Ended {
            reason: EndReason::Logout,
            ..
        }
    ));
    assert!(tomb.data.is_empty(), "a tombstone keeps no data");
    assert!(
        tomb.expires_at >= r.absolute_deadline,
        "kept as long as the session could live"
    );
    assert!(!store.save_if(&next(r.clone()), 0).await.expect("save"));
    assert!(
        !store
            .save_if(&next(tomb.clone()), tomb.version)
            .await
            .expect("save over tombstone")
    );
    assert!(
        !store
            .touch_if_live(&r.key, t0(), t0())
            .await
            .expect("touch")
    );
    assert!(
        !store
            .end(&r.key, EndReason::Revoked, t0(), None)
            .await
            .expect("end again")
    );
    let still = store.load(&r.key).await.expect("load").expect("tombstone");
    assert!(!still.is_live());
    assert!(
        store
            .sessions_for_user("alice")
            .await
            .expect("list")
            .is_empty()
    );
}

/// `touch_if_live` moves the deadlines of a live record and leaves its version alone.
pub async fn touch_moves_deadlines_without_a_version(store: impl SessionStore) {
    let r = record(None);
    store.create(&r).await.expect("create");
    let later = t0() + SignedDuration::from_mins(20);
    let deadline = later + SignedDuration::from_mins(30);
    assert!(
        store
            .touch_if_live(&r.key, later, deadline)
            .await
            .expect("touch")
    );
    let loaded = store.load(&r.key).await.expect("load").expect("present");
    assert_eq!(
        (loaded.last_seen, loaded.idle_deadline, loaded.version),
        (later, deadline, 0)
    );
    assert!(
        store
            .save_if(&next(loaded.clone()), 0)
            .await
            .expect("a touch does not break CAS")
    );
    assert!(
        !store
            .touch_if_live(&fresh_key(), later, deadline)
            .await
            .expect("touch missing")
    );
}

/// The user index: lists a user's live sessions, drops ended ones, follows a change of user.
pub async fn user_index_lists_live_sessions_only(store: impl SessionStore) {
    let a = record(Some("alice"));
    let b = record(Some("alice"));
    let c = record(Some("bob"));
    let anon = record(None);
    for r in [&a, &b, &c, &anon] {
        store.create(r).await.expect("create");
    }
    let mut keys: Vec<StoreKey> = store
        .sessions_for_user("alice")
        .await
        .expect("list")
        .iter()
        .map(|r| r.key)
        .collect();
    keys.sort();
    let mut want = vec![a.key, b.key];
    want.sort();
    assert_eq!(keys, want);
    store
        .end(&a.key, EndReason::Revoked, t0(), None)
        .await
        .expect("revoke");
    assert_eq!(
        store.sessions_for_user("alice").await.expect("list").len(),
        1
    );
    // Signing an anonymous session in adds it to the index.
    let mut signed_in = next(anon.clone());
    signed_in.user = Some("alice".into());
    assert!(store.save_if(&signed_in, 0).await.expect("save"));
    assert_eq!(
        store.sessions_for_user("alice").await.expect("list").len(),
        2
    );
    assert_eq!(
        store.sessions_for_user("nobody").await.expect("list"),
        Vec::new()
    );
}

/// `sweep` forgets records past `expires_at` and nothing else. Stores that expire records
/// themselves (TTLs) may report 0 and must still not lose live ones.
pub async fn sweep_forgets_only_what_has_expired(store: impl SessionStore) {
    let old = record(None);
    let mut young = record(None);
    young.expires_at = t0() + SignedDuration::from_hours(48);
    young.absolute_deadline = young.expires_at;
    store.create(&old).await.expect("create");
    store.create(&young).await.expect("create");
    store
        .sweep(t0() + SignedDuration::from_hours(24))
        .await
        .expect("sweep");
    assert!(store.load(&young.key).await.expect("load").is_some());
}

/// What a store holds is keyed by the hash; it holds no raw ID because it is never given one.
pub async fn keys_are_opaque_hashes(store: impl SessionStore) {
    let r = record(None);
    store.create(&r).await.expect("create");
    let loaded = store.load(&r.key).await.expect("load").expect("present");
    assert_eq!(loaded.key, r.key);
    assert_eq!(loaded.key.to_hex().len(), 64);
}

/// Many tasks saving with compare-and-set and retrying on conflict: every write survives.
pub async fn concurrent_writers_lose_nothing(store: impl SessionStore) {
    let store = Arc::new(store);
    let r = record(None);
    store.create(&r).await.expect("create");
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let store = Arc::clone(&store);
            let key = r.key;
            tokio::spawn(async move {
                loop {
                    let current = store.load(&key).await.expect("load").expect("present");
                    let mut updated = next(current.clone());
                    updated.data.insert(format!("w{i}"), serde_json::json!(i));
                    if store
                        .save_if(&updated, current.version)
                        .await
                        .expect("save")
                    {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("writer");
    }
    let done = store.load(&r.key).await.expect("load").expect("present");
    assert_eq!(done.version, 24);
    assert_eq!(done.data.len(), 25);
}

/// Text holding NUL (U+0000) is stored and read back exactly, wherever it reaches the store
/// from outside: a data key, a value, the user name (and so the user index), the user agent.
/// PostgreSQL's JSONB and TEXT refuse NUL, so its store must escape it; every store agrees.
// See: issue 17, finding 12
pub async fn review_nul_in_session_data_is_stored_faithfully(store: impl SessionStore) {
    let user = "ali\0ce";
    let mut r = record(Some(user));
    r.data
        .insert("k\0".into(), serde_json::json!("v\0 \\u0000 \u{0}\u{0}"));
    r.data.insert(
        "nested".into(),
        serde_json::json!({"a\0": ["\0", {"\0": "\0"}], "n": 1}),
    );
    r.user_agent = Some("agent\0".into());
    assert!(store.create(&r).await.expect("create with NUL"));
    assert_eq!(store.load(&r.key).await.expect("load"), Some(r.clone()));
    assert_eq!(
        store
            .load_shared(&r.key)
            .await
            .expect("load_shared")
            .as_deref(),
        Some(&r)
    );

    let mut changed = next(r.clone());
    changed
        .data
        .insert("more\0".into(), serde_json::json!("\0"));
    assert!(
        store
            .save_if(&changed, r.version)
            .await
            .expect("save with NUL")
    );
    let later = t0() + SignedDuration::from_mins(20);
    let deadline = later + SignedDuration::from_mins(30);
    assert!(
        store
            .touch_if_live(&r.key, later, deadline)
            .await
            .expect("touch with NUL")
    );
    let loaded = store.load(&r.key).await.expect("load").expect("present");
    changed.last_seen = later;
    changed.idle_deadline = deadline;
    assert_eq!(loaded, changed);

    // The user index finds the user exactly, and only that user.
    let lookalike = record(Some("ali\u{fffd}ce"));
    let cut = record(Some("ali"));
    for other in [&lookalike, &cut] {
        assert!(store.create(other).await.expect("create"));
    }
    let listed = store.sessions_for_user(user).await.expect("list with NUL");
    assert_eq!(listed, vec![changed.clone()]);
    let listed = store
        .sessions_for_user("ali\u{fffd}ce")
        .await
        .expect("list");
    assert_eq!(
        listed.iter().map(|r| r.key).collect::<Vec<_>>(),
        vec![lookalike.key]
    );

    assert!(
        store
            .end(&r.key, EndReason::Logout, t0(), None)
            .await
            .expect("end with NUL")
    );
    let ended = store.load(&r.key).await.expect("load").expect("tombstone");
    assert!(!ended.is_live());
    assert_eq!(ended.user.as_deref(), Some(user));
    assert_eq!(
        store.sessions_for_user(user).await.expect("list"),
        Vec::new()
    );
}

// ------------------------------------------------------------------ the engine on this store

fn manager<S: SessionStore + Clone>(store: S, clock: &ManualClock) -> SessionManager {
    manager_with(store, clock, SessionConfig::default().with_max_retries(64))
}

fn manager_with<S: SessionStore + Clone>(
    store: S,
    clock: &ManualClock,
    config: SessionConfig,
) -> SessionManager {
    SessionManager::builder(Keyring::generate().unwrap_or_else(|e| panic!("OS RNG: {e}")))
        .with_store(store)
        .with_clock(clock.clone())
        .with_config(config)
        .build()
        .unwrap_or_else(|e| panic!("manager: {e}"))
}

/// IDs renewed every 10 minutes; the replaced one works for 30 seconds more.
fn renewing_manager<S: SessionStore + Clone>(store: S, clock: &ManualClock) -> SessionManager {
    let config = SessionConfig::default()
        .with_max_retries(64)
        .with_id_renewal(SignedDuration::from_mins(10), SignedDuration::from_secs(30));
    manager_with(store, clock, config)
}

/// The cookie value a `Set-Cookie` header sets.
fn value_of(header: &str) -> String {
    let pair = header.split(';').next().unwrap_or_default();
    pair.split_once('=')
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default()
}

fn request(manager: &SessionManager, cookie: Option<&str>) -> Session {
    let incoming = cookie.map_or(IncomingCookie::Absent, |c| IncomingCookie::One(c.into()));
    manager.session(incoming, RequestMeta::default())
}

async fn new_session(manager: &SessionManager) -> String {
    let s = request(manager, None);
    s.insert("seed", 0).await.expect("insert");
    value_of(&s.commit().await.expect("commit").expect("a new cookie"))
}

/// Through the engine: parallel requests writing different keys all land, and parallel
/// increments through `update` all succeed and all count (writers in one process take turns,
/// so none runs out of retries).
pub async fn sessions_merge_concurrent_writes<S: SessionStore + Clone>(store: S) {
    let clock = ManualClock::new(t0());
    let m = manager(store, &clock);
    let cookie = new_session(&m).await;
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let m = m.clone();
            let cookie = cookie.clone();
            tokio::spawn(async move {
                let s = request(&m, Some(&cookie));
                s.insert(&format!("k{i}"), i).await.expect("insert");
                let inc = s.update("n", |n: Option<i64>| n.unwrap_or(0) + 1).await;
                s.commit().await.expect("commit");
                inc.is_ok()
            })
        })
        .collect();
    let mut increments = 0;
    for t in tasks {
        increments += i64::from(t.await.expect("task"));
    }
    let s = request(&m, Some(&cookie));
    for i in 0..32 {
        assert_eq!(
            s.get::<i64>(&format!("k{i}")).await.expect("get"),
            Some(i),
            "k{i}"
        );
    }
    assert_eq!(increments, 32, "an increment ran out of retries");
    assert_eq!(s.get::<i64>("n").await.expect("get"), Some(increments));
}

/// Through the engine: logout leaves a tombstone; a request that loaded the session before
/// cannot write it back to life.
pub async fn logout_leaves_a_tombstone_in_flight_writes_cannot_revive<S: SessionStore + Clone>(
    store: S,
) {
    let clock = ManualClock::new(t0());
    let m = manager(store, &clock);
    let cookie = new_session(&m).await;
    let in_flight = request(&m, Some(&cookie));
    assert_eq!(in_flight.get::<i64>("seed").await.expect("load"), Some(0));
    let logout = request(&m, Some(&cookie));
    logout.logout().await.expect("logout");
    logout.commit().await.expect("commit logout");
    in_flight.insert("revive", true).await.expect("insert");
    let err = in_flight
        .commit()
        .await
        .expect_err("the write must not succeed");
    assert!(err.is_conflict(), "{err}");
    let after = request(&m, Some(&cookie));
    assert_eq!(after.len().await.expect("load"), 0, "still logged out");
}

/// Through the engine: the idle timeout and the absolute lifetime both end a session.
pub async fn idle_and_absolute_expiry_hold<S: SessionStore + Clone>(store: S) {
    let clock = ManualClock::new(t0());
    let m = manager(store, &clock);
    let idle = new_session(&m).await;
    clock.advance(SignedDuration::from_mins(31));
    assert_eq!(
        request(&m, Some(&idle)).len().await.expect("load"),
        0,
        "idle expiry"
    );

    let busy = new_session(&m).await;
    for _ in 0..36 {
        clock.advance(SignedDuration::from_mins(20));
        let s = request(&m, Some(&busy));
        let alive = s.len().await.expect("load") > 0;
        s.commit().await.expect("commit");
        if !alive {
            // 36 x 20 minutes = 12 hours: it must end exactly at the absolute deadline.
            return;
        }
    }
    panic!("a session active every 20 minutes outlived its 12-hour absolute lifetime");
}

/// Store calls per request: none when the handler does not touch the session, one for a read,
/// two for a read and a write, none extra on reads while the idle deadline is fresh.
pub async fn round_trips_per_request<S: SessionStore + Clone>(store: S) {
    let clock = ManualClock::new(t0());
    let counted = TestStore::new(store);
    let m = manager(counted.clone(), &clock);
    let cookie = new_session(&m).await;
    let count = |f: usize| counted.calls() - f;

    let before = counted.calls();
    request(&m, Some(&cookie)).commit().await.expect("commit");
    assert_eq!(count(before), 0, "untouched");

    let before = counted.calls();
    let s = request(&m, Some(&cookie));
    s.get::<i64>("seed").await.expect("get");
    s.commit().await.expect("commit");
    assert_eq!(count(before), 1, "read");

    let before = counted.calls();
    let s = request(&m, Some(&cookie));
    s.insert("x", 1).await.expect("insert");
    s.commit().await.expect("commit");
    assert_eq!(count(before), 2, "read and write");

    clock.advance(SignedDuration::from_mins(5));
    let before = counted.writes();
    let s = request(&m, Some(&cookie));
    s.get::<i64>("x").await.expect("get");
    s.commit().await.expect("commit");
    assert_eq!(
        counted.writes() - before,
        0,
        "no write on a read soon after the last one"
    );
}

/// A signed-in session on a renewing manager, its ID due for renewal: its cookie.
async fn due_for_renewal(m: &SessionManager, clock: &ManualClock) -> String {
    let s = request(m, None);
    s.login("gina").await.expect("login");
    s.insert("n", 0).await.expect("insert");
    let cookie = value_of(&s.commit().await.expect("commit").expect("a cookie"));
    clock.advance(SignedDuration::from_mins(11));
    cookie
}

/// Asserts that a commit's `Set-Cookie`, if any, does not clear the cookie.
fn assert_not_cleared(header: Option<&str>, what: &str) {
    if let Some(header) = header {
        assert!(!header.contains("Max-Age=0"), "{what} cleared the cookie");
    }
}

/// Requests in flight when the ID is renewed: read-only ones loaded with the old ID finish
/// without an error and without touching the cookie, whether they commit before or after the
/// renewal, and the old ID still reads the session during the grace period.
// See: issue 17, finding 2
pub async fn review_renewal_grace_keeps_parallel_reads<S: SessionStore + Clone>(store: S) {
    let clock = ManualClock::new(t0());
    let m = renewing_manager(store, &clock);
    let old = due_for_renewal(&m, &clock).await;
    // All loaded before any of them commits, as parallel requests of one page are.
    let readers: Vec<Session> = (0..8).map(|_| request(&m, Some(&old))).collect();
    for r in &readers {
        assert_eq!(r.get::<i64>("n").await.expect("read"), Some(0));
    }
    let mut renewed = Vec::new();
    for (i, r) in readers.into_iter().enumerate() {
        let header = r
            .commit()
            .await
            .unwrap_or_else(|e| panic!("reader {i}: {e}"));
        assert_not_cleared(header.as_deref(), "a read in flight");
        renewed.extend(header.map(|h| value_of(&h)));
    }
    assert_eq!(renewed.len(), 1, "one renewal, one new cookie");
    let new = &renewed[0];
    assert_ne!(new, &old);
    // Later requests with the old ID, within the grace period, read the same session.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (m, old) = (m.clone(), old.clone());
            tokio::spawn(async move {
                let r = request(&m, Some(&old));
                let seen = (r.user().await, r.get::<i64>("n").await);
                (seen, r.commit().await)
            })
        })
        .collect();
    for t in tasks {
        let ((user, n), header) = t.await.expect("task");
        assert_eq!(user.expect("user").as_deref(), Some("gina"));
        assert_eq!(n.expect("read"), Some(0));
        assert_eq!(header.expect("commit"), None, "no cookie for the old ID");
    }
    let s = request(&m, Some(new));
    assert_eq!(s.user().await.expect("user").as_deref(), Some("gina"));
}

/// Requests in flight when the ID is renewed: every `update` made with the old ID lands in the
/// successor, none fails, none clears the cookie, none is lost.
// See: issue 17, finding 2
pub async fn review_renewal_grace_keeps_parallel_update<S: SessionStore + Clone>(store: S) {
    let clock = ManualClock::new(t0());
    let m = renewing_manager(store, &clock);
    let old = due_for_renewal(&m, &clock).await;
    // Writers that loaded the session before the renewal.
    let writers: Vec<Session> = (0..8).map(|_| request(&m, Some(&old))).collect();
    for w in &writers {
        w.len().await.expect("load");
    }
    let renewing = request(&m, Some(&old));
    renewing.len().await.expect("load");
    let new = value_of(
        &renewing
            .commit()
            .await
            .expect("renew")
            .expect("a renewed cookie"),
    );
    for (i, w) in writers.into_iter().enumerate() {
        let n = w.update("n", |n: Option<i64>| n.unwrap_or(0) + 1).await;
        assert!(n.is_ok(), "writer {i}: {n:?}");
        w.insert(&format!("k{i}"), i).await.expect("insert");
        let header = w
            .commit()
            .await
            .unwrap_or_else(|e| panic!("writer {i}: {e}"));
        assert_eq!(header, None, "writer {i}: no cookie for the old ID");
    }
    // In parallel, the renewal racing the writers: one of them renews, the rest follow it.
    let old = due_for_renewal(&m, &clock).await;
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let (m, old) = (m.clone(), old.clone());
            tokio::spawn(async move {
                let w = request(&m, Some(&old));
                let n = w.update("n", |n: Option<i64>| n.unwrap_or(0) + 1).await;
                w.insert(&format!("k{i}"), i).await.expect("insert");
                (n.map(|_| ()), w.commit().await)
            })
        })
        .collect();
    let mut renewed = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        let (n, header) = t.await.expect("task");
        assert!(n.is_ok(), "writer {i}: {n:?}");
        let header = header.unwrap_or_else(|e| panic!("writer {i}: {e}"));
        assert_not_cleared(header.as_deref(), "a write in flight");
        renewed.extend(header.map(|h| value_of(&h)));
    }
    assert_eq!(renewed.len(), 1, "one renewal, one new cookie");
    for (cookie, writers) in [(&new, 8), (&renewed[0], 24)] {
        let s = request(&m, Some(cookie));
        assert_eq!(
            s.get::<i64>("n").await.expect("get"),
            Some(writers),
            "every update counts"
        );
        for i in 0..writers {
            assert_eq!(s.get::<i64>(&format!("k{i}")).await.expect("get"), Some(i));
        }
    }
}

/// A write made with the ID a sign-in replaces is refused: sign-in is a privilege change, and
/// a request made before it (perhaps by whoever planted the ID) must not write into the
/// signed-in session. The refusal is explicit and leaves the cookie alone, even with renewal's
/// grace period configured.
// See: issue 17, finding 2
pub async fn review_write_racing_login_is_refused_without_clearing_the_cookie<
    S: SessionStore + Clone,
>(
    store: S,
) {
    let clock = ManualClock::new(t0());
    let m = renewing_manager(store, &clock);
    let anonymous = new_session(&m).await;
    let updating = request(&m, Some(&anonymous));
    let inserting = request(&m, Some(&anonymous));
    for w in [&updating, &inserting] {
        assert_eq!(w.get::<i64>("seed").await.expect("load"), Some(0));
    }
    let login = request(&m, Some(&anonymous));
    login.login("gina").await.expect("login");
    let signed_in = value_of(&login.commit().await.expect("login").expect("a new cookie"));

    let err = updating
        .update("n", |n: Option<i64>| n.unwrap_or(0) + 1)
        .await
        .expect_err("a write across sign-in");
    assert!(matches!(err, sessionvault::Error::IdChanged), "{err}");
    assert_eq!(
        updating.commit().await.expect("commit"),
        None,
        "cookie left alone"
    );

    inserting.insert("planted", true).await.expect("insert");
    let err = inserting
        .commit()
        .await
        .expect_err("a write across sign-in");
    assert!(matches!(err, sessionvault::Error::IdChanged), "{err}");
    assert!(err.is_conflict(), "answered 409");

    let s = request(&m, Some(&signed_in));
    assert_eq!(s.user().await.expect("user").as_deref(), Some("gina"));
    assert_eq!(s.get::<i64>("n").await.expect("get"), None);
    assert_eq!(s.get::<bool>("planted").await.expect("get"), None);
    let s = request(&m, Some(&anonymous));
    assert_eq!(s.user().await.expect("user"), None, "the old ID is dead");
    assert_eq!(s.len().await.expect("load"), 0);
}

// See: issue 17, finding 13
/// Through the engine: an ID change (`cycle_id`, or signing in again) that lands between
/// `revoke_all_for_user`'s listing of the user's sessions and its ending of them cannot carry
/// the session past the revocation. Without the per-user not-before time, the successor is
/// created after the listing and the old session is already gone when revoke-all reaches it,
/// so the successor stays live.
pub async fn review_revoke_all_catches_racing_id_changes<S: SessionStore + Clone>(store: S) {
    let clock = ManualClock::new(t0());
    let held = TestStore::new(store);
    let m = manager(held.clone(), &clock);
    let suffix = SessionId::generate()
        .unwrap_or_else(|e| panic!("OS RNG: {e}"))
        .to_cookie_value();
    for change in ["cycle_id", "login"] {
        let user = format!("racer-{change}-{}", &suffix[..12]);
        let s = request(&m, None);
        s.login(&user).await.expect("login");
        let header = s.commit().await.expect("commit").expect("a cookie");
        let cookie = cookie_value(&header);
        clock.advance(SignedDuration::from_secs(1));

        let (listed, release) = held.hold_after_next_listing();
        let revoke = tokio::spawn({
            let m = m.clone();
            let user = user.clone();
            async move { m.revoke_all_for_user(&user, None).await }
        });
        listed.await.expect("revoke-all lists the sessions");
        let s = request(&m, Some(&cookie));
        match change {
            "cycle_id" => s.cycle_id().await.expect("cycle"),
            _ => s.login(&user).await.expect("login again"),
        }
        let changed = s.commit().await;
        let _ = release.send(());
        revoke.await.expect("task").expect("revoke-all");

        let alive = |cookie: String| {
            let m = m.clone();
            async move { request(&m, Some(&cookie)).user().await.expect("load") }
        };
        assert_eq!(alive(cookie).await, None, "{change}: the old cookie");
        if let Ok(Some(header)) = &changed {
            assert_eq!(
                alive(cookie_value(header)).await,
                None,
                "{change}: the successor escaped revoke-all"
            );
        }
        let live = m.sessions_for_user(&user).await.expect("list");
        assert!(live.is_empty(), "{change}: {} live", live.len());
    }
}

fn cookie_value(header: &str) -> String {
    let pair = header.split(';').next().unwrap_or_default();
    pair.split_once('=')
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default()
}
