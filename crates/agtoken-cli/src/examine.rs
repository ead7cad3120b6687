//! `inspect`, `verify` and `upgrade`: reading tokens and explaining them.

use std::fmt::Write as _;

use agtoken::v006::Privilege006;
use agtoken::v007::{Privileges, RtcPrivilege, RtmPrivilege, Service};
use agtoken::{AccessToken2, Action, AppId, CertificateSet, Media, Token, Uid, UnixTime};
use serde_json::json;

use crate::cli::{ActionArg, InspectArgs, UpgradeArgs, VerifyArgs};
use crate::mint::uid;
use crate::output::{self, rfc3339, when};
use crate::Failure;

fn parse(text: &str) -> Result<Token, Failure> {
    Token::parse(text).map_err(|e| {
        let agora = e.agora_error().map(|a| format!("\n  Agora would answer: {a}")).unwrap_or_default();
        Failure::refused(format!("{}{agora}", output::refusal(&e, output::now())))
    })
}

/// Whether a 006 token was made for `given` (a channel, or a packed uid): `Some(true)` also
/// for a wildcard token (made for `""`, it admits any); `None` when nothing was given.
fn matches_006(given: Option<&str>, matches: impl Fn(&str) -> bool) -> Option<bool> {
    given.map(|g| matches(g) || matches(""))
}

/// The headline: what the token admits and until when, from the library's grants, the same
/// computation as for a verified token (inspect has no certificate: it verifies nothing).
fn headline(out: &mut String, token: &Token, channel: Option<&str>, uid: Option<&str>, now: UnixTime) {
    let grants = token.claimed_grants(channel.unwrap_or(""), uid.unwrap_or(""));
    let mut admits: Vec<(&str, Vec<String>)> = Vec::new();
    for g in &grants {
        let name = g.capability.name().into_owned();
        match admits.iter_mut().find(|(class, _)| *class == g.class()) {
            Some((_, names)) if names.contains(&name) => {}
            Some((_, names)) => names.push(name),
            None => admits.push((g.class(), vec![name])),
        }
    }
    let admits: Vec<String> = admits.iter().map(|(class, names)| format!("{class}: {}", names.join(", "))).collect();
    let (Some(earliest), Some(latest)) = (grants.iter().map(|g| g.until).min(), grants.iter().map(|g| g.until).max())
    else {
        let _ = writeln!(out, "{:<13}nothing", "admits");
        return;
    };
    let _ = writeln!(out, "{:<13}{} (if the signature verifies: inspect checks none)", "admits", admits.join("; "));
    let mut first: Vec<String> = Vec::new();
    for g in grants.iter().filter(|g| g.until == earliest) {
        let name = g.capability.name().into_owned();
        if !first.contains(&name) {
            first.push(name);
        }
    }
    if earliest == latest {
        let _ = writeln!(out, "{:<13}{}: everything it admits ends then", "valid until", when(earliest, now));
    } else {
        let _ = writeln!(
            out,
            "{:<13}{}: {} ends first (renew by then)",
            "earliest end",
            when(earliest, now),
            first.join(", ")
        );
        let _ = writeln!(out, "{:<13}{}: the last of what it admits ends", "latest end", when(latest, now));
    }
}

fn privilege_lines(
    out: &mut String,
    kind: Option<agtoken::ServiceType>,
    privileges: &Privileges,
    issued: u64,
    now: UnixTime,
) {
    for (&id, &value) in privileges {
        let name = kind.and_then(|k| k.privilege_name(id)).unwrap_or("unknown privilege");
        let until = if value == 0 {
            "no limit of its own (the token's)".to_owned()
        } else {
            format!("{} s after issue → {}", value, when(UnixTime::from_secs(issued + value as u64), now))
        };
        let _ = writeln!(out, "    {id:>4} {name:<22} {until}");
    }
}

