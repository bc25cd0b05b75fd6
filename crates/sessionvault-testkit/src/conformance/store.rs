//! The checks made on the store's own methods.

use std::sync::Arc;

use jiff::SignedDuration;
use sessionvault::EndReason;
use sessionvault::id::StoreKey;
use sessionvault::store::{Record, RecordState, SaveIf, SessionStore};

use super::{fresh_key, next, record, t0};

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

/// `save_if_or_current` saves as `save_if` does and, when it does not, answers exactly what a
/// load finds: the record it lost to, a tombstone, or nothing.
pub async fn a_lost_save_answers_what_a_load_finds(store: impl SessionStore) {
    let r = record(None);
    store.create(&r).await.expect("create");
    let mut v1 = next(r.clone());
    v1.user = Some("alice".into());
    v1.data.insert("a".into(), serde_json::json!(1));
    assert_eq!(
        store.save_if_or_current(&v1, 0).await.expect("save v1"),
        SaveIf::Saved
    );
    let listed = store.sessions_for_user("alice").await.expect("list");
    assert_eq!(
        listed.iter().map(|s| s.key).collect::<Vec<_>>(),
        [r.key],
        "a save that signs a user in files the session under the user"
    );
    let stale = next(r.clone());
    let SaveIf::Lost(Some(current)) = store.save_if_or_current(&stale, 0).await.expect("stale")
    else {
        panic!("a stale save must lose, and answer the record it lost to");
    };
    let loaded = store.load(&r.key).await.expect("load").expect("present");
    assert_eq!(*current, loaded);
    assert_eq!(loaded.version, 1);
    assert_eq!(loaded.data.get("a"), Some(&serde_json::json!(1)));

    assert!(
        store
            .end(&r.key, EndReason::Logout, t0(), Some(1))
            .await
            .expect("end")
    );
    let tomb = store.load(&r.key).await.expect("load").expect("tombstone");
    let SaveIf::Lost(Some(answered)) = store
        .save_if_or_current(&next(tomb.clone()), tomb.version)
        .await
        .expect("save over a tombstone")
    else {
        panic!("a save over a tombstone must lose, and answer the tombstone");
    };
    assert_eq!(*answered, tomb);
    assert!(!answered.is_live());

    let missing = record(None);
    assert_eq!(
        store
            .save_if_or_current(&next(missing.clone()), 0)
            .await
            .expect("save missing"),
        SaveIf::Lost(None)
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
/// PostgreSQL's TEXT refuses NUL, so its store must keep it some other way; every store agrees.
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
