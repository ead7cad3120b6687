//! The TLS settings: which certificate and key files (environment over file), and loading them.

use std::path::PathBuf;

use super::env::Env;
use super::file::FileSource;
use crate::error::ServerError;
use crate::tls::TlsSettings;

/// A TLS file setting: the path, where it came from, the setting's name.
pub(super) type TlsPath = (PathBuf, String, String);

/// The TLS certificate and key files: `AGTOKEN_TLS_CERT_FILE`/`AGTOKEN_TLS_KEY_FILE`, else the
/// file's `tls_cert_file`/`tls_key_file`.
pub(super) fn tls_paths(env: &Env, file: &FileSource) -> (Option<TlsPath>, Option<TlsPath>) {
    let from_file = |name: &str, value: &Option<PathBuf>| {
        value.as_ref().map(|p| (file.path(p), file.name.clone(), name.to_owned()))
    };
    let from_env =
        |var: &str| env.get(var).map(|(v, src)| (PathBuf::from(v.trim()), src.describe().to_owned(), var.to_owned()));
    let cert = from_env("AGTOKEN_TLS_CERT_FILE").or_else(|| from_file("tls_cert_file", &file.cfg.tls_cert_file));
    let key = from_env("AGTOKEN_TLS_KEY_FILE").or_else(|| from_file("tls_key_file", &file.cfg.tls_key_file));
    (cert, key)
}

/// The TLS identity, loaded from its files, or `None` without TLS. Both files or neither.
pub(super) fn resolve_tls(
    env: &Env,
    file: &FileSource,
    warnings: &mut Vec<String>,
) -> Result<Option<TlsSettings>, ServerError> {
    match tls_paths(env, file) {
        (None, None) => Ok(None),
        (Some((cert, source, field)), Some((key, _, key_field))) => {
            if let Some(w) = crate::secrets::permission_warning(&key, &key_field) {
                warnings.push(w);
            }
            Ok(Some(TlsSettings::from_files(&cert, &key).map_err(|e| ServerError::setting(source, field, e))?))
        }
        (Some((_, source, field)), None) | (None, Some((_, source, field))) => Err(ServerError::config(
            source,
            field,
            "TLS needs both a certificate file and a key file (tls_cert_file and tls_key_file, \
             or AGTOKEN_TLS_CERT_FILE and AGTOKEN_TLS_KEY_FILE)",
        )),
    }
}
