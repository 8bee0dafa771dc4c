//! Sealed tokens: shard iterators and NextTokens are encrypted and
//! authenticated with the server's token key (AES-256-GCM-SIV), so a client
//! can neither read them (stream names, offsets) nor forge or alter them.
//!
//! The key is 32 random bytes in `<data-dir>/keys/token.key` (mode 0600),
//! created on first start, so tokens issued before a restart still open
//! after it. Each token kind is bound as associated data: an iterator does
//! not open as a NextToken, nor a ListStreams token as a ListShards one.
//! GCM-SIV rather than GCM because nonces are random and a busy server
//! issues an iterator per GetRecords: a repeated nonce must not leak the key.

use crate::error::StreamsError;
use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use rand::RngCore;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the key lives, relative to the data directory.
pub const KEY_FILE: &str = "keys/token.key";
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
/// The AEAD tag appended to every ciphertext.
pub const TAG_LEN: usize = 16;
/// Bytes a sealed token adds to its plaintext: the nonce and the tag.
pub const OVERHEAD: usize = NONCE_LEN + TAG_LEN;
/// Associated-data prefix: names the format, so another use of the key
/// (should one appear) cannot open these tokens.
const AD_PREFIX: &[u8] = b"riffle.token.v1/";

/// What a sealed token is for; bound as associated data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TokenKind {
    ShardIterator = 1,
    ListStreams = 2,
    ListShards = 3,
    ListStreamConsumers = 4,
}

/// The server's token key. `Debug` never shows it.
#[derive(Clone)]
pub struct TokenKey {
    cipher: Aes256GcmSiv,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> TokenKey {
        TokenKey {
            cipher: Aes256GcmSiv::new(bytes.into()),
        }
    }

    /// A fresh random key held only in memory.
    pub fn generate() -> Result<TokenKey, StreamsError> {
        Ok(Self::from_bytes(&random_key()?))
    }

    /// The key file of a data directory.
    pub fn path_in(data_dir: &Path) -> PathBuf {
        data_dir.join(KEY_FILE)
    }

    /// Loads `<data_dir>/keys/token.key`, creating it on first start.
    ///
    /// Creation is durable and race-free: the key is written to a temporary
    /// file (0600), fsynced, then hard-linked to its name, which fails if
    /// another process got there first (then its key is used), and the
    /// folder is fsynced. A key file of the wrong size stops the start rather
    /// than being replaced, since replacing it silently voids every token.
    pub fn load_or_create(data_dir: &Path) -> Result<TokenKey, StreamsError> {
        let path = Self::path_in(data_dir);
        let dir = path.parent().unwrap_or(data_dir).to_path_buf();
        let io = |what: &str, p: &Path, e: std::io::Error| {
            StreamsError::Internal(format!("token key: cannot {what} {}: {e}", p.display()))
        };
        if !path.exists() {
            let fresh_dir = !dir.exists();
            create_private_dir(&dir).map_err(|e| io("create", &dir, e))?;
            if fresh_dir {
                sync_dir(data_dir).map_err(|e| io("sync", data_dir, e))?;
            }
            let tmp = dir.join(format!("token.key.tmp.{}", std::process::id()));
            write_private(&tmp, &random_key()?).map_err(|e| io("write", &tmp, e))?;
            let linked = std::fs::hard_link(&tmp, &path);
            let _ = std::fs::remove_file(&tmp);
            match linked {
                Ok(()) => tracing::info!(path = %path.display(), "created the token key"),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io("create", &path, e)),
            }
            sync_dir(&dir).map_err(|e| io("sync", &dir, e))?;
        }
        let bytes = std::fs::read(&path).map_err(|e| io("read", &path, e))?;
        let key: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
            StreamsError::Internal(format!(
                "token key {} holds {} bytes, not {KEY_LEN}; restore it from a backup, or delete it to make a new one (every shard iterator and NextToken issued so far then becomes invalid)",
                path.display(),
                bytes.len()
            ))
        })?;
        warn_if_readable_by_others(&path);
        Ok(Self::from_bytes(&key))
    }

    /// Encrypts and authenticates `plaintext` for `kind`: nonce, ciphertext, tag.
    pub fn seal(&self, kind: TokenKind, plaintext: &[u8]) -> Result<Vec<u8>, StreamsError> {
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce)?;
        let aad = associated_data(kind);
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| StreamsError::Internal("token sealing failed".into()))?;
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// The plaintext of a token sealed by this key for `kind`; `None` for
    /// anything else (forged, altered, truncated, another kind or key).
    pub fn open(&self, kind: TokenKind, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < OVERHEAD {
            return None;
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let aad = associated_data(kind);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
            .ok()
    }
}

fn associated_data(kind: TokenKind) -> Vec<u8> {
    let mut ad = AD_PREFIX.to_vec();
    ad.push(kind as u8);
    ad
}

