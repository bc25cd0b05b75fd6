//! Limits on what a session may hold and on the configuration: the data size limit, and
//! timeouts that must be positive and at most 400 days.

use jiff::{SignedDuration, Timestamp};
use sessionvault::cookie::IncomingCookie;
use sessionvault::{
    CookieMode, Error, Keyring, ManualClock, RequestMeta, SessionConfig, SessionManager,
    store::MemoryStore,
};

use crate::support::{Harness, value_of};

/// 60 KB: one value fits under the default 64 KiB limit, two do not.
fn chunk(fill: char) -> String {
    std::iter::repeat_n(fill, 60_000).collect()
}

/// `len` letters that do not compress (Flask cookies are compressed): a fixed xorshift stream.
fn noise(len: usize) -> String {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect()
}

fn request(h: &Harness, cookie: Option<&str>) -> sessionvault::Session {
    h.request_with(cookie, RequestMeta::default())
}

// See: issue 17, finding 7
#[tokio::test]
async fn review_session_data_size_is_limited() {
    let h = Harness::new(SessionConfig::default());
    assert_eq!(h.manager.config().max_data_size(), 64 * 1024);
    let s = request(&h, None);
    s.insert("a", chunk('a')).await.unwrap();
    let cookie = value_of(&s.commit().await.unwrap().unwrap());
    // What the store holds, by its only witnesses: how many records, how many writes so far.
    let stored = |h: &Harness| (h.store.inner().len(), h.store.writes());
    let before = stored(&h);

    // A write past the limit fails with the typed error; nothing of it is saved.
    let s = request(&h, Some(&cookie));
    s.insert("small", 1).await.unwrap();
    s.insert("b", chunk('b')).await.unwrap();
    let err = s.commit().await.unwrap_err();
    assert!(err.is_session_too_large(), "{err}");
    let Error::SessionTooLarge { limit, size } = err else {
        unreachable!()
    };
    assert_eq!(limit, 64 * 1024);
    assert!(size > 120_000, "{size}");
    assert_eq!(stored(&h), before, "the stored record is as it was");
    assert!(h.events.names().contains(&"size_limit"));

    // The same through `update`, which saves at once.
    let s = request(&h, Some(&cookie));
    let err = s
        .update("b", |_: Option<String>| chunk('b'))
        .await
        .unwrap_err();
    assert!(err.is_session_too_large(), "{err}");
    s.commit().await.unwrap();
    assert_eq!(stored(&h), before, "the stored record is as it was");

    // The same when the write changes the ID (sign-in copies the data to a new record).
    let s = request(&h, Some(&cookie));
    s.insert("b", chunk('b')).await.unwrap();
    s.login("alice").await.unwrap();
    assert!(s.commit().await.unwrap_err().is_session_too_large());
    assert_eq!(stored(&h), before, "neither cycled nor ended");

    // The session still reads as before, and a write under the limit works.
    let s = request(&h, Some(&cookie));
    assert_eq!(s.get::<String>("a").await.unwrap(), Some(chunk('a')));
    assert_eq!(s.get::<i64>("small").await.unwrap(), None);
    s.insert("c", "x".repeat(4000)).await.unwrap();
    assert_eq!(
        s.update("n", |n: Option<i64>| n.unwrap_or(0) + 1)
            .await
            .unwrap(),
        1
    );
    s.commit().await.unwrap();
    let s = request(&h, Some(&cookie));
    assert_eq!(s.get::<String>("c").await.unwrap(), Some("x".repeat(4000)));
    assert_eq!(s.get::<String>("a").await.unwrap(), Some(chunk('a')));
}

#[tokio::test]
async fn a_new_session_past_the_limit_is_never_created() {
    let h = Harness::new(SessionConfig::default().with_max_data_size(1000));
    let s = request(&h, None);
    s.insert("k", "x".repeat(1000)).await.unwrap();
    assert!(s.commit().await.unwrap_err().is_session_too_large());
    let s = request(&h, None);
    let err = s
        .update("k", |_: Option<String>| "x".repeat(1000))
        .await
        .unwrap_err();
    assert!(err.is_session_too_large(), "{err}");
    assert!(h.store.inner().is_empty(), "nothing was stored");
    // Exactly at the limit is allowed: `{"k":"…"}` is the value plus 8 bytes.
    let s = request(&h, None);
    s.insert("k", "x".repeat(992)).await.unwrap();
    assert!(s.commit().await.unwrap().is_some());
}

#[tokio::test]
async fn a_session_past_a_lowered_limit_can_still_be_trimmed() {
    let keyring = Keyring::generate().unwrap();
    let store = MemoryStore::new();
    let manager = |limit: usize| {
        SessionManager::builder(keyring.clone())
            .with_store(store.clone())
            .with_config(SessionConfig::default().with_max_data_size(limit))
            .build()
            .unwrap()
    };
    let session = |m: &SessionManager, cookie: &str| {
        m.session(IncomingCookie::One(cookie.into()), RequestMeta::default())
    };
    let roomy = manager(1 << 20);
    let s = roomy.session(IncomingCookie::Absent, RequestMeta::default());
    s.insert("big", chunk('a')).await.unwrap();
    s.insert("other", chunk('b')).await.unwrap();
    let cookie = value_of(&s.commit().await.unwrap().unwrap());

    let strict = manager(64 * 1024);
    let s = session(&strict, &cookie);
    s.insert("more", 1).await.unwrap();
    assert!(s.commit().await.unwrap_err().is_session_too_large());
    let s = session(&strict, &cookie);
    s.remove("big").await.unwrap();
    s.commit().await.unwrap();
    let s = session(&strict, &cookie);
    assert_eq!(s.get::<String>("big").await.unwrap(), None);
    s.insert("more", 1).await.unwrap();
    s.commit().await.unwrap();
}

