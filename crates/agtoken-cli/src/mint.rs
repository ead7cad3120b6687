//! The minting commands: one per service, and `build --spec`.

use std::io::Read;

use agtoken::v007::{FcdnPrivilege, StreamingPrivilege};
use agtoken::{
    ApaasToken, AppCertificate, AppId, ChatToken, FcdnToken, FpaToken, Role, Role006, RtcToken, Rtm2Permissions,
    RtmToken, StreamingToken, Uid,
};

use crate::cli::{
    AgentArgs, ApaasCommand, BuildArgs, ChatCommand, Command, CommonArgs, FcdnPrivilegeArg, RoleArg, RtcArgs,
    StreamingPrivilegeArg, UidArgs,
};
use crate::output::{self, duration};
use crate::Failure;

/// Applies the options every builder shares, then builds with `$build`.
macro_rules! finish {
    ($builder:expr, $common:expr, $build:ident) => {{
        let common: &CommonArgs = $common;
        let mut b = $builder;
        if let Some(expiry) = output::expiry(common)? {
            b = b.expires(expiry);
        }
        if let Some(at) = &common.issued_at {
            b = b.issued_at(output::instant("issued-at", at)?);
        }
        if let Some(salt) = common.salt {
            b = b.salt(salt);
        }
        if common.unchecked {
            b = b.unchecked();
        }
        let token = b.$build()?;
        output::print_token(&token, common.json)
    }};
}

fn credentials(common: &CommonArgs) -> Result<(AppId, AppCertificate), Failure> {
    Ok((
        output::app_id(common.app_id.as_deref(), common.unchecked)?,
        output::certificate(common.app_certificate.as_deref(), common.unchecked)?,
    ))
}

pub fn uid(who: &UidArgs) -> Uid {
    match (&who.uid, &who.account) {
        (Some(n), _) => Uid::Int(*n),
        (None, Some(a)) => Uid::Account(a.clone()),
        (None, None) => Uid::Any,
    }
}

fn role(role: RoleArg) -> Role006 {
    match role {
        RoleArg::Publisher => Role006::Publisher,
        RoleArg::Subscriber => Role006::Subscriber,
        RoleArg::Attendee => Role006::Attendee,
        RoleArg::Admin => Role006::Admin,
    }
}

fn rtc(args: RtcArgs) -> Result<(), Failure> {
    let (app, cert) = credentials(&args.common)?;
    if !args.v006 && matches!(args.role, RoleArg::Attendee | RoleArg::Admin) {
        return Err(Failure::usage("--role attendee and admin exist only in 006 tokens (add --v006), use publisher"));
    }
    let mut b =
        RtcToken::builder(&app, &cert).channel(&args.channel).uid(uid(&args.who)).role(Role::from(role(args.role)));
    let optional = [
        ("privileges-valid-for", &args.privileges_valid_for),
        ("join-valid-for", &args.join_valid_for),
        ("publish-audio-valid-for", &args.publish_audio_valid_for),
        ("publish-video-valid-for", &args.publish_video_valid_for),
        ("publish-data-valid-for", &args.publish_data_valid_for),
    ];
    for (flag, value) in optional {
        let Some(text) = value else { continue };
        let e = duration(flag, text)?;
        b = match flag {
            "privileges-valid-for" => b.privileges_expire(e),
            "join-valid-for" => b.join_expires(e),
            "publish-audio-valid-for" => b.publish_audio_expires(e),
            "publish-video-valid-for" => b.publish_video_expires(e),
            _ => b.publish_data_expires(e),
        };
    }
    if let Some(user) = &args.with_rtm {
        let login = args.rtm_valid_for.as_deref().map(|t| duration("rtm-valid-for", t)).transpose()?;
        b = b.with_rtm(user, login);
    }
    if args.v006 {
        finish!(b, &args.common, build_v006)
    } else {
        finish!(b, &args.common, build)
    }
}

fn agent(args: AgentArgs, convoai: bool) -> Result<(), Failure> {
    let (app, cert) = credentials(&args.common)?;
    let b = RtcToken::builder(&app, &cert)
        .channel(&args.channel)
        .uid(uid(&args.who))
        .role(Role::from(role(args.role)))
        .with_rtm(&args.rtm_user, None);
    let b = if convoai { b.with_convoai() } else { b.with_stt() };
    finish!(b, &args.common, build)
}

/// `--permission RESOURCE:PERMISSION:ITEM[,ITEM…]`, read by the library.
fn permission_table(entries: &[String]) -> Result<Rtm2Permissions, Failure> {
    let mut table = Rtm2Permissions::new();
    for entry in entries {
        table.add_entry(entry).map_err(|e| match e {
            agtoken::Error::Invalid { rule, .. } => Failure::usage(format!("--permission {entry:?}: {rule}")),
            other => Failure::from(other),
        })?;
    }
    Ok(table)
}

