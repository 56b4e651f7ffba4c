//! Sealed files: data too large to seal in one piece (an export archive) written to disk in
//! chunks, each sealed with XChaCha20-Poly1305, so that nothing of it is readable at rest
//! and a reader never returns a byte that was not written.
//!
//! The construction is STREAM (Hoang, Reyhanitabar, Rogaway and Vizár, "Online
//! Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance"), as the `aead` crate's
//! `stream` module implements it with a big-endian 32-bit counter (`EncryptorBE32`). A file
//! starts with a four-byte magic and a random 19-byte nonce prefix; the plaintext follows in
//! chunks of [`CHUNK`] bytes, each sealed under the prefix, the chunk's index and a flag set
//! on the last chunk only, and bound to associated data that names what the file is. A
//! reordered, altered or dropped chunk fails its tag; a file cut at a chunk boundary lacks
//! its last chunk; bytes after the last chunk are refused. The last chunk is always shorter
//! than a full one (empty when the plaintext fills whole chunks), so a reader knows it by
//! its length, and a file's sealed length follows from its plaintext length
//! ([`sealed_len`], [`plain_len`]).
//!
//! Keys come from the data plane ([`crate::data_plane::DataPlane::export_key`]), derived
//! from the tenant's data key: destroying that key makes every sealed file of the tenant
//! unreadable, like its messages.

use std::io::{self, Read, Write};

use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::stream::{DecryptorBE32, EncryptorBE32};
use chacha20poly1305::aead::{KeyInit, Payload};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The plaintext size of every chunk but the last.
pub const CHUNK: usize = 64 * 1024;
/// What a sealed file starts with.
const MAGIC: &[u8; 4] = b"MPS1";
/// The length of the random nonce prefix (XChaCha20's 24 bytes less STREAM's five).
const PREFIX: usize = 19;
/// The length of Poly1305's tag.
const TAG: usize = 16;
/// The length of a sealed file's header: the magic and the nonce prefix.
const HEADER: usize = MAGIC.len() + PREFIX;

/// A 256-bit key for sealed files. Debug never shows it.
#[derive(Clone)]
pub struct SealingKey([u8; 32]);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(<secret>)")
    }
}

impl SealingKey {
    /// The key for `purpose` derived from `parent` (HMAC-SHA256 of the purpose under the
    /// parent key): a key of its own for each use of a tenant's data key.
    pub(crate) fn derive(parent: &[u8; 32], purpose: &str) -> SealingKey {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(parent).expect("HMAC takes a key of any length");
        mac.update(purpose.as_bytes());
        SealingKey(mac.finalize().into_bytes().into())
    }

    /// A random key, for tests and for callers that keep their own keys.
    pub fn random() -> SealingKey {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        SealingKey(k)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&self.0).into())
    }

    /// A writer that seals what it is given into `out`, bound to `aad`. Call
    /// [`SealingWriter::finish`] at the end: a file whose writer was dropped unfinished
    /// lacks its last chunk and never opens.
    pub fn writer<W: Write>(&self, mut out: W, aad: &str) -> io::Result<SealingWriter<W>> {
        let mut prefix = [0u8; PREFIX];
        rand::rngs::OsRng.fill_bytes(&mut prefix);
        out.write_all(MAGIC)?;
        out.write_all(&prefix)?;
        Ok(SealingWriter {
            inner: out,
            stream: Some(EncryptorBE32::from_aead(self.cipher(), (&prefix).into())),
            aad: aad.as_bytes().to_vec(),
            buf: Vec::with_capacity(CHUNK),
        })
    }

    /// Seals `plain` whole, bound to `aad`.
    pub fn seal(&self, plain: &[u8], aad: &str) -> io::Result<Vec<u8>> {
        let mut w = self.writer(
            Vec::with_capacity(sealed_len(plain.len() as u64) as usize),
            aad,
        )?;
        w.write_all(plain)?;
        w.finish()
    }

    /// A reader of what [`SealingKey::writer`] wrote into `input` with the same key and
    /// `aad`. It reads the header now; each chunk is authenticated before any of its bytes
    /// is returned, and a damaged, truncated or foreign file is an error
    /// ([`io::ErrorKind::InvalidData`]), never data.
    pub fn reader<R: Read>(&self, mut input: R, aad: &str) -> io::Result<OpeningReader<R>> {
        let mut header = [0u8; HEADER];
        if read_full(&mut input, &mut header)? < HEADER || &header[..MAGIC.len()] != MAGIC {
            return Err(damaged());
        }
        let mut prefix = [0u8; PREFIX];
        prefix.copy_from_slice(&header[MAGIC.len()..]);
        Ok(OpeningReader {
            inner: input,
            stream: Some(DecryptorBE32::from_aead(self.cipher(), (&prefix).into())),
            aad: aad.as_bytes().to_vec(),
            plain: Vec::new(),
            pos: 0,
            done: false,
        })
    }
}

