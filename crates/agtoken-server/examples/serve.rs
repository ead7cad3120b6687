//! Runs the server as `agtoken serve` does: `cargo run -p agtoken-server --example serve -- [--port N] [--host H] [--config FILE] [--log-json]`.
//! (The `agtoken` CLI is the real entry point; this example lets the server crate be run and
//! benchmarked on its own.)

use std::path::PathBuf;
use std::process::ExitCode;

use agtoken_server::{serve_blocking, ServeOptions};

fn main() -> ExitCode {
    let mut options = ServeOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => options.port = args.next().and_then(|p| p.parse().ok()),
            "--host" => options.host = args.next(),
            "--config" => options.config = args.next().map(PathBuf::from),
            "--log-json" => options.log_json = true,
            other => {
                eprintln!(
                    "unknown argument {other:?}; usage: serve [--port N] [--host H] [--config FILE] [--log-json]"
                );
                return ExitCode::from(2);
            }
        }
    }
    match serve_blocking(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
