//! The KPL aggregated record format, as the Kinesis Producer Library writes
//! it and Firehose un-packs it from a Kinesis stream source:
//!
//! ```text
//! F3 89 9A C2 | protobuf AggregatedRecord | MD5(protobuf) (16 bytes)
//! ```
//!
//! Behaviour follows AWS's reference de-aggregators (`aws-kinesis-agg`,
//! KCL): a record that is not aggregated, whose MD5 trailer does not match
//! or whose protobuf does not decode is *not* an error: it is a plain user
//! record and passes through unchanged. A partition-key or hash-key index
//! out of range also leaves the record whole (the Python reference logs and
//! yields nothing, which would lose data).

use md5::{Digest, Md5};
use prost::Message;

/// The four bytes every aggregated record starts with.
pub const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];
const DIGEST_LEN: usize = 16;

/// `AggregatedRecord` of the KPL's `messages.proto` (proto2).
#[derive(Clone, PartialEq, Message)]
pub struct AggregatedRecord {
    #[prost(string, repeated, tag = "1")]
    pub partition_key_table: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub explicit_hash_key_table: Vec<String>,
    #[prost(message, repeated, tag = "3")]
    pub records: Vec<Record>,
}

/// `Record` of `messages.proto`: indexes into the key tables, and the data.
#[derive(Clone, PartialEq, Message)]
pub struct Record {
    #[prost(uint64, required, tag = "1")]
    pub partition_key_index: u64,
    #[prost(uint64, optional, tag = "2")]
    pub explicit_hash_key_index: Option<u64>,
    #[prost(bytes = "vec", required, tag = "3")]
    pub data: Vec<u8>,
    #[prost(message, repeated, tag = "4")]
    pub tags: Vec<Tag>,
}

/// `Tag` of `messages.proto` (the KPL never sets it; kept for the format).
#[derive(Clone, PartialEq, Message)]
pub struct Tag {
    #[prost(string, required, tag = "1")]
    pub key: String,
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}

/// One user record out of an aggregated record. Its subsequence number is
/// its index in the returned list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    pub partition_key: String,
    pub explicit_hash_key: Option<String>,
    pub data: Vec<u8>,
}

/// True when `data` starts with the KPL magic (it may still fail to decode).
pub fn looks_aggregated(data: &[u8]) -> bool {
    data.len() > MAGIC.len() + DIGEST_LEN && data[..MAGIC.len()] == MAGIC
}

/// The user records packed in `data`, or `None` when `data` is not a valid
/// aggregated record (then it is one plain record, as the reference treats it).
pub fn deaggregate(data: &[u8]) -> Option<Vec<UserRecord>> {
    if !looks_aggregated(data) {
        return None;
    }
    let body = &data[MAGIC.len()..data.len() - DIGEST_LEN];
    let digest = &data[data.len() - DIGEST_LEN..];
    if Md5::digest(body).as_slice() != digest {
        return None;
    }
    let agg = AggregatedRecord::decode(body).ok()?;
    let mut out = Vec::with_capacity(agg.records.len());
    for r in agg.records {
        let pk = agg
            .partition_key_table
            .get(usize::try_from(r.partition_key_index).ok()?)?;
        let ehk = match r.explicit_hash_key_index {
            Some(i) => Some(
                agg.explicit_hash_key_table
                    .get(usize::try_from(i).ok()?)?
                    .clone(),
            ),
            None => None,
        };
        out.push(UserRecord {
            partition_key: pk.clone(),
            explicit_hash_key: ehk,
            data: r.data,
        });
    }
    Some(out)
}

/// Packs user records as the KPL does (shared key tables, MD5 trailer).
/// Riffle delivers, it does not produce; this exists for tests and tools
/// that need aggregated input.
pub fn aggregate(records: &[UserRecord]) -> Vec<u8> {
    let mut agg = AggregatedRecord {
        partition_key_table: Vec::new(),
        explicit_hash_key_table: Vec::new(),
        records: Vec::with_capacity(records.len()),
    };
    fn index_of(table: &mut Vec<String>, key: &str) -> u64 {
        let i = match table.iter().position(|k| k == key) {
            Some(i) => i,
            None => {
                table.push(key.to_owned());
                table.len() - 1
            }
        };
        i as u64
    }
    for r in records {
        let partition_key_index = index_of(&mut agg.partition_key_table, &r.partition_key);
        let explicit_hash_key_index = r
            .explicit_hash_key
            .as_deref()
            .map(|k| index_of(&mut agg.explicit_hash_key_table, k));
        agg.records.push(Record {
            partition_key_index,
            explicit_hash_key_index,
            data: r.data.clone(),
            tags: Vec::new(),
        });
    }
    let body = agg.encode_to_vec();
    let mut out = Vec::with_capacity(MAGIC.len() + body.len() + DIGEST_LEN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&body);
    out.extend_from_slice(&Md5::digest(&body));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(pk: &str, ehk: Option<&str>, data: &[u8]) -> UserRecord {
        UserRecord {
            partition_key: pk.into(),
            explicit_hash_key: ehk.map(Into::into),
            data: data.to_vec(),
        }
    }

    #[test]
    fn round_trip() {
        let recs = vec![
            user("a", None, b"one"),
            user("b", Some("123"), b""),
            user("a", Some("123"), &[0, 1, 2]),
        ];
        let blob = aggregate(&recs);
        assert_eq!(blob[..4], MAGIC);
        assert_eq!(deaggregate(&blob), Some(recs));
    }

    #[test]
    fn plain_and_corrupt_records_are_not_aggregated() {
        assert_eq!(deaggregate(b"plain record"), None);
        assert_eq!(deaggregate(&MAGIC), None);
        let mut blob = aggregate(&[user("a", None, b"x")]);
        let last = blob.len() - 1;
        blob[last] ^= 0xFF; // MD5 trailer no longer matches
        assert_eq!(deaggregate(&blob), None);
        // Good MD5 over bytes that are not an AggregatedRecord.
        let junk = [0xFFu8, 0xFF, 0xFF];
        let mut bad = MAGIC.to_vec();
        bad.extend_from_slice(&junk);
        bad.extend_from_slice(&Md5::digest(junk));
        assert_eq!(deaggregate(&bad), None);
    }

    proptest::proptest! {
        #[test]
        fn any_records_round_trip(
            recs in proptest::collection::vec(
                ("[a-z0-9]{1,8}", proptest::option::of("[0-9]{1,38}"), proptest::collection::vec(proptest::num::u8::ANY, 0..64)),
                1..20,
            )
        ) {
            let recs: Vec<UserRecord> = recs
                .into_iter()
                .map(|(pk, ehk, data)| UserRecord { partition_key: pk, explicit_hash_key: ehk, data })
                .collect();
            proptest::prop_assert_eq!(deaggregate(&aggregate(&recs)), Some(recs));
        }
    }

    #[test]
    fn index_out_of_range_leaves_the_record_whole() {
        let agg = AggregatedRecord {
            partition_key_table: vec!["a".into()],
            explicit_hash_key_table: vec![],
            records: vec![Record {
                partition_key_index: 3,
                explicit_hash_key_index: None,
                data: b"x".to_vec(),
                tags: vec![],
            }],
        };
        let body = agg.encode_to_vec();
        let mut blob = MAGIC.to_vec();
        blob.extend_from_slice(&body);
        blob.extend_from_slice(&Md5::digest(&body));
        assert_eq!(deaggregate(&blob), None);
    }
}