/// Whether `start`, the first bytes of a file, begins as every sealed file does. A file that
/// does not was never sealed (an export archive made before archives were sealed at rest).
pub fn begins_sealed(start: &[u8]) -> bool {
    start.starts_with(MAGIC)
}

/// The length of the sealed file of `plain` bytes of plaintext.
pub fn sealed_len(plain: u64) -> u64 {
    HEADER as u64 + plain + TAG as u64 * (plain / CHUNK as u64 + 1)
}

/// The plaintext length of a sealed file of `sealed` bytes, or None when no sealed file has
/// that length.
pub fn plain_len(sealed: u64) -> Option<u64> {
    let body = sealed.checked_sub(HEADER as u64)?;
    let full = (CHUNK + TAG) as u64;
    let rest = body % full;
    (rest >= TAG as u64).then(|| body / full * CHUNK as u64 + rest - TAG as u64)
}

/// The error of a sealed file that does not open.
fn damaged() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "the sealed file is damaged or truncated, or was sealed with another key",
    )
}

/// Reads until `buf` is full or the input ends; returns how many bytes were read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Seals what is written to it, chunk by chunk (see [`SealingKey::writer`]).
pub struct SealingWriter<W: Write> {
    inner: W,
    stream: Option<EncryptorBE32<XChaCha20Poly1305>>,
    aad: Vec<u8>,
    buf: Vec<u8>,
}

impl<W: Write> SealingWriter<W> {
    /// Seals the last chunk and returns the inner writer (not flushed).
    pub fn finish(mut self) -> io::Result<W> {
        let stream = self.stream.take().ok_or_else(sealing_failed)?;
        let sealed = stream
            .encrypt_last(Payload {
                msg: &self.buf,
                aad: &self.aad,
            })
            .map_err(|_| sealing_failed())?;
        self.inner.write_all(&sealed)?;
        Ok(self.inner)
    }
}

fn sealing_failed() -> io::Error {
    io::Error::other("sealing a chunk failed")
}

impl<W: Write> Write for SealingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let take = (CHUNK - self.buf.len()).min(data.len());
        self.buf.extend_from_slice(&data[..take]);
        // A full chunk is never the last one: the last is sealed by `finish`, shorter.
        if self.buf.len() == CHUNK {
            let stream = self.stream.as_mut().ok_or_else(sealing_failed)?;
            let sealed = stream
                .encrypt_next(Payload {
                    msg: &self.buf,
                    aad: &self.aad,
                })
                .map_err(|_| sealing_failed())?;
            self.inner.write_all(&sealed)?;
            self.buf.clear();
        }
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Opens a sealed file chunk by chunk (see [`SealingKey::reader`]).
pub struct OpeningReader<R: Read> {
    inner: R,
    stream: Option<DecryptorBE32<XChaCha20Poly1305>>,
    aad: Vec<u8>,
    plain: Vec<u8>,
    pos: usize,
    done: bool,
}

