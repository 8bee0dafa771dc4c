//! A local stand-in for AWS KMS, for encryption at rest: a keyring file of
//! master keys and aliases ([`Keyring`]), and envelope encryption of data keys
//! ([`DataKey`], [`WrappedKey`]) plus the AES-256-GCM keys derived from them
//! that seal stored batches ([`BatchKey`]).
//!
//! Master keys never leave the keyring file; callers only ever hold data keys,
//! unwrapped in memory and zeroed on drop. The file format and the envelope
//! scheme are documented in `docs/security-encryption.md`.

mod envelope;
mod error;
mod keyring;

pub use envelope::{BatchKey, DataKey, WrappedKey, SEAL_OVERHEAD};
pub use error::KmsError;
pub use keyring::{KeyInfo, KeyState, Keyring, DEFAULT_ALIAS, KEYRING_FILE};
