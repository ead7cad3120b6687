//! The environment the configuration reads: the process environment over a `.env` file, and
//! the small readers every setting shares (a number from a variable, a number from a variable
//! or the TOML file).

use std::collections::HashMap;
use std::path::Path;

use crate::error::ServerError;

/// Where an environment value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvSource {
    /// The process environment.
    Process,
    /// The `.env` file.
    DotEnv,
}

impl EnvSource {
    /// Where a value came from, as messages name it before the variable: `environment` or
    /// `.env` (the variable is the message's field, named once).
    pub(super) fn describe(self) -> &'static str {
        match self {
            EnvSource::Process => "environment",
            EnvSource::DotEnv => ".env",
        }
    }
}

/// The environment the configuration reads: the process environment over a `.env` file.
/// It is read, never written (no `set_var`).
#[derive(Clone, Debug, Default)]
pub struct Env {
    vars: HashMap<String, (String, EnvSource)>,
}

impl Env {
    /// An environment of these pairs (as if from the process).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Env { vars: pairs.into_iter().map(|(k, v)| (k.into(), (v.into(), EnvSource::Process))).collect() }
    }

    /// The process environment, over the entries of `dotenv` if that file exists.
    pub fn from_process_and_dotenv(dotenv: &Path) -> Result<Self, ServerError> {
        let mut vars = HashMap::new();
        if dotenv.exists() {
            let iter = dotenvy::from_path_iter(dotenv)
                .map_err(|e| ServerError::DotEnv { path: dotenv.to_owned(), message: e.to_string() })?;
            for item in iter {
                let (k, v) =
                    item.map_err(|e| ServerError::DotEnv { path: dotenv.to_owned(), message: e.to_string() })?;
                vars.insert(k, (v, EnvSource::DotEnv));
            }
        }
        for (k, v) in std::env::vars_os() {
            if let (Ok(k), Ok(v)) = (k.into_string(), v.into_string()) {
                vars.insert(k, (v, EnvSource::Process));
            }
        }
        Ok(Env { vars })
    }

    /// A non-empty value and where it came from.
    pub fn get(&self, var: &str) -> Option<(&str, EnvSource)> {
        self.vars.get(var).filter(|(v, _)| !v.trim().is_empty()).map(|(v, s)| (v.as_str(), *s))
    }

    pub(super) fn get_any<'a>(&'a self, vars: &[&'static str]) -> Option<(&'static str, &'a str, EnvSource)> {
        vars.iter().find_map(|var| self.get(var).map(|(v, s)| (*var, v, s)))
    }
}

pub(super) fn env_number<T: std::str::FromStr>(env: &Env, var: &str) -> Result<Option<T>, ServerError> {
    match env.get(var) {
        None => Ok(None),
        Some((text, src)) => {
            text.trim().parse().map(Some).map_err(|_| {
                ServerError::config(src.describe(), var, format!("{text:?} is not a whole number in range"))
            })
        }
    }
}

/// A whole-number server setting from the environment's `var`, else the file's `key`: the
/// value, and the source and name to give in an error about it.
pub(super) fn server_number(
    env: &Env,
    var: &str,
    file_name: &str,
    key: &str,
    file_value: Option<u64>,
) -> Result<Option<(u64, String, String)>, ServerError> {
    if let Some(n) = env_number::<u64>(env, var)? {
        let source = env.get(var).map_or_else(|| var.to_owned(), |(_, src)| src.describe().to_owned());
        return Ok(Some((n, source, var.to_owned())));
    }
    Ok(file_value.map(|n| (n, file_name.to_owned(), key.to_owned())))
}
