//! Durable file operations shared by the data plane, export archives and the job steps:
//! a write that lands whole or not at all, a folder sync that makes renames and removals
//! durable, and removals that treat "already gone" as done, so that a step retried after a
//! crash finds what the first try left and finishes it.

use std::io::Write;
use std::path::Path;

use mailplane_types::{Error, Result};

/// Writes a file whole or not at all: a temporary file next to it, synced, then renamed
/// into place. The temporary name starts with a dot and ends with `.tmp-<id>`, so a crash
/// leaves nothing a reader of `*.msg` or `*.eml` files would take for a message, and two
/// concurrent writers never share one.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", uuid::Uuid::now_v7().simple()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::internal(format!("writing {}: {e}", path.display()))
    })
}

/// Makes a folder's entries (a rename, a removal) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::internal(format!("syncing {}: {e}", dir.display())))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Removes a file; one already gone is not an error. Returns whether it was there.
pub(crate) fn remove_file_if_exists(path: &Path) -> Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::internal(format!("removing {}: {e}", path.display()))),
    }
}

/// Removes a folder and what it holds; one already gone is not an error.
pub(crate) fn remove_dir_if_exists(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::internal(format!("removing {}: {e}", dir.display()))),
    }
}

/// The 32-byte secret held in `path` (a master key, a signing seed): created with random
/// bytes when the file does not exist (owner read and write only on unix; a file another
/// process created first is read instead), then read. A file of another length is refused,
/// naming `field`: a truncated key must not pass for a key.
pub(crate) fn key32_file(path: &Path, field: &str) -> Result<[u8; 32]> {
    if !path.exists() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))?;
        }
        let mut secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(path) {
            Ok(mut f) => f
                .write_all(&secret)
                .and_then(|_| f.sync_all())
                .map_err(|e| Error::internal(format!("writing {}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::internal(format!("creating {}: {e}", path.display()))),
        }
    }
    let bytes = std::fs::read(path)
        .map_err(|e| Error::internal(format!("reading {}: {e}", path.display())))?;
    bytes.as_slice().try_into().map_err(|_| {
        Error::invalid(
            field,
            format!(
                "{} must hold exactly 32 bytes, it holds {}",
                path.display(),
                bytes.len()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_made_once_private_and_a_short_one_is_refused() {
        let dir = std::env::temp_dir().join(format!("mailplane-files-{}", uuid::Uuid::now_v7()));
        let path = dir.join("keys").join("master.key");
        let made = key32_file(&path, "master_key").unwrap();
        assert_eq!(
            key32_file(&path, "master_key").unwrap(),
            made,
            "read, not remade"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, [7u8; 31]).unwrap();
        match key32_file(&path, "master_key") {
            Err(Error::Invalid(fields)) => {
                assert_eq!(fields[0].field, "master_key");
                assert!(fields[0].rule.contains("it holds 31"), "{}", fields[0].rule);
            }
            other => panic!("expected a refusal naming master_key, got {other:?}"),
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
