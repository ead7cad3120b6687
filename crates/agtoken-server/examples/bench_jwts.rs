//! Distinct signed JWTs for `scripts/bench-server.sh` (`BENCH_LIMITS=jwt-rs256|jwt-es256`):
//!
//! ```text
//! bench_jwts rs256|es256 KEY.pem COUNT OUT_DIR [SUBJECTS]
//! ```
//!
//! `KEY.pem` is a PKCS#8 private key (RSA 2048+ for rs256, P-256 for es256, e.g. from
//! `openssl genpkey`). Writes `OUT_DIR/jwks.json` (the public key, `kid` "bench") and
//! `OUT_DIR/tokens.txt`: COUNT JWTs, one a line, each with its own `jti` and with `sub`
//! `user-(i mod SUBJECTS)` (SUBJECTS defaults to COUNT: every JWT its own caller), issuer
//! `https://bench.invalid/`, audience `agtoken-bench`, claim `scope = "agtoken"`, valid for a day.
//! Signed with `ring`; nothing here runs in the server.

use std::io::Write as _;
use std::process::ExitCode;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair, RsaPublicKeyComponents};
use serde_json::json;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::PrivatePkcs8KeyDer;

enum Signer {
    Rs256(RsaKeyPair),
    Es256(EcdsaKeyPair),
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (alg, key, count, out, subjects) = match args.as_slice() {
        [alg, key, count, out] => (alg, key, count, out, count),
        [alg, key, count, out, subjects] => (alg, key, count, out, subjects),
        _ => {
            eprintln!("usage: bench_jwts rs256|es256 KEY.pem COUNT OUT_DIR [SUBJECTS]");
            return ExitCode::from(2);
        }
    };
    match run(alg, key, count, out, subjects) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(alg: &str, key: &str, count: &str, out: &str, subjects: &str) -> Result<(), String> {
    let count: usize = count.parse().map_err(|_| format!("COUNT must be a number, got {count:?}"))?;
    let subjects: usize = subjects
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("SUBJECTS must be a number above 0, got {subjects:?}"))?;
    let pem = std::fs::read(key).map_err(|e| format!("cannot read {key}: {e}"))?;
    let der = PrivatePkcs8KeyDer::from_pem_slice(&pem).map_err(|e| format!("{key} is not a PKCS#8 PEM key: {e}"))?;
    let rng = SystemRandom::new();
    let (signer, jwk) = match alg {
        "rs256" => {
            let pair = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).map_err(|e| format!("{key}: {e}"))?;
            let public = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
            let jwk = json!({"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "bench",
                "n": URL_SAFE_NO_PAD.encode(&public.n), "e": URL_SAFE_NO_PAD.encode(&public.e)});
            (Signer::Rs256(pair), jwk)
        }
        "es256" => {
            let pair =
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der.secret_pkcs8_der(), &rng)
                    .map_err(|e| format!("{key}: {e}"))?;
            let point = pair.public_key().as_ref();
            let jwk = json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": "bench",
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..])});
            (Signer::Es256(pair), jwk)
        }
        other => return Err(format!("the algorithm must be rs256 or es256, got {other:?}")),
    };
    let dir = std::path::Path::new(out);
    std::fs::write(dir.join("jwks.json"), json!({"keys": [jwk]}).to_string()).map_err(|e| e.to_string())?;
    let header = URL_SAFE_NO_PAD.encode(
        json!({"alg": if matches!(signer, Signer::Rs256(_)) { "RS256" } else { "ES256" }, "typ": "JWT", "kid": "bench"})
            .to_string(),
    );
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs();
    let file = std::fs::File::create(dir.join("tokens.txt")).map_err(|e| e.to_string())?;
    let mut file = std::io::BufWriter::new(file);
    for i in 0..count {
        let claims = json!({"iss": "https://bench.invalid/", "aud": "agtoken-bench", "sub": format!("user-{}", i % subjects),
            "jti": format!("bench-{i}"), "scope": "agtoken", "iat": now, "exp": now + 86_400});
        let message = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
        let signature = match &signer {
            Signer::Rs256(pair) => {
                let mut sig = vec![0; pair.public().modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, &rng, message.as_bytes(), &mut sig)
                    .map_err(|e| e.to_string())?;
                sig
            }
            Signer::Es256(pair) => pair.sign(&rng, message.as_bytes()).map_err(|e| e.to_string())?.as_ref().to_vec(),
        };
        writeln!(file, "{message}.{}", URL_SAFE_NO_PAD.encode(signature)).map_err(|e| e.to_string())?;
    }
    file.flush().map_err(|e| e.to_string())
}
