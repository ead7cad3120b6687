//! 006 parser: the input as token text and as the body after `"006"` + a 32-character app
//! id. Whatever parses is verified for an identity, checked and turned into JSON: nothing may
//! panic.
#![no_main]

use agtoken::{spec, Action, AppCertificate, AppId, CertificateSet, Token, Uid, UnixTime};
use libfuzzer_sys::fuzz_target;

const APP_ID: &str = "970CA35de60c44645bbae8a215061b33";
const CERT: &str = "5CFd2fd1755d40ecb72977518be15d3b";

fn exercise(token: Token) {
    let _ = token.issued_at();
    let _ = token.expires_at();
    let _ = serde_json::to_string(&spec::describe(&token, Some("c"), Some("1"))).unwrap();
    if let Token::V006(p) = &token {
        let _ = spec::read_006(&serde_json::to_string(&spec::describe_006(p, Some(""), Some(""))).unwrap());
    }
    let certs = CertificateSet::new(AppCertificate::unchecked(CERT));
    let action = Action::JoinChannel { channel: "c".into(), uid: Uid::Int(1) };
    if let Ok(verified) = token.verify_for(&certs, &action) {
        if let Ok(app) = AppId::unchecked(verified.token().app_id().to_owned()) {
            let _ = verified.check(&app, &action, UnixTime::from_secs(1_700_000_000));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(t) = Token::parse(&text) {
        exercise(t);
    }
    if let Ok(t) = Token::parse(&format!("006{APP_ID}{text}")) {
        exercise(t);
    }
});
