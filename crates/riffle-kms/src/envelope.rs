//! Envelope encryption: data keys wrapped by a master key, and per-purpose
//! AES-256-GCM keys derived from a data key.

use crate::KmsError;
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

const TAG_LEN: usize = 16;
/// Bytes [`BatchKey::seal`] appends to the plaintext: the tag, then the nonce.
pub const SEAL_OVERHEAD: usize = TAG_LEN + NONCE_LEN;
/// First byte of a wrapped data key, so the scheme can change later.
const WRAP_VERSION: u8 = 1;

pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], KmsError> {
    let mut b = [0u8; N];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| KmsError::Crypto("the system random number generator failed".into()))?;
    Ok(b)
}

fn aes_key(bytes: &[u8]) -> Result<LessSafeKey, KmsError> {
    UnboundKey::new(&AES_256_GCM, bytes)
        .map(LessSafeKey::new)
        .map_err(|_| KmsError::Crypto("an AES-256 key must be 32 bytes".into()))
}

/// AES-256-GCM with a random 96-bit nonce: `ciphertext || tag || nonce` replaces
/// `buf[at..]`.
fn seal_random_nonce(
    key: &LessSafeKey,
    buf: &mut Vec<u8>,
    at: usize,
    aad: &[u8],
) -> Result<(), KmsError> {
    let nonce: [u8; NONCE_LEN] = random_bytes()?;
    let area = buf
        .get_mut(at..)
        .ok_or_else(|| KmsError::Crypto("seal offset past the buffer".into()))?;
    let tag = key
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), area)
        .map_err(|_| KmsError::Crypto("encryption failed".into()))?;
    buf.extend_from_slice(tag.as_ref());
    buf.extend_from_slice(&nonce);
    Ok(())
}

/// Reverses [`seal_random_nonce`]; fails if anything was altered.
fn open_random_nonce(key: &LessSafeKey, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, KmsError> {
    let failed =
        || KmsError::Crypto("authentication failed: the ciphertext or its key is wrong".into());
    let split = sealed.len().checked_sub(NONCE_LEN).ok_or_else(failed)?;
    let (ct_tag, nonce) = sealed.split_at(split);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| failed())?;
    let mut out = ct_tag.to_vec();
    let plain_len = key
        .open_in_place(nonce, Aad::from(aad), &mut out)
        .map_err(|_| failed())?
        .len();
    out.truncate(plain_len);
    Ok(out)
}

/// A 256-bit data key, in memory only (zeroed on drop). Persisted only wrapped.
pub struct DataKey {
    bytes: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    /// A fresh random data key.
    pub fn generate() -> Result<DataKey, KmsError> {
        Ok(DataKey {
            bytes: Zeroizing::new(random_bytes()?),
        })
    }

    /// Derives the AES-256-GCM key for one purpose (e.g. one shard's batches)
    /// with HKDF-SHA256, so each purpose has its own random-nonce budget.
    pub fn derive(&self, salt: &[u8], info: &[u8]) -> Result<BatchKey, KmsError> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(&self.bytes[..]);
        let info = [info];
        let okm = prk
            .expand(&info, &AES_256_GCM)
            .map_err(|_| KmsError::Crypto("key derivation failed".into()))?;
        Ok(BatchKey {
            key: LessSafeKey::new(UnboundKey::from(okm)),
        })
    }

    /// Wraps this key with a master key: AES-256-GCM, random nonce, the master
    /// key's id as associated data (so a wrapped key only opens under its key).
    pub(crate) fn wrap(
        &self,
        master: &[u8],
        key_id: &str,
        key_arn: &str,
    ) -> Result<WrappedKey, KmsError> {
        let kek = aes_key(master)?;
        let mut buf = vec![WRAP_VERSION];
        buf.extend_from_slice(&self.bytes[..]);
        seal_random_nonce(&kek, &mut buf, 1, key_id.as_bytes())?;
        Ok(WrappedKey {
            key_arn: key_arn.to_string(),
            ciphertext: base64::engine::general_purpose::STANDARD.encode(&buf),
        })
    }

    pub(crate) fn unwrap_with(
        master: &[u8],
        key_id: &str,
        w: &WrappedKey,
    ) -> Result<DataKey, KmsError> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&w.ciphertext)
            .map_err(|_| KmsError::Crypto("wrapped data key is not base64".into()))?;
        let (version, sealed) = raw
            .split_first()
            .ok_or_else(|| KmsError::Crypto("wrapped data key is empty".into()))?;
        if *version != WRAP_VERSION {
            return Err(KmsError::Crypto(format!(
                "wrapped data key has unknown version {version}"
            )));
        }
        let plain = Zeroizing::new(open_random_nonce(
            &aes_key(master)?,
            sealed,
            key_id.as_bytes(),
        )?);
        let bytes: [u8; 32] = plain
            .as_slice()
            .try_into()
            .map_err(|_| KmsError::Crypto("wrapped data key has the wrong length".into()))?;
        Ok(DataKey {
            bytes: Zeroizing::new(bytes),
        })
    }
}

/// A data key wrapped by a master key: safe to persist (stream metadata).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    /// ARN of the master key that wraps it.
    pub key_arn: String,
    /// base64 of `version(1) || ciphertext(32) || tag(16) || nonce(12)`.
    pub ciphertext: String,
}

/// An AES-256-GCM key derived from a data key, sealing with random 96-bit nonces.
pub struct BatchKey {
    key: LessSafeKey,
}

impl BatchKey {
    /// Encrypts `buf[at..]` in place and appends the tag and nonce ([`SEAL_OVERHEAD`] bytes).
    pub fn seal(&self, buf: &mut Vec<u8>, at: usize, aad: &[u8]) -> Result<(), KmsError> {
        seal_random_nonce(&self.key, buf, at, aad)
    }

    /// Decrypts what [`seal`](Self::seal) produced; fails if anything was altered.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, KmsError> {
        open_random_nonce(&self.key, sealed, aad)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn wrap_round_trip_and_binding_to_key_id() {
        let master = [7u8; 32];
        let dk = DataKey::generate().unwrap();
        let w = dk.wrap(&master, "id-1", "arn:x").unwrap();
        let back = DataKey::unwrap_with(&master, "id-1", &w).unwrap();
        assert_eq!(back.bytes[..], dk.bytes[..]);
        assert!(DataKey::unwrap_with(&master, "id-2", &w).is_err());
        assert!(DataKey::unwrap_with(&[8u8; 32], "id-1", &w).is_err());
    }

    #[test]
    fn batch_key_seal_open_detects_tampering() {
        let dk = DataKey::generate().unwrap();
        let k = dk.derive(b"stream", b"shard-0").unwrap();
        let mut buf = b"HEADERplaintext records".to_vec();
        k.seal(&mut buf, 6, b"aad").unwrap();
        assert_eq!(buf.len(), 23 + SEAL_OVERHEAD);
        assert!(!buf.windows(9).any(|w| w == b"plaintext"));
        assert_eq!(k.open(&buf[6..], b"aad").unwrap(), b"plaintext records");
        assert!(k.open(&buf[6..], b"aae").is_err());
        let other = dk.derive(b"stream", b"shard-1").unwrap();
        assert!(other.open(&buf[6..], b"aad").is_err());
        for i in 6..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x80;
            assert!(k.open(&bad[6..], b"aad").is_err(), "flip at {i}");
        }
    }
}
