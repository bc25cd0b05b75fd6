//! Anomaly detection through the engine: fingerprint changes under each policy, ID guessing
//! reported and refused, replayed ended sessions reported as possible theft, all reaching the
//! application's hook.

use std::net::IpAddr;

use jiff::SignedDuration;
use sessionvault::{
    EndReason, Error, FingerprintPolicy, GuessingLimit, RequestMeta, SecurityEvent, Session,
    SessionConfig,
};

use crate::support::{Harness, value_of};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const FIREFOX_UPDATED: &str =
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const CHROME_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const HOME: &str = "192.0.2.10";
const HOME_OTHER_HOST: &str = "192.0.2.99";
const ELSEWHERE: &str = "198.51.100.7";

fn harness(config: SessionConfig) -> Harness {
    Harness::new(config)
}

impl Harness {
    fn request_from(&self, cookie: Option<&str>, agent: &str, ip: &str) -> Session {
        let meta = RequestMeta {
            user_agent: Some(http::HeaderValue::from_str(agent).unwrap()),
            ip: Some(ip.parse().unwrap()),
        };
        self.request_with(cookie, meta)
    }

    /// Alice signs in from Firefox at home; returns her cookie.
    async fn signed_in(&self) -> String {
        let s = self.request_from(None, FIREFOX, HOME);
        s.login("alice").await.unwrap();
        value_of(&s.commit().await.unwrap().unwrap())
    }

    fn fingerprint_events(&self) -> Vec<SecurityEvent> {
        self.events
            .all()
            .into_iter()
            .filter(|e| matches!(e, SecurityEvent::FingerprintChanged { .. }))
            .collect()
    }
}

fn policy(policy: FingerprintPolicy) -> SessionConfig {
    SessionConfig::default().with_fingerprint_policy(policy)
}

#[tokio::test]
async fn the_default_policy_logs_a_changed_fingerprint_and_keeps_the_session() {
    let h = harness(SessionConfig::default());
    let cookie = h.signed_in().await;
    // A browser update and another host on the same network are not changes.
    for (agent, ip) in [(FIREFOX_UPDATED, HOME), (FIREFOX, HOME_OTHER_HOST)] {
        let s = h.request_from(Some(&cookie), agent, ip);
        assert_eq!(s.user().await.unwrap().as_deref(), Some("alice"));
        s.commit().await.unwrap();
    }
    assert_eq!(h.fingerprint_events(), vec![]);

    let s = h.request_from(Some(&cookie), CHROME_WINDOWS, ELSEWHERE);
    assert_eq!(s.user().await.unwrap().as_deref(), Some("alice"));
    assert_eq!(s.commit().await.unwrap(), None, "nothing changes under Log");
    let events = h.fingerprint_events();
    let [
        SecurityEvent::FingerprintChanged {
            user,
            user_agent: true,
            network: true,
            action: FingerprintPolicy::Log,
            ..
        },
    ] = events.as_slice()
    else {
        panic!("one fingerprint event with both parts changed: {events:?}");
    };
    assert_eq!(user.as_deref(), Some("alice"));
    assert!(events[0].is_anomaly());
}

