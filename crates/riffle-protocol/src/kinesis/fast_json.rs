//! Hand-written JSON for GetRecords, byte-identical to the serde-derived
//! encoding (tested below): `Data` is base64-encoded straight into the output
//! without serde_json's escape scan, which base64 never needs. At read-back
//! rates the scan alone was ~13% of the server's CPU.

use base64::Engine as _;
use riffle_model::{GetRecordsOutput, PutRecordsOutput};
use serde::Serialize;

fn member<T: Serialize + ?Sized>(buf: &mut Vec<u8>, key: &str, v: &T) -> Option<()> {
    buf.extend_from_slice(key.as_bytes());
    serde_json::to_writer(&mut *buf, v).ok()
}

/// The JSON body of a GetRecords response; `None` only if serialization fails.
pub(crate) fn get_records(o: &GetRecordsOutput, capacity: usize) -> Option<Vec<u8>> {
    let mut buf = Vec::with_capacity(capacity);
    buf.extend_from_slice(b"{\"Records\":[");
    for (i, r) in o.records.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        member(&mut buf, "{\"SequenceNumber\":", &r.sequence_number)?;
        member(
            &mut buf,
            ",\"ApproximateArrivalTimestamp\":",
            &r.approximate_arrival_timestamp,
        )?;
        buf.extend_from_slice(b",\"Data\":\"");
        let start = buf.len();
        let len = base64::encoded_len(r.data.0.len(), true)?;
        buf.resize(start + len, 0);
        base64::engine::general_purpose::STANDARD
            .encode_slice(&r.data.0, &mut buf[start..])
            .ok()?;
        buf.push(b'"');
        member(&mut buf, ",\"PartitionKey\":", &r.partition_key)?;
        if let Some(e) = &r.encryption_type {
            member(&mut buf, ",\"EncryptionType\":", e)?;
        }
        buf.push(b'}');
    }
    buf.push(b']');
    if let Some(it) = &o.next_shard_iterator {
        member(&mut buf, ",\"NextShardIterator\":", it)?;
    }
    member(
        &mut buf,
        ",\"MillisBehindLatest\":",
        &o.millis_behind_latest,
    )?;
    if let Some(c) = &o.child_shards {
        member(&mut buf, ",\"ChildShards\":", c)?;
    }
    buf.push(b'}');
    Some(buf)
}

/// Writes `s` as a JSON string. Sequence numbers and shard ids never need
/// escaping, so they are copied as they are after one branch-free scan;
/// anything else goes through serde_json's escaper.
fn string(buf: &mut Vec<u8>, s: &str) -> Option<()> {
    let plain = s
        .bytes()
        .fold(true, |ok, b| ok & (b >= 0x20 && b != b'"' && b != b'\\'));
    if plain {
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
        Some(())
    } else {
        serde_json::to_writer(&mut *buf, s).ok()
    }
}

/// The JSON body of a PutRecords response, byte-identical to serde's (tested
/// below). serde_json's escape scan of two short strings per record was ~10%
/// of the server's instructions on PutRecords of 500 × 100 B records.
pub(crate) fn put_records(o: &PutRecordsOutput, capacity: usize) -> Option<Vec<u8>> {
    let mut buf = Vec::with_capacity(capacity);
    member(&mut buf, "{\"FailedRecordCount\":", &o.failed_record_count)?;
    buf.extend_from_slice(b",\"Records\":[");
    for (i, r) in o.records.iter().enumerate() {
        buf.extend_from_slice(if i > 0 { b",{" } else { b"{" });
        let mut sep = "";
        for (key, value) in [
            ("SequenceNumber", &r.sequence_number),
            ("ShardId", &r.shard_id),
            ("ErrorCode", &r.error_code),
            ("ErrorMessage", &r.error_message),
        ] {
            if let Some(v) = value {
                buf.extend_from_slice(sep.as_bytes());
                buf.push(b'"');
                buf.extend_from_slice(key.as_bytes());
                buf.extend_from_slice(b"\":");
                string(&mut buf, v)?;
                sep = ",";
            }
        }
        buf.push(b'}');
    }
    buf.push(b']');
    if let Some(e) = &o.encryption_type {
        buf.extend_from_slice(b",\"EncryptionType\":");
        string(&mut buf, e)?;
    }
    buf.push(b'}');
    Some(buf)
}

