//! Security settings are checked at start-up; errors name the setting, never a secret.

use agtoken_server::{Config, Env, ServeOptions};

use crate::common::{APP_ID, CERT};
use crate::support::*;

fn load(dir: &std::path::Path, app: &str, env: &Env) -> Result<Config, String> {
    write_secret(dir, "certificate", CERT);
    let text = format!("[[apps]]\napp_id = \"{APP_ID}\"\napp_certificate_file = \"certificate\"\n{app}\n");
    let path = dir.join("agtoken.toml");
    Config::from_sources(&ServeOptions::default(), env, Some((&path, &text))).map_err(|e| e.to_string())
}

#[test]
fn wrong_security_settings_stop_the_server_with_the_setting_named() {
    let dir = temp_dir("config-errors");
    let key = format!("[[apps.api_keys]]\nname = \"k\"\nsha256 = \"{}\"\n", sha256_hex("key"));
    let rule = "[[apps.policy]]\nname = \"r\"\nservices = [\"rtc\"]\n";
    let cases = [
        (format!("auth = \"api_key\"\n{key}"), "apps[0].policy", "no [[apps.policy]] rule"),
        ("auth = \"api_key\"\n".to_owned() + rule, "apps[0].api_keys", "at least one"),
        (
            format!(
                "auth = \"api_key\"\n{key}[[apps.api_keys]]\nname = \"k\"\nsha256 = \"{}\"\n{rule}",
                sha256_hex("x")
            ),
            "apps[0].api_keys[1].name",
            "twice",
        ),
        (
            format!("auth = \"api_key\"\n[[apps.api_keys]]\nname = \"k\"\nsha256 = \"xyz\"\n{rule}"),
            "apps[0].api_keys[0].sha256",
            "64 hex",
        ),
        (
            format!("auth = \"api_key\"\n{key}{rule}api_keys = [\"other\"]\n"),
            "apps[0].policy[0].api_keys",
            "no API key is named \"other\"",
        ),
        (
            format!("auth = \"api_key\"\n{key}{rule}uid_claim = \"sub\"\n"),
            "apps[0].policy[0].uid_claim",
            "JWT claims need auth",
        ),
        (
            format!("auth = \"api_key\"\n{key}{rule}roles = [\"moderator\"]\n"),
            "apps[0].policy[0].roles",
            "unknown role",
        ),
        (
            format!("auth = \"api_key\"\n{key}[[apps.policy]]\nname = \"r\"\nservices = [\"video\"]\n"),
            "apps[0].policy[0].services",
            "unknown service",
        ),
        (
            format!("auth = \"api_key\"\n{key}{rule}max_lifetime_secs = 90000\n"),
            "apps[0].policy[0].max_lifetime_secs",
            "1..=86400",
        ),
        (
            format!("auth = \"api_key\"\n{key}{rule}rate_limit = \"ten/min\"\n"),
            "apps[0].policy[0].rate_limit",
            "not a whole number",
        ),
        (rule.to_owned(), "apps[0].policy", "need authenticated callers"),
        ("auth = \"oauth\"\n".to_owned(), "apps[0].auth", "must be"),
        ("auth = \"jwt\"\n".to_owned() + rule, "apps[0].jwt", "needs an [apps.jwt] table"),
        (
            format!("auth = \"jwt\"\n[apps.jwt]\nhs256_secret = \"short\"\n{rule}"),
            "apps[0].jwt.hs256_secret",
            "at least 32 bytes",
        ),
        (
            format!("auth = \"jwt\"\n[apps.jwt]\njwks_file = \"missing.json\"\n{rule}"),
            "apps[0].jwt.jwks_file",
            "cannot read",
        ),
        (
            format!("auth = \"jwt\"\n[apps.jwt]\njwks_file = \"a\"\npublic_key_files = [\"b\"]\n{rule}"),
            "apps[0].jwt",
            "exactly one key source",
        ),
        (
            format!("auth = \"jwt\"\n[apps.jwt]\nhs256_secret_env = \"NOPE\"\n{rule}"),
            "apps[0].jwt.hs256_secret_env",
            "NOPE is not set",
        ),
    ];
    for (app, field, expected) in &cases {
        let err = load(&dir, app, &Env::default()).expect_err(app);
        assert!(err.contains(field) && err.contains(expected), "{err}\n(expected {field}: {expected})");
        assert!(!err.contains(CERT), "{err}");
    }
    // A long enough secret in the environment is fine, and never echoed.
    let secret = "a-secret-from-the-environment-of-40-bytes";
    let env = Env::from_pairs([("JWT_SECRET", secret)]);
    let app = format!("auth = \"jwt\"\n[apps.jwt]\naudience = \"a\"\nhs256_secret_env = \"JWT_SECRET\"\n{rule}");
    let config = load(&dir, &app, &env).unwrap();
    assert!(!format!("{config:?}").contains(secret));
    assert!(!format!("{config:?}").contains(CERT));
}

#[test]
fn certificates_from_files_named_by_env_vars() {
    let dir = temp_dir("cert-file-env");
    write_secret(&dir, "cert", &format!("{CERT}\n"));
    let path = dir.join("cert").display().to_string();
    let env = Env::from_pairs([("APP_ID", APP_ID), ("APP_CERTIFICATE_FILE", path.as_str())]);
    let config = Config::from_sources(&ServeOptions::default(), &env, None).unwrap();
    assert_eq!(config.default_app().certificate.expose_secret(), CERT);
    assert!(config.warnings.iter().all(|w| !w.contains("secrets file")), "{:?}", config.warnings);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("cert"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let config = Config::from_sources(&ServeOptions::default(), &env, None).unwrap();
        assert!(
            config.warnings.iter().any(|w| w.contains("secrets file") && w.contains("0644")),
            "{:?}",
            config.warnings
        );
    }
    let both =
        Env::from_pairs([("APP_ID", APP_ID), ("APP_CERTIFICATE", CERT), ("APP_CERTIFICATE_FILE", path.as_str())]);
    let err = Config::from_sources(&ServeOptions::default(), &both, None).unwrap_err().to_string();
    assert!(err.contains("APP_CERTIFICATE_FILE") && err.contains("not both"), "{err}");
    let missing = Env::from_pairs([("APP_ID", APP_ID), ("APP_CERTIFICATE_FILE", "/nonexistent/agtoken-cert")]);
    let err = Config::from_sources(&ServeOptions::default(), &missing, None).unwrap_err().to_string();
    assert!(err.contains("cannot read /nonexistent/agtoken-cert"), "{err}");
}