fn describe(token: &Token, channel: Option<&str>, uid_str: Option<&str>, now: UnixTime) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "version      {}",
        match token.version() {
            agtoken::Version::V007 => "007 (AccessToken2)",
            agtoken::Version::V006 => "006 (AccessToken, legacy)",
        }
    );
    let _ = writeln!(out, "app id       {}", token.app_id());
    headline(&mut out, token, channel, uid_str, now);
    match token {
        Token::V007(p) => {
            let t = p.structure();
            let issued = t.issued_at as u64;
            let _ = writeln!(out, "issued at    {}", when(UnixTime::from_secs(issued), now));
            let cap = match t.expire {
                0 => " (expire 0: Agora's 24 h cap)".to_owned(),
                e if e as u64 > agtoken::time::MAX_LIFETIME_SECS => format!(" (expire {e} s, capped by Agora at 24 h)"),
                e => format!(" (expire {e} s after issue)"),
            };
            let _ = writeln!(out, "token end    {}{cap}", when(token.expires_at(), now));
            let _ = writeln!(out, "salt         {}", t.salt);
            let _ = writeln!(out, "services     {}", t.services.len());
            for s in &t.services {
                let _ = writeln!(out, "  - {s}");
                privilege_lines(&mut out, s.service_type(), s.privileges(), issued, now);
            }
        }
        Token::V006(t) => {
            let _ = writeln!(
                out,
                "issued at    ~{} (not stored: ts - 24 h, as the reference sets ts)",
                when(token.issued_at(), now)
            );
            let _ = writeln!(out, "token end    {} (ts; a privilege may end sooner)", when(token.expires_at(), now));
            let _ = writeln!(out, "salt         {}", t.salt());
            let check = |name: &str, crc: u32, given: Option<&str>, wildcard: bool, matches: Option<bool>| match (
                given, matches,
            ) {
                _ if wildcard => format!("{name:<12} any: the token was made for \"\" (CRC-32 {crc:08x})"),
                (None, _) | (_, None) => format!(
                    "{name:<12} only its CRC-32 is in a 006 token: {crc:08x} (pass --{} to check one)",
                    if name == "channel" { "channel" } else { "uid/--account" }
                ),
                (Some(v), Some(true)) => format!("{name:<12} {v:?} matches the CRC-32 {crc:08x}"),
                (Some(v), Some(false)) => format!(
                    "{name:<12} {v:?} does NOT match the CRC-32 {crc:08x}: the token was made for another {name}"
                ),
            };
            let channel_ok = matches_006(channel, |c| t.channel_matches(c));
            let uid_ok = matches_006(uid_str, |u| t.uid_matches(u));
            let _ =
                writeln!(out, "{}", check("channel", t.crc_channel_name(), channel, t.channel_matches(""), channel_ok));
            let _ = writeln!(out, "{}", check("uid", t.crc_uid(), uid_str, t.uid_matches(""), uid_ok));
            let _ = writeln!(out, "privileges");
            for (&id, &value) in t.privileges() {
                let name = Privilege006::from_id(id).map_or("unknown privilege", Privilege006::name);
                let until =
                    if value == 0 { "no expiry".to_owned() } else { when(UnixTime::from_secs(value as u64), now) };
                let _ = writeln!(out, "    {id:>4} {name:<22} {until}");
            }
        }
    }
    out
}

/// The keys `inspect --json` adds to the structure (times for people); `build --spec` drops them.
pub const INSPECT_ANNOTATIONS: &[&str] = &[
    "issued_at_utc",
    "expires_at_utc",
    "expires_in",
    "earliest_end",
    "earliest_end_utc",
    "latest_end",
    "latest_end_utc",
];

