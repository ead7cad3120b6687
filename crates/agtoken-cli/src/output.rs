//! Shared input parsing (credentials, durations, instants) and output formatting.

use std::io::Read;
use std::time::Duration;

use agtoken::{AppCertificate, AppId, Expiry, Token, UnixTime};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::cli::CommonArgs;
use crate::Failure;

/// The first of the flag and the environment variables that is set.
fn from_env(flag: Option<&str>, names: &[&str]) -> Option<String> {
    flag.map(str::to_owned).or_else(|| names.iter().find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty())))
}

/// The app id: flag, AGORA_APP_ID, APP_ID.
pub fn app_id(flag: Option<&str>, unchecked: bool) -> Result<AppId, Failure> {
    let text = from_env(flag, &["AGORA_APP_ID", "APP_ID"])
        .ok_or_else(|| Failure::usage("app id missing: give --app-id or set AGORA_APP_ID (or APP_ID)"))?;
    Ok(if unchecked { AppId::unchecked(text)? } else { AppId::new(text)? })
}

/// The optional app id (flag or env).
pub fn app_id_opt(flag: Option<&str>) -> Result<Option<AppId>, Failure> {
    from_env(flag, &["AGORA_APP_ID", "APP_ID"]).map(|t| AppId::new(t).map_err(Failure::from)).transpose()
}

/// The certificate: flag, AGORA_APP_CERTIFICATE, APP_CERTIFICATE.
pub fn certificate(flag: Option<&str>, unchecked: bool) -> Result<AppCertificate, Failure> {
    let text = from_env(flag, &["AGORA_APP_CERTIFICATE", "APP_CERTIFICATE"]).ok_or_else(|| {
        Failure::usage(
            "app certificate missing: give --app-certificate or set AGORA_APP_CERTIFICATE (or APP_CERTIFICATE)",
        )
    })?;
    Ok(if unchecked { AppCertificate::unchecked(text) } else { AppCertificate::new(text)? })
}

/// An optional certificate from a flag or an environment variable.
pub fn certificate_opt(flag: Option<&str>, env: &str) -> Result<Option<AppCertificate>, Failure> {
    from_env(flag, &[env]).map(|t| AppCertificate::new(t).map_err(Failure::from)).transpose()
}

/// A duration: `3600`, `90s`, `30m`, `1h30m`, or `unlimited`.
pub fn duration(flag: &str, text: &str) -> Result<Expiry, Failure> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("unlimited") {
        return Ok(Expiry::Unlimited);
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Expiry::After(Duration::from_secs(secs)));
    }
    humantime::parse_duration(text).map(Expiry::After).map_err(|e| {
        Failure::usage(format!("--{flag}: {text:?} is not a duration ({e}); try 3600, 90s, 30m, 1h or unlimited"))
    })
}

/// An instant: Unix seconds or RFC 3339.
pub fn instant(flag: &str, text: &str) -> Result<UnixTime, Failure> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(UnixTime::from_secs(secs));
    }
    let t = OffsetDateTime::parse(text, &Rfc3339).map_err(|e| {
        Failure::usage(format!(
            "--{flag}: {text:?} is neither Unix seconds nor RFC 3339 like 2026-01-01T12:00:00Z ({e})"
        ))
    })?;
    u64::try_from(t.unix_timestamp())
        .map(UnixTime::from_secs)
        .map_err(|_| Failure::usage(format!("--{flag}: {text:?} is before 1970")))
}

/// The token expiry the common options ask for, if any.
pub fn expiry(common: &CommonArgs) -> Result<Option<Expiry>, Failure> {
    if let Some(d) = &common.valid_for {
        return duration("valid-for", d).map(Some);
    }
    if let Some(t) = &common.expires_at {
        return instant("expires-at", t).map(|t| Some(Expiry::At(t)));
    }
    Ok(None)
}

/// A token argument, or stdin for `-`.
pub fn token_text(arg: &str) -> Result<String, Failure> {
    if arg != "-" {
        return Ok(arg.trim().to_owned());
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| Failure::usage(format!("reading the token from stdin: {e}")))?;
    Ok(text.trim().to_owned())
}

/// Now, from the system clock.
pub fn now() -> UnixTime {
    UnixTime::from_system_time(std::time::SystemTime::now())
}

/// `2026-01-01T12:00:00Z`.
pub fn rfc3339(t: UnixTime) -> String {
    i64::try_from(t.as_secs())
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{} (Unix seconds)", t.as_secs()))
}

/// `in 59m 12s` / `3m ago` / `now`.
pub fn relative(t: UnixTime, now: UnixTime) -> String {
    let (secs, future) =
        if t >= now { (t.as_secs() - now.as_secs(), true) } else { (now.as_secs() - t.as_secs(), false) };
    if secs == 0 {
        return "now".into();
    }
    let text = humantime::format_duration(Duration::from_secs(secs)).to_string();
    if future {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

/// Prints a freshly built token: the token alone, or JSON with its structure and times.
pub fn print_token(token: &str, json: bool) -> Result<(), Failure> {
    if !json {
        println!("{token}");
        return Ok(());
    }
    let parsed =
        Token::parse(token).map_err(|e| Failure::refused(format!("the token just built does not parse: {e}")))?;
    let out = json!({
        "token": token,
        "version": parsed.version().as_str(),
        "app_id": parsed.app_id(),
        "issued_at": parsed.issued_at().as_secs(),
        "expires_at": parsed.expires_at().as_secs(),
        "expires_at_utc": rfc3339(parsed.expires_at()),
        "structure": agtoken::spec::token_to_json(&parsed, None, None),
    });
    print_json(&out);
    Ok(())
}

/// Pretty JSON on stdout.
pub fn print_json(value: &Value) {
    println!("{}", serde_json::to_string_pretty(value).expect("JSON values serialise"));
}
