//! Customer data exports: the staging folder and the final download.
//!
//! At the end of a service, a customer must be able to take all of its mail away
//! (reversibility). An export job does this in two phases so that it can resume after a
//! crash without redoing everything:
//!
//! 1. It copies each mailbox's decrypted messages into a staging folder, mailbox by mailbox,
//!    one `.eml` file per message ([`mailbox_staging`], [`message_file_name`],
//!    [`stage_message`]). When a mailbox is fully copied it writes a `.complete` marker
//!    ([`mark_staged`]); a resumed job skips the mailboxes that have the marker
//!    ([`is_staged`]) and wipes and redoes the others ([`reset_mailbox_staging`]).
//! 2. This module then packages the staging folder into the download, in the format the
//!    customer chose ([`ExportFormat`]), and produces an [`ExportManifest`] that lists every
//!    message with its size and SHA-256 so that the customer can check that nothing was lost
//!    ([`build`]). Finally the job removes the staging folder ([`remove_staging`]). Each
//!    format is written by a module of its own (`eml_zip.rs`, `mbox.rs`) on the helpers
//!    here: the staged files, the sealed output and its hash.
//!
//! Every file is written atomically (a temporary file, synced, then renamed into place), and
//! the archive is streamed file by file: neither a message nor the archive is ever held whole
//! in memory. The archive is deterministic: the same staged input gives the same plaintext.
//!
//! Nothing of a message lands on disk in the clear: staged messages and the archive are
//! sealed ([`crate::sealed`]) with the tenant's export key, which follows from its data key
//! ([`crate::data_plane::DataPlane::export_key`]), and each file is bound to its name. The
//! archive is sealed as it is written (a zip is written as a stream, without seeking back),
//! and opened chunk by chunk for its download ([`open`]); the manifest's sizes and digests
//! are those of the plaintext the customer receives.

use crate::files::{remove_dir_if_exists, remove_file_if_exists, sync_dir, write_atomically};
use crate::sealed::{OpeningReader, SealingKey, SealingWriter, plain_len, sealed_len};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use mailplane_types::{Error, Result};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

/// The name of the marker file written last in a mailbox's staging folder.
const COMPLETE_MARKER: &str = ".complete";

/// The extension of a staged message.
const EML_EXTENSION: &str = ".eml";

/// How a received time is encoded in a staged message's file name (always UTC).
const NAME_TIME: &[BorrowedFormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");

pub use mailplane_types::lifecycle::{ExportFormat, ExportManifest, ManifestFile, ManifestMailbox};

mod eml_zip;
mod mbox;

use eml_zip::write_zip;
use mbox::write_mbox;

/// The staging folder of one mailbox: `staging/<mailbox-uuid>`.
pub fn mailbox_staging(staging: &Path, mailbox: uuid::Uuid) -> PathBuf {
    staging.join(mailbox.to_string())
}

/// The staged file name of a message: `<index>-<received>-<id>.eml`, for example
/// `000001-20261124T100000Z-0192f4c1a2b37c4d8e9f0a1b2c3d4e5f.eml`.
///
/// The index is the message's position in import order, zero-padded to at least six digits
/// so that file names sort in import order ([`build`] also orders a seven-digit index after
/// every six-digit one). The received time is encoded in UTC, to the second, so that the
/// mbox format can date its separator lines; the id is the message id without hyphens.
pub fn message_file_name(index: u64, received_at: OffsetDateTime, id: uuid::Uuid) -> String {
    let received = received_at
        .to_offset(time::UtcOffset::UTC)
        .format(NAME_TIME)
        // A year outside 0000-9999 cannot be formatted; the mbox format then falls back to
        // its fixed separator date, which is all the received time is used for.
        .unwrap_or_else(|_| "00000000T000000Z".to_string());
    format!("{index:06}-{received}-{}{EML_EXTENSION}", id.simple())
}

/// Writes one staged message atomically, sealed with `key` and bound to `name`: a temporary
/// file in `dir`, synced, then renamed to `name`. Writing the same message again overwrites
/// it, so a retry is harmless.
///
/// `name` must be a plain file name ending in `.eml` and not starting with a dot (the names
/// [`message_file_name`] makes); anything else would be skipped by [`build`], so it is
/// refused. `dir` is created if missing. The folder itself is synced by [`mark_staged`].
pub fn stage_message(key: &SealingKey, dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && name.ends_with(EML_EXTENSION);
    if !plain {
        return Err(Error::internal(format!(
            "staging message: invalid file name {name:?}"
        )));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))?;
    let sealed = key
        .seal(bytes, &staged_aad(name))
        .map_err(|e| Error::internal(format!("sealing {name}: {e}")))?;
    write_atomically(&dir.join(name), &sealed)
}

