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
//!    ([`build`]). Finally the job removes the staging folder ([`remove_staging`]).
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

/// The name of the manifest inside an `eml-zip` archive.
const ZIP_MANIFEST: &str = "manifest.json";

/// The extension of a staged message.
const EML_EXTENSION: &str = ".eml";

/// How a received time is encoded in a staged message's file name (always UTC).
const NAME_TIME: &[BorrowedFormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");

/// The date of an mbox `From ` separator line, in C `asctime` form.
const ASCTIME: &[BorrowedFormatItem<'static>] = format_description!(
    "[weekday repr:short] [month repr:short] [day padding:space] [hour]:[minute]:[second] [year]"
);

/// The separator date used when a staged file name carries no received time:
/// `Thu Jan  1 00:00:00 1970`, the Unix epoch.
const FALLBACK_DATE: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

pub use mailplane_types::lifecycle::{ExportFormat, ExportManifest, ManifestFile, ManifestMailbox};

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

/// Writes the `eml-zip` archive to `tmp`, sealed and synced, and returns its manifest
/// without `archive`, and the archive's plaintext size and SHA-256.
fn write_zip(
    key: &SealingKey,
    tmp: &Path,
    out_name: &str,
    mailboxes: &[ArchiveMailbox],
    staged: &[Vec<StagedFile>],
) -> Result<(ExportManifest, u64, String)> {
    let zip_error =
        |e: zip::result::ZipError| Error::internal(format!("writing {}: {e}", tmp.display()));
    // A stream: the sealed file is written once, front to back.
    let mut zip = zip::ZipWriter::new_stream(sealed_out(key, tmp, out_name)?);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::DEFAULT)
        .unix_permissions(0o644);

    let mut manifest = ExportManifest {
        format: ExportFormat::EmlZip,
        messages: 0,
        bytes: 0,
        mailboxes: Vec::with_capacity(mailboxes.len()),
        files: Vec::new(),
        archive: None,
    };
    let mut folders = std::collections::HashSet::new();
    for (mailbox, files) in mailboxes.iter().zip(staged) {
        // Folders are compared without case, since a case-insensitive file system would
        // merge `A@x` and `a@x` on extraction.
        let base = folder_name(&mailbox.address);
        let folder = if base.chars().all(|c| c == '.') {
            mailbox.id.simple().to_string()
        } else if folders.contains(&base.to_ascii_lowercase()) {
            format!("{base}-{}", mailbox.id.simple())
        } else {
            base
        };
        folders.insert(folder.to_ascii_lowercase());
        let mut summary = ManifestMailbox {
            mailbox_id: mailbox.id.into(),
            address: mailbox.address.clone(),
            messages: 0,
            bytes: 0,
        };
        for staged in files {
            let path = format!("{folder}/{}", staged.name);
            zip.start_file(
                path.as_str(),
                options.large_file(staged.size >= u64::from(u32::MAX)),
            )
            .map_err(zip_error)?;
            let (bytes, sha256) =
                copy_hashed(open_staged(key, staged)?, &staged.path, &mut zip, tmp)?;
            summary.messages += 1;
            summary.bytes += bytes;
            manifest.files.push(ManifestFile {
                path,
                bytes,
                sha256,
            });
        }
        manifest.messages += summary.messages;
        manifest.bytes += summary.bytes;
        manifest.mailboxes.push(summary);
    }

    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| Error::internal(format!("serializing the export manifest: {e}")))?;
    zip.start_file(ZIP_MANIFEST, options).map_err(zip_error)?;
    zip.write_all(&json)
        .map_err(|e| Error::internal(format!("writing {}: {e}", tmp.display())))?;
    let writer = zip.finish().map_err(zip_error)?.into_inner();
    let (bytes, sha256) = finish_sealed(writer, tmp)?;
    Ok((manifest, bytes, sha256))
}

