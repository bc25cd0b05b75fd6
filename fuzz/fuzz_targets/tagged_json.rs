//! Flask's tagged JSON parser: arbitrary text parses or is refused without panicking, and
//! whatever parses writes back to text that parses to the same writing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessionvault::flask::tagged_json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(value) = tagged_json::from_str(text) else {
        return;
    };
    let Ok(written) = tagged_json::to_string(&value) else {
        return;
    };
    let reread = tagged_json::from_str(&written).expect("own output parses");
    assert_eq!(tagged_json::to_string(&reread).ok(), Some(written));
});
