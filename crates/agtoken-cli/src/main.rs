#![forbid(unsafe_code)]
//! `agtoken`: mint any Agora token, inspect any token, explain why a token is refused, and
//! run the token server. Thin over the `agtoken` library and the `agtoken-server` crate.
//!
//! Exit codes: 0 success (token admitted), 1 token refused or unreadable, 2 bad usage or input.

mod bench;
mod cli;
mod examine;
mod mint;
mod output;

use std::process::ExitCode;

use clap::FromArgMatches;

use cli::{Cli, Command};

/// Exit code: the token would be refused, or could not be read.
pub const EXIT_REFUSED: u8 = 1;
/// Exit code: bad usage or input (clap uses the same for argument errors).
pub const EXIT_USAGE: u8 = 2;

/// An error that ends the command, with its exit code.
#[derive(Debug)]
pub struct Failure {
    /// Exit code.
    pub code: u8,
    /// Message for standard error.
    pub message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Failure { code: EXIT_USAGE, message: message.into() }
    }
    fn refused(message: impl Into<String>) -> Self {
        Failure { code: EXIT_REFUSED, message: message.into() }
    }
}

/// A library error met while minting: said in flags ([`output::cli_error`]).
impl From<agtoken::Error> for Failure {
    fn from(e: agtoken::Error) -> Self {
        Failure::usage(output::cli_error(&e, output::now()))
    }
}

