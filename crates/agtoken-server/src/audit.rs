//! The audit log: one structured line per decision, target `agtoken::audit`, at level INFO.
//!
//! Fields: `decision` (`issued`/`refused`), `status`, `caller` (`anonymous`, `key:NAME`,
//! `jwt:SUB`), `client` (address), `route`, `app_id`, `service`, `channel`, `uid`, `role`,
//! `lifetime` (seconds), `version`, `expires_at`, `latest_end`, `fingerprint` (first 8 hex
//! digits of the token's SHA-256: enough to find one token, useless to anyone else), `rule` (the
//! policy rule that decided), `reason` (of a refusal). The time is the line's own timestamp.
//!
//! An `issued` line describes the token itself, from its grants (what it admits): `service` the
//! policy classes of its grants (`rtc+rtm`), `channel`/`uid` the first channel and user a grant
//! names (`any` for a wildcard), `role` from its RTC grants, `expires_at` the earliest end of a
//! grant and `latest_end` the latest, `lifetime` = `latest_end` − now: the line never
//! understates a token's life. A `refused` line names what was asked.
//!
//! Never in a line: the token, an app certificate, an API key, a bearer token. Refusal reasons
//! are built by this crate from checked values; they name what was wrong, never a credential.

use std::net::IpAddr;

use crate::issue::{Fingerprint, Intent, Judged};

/// Logs an audit line with these fields (`name = value`, or `name` for a variable of that name),
/// in this order; each value is evaluated once, and only when the line is enabled (with
/// `RUST_LOG=warn` not even the fingerprint's SHA-256 is computed). With the server's own
/// plain-text log the line is written straight into it ([`crate::logging::write_plain`], the
/// same line); otherwise (JSON, a terminal, the subscriber of a test or of a program that embeds
/// the server) it is a `tracing` event.
macro_rules! audit_line {
    ($($name:ident $(= $value:expr)?),+ $(,)?) => {{
        if tracing::enabled!(target: "agtoken::audit", tracing::Level::INFO) {
            $($(let $name = $value;)?)+
            if !crate::logging::write_plain(
                "agtoken::audit",
                &[$((concat!(" ", stringify!($name), "="), crate::logging::FieldValue::from($name))),+],
            ) {
                tracing::info!(target: "agtoken::audit", $($name = $name),+);
            }
        }
    }};
}

/// Who and from where.
pub(crate) struct Who<'a> {
    pub caller: &'a str,
    pub client: Option<IpAddr>,
    pub rule: Option<&'a str>,
}

/// A token was issued.
/// The line of an issued token: what it admits (from its grants), never what was asked.
/// `expires_at` is the earliest end among its grants (when the client must renew),
/// `latest_end` the latest (how long it can be used at all), `lifetime` = latest − now.
pub(crate) fn issued(who: &Who<'_>, intent: &Intent<'_>, judged: &Judged<'_>, now: u64) {
    // Every field as text or a number, formatted here without `fmt` machinery where it is on
    // the path of every request (one line per token).
    let mut client = [0u8; MAX_IP_TEXT];
    let mut services = String::new();
    let mut fingerprint = [0u8; 8];
    audit_line!(
        decision = "issued",
        status = 200u16,
        caller = who.caller,
        client = client_text(who.client, &mut client),
        route = intent.route,
        app_id = intent.app_id,
        service = service_text(&judged.classes, &mut services),
        channel = scope_text(judged.channel.as_ref()),
        uid = scope_text(judged.user.as_ref()),
        role = judged.role.unwrap_or("-"),
        lifetime = judged.latest.saturating_sub(now),
        version = judged.version.as_str(),
        expires_at = judged.earliest,
        latest_end = judged.latest,
        fingerprint = Fingerprint(judged.text).encode(&mut fingerprint),
        rule = who.rule.unwrap_or("-"),
    );
}

pub(crate) fn refused(who: &Who<'_>, intent: &Intent<'_>, role: Option<&'static str>, status: u16, reason: &str) {
    let mut client = [0u8; MAX_IP_TEXT];
    let mut services = String::new();
    audit_line!(
        decision = "refused",
        status,
        caller = who.caller,
        client = client_text(who.client, &mut client),
        route = intent.route,
        app_id = intent.app_id,
        service = service_text(intent.services, &mut services),
        channel = intent.channel,
        uid = intent.user,
        role = role.unwrap_or("-"),
        lifetime = intent.lifetime,
        rule = who.rule.unwrap_or("-"),
        reason,
    );
}

/// A request refused before its route ran (per-address rate limit).
pub(crate) fn refused_early(route: &str, client: Option<IpAddr>, status: u16, reason: &str) {
    let mut client_buf = [0u8; MAX_IP_TEXT];
    audit_line!(
        decision = "refused",
        status,
        caller = "-",
        client = client_text(client, &mut client_buf),
        route,
        reason,
    );
}

/// The longest text of an IP address (IPv6 with an embedded IPv4 address).
const MAX_IP_TEXT: usize = 45;

/// `client` as text in `buf`, or `-` (text logs stay column-friendly; JSON gets a string).
fn client_text(client: Option<IpAddr>, buf: &mut [u8; MAX_IP_TEXT]) -> &str {
    let mut len = 0;
    match client {
        None => return "-",
        // The common case, without `fmt` (every issued token's line has one).
        Some(IpAddr::V4(v4)) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buf[len] = b'.';
                    len += 1;
                }
                let mut digits = itoa::Buffer::new();
                let digits = digits.format(octet).as_bytes();
                buf[len..len + digits.len()].copy_from_slice(digits);
                len += digits.len();
            }
        }
        Some(ip) => {
            let mut rest = &mut buf[..];
            if std::io::Write::write_fmt(&mut rest, format_args!("{ip}")).is_err() {
                return "-";
            }
            len = MAX_IP_TEXT - rest.len();
        }
    }
    std::str::from_utf8(&buf[..len]).unwrap_or("-")
}

/// The classes joined by `+` (`rtc+rtm`); one class as it is, without copying.
fn service_text<'a>(classes: &[&'static str], buf: &'a mut String) -> &'a str {
    match classes {
        [one] => one,
        more => {
            *buf = more.join("+");
            buf
        }
    }
}

/// A scope as the line shows it: its text, `any` for a wildcard, `-` when none.
fn scope_text<T: AsRef<str>>(scope: Option<&agtoken::Scope<T>>) -> &str {
    match scope {
        Some(agtoken::Scope::Exact(text) | agtoken::Scope::Pattern(text)) => text.as_ref(),
        Some(agtoken::Scope::Any) => "any",
        None => "-",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_and_service_texts() {
        let mut buf = [0u8; MAX_IP_TEXT];
        assert_eq!(client_text(None, &mut buf), "-");
        for v4 in ["203.0.113.9", "0.0.0.0", "255.255.255.255", "10.0.10.100"] {
            assert_eq!(client_text(Some(v4.parse().unwrap()), &mut buf), v4);
        }
        assert_eq!(client_text(Some("::1".parse().unwrap()), &mut buf), "::1");
        let longest: IpAddr = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255".parse().unwrap();
        assert_eq!(client_text(Some(longest), &mut buf), longest.to_string());
        let mut joined = String::new();
        assert_eq!(service_text(&["rtc"], &mut joined), "rtc");
        assert_eq!(service_text(&["rtc", "rtm"], &mut joined), "rtc+rtm");
        assert_eq!(service_text(&[], &mut joined), "");
    }
}
