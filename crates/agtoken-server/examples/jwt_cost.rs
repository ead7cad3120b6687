//! What authenticating one caller costs, in process and on one thread, without HTTP around it:
//!
//! ```text
//! bench_jwts rs256|es256 KEY.pem 20000 DIR 1   # DIR/jwks.json and DIR/tokens.txt
//! jwt_cost DIR [ROUNDS]
//! ```
//!
//! Prints, per call, the median over ROUNDS (default 7) passes over every token of
//! `DIR/tokens.txt` (each a distinct JWT):
//! - `api key`: [`Auth::authenticate`] with an API key (the SHA-256 and the comparison);
//! - `jwt`: [`Auth::authenticate`] with the next JWT, keys from `DIR/jwks.json` (everything the
//!   server does to a JWT: header, key choice, signature, claims, iss/aud/exp/nbf/sub);
//! - `signature only`: the same keys' signature check alone, through the same code path as `jwt`
//!   but on a token whose claims were already checked (so `jwt - signature only` is the JWT
//!   handling around the cryptography).
//!
//! Used for the JWT figures of the server README ("Performance"); `scripts/bench-server.sh`
//! measures the same through HTTP.

use std::path::Path;
use std::time::Instant;

use agtoken_server::auth::{ApiKey, Auth, Credentials, JwtAuth, JwtKeySource};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first() else {
        eprintln!("usage: jwt_cost DIR [ROUNDS]   (DIR from bench_jwts)");
        std::process::exit(2);
    };
    let rounds: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(7);
    let dir = Path::new(dir);
    let tokens: Vec<String> = std::fs::read_to_string(dir.join("tokens.txt"))
        .expect("DIR/tokens.txt")
        .lines()
        .map(|line| format!("Bearer {line}"))
        .collect();
    let jwt = JwtAuth::new(
        JwtKeySource::JwksFile(dir.join("jwks.json")),
        vec!["https://bench.invalid/".into()],
        vec!["agtoken-bench".into()],
        30,
    )
    .expect("DIR/jwks.json");
    let jwt = Auth::Jwt(std::sync::Arc::new(jwt));
    let key = "agtk_bench_0123456789abcdef0123456789abcdef";
    let api = Auth::ApiKeys(vec![ApiKey::from_key("bench", key)]);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();

    let per_call = |f: &dyn Fn(usize)| -> f64 {
        let mut samples: Vec<f64> = (0..rounds)
            .map(|_| {
                let start = Instant::now();
                for i in 0..tokens.len() {
                    f(i);
                }
                start.elapsed().as_secs_f64() / tokens.len() as f64 * 1e6
            })
            .collect();
        samples.sort_by(f64::total_cmp);
        samples[samples.len() / 2]
    };
    let api_key = per_call(&|_| {
        let credentials = Credentials { api_key: Some(key.as_bytes()), authorization: None };
        assert!(api.authenticate(&credentials, now).is_ok());
    });
    let full = per_call(&|i| {
        let credentials = Credentials { authorization: Some(tokens[i].as_bytes()), api_key: None };
        assert!(jwt.authenticate(&credentials, now).is_ok());
    });
    let Auth::Jwt(inner) = &jwt else { unreachable!() };
    let signature = per_call(&|i| {
        assert!(inner.signature_verifies(tokens[i].trim_start_matches("Bearer ")));
    });
    println!("{} distinct JWTs, median of {rounds} passes, µs per call:", tokens.len());
    println!("  api key         {api_key:8.2}");
    println!("  jwt             {full:8.2}");
    println!("  signature only  {signature:8.2}");
    println!("  jwt handling    {:8.2}  (jwt - signature only)", full - signature);
}
