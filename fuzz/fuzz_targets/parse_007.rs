//! 007 parser: the input as token text (`Token::parse`), as the body after `"007"`, and as
//! the raw inflated content (`ParsedAccessToken2::from_content`). Whatever parses is also
//! verified, checked, re-encoded and turned into JSON: nothing may panic, and a structure
//! that parsed (services in packed order) must encode to content that parses back to it.
#![no_main]

use agtoken::v007::ParsedAccessToken2;
use agtoken::{spec, Action, AppCertificate, AppId, CertificateSet, Token, Uid, UnixTime};
use libfuzzer_sys::fuzz_target;

const CERT: &str = "5CFd2fd1755d40ecb72977518be15d3b";

fn exercise(token: Token) {
    let _ = token.issued_at();
    let _ = token.expires_at();
    let _ = serde_json::to_string(&spec::describe(&token, None, None)).unwrap();
    if let Token::V007(p) = &token {
        let certificate = AppCertificate::unchecked(CERT);
        // A structure that parsed re-encodes; when its services were in packed order (sorted
        // by type, as every encoder writes them) the new content parses back to the same
        // structure. (The parser also accepts services out of order, as the reference does;
        // encoding sorts them, so such a token cannot come back unchanged.)
        if let Ok(content) = p.structure().content(&certificate) {
            let again = ParsedAccessToken2::from_content(content);
            let sorted = p.structure().services.windows(2).all(|w| w[0].type_code() <= w[1].type_code());
            if sorted {
                let again = again.expect("re-encoded content parses");
                assert_eq!(again.structure(), p.structure(), "parse → encode → parse changed the structure");
            }
        }
    }
    let certs = CertificateSet::new(AppCertificate::unchecked(CERT));
    if let Ok(verified) = token.verify(&certs) {
        if let Ok(app) = AppId::unchecked(verified.token().app_id().to_owned()) {
            let action = Action::JoinChannel { channel: "c".into(), uid: Uid::Int(1) };
            let _ = verified.check(&app, &action, UnixTime::from_secs(1_700_000_000));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(t) = Token::parse(&text) {
        exercise(t);
    }
    if let Ok(t) = Token::parse(&format!("007{text}")) {
        exercise(t);
    }
    if let Ok(p) = ParsedAccessToken2::from_content(data.to_vec()) {
        exercise(Token::V007(p));
    }
});
