//! The JSON spec path (`agtoken build --spec -`, the server's v1 API): arbitrary bytes →
//! `spec::read*` / `spec::build` must return a structure, a token or an error, never panic. A
//! structure read back from what `spec::describe_*` writes is the same structure; a token it
//! builds is of a known version.
#![no_main]

use agtoken::{spec, BuiltToken, Token};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(t) = spec::read_007(text) {
        // What the writer makes of it reads back the same (services in packed order).
        let again = spec::read_007(&serde_json::to_string(&spec::describe_007(&t)).unwrap()).unwrap();
        assert_eq!(again.services.len(), t.services.len());
    }
    let _ = spec::read_006(text);
    if let Ok(spec) = spec::read(text) {
        assert!(matches!(spec.structure, BuiltToken::V007(_) | BuiltToken::V006(_)));
    }
    if let Ok(token) = spec::build(text) {
        // What was built is a token of the version asked for. (It may not parse back when the
        // spec itself is inconsistent, e.g. an unknown service that is not last; it must not
        // panic either way.)
        assert!(token.starts_with("006") || token.starts_with("007"), "{token}");
        let _ = Token::parse(&token);
    }
});
