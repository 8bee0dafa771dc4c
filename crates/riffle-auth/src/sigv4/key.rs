//! Signing-key derivation and its cache.

use hmac::{Hmac, KeyInit, Mac};
use parking_lot::Mutex;
use sha2::Sha256;
use std::collections::HashMap;

use super::error::{SigV4Error, SigV4ErrorKind};

type HmacSha256 = Hmac<Sha256>;

pub(crate) fn hmac(key: &[u8], data: &[u8]) -> Result<[u8; 32], SigV4Error> {
    // HMAC takes keys of any length; the error arm is unreachable in practice.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key)
        .map_err(|_| SigV4Error::new(SigV4ErrorKind::Internal, "HMAC key rejected"))?;
    mac.update(data);
    Ok(mac.finalize().into_bytes().into())
}

/// `kSigning` for one secret, scope date, region and service.
pub fn signing_key(
    secret: &str,
    date: &str,
    region: &str,
    service: &str,
) -> Result<[u8; 32], SigV4Error> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes())?;
    let k_region = hmac(&k_date, region.as_bytes())?;
    let k_service = hmac(&k_region, service.as_bytes())?;
    hmac(&k_service, b"aws4_request")
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    access_key_id: String,
    date: String,
    region: String,
    service: String,
}

/// `kSigning` per (access key, date, region, service), so a steady client
/// costs one HMAC per request instead of five. The secret is kept with the
/// key so a rotated secret misses instead of verifying against the old one.
pub(crate) struct KeyCache {
    entries: Mutex<HashMap<CacheKey, (String, [u8; 32])>>,
    capacity: usize,
}

impl KeyCache {
    pub fn new(capacity: usize) -> KeyCache {
        KeyCache {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    pub fn get(
        &self,
        access_key_id: &str,
        secret: &str,
        date: &str,
        region: &str,
        service: &str,
    ) -> Result<[u8; 32], SigV4Error> {
        let key = CacheKey {
            access_key_id: access_key_id.to_string(),
            date: date.to_string(),
            region: region.to_string(),
            service: service.to_string(),
        };
        if let Some((cached_secret, k)) = self.entries.lock().get(&key) {
            if cached_secret == secret {
                return Ok(*k);
            }
        }
        let k = signing_key(secret, date, region, service)?;
        let mut entries = self.entries.lock();
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            // Any victim will do: entries are cheap to rebuild and a scope
            // date only lives a day.
            if let Some(victim) = entries.keys().next().cloned() {
                entries.remove(&victim);
            }
        }
        entries.insert(key, (secret.to_string(), k));
        Ok(k)
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn signing_key_matches_aws_documented_example() {
        // docs.aws.amazon.com "Examples of how to derive a signing key for SigV4".
        let k = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        )
        .unwrap();
        assert_eq!(
            hex::encode(k),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn cache_is_bounded_and_follows_secret_rotation() {
        let cache = KeyCache::new(2);
        let a = cache.get("AK1", "s1", "20240101", "r", "kinesis").unwrap();
        assert_eq!(a, signing_key("s1", "20240101", "r", "kinesis").unwrap());
        cache.get("AK2", "s2", "20240101", "r", "kinesis").unwrap();
        cache.get("AK3", "s3", "20240101", "r", "kinesis").unwrap();
        assert_eq!(cache.len(), 2);
        // A rotated secret for the same scope derives a new key.
        let rotated = cache
            .get("AK3", "s3-new", "20240101", "r", "kinesis")
            .unwrap();
        assert_eq!(
            rotated,
            signing_key("s3-new", "20240101", "r", "kinesis").unwrap()
        );
        assert_ne!(
            rotated,
            signing_key("s3", "20240101", "r", "kinesis").unwrap()
        );
    }
}
