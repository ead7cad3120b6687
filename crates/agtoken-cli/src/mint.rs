//! The minting commands, built at run time from the library's description of its requests
//! (`agtoken::Request::INFO`: subcommand, flags, types, docs), and `build --spec`. A new kind of
//! request in the library is a new subcommand here with no edit: its flags are read into the
//! library's typed [`Request`] and built by [`Request::build`].

use std::io::Read;

use agtoken::build::request::{FieldInfo, FieldType, RequestInfo, ValueInfo};
use agtoken::{AppCertificate, AppId, Expiry, Request, RequestOptions, Uid, Version};
use clap::builder::PossibleValue;
use clap::{Arg, ArgAction, ArgGroup, ArgMatches, Args, FromArgMatches};
use serde_json::{Map, Value};

use crate::cli::{parse_uid, BuildArgs, CommonArgs, UidArgs};
use crate::output;
use crate::Failure;

fn credentials(common: &CommonArgs) -> Result<(AppId, AppCertificate), Failure> {
    Ok((
        output::app_id(common.app_id.as_deref(), common.unchecked)?,
        output::certificate(common.app_certificate.as_deref(), common.unchecked)?,
    ))
}

/// The uid of `--uid`/`--account`; neither is any user.
pub fn uid(who: &UidArgs) -> Uid {
    match (&who.uid, &who.account) {
        (Some(n), _) => Uid::Int(*n),
        (None, Some(a)) => Uid::Account(a.clone()),
        (None, None) => Uid::Any,
    }
}

/// Whether a request names its user as the pair `uid` (integer) / `account` (string), of which
/// the command line takes at most one and neither means any user.
fn has_uid_pair(info: &RequestInfo) -> bool {
    ["uid", "account"].iter().all(|name| info.fields.iter().any(|f| f.name == *name))
}

/// The values a field offers on this request's command line (006-only ones where it builds 006).
fn offered<'a>(info: &RequestInfo, field: &'a FieldInfo) -> impl Iterator<Item = &'a ValueInfo> {
    let v006 = info.v006;
    field.values.iter().filter(move |v| v006 || !v.v006_only)
}

/// `--channel`, `--uid`, …: one flag per field of the request, typed and documented as the
/// library says.
fn field_arg(info: &RequestInfo, field: &FieldInfo) -> Arg {
    let value_name = field.flag.to_uppercase().replace('-', "_");
    let mut arg = Arg::new(field.name).long(field.flag).help(field.doc.trim()).value_name(value_name);
    if !field.values.is_empty() {
        let values: Vec<PossibleValue> =
            offered(info, field).map(|v| PossibleValue::new(v.flag).help(v.doc.trim())).collect();
        arg = arg.value_parser(values);
    }
    arg = match field.ty {
        FieldType::Text | FieldType::Role => arg,
        FieldType::Uint32 if field.name == "uid" => arg.value_parser(parse_uid).allow_negative_numbers(true),
        FieldType::Uint32 => arg.value_parser(clap::value_parser!(u32)),
        FieldType::Int16 => arg.value_parser(clap::value_parser!(i16)).allow_negative_numbers(true),
        FieldType::Bool => arg.action(ArgAction::SetTrue),
        FieldType::TextList => arg.action(ArgAction::Append),
        FieldType::Lifetime => arg.value_name("DURATION"),
    };
    if let Some(default) = field.flag_default {
        arg = arg.default_value(default);
    }
    arg.required(field.required && field.ty != FieldType::Bool)
}

/// The subcommand of one request: its fields' flags, `--v006` where it builds 006, and the
/// options every minting command shares.
fn leaf(name: &'static str, info: &RequestInfo) -> clap::Command {
    let mut command = clap::Command::new(name);
    for field in info.fields {
        command = command.arg(field_arg(info, field));
    }
    if has_uid_pair(info) {
        command = command.group(ArgGroup::new("who").args(["uid", "account"]).multiple(false));
    }
    if info.v006 {
        command =
            command.arg(Arg::new("v006").long("v006").action(ArgAction::SetTrue).help("Make a legacy 006 token."));
    }
    // After the shared options, whose own doc would otherwise describe the command.
    CommonArgs::augment_args(command).about(info.doc.trim()).long_about(None)
}

/// Every minting subcommand, in the library's order: `rtc`, …, and groups such as `chat` with
/// `user` and `app` (with their aliases, as `education` for `apaas`).
pub fn commands() -> Vec<clap::Command> {
    let root = Request::INFO.iter().fold(clap::Command::new("agtoken"), |root, info| add(root, info.command, info));
    root.get_subcommands().cloned().collect()
}