/// What a staged message's seal is bound to: its name, which holds the message's id.
fn staged_aad(name: &str) -> String {
    format!("mailplane staged message {name}")
}

/// What an archive's seal is bound to: its file name, which holds the export's id.
fn archive_aad(out_name: &str) -> String {
    format!("mailplane export archive {out_name}")
}

/// Marks a mailbox's staging folder as complete: syncs the folder (so that every staged
/// message is durable) and then writes the `.complete` marker atomically. Call it after the
/// last [`stage_message`] of the mailbox.
pub fn mark_staged(dir: &Path) -> Result<()> {
    sync_dir(dir)?;
    write_atomically(&dir.join(COMPLETE_MARKER), b"")
}

/// Whether a mailbox's staging folder is complete (has the `.complete` marker).
pub fn is_staged(dir: &Path) -> bool {
    dir.join(COMPLETE_MARKER).is_file()
}

/// Empties a mailbox's staging folder so that it can be staged again from scratch: removes
/// it if it exists, then creates it empty. A resumed job calls this for every mailbox whose
/// folder lacks the `.complete` marker.
pub fn reset_mailbox_staging(dir: &Path) -> Result<()> {
    remove_dir_if_exists(dir)?;
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))
}

/// Removes the whole staging folder of an export. Idempotent: a missing folder is fine.
pub fn remove_staging(staging: &Path) -> Result<()> {
    remove_dir_if_exists(staging)
}

/// The staged folder of one mailbox, as input to [`build`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveMailbox {
    /// The mailbox's id.
    pub id: uuid::Uuid,
    /// The mailbox's email address; it names the mailbox's folder in a zip and the sender
    /// of its mbox separator lines.
    pub address: String,
    /// The mailbox's staging folder (see [`mailbox_staging`]); it must be complete.
    pub dir: PathBuf,
}

/// Packages staged mailboxes (sealed with `key`) into the download at `out`, in `format`,
/// sealed with `key`, and returns the manifest.
///
/// Every mailbox folder must be complete ([`is_staged`]); an incomplete one is refused so
/// that a download never silently misses messages. Within a mailbox the staged `.eml` files
/// are taken in import order (see [`message_file_name`]); other files are ignored. Mailboxes
/// keep the order given.
///
/// - [`ExportFormat::EmlZip`]: a zip holding `<address>/<file name>` for every message,
///   deflate-compressed, plus `manifest.json` at the root (the manifest without `archive`).
///   The folder is the address with every character other than `[A-Za-z0-9._@+-]` replaced
///   by `_`; when two mailboxes would share a folder, or the address is empty or only dots,
///   the mailbox id is used to keep folders distinct and inside the archive. Every entry is
///   dated 1980-01-01 00:00:00, so the same input always gives the same bytes.
/// - [`ExportFormat::Mbox`]: one mboxrd file. Each message is preceded by a
///   `From <address> <date>` line, where the date is the received time encoded in the file
///   name (UTC, `asctime` form like `Mon Nov 24 10:00:00 2026`), or
///   `Thu Jan  1 00:00:00 1970` for a file name that carries none. Every line matching
///   `^>*From ` gets one more `>`; other bytes (line endings included) are kept. A message
///   that does not end with a newline gets one, and each message is followed by an empty
///   line.
///
/// The archive is streamed to a temporary file next to `out`, synced, and renamed into
/// place; then a `<out>.manifest.json` sidecar holding the returned manifest, sealed with
/// `key` too, is written the same way. If `out` and its sidecar already exist, for the same format and with the sealed
/// size of the plaintext size the sidecar records, the sidecar is returned and nothing is
/// rebuilt: a job that crashed
/// after packaging does not package again. Otherwise any stale sidecar is removed first, so
/// a crash can never pair a new archive with an old manifest.
pub fn build(
    key: &SealingKey,
    format: ExportFormat,
    mailboxes: &[ArchiveMailbox],
    out: &Path,
) -> Result<ExportManifest> {
    let out_name = out
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::internal(format!("export archive path {}", out.display())))?
        .to_string();
    let sidecar = sidecar_path(out, &out_name);
    if let Some(done) = finished(key, format, out, &out_name, &sidecar) {
        return Ok(done);
    }
    remove_file_if_exists(&sidecar)?;

    let staged = mailboxes
        .iter()
        .map(list_staged)
        .collect::<Result<Vec<_>>>()?;

    let tmp = out.with_file_name(format!(".{out_name}.tmp"));
    // The archive's plaintext is hashed as it is written, before it is sealed.
    let written = match format {
        ExportFormat::EmlZip => write_zip(key, &tmp, &out_name, mailboxes, &staged),
        ExportFormat::Mbox => write_mbox(key, &tmp, &out_name, mailboxes, &staged),
    };
    let (mut manifest, bytes, sha256) = match written {
        Ok(written) => written,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, out).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::internal(format!("writing {}: {e}", out.display()))
    })?;
    let parent = parent_dir(out);
    sync_dir(&parent)?;

    manifest.archive = Some(ManifestFile {
        path: out_name.clone(),
        bytes,
        sha256,
    });
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| Error::internal(format!("serializing the export manifest: {e}")))?;
    // The sidecar names addresses and holds a digest of every message: sealed like the
    // archive, so that a digest cannot confirm a guessed message either.
    let sealed = key
        .seal(&json, &sidecar_aad(&out_name))
        .map_err(|e| Error::internal(format!("sealing the export manifest: {e}")))?;
    write_atomically(&sidecar, &sealed)?;
    sync_dir(&parent)?;
    Ok(manifest)
}