impl<R: Read> OpeningReader<R> {
    /// Reads and authenticates the next chunk into the buffer.
    fn next_chunk(&mut self) -> io::Result<()> {
        let mut sealed = vec![0u8; CHUNK + TAG];
        let n = read_full(&mut self.inner, &mut sealed)?;
        sealed.truncate(n);
        let payload = Payload {
            msg: &sealed,
            aad: &self.aad,
        };
        self.plain = if n == CHUNK + TAG {
            self.stream
                .as_mut()
                .ok_or_else(damaged)?
                .decrypt_next(payload)
                .map_err(|_| damaged())?
        } else {
            let last = self
                .stream
                .take()
                .ok_or_else(damaged)?
                .decrypt_last(payload)
                .map_err(|_| damaged())?;
            // Nothing may follow the last chunk.
            if read_full(&mut self.inner, &mut [0u8; 1])? != 0 {
                return Err(damaged());
            }
            self.done = true;
            last
        };
        self.pos = 0;
        Ok(())
    }

    /// Authenticates the first chunk now, so that a file damaged at its start is refused
    /// before anything is handed on.
    pub fn check_start(&mut self) -> io::Result<()> {
        if self.pos == self.plain.len() && !self.done {
            self.next_chunk()?;
        }
        Ok(())
    }
}

impl<R: Read> Read for OpeningReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.plain.len() {
            if self.done || out.is_empty() {
                return Ok(0);
            }
            self.next_chunk()?;
        }
        let n = out.len().min(self.plain.len() - self.pos);
        out[..n].copy_from_slice(&self.plain[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(key: &SealingKey, sealed: &[u8], aad: &str) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        key.reader(sealed, aad)?.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn every_length_round_trips_and_has_the_length_foretold() {
        let key = SealingKey::random();
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 7] {
            let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let sealed = key.seal(&plain, "x").unwrap();
            assert_eq!(sealed.len() as u64, sealed_len(len as u64), "{len}");
            assert_eq!(plain_len(sealed.len() as u64), Some(len as u64), "{len}");
            assert_eq!(open(&key, &sealed, "x").unwrap(), plain, "{len}");
            if len > 16 {
                assert!(!sealed.windows(16).any(|w| w == &plain[..16]));
            }
        }
        assert_eq!(plain_len(HEADER as u64 + 3), None);
    }

    #[test]
    fn tampering_truncating_reordering_and_foreign_keys_are_errors() {
        let key = SealingKey::random();
        let plain: Vec<u8> = (0..3 * CHUNK + 100).map(|i| (i % 253) as u8).collect();
        let sealed = key.seal(&plain, "archive a").unwrap();
        let fails = |bytes: &[u8], key: &SealingKey, aad: &str| {
            let e = open(key, bytes, aad).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        };
        // One bit flipped anywhere after the magic.
        for at in [HEADER - 1, HEADER, HEADER + CHUNK + 20, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[at] ^= 1;
            fails(&bad, &key, "archive a");
        }
        // Cut at a chunk boundary, inside a chunk, or lengthened.
        fails(&sealed[..HEADER + 2 * (CHUNK + TAG)], &key, "archive a");
        fails(&sealed[..sealed.len() - 1], &key, "archive a");
        let mut longer = sealed.clone();
        longer.push(0);
        fails(&longer, &key, "archive a");
        // Two chunks swapped.
        let mut swapped = sealed.clone();
        let (a, b) = (HEADER, HEADER + CHUNK + TAG);
        let first = sealed[a..b].to_vec();
        swapped.copy_within(b..b + CHUNK + TAG, a);
        swapped[b..b + CHUNK + TAG].copy_from_slice(&first);
        fails(&swapped, &key, "archive a");
        // Another key, or the file presented as another one.
        fails(&sealed, &SealingKey::random(), "archive a");
        fails(&sealed, &key, "archive b");
        // The reader hands on the chunks before a damaged one, never a damaged byte.
        let mut bad = sealed.clone();
        bad[HEADER + 2 * (CHUNK + TAG) + 5] ^= 1;
        let mut reader = key.reader(&bad[..], "archive a").unwrap();
        let mut got = vec![0u8; 2 * CHUNK];
        reader.read_exact(&mut got).unwrap();
        assert_eq!(got, plain[..2 * CHUNK]);
        assert!(reader.read(&mut [0u8; 10]).is_err());
    }
}
