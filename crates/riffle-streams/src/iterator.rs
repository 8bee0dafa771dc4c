//! Shard iterators: opaque base64 tokens naming a stream incarnation, a shard
//! and a log position, stamped with their issue time (they expire after five
//! minutes) and checksummed so a mangled token is "Invalid ShardIterator.".

use base64::Engine as _;

const VERSION: u8 = 1;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IteratorToken {
    pub stream_name: String,
    /// The stream's uid: an iterator from a deleted and re-created stream is stale.
    pub stream_uid: String,
    pub shard_index: u32,
    /// The next log offset to read.
    pub offset: u64,
    pub issued_ms: i64,
}

impl IteratorToken {
    pub fn encode(&self) -> String {
        let mut b = Vec::with_capacity(64 + self.stream_name.len());
        b.push(VERSION);
        b.extend_from_slice(&self.issued_ms.to_be_bytes());
        b.extend_from_slice(&self.shard_index.to_be_bytes());
        b.extend_from_slice(&self.offset.to_be_bytes());
        b.push(self.stream_uid.len() as u8);
        b.extend_from_slice(self.stream_uid.as_bytes());
        b.push(self.stream_name.len() as u8);
        b.extend_from_slice(self.stream_name.as_bytes());
        let crc = crc32c::crc32c(&b);
        b.extend_from_slice(&crc.to_be_bytes());
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    pub fn decode(s: &str) -> Option<IteratorToken> {
        let b = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
        if b.len() < 27 {
            return None;
        }
        let (body, crc) = b.split_at(b.len() - 4);
        if crc32c::crc32c(body).to_be_bytes() != crc {
            return None;
        }
        let mut r = Reader(body);
        if r.take(1)?[0] != VERSION {
            return None;
        }
        let issued_ms = i64::from_be_bytes(r.take(8)?.try_into().ok()?);
        let shard_index = u32::from_be_bytes(r.take(4)?.try_into().ok()?);
        let offset = u64::from_be_bytes(r.take(8)?.try_into().ok()?);
        let uid_len = r.take(1)?[0] as usize;
        let stream_uid = String::from_utf8(r.take(uid_len)?.to_vec()).ok()?;
        let name_len = r.take(1)?[0] as usize;
        let stream_name = String::from_utf8(r.take(name_len)?.to_vec()).ok()?;
        if !r.0.is_empty() {
            return None;
        }
        Some(IteratorToken {
            stream_name,
            stream_uid,
            shard_index,
            offset,
            issued_ms,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(name in "[a-zA-Z0-9_.-]{1,128}", uid in "[a-z0-9-]{1,40}", shard in any::<u32>(), offset in any::<u64>(), t in any::<i64>()) {
            let tok = IteratorToken { stream_name: name, stream_uid: uid, shard_index: shard, offset, issued_ms: t };
            let s = tok.encode();
            prop_assert!(s.len() <= 512);
            prop_assert_eq!(IteratorToken::decode(&s), Some(tok));
        }

        #[test]
        fn garbage_never_panics(s in any::<String>()) {
            let _ = IteratorToken::decode(&s);
        }
    }

    #[test]
    fn tampering_is_detected() {
        let tok = IteratorToken {
            stream_name: "s".into(),
            stream_uid: "u".into(),
            shard_index: 0,
            offset: 7,
            issued_ms: 1,
        };
        let mut raw = base64::engine::general_purpose::STANDARD
            .decode(tok.encode())
            .unwrap_or_default();
        raw[10] ^= 1;
        let s = base64::engine::general_purpose::STANDARD.encode(raw);
        assert_eq!(IteratorToken::decode(&s), None);
    }
}
