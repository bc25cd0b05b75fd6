//! Revocation of cookie-held sessions (sealed and Flask modes) through a store-kept denylist:
//! logout is final, sign-in retires the anonymous cookie, sign-out-everywhere reaches every
//! cookie of the user, and a denylist that cannot be read fails the request closed.

use jiff::SignedDuration;
use sessionvault::cookie::IncomingCookie;
use sessionvault::{
    CookieMode, EndReason, Error, Keyring, ManualClock, RequestMeta, SecurityEvent, Session,
    SessionConfig, SessionManager, store::MemoryStore,
};
use sessionvault_testkit::Events;

use crate::support::{Harness, value_of};

fn cookies(mode: CookieMode) -> Harness {
    Harness::with_mode(mode, SessionConfig::default())
}

impl Harness {
    fn request_in(&self, cookie: Option<&str>) -> Session {
        self.request_with(cookie, RequestMeta::default())
    }

    async fn sign_in(&self, user: &str) -> String {
        let s = self.request_in(None);
        s.login(user).await.unwrap();
        value_of(&s.commit().await.unwrap().unwrap())
    }

    async fn user(&self, cookie: &str) -> Option<String> {
        self.request_in(Some(cookie)).user().await.unwrap()
    }
}

const MODES: [CookieMode; 2] = [CookieMode::Sealed, CookieMode::Flask];

#[tokio::test]
async fn logout_is_final_for_cookie_sessions_with_a_store() {
    for mode in MODES {
        let c = cookies(mode);
        let cookie = c.sign_in("alice").await;
        assert_eq!(c.user(&cookie).await.as_deref(), Some("alice"));
        let s = c.request_in(Some(&cookie));
        s.logout().await.unwrap();
        assert!(s.commit().await.unwrap().unwrap().contains("Max-Age=0"));
        c.events.clear();
        assert_eq!(c.user(&cookie).await, None, "{mode:?}: replay after logout");
        let events = c.events.all();
        assert!(
            matches!(
                events.as_slice(),
                [SecurityEvent::RevokedReuse {
                    reason: EndReason::Logout,
                    user: Some(_),
                    ..
                }]
            ),
            "{mode:?}: {events:?}"
        );
    }
}

#[tokio::test]
async fn sign_in_retires_the_anonymous_cookie() {
    for mode in MODES {
        let c = cookies(mode);
        let s = c.request_in(None);
        s.insert("cart", 3).await.unwrap();
        let anonymous = value_of(&s.commit().await.unwrap().unwrap());
        let s = c.request_in(Some(&anonymous));
        s.login("alice").await.unwrap();
        let signed_in = value_of(&s.commit().await.unwrap().unwrap());
        assert_eq!(c.user(&signed_in).await.as_deref(), Some("alice"));
        let old = c.request_in(Some(&anonymous));
        assert_eq!(old.get::<i64>("cart").await.unwrap(), None, "{mode:?}");
    }
}

#[tokio::test]
async fn signing_out_everywhere_reaches_every_cookie_of_the_user() {
    for mode in MODES {
        let c = cookies(mode);
        let phone = c.sign_in("alice").await;
        let laptop = c.sign_in("alice").await;
        let bob = c.sign_in("bob").await;
        c.clock.advance(SignedDuration::from_secs(1));

        // From the laptop: the others end, the laptop's cookie is re-issued past the cut-off.
        let s = c.request_in(Some(&laptop));
        assert_eq!(
            s.revoke_others().await.unwrap(),
            0,
            "cookies cannot be counted"
        );
        let laptop = value_of(&s.commit().await.unwrap().expect("re-issued"));
        c.clock.advance(SignedDuration::from_secs(1));
        assert_eq!(c.user(&laptop).await.as_deref(), Some("alice"), "{mode:?}");
        assert_eq!(c.user(&phone).await, None, "{mode:?}");
        assert_eq!(c.user(&bob).await.as_deref(), Some("bob"));

        // An administrator disabling bob's account.
        c.manager.revoke_all_for_user("bob", None).await.unwrap();
        assert_eq!(c.user(&bob).await, None, "{mode:?}");
        // A new sign-in afterwards works.
        c.clock.advance(SignedDuration::from_secs(1));
        let again = c.sign_in("bob").await;
        assert_eq!(c.user(&again).await.as_deref(), Some("bob"));
    }
}

