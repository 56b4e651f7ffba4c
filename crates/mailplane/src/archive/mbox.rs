//! The `mbox` format: one mboxrd file, each message preceded by its `From ` separator line
//! and escaped so that no line of a message is read as one.

use std::io::{Read, Write};
use std::path::Path;

use mailplane_types::{Error, Result};
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

use super::{
    ArchiveMailbox, ExportFormat, ExportManifest, ManifestFile, ManifestMailbox, NAME_TIME,
    StagedFile, finish_sealed, open_staged, sealed_out,
};
use crate::sealed::SealingKey;

/// The date of an mbox `From ` separator line, in C `asctime` form.
pub(super) const ASCTIME: &[BorrowedFormatItem<'static>] = format_description!(
    "[weekday repr:short] [month repr:short] [day padding:space] [hour]:[minute]:[second] [year]"
);

/// The separator date used when a staged file name carries no received time:
/// `Thu Jan  1 00:00:00 1970`, the Unix epoch.
const FALLBACK_DATE: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

/// Writes the mbox archive to `tmp`, sealed and synced, and returns its manifest without
/// `archive` (`files` holds the one mbox file under `out_name`), and the archive's plaintext
/// size and SHA-256.
pub(super) fn write_mbox(
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
pub(super) fn received_from_name(name: &str) -> Option<OffsetDateTime> {
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
pub(super) fn write_escaped(
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
