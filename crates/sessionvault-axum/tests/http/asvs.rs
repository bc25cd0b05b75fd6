//! The OWASP ASVS conformance suite: one test (or more) per session requirement of ASVS 4.0.3
//! chapter V3 and ASVS 5.0 chapter V7 with its cookie, token and logging rules, each named
//! after the requirement and driving the real layer. docs/SECURITY.md maps every requirement
//! to its test; requirements that belong to the application are proven against the demo in
//! crates/sessionvault-demo/tests/demo.rs.

use std::collections::HashSet;
use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use jiff::SignedDuration;
use sessionvault::SameSite;
use sessionvault::flask::FlaskCodec;
use sessionvault::sealed::SealedCodec;
use sessionvault::{
    CookieConfig, CookieMode, Error, GuessingLimit, Keyring, ManualClock, SessionConfig,
    SessionManager, store::MemoryStore,
};
use sessionvault_axum::{Session, SessionError, SessionLayer};
use sessionvault_testkit::{Events, TestStore};
use tower::ServiceExt as _;

use crate::support::{body, cookie_value, incr, logout, set_cookie, whoami};

struct App {
    router: Router,
    manager: SessionManager,
    store: TestStore<MemoryStore>,
    clock: ManualClock,
    events: Events,
}

async fn login(session: Session, user: String) -> Result<&'static str, SessionError> {
    session
        .login(if user.is_empty() { "alice" } else { &user })
        .await?;
    Ok("ok")
}

/// A sensitive action: allowed only within five minutes of signing in.
async fn sensitive(session: Session) -> Result<(StatusCode, &'static str), SessionError> {
    Ok(match session.auth_age().await? {
        Some(age) if age <= SignedDuration::from_mins(5) => (StatusCode::OK, "done"),
        _ => (StatusCode::UNAUTHORIZED, "sign in again"),
    })
}

async fn devices(session: Session) -> Result<String, SessionError> {
    let list = session.devices().await?;
    Ok(serde_json::to_string(&list).unwrap())
}

async fn revoke_device(session: Session, handle: String) -> Result<String, SessionError> {
    Ok(session.revoke_device(&handle).await?.to_string())
}

async fn revoke_others(session: Session) -> Result<String, SessionError> {
    Ok(session.revoke_others().await?.to_string())
}

async fn big(session: Session) -> Result<&'static str, SessionError> {
    // Incompressible, so that Flask's compression cannot bring it under the limit.
    let mut x = 1u64;
    let noise: String = (0..5000)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            char::from(b'a' + (x >> 59) as u8 % 26)
        })
        .collect();
    session.insert("big", noise).await?;
    Ok("ok")
}

fn app_with(mode: CookieMode, keyring: Keyring, config: SessionConfig) -> App {
    let store = TestStore::new(MemoryStore::new());
    let clock = ManualClock::new("2026-01-01T00:00:00Z".parse().unwrap());
    let events = Events::default();
    let manager = SessionManager::builder(keyring)
        .with_store(store.clone())
        .with_mode(mode)
        .with_clock(clock.clone())
        .with_config(config)
        .with_event_sink(events.clone())
        .build()
        .unwrap();
    let router = Router::new()
        .route("/incr", get(incr))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/whoami", get(whoami))
        .route("/sensitive", post(sensitive))
        .route("/devices", get(devices))
        .route("/devices/revoke", post(revoke_device))
        .route("/devices/revoke-others", post(revoke_others))
        .route("/big", post(big))
        .layer(SessionLayer::new(manager.clone()));
    App {
        router,
        manager,
        store,
        clock,
        events,
    }
}

fn app() -> App {
    app_with(
        CookieMode::Server,
        Keyring::generate().unwrap(),
        SessionConfig::default(),
    )
}

impl App {
    async fn send(&self, request: Request<Body>) -> Response {
        self.router.clone().oneshot(request).await.unwrap()
    }

    async fn call(&self, method: &str, path: &str, cookie: Option<&str>, body: &str) -> Response {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(c) = cookie {
            request = request.header(header::COOKIE, format!("__Host-session={c}"));
        }
        self.send(request.body(Body::from(body.to_owned())).unwrap())
            .await
    }

    async fn whoami(&self, cookie: &str) -> String {
        body(self.call("GET", "/whoami", Some(cookie), "").await).await
    }