#[tokio::test]
async fn an_unreadable_denylist_fails_the_request_closed() {
    for mode in MODES {
        let c = cookies(mode);
        let cookie = c.sign_in("alice").await;
        c.store.set_down(true);
        let s = c.request_in(Some(&cookie));
        assert!(matches!(s.user().await, Err(Error::Store(_))), "{mode:?}");
        assert!(
            matches!(s.user().await, Err(Error::Store(_))),
            "still, on retry"
        );
        c.store.set_down(false);
        assert_eq!(s.user().await.unwrap().as_deref(), Some("alice"));
    }
}

#[tokio::test]
async fn without_a_store_cookie_sessions_cannot_be_revoked_and_say_so() {
    for mode in MODES {
        let manager = SessionManager::builder(Keyring::generate().unwrap())
            .with_mode(mode)
            .build()
            .unwrap();
        let s = manager.session(IncomingCookie::Absent, RequestMeta::default());
        s.login("alice").await.unwrap();
        let cookie = value_of(&s.commit().await.unwrap().unwrap());
        let s = manager.session(
            IncomingCookie::One(cookie.as_str().into()),
            RequestMeta::default(),
        );
        s.logout().await.unwrap();
        s.commit().await.unwrap();
        // The documented limit of a self-contained token: valid until it expires.
        let s = manager.session(
            IncomingCookie::One(cookie.as_str().into()),
            RequestMeta::default(),
        );
        assert_eq!(
            s.user().await.unwrap().as_deref(),
            Some("alice"),
            "{mode:?}"
        );
        assert!(matches!(
            manager.revoke_all_for_user("alice", None).await,
            Err(Error::Config(_))
        ));
        assert!(matches!(s.revoke_others().await, Err(Error::Config(_))));
    }
}

/// A manager of `mode` over one shared store, clock and event log, so that key rotation can be
/// played as a restart with another keyring.
struct Rotating {
    mode: CookieMode,
    store: MemoryStore,
    clock: ManualClock,
    events: Events,
}

impl Rotating {
    fn new(mode: CookieMode) -> Self {
        Self {
            mode,
            store: MemoryStore::new(),
            clock: ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap()),
            events: Events::default(),
        }
    }

    fn manager(&self, keyring: Keyring) -> SessionManager {
        SessionManager::builder(keyring)
            .with_mode(self.mode)
            .with_store(self.store.clone())
            .with_clock(self.clock.clone())
            .with_event_sink(self.events.clone())
            .build()
            .unwrap()
    }
}

fn request(manager: &SessionManager, cookie: Option<&str>) -> Session {
    let incoming = cookie.map_or(IncomingCookie::Absent, |c| IncomingCookie::One(c.into()));
    manager.session(incoming, RequestMeta::default())
}

async fn sign_in(manager: &SessionManager, user: &str) -> String {
    let s = request(manager, None);
    s.login(user).await.unwrap();
    value_of(&s.commit().await.unwrap().unwrap())
}

async fn logout(manager: &SessionManager, cookie: &str) {
    let s = request(manager, Some(cookie));
    s.logout().await.unwrap();
    assert!(s.commit().await.unwrap().unwrap().contains("Max-Age=0"));
}

/// A keyring whose current secret is `current`'s, with the others' as fallbacks, newest first.
fn rotated(current: &Keyring, fallbacks: &[&Keyring]) -> Keyring {
    fallbacks.iter().fold(
        Keyring::new(current.current().expose()).unwrap(),
        |keyring, old| keyring.with_fallback(old.current().expose()).unwrap(),
    )
}