/// `inspect TOKEN [--json]`.
pub fn inspect(args: InspectArgs) -> Result<(), Failure> {
    let text = output::token_text(&args.token)?;
    let token = parse(&text)?;
    let now = match &args.at {
        Some(t) => output::instant("at", t)?,
        None => output::now(),
    };
    let who = uid(&args.who);
    let uid_str = (args.who.uid.is_some() || args.who.account.is_some()).then(|| who.packed().into_owned());
    if args.json {
        let mut value = json!(agtoken::spec::describe(&token, args.channel.as_deref(), uid_str.as_deref()));
        if let Token::V007(p) = &token {
            if p.unknown_services().next().is_some() {
                eprintln!("agtoken: note: the token holds a service type this tool does not know; its bytes are kept");
            }
        }
        value["issued_at_utc"] = json!(rfc3339(token.issued_at()));
        value["expires_at_utc"] = json!(rfc3339(token.expires_at()));
        value["expires_in"] = json!(token.expires_at().as_secs() as i64 - now.as_secs() as i64);
        let grants = token.claimed_grants(args.channel.as_deref().unwrap_or(""), uid_str.as_deref().unwrap_or(""));
        let ends: Vec<UnixTime> = grants.iter().map(|g| g.until).collect();
        for (key, end) in [("earliest_end", ends.iter().min()), ("latest_end", ends.iter().max())] {
            value[key] = json!(end.map(|t| t.as_secs()));
            value[format!("{key}_utc")] = json!(end.map(|t| rfc3339(*t)));
        }
        output::print_json(&value);
    } else {
        print!("{}", describe(&token, args.channel.as_deref(), uid_str.as_deref(), now));
    }
    // A 006 token checked against an identity it was not made for: refused, as verify says.
    if let Token::V006(t) = &token {
        let mut wrong = Vec::new();
        if let (Some(channel), Some(false)) =
            (&args.channel, matches_006(args.channel.as_deref(), |c| t.channel_matches(c)))
        {
            wrong.push(format!("channel {channel:?}"));
        }
        if let (Some(uid), Some(false)) = (&uid_str, matches_006(uid_str.as_deref(), |u| t.uid_matches(u))) {
            wrong.push(format!("{} {uid:?}", if args.who.account.is_some() { "account" } else { "uid" }));
        }
        if !wrong.is_empty() {
            return Err(Failure::refused(format!(
                "the token was not made for {}: the CRC-32 in it does not match\n  Agora would answer: {}",
                wrong.join(" and "),
                agtoken::AgoraError::RTC_INVALID_TOKEN
            )));
        }
    }
    Ok(())
}

fn action(args: &VerifyArgs) -> Result<Option<Action>, Failure> {
    let kind = match (args.action, &args.channel, &args.user) {
        (Some(a), _, _) => a,
        (None, Some(_), _) => ActionArg::Join,
        (None, None, Some(_)) => ActionArg::RtmLogin,
        (None, None, None) => return Ok(None),
    };
    let channel = || args.channel.clone().ok_or_else(|| Failure::usage("--channel is needed for this action"));
    let user = || args.user.clone().ok_or_else(|| Failure::usage("--user is needed for this action"));
    let who = uid(&args.who);
    let publish = |media| Ok::<_, Failure>(Action::Publish { channel: channel()?, uid: who.clone(), media });
    Ok(Some(match kind {
        ActionArg::Join => Action::JoinChannel { channel: channel()?, uid: who.clone() },
        ActionArg::PublishAudio => publish(Media::Audio)?,
        ActionArg::PublishVideo => publish(Media::Video)?,
        ActionArg::PublishData => publish(Media::Data)?,
        ActionArg::RtmLogin => Action::RtmLogin { user_id: user()? },
        ActionArg::ChatLogin => Action::ChatLogin { user_id: user()? },
        ActionArg::ChatApp => Action::ChatApp,
    }))
}

fn describe_action(action: &Action) -> String {
    match action {
        Action::JoinChannel { channel, uid } => format!("join channel {channel:?} as {uid}"),
        Action::Publish { channel, uid, media } => {
            format!("publish {media:?} in channel {channel:?} as {uid}").to_lowercase()
        }
        Action::RtmLogin { user_id } => format!("RTM login as {user_id:?}"),
        Action::ChatLogin { user_id } => format!("Chat login as {user_id:?}"),
        Action::ChatApp => "Chat app access".into(),
    }
}