/// A GetRecords JSON body produced piece by piece, with its exact length known
/// up front. A 10 MiB response otherwise needs its records and a ~13.4 MiB
/// body in memory at once; streamed, each record's data is base64-encoded
/// into the current chunk and then dropped, so a response holds at most one
/// chunk beyond the records not yet sent.
pub struct GetRecordsJsonStream {
    /// Per record: everything before `Data`'s value, the data, everything after.
    records: std::vec::IntoIter<(Vec<u8>, Vec<u8>, Vec<u8>)>,
    /// `],"NextShardIterator":…}`, sent after the last record.
    tail: Option<Vec<u8>>,
    head: Option<Vec<u8>>,
    len: u64,
    chunk_bytes: usize,
}

impl GetRecordsJsonStream {
    /// `None` only if serialization fails.
    pub fn new(o: GetRecordsOutput, chunk_bytes: usize) -> Option<GetRecordsJsonStream> {
        let head = b"{\"Records\":[".to_vec();
        let mut len = head.len() as u64;
        let mut records = Vec::with_capacity(o.records.len());
        for (i, r) in o.records.into_iter().enumerate() {
            let mut pre = Vec::with_capacity(128);
            if i > 0 {
                pre.push(b',');
            }
            member(&mut pre, "{\"SequenceNumber\":", &r.sequence_number)?;
            member(
                &mut pre,
                ",\"ApproximateArrivalTimestamp\":",
                &r.approximate_arrival_timestamp,
            )?;
            pre.extend_from_slice(b",\"Data\":\"");
            let mut post = Vec::with_capacity(64);
            post.push(b'"');
            member(&mut post, ",\"PartitionKey\":", &r.partition_key)?;
            if let Some(e) = &r.encryption_type {
                member(&mut post, ",\"EncryptionType\":", e)?;
            }
            post.push(b'}');
            len += (pre.len() + base64::encoded_len(r.data.0.len(), true)? + post.len()) as u64;
            records.push((pre, r.data.0, post));
        }
        let mut tail = vec![b']'];
        if let Some(it) = &o.next_shard_iterator {
            member(&mut tail, ",\"NextShardIterator\":", it)?;
        }
        member(
            &mut tail,
            ",\"MillisBehindLatest\":",
            &o.millis_behind_latest,
        )?;
        if let Some(c) = &o.child_shards {
            member(&mut tail, ",\"ChildShards\":", c)?;
        }
        tail.push(b'}');
        len += tail.len() as u64;
        Some(GetRecordsJsonStream {
            records: records.into_iter(),
            tail: Some(tail),
            head: Some(head),
            len,
            chunk_bytes: chunk_bytes.max(1),
        })
    }

    /// The exact number of bytes the stream yields in total.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Iterator for GetRecordsJsonStream {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        let mut buf = self.head.take().unwrap_or_default();
        while buf.len() < self.chunk_bytes {
            let Some((pre, data, post)) = self.records.next() else {
                if let Some(tail) = self.tail.take() {
                    buf.extend_from_slice(&tail);
                }
                break;
            };
            buf.extend_from_slice(&pre);
            let start = buf.len();
            let n = base64::encoded_len(data.len(), true).unwrap_or(0);
            buf.resize(start + n, 0);
            // The buffer was sized for exactly this encoding, so it cannot fail.
            let _ =
                base64::engine::general_purpose::STANDARD.encode_slice(&data, &mut buf[start..]);
            buf.extend_from_slice(&post);
        }
        (!buf.is_empty()).then_some(buf)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use riffle_model::{Blob, ChildShard, HashKeyRange, Record, Timestamp};

    fn record(data: Vec<u8>, key: &str, enc: Option<&str>, ts: i64) -> Record {
        Record {
            sequence_number: "49646437577130777162115407028973509772956158055602454546".into(),
            approximate_arrival_timestamp: Timestamp(ts),
            data: Blob(data),
            partition_key: key.into(),
            encryption_type: enc.map(str::to_string),
        }
    }

