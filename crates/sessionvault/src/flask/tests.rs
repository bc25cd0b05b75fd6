use super::*;

const SECRET: &str = "5f0e3c1f8a2b4d6e9f7a1c3b5d7e9f0a2c4e6a8b0d1f3a5c7e9b2d4f6a8c0e1f";
const OLD_SECRET: &str = "0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c";
const NOW: u64 = 1_700_000_000;

fn codec() -> FlaskCodec {
    FlaskCodec::new(Keyring::new(SECRET).unwrap())
}

fn session(json: &str) -> Value {
    tagged_json::from_str(json).unwrap()
}

#[test]
fn timestamp_encoding_matches_the_reference() {
    // 1700000000 -> 65 53 f1 00 -> "ZVPxAA"
    let cookie = codec().sign_at(&session("{}"), 1_700_000_000).unwrap();
    assert_eq!(cookie.split('.').nth(1), Some("ZVPxAA"));
    // Timestamp 0 strips to no bytes at all, as itsdangerous' int_to_bytes does.
    let zero = codec().sign_at(&session("{}"), 0).unwrap();
    assert_eq!(zero.split('.').nth(1), Some(""));
    assert_eq!(
        codec()
            .with_max_age(None)
            .verify_at(&zero, 5)
            .unwrap()
            .timestamp(),
        0
    );
}

#[test]
fn age_edges_follow_itsdangerous() {
    let c = codec().with_max_age(Some(60));
    let cookie = c.sign_at(&session(r#"{"a":1}"#), NOW).unwrap();
    assert!(
        c.verify_at(&cookie, NOW + 60).is_ok(),
        "age == max_age passes"
    );
    assert!(matches!(
        c.verify_at(&cookie, NOW + 61),
        Err(Error::Expired {
            age: 61,
            max_age: 60
        })
    ));
    assert!(matches!(
        c.verify_at(&cookie, NOW - 1),
        Err(Error::FromTheFuture { ahead: 1 })
    ));
    assert!(c.verify_at(&cookie, NOW).is_ok());
}

#[test]
fn compression_only_when_it_saves_two_bytes() {
    let small = codec().sign_at(&session(r#"{"a":1}"#), NOW).unwrap();
    assert!(!small.starts_with('.'));
    let big = session(&format!(r#"{{"a":"{}"}}"#, "x".repeat(500)));
    let cookie = codec().sign_at(&big, NOW).unwrap();
    assert!(cookie.starts_with('.'));
    assert!(cookie.len() < 100);
    assert_eq!(codec().verify_at(&cookie, NOW).unwrap().value(), &big);
}

#[test]
fn fallback_keys_verify_but_never_sign() {
    let old = FlaskCodec::new(Keyring::new(OLD_SECRET).unwrap());
    let rotated = FlaskCodec::new(
        Keyring::new(SECRET)
            .unwrap()
            .with_fallback(OLD_SECRET)
            .unwrap(),
    );
    let legacy_cookie = old.sign_at(&session(r#"{"u":1}"#), NOW).unwrap();
    let verified = rotated.verify_at(&legacy_cookie, NOW).unwrap();
    assert_eq!(verified.key_index(), 1);
    let fresh = rotated.sign_at(&session(r#"{"u":1}"#), NOW).unwrap();
    assert_eq!(rotated.verify_at(&fresh, NOW).unwrap().key_index(), 0);
    assert!(old.verify_at(&fresh, NOW).unwrap_err().is_bad_signature());
}

#[test]
fn tampering_anywhere_breaks_the_signature() {
    let cookie = codec()
        .sign_at(&session(r#"{"user":"alice"}"#), NOW)
        .unwrap();
    for i in 0..cookie.len() {
        let mut bytes = cookie.clone().into_bytes();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        if tampered == cookie {
            continue;
        }
        let err = codec().verify_at(&tampered, NOW).unwrap_err();
        assert!(err.is_bad_signature() || err.is_malformed(), "{i}: {err}");
    }
}

#[test]
fn other_salts_and_digests_are_other_purposes() {
    let keyring = Keyring::new(SECRET).unwrap();
    let csrf = FlaskCodec::new(keyring.clone()).with_salt("csrf-token");
    let sha256 = FlaskCodec::new(keyring).with_digest(Digest::Sha256);
    let cookie = codec().sign_at(&session("{}"), NOW).unwrap();
    assert!(csrf.verify_at(&cookie, NOW).unwrap_err().is_bad_signature());
    assert!(
        sha256
            .verify_at(&cookie, NOW)
            .unwrap_err()
            .is_bad_signature()
    );
    let long = sha256.sign_at(&session("{}"), NOW).unwrap();
    assert_eq!(long.rsplit('.').next().unwrap().len(), 43);
    assert!(sha256.verify_at(&long, NOW).is_ok());
}

#[test]
fn garbage_is_a_typed_error() {
    let c = codec();
    for junk in [
        "",
        ".",
        "..",
        "...",
        "a.b.c",
        "a.b",
        "no dots",
        "\u{0}.\u{0}.\u{0}",
        "Zm9v.ZVPxAA.!!!!",
        "é.é.é",
    ] {
        assert!(c.verify_at(junk, NOW).is_err(), "{junk:?}");
    }
    let huge = "a".repeat(DEFAULT_MAX_COOKIE_LEN + 1);
    assert!(matches!(
        c.verify_at(&huge, NOW),
        Err(Error::TooLarge { .. })
    ));
}

#[test]
fn signed_garbage_payloads_are_malformed_not_panics() {
    // Payloads that pass the signature (we hold the key) but do not decode.
    let c = codec();
    for payload in ["!!!", ".AAAA", "bm90IGpzb24", ".eJzLSM3JyVcozy_KSQEAGgQEXQ"] {
        let signed = format!("{payload}.ZVPxAA");
        let sig = c.digest.hmac(&c.derived[0], &[signed.as_bytes()]);
        let cookie = format!("{signed}.{}", B64.encode(sig.as_slice()));
        let err = c.verify_at(&cookie, NOW).unwrap_err();
        assert!(err.is_malformed(), "{payload}: {err}");
    }
}

#[test]
fn decode_unverified_reads_without_a_key() {
    let cookie = codec()
        .sign_at(&session(r#"{"role":"admin"}"#), NOW)
        .unwrap();
    let read = decode_unverified(&cookie).unwrap();
    assert_eq!(read.raw_json, r#"{"role":"admin"}"#);
    assert_eq!(read.timestamp, Some(NOW));
    assert!(!read.compressed);
}

#[test]
fn debug_hides_keys() {
    let shown = format!("{:?}", codec());
    assert!(!shown.contains("5f0e"));
}
