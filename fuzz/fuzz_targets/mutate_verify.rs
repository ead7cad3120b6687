//! Mutations of valid tokens never verify under the same certificate unless they decode to the
//! same signed bytes (pasetors-style). A token is a bearer credential: if any change to its text
//! or to its inflated content kept a valid signature, a caller could widen what it admits.
//!
//! Input: byte 0 picks one of a few valid tokens (007 RTC+RTM, 007 Chat, 007 RTM 2, 006 RTC,
//! 006 RTM) made by the library; byte 1 picks the layer (even: the token text; odd: the 007
//! inflated content, deflated again by the library and base64-encoded); the rest is a mutation
//! script of (position, operation, value) triples: replace, insert, delete, xor.
//!
//! What must hold: when the mutated text parses and verifies with the certificate (006: for the
//! identity the original was made for), the parsed token is the original's: 007 the same content
//! bytes (signature + signed bytes), 006 the same app id, signature, CRCs, salt, ts and privileges.
#![no_main]

use std::sync::OnceLock;

use agtoken::v007::Rtm2Permissions;
use agtoken::{AppCertificate, AppId, CertificateSet, ChatToken, RtcToken, RtmToken, Token, Uid, UnixTime};
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;

const APP_ID: &str = "970CA35de60c44645bbae8a215061b33";
const CERT: &str = "5CFd2fd1755d40ecb72977518be15d3b";

struct Original {
    text: String,
    /// 006: the channel (RTM: account) and packed uid it was made for.
    identity: (&'static str, &'static str),
}

fn originals() -> &'static [Original] {
    static ORIGINALS: OnceLock<Vec<Original>> = OnceLock::new();
    ORIGINALS.get_or_init(|| {
        let app = AppId::new(APP_ID).unwrap();
        let cert = AppCertificate::new(CERT).unwrap();
        let at = UnixTime::from_secs(1_700_000_000);
        let ten_minutes = std::time::Duration::from_secs(600);
        let rtc = || {
            RtcToken::builder(&app, &cert)
                .channel("room-1")
                .uid(Uid::Int(42))
                .role(agtoken::Role::Subscriber)
                .valid_for(ten_minutes)
                .issued_at(at)
                .salt(7)
        };
        let mut table = Rtm2Permissions::new();
        table.add_entry("stream_channels:read:chan-*").unwrap();
        vec![
            Original { text: rtc().with_rtm("alice", None).build().unwrap(), identity: ("", "") },
            Original {
                text: ChatToken::user(&app, &cert, "alice").valid_for(ten_minutes).issued_at(at).salt(7).build().unwrap(),
                identity: ("", ""),
            },
            Original {
                text: RtmToken::builder(&app, &cert, "alice")
                    .permissions(table)
                    .valid_for(ten_minutes)
                    .issued_at(at)
                    .salt(7)
                    .build()
                    .unwrap(),
                identity: ("", ""),
            },
            Original { text: rtc().build_v006().unwrap(), identity: ("room-1", "42") },
            Original {
                text: RtmToken::builder(&app, &cert, "alice").valid_for(ten_minutes).issued_at(at).salt(7).build_v006().unwrap(),
                identity: ("alice", ""),
            },
        ]
    })
}

fn mutate(bytes: &mut Vec<u8>, script: &[u8]) {
    for op in script.chunks_exact(3) {
        if bytes.is_empty() {
            bytes.push(op[2]);
            continue;
        }
        let at = usize::from(op[0]) * bytes.len() / 256;
        match op[1] % 4 {
            0 => bytes[at] = op[2],
            1 => bytes.insert(at, op[2]),
            2 => {
                bytes.remove(at);
            }
            _ => bytes[at] ^= op[2] | 1,
        }
    }
}

/// What verification vouches for, as comparable bytes.
fn signed_facts(token: &Token) -> Vec<u8> {
    match token {
        Token::V007(p) => p.content().to_vec(),
        Token::V006(p) => {
            let mut out = p.app_id().as_bytes().to_vec();
            out.extend_from_slice(p.signature());
            out.extend_from_slice(&p.crc_channel_name().to_le_bytes());
            out.extend_from_slice(&p.crc_uid().to_le_bytes());
            out.extend_from_slice(&p.salt().to_le_bytes());
            out.extend_from_slice(&p.ts().to_le_bytes());
            for (id, v) in p.privileges() {
                out.extend_from_slice(&id.to_le_bytes());
                out.extend_from_slice(&v.to_le_bytes());
            }
            out
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let originals = originals();
    let original = &originals[usize::from(data[0]) % originals.len()];
    let certs = CertificateSet::new(AppCertificate::new(CERT).unwrap());
    let expected = signed_facts(&Token::parse(&original.text).unwrap());
    let script = &data[2..];

    let mutated_text = if data[1] % 2 == 1 && original.text.starts_with("007") {
        // Mutate the inflated content, then deflate and encode it again.
        let Token::V007(p) = Token::parse(&original.text).unwrap() else { unreachable!() };
        let mut content = p.content().to_vec();
        mutate(&mut content, script);
        let mut compressed = Vec::new();
        agtoken::deflate::zlib_compress(&content, &mut compressed);
        format!("007{}", base64::engine::general_purpose::STANDARD.encode(&compressed))
    } else {
        let mut text = original.text.clone().into_bytes();
        mutate(&mut text, script);
        match String::from_utf8(text) {
            Ok(t) => t,
            Err(_) => return,
        }
    };
    let Ok(parsed) = Token::parse(&mutated_text) else { return };
    let facts = signed_facts(&parsed);
    let (channel, uid) = original.identity;
    if parsed.verify_claimed(&certs, channel, uid).is_ok() {
        assert_eq!(facts, expected, "a mutated token verified with other signed bytes: {mutated_text}");
    }
});
