//! Shard iterators: opaque tokens naming a stream incarnation, a shard and a
//! log position, stamped with their issue time (they expire after five
//! minutes) and sealed with the server's token key (see [`crate::seal`]), so
//! a client can neither read nor forge one.
//!
//! Shaped like AWS's: base64 of the header `00 00 00 00 00 00 00 01` and an
//! encrypted block whose length is a multiple of 16, 232 bytes in all (312
//! characters) for every stream name up to AWS's 128 characters, so the
//! length tells nothing about the name either.

use crate::error::StreamsError;
use crate::seal::{Reader, TokenKey, TokenKind, Writer, OVERHEAD};
use base64::Engine as _;

/// The plaintext's own format version.
const VERSION: u8 = 1;
/// The clear header every iterator starts with, as AWS's do.
const HEADER: [u8; 8] = [0, 0, 0, 0, 0, 0, 0, 1];
/// Sealed iterators are at least this long (AWS's are 152 bytes and more).
const MIN_BYTES: usize = 152;
/// The model caps ShardIterator at 512 characters: 384 bytes of base64.
const MAX_CHARS: usize = 512;
const MAX_BYTES: usize = MAX_CHARS / 4 * 3;
/// Plaintext size every iterator is padded to: room for a 128-character name
/// and a `<name>-<32 hex>` uid. Header + nonce + this + tag is a multiple of 16
/// past the header.
const PADDED_PLAINTEXT: usize = 196;
/// uid encodings: the whole uid, or only what follows `<name>-`.
const UID_WHOLE: u8 = 0;
const UID_AFTER_NAME: u8 = 1;

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
    /// The iterator's text: header and sealed block, base64.
    pub fn seal(&self, key: &TokenKey) -> Result<String, StreamsError> {
        let mut w = Writer::default();
        w.u8(VERSION)
            .i64(self.issued_ms)
            .u32(self.shard_index)
            .u64(self.offset)
            .str(&self.stream_name)?;
        // Stream uids are `<name>-<uuid>`: keep the name once.
        match self
            .stream_uid
            .strip_prefix(self.stream_name.as_str())
            .and_then(|r| r.strip_prefix('-'))
        {
            Some(rest) => w.u8(UID_AFTER_NAME).str(rest)?,
            None => w.u8(UID_WHOLE).str(&self.stream_uid)?,
        };
        let mut plain = w.0;
        // Pad to the fixed size, or (an unusually long uid) to the next size
        // that keeps the block a multiple of 16.
        let mut len = PADDED_PLAINTEXT;
        while len < plain.len() {
            len += 16;
        }
        plain.resize(len, 0);
        let sealed = key.seal(TokenKind::ShardIterator, &plain)?;
        let mut raw = Vec::with_capacity(HEADER.len() + sealed.len());
        raw.extend_from_slice(&HEADER);
        raw.extend_from_slice(&sealed);
        if raw.len() > MAX_BYTES {
            return Err(StreamsError::Internal(format!(
                "shard iterator for stream {} would be {} bytes, over the model's {MAX_BYTES}",
                self.stream_name,
                raw.len()
            )));
        }
        Ok(base64::engine::general_purpose::STANDARD.encode(raw))
    }

    /// The iterator `s` names, if this key sealed it; `None` for anything
    /// else (not base64, wrong shape, forged, altered, truncated, a NextToken).
    pub fn open(s: &str, key: &TokenKey) -> Option<IteratorToken> {
        if s.len() > MAX_CHARS {
            return None;
        }
        let raw = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
        if raw.len() < MIN_BYTES
            || raw.len() > MAX_BYTES
            || !(raw.len() - HEADER.len()).is_multiple_of(16)
            || raw[..HEADER.len()] != HEADER
        {
            return None;
        }
        let plain = key.open(TokenKind::ShardIterator, &raw[HEADER.len()..])?;
        let mut r = Reader(&plain);
        if r.u8()? != VERSION {
            return None;
        }
        let issued_ms = r.i64()?;
        let shard_index = r.u32()?;
        let offset = r.u64()?;
        let stream_name = r.str()?;
        let stream_uid = match (r.u8()?, r.str()?) {
            (UID_AFTER_NAME, rest) => format!("{stream_name}-{rest}"),
            (UID_WHOLE, uid) => uid,
            _ => return None,
        };
        if !r.only_padding_left() {
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

/// Sealed size of an iterator, for the docs and tests: header, nonce, padded
/// plaintext, tag.
pub const SEALED_BYTES: usize = HEADER.len() + OVERHEAD + PADDED_PLAINTEXT;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> TokenKey {
        TokenKey::from_bytes(&[3; 32])
    }

    fn tok(name: &str) -> IteratorToken {
        IteratorToken {
            stream_name: name.into(),
            stream_uid: format!("{name}-0123456789abcdef0123456789abcdef"),
            shard_index: 4,
            offset: 77,
            issued_ms: 1_700_000_000_000,
        }
    }

    fn raw(s: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.decode(s).unwrap()
    }

    #[test]
    fn an_iterator_is_shaped_like_aws_and_hides_its_contents() {
        for name in ["s", &"n".repeat(128)] {
            let s = tok(name).seal(&key()).unwrap();
            let b = raw(&s);
            assert_eq!(b.len(), SEALED_BYTES);
            assert_eq!(&b[..8], &[0, 0, 0, 0, 0, 0, 0, 1]);
            assert_eq!((b.len() - 8) % 16, 0);
            assert!(b.len() >= 152);
            assert!(s.len() <= 512, "{}", s.len());
            if name.len() > 8 {
                assert!(!b.windows(name.len()).any(|w| w == name.as_bytes()));
            }
            assert!(!b.windows(8).any(|w| w == 77u64.to_be_bytes()));
            assert_eq!(IteratorToken::open(&s, &key()), Some(tok(name)));
        }
        // An uid that does not start with the name still round-trips.
        let odd = IteratorToken {
            stream_uid: "u".repeat(40),
            ..tok("s")
        };
        let s = odd.seal(&key()).unwrap();
        assert_eq!(IteratorToken::open(&s, &key()), Some(odd));
    }

    #[test]
    fn tampering_another_key_or_kind_is_refused() {
        let s = tok("s").seal(&key()).unwrap();
        let mut b = raw(&s);
        b[40] ^= 1;
        let e = base64::engine::general_purpose::STANDARD.encode(&b);
        assert_eq!(IteratorToken::open(&e, &key()), None);
        assert_eq!(
            IteratorToken::open(&s, &TokenKey::from_bytes(&[4; 32])),
            None
        );
        // A block sealed as a NextToken, dressed as an iterator.
        let plain = vec![0u8; PADDED_PLAINTEXT];
        let mut other = HEADER.to_vec();
        other.extend(key().seal(TokenKind::ListShards, &plain).unwrap());
        let other = base64::engine::general_purpose::STANDARD.encode(other);
        assert_eq!(IteratorToken::open(&other, &key()), None);
    }

    proptest! {
        #[test]
        fn round_trip(name in "[a-zA-Z0-9_.-]{1,128}", shard in any::<u32>(), offset in any::<u64>(), t in any::<i64>()) {
            let tok = IteratorToken { stream_uid: format!("{name}-{:032x}", offset), stream_name: name, shard_index: shard, offset, issued_ms: t };
            let s = tok.seal(&key()).unwrap();
            prop_assert!(s.len() <= 512);
            prop_assert_eq!(IteratorToken::open(&s, &key()), Some(tok));
        }

        #[test]
        fn garbage_never_opens(s in any::<String>()) {
            prop_assert_eq!(IteratorToken::open(&s, &key()), None);
        }

        #[test]
        fn base64_garbage_never_opens(b in proptest::collection::vec(any::<u8>(), 0..400), header in any::<bool>()) {
            let mut b = b;
            if header && b.len() >= 8 {
                b[..8].copy_from_slice(&HEADER);
            }
            let s = base64::engine::general_purpose::STANDARD.encode(&b);
            prop_assert_eq!(IteratorToken::open(&s, &key()), None);
        }

        #[test]
        fn bit_flips_and_truncations_never_open(bit in any::<usize>(), cut in any::<usize>()) {
            let s = tok("stream").seal(&key()).unwrap();
            let b = raw(&s);
            let mut flipped = b.clone();
            let i = bit % (b.len() * 8);
            flipped[i / 8] ^= 1 << (i % 8);
            let f = base64::engine::general_purpose::STANDARD.encode(&flipped);
            prop_assert_eq!(IteratorToken::open(&f, &key()), None);
            let t = &s[..cut % s.len()];
            prop_assert_eq!(IteratorToken::open(t, &key()), None);
            let tb = base64::engine::general_purpose::STANDARD.encode(&b[..cut % b.len()]);
            prop_assert_eq!(IteratorToken::open(&tb, &key()), None);
        }
    }
}
