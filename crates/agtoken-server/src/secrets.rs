//! Secrets from files (Docker and Kubernetes secrets style): `APP_CERTIFICATE_FILE=/run/secrets/cert`,
//! `app_certificate_file = "…"` in the TOML file, the JWT secret, the TLS key. The content is
//! read once at start-up and trimmed; it is never logged, and errors name the file, never the
//! content.
//!
//! A start-up warning says when the file's permissions let someone else at it, where that means
//! something:
//!
//! - on a **read-only mount** there is no warning, whatever the mode: nobody can replace the
//!   file, and such mounts are made by the platform for this one workload: Docker and Compose
//!   secrets (`/run/secrets`, mode 0444), Kubernetes secret volumes (always mounted read-only;
//!   0644 by default, 0440 with `defaultMode: 0440` and an `fsGroup`), systemd credentials
//!   (`$CREDENTIALS_DIRECTORY`), any file of a container's read-only root filesystem;
//! - on a writable filesystem (a host's `/etc`, a writable volume), a file that **group or
//!   others may write** is flagged first (they could swap the certificate or a JWT secret), then
//!   one that **group or others may read** (the app certificate mints any token): make it 0600
//!   or 0400, owned by the server's user.
//!
//! Whether the mount is read-only comes from `/proc/self/mountinfo` (Linux); elsewhere, or when
//! it cannot be told, the file counts as writable and the mode alone decides.

use std::path::Path;

use crate::error::ServerError;

/// Reads the secret in `path` for `setting` (named in errors and warnings). Appends a warning
/// to `warnings` when others may read or replace the file (see the module docs).
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

/// What a secrets file's mode lets group or others do, when it matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Exposure {
    /// Group or others may write (replace) it.
    Writable,
    /// Group or others may read it.
    Readable,
}

/// The rule of the module docs: nothing on a read-only mount; else write, then read access
/// for group or others.
fn exposure(mode: u32, read_only_mount: bool) -> Option<Exposure> {
    if read_only_mount {
        None
    } else if mode & 0o022 != 0 {
        Some(Exposure::Writable)
    } else if mode & 0o044 != 0 {
        Some(Exposure::Readable)
    } else {
        None
    }
}

/// A warning when group or others may read or write `path` and it is not on a read-only
/// mount (see the module docs).
#[cfg(unix)]
pub(crate) fn permission_warning(path: &Path, setting: &str) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    let read_only = std::fs::canonicalize(path)
        .ok()
        .and_then(|real| std::fs::read_to_string("/proc/self/mountinfo").ok().and_then(|m| read_only_mount(&m, &real)))
        .unwrap_or(false);
    let what = match exposure(mode, read_only)? {
        Exposure::Writable => "group or others may replace it",
        Exposure::Readable => "group or others may read it",
    };
    Some(format!(
        "secrets file {} ({setting}) has mode {mode:04o} on a writable filesystem: {what}; \
         make it 0600 or 0400, owned by the server's user (read-only secret mounts of Docker, \
         Kubernetes and systemd credentials are fine as they are)",
        path.display()
    ))
}

#[cfg(not(unix))]
pub(crate) fn permission_warning(_path: &Path, _setting: &str) -> Option<String> {
    None
}

/// Whether `path` (absolute, symbolic links resolved) lies on a read-only mount, from the text
/// of `/proc/self/mountinfo`: the last-mounted entry with the longest mount point that contains
/// the path decides, read-only by its mount options or its filesystem's. `None` when no entry
/// contains it or the text cannot be read.
fn read_only_mount(mountinfo: &str, path: &Path) -> Option<bool> {
    let mut best: Option<(usize, bool)> = None;
    for line in mountinfo.lines() {
        // ID PARENT MAJ:MIN ROOT MOUNT_POINT MOUNT_OPTIONS [OPTIONAL…] - FSTYPE SOURCE SUPER_OPTIONS
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(dash) = fields.iter().position(|f| *f == "-") else { continue };
        if dash < 6 || fields.len() < dash + 4 {
            continue;
        }
        let mount_point = unescape(fields[4]);
        if !path.starts_with(&mount_point) {
            continue;
        }
        let ro = |options: &str| options.split(',').any(|o| o == "ro");
        let read_only = ro(fields[5]) || ro(fields[dash + 3]);
        let depth = Path::new(&mount_point).components().count();
        if best.is_none_or(|(d, _)| depth >= d) {
            best = Some((depth, read_only));
        }
    }
    best.map(|(_, read_only)| read_only)
}