/// `verify TOKEN`: exit 0 when admitted, 1 with the reason when refused.
pub fn verify(args: VerifyArgs) -> Result<(), Failure> {
    let text = output::token_text(&args.token)?;
    let primary = output::certificate(args.app_certificate.as_deref(), false)?;
    let certificates = match output::certificate_opt(
        args.secondary_certificate.as_deref(),
        "--secondary-certificate",
        "AGORA_APP_CERTIFICATE_SECONDARY",
    )? {
        Some(secondary) => CertificateSet::with_secondary(primary, secondary),
        None => CertificateSet::new(primary),
    };
    let action = action(&args)?;
    let now = match &args.at {
        Some(t) => output::instant("at", t)?,
        None => output::now(),
    };
    let product = action.as_ref().map_or(agtoken::Product::Rtc, Action::product);
    let refuse = |e: agtoken::Error| {
        let agora = e.agora_error_for(product);
        let reason = output::refusal(&e, now);
        if args.json {
            output::print_json(&json!({
                "admitted": false,
                "reason": reason,
                "agora_code": agora.map(|a| a.code),
                "agora_name": agora.map(|a| a.name),
                "agora_meaning": agora.map(|a| a.meaning),
            }));
        }
        let agora = agora.map(|a| format!("\n  Agora would answer: {a}")).unwrap_or_default();
        Failure::refused(format!("refused: {reason}{agora}"))
    };
    let token = Token::parse(&text).map_err(refuse)?;
    let app_id = match output::app_id_opt(args.app_id.as_deref())? {
        Some(app) => app,
        None => AppId::unchecked(token.app_id())?,
    };
    let verified = match &action {
        Some(a) => token.verify_for(&certificates, a),
        None => token.verify(&certificates),
    }
    .map_err(|e| match e {
        agtoken::Error::IdentityRequired => {
            Failure::usage(format!("{e} (--channel and --uid/--account, or --user for RTM)"))
        }
        e => refuse(e),
    })?;
    let which = if verified.certificate_index() == 0 { "primary" } else { "secondary" };
    let Some(action) = action else {
        if args.json {
            output::print_json(&json!({"admitted": true, "signature_valid": true, "certificate": which}));
        } else {
            println!("signature valid ({which} certificate); give --channel/--uid or --user to check admission");
        }
        return Ok(());
    };
    let admission = verified.check(&app_id, &action, now).map_err(refuse)?;
    if args.json {
        output::print_json(&json!({
            "admitted": true,
            "certificate": which,
            "action": describe_action(&action),
            "expires_at": admission.expires_at.as_secs(),
            "expires_at_utc": rfc3339(admission.expires_at),
        }));
    } else {
        println!(
            "admitted: {} (signed with the {which} certificate); valid until {}",
            describe_action(&action),
            when(admission.expires_at, now)
        );
    }
    Ok(())
}

