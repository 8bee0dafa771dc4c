//! Pagination tokens: the NextTokens of ListStreams, ListShards and
//! ListStreamConsumers. Each is sealed with the server's token key under its
//! own kind (see [`crate::seal`]): opaque, unforgeable, and not usable as
//! another operation's token or as a shard iterator. URL-safe base64.

use super::*;
use crate::seal::{Reader, TokenKey, TokenKind, Writer};

/// Plaintext format version, first byte of every NextToken.
const VERSION: u8 = 1;
/// Plaintexts are padded to a multiple of this, so a token's length says
/// little about the names inside.
const PAD_TO: usize = 32;
/// Longer input is refused before decoding: ours are a few hundred characters.
const MAX_CHARS: usize = 4096;
/// `ShardPageToken::filter` when there is none.
const NO_FILTER: u8 = u8::MAX;

pub(super) fn filter_code(t: ShardFilterType) -> u8 {
    match t {
        ShardFilterType::AfterShardId => 0,
        ShardFilterType::AtTrimHorizon => 1,
        ShardFilterType::FromTrimHorizon => 2,
        ShardFilterType::AtLatest => 3,
        ShardFilterType::AtTimestamp => 4,
        ShardFilterType::FromTimestamp => 5,
    }
}

fn filter_type(code: u8) -> Option<ShardFilterType> {
    Some(match code {
        0 => ShardFilterType::AfterShardId,
        1 => ShardFilterType::AtTrimHorizon,
        2 => ShardFilterType::FromTrimHorizon,
        3 => ShardFilterType::AtLatest,
        4 => ShardFilterType::AtTimestamp,
        5 => ShardFilterType::FromTimestamp,
        _ => return None,
    })
}

/// Whether a token issued at `issued_ms` has outlived its 300 seconds at
/// `now`. Saturating: no issue time can overflow it.
pub(super) fn expired(issued_ms: i64, now: i64) -> bool {
    now.saturating_sub(issued_ms) > TOKEN_LIFETIME_MS
}

fn seal_text(key: &TokenKey, kind: TokenKind, w: Writer) -> Result<String, StreamsError> {
    use base64::Engine as _;
    let mut plain = w.0;
    plain.resize(plain.len().div_ceil(PAD_TO) * PAD_TO, 0);
    let sealed = key.seal(kind, &plain)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed))
}

fn open_text(key: &TokenKey, kind: TokenKind, s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    if s.len() > MAX_CHARS {
        return None;
    }
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()?;
    let plain = key.open(kind, &b)?;
    (plain.first() == Some(&VERSION)).then_some(plain)
}

/// ListStreams pagination: the last name returned and when the token was issued.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct PageToken {
    pub(super) after: String,
    pub(super) issued_ms: i64,
}

impl PageToken {
    /// Opens a NextToken and checks it has not outlived its 300 seconds.
    pub(super) fn open_fresh(
        key: &TokenKey,
        tok: &str,
        now: i64,
    ) -> Result<PageToken, StreamsError> {
        let t = PageToken::open(key, tok)
            .ok_or_else(|| StreamsError::InvalidArgument(format!("Invalid NextToken: {tok}")))?;
        if expired(t.issued_ms, now) {
            return Err(StreamsError::ExpiredNextToken(format!(
                "The NextToken has expired: {tok}"
            )));
        }
        Ok(t)
    }

    pub(super) fn seal(&self, key: &TokenKey) -> Result<String, StreamsError> {
        let mut w = Writer::default();
        w.u8(VERSION).i64(self.issued_ms).str(&self.after)?;
        seal_text(key, TokenKind::ListStreams, w)
    }

    pub(super) fn open(key: &TokenKey, s: &str) -> Option<PageToken> {
        let plain = open_text(key, TokenKind::ListStreams, s)?;
        let mut r = Reader(&plain[1..]);
        let t = PageToken {
            issued_ms: r.i64()?,
            after: r.str()?,
        };
        r.only_padding_left().then_some(t)
    }
}

/// ListStreamConsumers pagination: the stream incarnation it pages, and the
/// last consumer returned as (creation time, name), the listing's order.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ConsumerPageToken {
    pub(super) stream: String,
    pub(super) stream_uid: String,
    pub(super) after_created_ms: i64,
    pub(super) after_name: String,
    pub(super) issued_ms: i64,
}

