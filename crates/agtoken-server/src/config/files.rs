//! The files a configuration was read from: the TOML file and every file it or the
//! environment names (certificates, keys, JWT keys, TLS, the shared store's password and CA).
//! `agtoken serve` watches them and reloads when one changes (see `reload.rs`).

use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::app_env::CERTIFICATE_FILE_VARS;
use super::env::Env;
use super::file::FileSource;
use super::tls_paths::tls_paths;

/// Every file the configuration reads, in a stable order, without duplicates.
pub(super) fn source_files(env: &Env, file: &FileSource, toml: Option<&Path>) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = toml.map(Path::to_path_buf).into_iter().collect();
    let env_path = |var: &str| env.get(var).map(|(v, _)| PathBuf::from(v.trim()));
    files.extend(CERTIFICATE_FILE_VARS.iter().filter_map(|var| env_path(var)));
    let cfg = &file.cfg;
    for app in &cfg.apps {
        files.extend(
            [&app.app_certificate_file, &app.secondary_certificate_file].into_iter().flatten().map(|p| file.path(p)),
        );
        if let Some(jwt) = &app.jwt {
            files.extend(jwt.hs256_secret_file.iter().map(|p| file.path(p)));
            files.extend(jwt.public_key_files.iter().flatten().map(|p| file.path(p)));
            files.extend(jwt.jwks_file.iter().map(|p| file.path(p)));
        }
    }
    let (cert, key) = tls_paths(env, file);
    files.extend([cert, key].into_iter().flatten().map(|(path, _, _)| path));
    for (var, setting) in [
        ("AGTOKEN_LIMITS_STORE_PASSWORD_FILE", &cfg.limits_store_password_file),
        ("AGTOKEN_LIMITS_STORE_CA_FILE", &cfg.limits_store_ca_file),
    ] {
        files.extend(env_path(var).or_else(|| setting.as_ref().map(|p| file.path(p))));
    }
    let mut seen = std::collections::HashSet::new();
    files.retain(|p| seen.insert(p.clone()));
    files
}

/// The SHA-256 of each source file's content (`None`: missing or unreadable), taken right
/// after the configuration read them: what a reload compares the files with. Its `Debug`
/// shows no digest (they are of secrets files).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Digests(Vec<Option<[u8; 32]>>);

impl Digests {
    /// The digests of `files`, now.
    pub fn of(files: &[PathBuf]) -> Digests {
        Digests(files.iter().map(|p| std::fs::read(p).ok().map(|bytes| Sha256::digest(&bytes).into())).collect())
    }
}

impl fmt::Debug for Digests {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digests({} files)", self.0.len())
    }
}
