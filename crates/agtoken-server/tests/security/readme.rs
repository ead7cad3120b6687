//! The README's production configuration examples load (with their files made up here).

use agtoken_server::{Config, Env, ServeOptions};

use crate::common::CERT;
use crate::support::*;

fn toml_blocks_after(readme: &str, heading: &str) -> Vec<String> {
    let section = &readme[readme.find(heading).expect("the heading")..];
    let section = &section[..section[heading.len()..].find("\n### ").map_or(section.len(), |i| i + heading.len())];
    section.split("```toml\n").skip(1).map(|b| b[..b.find("```").unwrap()].to_owned()).collect()
}

#[test]
fn the_production_examples_load() {
    let readme = include_str!("../../README.md");
    let blocks = toml_blocks_after(readme, "### A production configuration");
    assert_eq!(blocks.len(), 2);
    let dir = temp_dir("readme");
    write_secret(&dir, "agora-certificate", CERT);
    let pair = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.join("fullchain.pem"), pair.cert.pem()).unwrap();
    write_secret(&dir, "tls-key", &pair.signing_key.serialize_pem());
    let ec = rcgen::KeyPair::generate().unwrap();
    let key = jsonwebtoken::EncodingKey::from_ec_pem(ec.serialize_pem().as_bytes()).unwrap();
    let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, jsonwebtoken::Algorithm::ES256).unwrap();
    std::fs::write(dir.join("jwks.json"), serde_json::json!({ "keys": [jwk] }).to_string()).unwrap();

    let text = blocks[0]
        .replace("/etc/agtoken/tls/fullchain.pem", "fullchain.pem")
        .replace("/run/secrets/agtoken-tls-key", "tls-key")
        .replace("/run/secrets/agora-certificate", "agora-certificate")
        .replace("/etc/agtoken/jwks.json", "jwks.json");
    let path = dir.join("production.toml");
    let config = Config::from_sources(&ServeOptions::default(), &Env::default(), Some((&path, &text)))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(config.tls.is_some() && config.per_ip_rate_limit.is_some());
    assert_eq!(config.apps[0].auth.kind(), "jwt");
    assert_eq!(config.apps[0].policy.len(), 2);
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);

    // The API-key variant, in place of the JWT settings.
    let app = text[..text.find("auth = \"jwt\"").unwrap()].to_owned();
    let text = format!("{app}{}", blocks[1]);
    let config = Config::from_sources(&ServeOptions::default(), &Env::default(), Some((&path, &text)))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.apps[0].auth.kind(), "api_key");
}
