//! The command line, declared with clap: the commands written here, and the minting commands
//! built from the library's description ([`command`]).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Mint, inspect and verify Agora tokens (AccessToken2 "007" and AccessToken "006"), and run
/// the token server.
///
/// Credentials come from --app-id/--app-certificate, else AGORA_APP_ID/AGORA_APP_CERTIFICATE,
/// else APP_ID/APP_CERTIFICATE (or APP_CERT). The certificate is never printed. Tokens go to stdout, notes to
/// stderr. Exit codes: 0 ok, 1 token refused or unreadable, 2 bad usage or input.
#[derive(Parser, Debug)]
#[command(name = "agtoken", version, about, long_about = None, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The commands written here; the minting commands (`rtc`, `chat user`, …) are built at run
/// time from the library's description of its requests ([`command`], `mint.rs`).
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Build any structure from its JSON form (the `inspect --json` form plus "version" and
    /// "app_certificate"). Encodes whatever the format allows: no Agora-rule checks.
    Build(BuildArgs),
    /// Show every field of a token (no certificate needed).
    Inspect(InspectArgs),
    /// Check a token's signature and whether Agora would admit an action.
    Verify(VerifyArgs),
    /// Turn a 006 token into the equivalent 007 token.
    Upgrade(UpgradeArgs),
    /// Measure tokens per second on this machine (one core), like `openssl speed`.
    Bench(BenchArgs),
    /// Run the token server (configured by options, environment, .env or a TOML file; demo mode
    /// without any).
    #[command(after_help = "The environment it reads and demo mode: agtoken help serve", after_long_help = SERVE_HELP)]
    Serve(ServeArgs),
    /// Ask a running server on this host whether it is ready (GET /readyz): exit 0 when it
    /// answers 200, else 1. For container HEALTHCHECKs and probes (no shell or curl needed).
    ///
    /// It finds the server as `serve` would listen: --host/--port/--config, else AGTOKEN_HOST,
    /// SERVER_PORT/PORT, AGTOKEN_CONFIG, `.env` and the TOML file. A wildcard address (0.0.0.0,
    /// ::) is checked on loopback. With TLS configured it speaks HTTPS and trusts exactly the
    /// configured certificate (AGTOKEN_TLS_CERT_FILE / tls_cert_file).
    Healthcheck(HealthcheckArgs),
    /// Make a new API key for `agtoken serve` (auth = "api_key"): the key for the caller, and
    /// the configuration entry holding only its SHA-256.
    ApiKey(ApiKeyArgs),
}

#[derive(Args, Debug)]
pub struct ApiKeyArgs {
    /// The key's name, as policy rules refer to it.
    #[arg(long)]
    pub name: String,
}

/// Options of every minting command.
#[derive(Args, Debug, Clone)]
pub struct CommonArgs {
    /// App id (32 hex characters) [env: AGORA_APP_ID, APP_ID].
    #[arg(long)]
    pub app_id: Option<String>,
    /// App certificate (32 hex characters) [env: AGORA_APP_CERTIFICATE, APP_CERTIFICATE,
    /// APP_CERT]. Prefer the environment: command lines are visible to other users.
    #[arg(long)]
    pub app_certificate: Option<String>,
    /// How long the token is valid: 3600, 90s, 30m, 1h, or "unlimited" (stored as 0).
    #[arg(long, value_name = "DURATION", conflicts_with = "expires_at")]
    pub valid_for: Option<String>,
    /// Valid until this instant: Unix seconds or RFC 3339 (2026-01-01T12:00:00Z).
    #[arg(long, value_name = "TIME")]
    pub expires_at: Option<String>,
    /// Issue time (Unix seconds or RFC 3339), for reproducible tokens. Default: now.
    #[arg(long, value_name = "TIME")]
    pub issued_at: Option<String>,
    /// Salt, for reproducible tokens. Default: random in 1..=99999999.
    #[arg(long)]
    pub salt: Option<u32>,
    /// Skip Agora's documented input rules (build what the official libraries would).
    #[arg(long)]
    pub unchecked: bool,
    /// Print JSON: token, version, times and structure.
    #[arg(long)]
    pub json: bool,
}