impl ConsumerPageToken {
    /// Opens a NextToken, checks it pages this stream incarnation and has
    /// not outlived its 300 seconds.
    pub(super) fn open_fresh(
        key: &TokenKey,
        tok: &str,
        stream: &str,
        stream_uid: &str,
        now: i64,
    ) -> Result<ConsumerPageToken, StreamsError> {
        let invalid = || StreamsError::InvalidArgument(format!("Invalid NextToken: {tok}"));
        let t = ConsumerPageToken::open(key, tok).ok_or_else(invalid)?;
        if t.stream != stream || t.stream_uid != stream_uid {
            return Err(invalid());
        }
        if expired(t.issued_ms, now) {
            return Err(StreamsError::ExpiredNextToken(format!(
                "The NextToken has expired: {tok}"
            )));
        }
        Ok(t)
    }

    pub(super) fn seal(&self, key: &TokenKey) -> Result<String, StreamsError> {
        let mut w = Writer::default();
        w.u8(VERSION)
            .i64(self.issued_ms)
            .str(&self.stream)?
            .str(&self.stream_uid)?
            .i64(self.after_created_ms)
            .str(&self.after_name)?;
        seal_text(key, TokenKind::ListStreamConsumers, w)
    }

    pub(super) fn open(key: &TokenKey, s: &str) -> Option<ConsumerPageToken> {
        let plain = open_text(key, TokenKind::ListStreamConsumers, s)?;
        let mut r = Reader(&plain[1..]);
        let t = ConsumerPageToken {
            issued_ms: r.i64()?,
            stream: r.str()?,
            stream_uid: r.str()?,
            after_created_ms: r.i64()?,
            after_name: r.str()?,
        };
        r.only_padding_left().then_some(t)
    }
}

/// ListShards pagination: the stream incarnation, the last shard returned,
/// the page size and the filter (code, shard id, timestamp).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ShardPageToken {
    pub(super) stream: String,
    pub(super) stream_uid: String,
    pub(super) after: u32,
    pub(super) max_results: i64,
    pub(super) issued_ms: i64,
    pub(super) filter: Option<(u8, Option<String>, Option<i64>)>,
}

impl ShardPageToken {
    pub(super) fn seal(&self, key: &TokenKey) -> Result<String, StreamsError> {
        let mut w = Writer::default();
        w.u8(VERSION)
            .i64(self.issued_ms)
            .str(&self.stream)?
            .str(&self.stream_uid)?
            .u32(self.after)
            .i64(self.max_results);
        match &self.filter {
            None => {
                w.u8(NO_FILTER);
            }
            Some((code, sid, ts)) => {
                w.u8(*code);
                match sid {
                    Some(s) => w.u8(1).str(s)?,
                    None => w.u8(0),
                };
                match ts {
                    Some(t) => w.u8(1).i64(*t),
                    None => w.u8(0),
                };
            }
        }
        seal_text(key, TokenKind::ListShards, w)
    }

    pub(super) fn open(key: &TokenKey, s: &str) -> Option<ShardPageToken> {
        let plain = open_text(key, TokenKind::ListShards, s)?;
        let mut r = Reader(&plain[1..]);
        let issued_ms = r.i64()?;
        let stream = r.str()?;
        let stream_uid = r.str()?;
        let after = r.u32()?;
        let max_results = r.i64()?;
        let filter = match r.u8()? {
            NO_FILTER => None,
            code => {
                filter_type(code)?;
                let sid = match r.u8()? {
                    0 => None,
                    1 => Some(r.str()?),
                    _ => return None,
                };
                let ts = match r.u8()? {
                    0 => None,
                    1 => Some(r.i64()?),
                    _ => return None,
                };
                Some((code, sid, ts))
            }
        };
        r.only_padding_left().then_some(ShardPageToken {
            stream,
            stream_uid,
            after,
            max_results,
            issued_ms,
            filter,
        })
    }