// See: issue 17, finding 3
#[tokio::test]
async fn review_reauthenticate_signs_the_session_out_under_a_new_id() {
    let h = harness(policy(FingerprintPolicy::Reauthenticate));
    let cookie = h.signed_in().await;
    let s = h.request_from(Some(&cookie), FIREFOX, HOME);
    s.insert("cart", 3).await.unwrap();
    s.commit().await.unwrap();

    // The cookie from another network: no user and no sign-in any more, the data kept, under
    // a new ID.
    let s = h.request_from(Some(&cookie), FIREFOX, ELSEWHERE);
    assert_eq!(s.user().await.unwrap(), None);
    assert_eq!(s.auth_age().await.unwrap(), None);
    assert_eq!(s.get::<i64>("cart").await.unwrap(), Some(3));
    let moved = value_of(&s.commit().await.unwrap().expect("a new ID"));
    assert_ne!(moved, cookie);
    let s = h.request_from(Some(&moved), FIREFOX, ELSEWHERE);
    assert_eq!(s.user().await.unwrap(), None, "signed out for good");
    assert_eq!(s.get::<i64>("cart").await.unwrap(), Some(3));
    s.commit().await.unwrap();

    // The presented cookie is dead for whoever holds it, the owner at home included, and
    // presenting it again is reported.
    h.events.clear();
    let s = h.request_from(Some(&cookie), FIREFOX, HOME);
    assert_eq!(s.user().await.unwrap(), None);
    assert_eq!(s.get::<i64>("cart").await.unwrap(), None);
    assert!(
        matches!(
            h.events.all().as_slice(),
            [SecurityEvent::RevokedReuse { user: Some(_), .. }]
        ),
        "{:?}",
        h.events.all()
    );
    // Signing in again works as ever.
    s.login("alice").await.unwrap();
    let fresh = value_of(&s.commit().await.unwrap().unwrap());
    let s = h.request_from(Some(&fresh), FIREFOX, HOME);
    assert_eq!(s.user().await.unwrap().as_deref(), Some("alice"));
    assert_eq!(s.auth_age().await.unwrap(), Some(SignedDuration::ZERO));
}

#[tokio::test]
async fn destroy_ends_the_session_for_everyone_holding_it() {
    let h = harness(policy(FingerprintPolicy::Destroy));
    let cookie = h.signed_in().await;
    let s = h.request_from(Some(&cookie), CHROME_WINDOWS, HOME);
    assert_eq!(s.user().await.unwrap(), None, "the thief gets nothing");
    let cleared = s.commit().await.unwrap().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert!(h.events.names().contains(&"ended"));
    // The owner's next request finds it over, reported as a replayed ended session.
    h.events.clear();
    let s = h.request_from(Some(&cookie), FIREFOX, HOME);
    assert_eq!(s.user().await.unwrap(), None);
    assert!(matches!(
        h.events.all().as_slice(),
        [SecurityEvent::RevokedReuse {
            reason: EndReason::Revoked,
            ..
        }]
    ));
}

#[tokio::test]
async fn ignore_compares_nothing() {
    let h = harness(policy(FingerprintPolicy::Ignore));
    let cookie = h.signed_in().await;
    let s = h.request_from(Some(&cookie), CHROME_WINDOWS, ELSEWHERE);
    assert_eq!(s.user().await.unwrap().as_deref(), Some("alice"));
    assert_eq!(h.fingerprint_events(), vec![]);
}

#[tokio::test]
async fn id_guessing_is_reported_once_per_window() {
    let h = harness(SessionConfig::default());
    let guess = |i: u32| format!("{i:0>43}");
    for i in 0..25 {
        let s = h.request_from(Some(&guess(i)), "curl/8", ELSEWHERE);
        assert_eq!(s.user().await.unwrap(), None);
    }
    let reports: Vec<SecurityEvent> = h
        .events
        .all()
        .into_iter()
        .filter(|e| matches!(e, SecurityEvent::IdGuessing { .. }))
        .collect();
    let client: IpAddr = ELSEWHERE.parse().unwrap();
    assert_eq!(
        reports,
        vec![SecurityEvent::IdGuessing {
            client,
            failures: 21,
            refused: false
        }],
        "the default limit is 20 a minute, reported once"
    );
    // Reported only: the client is not refused.
    let s = h.request_from(Some(&guess(99)), "curl/8", ELSEWHERE);
    assert!(s.user().await.is_ok());
}

