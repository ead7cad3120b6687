//! Secrets from files (Docker and Kubernetes secrets style): `APP_CERTIFICATE_FILE=/run/secrets/cert`,
//! `app_certificate_file = "…"` in the TOML file, the JWT secret, the TLS key. The content is
//! read once at start-up and trimmed; it is never logged, and errors name the file, never the
//! content. A file that group or others may access gives a start-up warning.

use std::path::Path;

use crate::error::ServerError;

/// Reads the secret in `path` for `setting` (named in errors and warnings). Appends a warning
/// to `warnings` when the file's mode lets group or others read it.
pub(crate) fn read_secret_file(
    path: &Path,
    source: &str,
    setting: &str,
    warnings: &mut Vec<String>,
) -> Result<String, ServerError> {
    let bytes = std::fs::read(path)
        .map_err(|e| ServerError::config(source, setting, format!("cannot read {}: {e}", path.display())))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| ServerError::config(source, setting, format!("{} is not UTF-8 text", path.display())))?;
    if let Some(warning) = permission_warning(path, setting) {
        warnings.push(warning);
    }
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(ServerError::config(source, setting, format!("{} is empty", path.display())));
    }
    Ok(trimmed.to_owned())
}

/// A warning when `path` is readable or writable by group or others (Unix permission bits).
#[cfg(unix)]
pub(crate) fn permission_warning(path: &Path, setting: &str) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "secrets file {} ({setting}) has mode {mode:04o}: group or others may read it; \
             make it 0600 or 0400, owned by the server's user (Kubernetes: defaultMode: 0400)",
            path.display()
        )
    })
}

#[cfg(not(unix))]
pub(crate) fn permission_warning(_path: &Path, _setting: &str) -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_trims_and_warns_about_open_modes() {
        let dir = std::env::temp_dir().join(format!("agtoken-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cert");
        std::fs::write(&path, "s3cret-value\n").unwrap();
        let mut warnings = Vec::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert_eq!(read_secret_file(&path, "env", "X_FILE", &mut warnings).unwrap(), "s3cret-value");
            assert_eq!(warnings.len(), 1);
            assert!(warnings[0].contains("0644") && warnings[0].contains("X_FILE"), "{}", warnings[0]);
            assert!(!warnings[0].contains("s3cret"));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            warnings.clear();
        }
        assert_eq!(read_secret_file(&path, "env", "X_FILE", &mut warnings).unwrap(), "s3cret-value");
        assert!(warnings.is_empty());
        let err = read_secret_file(&dir.join("missing"), "env", "X_FILE", &mut warnings).unwrap_err().to_string();
        assert!(err.contains("X_FILE") && err.contains("missing"), "{err}");
        std::fs::write(&path, "\n").unwrap();
        assert!(read_secret_file(&path, "env", "X_FILE", &mut warnings).unwrap_err().to_string().contains("empty"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
