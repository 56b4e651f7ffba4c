//! The archive's tests: staging and resuming, both formats written and read back through
//! the seal, the manifest's sizes and digests, mbox escaping, and files bound to their names.

use super::eml_zip::ZIP_MANIFEST;
use super::mbox::{ASCTIME, received_from_name, write_escaped};
use super::*;

/// A temporary folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("mailplane-archive-{}", uuid::Uuid::now_v7()));
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
        staged[0].mailbox.id.into()
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