/// In the cookie modes the cookie's 4096 bytes bind first, with the same error; the cookie the
/// browser holds stays valid.
#[tokio::test]
async fn cookie_sessions_past_the_cookie_limit_are_refused_alike() {
    for mode in [CookieMode::Sealed, CookieMode::Flask] {
        let h = Harness::with_mode(mode, SessionConfig::default());
        let s = request(&h, None);
        s.insert("a", "kept").await.unwrap();
        let cookie = value_of(&s.commit().await.unwrap().unwrap());

        let s = request(&h, Some(&cookie));
        s.insert("b", noise(5000)).await.unwrap();
        let err = s.commit().await.unwrap_err();
        assert!(
            matches!(err, Error::SessionTooLarge { limit: 4096, .. }),
            "{mode:?}: {err}"
        );

        // Signing in with too much data does not retire the cookie the browser keeps.
        let s = request(&h, Some(&cookie));
        s.insert("b", noise(5000)).await.unwrap();
        s.login("alice").await.unwrap();
        assert!(
            s.commit().await.unwrap_err().is_session_too_large(),
            "{mode:?}"
        );

        let s = request(&h, Some(&cookie));
        assert_eq!(s.get::<String>("a").await.unwrap().as_deref(), Some("kept"));
        s.insert("c", "small").await.unwrap();
        assert!(s.commit().await.unwrap().is_some(), "{mode:?}");
    }
}

/// A configuration with one duration setting at the given value.
type Setting = fn(SignedDuration) -> SessionConfig;

fn build(config: SessionConfig) -> Result<SessionManager, Error> {
    SessionManager::builder(Keyring::generate().unwrap())
        .with_store(MemoryStore::new())
        .with_config(config)
        .build()
}

// See: issue 17, finding 10
#[test]
fn review_timeouts_are_validated() {
    let max = SessionConfig::MAX_DURATION;
    assert_eq!(max, SignedDuration::from_hours(24 * 400));
    let rejected = [
        SignedDuration::ZERO,
        SignedDuration::from_secs(-1),
        SignedDuration::from_nanos(-1),
        SignedDuration::MIN,
        max + SignedDuration::from_nanos(1),
        SignedDuration::from_hours(24 * 365 * 10_000),
        SignedDuration::MAX,
    ];
    let minute = SignedDuration::from_mins(1);
    let settings: [(&str, Setting); 4] = [
        ("idle timeout", |d| {
            SessionConfig::default().with_idle_timeout(d)
        }),
        ("absolute timeout", |d| {
            SessionConfig::default().with_absolute_timeout(d)
        }),
        ("ID renewal interval", |d| {
            SessionConfig::default().with_id_renewal(d, SignedDuration::from_nanos(1))
        }),
        ("ID renewal grace", |d| {
            SessionConfig::default().with_id_renewal(SessionConfig::MAX_DURATION, d)
        }),
    ];
    for (name, config) in settings {
        for value in rejected {
            let err = build(config(value)).map(|_| ()).unwrap_err();
            assert!(err.is_config(), "{name} {value:?}: {err}");
            assert!(err.to_string().contains(name), "{err}");
            assert!(config(value).validate().is_err());
        }
    }
    // The maximum itself is accepted, everywhere.
    let longest = SessionConfig::default()
        .with_idle_timeout(max)
        .with_absolute_timeout(max)
        .with_id_renewal(max, max - minute);
    build(longest).unwrap();
    build(SessionConfig::default().with_id_renewal(minute, SignedDuration::from_secs(59))).unwrap();
    // A grace as long as the interval would make a renewed ID outlive its successor's renewal.
    let err = build(SessionConfig::default().with_id_renewal(minute, minute))
        .map(|_| ())
        .unwrap_err();
    assert!(
        err.is_config() && err.to_string().contains("shorter"),
        "{err}"
    );
    // Server mode without a store is a configuration error too.
    let err = SessionManager::builder(Keyring::generate().unwrap())
        .build()
        .map(|_| ())
        .unwrap_err();
    assert!(err.is_config(), "{err}");
}

/// Deadlines computed near the end of time saturate rather than panic, in every mode.
#[tokio::test]
async fn deadlines_near_the_end_of_time_do_not_panic() {
    let max = SessionConfig::MAX_DURATION;
    let late = Timestamp::MAX - SignedDuration::from_hours(24);
    for mode in [CookieMode::Server, CookieMode::Sealed, CookieMode::Flask] {
        let clock = ManualClock::new(late);
        let manager = SessionManager::builder(Keyring::generate().unwrap())
            .with_store(MemoryStore::new())
            .with_mode(mode)
            .with_clock(clock.clone())
            .with_config(
                SessionConfig::default()
                    .with_idle_timeout(max)
                    .with_absolute_timeout(max)
                    .with_id_renewal(max, max - SignedDuration::from_mins(1)),
            )
            .build()
            .unwrap();
        let s = manager.session(IncomingCookie::Absent, RequestMeta::default());
        s.login("alice").await.unwrap();
        s.insert("k", 1).await.unwrap();
        // The cookie's Max-Age may not fit a Flask timestamp; what matters is no panic.
        if let Ok(Some(header)) = s.commit().await {
            let s = manager.session(
                IncomingCookie::One(value_of(&header).into()),
                RequestMeta::default(),
            );
            let _ = s.update("k", |n: Option<i64>| n.unwrap_or(0) + 1).await;
            let _ = s.commit().await;
        }
    }
}