/// What a sidecar manifest is bound to: its archive's name.
fn sidecar_aad(out_name: &str) -> String {
    format!("mailplane export manifest of {out_name}")
}

/// The sidecar manifest of an archive: `<out>.manifest.json`.
fn sidecar_path(out: &Path, out_name: &str) -> PathBuf {
    out.with_file_name(format!("{out_name}.manifest.json"))
}

/// The manifest of an archive that is already complete, if it is (a sidecar that does not
/// open with `key` is not).
fn finished(
    key: &SealingKey,
    format: ExportFormat,
    out: &Path,
    out_name: &str,
    sidecar: &Path,
) -> Option<ExportManifest> {
    use std::io::Read;
    let size = std::fs::metadata(out).ok().filter(|m| m.is_file())?.len();
    let sealed = std::fs::File::open(sidecar).ok()?;
    let mut json = Vec::new();
    key.reader(sealed, &sidecar_aad(out_name))
        .ok()?
        .read_to_end(&mut json)
        .ok()?;
    let manifest: ExportManifest = serde_json::from_slice(&json).ok()?;
    let archive = manifest.archive.as_ref()?;
    (manifest.format == format && archive.path == out_name && sealed_len(archive.bytes) == size)
        .then_some(manifest)
}

/// One staged message, as found in a mailbox's folder.
struct StagedFile {
    /// Its file name.
    name: String,
    /// Its full path.
    path: PathBuf,
    /// Its sealed size when listed: a little more than the message's.
    size: u64,
}

/// The staged messages of a complete mailbox, in import order.
fn list_staged(mailbox: &ArchiveMailbox) -> Result<Vec<StagedFile>> {
    let dir = &mailbox.dir;
    if !is_staged(dir) {
        return Err(Error::internal(format!(
            "exporting mailbox {}: staging folder {} is incomplete",
            mailbox.id,
            dir.display()
        )));
    }
    let reading = |e: std::io::Error| Error::internal(format!("reading {}: {e}", dir.display()));
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(reading)? {
        let entry = entry.map_err(reading)?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') || !name.ends_with(EML_EXTENSION) {
            continue;
        }
        let meta = entry.metadata().map_err(reading)?;
        if !meta.is_file() {
            continue;
        }
        files.push(StagedFile {
            path: entry.path(),
            size: meta.len(),
            name,
        });
    }
    // Zero-padded indexes of the same width sort lexically in numeric order; a wider index
    // (past 999999) is a larger one, so the width of the leading digits sorts first.
    files.sort_by(|a, b| {
        (leading_digits(&a.name), &a.name).cmp(&(leading_digits(&b.name), &b.name))
    });
    Ok(files)
}

/// How many ASCII digits a name starts with.
fn leading_digits(name: &str) -> usize {
    name.bytes().take_while(u8::is_ascii_digit).count()
}

