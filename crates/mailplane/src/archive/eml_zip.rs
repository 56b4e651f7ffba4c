//! The `eml-zip` format: a zip holding one folder per mailbox and one `.eml` file per
//! message, plus the manifest at its root, written as a stream into the sealed archive.

use std::io::{Read, Write};
use std::path::Path;

use mailplane_types::{Error, Result};
use sha2::{Digest, Sha256};

use super::{
    ArchiveMailbox, ExportFormat, ExportManifest, ManifestFile, ManifestMailbox, StagedFile,
    finish_sealed, open_staged, sealed_out,
};
use crate::sealed::SealingKey;

/// The name of the manifest inside an `eml-zip` archive.
pub(super) const ZIP_MANIFEST: &str = "manifest.json";

/// Writes the `eml-zip` archive to `tmp`, sealed and synced, and returns its manifest
/// without `archive`, and the archive's plaintext size and SHA-256.
pub(super) fn write_zip(
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
