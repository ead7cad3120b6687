//! `agtoken bench`: tokens per second on this machine, one core, like `openssl speed`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use agtoken::{Action, AppCertificate, AppId, CertificateSet, Role, RtcToken, Token, Uid, UnixTime};
use serde_json::json;

use crate::cli::BenchArgs;
use crate::Failure;

/// Runs `f` repeatedly for about `seconds`; returns operations per second.
fn measure(seconds: f64, mut f: impl FnMut()) -> f64 {
    // Warm up caches and the branch predictor first.
    for _ in 0..1000 {
        f();
    }
    let budget = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut count: u64 = 0;
    while start.elapsed() < budget {
        for _ in 0..256 {
            f();
        }
        count += 256;
    }
    count as f64 / start.elapsed().as_secs_f64()
}

pub fn run(args: BenchArgs) -> Result<(), Failure> {
    if !(0.05..=600.0).contains(&args.seconds) {
        return Err(Failure::usage("--seconds must be between 0.05 and 600"));
    }
    // Fixed demo credentials: the numbers do not depend on them.
    let app = AppId::new("970CA35de60c44645bbae8a215061b33")?;
    let cert = AppCertificate::new("5CFd2fd1755d40ecb72977518be15d3b")?;
    let now = UnixTime::from_secs(1_700_000_000);
    let builder = RtcToken::builder(&app, &cert)
        .channel("7d72365eb983485397e3e3f9d460bdda")
        .uid(Uid::Int(2882341273))
        .role(Role::Publisher)
        .issued_at(now);
    let token_007 = builder.build()?;
    let certs = CertificateSet::new(cert.clone());
    let join = Action::JoinChannel { channel: "7d72365eb983485397e3e3f9d460bdda".into(), uid: Uid::Int(2882341273) };

    let rows = [
        (
            "007 RTC build",
            measure(args.seconds, || {
                black_box(builder.build().expect("benchmark inputs are valid"));
            }),
        ),
        (
            "006 RTC build",
            measure(args.seconds, || {
                black_box(builder.build_v006().expect("benchmark inputs are valid"));
            }),
        ),
        (
            "007 parse+verify",
            measure(args.seconds, || {
                let t = Token::parse(black_box(&token_007)).expect("parses");
                black_box(t.verify(&certs).expect("verifies"));
            }),
        ),
        (
            "007 parse+verify+admit",
            measure(args.seconds, || {
                let t = Token::parse(black_box(&token_007)).expect("parses");
                black_box(t.verify(&certs).expect("verifies").check(&app, &join, now).expect("admitted"));
            }),
        ),
    ];
    if args.json {
        let out: Vec<_> = rows
            .iter()
            .map(|(name, per_sec)| json!({"name": name, "ops_per_sec": per_sec.round(), "us_per_op": 1e6 / per_sec}))
            .collect();
        crate::output::print_json(&json!({"threads": 1, "seconds_each": args.seconds, "results": out}));
    } else {
        println!("{:<26} {:>14} {:>10}", "operation (one core)", "per second", "µs each");
        for (name, per_sec) in rows {
            println!("{name:<26} {per_sec:>14.0} {:>10.2}", 1e6 / per_sec);
        }
    }
    Ok(())
}