// See: issue 17, finding 6
#[tokio::test]
async fn review_guessing_limit_spares_live_sessions() {
    let limit = GuessingLimit::new(5, SignedDuration::from_mins(10)).refusing();
    let h = harness(SessionConfig::default().with_guessing_limit(Some(limit)));
    let cookie = h.signed_in().await;
    // The sixth unknown ID crosses the limit.
    for i in 0..6 {
        let s = h.request_from(Some(&format!("guess-{i}")), "curl/8", ELSEWHERE);
        let _ = s.user().await;
    }
    // A signed-in user behind the same address is served, with the one lookup as ever.
    let calls = h.store.calls();
    let s = h.request_from(Some(&cookie), FIREFOX, ELSEWHERE);
    assert_eq!(s.user().await.unwrap().as_deref(), Some("alice"));
    assert_eq!(h.store.calls(), calls + 1, "no extra store round trip");
    // Every further unknown ID from that address is refused, retries too.
    for i in 6..9 {
        let s = h.request_from(Some(&format!("guess-{i}")), "curl/8", ELSEWHERE);
        assert!(matches!(s.user().await, Err(Error::Throttled)), "guess {i}");
        assert!(
            matches!(s.user().await, Err(Error::Throttled)),
            "still refused on retry"
        );
    }
    // So is a request with no cookie, and other addresses' guesses.
    let s = h.request_from(None, FIREFOX, ELSEWHERE);
    assert_eq!(s.user().await.unwrap(), None);
    let s = h.request_from(Some("guess-other"), FIREFOX, HOME);
    assert_eq!(s.user().await.unwrap(), None);
    // Once the window is over, the address's unknown IDs start fresh sessions again.
    h.clock.advance(SignedDuration::from_mins(10));
    let s = h.request_from(Some("guess-late"), "curl/8", ELSEWHERE);
    assert_eq!(s.user().await.unwrap(), None);
}

#[tokio::test]
async fn replayed_ended_sessions_are_reported_as_possible_theft_with_their_user() {
    let h = harness(SessionConfig::default());
    // Logged out.
    let cookie = h.signed_in().await;
    let s = h.request_from(Some(&cookie), FIREFOX, HOME);
    s.logout().await.unwrap();
    s.commit().await.unwrap();
    h.events.clear();
    let s = h.request_from(Some(&cookie), FIREFOX, HOME);
    assert_eq!(s.user().await.unwrap(), None);
    let events = h.events.all();
    assert!(
        matches!(
            events.as_slice(),
            [SecurityEvent::RevokedReuse {
                reason: EndReason::Logout,
                ..
            }]
        ),
        "{events:?}"
    );
    assert_eq!(
        events[0].user(),
        Some("alice"),
        "the hook can lock the account"
    );
    assert!(events[0].is_anomaly());

    // Expired: the first request after expiry is ordinary; the cookie is cleared then, so a
    // second presentation is a copy someone kept.
    let cookie = h.signed_in().await;
    h.clock.advance(SignedDuration::from_mins(31));
    h.events.clear();
    let s = h.request_from(Some(&cookie), FIREFOX, HOME);
    assert_eq!(s.user().await.unwrap(), None);
    assert!(s.commit().await.unwrap().unwrap().contains("Max-Age=0"));
    assert!(matches!(
        h.events.all().as_slice(),
        [SecurityEvent::Expired {
            reason: EndReason::IdleExpired,
            ..
        }]
    ));
    h.events.clear();
    let s = h.request_from(Some(&cookie), CHROME_WINDOWS, ELSEWHERE);
    assert_eq!(s.user().await.unwrap(), None);
    assert!(matches!(
        h.events.all().as_slice(),
        [SecurityEvent::RevokedReuse {
            reason: EndReason::IdleExpired,
            user: Some(_),
            ..
        }]
    ));
}

#[tokio::test]
async fn every_sink_receives_every_event() {
    let alerts = sessionvault_testkit::Events::default();
    let counts = sessionvault::EventCounts::default();
    let manager = sessionvault::SessionManager::builder(sessionvault::Keyring::generate().unwrap())
        .with_store(sessionvault::store::MemoryStore::new())
        .with_event_sink(alerts.clone())
        .with_event_sink(counts.clone())
        .build()
        .unwrap();
    let meta = RequestMeta::default();
    let s = manager.session(
        sessionvault::cookie::IncomingCookie::One("forged".into()),
        meta,
    );
    assert_eq!(s.user().await.unwrap(), None);
    assert_eq!(alerts.names(), vec!["unknown_id"]);
    assert_eq!(counts.count("unknown_id"), 1);
}
