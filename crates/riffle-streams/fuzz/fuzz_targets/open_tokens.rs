//! Feeds arbitrary input to the token decoders: as an iterator's text, as a
//! sealed block of every kind, and XORed into a valid iterator. None may
//! panic, and none may open unless the input left the valid token unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use riffle_streams::iterator::IteratorToken;
use riffle_streams::seal::{TokenKey, TokenKind};

const KINDS: [TokenKind; 4] = [
    TokenKind::ShardIterator,
    TokenKind::ListStreams,
    TokenKind::ListShards,
    TokenKind::ListStreamConsumers,
];

fuzz_target!(|data: &[u8]| {
    let key = TokenKey::from_bytes(&[42; 32]);
    if let Ok(s) = std::str::from_utf8(data) {
        assert!(IteratorToken::open(s, &key).is_none());
    }
    for kind in KINDS {
        assert!(key.open(kind, data).is_none());
    }
    let valid = IteratorToken {
        stream_name: "s".into(),
        stream_uid: "s-0123456789abcdef0123456789abcdef".into(),
        shard_index: 1,
        offset: 2,
        issued_ms: 3,
    };
    let Ok(text) = valid.seal(&key) else {
        return;
    };
    let mut bytes = text.into_bytes();
    for (b, d) in bytes.iter_mut().zip(data) {
        *b ^= d;
    }
    let unchanged = data.iter().take(bytes.len()).all(|d| *d == 0);
    if let Ok(s) = std::str::from_utf8(&bytes) {
        let opened = IteratorToken::open(s, &key);
        assert_eq!(opened.is_some(), unchanged);
        if let Some(t) = opened {
            assert_eq!(t, valid);
        }
    }
});
