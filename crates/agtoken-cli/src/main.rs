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

use clap::Parser;

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

impl From<agtoken::Error> for Failure {
    fn from(e: agtoken::Error) -> Self {
        Failure::usage(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build(args) => mint::build_spec(args),
        Command::Inspect(args) => examine::inspect(args),
        Command::Verify(args) => examine::verify(args),
        Command::Upgrade(args) => examine::upgrade(args),
        Command::Bench(args) => bench::run(args),
        Command::Serve(args) => serve(args),
        Command::Healthcheck(args) => healthcheck(args),
        Command::ApiKey(args) => api_key(args),
        other => mint::mint(other),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("agtoken: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

fn serve(args: cli::ServeArgs) -> Result<(), Failure> {
    let options =
        agtoken_server::ServeOptions { host: args.host, port: args.port, config: args.config, log_json: args.log_json };
    agtoken_server::serve_blocking(options).map_err(|e| Failure { code: 1, message: e.to_string() })
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