/// Undoes the octal escapes of mountinfo paths (`\040` for a space, `\011`, `\012`, `\134`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        let value = octal.map(|d| d.iter().fold(0u32, |v, b| v * 8 + u32::from(b - b'0')));
        if let (b'\\', Some(value @ 0..=255)) = (bytes[i], value) {
            out.push(value as u8);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_trims_and_names_the_setting_never_the_value() {
        let dir = std::env::temp_dir().join(format!("agtoken-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cert");
        std::fs::write(&path, "s3cret-value\n").unwrap();
        let mut warnings = Vec::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert_eq!(read_secret_file(&path, "env", "X_FILE", &mut warnings).unwrap(), "s3cret-value");
        assert!(warnings.is_empty(), "{warnings:?}");
        let err = read_secret_file(&dir.join("missing"), "env", "X_FILE", &mut warnings).unwrap_err().to_string();
        assert!(err.contains("X_FILE") && err.contains("missing"), "{err}");
        std::fs::write(&path, "\n").unwrap();
        assert!(read_secret_file(&path, "env", "X_FILE", &mut warnings).unwrap_err().to_string().contains("empty"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The temp folder is on a writable filesystem here, so the mode alone decides.
    #[cfg(unix)]
    #[test]
    fn warns_about_open_modes_on_a_writable_filesystem() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("agtoken-secret-modes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cert");
        std::fs::write(&path, "s3cret-value\n").unwrap();
        let expect = |mode: u32, warning: Option<&str>| {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let mut warnings = Vec::new();
            assert_eq!(read_secret_file(&path, "env", "X_FILE", &mut warnings).unwrap(), "s3cret-value");
            match warning {
                None => assert!(warnings.is_empty(), "mode {mode:o}: {warnings:?}"),
                Some(what) => {
                    assert_eq!(warnings.len(), 1, "mode {mode:o}");
                    let w = &warnings[0];
                    assert!(w.contains(&format!("{mode:04o}")) && w.contains("X_FILE") && w.contains(what), "{w}");
                    assert!(!w.contains("s3cret"), "{w}");
                }
            }
        };
        expect(0o600, None);
        expect(0o400, None);
        expect(0o644, Some("may read it"));
        expect(0o444, Some("may read it"));
        expect(0o640, Some("may read it"));
        expect(0o620, Some("may replace it"));
        expect(0o666, Some("may replace it"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_rule() {
        // Read-only mounts: Docker/Compose secrets 0444, Kubernetes 0644 (default) and 0440
        // (fsGroup), systemd credentials 0400; even a mode open for writing cannot be used there.
        for mode in [0o444, 0o644, 0o440, 0o400, 0o666, 0o777] {
            assert_eq!(exposure(mode, true), None, "{mode:o}");
        }
        assert_eq!(exposure(0o600, false), None);
        assert_eq!(exposure(0o400, false), None);
        assert_eq!(exposure(0o700, false), None);
        assert_eq!(exposure(0o640, false), Some(Exposure::Readable));
        assert_eq!(exposure(0o604, false), Some(Exposure::Readable));
        assert_eq!(exposure(0o444, false), Some(Exposure::Readable));
        assert_eq!(exposure(0o620, false), Some(Exposure::Writable));
        assert_eq!(exposure(0o602, false), Some(Exposure::Writable));
        assert_eq!(exposure(0o646, false), Some(Exposure::Writable));
    }

    /// Lines as a container with a read-only root, a Docker secret bind-mounted read-only, a
    /// Kubernetes secret volume and a writable volume shows them.
    const MOUNTINFO: &str = "\
1195 1024 0:158 / / ro,relatime master:433 - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w
1196 1195 0:161 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
1199 1195 0:162 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
1210 1195 254:0 /tmp/agtoken/cert /run/secrets/app-certificate ro,relatime - ext4 /dev/vda rw,discard
1211 1195 0:170 / /etc/agtoken/secret ro,relatime - tmpfs tmpfs rw,size=1024k
1212 1195 254:0 /data /var/lib/agtoken rw,relatime - ext4 /dev/vda rw
1213 1212 254:0 /data/in\\040ro /var/lib/agtoken/with\\040space rw,relatime - ext4 /dev/vda ro
1214 1195 0:171 / /var/lib/agtoken/stacked rw,relatime - tmpfs tmpfs rw
1215 1195 0:172 / /var/lib/agtoken/stacked ro,relatime - tmpfs tmpfs rw
";

    #[test]
    fn read_only_mounts_from_mountinfo() {
        let ro = |p: &str| read_only_mount(MOUNTINFO, Path::new(p));
        assert_eq!(ro("/run/secrets/app-certificate"), Some(true), "single-file bind mount, ro");
        assert_eq!(ro("/etc/agtoken/secret/..2026_05_01/app-certificate"), Some(true), "secret volume");
        assert_eq!(ro("/etc/passwd"), Some(true), "read-only root");
        assert_eq!(ro("/var/lib/agtoken/cert"), Some(false), "writable volume");
        assert_eq!(ro("/var/lib/agtoken/with space/cert"), Some(true), "escaped name, ro superblock");
        assert_eq!(ro("/var/lib/agtoken/with"), Some(false));
        assert_eq!(ro("/var/lib/agtoken/stacked/cert"), Some(true), "the mount on top decides");
        assert_eq!(ro("/run/secrets/app-certificate-old"), Some(true), "component-wise: the root decides");
        assert_eq!(read_only_mount("", Path::new("/x")), None);
        assert_eq!(read_only_mount("garbage line\n", Path::new("/x")), None);
        assert_eq!(unescape("a\\040b\\134c\\9"), "a b\\c\\9");
    }

    /// The real table of this machine names a mount for the root, so the check does run here.
    #[cfg(target_os = "linux")]
    #[test]
    fn this_machine_has_a_mount_table() {
        let text = std::fs::read_to_string("/proc/self/mountinfo").expect("/proc/self/mountinfo");
        assert!(read_only_mount(&text, Path::new("/proc/self")).is_some());
        assert_eq!(read_only_mount(&text, &std::env::temp_dir().canonicalize().unwrap()), Some(false));
    }
}