fn apaas(command: ApaasCommand) -> Result<(), Failure> {
    match command {
        ApaasCommand::RoomUser { room, user, role, node_compatible, common } => {
            let (app, cert) = credentials(&common)?;
            let b = ApaasToken::room_user(&app, &cert, room, user, role);
            finish!(if node_compatible { b.node_compatible() } else { b }, &common, build)
        }
        ApaasCommand::User { user, common } => {
            let (app, cert) = credentials(&common)?;
            finish!(ApaasToken::user(&app, &cert, user), &common, build)
        }
        ApaasCommand::App { common } => {
            let (app, cert) = credentials(&common)?;
            finish!(ApaasToken::app(&app, &cert), &common, build)
        }
    }
}

/// Every minting subcommand.
pub fn mint(command: Command) -> Result<(), Failure> {
    match command {
        Command::Rtc(args) => rtc(args),
        Command::Convoai(args) => agent(args, true),
        Command::Stt(args) => agent(args, false),
        Command::Rtm(args) => {
            let (app, cert) = credentials(&args.common)?;
            let b = RtmToken::builder(&app, &cert, &args.user);
            if args.v006 {
                finish!(b, &args.common, build_v006)
            } else {
                finish!(b, &args.common, build)
            }
        }
        Command::Rtm2(args) => {
            let (app, cert) = credentials(&args.common)?;
            let table = permission_table(&args.permissions)?;
            finish!(RtmToken::builder(&app, &cert, &args.user).permissions(table), &args.common, build)
        }
        Command::Chat(ChatCommand::User { user, common }) => {
            let (app, cert) = credentials(&common)?;
            finish!(ChatToken::user(&app, &cert, user), &common, build)
        }
        Command::Chat(ChatCommand::App { common }) => {
            let (app, cert) = credentials(&common)?;
            finish!(ChatToken::app(&app, &cert), &common, build)
        }
        Command::Fpa(common) => {
            let (app, cert) = credentials(&common)?;
            finish!(FpaToken::builder(&app, &cert), &common, build)
        }
        Command::Apaas(command) | Command::Education(command) => apaas(command),
        Command::Streaming(args) => {
            let (app, cert) = credentials(&args.common)?;
            let mut b = StreamingToken::builder(&app, &cert, &args.channel, &args.account);
            for p in args.privileges {
                let p = match p {
                    StreamingPrivilegeArg::PublishMix => StreamingPrivilege::PublishMixStream,
                    StreamingPrivilegeArg::PublishRaw => StreamingPrivilege::PublishRawStream,
                };
                b = b.streaming_privilege(p, None);
            }
            finish!(b, &args.common, build)
        }
        Command::Fcdn(args) => {
            let (app, cert) = credentials(&args.common)?;
            let mut b = FcdnToken::builder(&app, &cert, &args.channel, &args.account);
            for p in args.privileges {
                let p = match p {
                    FcdnPrivilegeArg::Publish => FcdnPrivilege::Publish,
                    FcdnPrivilegeArg::Play => FcdnPrivilege::Play,
                };
                b = b.fcdn_privilege(p, None);
            }
            finish!(b, &args.common, build)
        }
        Command::Build(_)
        | Command::Inspect(_)
        | Command::Verify(_)
        | Command::Upgrade(_)
        | Command::Bench(_)
        | Command::Serve(_)
        | Command::Healthcheck(_)
        | Command::ApiKey(_) => {
            unreachable!("dispatched in main")
        }
    }
}

/// `build --spec FILE|-`: any structure from its JSON form; the token is the last line of stdout.
pub fn build_spec(args: BuildArgs) -> Result<(), Failure> {
    let mut text = String::new();
    if args.spec.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure::usage(format!("reading the spec from stdin: {e}")))?;
    } else {
        text = std::fs::read_to_string(&args.spec)
            .map_err(|e| Failure::usage(format!("reading {}: {e}", args.spec.display())))?;
    }
    let mut value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Failure::usage(format!("the spec is not valid JSON: {e}")))?;
    // What `inspect --json` adds beside the structure (times for people) is not part of it.
    if let Some(spec) = value.as_object_mut() {
        spec.retain(|key, _| !crate::examine::INSPECT_ANNOTATIONS.contains(&key.as_str()));
    }
    // The spec's own field names are the ones to show here.
    let spec = agtoken::spec::read(&value.to_string()).map_err(|e| Failure::usage(e.to_string()))?;
    // Without a certificate of its own (`inspect --json` gives none), the one of every command.
    let certificate = match spec.app_certificate {
        Some(certificate) => certificate,
        None => output::certificate_text(args.app_certificate.as_deref())
            .map(|(text, _)| AppCertificate::unchecked(text))
            .map_err(|_| {
                Failure::usage(
                    "app_certificate: missing: put \"app_certificate\" in the spec, give --app-certificate or set \
                     AGORA_APP_CERTIFICATE (or APP_CERTIFICATE)",
                )
            })?,
    };
    let token = spec.structure.encode(&certificate).map_err(|e| Failure::usage(e.to_string()))?;
    println!("{token}");
    Ok(())
}
