//! Partition keys to 128-bit hash keys, and the even split of the hash space.

use md5::{Digest, Md5};

/// `MD5(utf8(partition_key))` read as an unsigned big-endian 128-bit integer,
/// exactly as AWS and the KCL compute it.
pub fn partition_key_hash(partition_key: &str) -> u128 {
    let digest = Md5::digest(partition_key.as_bytes());
    u128::from_be_bytes(digest.into())
}

/// Parses a decimal `ExplicitHashKey`; `None` if it is not a number in [0, 2^128-1].
pub fn parse_hash_key(s: &str) -> Option<u128> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u128>().ok()
}

/// The hash ranges AWS gives `n` new shards: `floor(2^128 / n)` each, the last
/// one ending at `2^128 - 1`.
pub fn even_ranges(n: u32) -> Vec<(u128, u128)> {
    let n = n.max(1) as u128;
    if n == 1 {
        // floor(2^128 / 1) does not fit in a u128; the one shard covers everything.
        return vec![(0, u128::MAX)];
    }
    // floor(2^128 / n) without overflowing: (2^128 - 1) / n, plus one when n divides 2^128.
    let mut width = u128::MAX / n;
    if (u128::MAX % n) == n - 1 {
        width += 1;
    }
    (0..n)
        .map(|i| {
            let start = width * i;
            let end = if i == n - 1 {
                u128::MAX
            } else {
                width * (i + 1) - 1
            };
            (start, end)
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn three_shards_match_aws() {
        let r = even_ranges(3);
        assert_eq!(r[0], (0, 113427455640312821154458202477256070484));
        assert_eq!(r[1].0, 113427455640312821154458202477256070485);
        assert_eq!(r[1].1, 226854911280625642308916404954512140969);
        assert_eq!(r[2], (226854911280625642308916404954512140970, u128::MAX));
    }

    #[test]
    fn one_and_power_of_two() {
        assert_eq!(even_ranges(1), vec![(0, u128::MAX)]);
        let r = even_ranges(2);
        assert_eq!(r[0], (0, (1u128 << 127) - 1));
        assert_eq!(r[1], (1u128 << 127, u128::MAX));
    }

    #[test]
    fn md5_hash_matches_known_value() {
        // md5("a") = 0cc175b9c0f1b6a831c399e269772661
        assert_eq!(partition_key_hash("a"), 0x0cc175b9c0f1b6a831c399e269772661);
    }

    #[test]
    fn hash_key_parsing() {
        assert_eq!(parse_hash_key("0"), Some(0));
        assert_eq!(
            parse_hash_key("340282366920938463463374607431768211455"),
            Some(u128::MAX)
        );
        assert_eq!(
            parse_hash_key("340282366920938463463374607431768211456"),
            None
        );
        assert_eq!(parse_hash_key("-1"), None);
        assert_eq!(parse_hash_key(""), None);
    }

    proptest! {
        /// The ranges tile the whole hash space, so every key lands in exactly one shard.
        #[test]
        fn ranges_partition_the_space(n in 1u32..2000, key in any::<String>()) {
            let r = even_ranges(n);
            prop_assert_eq!(r.len(), n as usize);
            prop_assert_eq!(r[0].0, 0);
            prop_assert_eq!(r[r.len() - 1].1, u128::MAX);
            for w in r.windows(2) {
                prop_assert_eq!(w[0].1 + 1, w[1].0);
                prop_assert!(w[0].0 <= w[0].1);
            }
            let h = partition_key_hash(&key);
            let hits = r.iter().filter(|(s, e)| *s <= h && h <= *e).count();
            prop_assert_eq!(hits, 1);
        }
    }
}
