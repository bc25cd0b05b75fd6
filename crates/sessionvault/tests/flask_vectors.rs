//! Fixed vectors made by real Flask 3.1 (`oracle.py generate --fixed`), checked without Python.

use sessionvault::flask::{FlaskCodec, tagged_json};
use sessionvault::{Error, Keyring};

use crate::support::{keyring_of, secret_bytes};

const VECTORS: &str = include_str!("data/flask_vectors.jsonl");

fn items() -> Vec<serde_json::Value> {
    VECTORS
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("vector is JSON"))
        .collect()
}

/// Everything Rust must agree with Flask on, for one cookie Flask made.
pub(crate) fn check_flask_cookie(item: &serde_json::Value) {
    let cookie = item["cookie"].as_str().expect("cookie");
    let expected = item["tagged_json"].as_str().expect("tagged_json");
    let ts = item["timestamp"].as_u64().expect("timestamp");
    let max_age = item["max_age"].as_u64().expect("max_age");
    let by_fallback = item["signed_by_fallback"].as_bool().expect("flag");
    let codec = FlaskCodec::new(keyring_of(item)).with_max_age(Some(max_age));

    let verified = codec
        .verify_at(cookie, ts)
        .unwrap_or_else(|e| panic!("Flask cookie refused: {e}\n{item}"));
    assert_eq!(verified.raw_json(), expected, "{item}");
    assert_eq!(verified.key_index(), usize::from(by_fallback), "{item}");
    // Our value model writes back exactly what Flask wrote.
    assert_eq!(
        tagged_json::to_string(verified.value()).unwrap(),
        expected,
        "{item}"
    );

    // Signing the same session at the same time with the same key gives Flask's cookie.
    let signer = if by_fallback {
        secret_bytes(&item["fallbacks"][0])
    } else {
        secret_bytes(&item["current"])
    };
    let signer = FlaskCodec::new(Keyring::danger_legacy_unchecked(
        signer,
        Vec::<Vec<u8>>::new(),
    ));
    assert_eq!(
        sessionvault::tooling::sign_raw_at(&signer, expected, ts),
        cookie,
        "{item}"
    );
    assert_eq!(
        signer.sign_at(verified.value(), ts).unwrap(),
        cookie,
        "{item}"
    );

    // Expiry edges as itsdangerous draws them.
    assert!(codec.verify_at(cookie, ts + max_age).is_ok());
    assert!(matches!(
        codec.verify_at(cookie, ts + max_age + 1),
        Err(Error::Expired { .. })
    ));
    assert!(matches!(
        codec.verify_at(cookie, ts - 1),
        Err(Error::FromTheFuture { .. })
    ));
}

#[test]
fn committed_flask_vectors_verify_and_reproduce() {
    let items = items();
    assert!(items.len() >= 30, "vectors missing");
    for item in &items {
        check_flask_cookie(item);
    }
    assert!(
        items
            .iter()
            .any(|i| i["cookie"].as_str().unwrap().starts_with('.'))
    );
    assert!(items.iter().any(|i| i["signed_by_fallback"] == true));
    assert!(items.iter().any(|i| i["permanent"] == true));
}

#[test]
fn realistic_vector_reads_as_expected() {
    let first = &items()[0];
    let codec = FlaskCodec::new(keyring_of(first));
    let ts = first["timestamp"].as_u64().unwrap();
    let verified = codec
        .verify_at(first["cookie"].as_str().unwrap(), ts)
        .unwrap();
    let map = verified.value().as_dict().unwrap();
    assert_eq!(map["user_id"], sessionvault::flask::Value::Int(42));
}
