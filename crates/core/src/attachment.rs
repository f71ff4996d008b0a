//! Files end to end: each file gets a fresh random key and is encrypted in 64 KiB chunks with
//! the STREAM construction (the `aead` crate's `EncryptorBE32`) over ChaCha20-Poly1305, so
//! memory stays flat for any size, and any change to the ciphertext is found: a chunk altered
//! (its tag), chunks reordered or dropped (each chunk's nonce holds its position), the end cut
//! off (only the last chunk is sealed as last), or bytes added after it. The [`FileKey`] — key,
//! nonce prefix, sizes, and the SHA-256 of the ciphertext the server stores — travels inside the
//! end-to-end message; the server sees the ciphertext and its size only.
//!
//! Decrypting writes to a temporary file beside the destination and moves it into place only
//! when the whole stream checked out, so nothing half-written or unauthenticated is ever shown
//! as the file.

use std::fmt;
use std::io::{Read, Write};
use std::path::Path;

use chacha20poly1305::aead::stream::{DecryptorBE32, EncryptorBE32};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// Plaintext bytes per chunk.
pub const CHUNK_BYTES: usize = 64 * 1024;
/// What ChaCha20-Poly1305 adds to each chunk.
const TAG_BYTES: usize = 16;
/// The STREAM nonce prefix: the cipher's 12-byte nonce less the 4-byte counter and the last-chunk flag.
const NONCE_PREFIX_BYTES: usize = 7;

/// Why a file could not be encrypted or decrypted. Nothing is written in place of the file.
#[derive(Debug, thiserror::Error)]
pub enum AttachmentError {
    /// The ciphertext does not authenticate: changed, reordered, from another file, or the key is wrong.
    #[error("the file was changed or damaged after it was sent (it does not decrypt)")]
    Tampered,
    /// The ciphertext ends before its last chunk.
    #[error("the file is incomplete: it ends before its last part")]
    Truncated,
    /// Bytes follow the last chunk, or the sizes differ from what the message says.
    #[error("the file is not the size the message says")]
    SizeMismatch,
    /// The ciphertext's SHA-256 is not the one the message carries.
    #[error("the file's checksum does not match the message's")]
    HashMismatch,
    /// The key in the message is not a key of this format.
    #[error("the message's file key is not valid")]
    InvalidKey,
    #[error("the system has no randomness to give")]
    Randomness(#[source] getrandom::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What opens one encrypted file and checks it: inside the end-to-end message, never on the
/// server. `Debug` leaves the key out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileKey {
    /// The ChaCha20-Poly1305 key (base64, 32 bytes).
    pub key: String,
    /// The STREAM nonce prefix (base64, 7 bytes).
    pub nonce: String,
    /// The plaintext's size.
    pub size: u64,
    /// The ciphertext's size (what the server stores): `size` plus 16 bytes per chunk.
    pub encrypted_size: u64,
    /// SHA-256 of the ciphertext (hex).
    pub sha256: String,
}

impl fmt::Debug for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileKey")
            .field("size", &self.size)
            .field("encrypted_size", &self.encrypted_size)
            .field("sha256", &self.sha256)
            .finish_non_exhaustive()
    }
}

/// The ciphertext's size for `size` plaintext bytes: one tag per chunk, and an empty file is one
/// (empty) last chunk.
pub fn encrypted_size(size: u64) -> u64 {
    let chunks = size.div_ceil(CHUNK_BYTES as u64).max(1);
    size + chunks * TAG_BYTES as u64
}

/// A file's key and nonce prefix, made fresh for each file. Encrypting the same file with the
/// same secret gives the same ciphertext, which is what lets an upload resume: the ciphertext
/// is made again and the part the server has is skipped.
pub struct FileSecret {
    key: Zeroizing<[u8; 32]>,
    nonce: [u8; NONCE_PREFIX_BYTES],
}

impl fmt::Debug for FileSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSecret").finish_non_exhaustive()
    }
}

impl FileSecret {
    pub fn generate() -> Result<FileSecret, AttachmentError> {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(key.as_mut_slice()).map_err(AttachmentError::Randomness)?;
        let mut nonce = [0u8; NONCE_PREFIX_BYTES];
        getrandom::fill(&mut nonce).map_err(AttachmentError::Randomness)?;
        Ok(FileSecret { key, nonce })
    }
}

