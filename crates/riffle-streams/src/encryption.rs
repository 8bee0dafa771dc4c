//! Encryption at rest for one stream: its data keys (unwrapped from the
//! stream's metadata by the local keyring) and the [`BatchCipher`] each of its
//! shard logs seals and opens batches with. See docs/security-encryption.md.

use parking_lot::RwLock;
use riffle_kms::{BatchKey, DataKey, Keyring, KmsError};
use riffle_log::{BatchCipher, CipherError};
use riffle_meta::StreamMeta;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// `active` when new batches are written in plaintext.
const NONE_ACTIVE: u32 = u32::MAX;

/// A data key slot: the key, or why it could not be unwrapped.
type Slot = Result<Arc<DataKey>, (Option<&'static str>, String)>;

/// The data keys of one stream, shared by its shards' ciphers.
pub(crate) struct StreamKeys {
    /// HKDF salt: the stream's incarnation, so two streams never share a batch key.
    uid: String,
    slots: RwLock<HashMap<u16, Slot>>,
    /// Index of the key new batches are sealed with, or `NONE_ACTIVE`.
    active: AtomicU32,
}

fn slot_error(e: &KmsError) -> (Option<&'static str>, String) {
    (e.code(), e.to_string())
}

impl StreamKeys {
    /// Unwraps every data key in `m`. A key that cannot be unwrapped (its master
    /// key is gone or disabled) is remembered with its error, which reads and
    /// writes that need it report; the stream still opens.
    pub(crate) fn load(keyring: &Keyring, m: &StreamMeta) -> Arc<StreamKeys> {
        let mut slots = HashMap::new();
        for (i, k) in m.data_keys.iter().enumerate() {
            let Ok(index) = u16::try_from(i) else { break };
            let wrapped = riffle_kms::WrappedKey {
                key_arn: k.key_arn.clone(),
                ciphertext: k.wrapped.clone(),
            };
            let slot = keyring.decrypt_data_key(&wrapped).map(Arc::new).map_err(|e| {
                tracing::warn!(stream = m.name, key = k.key_arn, error = %e, "cannot unwrap a stream data key; its records cannot be read");
                slot_error(&e)
            });
            slots.insert(index, slot);
        }
        let active = match (&m.encryption_key, m.data_keys.len().checked_sub(1)) {
            (Some(_), Some(last)) => u32::try_from(last).unwrap_or(NONE_ACTIVE),
            _ => NONE_ACTIVE,
        };
        Arc::new(StreamKeys {
            uid: m.uid.clone(),
            slots: RwLock::new(slots),
            active: AtomicU32::new(active),
        })
    }

    /// Makes `key` available under `index` (before the metadata naming it commits).
    pub(crate) fn install(&self, index: u16, key: DataKey) {
        self.slots.write().insert(index, Ok(Arc::new(key)));
    }

    /// Seals new batches with key `index` from now on, or writes plaintext (`None`).
    pub(crate) fn set_active(&self, index: Option<u16>) {
        self.active
            .store(index.map_or(NONE_ACTIVE, u32::from), Ordering::Release);
    }

    /// The cipher of one shard of this stream.
    pub(crate) fn cipher(self: &Arc<Self>, shard: u32) -> Arc<dyn BatchCipher> {
        Arc::new(ShardCipher {
            keys: self.clone(),
            shard,
            derived: RwLock::new(HashMap::new()),
        })
    }
}

/// Seals one shard's batches. Each (data key, shard) pair has its own AES key
/// (HKDF-SHA256 of the data key, salted with the stream uid, info = shard
/// index), so the random-nonce bound applies per shard.
struct ShardCipher {
    keys: Arc<StreamKeys>,
    shard: u32,
    derived: RwLock<HashMap<u16, Arc<BatchKey>>>,
}

fn cipher_error(code: Option<&'static str>, message: String) -> CipherError {
    CipherError { code, message }
}

impl ShardCipher {
    fn batch_key(&self, index: u16) -> Result<Arc<BatchKey>, CipherError> {
        if let Some(k) = self.derived.read().get(&index) {
            return Ok(k.clone());
        }
        let data_key = match self.keys.slots.read().get(&index) {
            Some(Ok(k)) => k.clone(),
            Some(Err((code, msg))) => return Err(cipher_error(*code, msg.clone())),
            None => {
                return Err(cipher_error(
                    None,
                    format!("the stream has no data key {index}"),
                ))
            }
        };
        let mut info = b"riffle-kinesis-shard-v1:".to_vec();
        info.extend_from_slice(&self.shard.to_le_bytes());
        let key = data_key
            .derive(self.keys.uid.as_bytes(), &info)
            .map(Arc::new)
            .map_err(|e| cipher_error(e.code(), e.to_string()))?;
        self.derived.write().insert(index, key.clone());
        Ok(key)
    }
}

impl BatchCipher for ShardCipher {
    fn active_key(&self) -> Option<u16> {
        u16::try_from(self.keys.active.load(Ordering::Acquire)).ok()
    }

    fn seal(&self, key: u16, buf: &mut Vec<u8>, at: usize, aad: &[u8]) -> Result<(), CipherError> {
        self.batch_key(key)?
            .seal(buf, at, aad)
            .map_err(|e| cipher_error(e.code(), e.to_string()))
    }

    fn open(&self, key: u16, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, CipherError> {
        self.batch_key(key)?
            .open(sealed, aad)
            .map_err(|e| cipher_error(e.code(), e.to_string()))
    }
}