/// The zip folder of a mailbox: its address with every character other than
/// `[A-Za-z0-9._@+-]` replaced by `_`.
fn folder_name(address: &str) -> String {
    address
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '+' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Streams `file` (read from `from`) into `to`, returning its size and SHA-256 (hex).
fn copy_hashed(
    mut file: impl Read,
    from: &Path,
    to: &mut impl Write,
    archive: &Path,
) -> Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::internal(format!("reading {}: {e}", from.display())))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        to.write_all(&buf[..n])
            .map_err(|e| Error::internal(format!("writing {}: {e}", archive.display())))?;
        total += n as u64;
    }
    Ok((total, hex::encode(hasher.finalize())))
}

/// Writes the mbox archive to `tmp`, sealed and synced, and returns its manifest without
/// `archive` (`files` holds the one mbox file under `out_name`), and the archive's plaintext
/// size and SHA-256.
fn write_mbox(
    key: &SealingKey,
    tmp: &Path,
    out_name: &str,
    mailboxes: &[ArchiveMailbox],
    staged: &[Vec<StagedFile>],
) -> Result<(ExportManifest, u64, String)> {
    let writing = |e: std::io::Error| Error::internal(format!("writing {}: {e}", tmp.display()));
    let mut out = sealed_out(key, tmp, out_name)?;
    let mut manifest = ExportManifest {
        format: ExportFormat::Mbox,
        messages: 0,
        bytes: 0,
        mailboxes: Vec::with_capacity(mailboxes.len()),
        files: Vec::new(),
        archive: None,
    };
    for (mailbox, files) in mailboxes.iter().zip(staged) {
        let sender = separator_sender(&mailbox.address);
        let mut summary = ManifestMailbox {
            mailbox_id: mailbox.id.into(),
            address: mailbox.address.clone(),
            messages: 0,
            bytes: 0,
        };
        for staged in files {
            let date = received_from_name(&staged.name)
                .and_then(|at| at.format(ASCTIME).ok())
                .unwrap_or_else(fallback_date);
            writeln!(out, "From {sender} {date}").map_err(writing)?;
            let bytes = write_escaped(open_staged(key, staged)?, &staged.path, &mut out, tmp)?;
            out.write_all(b"\n").map_err(writing)?;
            summary.messages += 1;
            summary.bytes += bytes;
        }
        manifest.messages += summary.messages;
        manifest.bytes += summary.bytes;
        manifest.mailboxes.push(summary);
    }
    let (bytes, sha256) = finish_sealed(out, tmp)?;
    manifest.files.push(ManifestFile {
        path: out_name.to_string(),
        bytes,
        sha256: sha256.clone(),
    });
    Ok((manifest, bytes, sha256))
}

/// The fixed separator date, in `asctime` form.
fn fallback_date() -> String {
    FALLBACK_DATE
        .format(ASCTIME)
        .unwrap_or_else(|_| "Thu Jan  1 00:00:00 1970".to_string())
}