    async fn signed_in(&self, user: &str) -> String {
        cookie_value(&self.call("POST", "/login", None, user).await)
    }
}

fn attributes(header: &str) -> Vec<String> {
    header
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_owned())
        .collect()
}

// ---- ASVS 4.0.3 V3.1, V3.2: tokens ----

#[tokio::test]
async fn asvs_v3_1_1_session_token_never_read_from_or_written_to_the_url() {
    let app = app();
    let cookie = app.signed_in("alice").await;
    for uri in [
        format!("/whoami?session={cookie}"),
        format!("/whoami?__Host-session={cookie}"),
        format!("/whoami;jsessionid={cookie}"),
    ] {
        let r = app
            .send(Request::get(&uri).body(Body::empty()).unwrap())
            .await;
        assert_ne!(body(r).await, "alice", "{uri}");
    }
    let r = app.call("POST", "/login", None, "").await;
    let id = cookie_value(&r);
    assert!(r.headers().get(header::LOCATION).is_none());
    assert!(!body(r).await.contains(&id), "the ID is in no body");
}

#[tokio::test]
async fn asvs_v3_2_1_new_token_on_authentication() {
    let app = app();
    let anonymous = cookie_value(&app.call("GET", "/incr", None, "").await);
    let signed_in = cookie_value(&app.call("POST", "/login", Some(&anonymous), "").await);
    assert_ne!(anonymous, signed_in);
    assert_eq!(app.whoami(&signed_in).await, "alice");
    assert_eq!(
        app.whoami(&anonymous).await,
        "anonymous",
        "the old token is dead"
    );
    // The session's data moved with it.
    assert_eq!(
        body(app.call("GET", "/incr", Some(&signed_in), "").await).await,
        "2"
    );
}