fn random_key() -> Result<[u8; KEY_LEN], StreamsError> {
    let mut k = [0u8; KEY_LEN];
    fill_random(&mut k)?;
    Ok(k)
}

/// The operating system's randomness; an error (not a panic) if it fails.
fn fill_random(buf: &mut [u8]) -> Result<(), StreamsError> {
    rand::rngs::OsRng
        .try_fill_bytes(buf)
        .map_err(|e| StreamsError::Internal(format!("no randomness for a token: {e}")))
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Writes `bytes` to a new file readable only by its owner, and fsyncs it.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    // The mode applies only to files this call creates: a stale temporary
    // file of an interrupted start may have been made otherwise.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(path) {
        if m.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{:o}", m.permissions().mode() & 0o777), "the token key is readable by other users; anyone who reads it can forge shard iterators (chmod 600)");
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// Builds a token's plaintext: big-endian integers and length-prefixed strings.
#[derive(Default)]
pub(crate) struct Writer(pub(crate) Vec<u8>);

impl Writer {
    pub(crate) fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    pub(crate) fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(crate) fn i64(&mut self, v: i64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// A string of at most 65535 bytes, with a 2-byte length.
    pub(crate) fn str(&mut self, s: &str) -> Result<&mut Self, StreamsError> {
        let len = u16::try_from(s.len())
            .map_err(|_| StreamsError::Internal("token field too long".into()))?;
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(s.as_bytes());
        Ok(self)
    }
}

/// Reads what [`Writer`] wrote; every read is bounds-checked.
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    pub(crate) fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    pub(crate) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    pub(crate) fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    pub(crate) fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    pub(crate) fn str(&mut self) -> Option<String> {
        let len = u16::from_be_bytes(self.take(2)?.try_into().ok()?);
        String::from_utf8(self.take(usize::from(len))?.to_vec()).ok()
    }
    /// The rest, which must be zero padding (or nothing).
    pub(crate) fn only_padding_left(&self) -> bool {
        self.0.iter().all(|b| *b == 0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sealed_text_opens_only_with_its_kind_and_key() {
        let k = TokenKey::generate().unwrap();
        let s = k.seal(TokenKind::ListShards, b"stream-a").unwrap();
        assert_eq!(s.len(), b"stream-a".len() + OVERHEAD);
        assert!(!s.windows(8).any(|w| w == b"stream-a"), "plaintext visible");
        assert_eq!(k.open(TokenKind::ListShards, &s).unwrap(), b"stream-a");
        assert_eq!(k.open(TokenKind::ListStreams, &s), None);
        assert_eq!(k.open(TokenKind::ShardIterator, &s), None);
        assert_eq!(
            TokenKey::generate()
                .unwrap()
                .open(TokenKind::ListShards, &s),
            None
        );
        // Two seals of one plaintext differ (random nonce).
        assert_ne!(s, k.seal(TokenKind::ListShards, b"stream-a").unwrap());
    }

    #[test]
    fn the_key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = TokenKey::load_or_create(dir.path()).unwrap();
        let path = TokenKey::path_in(dir.path());
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), KEY_LEN);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        }
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("token.key")]);
        let sealed = a.seal(TokenKind::ShardIterator, b"x").unwrap();
        let b = TokenKey::load_or_create(dir.path()).unwrap();
        assert_eq!(b.open(TokenKind::ShardIterator, &sealed).unwrap(), b"x");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "the key was rewritten"
        );
    }

    #[test]
    fn a_key_file_of_the_wrong_size_stops_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = TokenKey::path_in(dir.path());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"short").unwrap();
        let err = TokenKey::load_or_create(dir.path()).unwrap_err();
        assert!(err.to_string().contains("holds 5 bytes"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"short", "replaced");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_open(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let k = TokenKey::from_bytes(&[7; KEY_LEN]);
            for kind in [TokenKind::ShardIterator, TokenKind::ListStreams, TokenKind::ListShards, TokenKind::ListStreamConsumers] {
                prop_assert_eq!(k.open(kind, &bytes), None);
            }
        }

        #[test]
        fn any_bit_flip_or_truncation_is_refused(msg in proptest::collection::vec(any::<u8>(), 0..100), bit in any::<usize>(), cut in any::<usize>()) {
            let k = TokenKey::from_bytes(&[9; KEY_LEN]);
            let s = k.seal(TokenKind::ListStreams, &msg).unwrap();
            let mut flipped = s.clone();
            let i = bit % (s.len() * 8);
            flipped[i / 8] ^= 1 << (i % 8);
            prop_assert_eq!(k.open(TokenKind::ListStreams, &flipped), None);
            let short = &s[..cut % s.len()];
            prop_assert_eq!(k.open(TokenKind::ListStreams, short), None);
            prop_assert_eq!(k.open(TokenKind::ListStreams, &s), Some(msg));
        }
    }
}