/// The sender of an mbox separator line: the address, with whitespace and control
/// characters (which would break the line's fields) replaced by `_`.
fn separator_sender(address: &str) -> String {
    if address.is_empty() {
        return "MAILER-DAEMON".to_string();
    }
    address
        .chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// The received time encoded in a staged file name by [`message_file_name`], if any.
fn received_from_name(name: &str) -> Option<OffsetDateTime> {
    let mut parts = name.split('-');
    let index = parts.next()?;
    let received = parts.next()?;
    if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    time::PrimitiveDateTime::parse(received, NAME_TIME)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

/// The mboxrd prefix that gets escaped at the start of a line, after any `>`.
const FROM: &[u8] = b"From ";

/// Streams a message into `out` with mboxrd escaping (one more `>` on every line matching
/// `^>*From `) and a final newline if it lacks one; returns the message's original size.
fn write_escaped(
    mut file: impl Read,
    from: &Path,
    out: &mut impl Write,
    archive: &Path,
) -> Result<u64> {
    let reading = |e: std::io::Error| Error::internal(format!("reading {}: {e}", from.display()));
    let writing =
        |e: std::io::Error| Error::internal(format!("writing {}: {e}", archive.display()));
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    let mut last = None;
    // At the start of a line, the bytes read so far that may still become `>*From `: some
    // `>` and then the first `matched` bytes of `From `.
    let mut at_line_start = true;
    let mut pending: Vec<u8> = Vec::new();
    let mut matched = 0usize;
    loop {
        let n = file.read(&mut buf).map_err(reading)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        last = Some(buf[n - 1]);
        let mut chunk = &buf[..n];
        while !chunk.is_empty() {
            if !at_line_start {
                // Copy up to and including the next newline in one write.
                match chunk.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        out.write_all(&chunk[..=i]).map_err(writing)?;
                        chunk = &chunk[i + 1..];
                        at_line_start = true;
                    }
                    None => {
                        out.write_all(chunk).map_err(writing)?;
                        chunk = &[];
                    }
                }
                continue;
            }
            let b = chunk[0];
            chunk = &chunk[1..];
            if matched == 0 && b == b'>' {
                pending.push(b);
            } else if b == FROM[matched] {
                pending.push(b);
                matched += 1;
                if matched == FROM.len() {
                    out.write_all(b">").map_err(writing)?;
                    out.write_all(&pending).map_err(writing)?;
                    pending.clear();
                    matched = 0;
                    at_line_start = false;
                }
            } else {
                out.write_all(&pending).map_err(writing)?;
                out.write_all(&[b]).map_err(writing)?;
                pending.clear();
                matched = 0;
                at_line_start = b == b'\n';
            }
        }
    }
    out.write_all(&pending).map_err(writing)?;
    if last.is_some_and(|b| b != b'\n') {
        out.write_all(b"\n").map_err(writing)?;
    }
    Ok(total)
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
mod tests {
    use super::*;

    /// A temporary folder, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            let dir =
                std::env::temp_dir().join(format!("mailplane-archive-{}", uuid::Uuid::now_v7()));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// The key every file of these tests is sealed with.
    fn key() -> &'static SealingKey {
        static KEY: std::sync::OnceLock<SealingKey> = std::sync::OnceLock::new();
        KEY.get_or_init(SealingKey::random)
    }

    /// An archive's plaintext, opened with the tests' key.
    fn read_archive(out: &Path) -> Vec<u8> {
        let mut bytes = Vec::new();
        open(key(), out).unwrap().read_to_end(&mut bytes).unwrap();
        bytes
    }

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    fn sha(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    /// A staged mailbox and the messages staged in it, in order.
    struct Staged {
        mailbox: ArchiveMailbox,
        messages: Vec<(String, Vec<u8>)>,
    }

    fn stage(staging: &Path, address: &str, bodies: &[&[u8]], first: i64) -> Staged {
        let id = uuid::Uuid::now_v7();
        let dir = mailbox_staging(staging, id);
        reset_mailbox_staging(&dir).unwrap();
        let mut messages = Vec::new();
        for (i, body) in bodies.iter().enumerate() {
            let name = message_file_name(
                i as u64 + 1,
                at(first + i as i64 * 60),
                uuid::Uuid::now_v7(),
            );
            stage_message(key(), &dir, &name, body).unwrap();
            messages.push((name, body.to_vec()));
        }
        mark_staged(&dir).unwrap();
        Staged {
            mailbox: ArchiveMailbox {
                id,
                address: address.to_string(),
                dir,
            },
            messages,
        }
    }

    const ALICE_1: &[u8] =
        b"From: bob@example.com\r\nTo: alice@example.com\r\nSubject: Hi\r\n\r\nHello Alice.\r\n";
    const ALICE_2: &[u8] = b"From: carol@example.com\nTo: alice@example.com\nSubject: Quote\n\nFrom the start\n>From the middle\nnot From here\n";
    const ALICE_3: &[u8] = b"Subject: no final newline\n\nbody";
    const BOB_1: &[u8] =
        b"From: alice@example.com\nTo: bob+x@example.com\nSubject: Re\n\n>>From quoted\nFrom\n";

    fn two_mailboxes(staging: &Path) -> Vec<Staged> {
        vec![
            stage(
                staging,
                "alice@example.com",
                &[ALICE_1, ALICE_2, ALICE_3],
                1_795_000_000,
            ),
            stage(staging, "bob+x y@example.com", &[BOB_1], 1_795_100_000),
        ]
    }

    #[test]
    fn format_names_round_trip() {
        for format in [ExportFormat::Mbox, ExportFormat::EmlZip] {
            assert_eq!(ExportFormat::parse(format.as_str()), Some(format));
            let json = serde_json::to_string(&format).unwrap();
            assert_eq!(json, format!("\"{}\"", format.as_str()));
        }
        assert_eq!(ExportFormat::parse("zip"), None);
        assert_eq!(ExportFormat::EmlZip.as_str(), "eml-zip");
        assert_eq!(ExportFormat::EmlZip.content_type(), "application/zip");
        assert_eq!(ExportFormat::Mbox.content_type(), "application/mbox");
        assert_eq!(ExportFormat::EmlZip.extension(), "zip");
        assert_eq!(ExportFormat::Mbox.extension(), "mbox");
    }

    #[test]
    fn file_names_sort_in_import_order_and_carry_the_time() {
        let id = uuid::Uuid::now_v7();
        let name = message_file_name(1, time::macros::datetime!(2026-11-24 10:00:00 UTC), id);
        assert_eq!(name, format!("000001-20261124T100000Z-{}.eml", id.simple()));
        assert_eq!(
            received_from_name(&name),
            Some(time::macros::datetime!(2026-11-24 10:00:00 UTC))
        );
        let mut names = [1_000_000u64, 2, 999_999, 10]
            .map(|i| message_file_name(i, at(0), id))
            .to_vec();
        names.sort_by(|a, b| (leading_digits(a), a).cmp(&(leading_digits(b), b)));
        let order: Vec<_> = names.iter().map(|n| n.split('-').next().unwrap()).collect();
        assert_eq!(order, ["000002", "000010", "999999", "1000000"]);
        assert!(stage_message(key(), Path::new("/nonexistent"), "../x.eml", b"").is_err());
        assert!(stage_message(key(), Path::new("/nonexistent"), "x.txt", b"").is_err());
    }

    #[test]
    fn eml_zip_holds_every_message_and_a_matching_manifest() {
        let tmp = TempDir::new();
        let staged = two_mailboxes(&tmp.0.join("staging"));
        let mailboxes: Vec<_> = staged.iter().map(|s| s.mailbox.clone()).collect();
        // A leftover temporary file of an interrupted `stage_message` is not a message.
        std::fs::write(mailboxes[0].dir.join(".000009-x.eml.tmp"), b"junk").unwrap();
        let out = tmp.0.join("export.zip");
        let manifest = build(key(), ExportFormat::EmlZip, &mailboxes, &out).unwrap();

        let folders = ["alice@example.com", "bob+x_y@example.com"];
        let mut expected = Vec::new();
        for (s, folder) in staged.iter().zip(folders) {
            for (name, body) in &s.messages {
                expected.push((format!("{folder}/{name}"), body.clone()));
            }
        }

        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(read_archive(&out))).unwrap();
        let names: Vec<String> = zip.file_names().map(|n| n.unwrap().to_string()).collect();
        let mut wanted: Vec<String> = expected.iter().map(|(n, _)| n.clone()).collect();
        wanted.push(ZIP_MANIFEST.to_string());
        assert_eq!(names, wanted);
        for (name, body) in &expected {
            let mut entry = zip.by_name(name).unwrap();
            assert_eq!(entry.compression(), zip::CompressionMethod::Deflated);
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            assert_eq!(&content, body);
        }

        let mut json = Vec::new();
        zip.by_name(ZIP_MANIFEST)
            .unwrap()
            .read_to_end(&mut json)
            .unwrap();
        let inner: ExportManifest = serde_json::from_slice(&json).unwrap();
        assert_eq!(inner.archive, None);
        assert!(!String::from_utf8(json).unwrap().contains("\"archive\""));
        assert_eq!(
            inner,
            ExportManifest {
                archive: None,
                ..manifest.clone()
            }
        );

        let total: u64 = expected.iter().map(|(_, b)| b.len() as u64).sum();
        assert_eq!(manifest.format, ExportFormat::EmlZip);
        assert_eq!(manifest.messages, 4);
        assert_eq!(manifest.bytes, total);
        assert_eq!(
            manifest.files,
            expected
                .iter()
                .map(|(path, body)| ManifestFile {
                    path: path.clone(),
                    bytes: body.len() as u64,
                    sha256: sha(body),
                })
                .collect::<Vec<_>>()
        );
        assert_eq!(manifest.mailboxes.len(), 2);
        assert_eq!(
            manifest.mailboxes[0].mailbox_id,
            mailplane_types::MailboxId::from(staged[0].mailbox.id)
        );
        assert_eq!(manifest.mailboxes[0].address, "alice@example.com");
        assert_eq!(manifest.mailboxes[0].messages, 3);
        assert_eq!(
            manifest.mailboxes[0].bytes,
            (ALICE_1.len() + ALICE_2.len() + ALICE_3.len()) as u64
        );
        assert_eq!(manifest.mailboxes[1].messages, 1);
        assert_eq!(manifest.mailboxes[1].bytes, BOB_1.len() as u64);

        let archive = read_archive(&out);
        assert_eq!(
            manifest.archive,
            Some(ManifestFile {
                path: "export.zip".into(),
                bytes: archive.len() as u64,
                sha256: sha(&archive),
            })
        );
        // The sidecar is sealed: no address of the manifest is readable in it, and it opens
        // with the key to the manifest.
        let sealed = std::fs::read(tmp.0.join("export.zip.manifest.json")).unwrap();
        let plain = serde_json::to_vec_pretty(&manifest).unwrap();
        let address = b"alice@example.com";
        assert!(
            !sealed.windows(address.len()).any(|w| w == address),
            "an address in the sidecar"
        );
        assert!(plain.windows(address.len()).any(|w| w == address));
        let mut opened = Vec::new();
        key()
            .reader(&sealed[..], &sidecar_aad("export.zip"))
            .unwrap()
            .read_to_end(&mut opened)
            .unwrap();
        assert_eq!(opened, plain);
        assert!(!tmp.0.join(".export.zip.tmp").exists());

        // The same input gives the same bytes.
        let again = tmp.0.join("again.zip");
        let second = build(key(), ExportFormat::EmlZip, &mailboxes, &again).unwrap();
        assert_eq!(read_archive(&again), archive);
        assert_eq!(second.files, manifest.files);
    }

    /// Splits an mboxrd file into its separator lines and unescaped messages.
    fn read_mbox(mbox: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut messages: Vec<(String, Vec<u8>)> = Vec::new();
        for line in mbox.split_inclusive(|&b| b == b'\n') {
            if line.starts_with(b"From ") {
                let separator = String::from_utf8(line.to_vec()).unwrap();
                messages.push((separator.trim_end().to_string(), Vec::new()));
                continue;
            }
            let body = &mut messages.last_mut().expect("a separator first").1;
            let quoted = line.iter().take_while(|&&b| b == b'>').count();
            if quoted > 0 && line[quoted..].starts_with(b"From ") {
                body.extend_from_slice(&line[1..]);
            } else {
                body.extend_from_slice(line);
            }
        }
        // Each message is followed by one empty line, which is not part of it.
        for (_, body) in &mut messages {
            assert!(body.ends_with(b"\n\n") || body == b"\n", "{body:?}");
            body.pop();
        }
        messages
    }

    #[test]
    fn mbox_escapes_from_lines_and_unescapes_to_the_original() {
        let tmp = TempDir::new();
        let staged = two_mailboxes(&tmp.0.join("staging"));
        let mailboxes: Vec<_> = staged.iter().map(|s| s.mailbox.clone()).collect();
        let out = tmp.0.join("export.mbox");
        let manifest = build(key(), ExportFormat::Mbox, &mailboxes, &out).unwrap();
        let mbox = read_archive(&out);
        let text = String::from_utf8(mbox.clone()).unwrap();

        let separators: Vec<&str> = text.lines().filter(|l| l.starts_with("From ")).collect();
        assert_eq!(separators.len(), 4);
        let first = at(1_795_000_000).format(ASCTIME).unwrap();
        assert_eq!(separators[0], format!("From alice@example.com {first}"));
        assert_eq!(
            at(1_795_000_000).format(ASCTIME).unwrap(),
            "Wed Nov 18 11:06:40 2026"
        );
        assert!(separators[3].starts_with("From bob+x_y@example.com "));
        assert!(text.contains("\n>From the start\n"));
        assert!(text.contains("\n>>From the middle\n"));
        assert!(text.contains("\nnot From here\n"));
        assert!(text.contains("\n>>>From quoted\n"));
        assert!(text.contains("\nFrom\n"));

        let read = read_mbox(&mbox);
        let originals: Vec<Vec<u8>> = staged
            .iter()
            .flat_map(|s| s.messages.iter().map(|(_, b)| b.clone()))
            .collect();
        assert_eq!(read.len(), originals.len());
        for ((_, body), original) in read.iter().zip(&originals) {
            let mut expected = original.clone();
            if !expected.ends_with(b"\n") {
                expected.push(b'\n');
            }
            assert_eq!(body, &expected);
        }
        // The CRLF message keeps its line endings.
        assert_eq!(read[0].1, ALICE_1);

        let total: u64 = originals.iter().map(|b| b.len() as u64).sum();
        assert_eq!(manifest.format, ExportFormat::Mbox);
        assert_eq!(manifest.messages, 4);
        assert_eq!(manifest.bytes, total);
        let file = ManifestFile {
            path: "export.mbox".into(),
            bytes: mbox.len() as u64,
            sha256: sha(&mbox),
        };
        assert_eq!(manifest.files, vec![file.clone()]);
        assert_eq!(manifest.archive, Some(file));
    }

    #[test]
    fn escaping_handles_from_split_across_reads() {
        // A message larger than the read buffer, with `From ` straddling its boundary.
        let tmp = TempDir::new();
        let mut message = vec![b'a'; 64 * 1024 - 3];
        message.extend_from_slice(b"\n>From x\nFrom");
        let path = tmp.0.join("big.eml");
        std::fs::write(&path, &message).unwrap();
        let mut out = Vec::new();
        let size = write_escaped(File::open(&path).unwrap(), &path, &mut out, &tmp.0).unwrap();
        assert_eq!(size, message.len() as u64);
        let mut expected = vec![b'a'; 64 * 1024 - 3];
        expected.extend_from_slice(b"\n>>From x\nFrom\n");
        assert_eq!(out, expected);
    }

    #[cfg(unix)]
    #[test]
    fn a_second_build_returns_the_sidecar_without_rewriting() {
        use std::os::unix::fs::MetadataExt;
        let tmp = TempDir::new();
        let staged = two_mailboxes(&tmp.0.join("staging"));
        let mailboxes: Vec<_> = staged.iter().map(|s| s.mailbox.clone()).collect();
        let out = tmp.0.join("export.zip");
        let first = build(key(), ExportFormat::EmlZip, &mailboxes, &out).unwrap();
        let before = std::fs::metadata(&out).unwrap();

        // Even without the staging folder, the finished archive is returned as is.
        remove_staging(&tmp.0.join("staging")).unwrap();
        remove_staging(&tmp.0.join("staging")).unwrap();
        let second = build(key(), ExportFormat::EmlZip, &mailboxes, &out).unwrap();
        let after = std::fs::metadata(&out).unwrap();
        assert_eq!(second, first);
        assert_eq!(after.ino(), before.ino());
        assert_eq!(after.modified().unwrap(), before.modified().unwrap());

        // Without the sidecar the archive is rebuilt, which needs the (now gone) staging.
        std::fs::remove_file(tmp.0.join("export.zip.manifest.json")).unwrap();
        assert!(build(key(), ExportFormat::EmlZip, &mailboxes, &out).is_err());
    }

    #[test]
    fn an_incomplete_mailbox_is_reset_and_refused_by_build() {
        let tmp = TempDir::new();
        let staging = tmp.0.join("staging");
        let id = uuid::Uuid::now_v7();
        let dir = mailbox_staging(&staging, id);
        assert_eq!(dir, staging.join(id.to_string()));
        reset_mailbox_staging(&dir).unwrap();
        let name = message_file_name(1, at(0), uuid::Uuid::now_v7());
        stage_message(key(), &dir, &name, b"Subject: one\n\n1\n").unwrap();
        // Staging the same message again is harmless.
        stage_message(key(), &dir, &name, b"Subject: one\n\n1\n").unwrap();
        assert!(!is_staged(&dir));
        let mailbox = ArchiveMailbox {
            id,
            address: "a@example.com".into(),
            dir: dir.clone(),
        };
        let out = tmp.0.join("export.mbox");
        assert!(
            build(
                key(),
                ExportFormat::Mbox,
                std::slice::from_ref(&mailbox),
                &out
            )
            .is_err()
        );
        assert!(!out.exists());

        // A resumed job wipes the incomplete folder and stages it again.
        reset_mailbox_staging(&dir).unwrap();
        assert!(dir.is_dir());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        stage_message(key(), &dir, &name, b"Subject: one\n\n1\n").unwrap();
        mark_staged(&dir).unwrap();
        assert!(is_staged(&dir));
        let manifest = build(key(), ExportFormat::Mbox, &[mailbox], &out).unwrap();
        assert_eq!(manifest.messages, 1);
        let mbox = String::from_utf8(read_archive(&out)).unwrap();
        assert_eq!(
            mbox,
            "From a@example.com Thu Jan  1 00:00:00 1970\nSubject: one\n\n1\n\n"
        );

        remove_staging(&staging).unwrap();
        assert!(!staging.exists());
    }

    #[test]
    fn nothing_staged_or_packaged_is_plaintext_and_a_damaged_archive_does_not_open() {
        let tmp = TempDir::new();
        let staged = two_mailboxes(&tmp.0.join("staging"));
        let mailboxes: Vec<_> = staged.iter().map(|s| s.mailbox.clone()).collect();
        let out = tmp.0.join("export.mbox");
        build(key(), ExportFormat::Mbox, &mailboxes, &out).unwrap();
        assert!(
            String::from_utf8(read_archive(&out))
                .unwrap()
                .contains("Hello Alice.")
        );
        // No file under the folder holds a message's text: not the staged messages, not
        // the archive, not the sidecar.
        let mut files = vec![tmp.0.clone()];
        let mut seen = 0;
        while let Some(path) = files.pop() {
            if path.is_dir() {
                files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            seen += 1;
            let bytes = std::fs::read(&path).unwrap();
            for marker in [&b"Hello Alice."[..], b"From the middle", b"Subject: Re"] {
                assert!(
                    !bytes.windows(marker.len()).any(|w| w == marker),
                    "{} holds plaintext",
                    path.display()
                );
            }
        }
        assert!(seen >= 6, "{seen}");
        // Another key opens nothing; a flipped bit, a cut or an archive presented under
        // another name is an error, never data.
        assert!(open(&SealingKey::random(), &out).is_err());
        let sealed = std::fs::read(&out).unwrap();
        let mut flipped = sealed.clone();
        let last = flipped.len() - 3;
        flipped[last] ^= 1;
        let opens = |path: &Path| match open(key(), path) {
            Ok(mut archive) => archive.read_to_end(&mut Vec::new()).is_ok(),
            Err(_) => false,
        };
        assert!(opens(&out));
        std::fs::write(&out, &flipped).unwrap();
        assert!(!opens(&out));
        std::fs::write(&out, &sealed[..sealed.len() - 1]).unwrap();
        assert!(!opens(&out));
        let moved = tmp.0.join("other.mbox");
        std::fs::write(&moved, &sealed).unwrap();
        assert!(!opens(&moved));
    }
}
