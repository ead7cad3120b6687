//! Shared input parsing (credentials, durations, instants) and output formatting.

use std::io::Read;
use std::time::Duration;

use agtoken::{AppCertificate, AppId, Expiry, Token, UnixTime};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::cli::CommonArgs;
use crate::Failure;

/// The environment variables of the app id, in the order they are read.
pub const APP_ID_VARS: &[&str] = &["AGORA_APP_ID", "APP_ID"];
/// The environment variables of the certificate, in the order they are read (`APP_CERT` is the
/// older name the community token service reads).
pub const CERTIFICATE_VARS: &[&str] = &["AGORA_APP_CERTIFICATE", "APP_CERTIFICATE", "APP_CERT"];

/// The first of the flag and the environment variables that is set, and where it came from
/// (`--flag` or the variable's name).
fn from_env(flag: Option<&str>, flag_name: &'static str, names: &[&'static str]) -> Option<(String, &'static str)> {
    flag.map(|v| (v.to_owned(), flag_name))
        .or_else(|| names.iter().find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()).map(|v| (v, *n))))
}

/// The rule an app id or certificate broke, said about where it came from. The value is shown
/// for an app id (not a secret) and never for a certificate.
fn credential_error(source: &str, e: agtoken::Error) -> Failure {
    match e {
        agtoken::Error::Invalid { field: "app_certificate", rule, .. } => Failure::usage(format!("{source}: {rule}")),
        agtoken::Error::Invalid { rule, value, .. } => Failure::usage(format!("{source}: {rule} (got {value})")),
        other => Failure::usage(format!("{source}: {other}")),
    }
}

/// The app id: flag, AGORA_APP_ID, APP_ID.
pub fn app_id(flag: Option<&str>, unchecked: bool) -> Result<AppId, Failure> {
    let (text, source) = from_env(flag, "--app-id", APP_ID_VARS)
        .ok_or_else(|| Failure::usage("app id missing: give --app-id or set AGORA_APP_ID (or APP_ID)"))?;
    if unchecked { AppId::unchecked(text) } else { AppId::new(text) }.map_err(|e| credential_error(source, e))
}

/// The optional app id (flag or env).
pub fn app_id_opt(flag: Option<&str>) -> Result<Option<AppId>, Failure> {
    from_env(flag, "--app-id", APP_ID_VARS)
        .map(|(t, source)| AppId::new(t).map_err(|e| credential_error(source, e)))
        .transpose()
}

/// The certificate's text: flag, AGORA_APP_CERTIFICATE, APP_CERTIFICATE, APP_CERT.
pub fn certificate_text(flag: Option<&str>) -> Result<(String, &'static str), Failure> {
    from_env(flag, "--app-certificate", CERTIFICATE_VARS).ok_or_else(|| {
        Failure::usage(
            "app certificate missing: give --app-certificate or set AGORA_APP_CERTIFICATE (or APP_CERTIFICATE)",
        )
    })
}

/// The certificate: flag, AGORA_APP_CERTIFICATE, APP_CERTIFICATE, APP_CERT.
pub fn certificate(flag: Option<&str>, unchecked: bool) -> Result<AppCertificate, Failure> {
    let (text, source) = certificate_text(flag)?;
    if unchecked {
        return Ok(AppCertificate::unchecked(text));
    }
    AppCertificate::new(text).map_err(|e| credential_error(source, e))
}

