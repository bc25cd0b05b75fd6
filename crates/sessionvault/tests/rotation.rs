//! Key rotation as an operation, for every cookie mode and for the keyed hash of stored IDs:
//! add a new key (it signs from then on, the old one still verifies), retire the old one
//! (cookies only it can open are refused), and nobody is signed out in between. The steps are
//! in docs/SECURITY.md.

use sessionvault::cookie::IncomingCookie;
use sessionvault::store::{MemoryStore, SessionStore};
use sessionvault::{CookieMode, Keyring, RequestMeta, SessionManager};

fn value_of(set_cookie: &str) -> String {
    let first = set_cookie.split(';').next().unwrap();
    first.split_once('=').unwrap().1.to_owned()
}

/// The keyring of each step: the old key alone, the new key with the old as fallback, the new
/// key alone.
fn steps() -> [Keyring; 3] {
    let old = Keyring::generate().unwrap();
    let new = Keyring::generate().unwrap();
    let overlap = Keyring::new(new.current().expose())
        .unwrap()
        .with_fallback(old.current().expose())
        .unwrap();
    [old, overlap, new]
}

fn manager(mode: CookieMode, keyring: Keyring, store: &MemoryStore) -> SessionManager {
    SessionManager::builder(keyring)
        .with_mode(mode)
        .with_store(store.clone())
        .build()
        .unwrap()
}

async fn user_of(manager: &SessionManager, cookie: &str) -> Option<String> {
    let s = manager.session(IncomingCookie::One(cookie.into()), RequestMeta::default());
    s.user().await.unwrap()
}

#[tokio::test]
async fn client_mode_cookies_survive_a_rotation_and_die_with_the_retired_key() {
    for mode in [CookieMode::Sealed, CookieMode::Flask] {
        let store = MemoryStore::new();
        let [old, overlap, new] = steps();
        let before = manager(mode, old, &store);
        let s = before.session(IncomingCookie::Absent, RequestMeta::default());
        s.login("hana").await.unwrap();
        let signed_old = value_of(&s.commit().await.unwrap().unwrap());
        // A second user who makes no request during the overlap.
        let s = before.session(IncomingCookie::Absent, RequestMeta::default());
        s.login("ivan").await.unwrap();
        let idle_user = value_of(&s.commit().await.unwrap().unwrap());

        // Step 1, new key added: old cookies still open, and the first request re-issues the
        // cookie under the new key.
        let during = manager(mode, overlap, &store);
        let s = during.session(
            IncomingCookie::One(signed_old.as_str().into()),
            RequestMeta::default(),
        );
        assert_eq!(s.user().await.unwrap().as_deref(), Some("hana"), "{mode:?}");
        let reissued = value_of(
            &s.commit()
                .await
                .unwrap()
                .expect("re-issued under the new key"),
        );
        assert_ne!(reissued, signed_old);
        // New sessions are made with the new key only.
        let s = during.session(IncomingCookie::Absent, RequestMeta::default());
        s.login("jo").await.unwrap();
        let fresh = value_of(&s.commit().await.unwrap().unwrap());

        // Step 2, old key retired: what it alone signed is refused; the rest works.
        let after = manager(mode, new, &store);
        assert_eq!(
            user_of(&after, &reissued).await.as_deref(),
            Some("hana"),
            "{mode:?}"
        );
        assert_eq!(
            user_of(&after, &fresh).await.as_deref(),
            Some("jo"),
            "{mode:?}"
        );
        assert_eq!(user_of(&after, &signed_old).await, None, "{mode:?}");
        assert_eq!(
            user_of(&after, &idle_user).await,
            None,
            "{mode:?}: a cookie never re-issued during the overlap dies with the old key, \
             which is why the overlap must outlast the idle timeout"
        );
    }
}

#[tokio::test]
async fn rotating_the_id_hash_key_keeps_server_sessions_and_moves_them_to_the_new_key() {
    let store = MemoryStore::new();
    let [old, overlap, new] = steps();
    let before = manager(CookieMode::Server, old, &store);
    let s = before.session(IncomingCookie::Absent, RequestMeta::default());
    s.login("hana").await.unwrap();
    let cookie = value_of(&s.commit().await.unwrap().unwrap());

    // New key added: the session is found under the old key's hash and moved.
    let during = manager(CookieMode::Server, overlap.clone(), &store);
    assert_eq!(user_of(&during, &cookie).await.as_deref(), Some("hana"));
    let id = sessionvault::id::SessionId::parse(&cookie).unwrap();
    let hasher = sessionvault::tooling::IdHasher::new(&overlap);
    let moved = store.load(&hasher.key(&id)).await.unwrap().unwrap();
    assert!(moved.is_live());
    let old_key = hasher.fallback_keys(&id).next().unwrap();
    assert!(
        !store.load(&old_key).await.unwrap().unwrap().is_live(),
        "only a tombstone is left under the old hash"
    );

    // Old key retired: the moved session still works; one never moved is gone.
    let s = before.session(IncomingCookie::Absent, RequestMeta::default());
    s.login("ivan").await.unwrap();
    let never_moved = value_of(&s.commit().await.unwrap().unwrap());
    let after = manager(CookieMode::Server, new, &store);
    assert_eq!(user_of(&after, &cookie).await.as_deref(), Some("hana"));
    assert_eq!(user_of(&after, &never_moved).await, None);
}