/// A writer into the sealed archive file `tmp`: plaintext in, hashed, then sealed.
fn sealed_out(
    key: &SealingKey,
    tmp: &Path,
    out_name: &str,
) -> Result<HashingWriter<SealingWriter<BufWriter<File>>>> {
    let writing = |e: std::io::Error| Error::internal(format!("writing {}: {e}", tmp.display()));
    let file = File::create(tmp).map_err(writing)?;
    let sealed = key
        .writer(BufWriter::new(file), &archive_aad(out_name))
        .map_err(writing)?;
    Ok(HashingWriter::new(sealed))
}

/// Seals the archive's last chunk and syncs the file; returns the plaintext's size and
/// SHA-256.
fn finish_sealed(
    out: HashingWriter<SealingWriter<BufWriter<File>>>,
    tmp: &Path,
) -> Result<(u64, String)> {
    let writing = |e: std::io::Error| Error::internal(format!("writing {}: {e}", tmp.display()));
    let (sealed, bytes, sha256) = out.finish();
    let file = sealed
        .finish()
        .map_err(writing)?
        .into_inner()
        .map_err(|e| Error::internal(format!("writing {}: {}", tmp.display(), e.error())))?;
    file.sync_all().map_err(writing)?;
    Ok((bytes, sha256))
}

/// Opens a staged message (sealed by [`stage_message`]) for reading.
fn open_staged(key: &SealingKey, staged: &StagedFile) -> Result<OpeningReader<BufReader<File>>> {
    let reading =
        |e: std::io::Error| Error::internal(format!("reading {}: {e}", staged.path.display()));
    let file = File::open(&staged.path).map_err(reading)?;
    key.reader(
        BufReader::with_capacity(64 * 1024, file),
        &staged_aad(&staged.name),
    )
    .map_err(reading)
}

/// A writer that counts and hashes what passes through it.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// The inner writer, the byte count and the SHA-256 (hex).
    fn finish(self) -> (W, u64, String) {
        (self.inner, self.bytes, hex::encode(self.hasher.finalize()))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A sealed archive opened for its download: its plaintext, read chunk by chunk, each
/// authenticated before any of its bytes is returned. A damaged or truncated archive is a
/// read error, never data.
pub struct SealedArchive {
    length: u64,
    reader: OpeningReader<BufReader<File>>,
}

impl std::fmt::Debug for SealedArchive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedArchive")
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}

impl SealedArchive {
    /// The archive's plaintext length, from its sealed length.
    pub fn length(&self) -> u64 {
        self.length
    }
}

impl Read for SealedArchive {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.reader.read(buf)
    }
}

/// Opens the archive [`build`] wrote at `out` with `key`. Its length must be one a sealed
/// file can have, and its first chunk is authenticated now, so an archive damaged at its
/// start is refused before anything is sent.
pub fn open(key: &SealingKey, out: &Path) -> Result<SealedArchive> {
    let damaged = |why: String| Error::internal(format!("the archive {} {why}", out.display()));
    let out_name = out
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::internal(format!("export archive path {}", out.display())))?;
    let mut file = File::open(out).map_err(|e| damaged(format!("does not open: {e}")))?;
    // An archive made before archives were sealed at rest is not served: its link answers
    // as for a removed archive, and the expiry step removes the file with its export.
    let mut start = Vec::with_capacity(4);
    (&mut file)
        .take(4)
        .read_to_end(&mut start)
        .map_err(|e| damaged(format!("does not open: {e}")))?;
    if !crate::sealed::begins_sealed(&start) {
        return Err(Error::Gone(
            "the archive was made before export archives were sealed at rest; ask for a new export"
                .into(),
        ));
    }
    file.seek(std::io::SeekFrom::Start(0))
        .map_err(|e| damaged(format!("does not open: {e}")))?;
    let sealed = file
        .metadata()
        .map_err(|e| damaged(format!("does not open: {e}")))?
        .len();
    let length = plain_len(sealed)
        .ok_or_else(|| damaged("is truncated: no sealed file has its length".into()))?;
    let mut reader = key
        .reader(
            BufReader::with_capacity(64 * 1024, file),
            &archive_aad(out_name),
        )
        .map_err(|e| damaged(e.to_string()))?;
    reader.check_start().map_err(|e| damaged(e.to_string()))?;
    Ok(SealedArchive { length, reader })
}

/// The folder holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests;
