//! The keyring file: master keys and aliases, created on first use, rewritten
//! atomically, re-read when someone else (an operator, `riffle kms`) changed it.

use crate::envelope::random_bytes;
use crate::{DataKey, KmsError, WrappedKey};
use base64::Engine as _;
use parking_lot_free::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use zeroize::Zeroize;

/// Where the keyring lives inside the data directory.
pub const KEYRING_FILE: &str = "keys/keyring.json";
/// The Kinesis-owned key's alias, created on demand.
pub const DEFAULT_ALIAS: &str = "alias/aws/kinesis";
const FORMAT: u32 = 1;

mod parking_lot_free {
    //! std's mutex, with poisoning turned into recovery: a panic elsewhere must
    //! not make every later encryption call fail.
    pub(crate) struct Mutex<T>(std::sync::Mutex<T>);
    impl<T> Mutex<T> {
        pub(crate) fn new(t: T) -> Self {
            Mutex(std::sync::Mutex::new(t))
        }
        pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(|p| p.into_inner())
        }
    }
}

/// A master key's state, as in KMS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    Enabled,
    Disabled,
    PendingDeletion,
}

/// A master key as the file stores it. `material` is base64 of 32 random bytes.
#[derive(Serialize, Deserialize)]
struct KeyEntry {
    key_id: String,
    arn: String,
    state: KeyState,
    #[serde(default)]
    description: String,
    #[serde(default)]
    created: String,
    material: String,
}

impl Drop for KeyEntry {
    fn drop(&mut self) {
        self.material.zeroize();
    }
}

#[derive(Serialize, Deserialize)]
struct KeyringDoc {
    format: u32,
    keys: Vec<KeyEntry>,
    /// `alias/name` → key id.
    #[serde(default)]
    aliases: BTreeMap<String, String>,
}

impl Default for KeyringDoc {
    fn default() -> Self {
        KeyringDoc {
            format: FORMAT,
            keys: Vec::new(),
            aliases: BTreeMap::new(),
        }
    }
}

/// A master key as callers see it: no key material.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    pub key_id: String,
    pub arn: String,
    pub state: KeyState,
    pub description: String,
    pub aliases: Vec<String>,
}

/// (modified time, length, inode): every save renames a new file into place,
/// so the inode changes even when the time and length do not.
type Stamp = (SystemTime, u64, u64);

fn stamp_of(m: &std::fs::Metadata) -> std::io::Result<Stamp> {
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(m);
    #[cfg(not(unix))]
    let ino = 0;
    Ok((m.modified()?, m.len(), ino))
}

struct Loaded {
    doc: KeyringDoc,
    /// Identity of the file when read; `None` if it did not exist.
    stamp: Option<Stamp>,
}

/// The local keyring of one data directory. `Send + Sync`; every call re-reads
/// the file if it changed since it was last read.
pub struct Keyring {
    path: PathBuf,
    region: String,
    account: String,
    state: Mutex<Loaded>,
}