/// Proportion of one bits over many issued IDs, the distinctness of all of them, and their
/// length: 43 base64url characters are 256 bits.
#[tokio::test]
async fn asvs_v3_2_2_and_v7_2_3_tokens_are_unique_with_256_bits_of_entropy() {
    let app = app();
    let mut seen = HashSet::new();
    let mut ones = 0u64;
    const N: usize = 2000;
    for _ in 0..N {
        let id = cookie_value(&app.call("GET", "/incr", None, "").await);
        let bytes = base64_decode(&id);
        assert_eq!(bytes.len(), 32, "256 bits: {}", id.len());
        ones += bytes.iter().map(|b| u64::from(b.count_ones())).sum::<u64>();
        assert!(seen.insert(id), "a repeated ID");
    }
    // 512,000 bits: a fair source gives 50% ones within 0.1% (seven standard deviations).
    let share = ones as f64 / (N as f64 * 256.0);
    assert!((share - 0.5).abs() < 0.005, "{share}");
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

#[tokio::test]
async fn asvs_v3_2_3_tokens_are_kept_only_in_secure_http_only_cookies() {
    let app = app();
    let r = app.call("POST", "/login", None, "").await;
    let header = set_cookie(&r).unwrap();
    let attrs = attributes(&header);
    assert!(attrs.contains(&"Secure".into()) && attrs.contains(&"HttpOnly".into()));
    assert!(r.headers().get_all(header::SET_COOKIE).iter().count() == 1);
}

/// Byte values of issued IDs are uniform (chi-square over 64,000 bytes), as the OS CSPRNG's
/// are; a counter, a clock or a weak generator fails this or the uniqueness test above.
#[tokio::test]
async fn asvs_v3_2_4_tokens_come_from_a_cryptographic_generator() {
    let app = app();
    let mut counts = [0u32; 256];
    for _ in 0..2000 {
        for b in base64_decode(&cookie_value(&app.call("GET", "/incr", None, "").await)) {
            counts[usize::from(b)] += 1;
        }
    }
    let expected = 64_000.0 / 256.0;
    let chi2: f64 = counts
        .iter()
        .map(|&c| (f64::from(c) - expected).powi(2) / expected)
        .sum();
    // 255 degrees of freedom: the 1e-9 tail starts near 400.
    assert!(chi2 < 400.0, "chi-square {chi2}");
}

// ---- V3.3: termination and timeouts ----

#[tokio::test]
async fn asvs_v3_3_1_logout_and_expiry_invalidate_the_token() {
    let app = app();
    let cookie = app.signed_in("alice").await;
    let r = app.call("POST", "/logout", Some(&cookie), "").await;
    let cleared = set_cookie(&r).unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(r.headers().get(header::CACHE_CONTROL).unwrap(), "no-store");
    assert_eq!(
        app.whoami(&cookie).await,
        "anonymous",
        "replay after logout"
    );

    let cookie = app.signed_in("alice").await;
    app.clock.advance(SignedDuration::from_mins(31));
    assert_eq!(
        app.whoami(&cookie).await,
        "anonymous",
        "replay after expiry"
    );
    app.clock.advance(SignedDuration::from_hours(-1));
    assert_eq!(app.whoami(&cookie).await, "anonymous", "and it stays dead");
}

#[tokio::test]
async fn asvs_v3_3_2_and_v7_3_defaults_meet_level_2_and_level_3_is_one_setting() {
    let config = SessionConfig::default();
    assert_eq!(config.idle_timeout(), SignedDuration::from_mins(30));
    assert_eq!(config.absolute_timeout(), SignedDuration::from_hours(12));
    let app = app_with(
        CookieMode::Server,
        Keyring::generate().unwrap(),
        SessionConfig::default().with_idle_timeout(SignedDuration::from_mins(15)),
    );
    let cookie = app.signed_in("alice").await;
    app.clock.advance(SignedDuration::from_mins(14));
    assert_eq!(app.whoami(&cookie).await, "alice");
    app.clock
        .advance(SignedDuration::from_mins(15) + SignedDuration::from_secs(1));
    assert_eq!(
        app.whoami(&cookie).await,
        "anonymous",
        "level 3: 15 minutes idle"
    );
}

#[tokio::test]
async fn asvs_v7_3_1_inactivity_timeout_is_enforced_on_the_server() {
    let app = app();
    let cookie = app.signed_in("alice").await;
    // Activity keeps it alive past the idle window...
    for _ in 0..4 {
        app.clock.advance(SignedDuration::from_mins(20));
        assert_eq!(app.whoami(&cookie).await, "alice");
    }
    // ...and 30 minutes without a request ends it.
    app.clock.advance(SignedDuration::from_mins(30));
    assert_eq!(app.whoami(&cookie).await, "anonymous");
    assert!(app.events.names().contains(&"expired"));
}

#[tokio::test]
async fn asvs_v7_3_2_absolute_lifetime_ends_even_an_active_session() {
    let app = app();
    let cookie = app.signed_in("alice").await;
    for _ in 0..(12 * 3 - 1) {
        app.clock.advance(SignedDuration::from_mins(20));
        assert_eq!(app.whoami(&cookie).await, "alice");
    }
    app.clock.advance(SignedDuration::from_mins(20));
    assert_eq!(
        app.whoami(&cookie).await,
        "anonymous",
        "12 hours after sign-in"
    );
}

#[tokio::test]
async fn asvs_v3_3_3_and_v7_4_3_other_sessions_can_be_ended_after_a_credential_change() {
    let app = app();
    let phone = app.signed_in("alice").await;
    let laptop = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let r = app
        .call("POST", "/devices/revoke-others", Some(&laptop), "")
        .await;
    assert_eq!(body(r).await, "1");
    assert_eq!(app.whoami(&phone).await, "anonymous");
    assert_eq!(
        app.whoami(&laptop).await,
        "alice",
        "the current session stays"
    );
    assert_eq!(app.whoami(&bob).await, "bob", "other users are untouched");
}

#[tokio::test]
async fn asvs_v3_3_4_and_v7_5_2_users_see_and_end_any_of_their_sessions() {
    let app = app();
    let phone = app.signed_in("alice").await;
    let laptop = app.signed_in("alice").await;
    app.signed_in("bob").await;
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&body(app.call("GET", "/devices", Some(&laptop), "").await).await)
            .unwrap();
    assert_eq!(list.len(), 2, "alice's two sessions, not bob's: {list:?}");
    let other = list.iter().find(|s| s["current"] == false).unwrap()["handle"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(other, phone, "the handle is not a usable cookie");
    let r = app
        .call("POST", "/devices/revoke", Some(&laptop), &other)
        .await;
    assert_eq!(body(r).await, "true");
    assert_eq!(app.whoami(&phone).await, "anonymous");
    // Bob cannot end alice's sessions with a handle he learnt.
    let bob = app.signed_in("bob").await;
    let alices = app.manager.sessions_for_user("alice").await.unwrap();
    let r = app
        .call("POST", "/devices/revoke", Some(&bob), &alices[0].handle)
        .await;
    assert_eq!(body(r).await, "false");
    assert_eq!(app.whoami(&laptop).await, "alice");
}

// ---- V3.4 (4.0.3) and V3.3 (5.0): cookie attributes ----

async fn session_cookie_header() -> String {
    set_cookie(&app().call("POST", "/login", None, "").await).unwrap()
}

#[tokio::test]
async fn asvs_v3_4_1_and_v5_3_3_1_cookie_has_the_secure_attribute() {
    assert!(attributes(&session_cookie_header().await).contains(&"Secure".into()));
}

#[tokio::test]
async fn asvs_v3_4_2_and_v5_3_3_4_cookie_has_the_http_only_attribute() {
    assert!(attributes(&session_cookie_header().await).contains(&"HttpOnly".into()));
}

#[tokio::test]
async fn asvs_v3_4_3_and_v5_3_3_2_cookie_has_a_same_site_value_fit_for_sessions() {
    assert!(attributes(&session_cookie_header().await).contains(&"SameSite=Lax".into()));
    let strict = app_with(
        CookieMode::Server,
        Keyring::generate().unwrap(),
        SessionConfig::default()
            .with_cookie(CookieConfig::default().with_same_site(SameSite::Strict)),
    );
    let header = set_cookie(&strict.call("POST", "/login", None, "").await).unwrap();
    assert!(
        attributes(&header).contains(&"SameSite=Strict".into()),
        "{header}"
    );
}

#[tokio::test]
async fn asvs_v3_4_4_and_v5_3_3_3_cookie_uses_the_host_prefix() {
    let header = session_cookie_header().await;
    assert!(header.starts_with("__Host-session="), "{header}");
    let attrs = attributes(&header);
    assert!(attrs.contains(&"Path=/".into()));
    assert!(!attrs.iter().any(|a| a.starts_with("Domain")), "{header}");
}

/// `__Host-` requires `Path=/`; what the 4.0.3 rule protects (other applications on a shared
/// domain reading or setting the cookie) the prefix does more strongly, by binding the cookie
/// to this exact host.
#[tokio::test]
async fn asvs_v3_4_5_cookie_is_bound_to_its_host_and_path() {
    let header = session_cookie_header().await;
    let paths: Vec<String> = attributes(&header)
        .into_iter()
        .filter(|a| a.starts_with("Path="))
        .collect();
    assert_eq!(paths, vec!["Path=/".to_owned()]);
    assert!(header.starts_with("__Host-"));
}

#[tokio::test]
async fn asvs_v5_3_3_5_session_cookies_over_4096_bytes_are_an_error_not_dropped() {
    for mode in [CookieMode::Sealed, CookieMode::Flask] {
        let app = app_with(mode, Keyring::generate().unwrap(), SessionConfig::default());
        let r = app.call("POST", "/big", None, "").await;
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "{mode:?}");
        assert!(set_cookie(&r).is_none());
        assert!(app.events.names().contains(&"size_limit"));
    }
}

