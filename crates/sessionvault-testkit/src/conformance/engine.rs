//! The checks made through the session engine running on the store.

use jiff::SignedDuration;
use sessionvault::cookie::IncomingCookie;
use sessionvault::id::SessionId;
use sessionvault::store::SessionStore;
use sessionvault::{Keyring, ManualClock, RequestMeta, Session, SessionConfig, SessionManager};

use super::t0;
use crate::TestStore;

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
