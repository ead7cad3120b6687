//! The configuration's unit tests: precedence, names of the existing servers, errors.

use super::*;
use agtoken::Version;

const ID: &str = "970CA35de60c44645bbae8a215061b33";
const CERT: &str = "5CFd2fd1755d40ecb72977518be15d3b";
const ID2: &str = "0123456789abcdef0123456789abcdef";

fn opts() -> ServeOptions {
    ServeOptions::default()
}

#[test]
fn nothing_configured_is_demo_mode() {
    let c = Config::from_sources(&opts(), &Env::default(), None).unwrap();
    assert!(c.demo);
    assert_eq!(c.apps.len(), 1);
    assert_eq!(c.port, 8080);
    assert_eq!(c.cors, CorsOrigins::Any);
}

#[test]
fn env_names_of_the_existing_servers() {
    let env = Env::from_pairs([("APP_ID", ID), ("APP_CERTIFICATE", CERT), ("PORT", "9000")]);
    let c = Config::from_sources(&opts(), &env, None).unwrap();
    assert!(!c.demo);
    assert_eq!(c.default_app().app_id.as_str(), ID);
    assert_eq!(c.port, 9000);
    let env = Env::from_pairs([
        ("AGORA_APP_ID", ID),
        ("AGORA_APP_CERTIFICATE", CERT),
        ("PORT", "9000"),
        ("SERVER_PORT", "9001"),
        ("CORS_ALLOW_ORIGIN", "https://a.example, https://b.example:8443"),
    ]);
    let c = Config::from_sources(&opts(), &env, None).unwrap();
    assert_eq!(c.port, 9001);
    assert_eq!(c.cors, CorsOrigins::List(vec!["https://a.example".into(), "https://b.example:8443".into()]));
    let o = ServeOptions { port: Some(7), host: Some("127.0.0.1".into()), ..opts() };
    let c = Config::from_sources(&o, &env, None).unwrap();
    assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", 7));
}

#[test]
fn a_wrong_app_id_is_named_once_and_shown() {
    let env = Env::from_pairs([("APP_ID", "xyz"), ("APP_CERTIFICATE", CERT)]);
    let msg = Config::from_sources(&opts(), &env, None).unwrap_err().to_string();
    assert_eq!(
        msg,
        "configuration: environment: APP_ID: must be 32 hexadecimal characters, got \"xyz\" (3 characters)"
    );
    let long = "970CA35de60c44645bbae8a215061b33970CA35de60c44645bbae8a215061b33";
    let env = Env::from_pairs([("AGORA_APP_ID", long), ("APP_CERTIFICATE", CERT)]);
    let msg = Config::from_sources(&opts(), &env, None).unwrap_err().to_string();
    assert_eq!(msg.matches("AGORA_APP_ID").count(), 1, "{msg}");
    assert!(msg.ends_with("got \"970CA35de60c44645bbae8a215061b33\"… (64 characters)"), "{msg}");
}

