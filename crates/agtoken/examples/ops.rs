//! Runs one library operation N times, for instruction counts under callgrind (load-independent,
//! unlike wall-clock benches on a busy machine). The cost of one operation is the difference of
//! two runs divided by the difference of their N, which cancels start-up and set-up:
//!
//! ```text
//! cargo build --release -p agtoken --example ops
//! for n in 1000 3000; do valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/ops build $n 2>&1 | grep 'refs:'; done
//! ```
//!
//! Operations: `build` (007 RTC, fixed issue time, random salt), `verify` (007 parse+verify),
//! `check` (parse+verify+admission check): the rows of `benches/tokens.rs`.

use std::hint::black_box;

use agtoken::{Action, AppCertificate, AppId, CertificateSet, Role, RtcToken, Token, Uid, UnixTime};

const CHANNEL: &str = "7d72365eb983485397e3e3f9d460bdda";

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(op), Some(n)) = (args.next(), args.next().and_then(|n| n.parse::<u32>().ok())) else {
        eprintln!("usage: ops build|verify|check N");
        std::process::exit(2);
    };
    let app = AppId::new("970CA35de60c44645bbae8a215061b33").unwrap();
    let cert = AppCertificate::new("5CFd2fd1755d40ecb72977518be15d3b").unwrap();
    let now = UnixTime::from_secs(1_700_000_000);
    let builder = || {
        RtcToken::builder(&app, &cert).channel(CHANNEL).uid(Uid::Int(2882341273)).role(Role::Publisher).issued_at(now)
    };
    let token = builder().build().unwrap();
    let certs = CertificateSet::new(cert.clone());
    let join = Action::JoinChannel { channel: CHANNEL.into(), uid: Uid::Int(2882341273) };
    for _ in 0..n {
        match op.as_str() {
            "build" => {
                black_box(builder().build().unwrap());
            }
            "verify" => {
                black_box(Token::parse(black_box(&token)).unwrap().verify(&certs).unwrap());
            }
            "check" => {
                let v = Token::parse(black_box(&token)).unwrap().verify(&certs).unwrap();
                black_box(v.check(&app, &join, now).unwrap());
            }
            other => {
                eprintln!("unknown operation {other:?}: build, verify or check");
                std::process::exit(2);
            }
        }
    }
}