    #[test]
    fn identical_to_serde() {
        let big: Vec<u8> = (0..5000u32).map(|i| (i * 13) as u8).collect();
        let outputs = [
            GetRecordsOutput {
                records: vec![],
                next_shard_iterator: Some("AAAA/+=".into()),
                millis_behind_latest: 0,
                child_shards: None,
            },
            GetRecordsOutput {
                records: vec![
                    record(b"hi".to_vec(), "k\"ey\\\n\u{1}é", None, 1441215410867),
                    record(vec![], "", Some("KMS"), 1441215410000),
                    record(big, "p", None, 1),
                ],
                next_shard_iterator: Some("it".into()),
                millis_behind_latest: 12345,
                child_shards: None,
            },
            GetRecordsOutput {
                records: vec![record(vec![0, 255, 7], "x", None, 5)],
                next_shard_iterator: None,
                millis_behind_latest: 0,
                child_shards: Some(vec![ChildShard {
                    shard_id: "shardId-000000000002".into(),
                    parent_shards: vec!["shardId-000000000000".into()],
                    hash_key_range: HashKeyRange {
                        starting_hash_key: "0".into(),
                        ending_hash_key: "170141183460469231731687303715884105727".into(),
                    },
                }]),
            },
        ];
        for o in &outputs {
            let want = serde_json::to_vec(o).unwrap();
            let got = get_records(o, 0).unwrap();
            assert_eq!(
                String::from_utf8(got).unwrap(),
                String::from_utf8(want).unwrap()
            );
        }
    }

    #[test]
    fn put_records_identical_to_serde() {
        use riffle_model::PutRecordsResultEntry;
        let ok = |seq: &str, shard: &str| PutRecordsResultEntry {
            sequence_number: Some(seq.into()),
            shard_id: Some(shard.into()),
            ..Default::default()
        };
        let failed = |code: &str, msg: &str| PutRecordsResultEntry {
            error_code: Some(code.into()),
            error_message: Some(msg.into()),
            ..Default::default()
        };
        let outputs = [
            PutRecordsOutput {
                failed_record_count: 0,
                records: vec![],
                encryption_type: None,
            },
            PutRecordsOutput {
                failed_record_count: 2,
                records: vec![
                    ok(
                        "49646437577130777162115407028973509772956158055602454546",
                        "shardId-000000000001",
                    ),
                    failed(
                        "ProvisionedThroughputExceededException",
                        "Rate exceeded for shard shardId-000000000001 in stream s under account 000000000000.",
                    ),
                    failed("InternalFailure", "quote \" back\\ ctl \u{1} \n é \u{7f}"),
                    ok("1", "shardId-000000000002"),
                    PutRecordsResultEntry::default(),
                ],
                encryption_type: Some("KMS".into()),
            },
        ];
        for o in &outputs {
            let want = serde_json::to_vec(o).unwrap();
            let got = put_records(o, 0).unwrap();
            assert_eq!(
                String::from_utf8(got).unwrap(),
                String::from_utf8(want).unwrap()
            );
        }
    }

    #[test]
    fn stream_yields_the_same_bytes_in_chunks_with_the_announced_length() {
        let big: Vec<u8> = (0..50_000u32).map(|i| (i * 7) as u8).collect();
        let o = GetRecordsOutput {
            records: (0..40)
                .map(|i| {
                    record(
                        big[..(i * 997) % 50_000].to_vec(),
                        &format!("k\"{i}"),
                        None,
                        1441215410867 + i as i64,
                    )
                })
                .collect(),
            next_shard_iterator: Some("it+/=".into()),
            millis_behind_latest: 7,
            child_shards: None,
        };
        let want = serde_json::to_vec(&o).unwrap();
        for chunk in [1, 1000, 64 * 1024, 10 << 20] {
            let s = GetRecordsJsonStream::new(o.clone(), chunk).unwrap();
            assert_eq!(s.len(), want.len() as u64);
            let parts: Vec<Vec<u8>> = s.collect();
            assert!(parts.iter().all(|p| !p.is_empty()));
            if chunk == 64 * 1024 {
                assert!(parts.len() > 5, "a large body comes in several chunks");
            }
            assert_eq!(parts.concat(), want, "chunk size {chunk}");
        }
        let empty = GetRecordsOutput {
            records: vec![],
            next_shard_iterator: None,
            millis_behind_latest: 0,
            child_shards: None,
        };
        let s = GetRecordsJsonStream::new(empty.clone(), 10).unwrap();
        assert_eq!(s.len(), serde_json::to_vec(&empty).unwrap().len() as u64);
        assert_eq!(
            s.collect::<Vec<_>>().concat(),
            serde_json::to_vec(&empty).unwrap()
        );
    }
}