#[test]
fn app_cert_is_the_community_services_name_of_the_certificate() {
    let env = Env::from_pairs([("APP_ID", ID), ("APP_CERT", CERT)]);
    let c = Config::from_sources(&opts(), &env, None).unwrap();
    assert_eq!(c.default_app().certificate.expose_secret(), CERT);
    // The newer names win; APP_CERT_FILE reads a file like the other *_FILE variables.
    let env = Env::from_pairs([("APP_ID", ID), ("APP_CERTIFICATE", CERT), ("APP_CERT", &"0".repeat(32))]);
    assert_eq!(Config::from_sources(&opts(), &env, None).unwrap().default_app().certificate.expose_secret(), CERT);
    let dir = std::env::temp_dir().join(format!("agtoken-app-cert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cert");
    std::fs::write(&path, format!("{CERT}\n")).unwrap();
    let env = Env::from_pairs([("APP_ID", ID.to_owned()), ("APP_CERT_FILE", path.display().to_string())]);
    let c = Config::from_sources(&opts(), &env, None).unwrap();
    assert_eq!(c.default_app().certificate.expose_secret(), CERT);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn errors_name_the_setting_and_never_the_certificate() {
    let env = Env::from_pairs([("APP_ID", ID), ("APP_CERTIFICATE", "5CFd2fd1755d40ecb72977518be15d3")]);
    let msg = Config::from_sources(&opts(), &env, None).unwrap_err().to_string();
    assert!(msg.contains("APP_CERTIFICATE") && msg.contains("32 hexadecimal"), "{msg}");
    assert!(!msg.contains("5CFd2fd1755d"), "{msg}");
    let env = Env::from_pairs([("APP_ID", ID)]);
    let msg = Config::from_sources(&opts(), &env, None).unwrap_err().to_string();
    assert!(msg.contains("APP_ID") && msg.contains("both"), "{msg}");
    let env = Env::from_pairs([("APP_ID", ID), ("APP_CERTIFICATE", CERT), ("SERVER_PORT", "80000")]);
    let msg = Config::from_sources(&opts(), &env, None).unwrap_err().to_string();
    assert!(msg.contains("SERVER_PORT"), "{msg}");
    let env = Env::from_pairs([("CORS_ALLOW_ORIGIN", "example.com")]);
    let msg = Config::from_sources(&opts(), &env, None).unwrap_err().to_string();
    assert!(msg.contains("CORS_ALLOW_ORIGIN") && msg.contains("not an origin"), "{msg}");
}

#[test]
fn dotenv_is_read_below_the_process_environment() {
    let dir = std::env::temp_dir().join(format!("agtoken-dotenv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(".env");
    std::fs::write(&path, format!("AGTOKEN_TEST_ONLY_IN_DOTENV=yes\nAPP_ID={ID}\nAPP_CERTIFICATE={CERT}\n")).unwrap();
    let env = Env::from_process_and_dotenv(&path).unwrap();
    assert_eq!(env.get("AGTOKEN_TEST_ONLY_IN_DOTENV"), Some(("yes", EnvSource::DotEnv)));
    if std::env::var_os("APP_ID").is_none() {
        let c = Config::from_sources(&opts(), &env, None).unwrap();
        assert_eq!(c.default_app().app_id.as_str(), ID);
    }
    std::fs::write(&path, "BROKEN LINE WITHOUT EQUALS\n").unwrap();
    let err = Env::from_process_and_dotenv(&path).unwrap_err().to_string();
    assert!(err.contains(".env"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn toml_with_several_apps() {
    let text = format!(
        r#"
        port = 9090
        cors_allow_origin = ["https://app.example.com"]
        default_app = "{ID2}"
        [[apps]]
        app_id = "{ID}"
        app_certificate = "{CERT}"
        secondary_certificate_env = "SECOND"
        token_version = "006"
        [[apps]]
        app_id = "{ID2}"
        app_certificate_env = "CERT2"
        max_lifetime_secs = 600
        compat_lifetime_secs = 40
        "#
    );
    let env = Env::from_pairs([("SECOND", "00000000000000000000000000000000"), ("CERT2", CERT)]);
    let c = Config::from_sources(&opts(), &env, Some((Path::new("agtoken.toml"), &text))).unwrap();
    assert_eq!(c.port, 9090);
    assert_eq!(c.apps.len(), 2);
    assert_eq!(c.default_app().app_id.as_str(), ID2);
    assert_eq!(c.default_app().max_lifetime, 600);
    assert_eq!(c.default_app().default_lifetime, 600);
    assert_eq!(c.default_app().compat_lifetime, 40);
    assert_eq!(c.apps[1].token_version, Version::V006);
    assert!(c.apps[1].secondary_certificate.is_some());
}

#[test]
fn shutdown_grace_from_the_environment_over_the_file() {
    let file = (Path::new("a.toml"), "shutdown_grace_secs = 20\n");
    let c = Config::from_sources(&opts(), &Env::default(), Some(file)).unwrap();
    assert_eq!(c.shutdown_grace, Duration::from_secs(20));
    let env = Env::from_pairs([("AGTOKEN_SHUTDOWN_GRACE", "8")]);
    let c = Config::from_sources(&opts(), &env, Some(file)).unwrap();
    assert_eq!(c.shutdown_grace, Duration::from_secs(8));
    let env = Env::from_pairs([("AGTOKEN_SHUTDOWN_GRACE", "soon")]);
    let msg = Config::from_sources(&opts(), &env, None).unwrap_err().to_string();
    assert!(msg.contains("AGTOKEN_SHUTDOWN_GRACE"), "{msg}");
    let env = Env::from_pairs([("AGTOKEN_SHUTDOWN_GRACE", "7200")]);
    let msg = Config::from_sources(&opts(), &env, None).unwrap_err().to_string();
    assert!(msg.contains("AGTOKEN_SHUTDOWN_GRACE") && msg.contains("0..=3600"), "{msg}");
}

#[test]
fn endpoint_follows_the_precedence_of_serve_and_reads_no_secret() {
    let file_text = "host = \"127.0.0.1\"\nport = 9443\ntls_cert_file = \"tls/chain.pem\"\ntls_key_file = \"/nonexistent/key.pem\"\n\
                     [[apps]]\napp_id = \"970CA35de60c44645bbae8a215061b33\"\napp_certificate_file = \"/nonexistent/cert\"\n";
    let file = Some((Path::new("/etc/agtoken/agtoken.toml"), file_text));
    // The same sources as `serve`, but the certificate and key files are never opened.
    let e = Endpoint::from_sources(&opts(), &Env::default(), file).unwrap();
    assert_eq!(e.host, "127.0.0.1");
    assert_eq!(e.port, 9443);
    assert_eq!(e.tls_cert_file.as_deref(), Some(Path::new("/etc/agtoken/tls/chain.pem")));
    let env = Env::from_pairs([("PORT", "7000"), ("AGTOKEN_HOST", "::1"), ("AGTOKEN_TLS_CERT_FILE", "/x.pem")]);
    let e = Endpoint::from_sources(&opts(), &env, file).unwrap();
    assert_eq!((e.host.as_str(), e.port), ("::1", 7000));
    assert_eq!(e.tls_cert_file.as_deref(), Some(Path::new("/x.pem")));
    let env = Env::from_pairs([("PORT", "7000"), ("SERVER_PORT", "7001")]);
    let o = ServeOptions { host: Some("localhost".into()), ..opts() };
    let e = Endpoint::from_sources(&o, &env, None).unwrap();
    assert_eq!((e.host.as_str(), e.port, e.tls_cert_file.is_none()), ("localhost", 7001, true));
    let o = ServeOptions { port: Some(1), ..opts() };
    assert_eq!(Endpoint::from_sources(&o, &env, None).unwrap().port, 1);
    let e = Endpoint::from_sources(&opts(), &Env::default(), None).unwrap();
    assert_eq!((e.host.as_str(), e.port), ("0.0.0.0", 8080));
    let env = Env::from_pairs([("PORT", "http")]);
    let msg = Endpoint::from_sources(&opts(), &env, None).unwrap_err().to_string();
    assert!(msg.contains("PORT") && msg.contains("not a port"), "{msg}");
}

#[test]
fn toml_errors_name_the_field() {
    let bad = |text: &str| {
        Config::from_sources(&opts(), &Env::default(), Some((Path::new("a.toml"), text))).unwrap_err().to_string()
    };
    let msg = bad(&format!("[[apps]]\napp_id = \"{ID}\"\napp_certificate = \"xyz\"\n"));
    assert!(msg.contains("a.toml") && msg.contains("apps[0].app_certificate"), "{msg}");
    let msg = bad(&format!("[[apps]]\napp_id = \"{ID}\"\n"));
    assert!(msg.contains("apps[0].app_certificate") && msg.contains("missing"), "{msg}");
    let msg = bad(&format!("[[apps]]\napp_id = \"{ID}\"\napp_certificate = \"{CERT}\"\nmax_lifetime_secs = 90000\n"));
    assert!(msg.contains("apps[0].max_lifetime_secs"), "{msg}");
    let msg = bad("prot = 1\n");
    assert!(msg.contains("unknown field") && msg.contains("prot"), "{msg}");
    let msg = bad(&format!(
        "[[apps]]\napp_id = \"{ID}\"\napp_certificate = \"{CERT}\"\n[[apps]]\napp_id = \"{ID}\"\napp_certificate = \"{CERT}\"\n"
    ));
    assert!(msg.contains("apps[1].app_id") && msg.contains("twice"), "{msg}");
}

#[test]
fn setting_errors_keep_their_variant_and_name_the_setting() {
    use crate::error::SettingError;
    let load =
        |env: &Env, text: &str| Config::from_sources(&opts(), env, Some((Path::new("a.toml"), text))).unwrap_err();
    let e = load(&Env::default(), "per_ip_rate_limit = \"3/day\"\n");
    assert!(
        matches!(&e, ServerError::Setting { source_name, field, error }
            if source_name == "a.toml" && field == "per_ip_rate_limit"
                && matches!(&**error, SettingError::RateUnit { unit, .. } if unit == "day")),
        "{e:?}"
    );
    // The key pasted where its hash belongs is not repeated.
    let text = format!(
        "[[apps]]\napp_id = \"{ID}\"\napp_certificate = \"{CERT}\"\nauth = \"api_key\"\n\
         [[apps.api_keys]]\nname = \"backend\"\nsha256 = \"agtk_pasted-key\"\n"
    );
    let e = load(&Env::default(), &text);
    assert!(
        matches!(&e, ServerError::Setting { field, error, .. } if field == "apps[0].api_keys[0].sha256"
            && matches!(&**error, SettingError::ApiKeyHash { name } if name == "backend")),
        "{e:?}"
    );
    assert!(!e.to_string().contains("pasted-key") && !format!("{e:?}").contains("pasted-key"), "{e}");
    // A store error about the CA file names the CA file's setting; the URL's password is never shown.
    let dir = std::env::temp_dir().join(format!("agtoken-config-setting-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").unwrap();
    let ca_text = ca.display().to_string();
    let env = Env::from_pairs([
        ("AGTOKEN_LIMITS_STORE", "redis://:s3cret@127.0.0.1:6379"),
        ("AGTOKEN_LIMITS_STORE_CA_FILE", ca_text.as_str()),
    ]);
    let no_password = |e: &ServerError| {
        assert!(!e.to_string().contains("s3cret") && !format!("{e:?}").contains("s3cret"), "{e}");
    };
    let e = load(&env, "");
    assert!(
        matches!(&e, ServerError::Setting { field, error, .. }
            if field == "AGTOKEN_LIMITS_STORE_CA_FILE" && matches!(**error, SettingError::StoreCaWithoutTls)),
        "{e:?}"
    );
    no_password(&e);
    let env = Env::from_pairs([("AGTOKEN_LIMITS_STORE", "http://:s3cret@127.0.0.1:6379")]);
    let e = load(&env, "");
    assert!(
        matches!(&e, ServerError::Setting { field, error, .. }
            if field == "AGTOKEN_LIMITS_STORE" && matches!(**error, SettingError::StoreScheme)),
        "{e:?}"
    );
    no_password(&e);
    std::fs::remove_dir_all(&dir).unwrap();
}