fn main() -> ExitCode {
    let matches = cli::command().try_get_matches().unwrap_or_else(|e| suggest_subcommand(e).exit());
    let result = match mint::find(&matches) {
        Some((info, flags)) => mint::mint(info, flags),
        None => run(Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("agtoken: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// The commands written in `cli.rs`.
fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Build(args) => mint::build_spec(args),
        Command::Inspect(args) => examine::inspect(args),
        Command::Verify(args) => examine::verify(args),
        Command::Upgrade(args) => examine::upgrade(args),
        Command::Bench(args) => bench::run(args),
        Command::Serve(args) => serve(args),
        Command::Healthcheck(args) => healthcheck(args),
        Command::ApiKey(args) => api_key(args),
    }
}

/// Subcommand typos ranked by edit distance with transpositions (`rct` → `rtc`): clap ranks by
/// Jaro similarity, which misses the commonest slip, two swapped letters in a short name.
fn suggest_subcommand(mut error: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if error.kind() != ErrorKind::InvalidSubcommand {
        return error;
    }
    let Some(ContextValue::String(typed)) = error.get(ContextKind::InvalidSubcommand).cloned() else {
        return error;
    };
    // The command whose subcommand was mistyped: follow the valid names before it.
    let mut command = cli::command();
    for arg in std::env::args().skip(1).take_while(|a| *a != typed) {
        match command.find_subcommand(&arg) {
            Some(sub) => command = sub.clone(),
            None => break,
        }
    }
    let names: Vec<&str> = command.get_subcommands().map(|c| c.get_name()).filter(|n| *n != "help").collect();
    let ours = closest(&typed, &names);
    if !ours.is_empty() {
        error.insert(ContextKind::SuggestedSubcommand, ContextValue::Strings(ours));
    }
    error
}

/// The names within a small edit distance of `typed` (Damerau: a transposition counts one),
/// the closest first.
fn closest(typed: &str, names: &[&str]) -> Vec<String> {
    let limit = (typed.chars().count() / 3).max(1);
    let mut ranked: Vec<(usize, &str)> =
        names.iter().map(|n| (edit_distance(typed, n), *n)).filter(|(d, _)| *d <= limit).collect();
    ranked.sort();
    let best = ranked.first().map(|(d, _)| *d);
    ranked.into_iter().filter(|(d, _)| Some(*d) == best).map(|(_, n)| n.to_owned()).collect()
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and transpositions
/// of adjacent characters, case-insensitive.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

fn serve(args: cli::ServeArgs) -> Result<(), Failure> {
    let options =
        agtoken_server::ServeOptions { host: args.host, port: args.port, config: args.config, log_json: args.log_json };
    if args.check_config {
        // The same message and exit code as `serve` stopping on this configuration.
        let (config, summary) =
            agtoken_server::check_config(&options).map_err(|e| Failure { code: 1, message: e.to_string() })?;
        for warning in &config.warnings {
            eprintln!("agtoken: warning: {warning}");
        }
        println!("{summary}");
        return Ok(());
    }
    agtoken_server::serve_blocking(options).map_err(|e| {
        let hint = match &e {
            agtoken_server::ServerError::Bind { addr, source } if source.kind() == std::io::ErrorKind::AddrInUse => {
                let port = addr.rsplit(':').next().unwrap_or("PORT");
                format!(
                    "\n  another process is listening on port {port}: give another port (--port 9000, or set \
                     PORT / SERVER_PORT), or stop that process (`ss -ltnp 'sport = :{port}'` shows which)"
                )
            }
            agtoken_server::ServerError::Bind { source, .. }
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                "\n  ports below 1024 need privileges: give a port of 1024 or above (--port 8080, or set PORT)"
                    .to_owned()
            }
            _ => String::new(),
        };
        Failure { code: 1, message: format!("{e}{hint}") }
    })
}

/// Exit 0 when ready, else 1 (never 2: Docker reserves it in HEALTHCHECKs), whatever failed.
fn healthcheck(args: cli::HealthcheckArgs) -> Result<(), Failure> {
    let text = args.timeout.trim();
    let timeout = text
        .parse::<u64>()
        .map(std::time::Duration::from_secs)
        .or_else(|_| humantime::parse_duration(text))
        .ok()
        .filter(|t| !t.is_zero())
        .ok_or_else(|| Failure::refused(format!("--timeout {:?}: a duration such as 3s, 500ms or 2", args.timeout)))?;
    let options =
        agtoken_server::ServeOptions { host: args.host, port: args.port, config: args.config, log_json: false };
    match agtoken_server::health::check_blocking(&options, timeout) {
        Ok(line) => {
            println!("{line}");
            Ok(())
        }
        Err(e) => Err(Failure::refused(e.to_string())),
    }
}

/// The key goes to stdout (for the caller's secret store); the configuration entry, which
/// holds only the hash, to stderr with a note. The key itself is kept nowhere.
fn api_key(args: cli::ApiKeyArgs) -> Result<(), Failure> {
    let name = args.name.trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(Failure::usage("--name: letters, digits, '-', '_' and '.' only, not empty"));
    }
    let (key, sha256) = agtoken_server::auth::generate_api_key();
    eprintln!("agtoken: give the key below to the caller (it is shown once and stored nowhere);");
    eprintln!("agtoken: add this entry to the app in the server's TOML configuration:");
    eprintln!();
    eprintln!("[[apps.api_keys]]");
    eprintln!("name = \"{name}\"");
    eprintln!("sha256 = \"{sha256}\"");
    eprintln!();
    println!("{key}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The minting subcommands are the library's requests (`Request::INFO`: `command`, `flag`),
    /// each with a flag per field and `--v006` exactly where the request builds 006, and no
    /// other: clap's own consistency checks pass on the whole tree.
    #[test]
    fn every_library_request_has_its_subcommand_and_flags() {
        let cli = cli::command();
        cli.clone().debug_assert();
        for info in agtoken::Request::INFO {
            let mut command = &cli;
            for name in info.command {
                command = command
                    .find_subcommand(name)
                    .unwrap_or_else(|| panic!("{}: no subcommand `agtoken {}`", info.service, info.command.join(" ")));
            }
            let flags: Vec<&str> = command.get_arguments().filter_map(|a| a.get_long()).collect();
            for field in info.fields {
                assert!(flags.contains(&field.flag), "{}: no --{} ({flags:?})", info.service, field.flag);
            }
            assert_eq!(info.v006, flags.contains(&"v006"), "{}: --v006 iff the request builds 006", info.service);
            let about = command.get_about().map(|a| a.to_string()).unwrap_or_default();
            assert_eq!(about, info.doc.trim(), "{}: the library's description", info.service);
            for alias in info.command_aliases {
                assert!(cli.find_subcommand(alias).is_some(), "{}: alias {alias}", info.service);
            }
        }
        let not_minting = ["build", "inspect", "verify", "upgrade", "bench", "serve", "healthcheck", "api-key", "help"];
        let mut leaves = 0;
        for sub in cli.get_subcommands().filter(|c| !not_minting.contains(&c.get_name())) {
            let name = sub.get_name();
            let paths: Vec<Vec<&str>> = if sub.has_subcommands() {
                sub.get_subcommands().filter(|c| c.get_name() != "help").map(|c| vec![name, c.get_name()]).collect()
            } else {
                vec![vec![name]]
            };
            for path in paths {
                leaves += 1;
                assert!(
                    agtoken::Request::INFO.iter().any(|i| i.command == path.as_slice()),
                    "`agtoken {}` is not a request of the library",
                    path.join(" ")
                );
            }
        }
        assert_eq!(leaves, agtoken::Request::INFO.len(), "one subcommand per request");
    }

    /// The flags of a command line, read into the library's typed request.
    fn request_of(args: &[&str]) -> Result<agtoken::Request, String> {
        let matches = cli::command().try_get_matches_from([&["agtoken"], args].concat()).map_err(|e| e.to_string())?;
        let (info, flags) = mint::find(&matches).ok_or("not a minting command")?;
        mint::request(info, flags).map_err(|f| f.message)
    }

    /// Any request the library describes mints from its required flags alone, with no code of
    /// its own here: each is read into the request its `service` names.
    #[test]
    fn every_request_reads_from_its_required_flags() {
        use agtoken::build::request::FieldType;
        for info in agtoken::Request::INFO {
            let mut args: Vec<String> = info.command.iter().map(|s| s.to_string()).collect();
            for field in info.fields.iter().filter(|f| f.required) {
                let value = match (field.ty, field.values.first()) {
                    (_, Some(v)) => v.flag.to_owned(),
                    (FieldType::Uint32 | FieldType::Int16, _) => "1".to_owned(),
                    (FieldType::Lifetime, _) => "1h".to_owned(),
                    (FieldType::Bool, _) => continue,
                    _ => "x".to_owned(),
                };
                args.push(format!("--{}", field.flag));
                args.push(value);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let request = request_of(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            assert_eq!(request.service(), info.service, "{args:?}");
        }
    }

    /// The command line's spellings and defaults become the request's: `publish-mix` is
    /// `publish_mix_stream`, durations are seconds, neither --uid nor --account is any user
    /// (uid 0), the role defaults to publisher, 006's attendee is a publisher with --v006 only.
    #[test]
    fn flags_read_into_the_typed_request() {
        let r = request_of(&["streaming", "--channel", "c", "--account", "a", "--privilege", "publish-mix"]).unwrap();
        let json = r#"{"service":"streaming","channel":"c","account":"a","privileges":["publish_mix_stream"]}"#;
        assert_eq!(r, serde_json::from_str(json).unwrap());
        let r =
            request_of(&["rtc", "--channel", "c", "--join-valid-for", "1h", "--rtm-valid-for", "unlimited"]).unwrap();
        let json = r#"{"service":"rtc","channel":"c","uid":0,"role":"publisher","join_expire":3600,
                       "rtm_login_expire":"unlimited"}"#;
        assert_eq!(r, serde_json::from_str(json).unwrap());
        let r = request_of(&["rtc", "--channel", "c", "--account", "alice", "--role", "subscriber"]).unwrap();
        assert_eq!(r, serde_json::from_str(r#"{"service":"rtc","channel":"c","account":"alice","role":2}"#).unwrap());
        let r = request_of(&["rtc", "--channel", "c", "--role", "attendee", "--v006"]).unwrap();
        assert_eq!(r.role(), Some(agtoken::Role::Publisher));
        let e = request_of(&["rtc", "--channel", "c", "--role", "admin"]).unwrap_err();
        assert!(e.contains("--role attendee and admin exist only in 006 tokens (add --v006)"), "{e}");
        // An agent builds only 007: 006's roles are not offered.
        let e = request_of(&["convoai", "--channel", "c", "--rtm-user", "a", "--role", "admin"]).unwrap_err();
        assert!(e.contains("invalid value 'admin'"), "{e}");
        let e = request_of(&["rtc", "--channel", "c", "--uid", "1", "--account", "a"]).unwrap_err();
        assert!(e.contains("cannot be used with"), "{e}");
        let r = request_of(&["apaas", "room-user", "--room", "r", "--user", "u", "--role", "-1", "--node-compatible"]);
        let json = r#"{"service":"apaas","room_uuid":"r","user_uuid":"u","apaas_role":-1,"node_compatible":true}"#;
        assert_eq!(r.unwrap(), serde_json::from_str(json).unwrap());
    }

    #[test]
    fn transpositions_count_one() {
        assert_eq!(edit_distance("rct", "rtc"), 1);
        assert_eq!(edit_distance("rct", "rtm"), 2);
        assert_eq!(edit_distance("verfy", "verify"), 1);
        assert_eq!(edit_distance("RTC", "rtc"), 0);
        let names = ["rtc", "rtm", "rtm2", "chat", "verify", "inspect"];
        assert_eq!(closest("rct", &names), ["rtc"]);
        assert_eq!(closest("rt", &names), ["rtc", "rtm"]);
        assert!(closest("zzzz", &names).is_empty());
    }
}