// See: issue 17, finding 1
#[tokio::test]
async fn review_cookie_revocation_survives_key_rotation() {
    for mode in MODES {
        let r = Rotating::new(mode);
        let [k1, k2, k3] = [(); 3].map(|()| Keyring::generate().unwrap());
        let first = r.manager(rotated(&k1, &[]));

        // Under the first key: one cookie logged out, one user signed out everywhere.
        let logged_out = sign_in(&first, "alice").await;
        logout(&first, &logged_out).await;
        let revoked = sign_in(&first, "bob").await;
        let carol = sign_in(&first, "carol").await;
        let dave = sign_in(&first, "dave").await;
        r.clock.advance(SignedDuration::from_secs(1));
        first.revoke_all_for_user("bob", None).await.unwrap();

        // Rotation: the second key signs, the first still verifies. Carol's cookie is
        // re-issued under the second key and logged out there; dave is signed out everywhere
        // while his only cookie is still under the first key.
        let second = r.manager(rotated(&k2, &[&k1]));
        let s = request(&second, Some(&carol));
        assert_eq!(s.user().await.unwrap().as_deref(), Some("carol"));
        let carol_reissued = value_of(&s.commit().await.unwrap().expect("re-issued"));
        logout(&second, &carol_reissued).await;
        r.clock.advance(SignedDuration::from_secs(1));
        second.revoke_all_for_user("dave", None).await.unwrap();

        // A second rotation: every cookie above still verifies, and every one stays ended.
        let third = r.manager(rotated(&k3, &[&k2, &k1]));
        for manager in [&second, &third] {
            for (cookie, what) in [
                (&logged_out, "logged out under the first key"),
                (&revoked, "signed out everywhere under the first key"),
                (
                    &carol,
                    "the first-key copy of a cookie logged out under the second",
                ),
                (&carol_reissued, "logged out under the second key"),
                (
                    &dave,
                    "a first-key cookie signed out everywhere under the second key",
                ),
            ] {
                r.events.clear();
                assert_eq!(
                    request(manager, Some(cookie)).user().await.unwrap(),
                    None,
                    "{mode:?}: {what}"
                );
                let events = r.events.all();
                assert!(
                    matches!(events.as_slice(), [SecurityEvent::RevokedReuse { .. }]),
                    "{mode:?}: {what}: reported as reuse: {events:?}"
                );
            }
        }
        // The keys still work for sessions nobody ended.
        let fresh = sign_in(&third, "erin").await;
        assert_eq!(
            request(&third, Some(&fresh))
                .user()
                .await
                .unwrap()
                .as_deref(),
            Some("erin")
        );
    }
}

// See: issue 17, finding 5
#[tokio::test]
async fn review_cycle_id_retires_the_cookie_and_its_csrf_secret() {
    for mode in MODES {
        let c = cookies(mode);
        let s = c.request_in(None);
        s.login("alice").await.unwrap();
        s.insert(sessionvault::CSRF_SECRET_KEY, "secret")
            .await
            .unwrap();
        s.insert("cart", 3).await.unwrap();
        let before = value_of(&s.commit().await.unwrap().unwrap());

        let s = c.request_in(Some(&before));
        s.cycle_id().await.unwrap();
        let after = value_of(&s.commit().await.unwrap().expect("a new cookie"));
        let s = c.request_in(Some(&after));
        assert_eq!(
            s.user().await.unwrap().as_deref(),
            Some("alice"),
            "{mode:?}"
        );
        assert_eq!(s.get::<i64>("cart").await.unwrap(), Some(3), "{mode:?}");
        assert_eq!(
            s.get::<String>(sessionvault::CSRF_SECRET_KEY)
                .await
                .unwrap(),
            None,
            "{mode:?}: the CSRF secret goes with the old identity"
        );
        assert_eq!(
            c.user(&before).await,
            None,
            "{mode:?}: the old cookie is dead"
        );
    }
}
