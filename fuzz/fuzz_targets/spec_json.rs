//! The JSON spec path (`agtoken build --spec -`, the server's v1 API): arbitrary bytes →
//! JSON → `spec::build_from_json` must return a token or an error, never panic. A token it
//! builds must parse.
#![no_main]

use agtoken::{spec, Token};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let _ = spec::access_token2_from_json(&value);
    let _ = spec::access_token006_from_json(&value);
    if let Ok(token) = spec::build_from_json(&value) {
        // What was built is a token of the version asked for. (It may not parse back when the
        // spec itself is inconsistent, e.g. an unknown service that is not last; it must not
        // panic either way.)
        assert!(token.starts_with("006") || token.starts_with("007"), "{token}");
        let _ = Token::parse(&token);
    }
});
