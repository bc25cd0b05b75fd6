//! `Cookie` header parsing: any bytes, split into any number of headers, give one answer
//! without panicking, and only a well-formed 43-character value parses as a session ID.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessionvault::cookie::{IncomingCookie, find_cookie};
use sessionvault::id::SessionId;

fuzz_target!(|data: &[u8]| {
    // A NUL byte separates headers, so one input can be several `Cookie` headers.
    let headers: Vec<&[u8]> = data.split(|b| *b == 0).collect();
    match find_cookie(headers.iter().copied(), "__Host-session") {
        IncomingCookie::One(value) => {
            if let Some(id) = SessionId::parse(value.as_bytes()) {
                assert_eq!(id.to_cookie_value().as_bytes(), value.as_bytes());
            }
        }
        IncomingCookie::Absent | IncomingCookie::Duplicate => {}
    }
    if let Some(id) = SessionId::parse(data) {
        assert_eq!(id.to_cookie_value().as_bytes(), data);
    }
});
