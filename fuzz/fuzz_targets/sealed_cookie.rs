//! The sealed-cookie codec: opening arbitrary values never panics and never succeeds for a
//! value that was not sealed under one of the keys, and anything sealed opens again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessionvault::Keyring;
use sessionvault::sealed::SealedCodec;

fuzz_target!(|data: &[u8]| {
    let keyring = Keyring::danger_legacy_unchecked("fuzzing key, not a secret", ["retired key"]);
    let codec = SealedCodec::new(&keyring);
    if let Ok(text) = std::str::from_utf8(data) {
        // The fuzzer cannot produce a valid Poly1305 tag, so nothing it writes may open.
        assert!(codec.open("__Host-session", text).is_err());
    }
    let sealed = codec.seal("__Host-session", data).expect("seal");
    let (plain, key) = codec
        .open("__Host-session", &sealed)
        .expect("own value opens");
    assert_eq!((plain.as_slice(), key), (data, 0));
    // Bound to its cookie name: the same value under another name is refused.
    assert!(codec.open("__Host-other", &sealed).is_err());
});