/// Encrypt everything `input` gives into `output` under a fresh key; `progress` gets the
/// plaintext bytes done so far after each chunk.
pub fn encrypt(input: impl Read, output: impl Write, progress: impl FnMut(u64)) -> Result<FileKey, AttachmentError> {
    encrypt_with(&FileSecret::generate()?, input, output, progress)
}

/// [`encrypt`] under `secret`.
pub fn encrypt_with(
    secret: &FileSecret,
    mut input: impl Read,
    mut output: impl Write,
    mut progress: impl FnMut(u64),
) -> Result<FileKey, AttachmentError> {
    let (key, nonce) = (&secret.key, secret.nonce);
    let cipher = ChaCha20Poly1305::new_from_slice(key.as_slice()).map_err(|_| AttachmentError::InvalidKey)?;
    let mut stream = EncryptorBE32::from_aead(cipher, nonce.as_slice().into());
    let mut hash = Sha256::new();
    let (mut size, mut encrypted) = (0u64, 0u64);
    let mut emit = |sealed: &[u8], plain: usize, output: &mut dyn Write| -> std::io::Result<()> {
        hash.update(sealed);
        output.write_all(sealed)?;
        encrypted += sealed.len() as u64;
        size += plain as u64;
        progress(size);
        Ok(())
    };
    // One chunk of lookahead: a chunk is sealed as the last one only when nothing follows it.
    let mut current = read_chunk(&mut input, CHUNK_BYTES)?;
    loop {
        let next = read_chunk(&mut input, CHUNK_BYTES)?;
        if next.is_empty() {
            break;
        }
        let sealed = stream.encrypt_next(current.as_slice()).map_err(|_| AttachmentError::InvalidKey)?;
        emit(&sealed, current.len(), &mut output)?;
        current = next;
    }
    let sealed = stream.encrypt_last(current.as_slice()).map_err(|_| AttachmentError::InvalidKey)?;
    emit(&sealed, current.len(), &mut output)?;
    output.flush()?;
    Ok(FileKey {
        key: vodozemac::base64_encode(key.as_slice()),
        nonce: vodozemac::base64_encode(nonce),
        size,
        encrypted_size: encrypted,
        sha256: hex::encode(hash.finalize()),
    })
}

/// Decrypt `input` (the ciphertext) into `output`, checking it all against `key`; `progress`
/// gets the plaintext bytes done so far. On an error, what was written to `output` must be
/// thrown away (see [`decrypt_to_file`], which does).
pub fn decrypt(
    input: impl Read,
    output: impl Write,
    key: &FileKey,
    progress: impl FnMut(u64),
) -> Result<u64, AttachmentError> {
    decrypt_checking(input, output, key, Hash::Here, progress)
}

/// Where the ciphertext's SHA-256 is made (to go in the key) or checked (against it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    /// In the same pass.
    Here,
    /// By the caller, as the bytes go to or come from the network (on another core).
    ByCaller,
}