#[tokio::test]
async fn cookie_tossing_two_session_cookies_are_refused() {
    let app = app();
    let cookie = app.signed_in("alice").await;
    let request = Request::get("/whoami")
        .header(header::COOKIE, format!("__Host-session={cookie}"))
        .header(header::COOKIE, "__Host-session=tossed")
        .body(Body::empty())
        .unwrap();
    assert_eq!(body(app.send(request).await).await, "anonymous");
}

// ---- V3.5 (4.0.3) and V9 (5.0): self-contained tokens ----

fn flip(value: &str, at: usize) -> String {
    let c = if &value[at..=at] == "A" { "B" } else { "A" };
    format!("{}{c}{}", &value[..at], &value[at + 1..])
}

#[tokio::test]
async fn asvs_v3_5_3_stateless_tokens_resist_tampering_enveloping_and_key_substitution() {
    for mode in [CookieMode::Sealed, CookieMode::Flask] {
        let keyring = Keyring::generate().unwrap();
        let app = app_with(mode, keyring.clone(), SessionConfig::default());
        let cookie = app.signed_in("alice").await;
        assert_eq!(app.whoami(&cookie).await, "alice");
        // Tampering: any changed character (the last one of base64 carries spare bits).
        for at in (0..cookie.len() - 1).step_by(7) {
            if cookie.as_bytes()[at] == b'.' {
                continue;
            }
            assert_eq!(
                app.whoami(&flip(&cookie, at)).await,
                "anonymous",
                "{mode:?} @{at}"
            );
        }
        // Key substitution: a cookie made under another key.
        let other = app_with(mode, Keyring::generate().unwrap(), SessionConfig::default());
        let foreign = other.signed_in("alice").await;
        assert_eq!(app.whoami(&foreign).await, "anonymous", "{mode:?}");
        // Truncation and an empty signature.
        let truncated = &cookie[..cookie.len() - 5];
        assert_eq!(app.whoami(truncated).await, "anonymous", "{mode:?}");
        if let Some((signed, _)) = cookie.rsplit_once('.') {
            assert_eq!(
                app.whoami(&format!("{signed}.")).await,
                "anonymous",
                "no signature"
            );
        }
    }
}