/// `upgrade TOKEN006`: the equivalent 007 token — same app, channel, uid and privileges,
/// issued now, with privilege deadlines converted from absolute times to seconds after issue.
pub fn upgrade(args: UpgradeArgs) -> Result<(), Failure> {
    let text = output::token_text(&args.token)?;
    let Token::V006(old) = parse(&text)? else {
        return Err(Failure::usage("upgrade takes a 006 token; this one is already 007"));
    };
    let cert = output::certificate(args.common.app_certificate.as_deref(), args.common.unchecked)?;
    let is_rtm = old.privileges().contains_key(&Privilege006::RtmLogin.id());
    let who = uid(&args.who);
    let (channel, uid_str) = if is_rtm {
        let user = args.user.clone().ok_or_else(|| {
            Failure::usage(
                "an RTM 006 token holds the user account only as CRC-32: give --user (the account it was made for)",
            )
        })?;
        (user, String::new())
    } else {
        // Everything missing in one message; a wildcard part (made for "") needs nothing.
        let uid_given = args.who.uid.is_some() || args.who.account.is_some();
        let missing: Vec<&str> = [
            (args.channel.is_none() && !old.channel_matches(""), "--channel (the channel it was made for)"),
            (!uid_given && !old.uid_matches(""), "--uid (0 for any user) or --account (the user it was made for)"),
        ]
        .into_iter()
        .filter_map(|(missing, flag)| missing.then_some(flag))
        .collect();
        if !missing.is_empty() {
            return Err(Failure::usage(format!(
                "a 006 token holds channel and uid only as CRC-32, and upgrade must sign them into the 007 token: \
                 give {}",
                missing.join(" and ")
            )));
        }
        (args.channel.clone().unwrap_or_default(), if uid_given { who.packed().into_owned() } else { String::new() })
    };
    // Verified for the claimed identity ("" where the token is a wildcard), which the 007 token keeps.
    let verified = Token::V006(old.clone())
        .verify_claimed(&CertificateSet::new(cert.clone()), &channel, &uid_str)
        .map_err(|e| Failure::refused(format!("the 006 token does not verify for that channel and uid: {e}")))?;
    let (channel, uid_str) = verified.identity_006().map(|(c, u)| (c.to_owned(), u.to_owned())).unwrap_or_default();
    let issued = match &args.common.issued_at {
        Some(t) => output::instant("issued-at", t)?,
        None => output::now(),
    };
    let relative = |abs: u32, what: &str| -> Result<u32, Failure> {
        if abs == 0 {
            return Ok(0);
        }
        (abs as u64).checked_sub(issued.as_secs()).filter(|s| *s > 0).map(|s| s as u32).ok_or_else(|| {
            Failure::refused(format!(
                "{what} expired at {}: nothing to upgrade",
                when(UnixTime::from_secs(abs as u64), issued)
            ))
        })
    };
    let expire = relative(old.ts(), "the token")?.min(agtoken::time::MAX_LIFETIME_SECS as u32);
    let mut rtc = Privileges::new();
    let mut rtm = Privileges::new();
    for (&id, &value) in old.privileges() {
        match Privilege006::from_id(id) {
            Some(Privilege006::RtmLogin) => {
                rtm.insert(RtmPrivilege::Login.id(), relative(value, "rtm_login")?);
            }
            Some(
                p @ (Privilege006::JoinChannel
                | Privilege006::PublishAudioStream
                | Privilege006::PublishVideoStream
                | Privilege006::PublishDataStream),
            ) => {
                let target = RtcPrivilege::from_id(p.id()).expect("ids 1-4 are RTC privileges in both formats");
                rtc.insert(target.id(), relative(value, p.name())?);
            }
            _ => eprintln!("agtoken: note: privilege {id} has no 007 equivalent and is dropped"),
        }
    }
    let salt = args.common.salt.unwrap_or_else(|| agtoken::SaltSource::salt(&agtoken::OsSalt));
    let issued_u32 = u32::try_from(issued.as_secs()).map_err(|_| {
        Failure::usage(format!("--issued-at {} does not fit the format's 32-bit time", issued.as_secs()))
    })?;
    let mut token = AccessToken2::new(old.app_id(), issued_u32, expire, salt);
    if !rtc.is_empty() {
        token.add_service(Service::Rtc { channel_name: channel.clone(), uid: uid_str, privileges: rtc });
    }
    if !rtm.is_empty() {
        token.add_service(Service::Rtm { user_id: channel, privileges: rtm });
    }
    let new = token.encode(&cert)?;
    if matches!(who, Uid::Account(_)) {
        eprintln!("agtoken: note: the client must keep joining with the string account");
    }
    output::print_token(&new, args.common.json)
}