/// [`decrypt`], leaving the SHA-256 to the caller with [`Hash::ByCaller`] (every chunk is
/// still authenticated, and the sizes checked).
pub fn decrypt_checking(
    mut input: impl Read,
    mut output: impl Write,
    key: &FileKey,
    hashing: Hash,
    mut progress: impl FnMut(u64),
) -> Result<u64, AttachmentError> {
    let secret = Zeroizing::new(vodozemac::base64_decode(&key.key).map_err(|_| AttachmentError::InvalidKey)?);
    let nonce = vodozemac::base64_decode(&key.nonce).map_err(|_| AttachmentError::InvalidKey)?;
    if nonce.len() != NONCE_PREFIX_BYTES {
        return Err(AttachmentError::InvalidKey);
    }
    let cipher = ChaCha20Poly1305::new_from_slice(&secret).map_err(|_| AttachmentError::InvalidKey)?;
    let mut stream = DecryptorBE32::from_aead(cipher, nonce.as_slice().into());
    let mut hash = Sha256::new();
    let (mut size, mut encrypted) = (0u64, 0u64);
    let sealed_chunk = CHUNK_BYTES + TAG_BYTES;
    let mut account = |sealed: &[u8]| {
        if hashing == Hash::Here {
            hash.update(sealed);
        }
        encrypted += sealed.len() as u64;
        if encrypted > key.encrypted_size { Err(AttachmentError::SizeMismatch) } else { Ok(()) }
    };
    let mut current = read_chunk(&mut input, sealed_chunk)?;
    loop {
        let next = read_chunk(&mut input, sealed_chunk)?;
        if next.is_empty() {
            break;
        }
        // (A chunk followed by another is always whole: `read_chunk` is short only at the end.)
        account(&current)?;
        let plain = stream.decrypt_next(current.as_slice()).map_err(|_| AttachmentError::Tampered)?;
        output.write_all(&plain)?;
        size += plain.len() as u64;
        progress(size);
        current = next;
    }
    account(&current)?;
    // The end cut off (at a chunk boundary or inside a chunk): what is left does not open as the
    // last chunk, and is shorter than the message says.
    let plain = stream.decrypt_last(current.as_slice()).map_err(|_| {
        if encrypted < key.encrypted_size { AttachmentError::Truncated } else { AttachmentError::Tampered }
    })?;
    output.write_all(&plain)?;
    size += plain.len() as u64;
    progress(size);
    if size != key.size || encrypted != key.encrypted_size {
        return Err(AttachmentError::SizeMismatch);
    }
    if hashing == Hash::Here && hex::encode(hash.finalize()) != key.sha256.to_ascii_lowercase() {
        return Err(AttachmentError::HashMismatch);
    }
    output.flush()?;
    Ok(size)
}

/// [`decrypt`] into a new file at `dest`: written beside it under a temporary name, synced, and
/// moved into place only when everything checked out; on any error nothing is left. An existing
/// `dest` is never replaced ([`std::io::ErrorKind::AlreadyExists`]).
pub fn decrypt_to_file(
    input: impl Read,
    dest: &Path,
    key: &FileKey,
    progress: impl FnMut(u64),
) -> Result<u64, AttachmentError> {
    let dir = match dest.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut temp = tempfile::Builder::new().prefix(".sotto-download-").tempfile_in(dir)?;
    let size = decrypt(input, std::io::BufWriter::new(temp.as_file_mut()), key, progress)?;
    temp.as_file().sync_all()?;
    temp.persist_noclobber(dest).map_err(|e| AttachmentError::Io(e.error))?;
    Ok(size)
}

