//! Property tests: codec round trips, and no input of any shape makes the codecs panic.

use proptest::prelude::*;
use sessionvault::Keyring;
use sessionvault::flask::{FlaskCodec, decode_unverified, tagged_json};
use sessionvault::sealed::SealedCodec;
use sessionvault::store::Record;

use crate::support::arb;

fn codec() -> FlaskCodec {
    FlaskCodec::new(
        Keyring::new("5f0e3c1f8a2b4d6e9f7a1c3b5d7e9f0a2c4e6a8b0d1f3a5c7e9b2d4f6a8c0e1f").unwrap(),
    )
}

fn sealing_keys() -> Keyring {
    Keyring::new("8c1e5a7f3b9d2e4c6a8f0b1d3e5c7a9f2b4d6e8a0c1f3b5d7e9a2c4f6b8d0e1a").unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn tagged_json_round_trips(value in arb::value()) {
        let text = tagged_json::to_string(&value).unwrap();
        prop_assert_eq!(tagged_json::from_str(&text).unwrap(), value);
    }

    #[test]
    fn sign_then_verify_round_trips(session in arb::session(), ts in 0u64..4_000_000_000) {
        let codec = codec().with_max_age(None);
        let cookie = codec.sign_at(&session, ts).unwrap();
        let verified = codec.verify_at(&cookie, ts).unwrap();
        prop_assert_eq!(verified.value(), &session);
        prop_assert_eq!(verified.timestamp(), ts);
    }

    #[test]
    fn arbitrary_text_never_panics(cookie in ".{0,300}") {
        let _ = codec().verify_at(&cookie, 1_700_000_000);
        let _ = decode_unverified(&cookie);
        let _ = tagged_json::from_str(&cookie);
    }

    #[test]
    fn cookie_shaped_text_never_panics(
        payload in "\\.?[A-Za-z0-9_-]{0,200}",
        ts in "[A-Za-z0-9_-]{0,12}",
        sig in "[A-Za-z0-9_-]{0,90}",
    ) {
        let cookie = format!("{payload}.{ts}.{sig}");
        prop_assert!(codec().verify_at(&cookie, 1_700_000_000).is_err());
        let _ = decode_unverified(&cookie);
    }

    #[test]
    fn seal_then_open_round_trips_and_stays_bound(
        plain in proptest::collection::vec(any::<u8>(), 0..2048),
        name in "[A-Za-z_-]{1,20}",
    ) {
        let codec = SealedCodec::new(&sealing_keys());
        let sealed = codec.seal(&name, &plain).unwrap();
        prop_assert_eq!(codec.open(&name, &sealed).unwrap(), (plain, 0));
        let other_name = format!("{name}x");
        prop_assert!(codec.open(&other_name, &sealed).is_err());
    }

    #[test]
    fn no_arbitrary_value_opens_as_a_sealed_cookie(value in "[A-Za-z0-9_-]{0,400}") {
        prop_assert!(SealedCodec::new(&sealing_keys()).open("__Host-session", &value).is_err());
    }

    /// Stores keep records in the compact encoding, which packs the User-Agent and writes whole
    /// times with an exponent: any User-Agent and any times come back exactly.
    #[test]
    fn compact_records_keep_any_user_agent_and_times(
        agent in "(~|~~|~A|Mozilla/5.0 \\(|Chrome/|\\.0\\.0\\.0| Safari/537\\.36|X11; Linux x86_64|.){0,40}",
        created in -1_000_000_000_000_000_000i128..9_000_000_000_000_000_000,
        zeros in 0u32..13,
        offsets in proptest::collection::vec(0i128..100_000, 4),
    ) {
        // Times in whole units of 10^zeros nanoseconds, so that some end in many zeros and
        // some in none; the range stays inside jiff's.
        let unit = 10i128.pow(zeros);
        let created = created - created % unit;
        let at = |offset: i128| jiff::Timestamp::from_nanosecond(created + offset * unit).unwrap();
        let mut record = sessionvault_testkit::conformance::record(Some("alice"));
        record.user_agent = Some(agent);
        record.created = at(0);
        record.id_issued = at(offsets[0]);
        record.last_seen = at(offsets[1]);
        record.idle_deadline = at(offsets[1] + offsets[2]);
        record.absolute_deadline = at(offsets[3]);
        record.expires_at = record.absolute_deadline;
        let bytes = record.to_compact().unwrap();
        prop_assert_eq!(Record::from_compact(record.key, &bytes).unwrap(), record);
    }

    /// Stores keep session data as JSON text: a number must read back as exactly the value
    /// that was written, however many times the record goes through the store.
    #[test]
    fn stored_numbers_read_back_exactly(x in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
        let value = serde_json::json!({ "x": x });
        let text = serde_json::to_string(&value).unwrap();
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(back["x"].as_f64().map(f64::to_bits), Some(x.to_bits()));
    }

    #[test]
    fn json_shaped_text_never_panics(text in "[\\[\\]{}\":,0-9eE.+\\-a-zA-Z \\\\u]{0,200}") {
        let _ = tagged_json::from_str(&text);
    }
}

#[test]
fn deeply_nested_json_is_refused_not_a_stack_overflow() {
    let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(tagged_json::from_str(&deep).is_err());
    let deep_obj = "{\"a\":".repeat(50_000);
    assert!(tagged_json::from_str(&deep_obj).is_err());
}

/// Found by the `store_record` fuzz target: an integer too large for 64 bits becomes a float,
/// which drifted by one unit in the last place on each store round trip until float parsing
/// was made exact.
#[test]
fn a_huge_integer_in_session_data_survives_store_round_trips() {
    let text = r#"{"n":5444444444444444444444444444444444444444444}"#;
    let first: serde_json::Value = serde_json::from_str(text).unwrap();
    let mut value = first.clone();
    for _ in 0..3 {
        value = serde_json::from_str(&serde_json::to_string(&value).unwrap()).unwrap();
    }
    assert_eq!(value, first);
}