impl Keyring {
    /// Opens `<data_dir>/keys/keyring.json`, created on the first key.
    /// `region` and `account` form the key ARNs. The file is read on first use,
    /// not here: a damaged keyring fails the calls that need it (with the file
    /// and the reason), not the server's start, so unencrypted streams keep working.
    pub fn open(data_dir: &Path, region: &str, account: &str) -> Result<Keyring, KmsError> {
        Ok(Keyring {
            path: data_dir.join(KEYRING_FILE),
            region: region.to_string(),
            account: account.to_string(),
            state: Mutex::new(Loaded {
                doc: KeyringDoc::default(),
                stamp: None,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn display(&self) -> String {
        self.path.display().to_string()
    }

    fn io(&self, source: std::io::Error) -> KmsError {
        KmsError::Io {
            path: self.display(),
            source,
        }
    }

    /// Re-reads the file if it changed (see [`Stamp`]).
    fn refresh(&self, st: &mut Loaded) -> Result<(), KmsError> {
        let stamp = match std::fs::metadata(&self.path) {
            Ok(m) => Some(stamp_of(&m).map_err(|e| self.io(e))?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(self.io(e)),
        };
        if stamp == st.stamp {
            return Ok(());
        }
        st.doc = match stamp {
            None => KeyringDoc::default(),
            Some(_) => {
                let text =
                    Zeroizing::new(std::fs::read_to_string(&self.path).map_err(|e| self.io(e))?);
                self.parse(&text)?
            }
        };
        st.stamp = stamp;
        Ok(())
    }

    fn parse(&self, text: &str) -> Result<KeyringDoc, KmsError> {
        let corrupt = |reason: String| KmsError::Corrupt {
            path: self.display(),
            reason,
        };
        let doc: KeyringDoc = serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
        if doc.format != FORMAT {
            return Err(corrupt(format!("unknown format {}", doc.format)));
        }
        for k in &doc.keys {
            let len = base64::engine::general_purpose::STANDARD
                .decode(&k.material)
                .map(|mut m| {
                    let n = m.len();
                    m.zeroize();
                    n
                })
                .map_err(|_| corrupt(format!("key {}: material is not base64", k.key_id)))?;
            if len != 32 {
                return Err(corrupt(format!(
                    "key {}: material must be 32 bytes, not {len}",
                    k.key_id
                )));
            }
        }
        for (alias, id) in &doc.aliases {
            if !alias.starts_with("alias/") || !doc.keys.iter().any(|k| &k.key_id == id) {
                return Err(corrupt(format!("alias {alias} names no key in the file")));
            }
        }
        Ok(doc)
    }

    /// Writes the file atomically: a 0600 temporary file, fsynced, renamed over
    /// the keyring, then the directory fsynced.
    fn save(&self, st: &mut Loaded) -> Result<(), KmsError> {
        let dir = self
            .path
            .parent()
            .ok_or_else(|| self.io(std::io::Error::other("keyring path has no directory")))?;
        std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        set_mode(dir, 0o700).map_err(|e| self.io(e))?;
        let text = Zeroizing::new(
            serde_json::to_string_pretty(&st.doc).map_err(|e| KmsError::Crypto(e.to_string()))?,
        );
        let tmp = self.path.with_extension("json.tmp");
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).map_err(|e| self.io(e))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| self.io(e))?;
        drop(f);
        std::fs::rename(&tmp, &self.path).map_err(|e| self.io(e))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| self.io(e))?;
        let m = std::fs::metadata(&self.path).map_err(|e| self.io(e))?;
        st.stamp = Some(stamp_of(&m).map_err(|e| self.io(e))?);
        Ok(())
    }

    fn key_arn(&self, id: &str) -> String {
        format!("arn:aws:kms:{}:{}:key/{id}", self.region, self.account)
    }

    fn alias_arn(&self, alias: &str) -> String {
        format!("arn:aws:kms:{}:{}:{alias}", self.region, self.account)
    }

    /// Creates a random 256-bit master key, optionally under an alias.
    pub fn create_key(&self, alias: Option<&str>, description: &str) -> Result<KeyInfo, KmsError> {
        let mut st = self.state.lock();
        self.refresh(&mut st)?;
        self.create_locked(&mut st, alias, description)
    }

    fn create_locked(
        &self,
        st: &mut Loaded,
        alias: Option<&str>,
        description: &str,
    ) -> Result<KeyInfo, KmsError> {
        if let Some(a) = alias {
            validate_alias(a)?;
            if st.doc.aliases.contains_key(a) {
                return Err(KmsError::InvalidArgument(format!(
                    "An alias with the name {} already exists",
                    self.alias_arn(a)
                )));
            }
        }
        let key_id = uuid::Uuid::new_v4().to_string();
        let material: [u8; 32] = random_bytes()?;
        let mut material_b64 = base64::engine::general_purpose::STANDARD.encode(material);
        st.doc.keys.push(KeyEntry {
            key_id: key_id.clone(),
            arn: self.key_arn(&key_id),
            state: KeyState::Enabled,
            description: description.to_string(),
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            material: std::mem::take(&mut material_b64),
        });
        if let Some(a) = alias {
            st.doc.aliases.insert(a.to_string(), key_id.clone());
        }
        if let Err(e) = self.save(st) {
            st.doc.keys.pop();
            if let Some(a) = alias {
                st.doc.aliases.remove(a);
            }
            st.stamp = None;
            return Err(e);
        }
        tracing::info!(key_id, alias, "created KMS master key");
        self.info(st, &key_id)
    }

    /// Every key, in the file's order.
    pub fn list_keys(&self) -> Result<Vec<KeyInfo>, KmsError> {
        let mut st = self.state.lock();
        self.refresh(&mut st)?;
        st.doc
            .keys
            .iter()
            .map(|k| self.info(&st, &k.key_id))
            .collect()
    }

    /// Changes a key's state (the KMS EnableKey / DisableKey / ScheduleKeyDeletion).
    pub fn set_state(&self, key: &str, state: KeyState) -> Result<KeyInfo, KmsError> {
        let mut st = self.state.lock();
        self.refresh(&mut st)?;
        let i = self.find(&st, key)?;
        let before = st.doc.keys[i].state;
        st.doc.keys[i].state = state;
        if let Err(e) = self.save(&mut st) {
            st.doc.keys[i].state = before;
            return Err(e);
        }
        let id = st.doc.keys[i].key_id.clone();
        self.info(&st, &id)
    }

    fn info(&self, st: &Loaded, key_id: &str) -> Result<KeyInfo, KmsError> {
        let k = st
            .doc
            .keys
            .iter()
            .find(|k| k.key_id == key_id)
            .ok_or_else(|| self.key_not_found(key_id))?;
        Ok(KeyInfo {
            key_id: k.key_id.clone(),
            arn: k.arn.clone(),
            state: k.state,
            description: k.description.clone(),
            aliases: st
                .doc
                .aliases
                .iter()
                .filter(|(_, id)| *id == key_id)
                .map(|(a, _)| a.clone())
                .collect(),
        })
    }

    // KMS's own wording for NotFoundException (UNVERIFIED for Kinesis).
    fn key_not_found(&self, id: &str) -> KmsError {
        KmsError::NotFound(format!("Key '{}' does not exist", self.key_arn(id)))
    }

    fn alias_not_found(&self, alias: &str) -> KmsError {
        KmsError::NotFound(format!("Alias {} is not found.", self.alias_arn(alias)))
    }

    /// Index of the key that `key` names: a key id, key ARN, alias name or alias ARN.
    fn find(&self, st: &Loaded, key: &str) -> Result<usize, KmsError> {
        let by_id = |id: &str| st.doc.keys.iter().position(|k| k.key_id == id);
        let by_alias = |alias: &str| {
            st.doc
                .aliases
                .get(alias)
                .and_then(|id| by_id(id))
                .ok_or_else(|| self.alias_not_found(alias))
        };
        if key.starts_with("alias/") {
            return by_alias(key);
        }
        if let Some(rest) = key.strip_prefix("arn:") {
            // arn:<partition>:kms:<region>:<account>:<key/id | alias/name>
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let ours = parts.len() == 5
                && parts[1] == "kms"
                && parts[2] == self.region
                && parts[3] == self.account;
            let resource = parts.get(4).copied().unwrap_or("");
            if ours && resource.starts_with("alias/") {
                return by_alias(resource);
            }
            if let Some(id) = resource.strip_prefix("key/").filter(|_| ours) {
                return by_id(id).ok_or_else(|| self.key_not_found(id));
            }
            return Err(KmsError::NotFound(format!("Invalid keyId '{key}'")));
        }
        by_id(key).ok_or_else(|| self.key_not_found(key))
    }

    /// Resolves `key` (any of the four forms) to its key, whatever its state.
    pub fn describe(&self, key: &str) -> Result<KeyInfo, KmsError> {
        let mut st = self.state.lock();
        self.refresh(&mut st)?;
        let i = self.find(&st, key)?;
        let id = st.doc.keys[i].key_id.clone();
        self.info(&st, &id)
    }

    /// An enabled key's index, or the error KMS gives for its state.
    fn usable(&self, st: &Loaded, i: usize) -> Result<(), KmsError> {
        let k = &st.doc.keys[i];
        // KMS's own wording (UNVERIFIED for Kinesis).
        match k.state {
            KeyState::Enabled => Ok(()),
            KeyState::Disabled => Err(KmsError::Disabled(format!("{} is disabled.", k.arn))),
            KeyState::PendingDeletion => Err(KmsError::InvalidState(format!(
                "{} is pending deletion.",
                k.arn
            ))),
        }
    }

    /// KMS GenerateDataKey: a fresh data key, and that key wrapped by the master
    /// key `key` names, which must be enabled. `alias/aws/kinesis` is created the
    /// first time it is asked for.
    pub fn generate_data_key(&self, key: &str) -> Result<(DataKey, WrappedKey), KmsError> {
        let mut st = self.state.lock();
        self.refresh(&mut st)?;
        let i = match self.find(&st, key) {
            Ok(i) => i,
            Err(KmsError::NotFound(_)) if is_default_alias(key, &self.alias_arn(DEFAULT_ALIAS)) => {
                let info = self.create_locked(
                    &mut st,
                    Some(DEFAULT_ALIAS),
                    "Default key that protects my Kinesis data when no other key is defined",
                )?;
                self.find(&st, &info.key_id)?
            }
            Err(e) => return Err(e),
        };
        self.usable(&st, i)?;
        let k = &st.doc.keys[i];
        let master = material(k)?;
        let dk = DataKey::generate()?;
        let wrapped = dk.wrap(&master[..], &k.key_id, &k.arn)?;
        Ok((dk, wrapped))
    }

    /// KMS Decrypt of a wrapped data key: its master key must exist and be enabled.
    pub fn decrypt_data_key(&self, wrapped: &WrappedKey) -> Result<DataKey, KmsError> {
        let mut st = self.state.lock();
        self.refresh(&mut st)?;
        let i = self.find(&st, &wrapped.key_arn)?;
        self.usable(&st, i)?;
        let k = &st.doc.keys[i];
        DataKey::unwrap_with(&material(k)?[..], &k.key_id, wrapped)
    }
}

fn is_default_alias(key: &str, default_arn: &str) -> bool {
    key == DEFAULT_ALIAS || key == default_arn
}

fn material(k: &KeyEntry) -> Result<Zeroizing<Vec<u8>>, KmsError> {
    base64::engine::general_purpose::STANDARD
        .decode(&k.material)
        .map(Zeroizing::new)
        .map_err(|_| KmsError::Crypto(format!("key {}: material is not base64", k.key_id)))
}

/// KMS's alias rules: `alias/` then 1–250 of `[a-zA-Z0-9/_-]`; `alias/aws/` is reserved
/// except for the Kinesis default key.
fn validate_alias(a: &str) -> Result<(), KmsError> {
    let name = a.strip_prefix("alias/").unwrap_or("");
    let ok = !name.is_empty()
        && name.len() <= 250
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b))
        && (!name.starts_with("aws/") || a == DEFAULT_ALIAS);
    if ok {
        Ok(())
    } else {
        Err(KmsError::InvalidArgument(format!(
            "Alias must start with alias/, be followed by [a-zA-Z0-9/_-] and not use the reserved prefix alias/aws/: {a}"
        )))
    }
}

#[cfg(unix)]
fn set_mode(p: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> std::io::Result<()> {
    Ok(())
}

use zeroize::Zeroizing;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ring(dir: &Path) -> Keyring {
        Keyring::open(dir, "us-east-1", "123456789012").unwrap()
    }

    #[test]
    fn resolves_all_four_forms_and_errors_by_state() {
        let d = tempfile::tempdir().unwrap();
        let k = ring(d.path());
        assert!(!k.path().exists(), "created lazily");
        let info = k.create_key(Some("alias/app"), "test").unwrap();
        let arn = format!("arn:aws:kms:us-east-1:123456789012:key/{}", info.key_id);
        assert_eq!(info.arn, arn);
        for form in [
            info.key_id.clone(),
            arn.clone(),
            "alias/app".to_string(),
            "arn:aws:kms:us-east-1:123456789012:alias/app".to_string(),
        ] {
            assert_eq!(k.describe(&form).unwrap().key_id, info.key_id, "{form}");
            k.generate_data_key(&form).unwrap();
        }
        let e = k.generate_data_key("alias/nope").unwrap_err();
        assert_eq!(e.code(), Some("KMSNotFoundException"));
        assert_eq!(
            e.to_string(),
            "Alias arn:aws:kms:us-east-1:123456789012:alias/nope is not found."
        );
        let e = k
            .generate_data_key("arn:aws:kms:eu-west-1:123456789012:alias/app")
            .unwrap_err();
        assert_eq!(e.code(), Some("KMSNotFoundException"));
        let (_, wrapped) = k.generate_data_key("alias/app").unwrap();
        k.set_state(&info.key_id, KeyState::Disabled).unwrap();
        let e = k.generate_data_key("alias/app").unwrap_err();
        assert_eq!(e.code(), Some("KMSDisabledException"));
        assert_eq!(e.to_string(), format!("{arn} is disabled."));
        assert_eq!(
            k.decrypt_data_key(&wrapped).unwrap_err().code(),
            Some("KMSDisabledException")
        );
        k.set_state(&arn, KeyState::PendingDeletion).unwrap();
        assert_eq!(
            k.generate_data_key(&arn).unwrap_err().code(),
            Some("KMSInvalidStateException")
        );
    }

    #[test]
    fn default_alias_created_on_demand_and_file_is_private_and_persistent() {
        let d = tempfile::tempdir().unwrap();
        let k = ring(d.path());
        let (dk, wrapped) = k.generate_data_key(DEFAULT_ALIAS).unwrap();
        let keys = k.list_keys().unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].aliases, vec![DEFAULT_ALIAS.to_string()]);
        assert_eq!(wrapped.key_arn, keys[0].arn);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(k.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Another process (a reopened keyring) unwraps the same data key.
        let again = ring(d.path());
        let dk2 = again.decrypt_data_key(&wrapped).unwrap();
        let a = dk.derive(b"s", b"i").unwrap();
        let b = dk2.derive(b"s", b"i").unwrap();
        let mut buf = b"secret".to_vec();
        a.seal(&mut buf, 0, b"").unwrap();
        assert_eq!(b.open(&buf, b"").unwrap(), b"secret");
        // A second request reuses the default key rather than making another.
        again.generate_data_key(DEFAULT_ALIAS).unwrap();
        assert_eq!(again.list_keys().unwrap().len(), 1);
        // The file never holds the data key, only the master key.
        let text = std::fs::read_to_string(k.path()).unwrap();
        assert!(!text.contains(&wrapped.ciphertext));
    }

    #[test]
    fn edits_by_others_are_picked_up_and_bad_files_refused() {
        let d = tempfile::tempdir().unwrap();
        let server = ring(d.path());
        let cli = ring(d.path());
        let info = cli.create_key(Some("alias/later"), "").unwrap();
        assert_eq!(server.describe("alias/later").unwrap().key_id, info.key_id);
        assert!(cli.create_key(Some("alias/later"), "").is_err());
        assert!(cli.create_key(Some("alias/aws/other"), "").is_err());
        std::fs::write(
            server.path(),
            "{\"format\":1,\"keys\":[],\"aliases\":{\"alias/x\":\"missing\"}}",
        )
        .unwrap();
        let reopened = Keyring::open(d.path(), "us-east-1", "1").unwrap();
        assert!(matches!(
            reopened.list_keys(),
            Err(KmsError::Corrupt { .. })
        ));
        assert!(matches!(
            server.generate_data_key("alias/later"),
            Err(KmsError::Corrupt { .. })
        ));
    }
}