#[tokio::test]
async fn asvs_v3_5_3_sealed_cookies_are_bound_to_their_name_and_refuse_a_null_cipher() {
    let keyring = Keyring::generate().unwrap();
    let codec = SealedCodec::new(&keyring);
    let sealed = codec.seal("__Host-session", b"{}").unwrap();
    assert!(codec.open("__Host-session", &sealed).is_ok());
    // Enveloping: the same value presented as another cookie.
    assert!(matches!(
        codec.open("__Host-csrf", &sealed),
        Err(Error::BadSignature)
    ));
    // A "none" version carrying plaintext is not a format this codec knows.
    let mut raw = base64_decode(&sealed);
    raw[0] = 0;
    use base64::Engine as _;
    let downgraded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw);
    assert!(matches!(
        codec.open("__Host-session", &downgraded),
        Err(Error::Malformed(_))
    ));
}

#[tokio::test]
async fn asvs_v5_9_1_1_the_mac_is_checked_before_the_contents_are_read() {
    let codec = FlaskCodec::new(Keyring::generate().unwrap());
    // A payload that is not even base64, under a made-up signature: refused for the
    // signature, which means nothing of the payload was decoded first.
    let forged = "!!not-base64!!.ZdGc6Q.L46PQDKHRUOcqs7lciJyKudmpws";
    assert!(
        matches!(codec.verify(forged), Err(Error::BadSignature)),
        "{:?}",
        codec.verify(forged)
    );
    // A compressed payload that would expand hugely is not inflated without a valid MAC.
    let bomb = ".eJzt0DEBAAAAwqD1T20JT6AAAAAAAAAAAAAAAAAAAPwG.ZdGc6Q.L46PQDKHRUOcqs7lciJyKudmpws";
    assert!(matches!(codec.verify(bomb), Err(Error::BadSignature)));
}

#[tokio::test]
async fn asvs_v5_9_1_3_keys_come_from_trusted_strong_sources() {
    for weak in [
        "changeme",
        "secret",
        "dev",
        "CHANGE_ME_TO_A_COMPLEX_RANDOM_SECRET",
    ] {
        assert!(Keyring::new(weak).is_err(), "{weak} accepted");
    }
    assert!(Keyring::generate().is_ok());
}

#[tokio::test]
async fn asvs_v5_9_2_validity_window_and_purpose_are_checked() {
    let keyring = Keyring::generate().unwrap();
    let codec = FlaskCodec::new(keyring.clone()).with_max_age(Some(60));
    let value = sessionvault::flask::Value::Dict(Default::default());
    let cookie = codec.sign_at(&value, 1_000).unwrap();
    assert!(codec.verify_at(&cookie, 1_060).is_ok());
    assert!(matches!(
        codec.verify_at(&cookie, 1_061),
        Err(Error::Expired { .. })
    ));
    assert!(matches!(
        codec.verify_at(&cookie, 900),
        Err(Error::FromTheFuture { .. })
    ));
    // Signed for another purpose (another salt): refused.
    let other_purpose = FlaskCodec::new(keyring).with_salt("password-reset");
    let token = other_purpose.sign_at(&value, 1_000).unwrap();
    assert!(matches!(
        codec.verify_at(&token, 1_000),
        Err(Error::BadSignature)
    ));
}

// ---- V3.7 (4.0.3), V7.2, V7.4, V7.5 (5.0) ----