    pub(super) fn filter(&self) -> Option<ShardFilterInput> {
        let (code, sid, ts) = self.filter.clone()?;
        Some(ShardFilterInput {
            filter_type: filter_type(code)?,
            shard_id: sid,
            timestamp: ts.map(Timestamp),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> TokenKey {
        TokenKey::from_bytes(&[5; 32])
    }

    fn shard_page(filter: Option<(u8, Option<String>, Option<i64>)>) -> ShardPageToken {
        ShardPageToken {
            stream: "s".into(),
            stream_uid: "s-00ff".into(),
            after: 3,
            max_results: 2,
            issued_ms: 9,
            filter,
        }
    }

    fn consumer_page() -> ConsumerPageToken {
        ConsumerPageToken {
            stream: "s".into(),
            stream_uid: "s-1".into(),
            after_created_ms: 123,
            after_name: "c\nd".into(),
            issued_ms: 5,
        }
    }

    #[test]
    fn tokens_round_trip_and_hide_their_contents() {
        let k = key();
        let t = PageToken {
            after: "visible-name".into(),
            issued_ms: 5,
        };
        let s = t.seal(&k).unwrap();
        assert!(!s.contains("visible"));
        assert_eq!(PageToken::open(&k, &s), Some(t));
        for f in [
            None,
            Some((4, None, Some(7))),
            Some((0, Some("shardId-000000000001\nx".into()), None)),
        ] {
            let s = shard_page(f.clone()).seal(&k).unwrap();
            let d = ShardPageToken::open(&k, &s).unwrap();
            assert_eq!(d, shard_page(f));
        }
        let s = consumer_page().seal(&k).unwrap();
        assert_eq!(ConsumerPageToken::open(&k, &s), Some(consumer_page()));
        assert!(PageToken::open(&k, "garbage!").is_none());
    }

    #[test]
    fn a_token_opens_only_as_its_own_kind() {
        let k = key();
        let list = PageToken {
            after: "a".into(),
            issued_ms: 1,
        }
        .seal(&k)
        .unwrap();
        let shards = shard_page(None).seal(&k).unwrap();
        let consumers = consumer_page().seal(&k).unwrap();
        assert!(ShardPageToken::open(&k, &list).is_none());
        assert!(ConsumerPageToken::open(&k, &list).is_none());
        assert!(PageToken::open(&k, &shards).is_none());
        assert!(ConsumerPageToken::open(&k, &shards).is_none());
        assert!(PageToken::open(&k, &consumers).is_none());
        assert!(ShardPageToken::open(&k, &consumers).is_none());
        assert!(PageToken::open(&TokenKey::from_bytes(&[6; 32]), &list).is_none());
    }

    #[test]
    fn a_consumer_token_is_refused_for_another_stream_or_incarnation() {
        let k = key();
        let s = consumer_page().seal(&k).unwrap();
        assert!(ConsumerPageToken::open_fresh(&k, &s, "s", "s-1", 6).is_ok());
        for (name, uid) in [("t", "s-1"), ("s", "s-2")] {
            match ConsumerPageToken::open_fresh(&k, &s, name, uid, 6) {
                Err(StreamsError::InvalidArgument(m)) => {
                    assert_eq!(m, format!("Invalid NextToken: {s}"))
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn expiry_saturates_instead_of_overflowing() {
        assert!(!expired(0, 300_000));
        assert!(expired(0, 300_001));
        assert!(expired(i64::MIN, i64::MAX));
        assert!(!expired(i64::MAX, i64::MIN));
        let k = key();
        let old = PageToken {
            after: "a".into(),
            issued_ms: i64::MIN,
        }
        .seal(&k)
        .unwrap();
        assert!(matches!(
            PageToken::open_fresh(&k, &old, i64::MAX),
            Err(StreamsError::ExpiredNextToken(_))
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_strings_never_open(s in any::<String>()) {
            let k = key();
            prop_assert!(PageToken::open(&k, &s).is_none());
            prop_assert!(ShardPageToken::open(&k, &s).is_none());
            prop_assert!(ConsumerPageToken::open(&k, &s).is_none());
            let err = PageToken::open_fresh(&k, &s, 0);
            prop_assert!(matches!(err, Err(StreamsError::InvalidArgument(_))));
        }

        #[test]
        fn bit_flips_and_truncations_never_open(bit in any::<usize>(), cut in any::<usize>(), sid in proptest::option::of("[ -~]{0,128}"), ts in proptest::option::of(any::<i64>())) {
            use base64::Engine as _;
            let k = key();
            let s = shard_page(Some((0, sid, ts))).seal(&k).unwrap();
            let b = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&s).unwrap();
            let mut flipped = b.clone();
            let i = bit % (b.len() * 8);
            flipped[i / 8] ^= 1 << (i % 8);
            let f = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&flipped);
            prop_assert!(ShardPageToken::open(&k, &f).is_none());
            prop_assert!(ShardPageToken::open(&k, &s[..cut % s.len()]).is_none());
            prop_assert!(ShardPageToken::open(&k, &s).is_some());
        }
    }
}
