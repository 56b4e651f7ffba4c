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