/// Who joins: an integer uid or a string account.
#[derive(Args, Debug, Clone)]
#[group(required = false, multiple = false)]
pub struct UidArgs {
    /// Integer uid, 0..=4294967295 (0 = any uid).
    #[arg(long, value_parser = parse_uid, allow_negative_numbers = true)]
    pub uid: Option<u32>,
    /// String user account (a different identity from an integer uid with the same digits).
    #[arg(long)]
    pub account: Option<String>,
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// The JSON spec: a file, or - for stdin.
    #[arg(long, value_name = "FILE")]
    pub spec: PathBuf,
    /// The certificate to sign with when the spec has no "app_certificate" [env:
    /// AGORA_APP_CERTIFICATE, APP_CERTIFICATE, APP_CERT].
    #[arg(long)]
    pub app_certificate: Option<String>,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The token, or - to read it from stdin.
    pub token: String,
    /// 006: the channel to check against the CRC in the token (and show in --json).
    #[arg(long)]
    pub channel: Option<String>,
    #[command(flatten)]
    pub who: UidArgs,
    /// Print the structure as JSON (feeds back into `build --spec -`).
    #[arg(long)]
    pub json: bool,
    /// The instant to measure remaining time from (default: now).
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionArg {
    Join,
    PublishAudio,
    PublishVideo,
    PublishData,
    RtmLogin,
    ChatLogin,
    ChatApp,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The token, or - to read it from stdin.
    pub token: String,
    /// App id the client initialised with [env: AGORA_APP_ID, APP_ID]; default: the token's own.
    #[arg(long)]
    pub app_id: Option<String>,
    /// App certificate [env: AGORA_APP_CERTIFICATE, APP_CERTIFICATE, APP_CERT].
    #[arg(long)]
    pub app_certificate: Option<String>,
    /// A secondary certificate (during a rotation) [env: AGORA_APP_CERTIFICATE_SECONDARY].
    #[arg(long)]
    pub secondary_certificate: Option<String>,
    /// Channel the client joins.
    #[arg(long)]
    pub channel: Option<String>,
    #[command(flatten)]
    pub who: UidArgs,
    /// RTM or Chat user id (for rtm-login / chat-login).
    #[arg(long)]
    pub user: Option<String>,
    /// What the client does (default: join with --channel, rtm-login with --user).
    #[arg(long, value_enum)]
    pub action: Option<ActionArg>,
    /// The instant to check at: Unix seconds or RFC 3339 (default: now).
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Print the verdict as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct UpgradeArgs {
    /// The 006 token, or - for stdin.
    pub token: String,
    /// The channel the token was made for (a 006 token holds only its CRC-32).
    #[arg(long)]
    pub channel: Option<String>,
    #[command(flatten)]
    pub who: UidArgs,
    /// RTM 006 tokens: the user account the token was made for.
    #[arg(long)]
    pub user: Option<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Seconds to run each measurement.
    #[arg(long, default_value_t = 1.0)]
    pub seconds: f64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `agtoken help serve`: the environment and demo mode (crates/agtoken-server/README.md has it all).
const SERVE_HELP: &str = "\
Configuration, highest precedence first: these options, the process environment, a .env file in
the working directory, the TOML file (--config or AGTOKEN_CONFIG), defaults. A wrong value stops
the server with a message naming the setting. Certificates are never logged or echoed.

Environment:
  AGORA_APP_ID, APP_ID            the app id (32 hexadecimal characters)
  AGORA_APP_CERTIFICATE, APP_CERTIFICATE, APP_CERT
                                  its certificate (APP_CERT: the community token service's name)
  AGORA_APP_CERTIFICATE_SECONDARY, APP_CERTIFICATE_SECONDARY
                                  a second certificate, accepted during a rotation
  <certificate variable>_FILE     read it from that file (APP_CERTIFICATE_FILE=/run/secrets/cert)
  SERVER_PORT (wins), PORT        port (default 8080)
  AGTOKEN_HOST                    address to listen on (default 0.0.0.0)
  CORS_ALLOW_ORIGIN               * (default) or https://a.example,https://b.example
  AGTOKEN_CONFIG                  TOML file: several apps, auth, policy, limits (as --config)
  AGTOKEN_TOKEN_VERSION           007 (default) or 006 for legacy fleets
  AGTOKEN_DEFAULT_LIFETIME        seconds, when a request names none (default 3600)
  AGTOKEN_MAX_LIFETIME            seconds, the longest a request may ask for (default 86400)
  AGTOKEN_COMPAT_LIFETIME         seconds, compatibility routes whose request names none (3600)
  AGTOKEN_BODY_LIMIT              request body limit in bytes (default 16384)
  AGTOKEN_REQUEST_TIMEOUT         seconds (default 10)
  AGTOKEN_TLS_CERT_FILE, AGTOKEN_TLS_KEY_FILE
                                  serve HTTPS with this PEM certificate chain and key
  RUST_LOG                        log filter (default info)

Reloading: SIGHUP (kill -HUP PID), or a change to the TOML file, .env or a certificate, key or
secrets file it names (polled once a second; Kubernetes ConfigMap/Secret updates included),
reloads API keys, policies, JWT settings, app and TLS certificates, limits and CORS without
dropping a request. The new configuration is validated first; on an error the running one stays
and the log names the setting. host, port, max_connections, the connection timeouts,
shutdown_grace_secs and turning TLS on or off need a restart (the reload's log line names them).
--check-config validates a configuration the same way and exits (0 valid, 1 not).

Demo mode: with no app id and certificate anywhere, the server makes up a throwaway app, says so
on start-up and on http://localhost:8080/, and serves everything. Agora refuses those tokens:
they are for trying the APIs. Without auth (demo mode, or auth = \"none\" in the TOML file)
anyone who reaches the server gets tokens; for production see the security section of
crates/agtoken-server/README.md.

Examples:
  agtoken serve                                          demo mode
  APP_ID=... APP_CERTIFICATE=... agtoken serve --port 9000
  agtoken serve --config agtoken.toml --log-json
  agtoken serve --config agtoken.toml --check-config     validate, then exit 0 or 1
  kill -HUP $(pidof agtoken)                             reload the configuration";

/// `--uid`: a whole number 0..=4294967295, with a message that says what to type instead.
pub fn parse_uid(text: &str) -> Result<u32, String> {
    let t = text.trim();
    if let Ok(uid) = t.parse::<u32>() {
        return Ok(uid);
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let why = match t.strip_prefix('-') {
        Some(rest) if digits(rest) => match t.parse::<i32>() {
            // What a signed 32-bit int (Java, Kotlin) holds for a uid above 2147483647.
            Ok(n) => format!("uids are not negative (as a signed 32-bit int, {n} is uid {})", n as u32),
            Err(_) => "uids are not negative".to_owned(),
        },
        _ if digits(t) => "too large".to_owned(),
        _ => "not a whole number".to_owned(),
    };
    Err(format!("{why}: --uid takes 0..=4294967295 (0 = any user); for a string user id give --account instead"))
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (default 0.0.0.0, or the config file's).
    #[arg(long)]
    pub host: Option<String>,
    /// Port (default: SERVER_PORT or PORT, else 8080).
    #[arg(long)]
    pub port: Option<u16>,
    /// TOML configuration file (several apps, auth, policy).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log as JSON lines.
    #[arg(long)]
    pub log_json: bool,
    /// Validate the configuration (same sources and checks as serving, every file read) and
    /// exit: 0 with a one-line summary, 1 with the error serving would stop with.
    #[arg(long)]
    pub check_config: bool,
}

#[derive(Args, Debug)]
pub struct HealthcheckArgs {
    /// The server's listen address, as given to `serve` (default: AGTOKEN_HOST, the config
    /// file's, else 0.0.0.0, checked on 127.0.0.1).
    #[arg(long)]
    pub host: Option<String>,
    /// The server's port (default: SERVER_PORT or PORT, the config file's, else 8080).
    #[arg(long)]
    pub port: Option<u16>,
    /// The server's TOML configuration file (for host, port and TLS).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Time for the whole check: 3s, 500ms, 2 (seconds).
    #[arg(long, value_name = "DURATION", default_value = "3s")]
    pub timeout: String,
}

/// The whole command line: the commands declared here, with the minting commands the library
/// describes (`mint::commands`) listed first.
pub fn command() -> clap::Command {
    let minting = crate::mint::commands();
    let first = minting.len();
    let mut order = 0;
    <Cli as clap::CommandFactory>::command()
        .mut_subcommands(|c| {
            order += 1;
            c.display_order(first + order)
        })
        .subcommands(minting.into_iter().enumerate().map(|(i, c)| c.display_order(i)))
}
