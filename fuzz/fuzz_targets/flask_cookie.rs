//! The Flask cookie codec on untrusted cookies.
//!
//! Three ways in, chosen by the first byte: the bytes as a cookie to verify (everything a
//! forger controls before the MAC), the bytes as a cookie to decode without a key (what the
//! CLI's `decode` does with anything pasted into it), and the bytes as the tagged JSON
//! payload of a correctly signed cookie (the parser and inflater behind a valid MAC, which
//! the fuzzer could never forge). A payload that verifies must sign back to the same cookie.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessionvault::Keyring;
use sessionvault::flask::{FlaskCodec, decode_unverified, tagged_json};

const NOW: u64 = 1_790_000_000;

fn codec() -> FlaskCodec {
    FlaskCodec::new(Keyring::danger_legacy_unchecked(
        "fuzzing key, not a secret",
        ["fallback"],
    ))
    .with_max_age(Some(3600))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let codec = codec();
    match mode % 3 {
        0 => {
            let _ = codec.verify_at(text, NOW);
        }
        1 => {
            let _ = decode_unverified(text);
        }
        _ => {
            // A correctly signed cookie whose payload is the fuzzer's text.
            let cookie = sessionvault::tooling::sign_raw_at(&codec, text, NOW);
            if let Ok(verified) = codec.verify_at(&cookie, NOW) {
                assert_eq!(verified.raw_json(), text);
                if let Ok(tagged) = tagged_json::to_string(verified.value()) {
                    let again = sessionvault::tooling::sign_raw_at(&codec, &tagged, NOW);
                    let reread = codec.verify_at(&again, NOW).expect("own cookie verifies");
                    assert_eq!(tagged_json::to_string(reread.value()).ok(), Some(tagged));
                }
            }
        }
    }
});