#[tokio::test]
async fn asvs_v3_7_1_and_v7_5_1_sensitive_actions_can_demand_a_recent_sign_in() {
    let app = app();
    let cookie = app.signed_in("alice").await;
    let r = app.call("POST", "/sensitive", Some(&cookie), "").await;
    assert_eq!(r.status(), StatusCode::OK);
    app.clock.advance(SignedDuration::from_mins(6));
    let r = app.call("POST", "/sensitive", Some(&cookie), "").await;
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "the sign-in is too old"
    );
    // Signing in again makes it fresh.
    let again = cookie_value(&app.call("POST", "/login", Some(&cookie), "").await);
    let r = app.call("POST", "/sensitive", Some(&again), "").await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn asvs_v7_2_1_every_token_is_checked_against_the_server_store() {
    let app = app();
    let cookie = app.signed_in("alice").await;
    // A well-formed ID that the server never issued, and one whose record is gone.
    let never = sessionvault::id::SessionId::generate()
        .unwrap()
        .to_cookie_value();
    assert_eq!(app.whoami(&never).await, "anonymous");
    assert!(app.events.names().contains(&"unknown_id"));
    let calls = app.store.calls();
    assert_eq!(app.whoami(&cookie).await, "alice");
    assert!(
        app.store.calls() > calls,
        "a real lookup, not trust in the cookie"
    );
}

#[tokio::test]
async fn asvs_v7_2_4_new_token_on_every_authentication_and_the_old_one_ends() {
    let app = app();
    let first = app.signed_in("alice").await;
    let second = cookie_value(&app.call("POST", "/login", Some(&first), "").await);
    let third = cookie_value(&app.call("POST", "/login", Some(&second), "").await);
    assert!(first != second && second != third);
    assert_eq!(app.whoami(&first).await, "anonymous");
    assert_eq!(app.whoami(&second).await, "anonymous");
    assert_eq!(app.whoami(&third).await, "alice");
}

#[tokio::test]
async fn asvs_v7_4_1_termination_blocks_further_use_even_by_requests_in_flight() {
    let app = app();
    let cookie = app.signed_in("alice").await;
    app.call("GET", "/incr", Some(&cookie), "").await;
    app.call("POST", "/logout", Some(&cookie), "").await;
    // A write arriving after logout cannot bring the session back.
    let r = app.call("GET", "/incr", Some(&cookie), "").await;
    assert_eq!(body(r).await, "1", "a fresh session, not the old count");
    assert_eq!(app.whoami(&cookie).await, "anonymous");
}

#[tokio::test]
async fn asvs_v7_4_1_cookie_sessions_are_final_at_logout_given_a_denylist_store() {
    for mode in [CookieMode::Sealed, CookieMode::Flask] {
        let app = app_with(mode, Keyring::generate().unwrap(), SessionConfig::default());
        let cookie = app.signed_in("alice").await;
        let r = app.call("POST", "/logout", Some(&cookie), "").await;
        assert!(set_cookie(&r).unwrap().contains("Max-Age=0"));
        assert_eq!(app.whoami(&cookie).await, "anonymous", "{mode:?}");
        assert!(app.events.names().contains(&"revoked_reuse"));
    }
}

#[tokio::test]
async fn asvs_v7_4_2_disabling_an_account_ends_all_its_sessions() {
    let app = app();
    let a = app.signed_in("mallory").await;
    let b = app.signed_in("mallory").await;
    let other = app.signed_in("alice").await;
    assert_eq!(
        app.manager
            .revoke_all_for_user("mallory", None)
            .await
            .unwrap(),
        2
    );
    assert_eq!(app.whoami(&a).await, "anonymous");
    assert_eq!(app.whoami(&b).await, "anonymous");
    assert_eq!(app.whoami(&other).await, "alice");
    // Cookie sessions too, through the denylist's not-before time.
    for mode in [CookieMode::Sealed, CookieMode::Flask] {
        let app = app_with(mode, Keyring::generate().unwrap(), SessionConfig::default());
        let a = app.signed_in("mallory").await;
        let other = app.signed_in("alice").await;
        app.clock.advance(SignedDuration::from_secs(1));
        app.manager
            .revoke_all_for_user("mallory", None)
            .await
            .unwrap();
        assert_eq!(app.whoami(&a).await, "anonymous", "{mode:?}");
        assert_eq!(app.whoami(&other).await, "alice", "{mode:?}");
    }
}