/// `command` with the request's subcommand at `path` below it, making the groups on the way.
fn add(command: clap::Command, path: &'static [&'static str], info: &RequestInfo) -> clap::Command {
    // The aliases belong to the first word.
    let aliases = |name: &str| if name == info.command[0] { info.command_aliases } else { &[] };
    match path {
        [] => command,
        [name] => command.subcommand(leaf(name, info).visible_aliases(aliases(name))),
        [group, rest @ ..] if command.find_subcommand(group).is_some() => {
            command.mut_subcommand(group, |g| add(g, rest, info))
        }
        [group, rest @ ..] => {
            // "Chat: act as one user." → "Chat tokens."
            let product = info.doc.split(':').next().unwrap_or(group).trim();
            let new = clap::Command::new(*group)
                .about(format!("{product} tokens."))
                .visible_aliases(aliases(group))
                .subcommand_required(true)
                .arg_required_else_help(true);
            command.subcommand(add(new, rest, info))
        }
    }
}

/// The request a minting subcommand asks for, and the matches of its own flags; `None` for
/// the other commands.
pub fn find(matches: &ArgMatches) -> Option<(&'static RequestInfo, &ArgMatches)> {
    let mut path = Vec::new();
    let mut current = matches;
    while let Some((name, sub)) = current.subcommand() {
        path.push(name);
        current = sub;
    }
    let info = Request::INFO.iter().find(|i| i.command == path.as_slice())?;
    Some((info, current))
}

/// A lifetime flag's value as a request takes it: seconds, or "unlimited".
fn lifetime(flag: &str, text: &str) -> Result<Value, Failure> {
    match output::duration(flag, text)? {
        Expiry::Unlimited => Ok(Value::from("unlimited")),
        Expiry::After(d) => Ok(Value::from(d.as_secs())),
        Expiry::At(t) => Err(Failure::usage(format!("--{flag}: a duration, not an instant ({t})"))),
    }
}

/// The request of a subcommand's flags: their values in JSON's spelling, read by the library.
pub fn request(info: &RequestInfo, matches: &ArgMatches) -> Result<Request, Failure> {
    let v006 = info.v006 && matches.get_flag("v006");
    let mut map = Map::new();
    map.insert("service".into(), info.service.into());
    let spelled = |field: &FieldInfo, flag_value: &str| -> Result<Value, Failure> {
        let Some(value) = field.values.iter().find(|v| v.flag == flag_value) else {
            return Ok(flag_value.into());
        };
        if value.v006_only && !v006 {
            let only: Vec<&str> = field.values.iter().filter(|v| v.v006_only).map(|v| v.flag).collect();
            return Err(Failure::usage(format!(
                "--{} {} exist only in 006 tokens (add --v006), use {}",
                field.flag,
                only.join(" and "),
                value.name
            )));
        }
        Ok(value.name.into())
    };
    for field in info.fields {
        let id = field.name;
        let value = match field.ty {
            FieldType::Bool => matches.get_flag(id).then_some(Value::Bool(true)),
            FieldType::Uint32 => matches.get_one::<u32>(id).map(|n| Value::from(*n)),
            FieldType::Int16 => matches.get_one::<i16>(id).map(|n| Value::from(*n)),
            FieldType::Text => matches.get_one::<String>(id).map(|t| Value::from(t.as_str())),
            FieldType::Role => matches.get_one::<String>(id).map(|t| spelled(field, t)).transpose()?,
            FieldType::TextList => match matches.get_many::<String>(id) {
                Some(items) => Some(Value::Array(items.map(|t| spelled(field, t)).collect::<Result<_, _>>()?)),
                None => None,
            },
            FieldType::Lifetime => matches.get_one::<String>(id).map(|t| lifetime(field.flag, t)).transpose()?,
        };
        if let Some(value) = value {
            map.insert(field.name.into(), value);
        }
    }
    // Neither --uid nor --account: any user (uid 0, stored as "").
    if has_uid_pair(info) && !map.contains_key("uid") && !map.contains_key("account") {
        map.insert("uid".into(), 0.into());
    }
    serde_json::from_value(Value::Object(map)).map_err(|e| Failure::usage(format!("{}: {e}", info.command.join(" "))))
}

/// Runs a minting subcommand: its request, built with the shared options, printed.
pub fn mint(info: &RequestInfo, matches: &ArgMatches) -> Result<(), Failure> {
    let common = CommonArgs::from_arg_matches(matches).map_err(|e| Failure::usage(e.to_string()))?;
    let request = request(info, matches)?;
    let (app, cert) = credentials(&common)?;
    let options = RequestOptions {
        version: if info.v006 && matches.get_flag("v006") { Version::V006 } else { Version::V007 },
        expiry: output::expiry(&common)?,
        issued_at: common.issued_at.as_deref().map(|at| output::instant("issued-at", at)).transpose()?,
        salt: common.salt,
        unchecked: common.unchecked,
    };
    let token = request.build(&app, &cert, &options)?.encode(&cert)?;
    output::print_token(&token, common.json)
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