/// An optional certificate from a flag or an environment variable.
pub fn certificate_opt(
    flag: Option<&str>,
    flag_name: &'static str,
    env: &'static str,
) -> Result<Option<AppCertificate>, Failure> {
    from_env(flag, flag_name, &[env])
        .map(|(t, source)| AppCertificate::new(t).map_err(|e| credential_error(source, e)))
        .transpose()
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

/// `in 58m 20s` / `3y 16d ago` / `now`: the two largest units (y = 365.25 d, d, h, m, s).
pub fn relative(t: UnixTime, now: UnixTime) -> String {
    let (secs, future) =
        if t >= now { (t.as_secs() - now.as_secs(), true) } else { (now.as_secs() - t.as_secs(), false) };
    if secs == 0 {
        return "now".into();
    }
    let text = age(secs);
    if future {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

/// A duration in at most two units, the largest first: `58m 20s`, `3y 16d`, `2h`, `10m`.
pub fn age(secs: u64) -> String {
    const UNITS: [(u64, &str); 5] = [(31_557_600, "y"), (86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let Some(first) = UNITS.iter().position(|(size, _)| secs >= *size) else {
        return "0s".into();
    };
    let (size, unit) = UNITS[first];
    let mut text = format!("{}{unit}", secs / size);
    if let Some(&(next_size, next_unit)) = UNITS.get(first + 1) {
        let rest = secs % size / next_size;
        if rest > 0 {
            text.push_str(&format!(" {rest}{next_unit}"));
        }
    }
    text
}

/// `2023-11-14T23:13:20Z (1700003600, in 58m 20s)`: how every command shows an instant.
pub fn when(t: UnixTime, now: UnixTime) -> String {
    format!("{} ({}, {})", rfc3339(t), t.as_secs(), relative(t, now))
}

/// Whether the user typed `flag` (as `--flag VALUE` or `--flag=VALUE`) on this command line.
fn typed(flag: &str) -> bool {
    std::env::args().skip(1).any(|a| a == flag || a.strip_prefix(flag).is_some_and(|rest| rest.starts_with('=')))
}

/// The command-line flag of a library field, as the minting commands take it: the first of
/// the candidates that was typed, else the first.
pub fn flag_of(field: &str) -> String {
    let candidates: &[&str] = match field {
        "expire" => &["--valid-for", "--expires-at"],
        "issued_at" | "ts" => &["--issued-at"],
        "join_expire" => &["--join-valid-for", "--privileges-valid-for", "--valid-for", "--expires-at"],
        "publish_audio_expire" => {
            &["--publish-audio-valid-for", "--privileges-valid-for", "--valid-for", "--expires-at"]
        }
        "publish_video_expire" => {
            &["--publish-video-valid-for", "--privileges-valid-for", "--valid-for", "--expires-at"]
        }
        "publish_data_expire" => &["--publish-data-valid-for", "--privileges-valid-for", "--valid-for", "--expires-at"],
        "rtm_login_expire" => &["--rtm-valid-for", "--valid-for", "--expires-at"],
        "privilege_expire" => &["--valid-for", "--expires-at"],
        "channel" => &["--channel"],
        "account" => &["--account"],
        "uid" => &["--uid", "--account"],
        "user_id" | "user_uuid" => &["--user"],
        "rtm_user_id" => &["--with-rtm", "--rtm-user"],
        "room_uuid" => &["--room"],
        "privileges" => &["--privilege"],
        "permissions" => &["--permission"],
        "services" => &["--v006", "--with-rtm"],
        "app_id" => &["--app-id"],
        "app_certificate" => &["--app-certificate"],
        "salt" => &["--salt"],
        // Any other field of a request: its flag, as the library names it.
        other => {
            let flag = agtoken::Request::INFO.iter().flat_map(|i| i.fields).find(|f| f.name == other);
            return flag.map_or_else(|| other.to_owned(), |f| format!("--{}", f.flag));
        }
    };
    candidates.iter().find(|f| typed(f)).unwrap_or(&candidates[0]).to_string()
}

/// A library error said in the command line's terms: fields as the flags that set them, times
/// as everywhere in the CLI, no Rust names.
pub fn cli_error(e: &agtoken::Error, now: UnixTime) -> String {
    use agtoken::Error;
    match e {
        Error::Invalid { field, rule, .. } if *rule == agtoken::validate::ZERO_LIFETIME_RULE => {
            let flag = flag_of(field);
            format!(
                "{flag}: 0 would be stored as 0, which Agora reads as \"no limit of its own\" (a token then ends \
                 24 h after issue): give {flag} unlimited for that, or a positive duration"
            )
        }
        Error::Invalid { field: field @ "account", rule, value } if rule.contains("Uid::Any") => format!(
            "{}: must not be empty (got {value}); for any user leave out --uid and --account, or give --uid 0",
            flag_of(field)
        ),
        Error::Invalid { field, rule, value } if value.is_empty() || value == "\"\"" => {
            format!("{}: {rule}", flag_of(field))
        }
        Error::Invalid { field, rule, value } => format!("{}: {rule} (got {value})", flag_of(field)),
        Error::OutOfRange { field, value } => {
            format!("{}: {value} does not fit the format's unsigned 32-bit field (at most 4294967295)", flag_of(field))
        }
        Error::TooLong { field, len } => {
            format!("{}: {len} bytes do not fit the format's 16-bit length (at most 65535)", flag_of(field))
        }
        Error::Missing { field } => format!("{}: missing", flag_of(field)),
        other => refusal(other, now),
    }
}

/// A refusal (or an unreadable token) in the CLI's words: times as RFC 3339 with the Unix
/// seconds and how long ago.
pub fn refusal(e: &agtoken::Error, now: UnixTime) -> String {
    use agtoken::Error;
    match e {
        Error::TokenExpired { expired_at, .. } => {
            format!("token expired at {} (checked at {})", when(*expired_at, now), rfc3339(now))
        }
        Error::PrivilegeExpired { privilege, expired_at, .. } => {
            format!("privilege {privilege} expired at {} (checked at {})", when(*expired_at, now), rfc3339(now))
        }
        other => other.to_string(),
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
        "structure": agtoken::spec::describe(&parsed, None, None),
    });
    print_json(&out);
    Ok(())
}

/// Pretty JSON on stdout.
pub fn print_json(value: &Value) {
    println!("{}", serde_json::to_string_pretty(value).expect("JSON values serialise"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_have_at_most_two_units() {
        let cases = [
            (1, "1s"),
            (59, "59s"),
            (600, "10m"),
            (3500, "58m 20s"),
            (3600, "1h"),
            (3661, "1h 1m"),
            (86_400, "1d"),
            (90_061, "1d 1h"),
            (31_557_600 * 3 + 16 * 86_400 + 15 * 3600 + 25 * 60 + 13, "3y 16d"),
            (31_557_600 + 3600, "1y"),
        ];
        for (secs, text) in cases {
            assert_eq!(age(secs), text, "{secs}");
        }
        let now = UnixTime::from_secs(1_700_000_000);
        assert_eq!(relative(now.plus_secs(3500), now), "in 58m 20s");
        assert_eq!(relative(UnixTime::from_secs(1_699_999_400), now), "10m ago");
        assert_eq!(relative(now, now), "now");
        assert_eq!(when(now.plus_secs(3600), now), "2023-11-14T23:13:20Z (1700003600, in 1h)");
    }
}