/// Up to `len` bytes: fewer only at the end of `input`.
fn read_chunk(input: &mut impl Read, len: usize) -> std::io::Result<Vec<u8>> {
    let mut chunk = Vec::with_capacity(len);
    input.take(len as u64).read_to_end(&mut chunk)?;
    Ok(chunk)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;

    /// Bytes that differ from chunk to chunk (so a reordering changes the file).
    fn file(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8 ^ (i / CHUNK_BYTES) as u8).collect()
    }

    fn seal(plain: &[u8]) -> (Vec<u8>, FileKey) {
        let mut sealed = Vec::new();
        let key = encrypt(plain, &mut sealed, |_| {}).unwrap();
        (sealed, key)
    }

    fn open(sealed: &[u8], key: &FileKey) -> Result<Vec<u8>, AttachmentError> {
        let mut plain = Vec::new();
        decrypt(sealed, &mut plain, key, |_| {})?;
        Ok(plain)
    }

    #[test]
    fn every_size_round_trips_with_the_size_and_hash_it_announces() {
        for len in [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES + 5] {
            let plain = file(len);
            let mut reported = Vec::new();
            let mut sealed = Vec::new();
            let key = encrypt(plain.as_slice(), &mut sealed, |n| reported.push(n)).unwrap();
            assert_eq!(key.size, len as u64);
            assert_eq!(key.encrypted_size, sealed.len() as u64, "{len}");
            assert_eq!(encrypted_size(len as u64), sealed.len() as u64, "{len}");
            assert_eq!(key.sha256, hex::encode(Sha256::digest(&sealed)));
            assert_eq!(reported.last().copied(), Some(len as u64));
            assert_eq!(open(&sealed, &key).unwrap(), plain, "{len}");
            // Not the plaintext, and a fresh key each time.
            if len > 16 {
                assert!(!sealed.windows(16).any(|w| w == &plain[..16]));
            }
            assert_ne!(seal(&plain).1.key, key.key);
        }
    }

    #[test]
    fn any_change_to_the_ciphertext_is_refused() {
        let plain = file(3 * CHUNK_BYTES + 100);
        let (sealed, key) = seal(&plain);
        let chunk = CHUNK_BYTES + TAG_BYTES;

        let mut flipped = sealed.clone();
        flipped[chunk + 7] ^= 1;
        assert!(matches!(open(&flipped, &key), Err(AttachmentError::Tampered)));

        let mut swapped = sealed.clone();
        let (first, rest) = swapped.split_at_mut(chunk);
        first.swap_with_slice(&mut rest[..chunk]);
        assert!(matches!(open(&swapped, &key), Err(AttachmentError::Tampered)));

        // Cut at a chunk boundary: the last chunk left was sealed as an inner one.
        assert!(matches!(open(&sealed[..2 * chunk], &key), Err(AttachmentError::Truncated)));
        // Cut inside a chunk, and cut to nothing.
        assert!(matches!(open(&sealed[..sealed.len() - 1], &key), Err(AttachmentError::Truncated)));
        assert!(matches!(open(&[], &key), Err(AttachmentError::Truncated)));

        let mut longer = sealed.clone();
        longer.extend_from_slice(b"more");
        assert!(matches!(open(&longer, &key), Err(AttachmentError::SizeMismatch)));

        let (other_sealed, other_key) = seal(&plain);
        assert!(matches!(open(&other_sealed, &key), Err(AttachmentError::Tampered)), "another file's key");
        let wrong_hash = FileKey { sha256: "00".repeat(32), ..other_key.clone() };
        assert!(matches!(open(&other_sealed, &wrong_hash), Err(AttachmentError::HashMismatch)));
        let wrong_size = FileKey { size: other_key.size - 1, ..other_key.clone() };
        assert!(matches!(open(&other_sealed, &wrong_size), Err(AttachmentError::SizeMismatch)));
        let bad_key = FileKey { key: "not base64!".into(), ..other_key };
        assert!(matches!(open(&other_sealed, &bad_key), Err(AttachmentError::InvalidKey)));
    }

    #[test]
    fn a_file_is_only_written_once_it_checked_out_and_never_over_another() {
        let dir = tempfile::tempdir().unwrap();
        let plain = file(2 * CHUNK_BYTES + 3);
        let (sealed, key) = seal(&plain);
        let dest = dir.path().join("photo.jpg");

        let mut damaged = sealed.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 0x80;
        assert!(matches!(decrypt_to_file(damaged.as_slice(), &dest, &key, |_| {}), Err(AttachmentError::Tampered)));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing is left behind");

        assert_eq!(decrypt_to_file(sealed.as_slice(), &dest, &key, |_| {}).unwrap(), plain.len() as u64);
        assert_eq!(std::fs::read(&dest).unwrap(), plain);

        let again = decrypt_to_file(sealed.as_slice(), &dest, &key, |_| {}).unwrap_err();
        assert!(matches!(&again, AttachmentError::Io(e) if e.kind() == std::io::ErrorKind::AlreadyExists), "{again}");
        assert_eq!(std::fs::read(&dest).unwrap(), plain);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn the_same_secret_makes_the_same_ciphertext_so_an_upload_can_resume() {
        let plain = file(2 * CHUNK_BYTES + 9);
        let secret = FileSecret::generate().unwrap();
        let (mut first, mut second) = (Vec::new(), Vec::new());
        let key = encrypt_with(&secret, plain.as_slice(), &mut first, |_| {}).unwrap();
        assert_eq!(encrypt_with(&secret, plain.as_slice(), &mut second, |_| {}).unwrap(), key);
        assert_eq!(first, second);
        assert_eq!(open(&first, &key).unwrap(), plain);
    }

    #[test]
    fn the_key_stays_out_of_debug_output() {
        let (_, key) = seal(b"secret");
        let shown = format!("{key:?}");
        assert!(!shown.contains(&key.key) && !shown.contains(&key.nonce), "{shown}");
    }
}