#[tokio::test]
async fn asvs_v7_4_5_administrators_end_one_session_one_users_or_everyones() {
    let keyring = Keyring::generate().unwrap();
    let app = app_with(
        CookieMode::Server,
        keyring.clone(),
        SessionConfig::default(),
    );
    let a = app.signed_in("alice").await;
    let b = app.signed_in("bob").await;
    let handle = app.manager.sessions_for_user("alice").await.unwrap()[0]
        .handle
        .clone();
    assert!(app.manager.revoke(&handle).await.unwrap());
    assert_eq!(app.whoami(&a).await, "anonymous");
    // Everyone's: retiring the key that hashes session IDs (no fallback) ends every session
    // at once, in every store.
    let retired = SessionManager::builder(Keyring::generate().unwrap())
        .with_store(app.store.clone())
        .build()
        .unwrap();
    let after = Router::new()
        .route("/whoami", get(whoami))
        .layer(SessionLayer::new(retired));
    let request = Request::get("/whoami")
        .header(header::COOKIE, format!("__Host-session={b}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        body(after.oneshot(request).await.unwrap()).await,
        "anonymous"
    );
}

// ---- Cheat sheet: detection ----

#[tokio::test]
async fn id_guessing_from_one_client_is_refused_with_429_when_configured() {
    let limit = GuessingLimit::new(10, SignedDuration::from_mins(5)).refusing();
    let app = app_with(
        CookieMode::Server,
        Keyring::generate().unwrap(),
        SessionConfig::default().with_guessing_limit(Some(limit)),
    );
    let cookie = app.signed_in("alice").await;
    let from = |ip: [u8; 4], value: &str| {
        let mut request = Request::get("/whoami")
            .header(header::COOKIE, format!("__Host-session={value}"))
            .body(Body::empty())
            .unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((ip, 40_000))));
        request
    };
    for i in 0..11 {
        let r = app.send(from([203, 0, 113, 9], &format!("guess{i}"))).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    for i in 11..13 {
        let r = app.send(from([203, 0, 113, 9], &format!("guess{i}"))).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    assert!(app.events.names().contains(&"id_guessing"));
    // Only failed cookies are refused: a live session from the same address is served.
    let r = app.send(from([203, 0, 113, 9], &cookie)).await;
    assert_eq!(body(r).await, "alice", "live sessions are served");
    let r = app.send(from([192, 0, 2, 1], "guess-elsewhere")).await;
    assert_eq!(r.status(), StatusCode::OK, "other clients are served");
}

// ---- V11.2.4 (5.0): constant-time comparison ----

/// Timing cannot be measured reliably on a shared machine, so this guards the code instead:
/// every place that compares a MAC, tag or token does it through `subtle`'s `ct_eq` or the
/// AEAD's own check, and none through `==`. It fails when someone swaps one in.
#[test]
fn asvs_v5_11_2_4_macs_and_tokens_are_compared_in_constant_time() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (file, must_contain) in [
        ("sessionvault/src/flask/mod.rs", "ct_eq(sig)"),
        (
            "sessionvault-axum/src/csrf/mod.rs",
            "expected.ct_eq(&given)",
        ),
        ("sessionvault/src/id/mod.rs", "self.0.ct_eq(&other.0)"),
        // Poly1305 tags are checked inside the AEAD, which compares in constant time.
        ("sessionvault/src/sealed.rs", ".decrypt("),
    ] {
        let source = std::fs::read_to_string(root.join(file)).unwrap();
        assert!(
            source.contains(must_contain),
            "{file}: {must_contain} is gone"
        );
        for line in source.lines().map(str::trim) {
            let compares = [
                "sig ==", "== sig", "token ==", "== token", "tag ==", "== tag", "mac ==",
            ];
            assert!(
                !compares.iter().any(|c| line.contains(c)),
                "{file}: a secret compared with ==: {line}"
            );
        }
    }
}

#[test]
fn asvs_v7_1_documented_timeouts_are_the_defaults() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/SECURITY.md"),
    )
    .unwrap();
    let config = SessionConfig::default();
    assert_eq!(config.idle_timeout(), SignedDuration::from_mins(30));
    assert_eq!(config.absolute_timeout(), SignedDuration::from_hours(12));
    for promise in [
        "Idle timeout: 30 minutes",
        "Absolute lifetime: 12 hours",
        "Concurrent sessions:",
    ] {
        assert!(
            doc.contains(promise),
            "docs/SECURITY.md no longer says {promise:?}"
        );
    }
}
